//! `esxi-iso kickstart render|lint|vars`. `render` prints the kickstart
//! itself (that is its result, so it has no `--json`); `lint` and `vars`
//! print text or one JSON document.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::build;
use crate::cli::{LintArgs, RenderArgs, VarsArgs};
use crate::diagnostic::{Diagnostic, Severity};
use crate::failure::{self, Failure, Tag};
use crate::input;
use crate::kickstart::{crypt::Salt, known, known::Known, lint, vars, Kickstart, Source, Vars};
use crate::output;

pub fn render(args: &RenderArgs) -> Result<ExitCode> {
    let source = Source::from_template_arg(&args.template).tag(Failure::Usage)?;
    let template = Kickstart::load(&source)?;
    let mut vars = Vars::load(args.vars.as_deref(), &args.set).tag(Failure::Usage)?;
    let unknown =
        Known::new(&template.label(), template.uses()?.as_ref(), &[]).unknown_lines(&vars);
    if !unknown.is_empty() {
        return Err(failure::tagged(
            Failure::Usage,
            build::unknown_error(&unknown),
        ));
    }
    vars.salt = Salt::for_epoch(output::source_date_epoch()?);
    let text = template.produce(&vars)?;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

pub fn lint(args: &LintArgs) -> Result<ExitCode> {
    // Every file is read before anything is printed: one that cannot be
    // read is an error, with no verdict for the others.
    let texts = args
        .files
        .iter()
        .map(|p| read_kickstart(p))
        .collect::<Result<Vec<_>>>()?;
    let mut failed = false;
    let mut files = Vec::new();
    let mut o = std::io::stdout().lock();
    for (label, text) in &texts {
        let label = label.as_str();
        let diags = lint::lint(text);
        let reports = lint::report::reports(text);
        let errors = lint::has_errors(&diags);
        failed |= errors;
        if args.json {
            files.push(lint_json(label, diags, &reports));
            continue;
        }
        for d in &diags {
            writeln!(o, "{}", d.render(label))?;
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

/// A kickstart to lint (`-`: standard input), as (label, text). A
/// template is refused: its `{{ }}` are not kickstart syntax.
fn read_kickstart(path: &Path) -> Result<(String, String)> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(input::KICKSTART_MAX + 1)
            .read_to_end(&mut bytes)
            .context("reading the kickstart from standard input")
            .tag(Failure::Input)?;
        if bytes.len() as u64 > input::KICKSTART_MAX {
            return Err(failure::error(
                Failure::Input,
                "the kickstart on standard input is larger than 1 MiB",
            ));
        }
        return Ok(("-".into(), String::from_utf8_lossy(&bytes).into_owned()));
    }
    if path.extension().is_some_and(|e| e == "tera") {
        return Err(failure::error(
            Failure::Usage,
            format!(
                "{0} is a template (a .tera name): lint what it renders, e.g. \
                 `esxi-iso kickstart render --template {0} --set KEY=VALUE ... | \
                 esxi-iso kickstart lint -` (build lints every kickstart it renders)",
                path.display()
            ),
        ));
    }
    let bytes = input::read_capped(path, input::KICKSTART_MAX, "kickstart")?;
    Ok((
        path.display().to_string(),
        String::from_utf8_lossy(&bytes).into_owned(),
    ))
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

/// `kickstart vars --json`: what a template reads (every built-in
/// variable without a template), and the values esxi-iso computes.
#[derive(Serialize)]
struct VarsJson {
    /// The template asked about; null for the list of built-in variables.
    template: Option<String>,
    variables: Vec<VarJson>,
    computed: Vec<ComputedJson>,
}

#[derive(Serialize)]
struct VarJson {
    name: String,
    group: &'static str,
    default: Option<&'static str>,
    /// Redacted in manifests and `--verbose` output.
    secret: bool,
    help: String,
    /// The first line of the template that reads it (directly or through
    /// a computed value); null without a template.
    line: Option<usize>,
}

#[derive(Serialize)]
struct ComputedJson {
    name: &'static str,
    from: &'static [&'static str],
    help: &'static str,
    line: Option<usize>,
}

pub fn vars(args: &VarsArgs) -> Result<ExitCode> {
    let doc = match &args.template {
        None => VarsJson {
            template: None,
            variables: vars::SPECS.iter().map(|s| spec_json(s, None)).collect(),
            computed: known::DERIVED
                .iter()
                .map(|(name, from, help)| ComputedJson {
                    name,
                    from,
                    help,
                    line: None,
                })
                .collect(),
        },
        Some(t) => template_vars(t)?,
    };
    let mut o = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut o, &doc)?;
        writeln!(o)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(t) = &doc.template {
        writeln!(
            o,
            "template {t} reads these variables (set them with --set KEY=VALUE, --vars \
             FILE.toml or in an inventory):"
        )?;
    }
    let mut group = "";
    for v in &doc.variables {
        if v.group != group {
            group = v.group;
            writeln!(o, "{group}:")?;
        }
        let default = match v.default {
            Some(d) => format!(" [default: {d}]"),
            None => String::new(),
        };
        let line = match (v.line, &doc.template) {
            (Some(l), Some(_)) => format!(" (line {l})"),
            _ => String::new(),
        };
        writeln!(o, "  {:<24}{}{default}{line}", v.name, v.help)?;
    }
    if !doc.computed.is_empty() {
        writeln!(o, "computed by esxi-iso (not set directly):")?;
        for c in &doc.computed {
            let from = if c.from.is_empty() {
                String::new()
            } else {
                format!(" (from {})", c.from.join(", "))
            };
            let line = c.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            writeln!(o, "  {:<24}{}{from}{line}", c.name, c.help)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn spec_json(s: &vars::Spec, line: Option<usize>) -> VarJson {
    VarJson {
        name: s.name.to_string(),
        group: s.group,
        default: (!s.default.is_empty()).then_some(s.default),
        secret: s.kind == vars::Kind::Secret,
        help: s.help.to_string(),
        line,
    }
}

/// What template `arg` (a built-in name or a file) reads.
fn template_vars(arg: &str) -> Result<VarsJson> {
    let source = Source::from_template_arg(arg).tag(Failure::Usage)?;
    let template = Kickstart::load(&source)?;
    let uses = template.uses()?.unwrap_or_default();
    let known = Known::new(&template.label(), Some(&uses), &[]);
    // The first line that reads a variable, directly or through a value
    // computed from it.
    let line_of = |name: &str| {
        uses.vars
            .iter()
            .filter(|(n, _)| {
                n.as_str() == name
                    || known::derived(n).is_some_and(|(from, _)| from.contains(&name))
            })
            .map(|(_, u)| u.line)
            .min()
    };
    let mut variables: Vec<VarJson> = vars::SPECS
        .iter()
        .filter(|s| known.accepts(s.name))
        .map(|s| spec_json(s, line_of(s.name)))
        .collect();
    variables.extend(
        uses.vars
            .iter()
            .filter(|(n, _)| vars::spec(n).is_none() && known::derived(n).is_none())
            .map(|(n, u)| VarJson {
                name: n.clone(),
                group: "the template's own",
                default: None,
                secret: false,
                help: if u.guarded {
                    "may be left unset (read only under if, is defined, default)".to_string()
                } else {
                    "must be set".to_string()
                },
                line: Some(u.line),
            }),
    );
    let computed = known::DERIVED
        .iter()
        .filter_map(|(name, from, help)| {
            let u = uses.vars.get(*name)?;
            Some(ComputedJson {
                name,
                from,
                help,
                line: Some(u.line),
            })
        })
        .collect();
    Ok(VarsJson {
        template: Some(template.label()),
        variables,
        computed,
    })
}
