//! `esxi-iso kickstart render|lint|vars`. `render` prints the kickstart
//! itself (that is its result, so it has no `--json`); `lint` and `vars`
//! print text or one JSON document.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::cli::{LintArgs, RenderArgs, VarsArgs};
use crate::diagnostic::{Diagnostic, Severity};
use crate::failure::{Failure, Tag};
use crate::input;
use crate::kickstart::{self, crypt::Salt, lint, vars, Source, Vars};
use crate::output;

pub fn render(args: &RenderArgs) -> Result<ExitCode> {
    let source = Source::from_template_arg(&args.template).tag(Failure::Usage)?;
    let mut vars = Vars::load(args.vars.as_deref(), &args.set).tag(Failure::Usage)?;
    vars.salt = Salt::for_epoch(output::source_date_epoch()?);
    let text = kickstart::produce(&source, &vars)?;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn lint(args: &LintArgs) -> Result<ExitCode> {
    let mut failed = false;
    let mut files = Vec::new();
    let mut o = std::io::stdout().lock();
    for path in &args.files {
        let label = path.display().to_string();
        let bytes = input::read_capped(path, input::KICKSTART_MAX, "kickstart")?;
        let text = String::from_utf8_lossy(&bytes);
        let diags = lint::lint(&text);
        let reports = lint::report::reports(&text);
        let errors = lint::has_errors(&diags);
        failed |= errors;
        if args.json {
            files.push(lint_json(&label, diags, &reports));
            continue;
        }
        for d in &diags {
            writeln!(o, "{}", d.render(&label))?;
        }
        for r in &reports {
            writeln!(o, "{label}:{}: note: {}", r.found.line, r.describe())?;
        }
    }
    if args.json {
        let doc = LintJson { ok: !failed, files };
        serde_json::to_writer_pretty(&mut o, &doc)?;
        writeln!(o)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `kickstart lint --json`: every file, and whether all passed.
#[derive(Serialize)]
struct LintJson {
    ok: bool,
    files: Vec<FileJson>,
}

#[derive(Serialize)]
struct FileJson {
    file: String,
    ok: bool,
    errors: usize,
    warnings: usize,
    diagnostics: Vec<Diagnostic>,
    reports: Vec<ReportJson>,
}

/// A report line: where it reports to, never its token.
#[derive(Serialize)]
struct ReportJson {
    line: usize,
    section: &'static str,
    event: Option<String>,
    host: Option<String>,
    url: String,
}

fn lint_json(file: &str, diags: Vec<Diagnostic>, reports: &[lint::report::Report]) -> FileJson {
    let count = |sev| diags.iter().filter(|d| d.severity == sev).count();
    FileJson {
        file: file.to_string(),
        ok: !lint::has_errors(&diags),
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        reports: reports
            .iter()
            .map(|r| ReportJson {
                line: r.found.line,
                section: r.section,
                event: r.found.event.clone(),
                host: r.found.host.clone(),
                url: r.found.base.clone(),
            })
            .collect(),
        diagnostics: diags,
    }
}

/// `kickstart vars --json`: one entry per variable.
#[derive(Serialize)]
struct VarJson {
    name: &'static str,
    group: &'static str,
    default: Option<&'static str>,
    /// Redacted in manifests and `--verbose` output.
    secret: bool,
    help: &'static str,
}

pub fn vars(args: &VarsArgs) -> Result<ExitCode> {
    let mut o = std::io::stdout().lock();
    if args.json {
        let variables: Vec<VarJson> = vars::SPECS
            .iter()
            .map(|s| VarJson {
                name: s.name,
                group: s.group,
                default: (!s.default.is_empty()).then_some(s.default),
                secret: s.kind == vars::Kind::Secret,
                help: s.help,
            })
            .collect();
        serde_json::to_writer_pretty(&mut o, &serde_json::json!({ "variables": variables }))?;
        writeln!(o)?;
        return Ok(ExitCode::SUCCESS);
    }
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
