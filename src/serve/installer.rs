//! Network install: the installer served straight out of a stock ISO, and
//! the record that says which ISO (`DIR/.esxi-iso/netboot.json`, written
//! by `build --inventory --netboot`, read here).
//!
//! The URL layout, one mount per stock ISO (its name is the ISO's file
//! stem):
//!
//! - `/MOUNT/PATH`: a file of the ISO's primary tree, looked up as
//!   VMware's loader looks names up (case-insensitively, `;1` ignored):
//!   `/MOUNT/efi/boot/bootx64.efi` is mboot.efi, the firmware's boot URL;
//! - `/MOUNT/efi/boot/01-aa-bb-cc-dd-ee-ff/boot.cfg`: a host's boot.cfg,
//!   the file `DIR/MOUNT/efi/boot/01-.../boot.cfg` of the lab folder (what
//!   mboot asks first, from the directory it was loaded from);
//! - `/MOUNT/efi/boot/boot.cfg`: mboot's fallback, the lab folder's file
//!   when `--netboot-interactive` wrote one, else 404;
//! - `/MOUNT/01-aa-bb-cc-dd-ee-ff/PATH`: the ISO's files again, the
//!   `prefix=` of that host's boot.cfg, so the server knows which host
//!   loads the installer.
//!
//! The ISO's own /BOOT.CFG and /EFI/BOOT/BOOT.CFG are never served: they
//! name the CD (`ks=cdrom:`) and absolute paths that do not load over
//! HTTP. Nothing of the ISO is extracted or written; its file is opened
//! read-only and its extents are served by offset.
//!
//! The record is read again when it changes, so `build --netboot` can run
//! while the server does. What is wrong with it (a missing or changed ISO)
//! is said at start-up and when it is read again.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::files::Validators;
use crate::iso::{Entry, IsoImage};

pub const RECORD_FILE: &str = "netboot.json";
/// Where kickstarts live, inside the state folder (never served as files).
pub const KICKSTART_DIR: &str = "kickstarts";
/// The kickstart route: `/.esxi-iso/ks/TOKEN/HOST.cfg`.
pub const KICKSTART_PATH: &str = "/.esxi-iso/ks/";
/// mboot.efi and its boot.cfg, relative to a mount.
pub const BOOT_DIR: &str = "efi/boot";
pub const LOADER: &str = "efi/boot/bootx64.efi";

/// `DIR/.esxi-iso/netboot.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub installers: Vec<Installer>,
    pub hosts: Vec<Host>,
}

/// A stock ISO and its mount name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installer {
    pub mount: String,
    /// Absolute path.
    pub iso: PathBuf,
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
    pub volume_id: String,
}

/// A host made for network install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    pub mount: String,
    /// The server's base URL as the host sees it.
    pub url: String,
}

impl Record {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(RECORD_FILE)
    }

    /// The record of a state folder; an empty one when there is none.
    pub fn read(state_dir: &Path) -> Result<Record> {
        let path = Record::path(state_dir);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| {
                format!(
                    "reading {}: it is not a network-install record; remove it and run \
                     `build --inventory --netboot` again",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn installer(&self, mount: &str) -> Option<&Installer> {
        self.installers.iter().find(|i| i.mount == mount)
    }
}

impl Installer {
    /// What the record says about `iso` now.
    pub fn describe(mount: &str, iso: &Path, volume_id: String) -> Result<Installer> {
        let abs = iso
            .canonicalize()
            .with_context(|| format!("resolving {}", iso.display()))?;
        let m = std::fs::metadata(&abs).with_context(|| format!("reading {}", abs.display()))?;
        Ok(Installer {
            mount: mount.to_string(),
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            iso: abs,
            volume_id,
        })
    }
}

/// The mount name of a stock ISO: its file stem, with anything but
/// letters, digits, `.`, `_` and `-` made `_`, never starting with `.`.
pub fn mount_name(iso: &Path) -> String {
    let stem = iso
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut m: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    while m.starts_with('.') {
        m.replace_range(..1, "_");
    }
    if m.is_empty() {
        m = "esxi".into();
    }
    m
}

/// `01-aa-bb-cc-dd-ee-ff` (any case) as the lowercase folder name.
pub fn parse_bootif(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() == 7
        && parts[0] == "01"
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| s.to_ascii_lowercase())
}

/// `aa:bb:cc:dd:ee:ff` as `01-aa-bb-cc-dd-ee-ff`.
pub fn bootif_of(mac: &str) -> String {
    format!("01-{}", mac.to_ascii_lowercase().replace(':', "-"))
}

/// A host's boot.cfg, relative to the lab folder.
pub fn boot_cfg_path(mount: &str, bootif: &str) -> String {
    format!("{mount}/{BOOT_DIR}/{bootif}/boot.cfg")
}

/// The fallback boot.cfg (`--netboot-interactive`), relative to the lab
/// folder.
pub fn fallback_path(mount: &str) -> String {
    format!("{mount}/{BOOT_DIR}/boot.cfg")
}

/// What a path under a mount names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A file of the lab folder (a host's boot.cfg, the fallback), with
    /// the host when it is a host's.
    LabFile {
        rel: String,
        host: Option<String>,
    },
    /// A file of the ISO, fetched under a host's prefix or not.
    Iso {
        path: String,
        host: Option<String>,
    },
    NotFound,
}

/// One stock ISO, open.
pub struct Mount {
    pub name: String,
    pub iso: IsoImage,
    /// Validator parts of the ISO file: inode and mtime.
    ino: u64,
    modified: SystemTime,
    mtime_ns: u128,
    /// bootif folder -> hostname.
    hosts: HashMap<String, String>,
    /// The ISO's own boot.cfg files (they name the CD): never served, by
    /// whatever name the lookup resolves to them.
    hidden: [Entry; 2],
}

impl Mount {
    /// Resolves `rest` (the components after the mount name).
    pub fn target(&self, rest: &[String]) -> Target {
        let lower: Vec<String> = rest.iter().map(|c| c.to_ascii_lowercase()).collect();
        let l: Vec<&str> = lower.iter().map(String::as_str).collect();
        match l[..] {
            ["efi", "boot", dir, "boot.cfg"] => match parse_bootif(dir) {
                Some(b) => match self.hosts.get(&b) {
                    Some(h) => Target::LabFile {
                        rel: boot_cfg_path(&self.name, &b),
                        host: Some(h.clone()),
                    },
                    None => Target::NotFound,
                },
                None => self.iso_file(rest, None),
            },
            ["efi", "boot", "boot.cfg"] => Target::LabFile {
                rel: fallback_path(&self.name),
                host: None,
            },
            [first, ..] if parse_bootif(first).is_some() => {
                let b = parse_bootif(first).unwrap_or_default();
                match self.hosts.get(&b) {
                    Some(h) => self.iso_file(&rest[1..], Some(h.clone())),
                    None => Target::NotFound,
                }
            }
            _ => self.iso_file(rest, None),
        }
    }

    fn iso_file(&self, rest: &[String], host: Option<String>) -> Target {
        let path = rest.join("/");
        if rest.is_empty() {
            return Target::NotFound;
        }
        match self.iso.find(&path) {
            Some(e)
                if !self.hidden.contains(&e)
                    && !self.iso.record(e).is_dir()
                    && self.iso.record(e).flags & 0x80 == 0 =>
            {
                Target::Iso { path, host }
            }
            _ => Target::NotFound,
        }
    }

    /// The file at `path` of the ISO: (offset in the ISO file, length,
    /// validators).
    pub fn extent(&self, path: &str) -> Option<(u64, u64, Validators)> {
        let rec = self.iso.record(self.iso.find(path)?);
        let offset = u64::from(rec.extent) * 2048;
        let len = u64::from(rec.size);
        (offset + len <= self.iso.len).then(|| {
            (
                offset,
                len,
                Validators {
                    len,
                    etag: format!(
                        "\"{:x}-{:x}-{:x}-{:x}\"",
                        self.ino, rec.extent, len, self.mtime_ns
                    ),
                    modified: self.modified,
                },
            )
        })
    }

    /// A handle on the ISO file for one response.
    pub fn file(&self) -> std::io::Result<File> {
        self.iso.file.try_clone()
    }
}

/// The mounts of the record as last read, and why some are missing.
#[derive(Default)]
pub struct Snapshot {
    pub mounts: Vec<Arc<Mount>>,
    pub hosts: Vec<Host>,
    /// Problems with the record or its ISOs, said once per reading.
    pub problems: Vec<String>,
    /// An ISO of the record could not be opened (it is tried again).
    pub missing: bool,
}

impl Snapshot {
    pub fn mount(&self, name: &str) -> Option<&Arc<Mount>> {
        self.mounts.iter().find(|m| m.name == name)
    }
}

/// The record file's (mtime, size), None when there is no file.
type Stamp = Option<(SystemTime, u64)>;

/// The record of a lab folder, read again when its file changes.
pub struct Installers {
    state_dir: PathBuf,
    /// The record file's stamp when last read (None: never read), what
    /// was read, and when.
    current: Mutex<(Option<Stamp>, Arc<Snapshot>, Instant)>,
}

/// How often a record whose ISO could not be opened is read again, so a
/// stock ISO put back serves without a restart.
const RETRY: Duration = Duration::from_secs(2);

impl Installers {
    /// Reads the record now; returns it with what is wrong with it.
    pub fn open(state_dir: &Path) -> (Installers, Vec<String>) {
        let me = Installers {
            state_dir: state_dir.to_path_buf(),
            current: Mutex::new((None, Arc::new(Snapshot::default()), Instant::now())),
        };
        let (snap, _) = me.snapshot();
        let problems = snap.problems.clone();
        (me, problems)
    }

    /// The current mounts, read again if the record changed since (or,
    /// every 2 seconds while one of its ISOs is missing); the flag says
    /// whether its problems are new.
    pub fn snapshot(&self) -> (Arc<Snapshot>, bool) {
        let path = Record::path(&self.state_dir);
        let stamp = std::fs::metadata(&path)
            .ok()
            .map(|m| (m.modified().unwrap_or(UNIX_EPOCH), m.len()));
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let same = cur.0 == Some(stamp);
        if same && !(cur.1.missing && cur.2.elapsed() >= RETRY) {
            return (Arc::clone(&cur.1), false);
        }
        let snap = Arc::new(load(&self.state_dir));
        // A retry that finds the same problems says nothing again.
        let new = !same || snap.problems != cur.1.problems;
        *cur = (Some(stamp), Arc::clone(&snap), Instant::now());
        (snap, new)
    }
}

/// Opens the record's ISOs (keeping those already open and unchanged).
fn load(state_dir: &Path) -> Snapshot {
    let mut snap = Snapshot::default();
    let record = match Record::read(state_dir) {
        Ok(r) => r,
        Err(e) => {
            snap.problems.push(format!("{e:#}"));
            return snap;
        }
    };
    for inst in &record.installers {
        let hosts: HashMap<String, String> = record
            .hosts
            .iter()
            .filter(|h| h.mount == inst.mount)
            .map(|h| (bootif_of(&h.mac), h.hostname.clone()))
            .collect();
        match open_mount(inst, hosts) {
            Ok((m, changed)) => {
                if let Some(why) = changed {
                    snap.problems.push(why);
                }
                snap.mounts.push(m);
            }
            Err(e) => {
                snap.missing = true;
                snap.problems.push(format!(
                    "network install from {}: {e:#}; its hosts cannot boot until it is back \
                     (or run `build --inventory --netboot` again with the ISO)",
                    inst.iso.display()
                ));
            }
        }
    }
    snap.hosts = record.hosts;
    snap
}

fn open_mount(
    inst: &Installer,
    hosts: HashMap<String, String>,
) -> Result<(Arc<Mount>, Option<String>)> {
    let meta = std::fs::metadata(&inst.iso).context("reading it")?;
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    let changed = (meta.len() != inst.size || mtime_ns != inst.mtime_ns).then(|| {
        format!(
            "{} changed since the lab was made for network install (size or time differ): \
             if it is another ISO, its module list may not match the hosts' boot.cfg; run \
             `build --inventory --netboot` again",
            inst.iso.display()
        )
    });
    let iso = IsoImage::open(&inst.iso)?;
    let media = crate::esxi::Media::detect(&iso)?;
    Ok((
        Arc::new(Mount {
            name: inst.mount.clone(),
            iso,
            ino: meta.ino(),
            modified: UNIX_EPOCH + Duration::from_secs(meta.mtime().max(0) as u64),
            mtime_ns: mtime_ns.max(0) as u128,
            hosts,
            hidden: [media.bios_cfg, media.efi_cfg],
        }),
        changed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            mount_name(Path::new(
                "/x/VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso"
            )),
            "VMware-VMvisor-Installer-8.0U3-24022510.x86_64"
        );
        assert_eq!(mount_name(Path::new("my esxi (8).iso")), "my_esxi__8_");
        assert_eq!(mount_name(Path::new(".hidden.iso")), "_hidden");
        assert_eq!(bootif_of("00:50:56:AA:bb:0c"), "01-00-50-56-aa-bb-0c");
        assert_eq!(
            parse_bootif("01-00-50-56-AA-bb-0c").as_deref(),
            Some("01-00-50-56-aa-bb-0c")
        );
        for bad in [
            "01-00-50-56-aa-bb",
            "02-00-50-56-aa-bb-0c",
            "01-00-50-56-aa-bb-0g",
            "01:00:50:56:aa:bb:0c",
        ] {
            assert_eq!(parse_bootif(bad), None, "{bad}");
        }
    }
}
