//! `esxi-iso pack DIR -o ISO`: plan the volume (names and boot setup
//! checked, [`crate::tree::pack`]), show its warnings, write, report.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::PackArgs;
use crate::tree::pack::{self, PackSummary};
use crate::{progress, signals};

pub fn run(args: &PackArgs) -> Result<ExitCode> {
    signals::install();
    let plan = pack::plan(&args.request())?;
    for w in &plan.warnings {
        eprintln!("esxi-iso: {}", w.render());
    }
    let bar = progress::bytes(0, "packing", progress::enabled(args.quiet));
    let summary = pack::write(&plan, &bar)?;
    report(&summary, args.json, args.quiet)?;
    Ok(ExitCode::SUCCESS)
}

fn report(s: &PackSummary, json: bool, quiet: bool) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, s)?;
        writeln!(out)?;
    } else if !quiet {
        writeln!(out, "wrote {} ({} bytes)", s.output.display(), s.size)?;
        writeln!(out, "  sha256     {}", s.sha256)?;
        writeln!(out, "  volume id  {}", s.volume_id)?;
        let mut trees = vec!["ISO9660"];
        if s.rock_ridge {
            trees.push("Rock Ridge");
        }
        if s.joliet {
            trees.push("Joliet");
        }
        writeln!(
            out,
            "  trees      {} ({} files)",
            trees.join(" + "),
            s.files
        )?;
        for b in &s.boot {
            writeln!(
                out,
                "  {:<10} {} (load size {}{})",
                b.platform,
                b.image.as_deref().unwrap_or("?"),
                b.sector_count,
                if b.boot_info_table_valid == Some(true) {
                    ", boot-info-table"
                } else {
                    ""
                }
            )?;
        }
        writeln!(out, "  data       {}", s.data)?;
    }
    Ok(())
}
