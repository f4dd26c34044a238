//! What is specific to ESXi installer media: recognising it, and finding
//! and editing its two boot.cfg files (BIOS: /BOOT.CFG, read by mboot.c32;
//! UEFI: /EFI/BOOT/BOOT.CFG, read by the loader from its own directory).

pub mod bootcfg;
pub mod inspect;
pub mod loader;
pub mod version;

use std::path::Path;

use anyhow::{bail, Context, Result};

use self::loader::BootCfg;
use crate::failure::{self, Failure, Tag};
use crate::iso::eltorito::{self, PLATFORM_EFI, PLATFORM_X86};
use crate::iso::{BootInfoTable, Entry, IsoError, IsoImage};

pub const BIOS_BOOT_CFG: &str = "BOOT.CFG";
pub const EFI_BOOT_CFG: &str = "EFI/BOOT/BOOT.CFG";
/// The same two files as their loaders name them (the UEFI loader's
/// default prefix is this path's directory, see [`loader::config_dir`]).
pub const BIOS_CFG_PATH: &str = "/BOOT.CFG";
pub const EFI_CFG_PATH: &str = "/EFI/BOOT/BOOT.CFG";

/// What Secure Boot does to an added or renamed boot module.
pub const SECURE_BOOT_EFFECT: &str = "with UEFI Secure Boot on, ESXi stops at a purple screen \
     (\"Unexpected early boot module\"), because only the modules its signed image lists may boot";

/// boot.cfg files are a few KB; anything larger is not one.
const BOOT_CFG_CAP: u32 = 1 << 20;

/// The error for media that are valid ISOs but not ESXi installers.
#[derive(Debug, thiserror::Error)]
#[error("not an ESXi installer ISO: {0}")]
pub struct NotEsxi(pub String);

/// An ESXi installer as found on an image, with both boot.cfg files
/// parsed (once) as the loader reads them.
#[derive(Debug, Clone)]
pub struct Media {
    pub bios_cfg: Entry,
    pub efi_cfg: Entry,
    pub bios: BootCfg,
    pub efi: BootCfg,
}

impl Media {
    /// Checks that `img` is an ESXi installer and reads both boot.cfg files.
    pub fn detect(img: &IsoImage) -> Result<Media> {
        let Some(boot) = &img.boot else {
            bail!(NotEsxi(
                "it has no El Torito boot catalog, so it cannot boot an installer".into()
            ));
        };
        if !boot
            .entries
            .iter()
            .any(|e| e.platform == PLATFORM_X86 || e.platform == PLATFORM_EFI)
        {
            bail!(NotEsxi(
                "its boot catalog has neither a BIOS nor a UEFI entry".into()
            ));
        }
        let bios_cfg = find_file(img, BIOS_BOOT_CFG)?;
        let efi_cfg = find_file(img, EFI_BOOT_CFG)?;
        let media = Media {
            bios_cfg,
            efi_cfg,
            bios: BootCfg::parse(read_cfg(img, bios_cfg, BIOS_BOOT_CFG)?),
            efi: BootCfg::parse(read_cfg(img, efi_cfg, EFI_BOOT_CFG)?),
        };
        for (path, cfg) in media.configs() {
            if cfg.get("kernel").is_none() {
                bail!(NotEsxi(format!("{path} has no kernel= line")));
            }
        }
        Ok(media)
    }

    /// Both boot.cfg files, each with the path its loader reads it from.
    pub fn configs(&self) -> [(&'static str, &BootCfg); 2] {
        [(BIOS_CFG_PATH, &self.bios), (EFI_CFG_PATH, &self.efi)]
    }
}

fn find_file(img: &IsoImage, path: &str) -> Result<Entry> {
    let Some(e) = img.find(path) else {
        bail!(NotEsxi(format!(
            "/{path} is missing (ESXi installers carry both /BOOT.CFG and /EFI/BOOT/BOOT.CFG)"
        )));
    };
    if img.record(e).is_dir() {
        bail!(NotEsxi(format!("/{path} is a directory, not a file")));
    }
    Ok(e)
}

fn read_cfg(img: &IsoImage, e: Entry, path: &str) -> Result<String> {
    let bytes = img
        .read_small(img.record(e), BOOT_CFG_CAP)
        .with_context(|| format!("reading /{path}"))?;
    String::from_utf8(bytes).map_err(|_| NotEsxi(format!("/{path} is not UTF-8 text")).into())
}

/// A boot entry as reported by `inspect` and `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BootReport {
    pub platform: String,
    pub image: Option<String>,
    pub load_rba: u32,
    pub sector_count: u16,
    pub no_emulation: bool,
    /// `None` when the image has no boot-info-table slot (under 64 bytes)
    /// or is not a BIOS entry.
    pub boot_info_table_valid: Option<bool>,
}

/// Opens an ISO for reading; the error names the file.
pub fn open_iso(path: &Path) -> Result<IsoImage> {
    IsoImage::open(path).map_err(|e| open_error(path, e))
}

/// The error for an image that cannot be opened: "reading PATH: ...", an
/// input failure, with the reader's error and its cause (an I/O failure's
/// OS error, said once).
pub fn open_error(path: &Path, e: IsoError) -> anyhow::Error {
    failure::tagged(
        Failure::Input,
        anyhow::Error::new(e).context(format!("reading {}", path.display())),
    )
}

/// Opens an ESXi installer ISO and reads its two boot.cfg files.
pub fn open_installer(path: &Path) -> Result<(IsoImage, Media)> {
    let img = open_iso(path)?;
    let media = Media::detect(&img)
        .with_context(|| format!("checking {}", path.display()))
        .tag(Failure::Input)?;
    Ok((img, media))
}

/// Describes the El Torito entries, checking BIOS boot-info-tables.
pub fn boot_report(img: &IsoImage) -> Result<Vec<BootReport>> {
    let Some(cat) = &img.boot else {
        return Ok(Vec::new());
    };
    cat.entries
        .iter()
        .map(|e| {
            let file = img.file_at(e.load_rba);
            let bit = match (&file, e.platform) {
                (Some((_, rec)), PLATFORM_X86) if e.media == 0 => {
                    bios_table(img, e.load_rba, rec.size)?.map(|t| t.is_valid())
                }
                _ => None,
            };
            Ok(BootReport {
                platform: eltorito::platform_name(e.platform).to_string(),
                image: file.map(|(p, _)| format!("/{p}")),
                load_rba: e.load_rba,
                sector_count: e.sector_count,
                no_emulation: e.media == 0,
                boot_info_table_valid: bit,
            })
        })
        .collect()
}

pub fn bios_table(img: &IsoImage, lba: u32, len: u32) -> Result<Option<BootInfoTable>> {
    eltorito::boot_info_table(&img.file, img.len, lba, len).context("checking the boot-info-table")
}

#[cfg(test)]
mod tests {
    use super::bootcfg::*;

    #[test]
    fn leading_space_kept() {
        let e = KernelOptEdits {
            set: vec![("ks".into(), Some("cdrom:/KS.CFG".into()))],
            remove: vec![],
        };
        assert_eq!(
            edit_kernelopt(" runweasel", &e),
            " runweasel ks=cdrom:/KS.CFG"
        );
    }
}
