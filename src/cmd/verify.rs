//! `esxi-iso verify`: re-read an ISO and print one line per check (see
//! [`crate::verify`]); exit 1 when any check fails. An ISO that cannot be
//! read at all, or a `--source` that is not an ESXi installer, is an
//! error (exit 3) and prints no report.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::esxi;
use crate::verify::{self, Depth, Finding, Level};

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    iso: String,
    ok: bool,
    checks: &'a [Finding],
}

pub fn run(args: &VerifyArgs) -> Result<ExitCode> {
    let source = match &args.source {
        Some(p) => Some(esxi::open_installer(p).context("--source")?.0),
        None => None,
    };
    let report = verify::verify_path(
        &args.iso,
        Depth::Full {
            source: source.as_ref(),
        },
    )?;
    let mut o = std::io::stdout().lock();
    if args.json {
        let j = JsonReport {
            iso: args.iso.display().to_string(),
            ok: report.passed(),
            checks: &report.findings,
        };
        serde_json::to_writer_pretty(&mut o, &j)?;
        writeln!(o)?;
    } else {
        for f in &report.findings {
            let state = match f.level {
                Level::Ok => "ok  ",
                Level::Warn => "warn",
                Level::Fail => "FAIL",
            };
            writeln!(o, "{state} {:<16} {}", f.check.label(), f.detail)?;
        }
    }
    if report.passed() {
        return Ok(ExitCode::SUCCESS);
    }
    drop(o);
    let n = report.failures().count();
    let _ = writeln!(
        std::io::stderr(),
        "esxi-iso: error: {} failed {n} check{}",
        args.iso.display(),
        if n == 1 { "" } else { "s" }
    );
    Ok(ExitCode::FAILURE)
}
