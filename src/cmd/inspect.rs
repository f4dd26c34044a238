//! `esxi-iso inspect ISO`: open, describe ([`crate::esxi::inspect`]),
//! print as text or JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::esxi::{self, inspect::InspectReport};

pub fn run(args: &InspectArgs) -> Result<ExitCode> {
    let (img, media) = esxi::open_installer(&args.iso)?;
    let report = esxi::inspect::inspect(&img, &media)?;
    print(&args.iso, &report, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// `--json`: the report, led by the ISO as given.
#[derive(Serialize)]
struct Json<'a> {
    iso: &'a Path,
    #[serde(flatten)]
    report: &'a InspectReport,
}

fn print(iso: &Path, r: &InspectReport, json: bool) -> Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut o, &Json { iso, report: r })?;
        writeln!(o)?;
        return Ok(());
    }
    let trees = match (r.rock_ridge, r.joliet) {
        (false, false) => "ISO9660 only",
        (true, false) => "ISO9660 + Rock Ridge",
        (false, true) => "ISO9660 + Joliet",
        (true, true) => "ISO9660 + Rock Ridge + Joliet",
    };
    writeln!(o, "volume id   {}", r.volume_id)?;
    writeln!(o, "size        {} bytes ({trees})", r.size)?;
    match &r.version {
        Some(v) => writeln!(o, "release     {v}")?,
        None => writeln!(
            o,
            "release     unknown (no build=, volume id or stock kernelopt to go by)"
        )?,
    }
    writeln!(
        o,
        "build       {}",
        match r.build.as_deref() {
            None => "(no build= line)",
            Some("") => "(empty build= line)",
            Some(b) => b,
        }
    )?;
    for b in &r.boot {
        let bit = match b.boot_info_table_valid {
            Some(true) => ", boot-info-table valid",
            Some(false) => ", boot-info-table INVALID",
            None => "",
        };
        writeln!(
            o,
            "boot        {:<4} {} (LBA {}, load size {}{}{bit})",
            b.platform,
            b.image.as_deref().unwrap_or("(no file at that LBA)"),
            b.load_rba,
            b.sector_count,
            if b.no_emulation { ", no emulation" } else { "" },
        )?;
    }
    writeln!(
        o,
        "kernelopt   BIOS {}",
        r.kernelopt.bios.as_deref().unwrap_or("(none)")
    )?;
    writeln!(
        o,
        "kernelopt   UEFI {}",
        r.kernelopt.efi.as_deref().unwrap_or("(none)")
    )?;
    writeln!(o, "modules     {}", r.modules)?;
    match &r.kickstart {
        None => writeln!(o, "kickstart   none (no ks= option)")?,
        Some(k) => {
            let state = match (k.present, k.size) {
                (Some(true), Some(n)) => format!("present, {n} bytes"),
                (Some(false), _) => "MISSING from the ISO".to_string(),
                _ => "not on the ISO".to_string(),
            };
            let both = if k.same_in_both {
                ""
            } else {
                "; BIOS and UEFI disagree"
            };
            writeln!(o, "kickstart   {} ({state}{both})", k.location)?;
        }
    }
    Ok(())
}
