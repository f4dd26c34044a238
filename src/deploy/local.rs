//! What deploy knows before it connects: the lab's hosts and their VMs
//! (the inventory's `vm` tables, [`crate::lab::vmplan::read_lab`]), what
//! each host installs from, the ESXi release that is and the guest OS id
//! that release runs as in a VM.
//!
//! A host installs from its own ISO in the lab folder (`build --inventory
//! --out-dir` wrote it and listed it in manifest.json with its SHA-256),
//! or, when the lab folder holds it for network install (`build --netboot`:
//! its manifest.json entry has a `netboot` object, and
//! `.esxi-iso/netboot.json` says which stock ISO its mount serves), from
//! that stock ISO over UEFI HTTP boot, with no ISO of its own: its release
//! is read from the stock ISO, which must be there and unchanged since the
//! build. Each host is taken as the folder holds it, so a lab can mix
//! both; a host built for Secure Boot (its entry's `secure_boot`) gets a
//! VM with Secure Boot, whatever the inventory defaults to.
//!
//! Guest ids: `vmkernel65Guest` for 6.5 and 6.7 (vSphere has no 6.7 id),
//! `vmkernel7Guest`, `vmkernel8Guest`, `vmkernel9Guest` (the
//! `VirtualMachineGuestOsIdentifier` enumeration of the vim25 WSDL;
//! 9 from vSphere 9's). A release read only from the shape of boot.cfg
//! ("7.0U2c or later") says too little: such a host needs `vm.guest_id`.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::esxi::{self, version};
use crate::failure::{self, Failure, Tag};
use crate::lab::mac::Mac;
use crate::lab::vmplan::{read_lab, Built, LabHost, LabVms, Netboot};
use crate::lab::{inventory, Problem, MANIFEST_FILE};
use crate::report::state_dir;
use crate::serve::installer::{Record, LOADER, RECORD_FILE};
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

/// A host the lab folder holds for network install: no ISO of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetInstall {
    /// The stock ISO its mount serves (absolute, from netboot.json).
    pub stock_iso: PathBuf,
    pub mount: String,
    /// Its boot.cfg, relative to the lab folder.
    pub boot_cfg: String,
}

/// What a host installs from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Media {
    /// Its own ISO: uploaded to a CD drive, or booted over HTTP
    /// (`vm.boot = "http"`).
    Iso(LabIso),
    /// Network install (`build --netboot`).
    Net(NetInstall),
}

/// A host to deploy: its VM, what it installs from and what runs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub lab: LabHost,
    pub media: Media,
    /// `ESXi 8.0.3`, as read from the ISO.
    pub release: String,
    pub guest_id: String,
}

impl Host {
    pub fn name(&self) -> &str {
        &self.lab.hostname
    }

    /// Its own ISO; None for a network install.
    pub fn iso(&self) -> Option<&LabIso> {
        match &self.media {
            Media::Iso(i) => Some(i),
            Media::Net(_) => None,
        }
    }

    /// What it installs from: `esx01.iso`, or `VMware-...iso (network
    /// install)`.
    pub fn installer(&self) -> String {
        match &self.media {
            Media::Iso(i) => i.file.clone(),
            Media::Net(n) => format!(
                "{} (network install)",
                n.stock_iso
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
        }
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

#[derive(Debug, Clone, Deserialize)]
struct ManifestHost {
    hostname: String,
    file: String,
    #[serde(default)]
    sha256: Option<String>,
    /// The ISO it was built from.
    #[serde(default)]
    source: Option<String>,
    /// Built for Secure Boot; absent from an older build's entry.
    #[serde(default)]
    secure_boot: Option<bool>,
    /// A network-install host (`build --netboot`).
    #[serde(default)]
    netboot: Option<ManifestNetboot>,
}

#[derive(Debug, Clone, Deserialize)]
struct ManifestNetboot {
    mac: String,
    boot_uri: String,
    boot_cfg: String,
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

/// The lab's name, as deploy and build derive it (`[lab] name`, or the
/// inventory's file name without extension), from an inventory that is
/// read and whose `[lab]` table is checked: all a teardown needs, since
/// the lab's VMs are found by their marker. Nothing of the VM settings or
/// the lab folder is read, so a teardown works whatever they say now.
pub fn lab_name(inventory_path: &Path) -> Result<String> {
    let inv = inventory::read(inventory_path)?;
    let mut problems = Vec::new();
    let name = crate::lab::resolve::lab_name(&inv, &stem(inventory_path), &mut problems);
    if !problems.is_empty() {
        return Err(problems_error(inventory_path, &problems));
    }
    Ok(name)
}

/// The inventory's file name without extension: the lab's name when
/// `[lab]` gives none.
fn stem(inventory_path: &Path) -> String {
    inventory_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lab".into())
}

/// The network-install record, when manifest.json lists a host for
/// network install (an empty one otherwise).
fn read_record(lab_dir: &Path, manifest: Option<&ManifestHosts>) -> Result<Record> {
    let any = manifest.is_some_and(|m| m.values().any(|h| h.netboot.is_some()));
    if !any {
        return Ok(Record::default());
    }
    Record::read(&state_dir(lab_dir)).tag(Failure::Input)
}

/// The inventory's hosts, as `built` says they were built, and
/// `problems` found so far.
fn lab_of(
    inventory_path: &Path,
    only: &[String],
    built: &BTreeMap<String, Built>,
    mut problems: Vec<Problem>,
) -> Result<LabVms> {
    let inv = inventory::read(inventory_path)?;
    match read_lab(&inv, &stem(inventory_path), only, built) {
        Ok(lab) if problems.is_empty() => Ok(lab),
        Ok(_) => Err(problems_error(inventory_path, &problems)),
        Err(p) => {
            problems.extend(p);
            Err(problems_error(inventory_path, &problems))
        }
    }
}

/// What manifest.json says of each host as it was built (Secure Boot,
/// network install, how to build it again), by lower-case name, and what
/// is wrong with the entries.
fn built_hosts(
    manifest: Option<&ManifestHosts>,
    record: &Record,
    inventory_path: &Path,
    lab_dir: &Path,
) -> (BTreeMap<String, Built>, Vec<Problem>) {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, h) in manifest.into_iter().flatten() {
        let mut built = Built {
            secure_boot: h.secure_boot,
            netboot: None,
            rebuild: format!(
                "esxi-iso build {} --inventory {} --out-dir {} --host {} --force",
                h.source.as_deref().unwrap_or("SOURCE"),
                inventory_path.display(),
                lab_dir.display(),
                h.hostname
            ),
        };
        let Some(nb) = &h.netboot else {
            out.insert(name.clone(), built);
            continue;
        };
        let server = server_of(&nb.boot_uri);
        let source = record
            .hosts
            .iter()
            .find(|r| r.hostname.eq_ignore_ascii_case(&h.hostname))
            .and_then(|r| record.installer(&r.mount))
            .map_or_else(|| "SOURCE".to_string(), |i| i.iso.display().to_string());
        built.rebuild = format!(
            "esxi-iso build {source} --inventory {} --out-dir {} --netboot {server} --host {} \
             --force",
            inventory_path.display(),
            lab_dir.display(),
            h.hostname
        );
        match Mac::parse(&nb.mac) {
            Ok(mac) => {
                built.netboot = Some(Netboot {
                    mac,
                    boot_uri: nb.boot_uri.clone(),
                    server,
                });
            }
            Err(e) => problems.push(Problem {
                failure: Failure::Input,
                text: format!(
                    "{}: manifest.json's netboot.mac {:?} is not a MAC ({e}): rebuild the \
                     host ({})",
                    h.hostname, nb.mac, built.rebuild
                ),
            }),
        }
        out.insert(name.clone(), built);
    }
    (out, problems)
}

/// The `--netboot URL` a boot URI (`URL/MOUNT/efi/boot/bootx64.efi`) was
/// made from.
fn server_of(boot_uri: &str) -> String {
    boot_uri
        .strip_suffix(&format!("/{LOADER}"))
        .and_then(|s| s.rsplit_once('/'))
        .map_or_else(|| boot_uri.to_string(), |(base, _)| base.to_string())
}

/// Reads the inventory and what each host installs from in the lab
/// folder.
pub fn read(inventory_path: &Path, lab_dir: &Path, only: &[String]) -> Result<Local> {
    let manifest = read_manifest(lab_dir)?;
    let record = read_record(lab_dir, manifest.as_ref())?;
    let (built, problems) = built_hosts(manifest.as_ref(), &record, inventory_path, lab_dir);
    let lab = lab_of(inventory_path, only, &built, problems)?;
    let mut hosts = Vec::new();
    let mut warnings = Vec::new();
    lab_folder(inventory_path, lab_dir)?;
    let mut stock: HashMap<PathBuf, Result<Option<version::Version>, String>> = HashMap::new();
    let mut problems = Vec::new();
    for h in lab.hosts {
        let entry = manifest
            .as_ref()
            .and_then(|m| m.get(&h.hostname.to_ascii_lowercase()));
        let (media, release) = match entry.and_then(|e| e.netboot.as_ref()) {
            Some(nb) => {
                let rebuild = built
                    .get(&h.hostname.to_ascii_lowercase())
                    .map_or("", |b| b.rebuild.as_str());
                let net = match net_install(&h.hostname, nb, &record, lab_dir, rebuild) {
                    Ok(n) => n,
                    Err(p) => {
                        problems.push(p);
                        continue;
                    }
                };
                let release = stock
                    .entry(net.stock_iso.clone())
                    .or_insert_with(|| stock_release(&net.stock_iso, &record))
                    .clone();
                match release {
                    Ok(r) => (Media::Net(net), r),
                    Err(text) => {
                        problems.push(Problem {
                            failure: Failure::Input,
                            text: format!("{}: {text}", h.hostname),
                        });
                        continue;
                    }
                }
            }
            None => {
                let file = entry
                    .filter(|e| !e.file.contains('/') && !e.file.starts_with('.'))
                    .map_or_else(|| format!("{}.iso", h.hostname), |e| e.file.clone());
                let path = lab_dir.join(&file);
                let size = match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => m.len(),
                    _ => {
                        problems.push(Problem {
                            failure: Failure::Input,
                            text: format!(
                                "{}: no ISO {} in the lab folder: build it first (esxi-iso \
                                 build SOURCE --inventory {} --out-dir {})",
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
                let iso = LabIso {
                    path,
                    file,
                    size,
                    sha256: entry.and_then(|e| e.sha256.clone()),
                };
                (Media::Iso(iso), release)
            }
        };
        let what = match &media {
            Media::Iso(i) => i.path.display().to_string(),
            Media::Net(n) => format!("{} (network install)", n.stock_iso.display()),
        };
        let Some((release, guest_id)) =
            runs(&h, release.as_ref(), &what, &mut problems, &mut warnings)
        else {
            continue;
        };
        hosts.push(Host {
            media,
            release,
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

/// `--lab-dir` names a folder: a file is said as such (the folder is
/// wanted), a folder that is not there is to be built first.
fn lab_folder(inventory_path: &Path, lab_dir: &Path) -> Result<()> {
    let build = format!(
        "esxi-iso build SOURCE --inventory {} --out-dir {}",
        inventory_path.display(),
        lab_dir.display()
    );
    match std::fs::metadata(lab_dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(not_a_folder(lab_dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(failure::error(
            Failure::Input,
            format!(
                "lab folder {} is not there: build the lab first ({build})",
                lab_dir.display()
            ),
        )),
        Err(e) => Err(anyhow::Error::new(e))
            .with_context(|| format!("reading lab folder {}", lab_dir.display()))
            .tag(Failure::Input),
    }
}

/// `--lab-dir` names a file: the folder `build --out-dir` wrote is wanted.
pub fn not_a_folder(lab_dir: &Path) -> anyhow::Error {
    failure::error(
        Failure::Input,
        format!(
            "lab folder {} is a file, not a folder: give --lab-dir the folder the lab was \
             built into (the --out-dir of esxi-iso build --inventory)",
            lab_dir.display()
        ),
    )
}

/// A network-install host's files, checked against the record
/// (`.esxi-iso/netboot.json`) and the lab folder.
fn net_install(
    hostname: &str,
    nb: &ManifestNetboot,
    record: &Record,
    lab_dir: &Path,
    rebuild: &str,
) -> Result<NetInstall, Problem> {
    let record_path = format!("{}/{RECORD_FILE}", crate::report::STATE_DIR);
    let rebuild = format!("rebuild it ({rebuild})");
    let problem = |text: String| Problem {
        failure: Failure::Input,
        text: format!("{hostname}: {text}"),
    };
    let Some(rec) = record
        .hosts
        .iter()
        .find(|r| r.hostname.eq_ignore_ascii_case(hostname))
    else {
        return Err(problem(format!(
            "manifest.json lists it for network install, but {record_path} does not: {rebuild}"
        )));
    };
    if !rec.mac.eq_ignore_ascii_case(&nb.mac) {
        return Err(problem(format!(
            "manifest.json says its boot NIC is {}, {record_path} says {}: {rebuild}",
            nb.mac, rec.mac
        )));
    }
    if !lab_dir.join(&nb.boot_cfg).is_file() {
        return Err(problem(format!(
            "its boot.cfg {} is not in the lab folder, so esxi-iso serve could not hand it \
             out: {rebuild}",
            lab_dir.join(&nb.boot_cfg).display()
        )));
    }
    let Some(inst) = record.installer(&rec.mount) else {
        return Err(problem(format!(
            "{record_path} names no stock ISO for its mount {}: {rebuild}",
            rec.mount
        )));
    };
    Ok(NetInstall {
        stock_iso: inst.iso.clone(),
        mount: rec.mount.clone(),
        boot_cfg: nb.boot_cfg.clone(),
    })
}

/// The release on a stock ISO the record names: it must be there, as the
/// build saw it.
fn stock_release(iso: &Path, record: &Record) -> Result<Option<version::Version>, String> {
    let Some(inst) = record.installers.iter().find(|i| i.iso == iso) else {
        return Err(format!(
            "{} is not in the network-install record",
            iso.display()
        ));
    };
    let meta = std::fs::metadata(iso).map_err(|e| {
        format!(
            "the stock ISO {} that esxi-iso serve hands its installer out of is not there \
             ({e}): put it back, or rebuild the lab with --netboot from the ISO you have",
            iso.display()
        )
    })?;
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    if meta.len() != inst.size || mtime_ns != inst.mtime_ns {
        return Err(format!(
            "the stock ISO {} changed since the lab was built for network install (its size or \
             modification time is not what {}/{RECORD_FILE} recorded), so the hosts' boot.cfg \
             may name files it does not have: rebuild the lab with --netboot from it",
            iso.display(),
            crate::report::STATE_DIR
        ));
    }
    let (img, media) = esxi::open_installer(iso).map_err(|e| format!("{e:#}"))?;
    Ok(version::detect(&media.bios, Some(&img.volume_id())))
}

/// The release a host installs (`what` says from where) and the guest OS
/// id its VM needs; warnings for sizes the release would rather have.
fn runs(
    h: &LabHost,
    release: Option<&version::Version>,
    what: &str,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Warning>,
) -> Option<(String, String)> {
    let release_text = release
        .map(|v| format!("{} {}", v.product, v.release))
        .unwrap_or_else(|| "an unknown release".into());
    let guest_id = match (
        &h.vm.guest_id,
        release.and_then(|v| guest_id_of(&v.release)),
    ) {
        (Some(g), _) => g.clone(),
        (None, Some(g)) => g.to_string(),
        (None, None) => {
            problems.push(Problem::usage(format!(
                "{}: {what} holds {release_text}, which does not say which guest OS id its VM \
                 needs: set vm.guest_id (vmkernel7Guest, vmkernel8Guest or vmkernel9Guest)",
                h.hostname
            )));
            return None;
        }
    };
    let major = release.and_then(|v| v.release.split('.').next()?.parse::<u32>().ok());
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
    Some((release_text, guest_id))
}

/// manifest.json's hosts by lower-case name.
type ManifestHosts = HashMap<String, ManifestHost>;

/// The lab folder's manifest.json; None without a folder or manifest.
fn read_manifest(dir: &Path) -> Result<Option<ManifestHosts>> {
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
            .map(|h| (h.hostname.to_ascii_lowercase(), h))
            .collect(),
    ))
}

/// Every problem in one error, tagged by their kind.
pub fn problems_error(what: &Path, problems: &[Problem]) -> anyhow::Error {
    crate::lab::problems_error(&what.display().to_string(), problems, "nothing was changed")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: &str = "00:50:56:01:00:01";
    const URI: &str = "http://10.0.0.5:8080/ESXi-8/efi/boot/bootx64.efi";

    /// A lab folder as `build --netboot` leaves it for esx01 (boot.cfg for
    /// MAC, record, manifest), an ISO host esx02 without its ISO, and the
    /// inventory `hosts` (after a `[defaults.vm]`) beside it. The stock
    /// ISO the record names is not there.
    /// Also returns how a build of the folder starts (`esxi-iso build
    /// STOCK --inventory INV --out-dir LAB`).
    fn lab(hosts: &str) -> (tempfile::TempDir, PathBuf, PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let lab = dir.path().join("lab");
        let bootcfg = "ESXi-8/efi/boot/01-00-50-56-01-00-01/boot.cfg";
        std::fs::create_dir_all(lab.join(bootcfg).parent().unwrap()).unwrap();
        std::fs::create_dir_all(lab.join(".esxi-iso")).unwrap();
        std::fs::write(lab.join(bootcfg), "kernel=b.b00\n").unwrap();
        let manifest = serde_json::json!({"hosts": [
            {"hostname": "esx01", "file": bootcfg, "sha256": "00",
             "netboot": {"mac": MAC, "boot_uri": URI, "boot_cfg": bootcfg,
                         "kickstart_url": "http://10.0.0.5:8080/.esxi-iso/ks/<token>/esx01.cfg"}},
            {"hostname": "esx02", "file": "esx02.iso", "sha256": "00", "netboot": null}
        ]});
        std::fs::write(lab.join(MANIFEST_FILE), manifest.to_string()).unwrap();
        let stock = dir.path().join("ESXi-8.iso");
        let record = serde_json::json!({
            "installers": [{"mount": "ESXi-8", "iso": stock, "size": 1, "mtime_ns": 1,
                            "volume_id": "ESXI-8"}],
            "hosts": [{"hostname": "esx01", "mac": MAC, "mount": "ESXi-8",
                       "url": "http://10.0.0.5:8080"}]
        });
        std::fs::write(lab.join(".esxi-iso/netboot.json"), record.to_string()).unwrap();
        let inv = dir.path().join("lab.toml");
        std::fs::write(
            &inv,
            format!(
                "[lab]\nname = 'lab1'\n[defaults.vm]\ndatastore = 'ds1'\nnetworks = 'Trunk'\n{hosts}"
            ),
        )
        .unwrap();
        let build = format!(
            "esxi-iso build {} --inventory {} --out-dir {}",
            stock.display(),
            inv.display(),
            lab.display()
        );
        (dir, inv, lab, build)
    }

    /// The problem lines of a failed read.
    fn problems(inv: &Path, lab: &Path) -> Vec<String> {
        let err = read(inv, lab, &[]).unwrap_err();
        let text = format!("{err:#}");
        let (head, lines) = text.split_once(":\n  ").unwrap();
        assert!(head.ends_with("; nothing was changed"), "{text}");
        lines.split("\n  ").map(str::to_string).collect()
    }

    #[test]
    fn a_network_install_host_must_match_what_was_built() {
        // The inventory's MAC changed after the build.
        let (_d, inv, lab_dir, build) =
            lab("[[host]]\nhostname = 'esx01'\nmac = '00:50:56:01:00:09'\n");
        let rebuild = format!("{build} --netboot http://10.0.0.5:8080 --host esx01 --force");
        assert_eq!(
            problems(&inv, &lab_dir),
            [format!(
                "esx01: NIC 0's MAC is 00:50:56:01:00:09 (its mac), but its boot.cfg was \
                 written for 00:50:56:01:00:01 (manifest.json, build --netboot): its firmware \
                 would ask for a boot.cfg the server does not have; rebuild it so the boot.cfg \
                 follows the inventory ({rebuild})"
            )]
        );
        // No MAC in the inventory: NIC 0 gets the derived one.
        let (_d, inv, lab_dir, build) = lab("[[host]]\nhostname = 'esx01'\n");
        let rebuild = format!("{build} --netboot http://10.0.0.5:8080 --host esx01 --force");
        let derived = Mac::derived("lab1", "esx01", 0);
        assert_eq!(
            problems(&inv, &lab_dir),
            [format!(
                "esx01: NIC 0's MAC is {derived} (derived from the lab's and host's names), but \
                 its boot.cfg was written for 00:50:56:01:00:01 (manifest.json, build \
                 --netboot): its firmware would ask for a boot.cfg the server does not have; \
                 rebuild it so the boot.cfg follows the inventory ({rebuild})"
            )]
        );
        // Asking for a CD, another boot URL, an ISO folder, BIOS.
        let (_d, inv, lab_dir, build) = lab(&format!(
            "[[host]]\nhostname = 'esx01'\n[host.vm]\nmacs = ['{MAC}']\nboot = 'cdrom'\n\
             boot_url = 'http://10.0.0.6'\niso_folder = 'isos'\nfirmware = 'bios'\n"
        ));
        let rebuild = format!("{build} --netboot http://10.0.0.5:8080 --host esx01 --force");
        assert_eq!(
            problems(&inv, &lab_dir),
            [
                format!(
                    "esx01: vm.boot = \"cdrom\": esx01 was built for network install (build \
                     --netboot), so there is no ISO to put in its CD drive: drop vm.boot (it \
                     boots over UEFI HTTP from esxi-iso serve), or build its ISO ({build} \
                     --host esx01)"
                ),
                format!(
                    "esx01: vm.boot_url http://10.0.0.6: esx01 was built for network install \
                     from http://10.0.0.5:8080 (build --netboot), and its firmware boots {URI}: \
                     drop vm.boot_url, or rebuild it for http://10.0.0.6 ({})",
                    rebuild.replace("http://10.0.0.5:8080", "http://10.0.0.6")
                ),
                "esx01: vm.iso_folder: only for a host that boots its own ISO; esx01 was built \
                 for network install (build --netboot), so nothing is uploaded"
                    .to_string(),
                "esx01: vm.firmware: network install boots mboot.efi over UEFI HTTP boot, \
                 which needs vm.firmware = \"efi\""
                    .to_string(),
            ]
        );
    }

    #[test]
    fn a_network_install_host_needs_its_stock_iso_and_an_iso_host_its_iso() {
        // vm.boot = "http" with the server it was built for is what it
        // does: no problem; the stock ISO is gone, and esx02 has no ISO.
        let (d, inv, lab_dir, _) = lab(&format!(
            "[[host]]\nhostname = 'esx01'\nmac = '{MAC}'\nvm.boot = 'http'\n\
             vm.boot_url = 'http://10.0.0.5:8080/'\n[[host]]\nhostname = 'esx02'\n"
        ));
        let stock = d.path().join("ESXi-8.iso");
        let p = problems(&inv, &lab_dir);
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with(&format!(
                "esx01: the stock ISO {} that esxi-iso serve hands its installer out of is not \
                 there (",
                stock.display()
            )) && p[0].ends_with(
                "): put it back, or rebuild the lab with --netboot from the ISO you have"
            ),
            "{p:#?}"
        );
        assert!(
            p[1].starts_with(&format!(
                "esx02: no ISO {} in the lab folder",
                lab_dir.join("esx02.iso").display()
            )),
            "{p:#?}"
        );
        // A stock ISO that is not the one built from.
        std::fs::write(&stock, "another").unwrap();
        let p = problems(&inv, &lab_dir);
        assert!(
            p[0].starts_with(&format!(
                "esx01: the stock ISO {} changed since the lab was built for network install",
                stock.display()
            )),
            "{p:#?}"
        );
        // The record lost the host.
        std::fs::write(
            lab_dir.join(".esxi-iso/netboot.json"),
            r#"{"installers": [], "hosts": []}"#,
        )
        .unwrap();
        let p = problems(&inv, &lab_dir);
        assert_eq!(
            p[0],
            format!(
                "esx01: manifest.json lists it for network install, but .esxi-iso/netboot.json \
                 does not: rebuild it (esxi-iso build SOURCE --inventory {} --out-dir {} \
                 --netboot http://10.0.0.5:8080 --host esx01 --force)",
                inv.display(),
                lab_dir.display()
            )
        );
        // A teardown needs only the lab's name: none of these problems
        // stops it.
        assert_eq!(lab_name(&inv).unwrap(), "lab1");
    }

    #[test]
    fn a_teardown_reads_only_the_labs_name() {
        let dir = tempfile::tempdir().unwrap();
        // No [lab] name: the file's stem; no VM settings needed.
        let inv = dir.path().join("rack7.toml");
        std::fs::write(&inv, "[[host]]\nhostname = 'esx01'\n").unwrap();
        assert_eq!(lab_name(&inv).unwrap(), "rack7");
        let csv = dir.path().join("rack8.csv");
        std::fs::write(&csv, "hostname\nesx01\n").unwrap();
        assert_eq!(lab_name(&csv).unwrap(), "rack8");
        // The file is still read as an inventory, and its [lab] checked.
        std::fs::write(&inv, "[lab]\nnmae = 'lab1'\n").unwrap();
        let err = format!("{:#}", lab_name(&inv).unwrap_err());
        assert!(
            err.contains("[lab] key nmae: not a lab setting (did you mean name?)"),
            "{err}"
        );
        std::fs::write(&inv, "[lab\n").unwrap();
        let err = format!("{:#}", lab_name(&inv).unwrap_err());
        assert!(err.starts_with("parsing inventory"), "{err}");
    }

    #[test]
    fn a_lab_folder_that_is_a_file_is_said_so() {
        let (d, inv, _, _) = lab("[[host]]\nhostname = 'esx02'\n");
        let file = d.path().join("lab.iso");
        std::fs::write(&file, "not a folder").unwrap();
        let err = read(&inv, &file, &[]).unwrap_err();
        assert_eq!(failure::of(&err), Some(Failure::Input));
        assert_eq!(
            format!("{err:#}"),
            format!(
                "lab folder {} is a file, not a folder: give --lab-dir the folder the lab was \
                 built into (the --out-dir of esxi-iso build --inventory)",
                file.display()
            )
        );
        let gone = d.path().join("nolab");
        let err = format!("{:#}", read(&inv, &gone, &[]).unwrap_err());
        assert!(
            err.starts_with(&format!(
                "lab folder {} is not there: build the lab first (esxi-iso build SOURCE",
                gone.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn boot_uris_give_the_server() {
        assert_eq!(server_of(URI), "http://10.0.0.5:8080");
        assert_eq!(
            server_of("http://h/a/b/MOUNT/efi/boot/bootx64.efi"),
            "http://h/a/b"
        );
        assert_eq!(server_of("http://odd"), "http://odd");
    }

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
