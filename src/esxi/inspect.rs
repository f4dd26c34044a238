//! What `esxi-iso inspect` shows of an ESXi ISO: which release it holds
//! (see [`super::version`]), what it boots and whether a kickstart is
//! injected. Reads metadata and the two boot.cfg files only.

use anyhow::Result;
use serde::Serialize;

use super::version::{self, Version};
use super::{boot_report, bootcfg, BootReport, Media, BIOS_CFG_PATH};
use crate::iso::IsoImage;

#[derive(Debug, Serialize)]
pub struct InspectReport {
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

/// Describes an opened installer ISO.
pub fn inspect(img: &IsoImage, media: &Media) -> Result<InspectReport> {
    let bios = media.bios.get("kernelopt").map(str::to_string);
    let efi = media.efi.get("kernelopt").map(str::to_string);
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
    Ok(InspectReport {
        volume_id: img.volume_id(),
        size: img.len,
        build: media.bios.get("build").map(str::to_string),
        version: version::detect(&media.bios, Some(&img.volume_id())),
        rock_ridge: img.rock_ridge.is_some(),
        joliet: img.joliet.is_some(),
        boot: boot_report(img)?,
        kernelopt: Kernelopts { bios, efi },
        modules: media.bios.modules(BIOS_CFG_PATH).len(),
        kickstart,
    })
}
