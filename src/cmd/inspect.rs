//! `esxi-iso inspect`: which release an ESXi ISO holds (see
//! [`crate::esxi::version`]), what it boots and whether a kickstart is
//! injected. Reads metadata and the two boot.cfg files only.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::InspectArgs;
use crate::esxi::version::{self, Version};
use crate::esxi::{self, bootcfg, BootReport, Media};

#[derive(Debug, Serialize)]
pub struct Report {
    pub volume_id: String,
    pub size: u64,
    pub build: Option<String>,
    /// The release, from build=, the volume id or the boot.cfg shape.
    pub version: Option<Version>,
    pub rock_ridge: bool,
    pub joliet: bool,
    pub boot: Vec<BootReport>,
    pub kernelopt: Kernelopts,
    pub modules: usize,
    pub kickstart: Option<Kickstart>,
}

#[derive(Debug, Serialize)]
pub struct Kernelopts {
    pub bios: Option<String>,
    pub efi: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Kickstart {
    /// The `ks=` value of the BIOS boot.cfg (or the UEFI one if only there).
    pub location: String,
    /// For `cdrom:` locations: whether that file exists on the ISO.
    pub present: Option<bool>,
    pub size: Option<u32>,
    pub same_in_both: bool,
}

pub fn run(args: &InspectArgs) -> Result<ExitCode> {
    let img = super::build::open_source(&args.iso)?;
    let media = Media::detect(&img).with_context(|| format!("checking {}", args.iso.display()))?;
    let bios = bootcfg::get(&media.bios_text, "kernelopt").map(str::to_string);
    let efi = bootcfg::get(&media.efi_text, "kernelopt").map(str::to_string);
    let ks_of = |k: &Option<String>| {
        k.as_deref()
            .and_then(|k| bootcfg::option(k, "ks"))
            .map(str::to_string)
    };
    let (ks_b, ks_e) = (ks_of(&bios), ks_of(&efi));
    let kickstart = ks_b.clone().or(ks_e.clone()).map(|loc| {
        let on_cd = loc
            .strip_prefix("cdrom:")
            .map(|p| img.find(p.trim_start_matches('/')));
        Kickstart {
            present: on_cd.map(|e| e.is_some()),
            size: on_cd.flatten().map(|e| img.record(e).size),
            same_in_both: ks_b == ks_e,
            location: loc,
        }
    });
    let report = Report {
        volume_id: img.volume_id(),
        size: img.len,
        build: bootcfg::get(&media.bios_text, "build").map(str::to_string),
        version: version::detect(&media.bios_text, Some(&img.volume_id())),
        rock_ridge: img.rock_ridge.is_some(),
        joliet: img.joliet.is_some(),
        boot: esxi::boot_report(&img)?,
        kernelopt: Kernelopts { bios, efi },
        modules: bootcfg::modules(&media.bios_text).len(),
        kickstart,
    };
    print(&report, args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn print(r: &Report, json: bool) -> Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut o, r)?;
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
