//! `esxi-iso kickstart render|lint|vars`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::{LintArgs, RenderArgs};
use crate::kickstart::{self, crypt::Salt, lint, vars, Source, Vars};

pub fn render(args: &RenderArgs) -> Result<ExitCode> {
    let source = Source::from_template_arg(&args.template)?;
    let mut vars = Vars::load(args.vars.as_deref(), &args.set)?;
    vars.salt = Salt::for_epoch(crate::build::source_date_epoch()?);
    let text = kickstart::produce(&source, &vars)?;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn lint(args: &LintArgs) -> Result<ExitCode> {
    let mut failed = false;
    let mut o = std::io::stdout().lock();
    for path in &args.files {
        let label = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("reading kickstart {label}"))?;
        let text = String::from_utf8_lossy(&bytes);
        let diags = lint::lint(&text);
        for d in &diags {
            writeln!(o, "{}", d.render(&label))?;
        }
        for r in lint::report::reports(&text) {
            writeln!(o, "{label}:{}: note: {}", r.found.line, r.describe())?;
        }
        failed |= lint::has_errors(&diags);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Lints a kickstart about to be injected: warnings go to stderr, errors
/// stop the build before anything is written.
pub fn check_before_build(label: &str, text: &str) -> Result<()> {
    let diags = lint::lint(text);
    let (errors, warnings): (Vec<_>, Vec<_>) = diags
        .iter()
        .partition(|d| d.severity == lint::Severity::Error);
    for w in warnings {
        eprintln!("esxi-iso: {}", w.render(label));
    }
    if !errors.is_empty() {
        let lines: Vec<String> = errors.iter().map(|d| d.render(label)).collect();
        anyhow::bail!(
            "the kickstart fails lint ({} error{}); fix it or pass --no-lint:\n  {}",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" },
            lines.join("\n  ")
        );
    }
    Ok(())
}

pub fn vars() -> Result<ExitCode> {
    let mut o = std::io::stdout().lock();
    let mut group = "";
    for s in vars::SPECS {
        if s.group != group {
            group = s.group;
            writeln!(o, "{group}:")?;
        }
        let default = if s.default.is_empty() {
            String::new()
        } else {
            format!(" [default: {}]", s.default)
        };
        writeln!(o, "  {:<24}{}{default}", s.name, s.help)?;
    }
    Ok(ExitCode::SUCCESS)
}
