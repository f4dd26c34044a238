//! `esxi-iso kickstart render|lint|vars`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{LintArgs, RenderArgs};
use crate::input;
use crate::kickstart::{self, crypt::Salt, lint, vars, Source, Vars};
use crate::output;

pub fn render(args: &RenderArgs) -> Result<ExitCode> {
    let source = Source::from_template_arg(&args.template)?;
    let mut vars = Vars::load(args.vars.as_deref(), &args.set)?;
    vars.salt = Salt::for_epoch(output::source_date_epoch()?);
    let text = kickstart::produce(&source, &vars)?;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn lint(args: &LintArgs) -> Result<ExitCode> {
    let mut failed = false;
    let mut o = std::io::stdout().lock();
    for path in &args.files {
        let label = path.display().to_string();
        let bytes = input::read_capped(path, input::KICKSTART_MAX, "kickstart")?;
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
