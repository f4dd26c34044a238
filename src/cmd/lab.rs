//! `esxi-iso build SOURCE --inventory FILE --out-dir DIR`: plan the lab
//! (every host checked, [`crate::lab::plan`]), build every host
//! ([`crate::lab::run`]), report, and fail when a host failed. `--verbose`
//! describes the plan of every host, then each host's steps as they run.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::build;
use crate::cli::BuildArgs;
use crate::lab::{self, index::LabManifest, LabPlan, LabRequest};
use crate::progress::{self, Trace};
use crate::signals;

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    signals::install();
    let mut req = args.lab_request()?;
    let plan = lab::plan(&req)?;
    for w in &plan.warnings {
        eprintln!("esxi-iso: {w}");
    }
    if args.verbose {
        describe(&req, &plan);
        req.trace = Trace::to(|line| eprintln!("esxi-iso: {line}"));
    }
    let notify = |line: &str| eprintln!("esxi-iso: {line}");
    let outcome = lab::run(&req, &plan, progress::enabled(args.quiet), &notify)?;
    report(&plan, &outcome.manifest, args.json, args.quiet)?;
    match outcome.failure() {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// `--verbose`: the lab's shape and each host's resolved inputs, with the
/// variables as manifest.json shows them (secrets redacted).
fn describe(req: &LabRequest, lab: &LabPlan) {
    eprintln!(
        "esxi-iso: plan: {} host(s) from {} into {}, {} at a time",
        lab.hosts.len(),
        req.inventory.display(),
        lab.out_dir.display(),
        req.jobs()
    );
    if let Some(r) = &lab.report {
        eprintln!("esxi-iso: plan: {}", r.describe());
    }
    for h in &lab.hosts {
        let vars: Vec<String> = h
            .vars
            .redacted()
            .iter()
            .map(|(k, v)| match v {
                toml::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        eprintln!(
            "esxi-iso: {}: template {}, variables {}",
            h.hostname,
            h.template,
            vars.join(" ")
        );
        for line in build::describe_host(&h.build) {
            eprintln!("esxi-iso: {}: {line}", h.hostname);
        }
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
