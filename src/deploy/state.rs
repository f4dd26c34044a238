//! The lab folder's deploy state, `DIR/.esxi-iso/deploy.json`: per
//! server (by its instance uuid) and host, what deploy did and what the
//! server set: the VM's reference and name, the MACs read back after
//! creation (vCenter may replace a manual MAC another VM has), the ISO
//! uploaded for it and that ISO's SHA-256, how the VM boots its installer
//! (its ISO in a CD drive, its ISO over UEFI HTTP boot, or a network
//! install, and the URI its firmware boots), how far its creation got,
//! when it was created (install reports older than that are not its),
//! and whether its CD was emptied.
//!
//! It is rewritten (atomically) after every step, so Ctrl-C or a failure
//! leaves what was done. The next run adopts VMs by the lab's marker, not
//! by this file, and reads from it what the server cannot tell: the ISO
//! it uploaded and its SHA-256 (an unchanged one is not sent again, a
//! rebuilt one is reported), how a VM was made to boot (an interrupted
//! creation is finished the same way), when it was created and whether
//! its CD was emptied. The VM's reference, name, MACs and phase are a
//! record for people and scripts. A dry run never writes it. Nothing
//! secret is in it.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::failure::{Failure, Tag};
use crate::output;
use crate::report::state_dir;

pub const STATE_FILE: &str = "deploy.json";

/// How far a host's VM got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Nothing made yet (its ISO may be uploaded).
    #[default]
    Planned,
    /// CreateVM_Task returned the VM.
    Created,
    /// Its boot order is set.
    Configured,
    /// Powered on by deploy.
    PoweredOn,
}

/// How deploy made a VM boot its installer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootKind {
    /// Its ISO in a CD drive.
    Cdrom,
    /// UEFI HTTP boot of its ISO (`vm.boot = "http"`).
    Http,
    /// UEFI HTTP boot of mboot.efi for a network install (`build
    /// --netboot`): no ISO, no CD drive.
    NetworkInstall,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// The VM's managed object id (`vm-42`).
    pub vm: Option<String>,
    pub vm_name: String,
    pub datacenter: String,
    pub phase: Phase,
    /// What the server set, NIC 0 first.
    pub macs: Vec<String>,
    /// `[datastore] folder/esx01.iso`, when deploy uploaded it.
    pub iso: Option<String>,
    pub iso_sha256: Option<String>,
    /// Unix seconds (this machine's clock).
    pub created: Option<u64>,
    /// The CD was emptied after the install.
    pub detached: bool,
    /// How the VM was made to boot (absent in states written before it
    /// was recorded).
    #[serde(default)]
    pub boot: Option<BootKind>,
    /// The URI its firmware boots, for HTTP boot.
    #[serde(default)]
    pub boot_uri: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TargetState {
    server: String,
    hosts: BTreeMap<String, HostState>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    lab: String,
    targets: BTreeMap<String, TargetState>,
}

/// The state of one lab on one server.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    state: State,
    key: String,
    /// A dry run: changes stay in memory.
    dry_run: bool,
}

impl StateFile {
    /// Reads the state of `lab` on the server `key` (its instance uuid, or
    /// its address) in `lab_dir`; a state written for another lab name is
    /// started over.
    pub fn open(
        lab_dir: &Path,
        lab: &str,
        key: &str,
        server: &str,
        dry_run: bool,
    ) -> Result<StateFile> {
        let path = state_dir(lab_dir).join(STATE_FILE);
        let mut state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<State>(&bytes)
                .with_context(|| {
                    format!(
                        "reading {}: it is not deploy's state; move it away (the VMs keep \
                         their marker, and a rerun adopts them without it)",
                        path.display()
                    )
                })
                .tag(Failure::Input)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading {}", path.display()))
                    .tag(Failure::Input)
            }
        };
        if state.lab != lab {
            state = State {
                lab: lab.to_string(),
                targets: BTreeMap::new(),
            };
        }
        state.targets.entry(key.to_string()).or_default().server = server.to_string();
        Ok(StateFile {
            path,
            state,
            key: key.to_string(),
            dry_run,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn target(&self) -> Option<&TargetState> {
        self.state.targets.get(&self.key)
    }

    pub fn host(&self, name: &str) -> Option<&HostState> {
        self.target()?.hosts.get(&name.to_ascii_lowercase())
    }

    /// Changes a host's entry and writes the file.
    pub fn update(&mut self, name: &str, f: impl FnOnce(&mut HostState)) -> Result<()> {
        let target = self.state.targets.entry(self.key.clone()).or_default();
        f(target.hosts.entry(name.to_ascii_lowercase()).or_default());
        self.write()
    }

    /// Forgets a host (its VM was destroyed) and writes the file.
    pub fn remove(&mut self, name: &str) -> Result<()> {
        if let Some(t) = self.state.targets.get_mut(&self.key) {
            t.hosts.remove(&name.to_ascii_lowercase());
        }
        self.write()
    }

    fn write(&self) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(&self.state)?;
        text.push('\n');
        output::write_atomic(&self.path, text.as_bytes(), true)
            .with_context(|| format!("recording the deploy state in {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_starts_over_for_another_lab() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StateFile::open(dir.path(), "lab", "uuid-1", "vc", false).unwrap();
        assert!(s.host("esx01").is_none());
        s.update("ESX01", |h| {
            h.vm = Some("vm-42".into());
            h.phase = Phase::Created;
        })
        .unwrap();
        let again = StateFile::open(dir.path(), "lab", "uuid-1", "vc", false).unwrap();
        let h = again.host("esx01").unwrap();
        assert_eq!((h.vm.as_deref(), h.phase), (Some("vm-42"), Phase::Created));
        // Another server: its own hosts.
        assert!(StateFile::open(dir.path(), "lab", "uuid-2", "vc2", false)
            .unwrap()
            .host("esx01")
            .is_none());
        assert!(StateFile::open(dir.path(), "other", "uuid-1", "vc", false)
            .unwrap()
            .host("esx01")
            .is_none());
        let text = std::fs::read_to_string(again.path()).unwrap();
        assert!(text.contains("\"phase\": \"created\""), "{text}");
        // A dry run writes nothing.
        let dry = tempfile::tempdir().unwrap();
        let mut d = StateFile::open(dry.path(), "lab", "u", "vc", true).unwrap();
        d.update("esx01", |h| h.phase = Phase::PoweredOn).unwrap();
        assert!(!d.path().exists());
        std::fs::write(again.path(), "not json").unwrap();
        let err = StateFile::open(dir.path(), "lab", "uuid-1", "vc", false).unwrap_err();
        assert!(
            format!("{err:#}").contains("it is not deploy's state"),
            "{err:#}"
        );
    }
}
