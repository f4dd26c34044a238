//! `esxi-iso build SOURCE --inventory FILE --out-dir DIR --netboot URL`:
//! plan the lab ([`crate::lab::plan`]: every kickstart rendered and
//! linted), work out each host's boot.cfg and kickstart
//! ([`crate::netboot::plan`]), write them ([`crate::netboot::write`]) and
//! say how to boot the hosts.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::BuildArgs;
use crate::lab;
use crate::netboot::{self, Plan, Report};

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    let req = args.lab_request()?;
    let nb = args.netboot_request().context("no --netboot given")?;
    let lab = lab::plan(&req)?;
    let plan = netboot::plan(&req, &lab, &nb)?;
    for (h, f) in lab.hosts.iter().zip(&plan.hosts) {
        for w in lab
            .allow
            .filter(h.warnings.iter().chain(&f.warnings).cloned().collect())
        {
            eprintln!("esxi-iso: {}", w.render_for(Some(&h.hostname)));
        }
    }
    if args.verbose {
        eprintln!(
            "esxi-iso: plan: {} host(s) from {} for network install from {} (mount /{}/)",
            plan.hosts.len(),
            req.inventory.display(),
            req.source.display(),
            plan.mount
        );
        if let Some(r) = &lab.report {
            eprintln!("esxi-iso: plan: {}", r.describe());
        }
        for f in &plan.hosts {
            eprintln!(
                "esxi-iso: {}: MAC {}, {}, kernelopt={}",
                f.hostname, f.mac, f.boot_cfg_rel, f.kernelopt
            );
        }
    }
    let report = netboot::write(&req, &lab, &plan)?;
    print(args, &lab, &plan, &report)?;
    Ok(ExitCode::SUCCESS)
}

fn print(args: &BuildArgs, lab: &lab::LabPlan, plan: &Plan, r: &Report) -> Result<()> {
    for w in &r.manifest.warnings {
        eprintln!("esxi-iso: {}", w.render());
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &r.manifest)?;
        writeln!(out)?;
        return Ok(());
    }
    if args.quiet {
        return Ok(());
    }
    for f in &plan.hosts {
        writeln!(
            out,
            "wrote {} and the kickstart of {} (MAC {})",
            lab.out_dir.join(&f.boot_cfg_rel).display(),
            f.hostname,
            f.mac
        )?;
    }
    for rel in &r.removed {
        writeln!(
            out,
            "removed {} (its host boots by another MAC now)",
            lab.out_dir.join(rel).display()
        )?;
    }
    writeln!(
        out,
        "wrote {} and {} ({} host{})",
        lab.sums_path().display(),
        lab.manifest_path().display(),
        plan.hosts.len(),
        if plan.hosts.len() == 1 { "" } else { "s" }
    )?;
    writeln!(
        out,
        "boot URL   {} (UEFI HTTP boot; `esxi-iso serve {}` serves it from {})",
        plan.boot_uri(),
        lab.out_dir.display(),
        plan.iso.display()
    )?;
    writeln!(
        out,
        "unknown MACs {}",
        if r.fallback {
            "boot the installer without a kickstart (--netboot-interactive)"
        } else {
            "get 404: only the hosts above can boot"
        }
    )?;
    Ok(())
}
