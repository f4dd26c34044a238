//! `esxi-iso build SOURCE --inventory FILE --out-dir DIR`: plan the lab
//! (every host checked, [`crate::lab::plan`]), build every host
//! ([`crate::lab::run`]), report, and fail when a host failed.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::BuildArgs;
use crate::lab::{self, index::LabManifest, LabPlan};
use crate::{progress, signals};

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    signals::install();
    let req = args.lab_request()?;
    let plan = lab::plan(&req)?;
    for w in &plan.warnings {
        eprintln!("esxi-iso: {w}");
    }
    let notify = |line: &str| eprintln!("esxi-iso: {line}");
    let outcome = lab::run(&req, &plan, progress::enabled(args.quiet), &notify)?;
    report(&plan, &outcome.manifest, args.json, args.quiet)?;
    match outcome.failure() {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

fn report(lab: &LabPlan, m: &LabManifest, json: bool, quiet: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, m)?;
        writeln!(out)?;
    } else if !quiet {
        for h in &m.hosts {
            writeln!(
                out,
                "wrote {} ({} bytes; {})",
                lab.out_dir.join(&h.file).display(),
                h.size,
                h.data
            )?;
        }
        if !m.hosts.is_empty() {
            writeln!(out, "wrote {}", lab.sums_path().display())?;
            writeln!(out, "wrote {}", lab.manifest_path().display())?;
        }
    }
    Ok(())
}
