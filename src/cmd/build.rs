//! `esxi-iso build SOURCE` (one output; `--inventory` is `cmd::lab`):
//! plan the build ([`crate::build::Request`]), build it from the ISO or
//! directory, report (text or `--json`; `--verbose` describes each step
//! on stderr).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::build::{self, BuildSummary};
use crate::cli::BuildArgs;
use crate::progress::{self, Trace};
use crate::signals;

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    signals::install();
    let mut plan = args.request().plan()?;
    if args.verbose {
        for line in plan.describe() {
            eprintln!("esxi-iso: {line}");
        }
        plan.opts.trace = Trace::to(|line| eprintln!("esxi-iso: {line}"));
    }
    let summary = build::run(&plan, progress::enabled(args.quiet))?;
    report(&summary, args.json, args.quiet)?;
    Ok(ExitCode::SUCCESS)
}

fn report(s: &BuildSummary, json: bool, quiet: bool) -> Result<()> {
    for w in &s.warnings {
        eprintln!("esxi-iso: {}", w.render());
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, s)?;
        writeln!(out)?;
    } else if !quiet {
        writeln!(out, "wrote {} ({} bytes)", s.output.display(), s.size)?;
        writeln!(out, "  sha256     {}", s.sha256)?;
        writeln!(out, "  kickstart  {}", s.ks_path)?;
        writeln!(out, "  BIOS       kernelopt={}", s.kernelopt.bios)?;
        writeln!(out, "  UEFI       kernelopt={}", s.kernelopt.efi)?;
        writeln!(out, "  data       {}", s.data)?;
    }
    Ok(())
}
