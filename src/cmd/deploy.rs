//! `esxi-iso deploy`: check the inventory and the lab folder
//! ([`crate::deploy::plan`]), then log in, plan against the server and
//! create, adopt and watch the lab's VMs, or with `--destroy` remove them.
//! Progress lines go to stdout (not with `--json`, which prints one
//! document at the end), warnings and `--verbose` lines to stderr; a
//! `--wait` that timed out prints its report, then exits 1.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::DeployArgs;
use crate::deploy::{self, report::Out};
use crate::progress::Trace;
use crate::signals;
use crate::warning::Warning;

pub fn run(args: &DeployArgs) -> Result<ExitCode> {
    signals::install();
    let plan = deploy::plan(&args.request())?;
    let trace = if args.verbose {
        Trace::to(|line| {
            let _ = writeln!(io::stderr(), "esxi-iso: {line}");
        })
    } else {
        Trace::default()
    };
    let warn = |w: &Warning| {
        let _ = writeln!(io::stderr(), "esxi-iso: {}", w.render());
    };
    for w in &plan.warnings {
        warn(w);
    }
    let json = args.json;
    let line = move |l: &str| {
        if !json {
            let _ = writeln!(io::stdout(), "{l}");
        }
    };
    let out = Out {
        line: &line,
        warn: &warn,
    };
    let username = args.username.as_deref();
    if args.destroy {
        let report = deploy::destroy(&plan, username, out, &trace)?;
        print_json(json, &report)?;
        return Ok(ExitCode::SUCCESS);
    }
    let done = deploy::deploy(&plan, username, out, &trace)?;
    print_json(json, &done.report)?;
    match done.verdict {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn print_json(json: bool, doc: &impl serde::Serialize) -> Result<()> {
    if json {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, doc)?;
        writeln!(out)?;
    }
    Ok(())
}
