//! The mapping between an ISO and a directory: `extract` writes an ISO's
//! files to a directory, `pack` masters a directory into a new ISO, and
//! `build <DIR>` packs it with the build's edits applied in memory. What the
//! directory alone cannot say (volume id, which trees, the El Torito
//! entries) travels in its `.esxi-iso.toml`, the [`TreeManifest`] defined
//! here and read by all three.
//!
//! The ISO9660 work itself (reading, mastering) is [`crate::iso`]'s; this
//! module decides what goes where and checks it before writing.

pub mod extract;
pub mod pack;

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::iso::eltorito::{PLATFORM_EFI, PLATFORM_X86};

/// The name of the record file in an extracted tree.
pub const MANIFEST: &str = ".esxi-iso.toml";

/// What `extract` saw and `pack` reproduces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeManifest {
    pub volume_id: String,
    #[serde(default)]
    pub rock_ridge: bool,
    #[serde(default)]
    pub joliet: bool,
    /// Path of the boot catalog, e.g. "/BOOT.CAT".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<BootEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Bios,
    Uefi,
}

impl Platform {
    pub fn id(self) -> u8 {
        match self {
            Platform::Bios => PLATFORM_X86,
            Platform::Uefi => PLATFORM_EFI,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootEntry {
    pub platform: Platform,
    /// Path of the boot image, e.g. "/ISOLINUX.BIN".
    pub image: String,
    /// Virtual 512-byte sectors the firmware loads.
    pub load_size: u16,
    pub boot_info_table: bool,
    pub no_emulation: bool,
}

/// The extract record is a few hundred bytes.
const MANIFEST_MAX: u64 = 1 << 20;

impl TreeManifest {
    /// Reads DIR/.esxi-iso.toml if it exists.
    pub fn load(dir: &Path) -> Result<Option<TreeManifest>> {
        let path = dir.join(MANIFEST);
        if !path.exists() {
            return Ok(None);
        }
        let text = crate::input::read_text_capped(&path, MANIFEST_MAX, "extract record")?;
        toml::from_str(&text)
            .map(Some)
            .with_context(|| format!("parsing {}", path.display()))
    }

    pub fn to_text(&self) -> Result<String> {
        Ok(format!(
            "# Written by esxi-iso extract; read by esxi-iso pack.\n{}",
            toml::to_string(self).context("serializing the extract record")?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trips() {
        let m = TreeManifest {
            volume_id: "ESXI-8.0U3".into(),
            rock_ridge: true,
            joliet: false,
            catalog: Some("/BOOT.CAT".into()),
            entries: vec![BootEntry {
                platform: Platform::Bios,
                image: "/ISOLINUX.BIN".into(),
                load_size: 4,
                boot_info_table: true,
                no_emulation: true,
            }],
        };
        let text = m.to_text().unwrap();
        assert!(text.contains("platform = \"bios\""), "{text}");
        assert_eq!(toml::from_str::<TreeManifest>(&text).unwrap(), m);
        assert!(toml::from_str::<TreeManifest>("volume_id = \"X\"\nbogus = 1\n").is_err());
    }
}
