//! What deploy knows before it connects: the lab's hosts and their VMs
//! (the inventory's `vm` tables, [`crate::lab::vmplan::read_lab`]), each
//! host's ISO in the lab folder (`build --inventory --out-dir` wrote it
//! and listed it in manifest.json with its SHA-256), the ESXi release on
//! that ISO, and the guest OS id that release runs as in a VM.
//!
//! Guest ids: `vmkernel65Guest` for 6.5 and 6.7 (vSphere has no 6.7 id),
//! `vmkernel7Guest`, `vmkernel8Guest`, `vmkernel9Guest` (the
//! `VirtualMachineGuestOsIdentifier` enumeration of the vim25 WSDL;
//! 9 from vSphere 9's). A release read only from the shape of boot.cfg
//! ("7.0U2c or later") says too little: such a host needs `vm.guest_id`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::esxi::{self, version};
use crate::failure::{self, Failure, Tag};
use crate::lab::vmplan::{read_lab, LabHost, LabVms};
use crate::lab::{inventory, Problem, MANIFEST_FILE};
use crate::warning::Warning;

/// A host's ISO in the lab folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabIso {
    pub path: PathBuf,
    /// Its file name, which it keeps on a datastore.
    pub file: String,
    pub size: u64,
    /// From manifest.json, when the folder has one.
    pub sha256: Option<String>,
}

/// A host to deploy: its VM, its ISO and what runs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub lab: LabHost,
    pub iso: LabIso,
    /// `ESXi 8.0.3`, as read from the ISO.
    pub release: String,
    pub guest_id: String,
}

impl Host {
    pub fn name(&self) -> &str {
        &self.lab.hostname
    }
}

/// The lab as deploy starts from it.
#[derive(Debug, Clone)]
pub struct Local {
    pub lab: String,
    pub hosts: Vec<Host>,
    pub warnings: Vec<Warning>,
}

/// manifest.json, as far as deploy reads it.
#[derive(Deserialize)]
struct Manifest {
    hosts: Vec<ManifestHost>,
}

#[derive(Deserialize)]
struct ManifestHost {
    hostname: String,
    file: String,
    #[serde(default)]
    sha256: Option<String>,
}

/// The guest OS id of a release (`8.0.3`, `6.7`, `7.0U2c or later`), or
/// None when the release says too little.
pub fn guest_id_of(release: &str) -> Option<&'static str> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if release.contains(" or ") || release.contains(" to ") {
        return match release {
            "6.0 or 6.5" => Some("vmkernel65Guest"),
            _ => None,
        };
    }
    match (major, minor) {
        (6, 5..=7) => Some("vmkernel65Guest"),
        (7, _) => Some("vmkernel7Guest"),
        (8, _) => Some("vmkernel8Guest"),
        (9, _) => Some("vmkernel9Guest"),
        _ => None,
    }
}

/// The lab's name and hosts (those of `only`, all when empty), from the
/// inventory alone: what a teardown needs.
pub fn read_inventory(inventory_path: &Path, only: &[String]) -> Result<LabVms> {
    let inv = inventory::read(inventory_path)?;
    let stem = inventory_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lab".into());
    read_lab(&inv, &stem, only).map_err(|p| problems_error(inventory_path, &p))
}

/// Reads the inventory and each host's ISO in the lab folder.
pub fn read(inventory_path: &Path, lab_dir: &Path, only: &[String]) -> Result<Local> {
    let lab = read_inventory(inventory_path, only)?;
    let mut hosts = Vec::new();
    let mut warnings = Vec::new();
    if !lab_dir.is_dir() {
        return Err(failure::error(
            Failure::Input,
            format!(
                "lab folder {} is not there: build the lab first (esxi-iso build SOURCE \
                 --inventory {} --out-dir {})",
                lab_dir.display(),
                inventory_path.display(),
                lab_dir.display()
            ),
        ));
    }
    let manifest = read_manifest(lab_dir)?;
    let mut problems = Vec::new();
    for h in lab.hosts {
        let entry = manifest
            .as_ref()
            .and_then(|m| m.get(&h.hostname.to_ascii_lowercase()));
        let file = entry.map_or_else(|| format!("{}.iso", h.hostname), |(f, _)| f.clone());
        let path = lab_dir.join(&file);
        let size = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m.len(),
            _ => {
                problems.push(Problem {
                    failure: Failure::Input,
                    text: format!(
                        "{}: no ISO {} in the lab folder: build it first (esxi-iso build \
                         SOURCE --inventory {} --out-dir {})",
                        h.hostname,
                        path.display(),
                        inventory_path.display(),
                        lab_dir.display()
                    ),
                });
                continue;
            }
        };
        let release = match esxi::open_installer(&path) {
            Ok((img, media)) => version::detect(&media.bios, Some(&img.volume_id())),
            Err(e) => {
                problems.push(Problem {
                    failure: failure::of(&e).unwrap_or(Failure::Input),
                    text: format!("{}: {e:#}", h.hostname),
                });
                continue;
            }
        };
        let release_text = release
            .as_ref()
            .map(|v| format!("{} {}", v.product, v.release))
            .unwrap_or_else(|| "an unknown release".into());
        let guest_id = match (
            &h.vm.guest_id,
            release.as_ref().and_then(|v| guest_id_of(&v.release)),
        ) {
            (Some(g), _) => g.clone(),
            (None, Some(g)) => g.to_string(),
            (None, None) => {
                problems.push(Problem::usage(format!(
                    "{}: {} holds {release_text}, which does not say which guest OS id its VM \
                     needs: set vm.guest_id (vmkernel7Guest, vmkernel8Guest or vmkernel9Guest)",
                    h.hostname,
                    path.display()
                )));
                continue;
            }
        };
        let major = release
            .as_ref()
            .and_then(|v| v.release.split('.').next()?.parse::<u32>().ok());
        if major.is_some_and(|m| m >= 8) && h.vm.memory_gb < 12 {
            warnings.push(Warning::advice(
                "memory-small",
                format!(
                    "{}: {} GB of memory for {release_text}: 8 GB installs, but VMware asks \
                     12 GB of an ESXi 8 host that runs VMs (vm.memory_gb)",
                    h.hostname, h.vm.memory_gb
                ),
            ));
        }
        let boot_disk = h.vm.disks_gb.first().copied().unwrap_or(0);
        if major.is_some_and(|m| m >= 7) && boot_disk < 32 {
            warnings.push(Warning::advice(
                "boot-disk-small",
                format!(
                    "{}: a {boot_disk} GB boot disk for {release_text}: VMware asks a boot \
                     disk of 32 GB or more of ESXi 7 and later (vm.disks_gb)",
                    h.hostname
                ),
            ));
        }
        hosts.push(Host {
            iso: LabIso {
                path,
                file,
                size,
                sha256: entry.and_then(|(_, s)| s.clone()),
            },
            release: release_text,
            guest_id,
            lab: h,
        });
    }
    if !problems.is_empty() {
        return Err(problems_error(inventory_path, &problems));
    }
    Ok(Local {
        lab: lab.name,
        hosts,
        warnings,
    })
}

/// manifest.json's hosts by lower-case name: (file, sha256).
type ManifestFiles = HashMap<String, (String, Option<String>)>;

fn read_manifest(dir: &Path) -> Result<Option<ManifestFiles>> {
    let path = dir.join(MANIFEST_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = crate::input::read_text_capped(&path, 64 << 20, "manifest")?;
    let m: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("reading {}", path.display()))
        .tag(Failure::Input)?;
    Ok(Some(
        m.hosts
            .into_iter()
            .filter(|h| !h.file.contains('/') && !h.file.starts_with('.'))
            .map(|h| (h.hostname.to_ascii_lowercase(), (h.file, h.sha256)))
            .collect(),
    ))
}

/// Every problem in one error, tagged by their kind.
pub fn problems_error(what: &Path, problems: &[Problem]) -> anyhow::Error {
    problems_list(&what.display().to_string(), problems, "nothing was changed")
}

/// `WHAT has N problems; DONE:` and one line per problem.
pub fn problems_list(what: &str, problems: &[Problem], done: &str) -> anyhow::Error {
    let kind = match problems.split_first() {
        Some((first, rest)) if rest.iter().all(|p| p.failure == first.failure) => first.failure,
        _ => Failure::Usage,
    };
    let lines: Vec<&str> = problems.iter().map(|p| p.text.as_str()).collect();
    failure::error(
        kind,
        format!(
            "{what} has {} problem{}; {done}:\n  {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            lines.join("\n  ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_give_guest_ids() {
        let cases = [
            ("6.5.0", Some("vmkernel65Guest")),
            ("6.7", Some("vmkernel65Guest")),
            ("6.0 or 6.5", Some("vmkernel65Guest")),
            ("7.0.3", Some("vmkernel7Guest")),
            ("8.0U3", Some("vmkernel8Guest")),
            ("8.0.3", Some("vmkernel8Guest")),
            ("9.1.1.0", Some("vmkernel9Guest")),
            ("9.1.0.0100", Some("vmkernel9Guest")),
            ("6.7 to 7.0U2", None),
            ("7.0U2c or later", None),
            ("5.5", None),
            ("10.0", None),
        ];
        for (release, want) in cases {
            assert_eq!(guest_id_of(release), want, "{release}");
        }
    }
}
