//! `esxi-iso build SOURCE --inventory FILE --out-dir DIR`: plan the lab
//! (every host checked, [`crate::lab::plan`]), build every host
//! ([`crate::lab::run`]), report, and fail when a host failed. `--verbose`
//! describes the plan of every host, then each host's steps as they run.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::build;
use crate::cli::BuildArgs;
use crate::lab::{self, LabPlan, LabReport, LabRequest};
use crate::progress::{self, Trace};
use crate::signals;

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    signals::install();
    let mut req = args.lab_request()?;
    let plan = lab::plan(&req)?;
    for h in &plan.hosts {
        for w in &h.warnings {
            eprintln!("esxi-iso: {}", w.render_for(Some(&h.hostname)));
        }
    }
    if args.verbose {
        describe(&req, &plan);
        req.trace = Trace::to(|line| eprintln!("esxi-iso: {line}"));
    }
    let notify = |line: &str| eprintln!("esxi-iso: {line}");
    let outcome = lab::run(&req, &plan, progress::enabled(args.quiet), &notify)?;
    report(&plan, &outcome, args.json, args.quiet)?;
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

fn report(lab: &LabPlan, r: &LabReport, json: bool, quiet: bool) -> Result<()> {
    for w in &r.manifest.warnings {
        eprintln!("esxi-iso: {}", w.render());
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &r.manifest)?;
        writeln!(out)?;
    } else if !quiet {
        for (_, s) in &r.built {
            writeln!(
                out,
                "wrote {} ({} bytes; {})",
                s.output.display(),
                s.size,
                s.data
            )?;
        }
        if !r.built.is_empty() {
            let kept = match r.changes.kept.len() {
                0 => String::new(),
                n => format!(
                    "; kept {n} other host{} from before: {}",
                    if n == 1 { "" } else { "s" },
                    r.changes.kept.join(", ")
                ),
            };
            writeln!(
                out,
                "wrote {} and {} ({} host{}{kept})",
                lab.sums_path().display(),
                lab.manifest_path().display(),
                r.built.len(),
                if r.built.len() == 1 { "" } else { "s" },
            )?;
        }
    }
    Ok(())
}
