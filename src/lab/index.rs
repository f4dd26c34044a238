//! The lab's index files, written next to the ISOs once the hosts of a run
//! are built: SHA256SUMS (the format `sha256sum -c` reads) and
//! manifest.json (per host: file, size, checksum, source, template,
//! variables with secrets redacted, overlays, kernel options, Secure
//! Boot, warnings, how the data was written).
//!
//! A run updates the index, it never starts it over: the entries of hosts
//! this run did not build (`--host`, or hosts no longer in the inventory)
//! are kept as they were, as long as their ISO is still in the folder;
//! an entry whose ISO is gone is dropped, and the run says so. So the
//! index always describes every ISO it listed before that still exists.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::{HostPlan, LabPlan};
use crate::build::{BuildSummary, KernelOpts};
use crate::failure::{Failure, Tag};
use crate::iso::DataReport;
use crate::output;
use crate::warning::Warning;

/// manifest.json: what was built for each host, secrets redacted.
#[derive(Debug, Serialize)]
pub struct LabManifest {
    /// The source of this run's builds.
    pub source: String,
    pub hosts: Vec<Entry>,
    /// What this run did to the index besides its own hosts
    /// (`index-changed`: an entry dropped because its file is gone).
    pub warnings: Vec<Warning>,
}

/// A host of the manifest: built by this run, or kept from before (as it
/// was written then).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Entry {
    Built(Box<ManifestHost>),
    Kept(Value),
}

#[derive(Debug, Serialize)]
pub struct ManifestHost {
    pub hostname: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    /// The ISO it was built from.
    pub source: String,
    pub template: String,
    pub ks_path: String,
    pub variables: std::collections::BTreeMap<String, toml::Value>,
    pub overlays: Vec<String>,
    pub kernelopt: HostKernelOpts,
    /// Built for UEFI Secure Boot (`--secure-boot`, or the inventory's
    /// `secure_boot`): deploy gives its VM Secure Boot.
    pub secure_boot: bool,
    /// Always present, empty when there were none (as in every JSON
    /// esxi-iso prints, lists are never left out).
    pub warnings: Vec<Warning>,
    /// How the ISO's bytes got there: cloned from the source, copied
    /// (null for a network-install host: no ISO was written).
    pub data: Option<DataReport>,
    /// A network-install host (`build --netboot`): null for an ISO.
    pub netboot: Option<NetbootEntry>,
}

/// The kernel options of a host: both boot.cfg of its ISO, or (network
/// install, UEFI only) its boot.cfg on the server, with `bios` null.
#[derive(Debug, Clone, Serialize)]
pub struct HostKernelOpts {
    pub bios: Option<String>,
    pub efi: String,
}

impl From<KernelOpts> for HostKernelOpts {
    fn from(k: KernelOpts) -> Self {
        HostKernelOpts {
            bios: Some(k.bios),
            efi: k.efi,
        }
    }
}

/// Where a network-install host boots from (no secret: the kickstart
/// URL's token is shown as `<token>`).
#[derive(Debug, Clone, Serialize)]
pub struct NetbootEntry {
    /// `aa:bb:cc:dd:ee:ff`.
    pub mac: String,
    /// The URL the host's firmware boots (mboot.efi on the ISO).
    pub boot_uri: String,
    /// Its boot.cfg, relative to the lab folder (also `file`).
    pub boot_cfg: String,
    pub kickstart_url: String,
}

/// The index as it was before this run.
#[derive(Debug, Clone, Default)]
pub struct Previous {
    /// manifest.json's host entries, as written.
    hosts: Vec<Value>,
    /// SHA256SUMS lines: (checksum, file).
    sums: Vec<(String, String)>,
}

/// What a run changed in the index besides its own hosts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Hosts of the previous index kept as they were.
    pub kept: Vec<String>,
    /// Hosts dropped because their ISO is gone.
    pub dropped: Vec<String>,
}

/// Reads the index files of `dir`, if there are any. One that cannot be
/// read is an error now, before anything is built.
pub fn read_previous(dir: &Path) -> Result<Option<Previous>> {
    let manifest = dir.join(super::MANIFEST_FILE);
    let sums = dir.join(super::SUMS_FILE);
    if !manifest.exists() && !sums.exists() {
        return Ok(None);
    }
    let fix = "remove it (the next run writes it anew from the hosts it builds) or build \
               into another folder";
    let mut prev = Previous::default();
    if manifest.exists() {
        let text = crate::input::read_text_capped(&manifest, 64 << 20, "manifest")?;
        let doc: Value = serde_json::from_str(&text)
            .with_context(|| format!("reading {}: it is not JSON; {fix}", manifest.display()))
            .tag(Failure::Input)?;
        let hosts = doc
            .get("hosts")
            .and_then(Value::as_array)
            .filter(|h| h.iter().all(|e| entry_file(e).is_some()))
            .with_context(|| {
                format!(
                    "reading {}: it has no list of hosts with hostname and file; {fix}",
                    manifest.display()
                )
            })
            .tag(Failure::Input)?;
        prev.hosts = hosts.clone();
    }
    if sums.exists() {
        let text = crate::input::read_text_capped(&sums, 16 << 20, "checksum list")?;
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let (sum, file) = line
                .split_once("  ")
                .filter(|(s, f)| s.len() == 64 && !f.is_empty())
                .with_context(|| {
                    format!(
                        "{}:{}: not a `SHA256  FILE` line; {fix}",
                        sums.display(),
                        i + 1
                    )
                })
                .tag(Failure::Input)?;
            prev.sums.push((sum.to_string(), file.to_string()));
        }
    }
    Ok(Some(prev))
}

/// (hostname, file) of a manifest entry.
fn entry_file(e: &Value) -> Option<(&str, &str)> {
    Some((e.get("hostname")?.as_str()?, e.get("file")?.as_str()?))
}

/// The manifest entry of one host this run built.
pub fn built_entry(source: &Path, h: &HostPlan, s: &BuildSummary) -> ManifestHost {
    ManifestHost {
        hostname: h.hostname.clone(),
        file: file_name(&s.output),
        size: s.size,
        sha256: s.sha256.clone(),
        source: source.display().to_string(),
        template: h.template.clone(),
        ks_path: s.ks_path.clone(),
        variables: h.vars.redacted(),
        overlays: h.overlays.clone(),
        kernelopt: s.kernelopt.clone().into(),
        secure_boot: h.build.secure_boot,
        warnings: s.warnings.clone(),
        data: Some(s.data),
        netboot: None,
    }
}

/// The manifest after this run: the previous entries in their order, each
/// replaced by this run's build of the same host or kept while its ISO
/// exists in `dir`, then the hosts new to the index.
pub fn merge(
    source: &Path,
    dir: &Path,
    previous: Option<&Previous>,
    built: Vec<ManifestHost>,
) -> (LabManifest, Changes) {
    let mut changes = Changes::default();
    let mut warnings = Vec::new();
    let mut built: Vec<Option<ManifestHost>> = built.into_iter().map(Some).collect();
    let mut hosts = Vec::new();
    for e in previous.map_or(&[][..], |p| &p.hosts[..]) {
        let Some((name, file)) = entry_file(e) else {
            continue;
        };
        let mine = built.iter_mut().find(|b| {
            b.as_ref()
                .is_some_and(|b| b.hostname.eq_ignore_ascii_case(name) || b.file == file)
        });
        if let Some(b) = mine.and_then(Option::take) {
            hosts.push(Entry::Built(Box::new(b)));
        } else if dir.join(file).is_file() {
            changes.kept.push(name.to_string());
            hosts.push(Entry::Kept(e.clone()));
        } else {
            changes.dropped.push(name.to_string());
            warnings.push(dropped(name, file, dir));
        }
    }
    hosts.extend(
        built
            .into_iter()
            .flatten()
            .map(|b| Entry::Built(Box::new(b))),
    );
    let manifest = LabManifest {
        source: source.display().to_string(),
        hosts,
        warnings,
    };
    (manifest, changes)
}

/// The warning for an entry dropped because its `file` (an ISO, or a
/// network-install host's boot.cfg) is gone from `dir`.
fn dropped(name: &str, file: &str, dir: &Path) -> Warning {
    let what = if file.to_ascii_lowercase().ends_with(".iso") {
        "ISO"
    } else {
        "boot.cfg"
    };
    Warning::advice(
        "index-changed",
        format!(
            "{name} is no longer listed in {} and {}: its {what} is gone from {}",
            super::SUMS_FILE,
            super::MANIFEST_FILE,
            dir.display()
        ),
    )
}

/// SHA256SUMS for `manifest`: one line per ISO it lists, with the
/// previous line for a kept host (whose manifest entry may predate the
/// sha256 field), then the previous lines of other ISOs still in `dir`.
fn sums(manifest: &LabManifest, previous: Option<&Previous>, dir: &Path) -> String {
    let mut out = String::new();
    let mut listed = Vec::new();
    for e in &manifest.hosts {
        let line = match e {
            Entry::Built(b) => Some((b.sha256.clone(), b.file.clone())),
            Entry::Kept(v) => {
                let file = entry_file(v)
                    .map(|(_, f)| f.to_string())
                    .unwrap_or_default();
                v.get("sha256")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| {
                        previous?
                            .sums
                            .iter()
                            .find(|(_, f)| *f == file)
                            .map(|(s, _)| s.clone())
                    })
                    .map(|s| (s, file))
            }
        };
        if let Some((sum, file)) = line {
            out.push_str(&format!("{sum}  {file}\n"));
            listed.push(file);
        }
    }
    for (sum, file) in previous.map_or(&[][..], |p| &p.sums[..]) {
        if !listed.contains(file) && dir.join(file).is_file() {
            out.push_str(&format!("{sum}  {file}\n"));
        }
    }
    out
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Writes SHA256SUMS and manifest.json (each atomically; they replace
/// the previous ones, whose entries `merge` carried over).
pub fn write_index(lab: &LabPlan, m: &LabManifest) -> Result<()> {
    let sums = sums(m, lab.index.as_ref(), &lab.out_dir);
    output::write_atomic(&lab.sums_path(), sums.as_bytes(), true)?;
    let mut json = serde_json::to_vec_pretty(m).context("serializing the manifest")?;
    json.push(b'\n');
    output::write_atomic(&lab.manifest_path(), &json, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prev(hosts: &[(&str, &str)]) -> Previous {
        Previous {
            hosts: hosts
                .iter()
                .map(|(h, f)| serde_json::json!({"hostname": h, "file": f, "size": 1}))
                .collect(),
            sums: hosts
                .iter()
                .map(|(_, f)| ("a".repeat(64), f.to_string()))
                .collect(),
        }
    }

    fn built(name: &str) -> ManifestHost {
        ManifestHost {
            hostname: name.into(),
            file: format!("{name}.iso"),
            size: 2,
            sha256: "b".repeat(64),
            source: "src.iso".into(),
            template: "minimal".into(),
            ks_path: "/KS.CFG".into(),
            variables: Default::default(),
            overlays: Vec::new(),
            kernelopt: HostKernelOpts {
                bios: Some(String::new()),
                efi: String::new(),
            },
            secure_boot: false,
            warnings: Vec::new(),
            data: Some(DataReport {
                method: "copied",
                cloned_bytes: 0,
                copied_bytes: 0,
                written_bytes: 2,
            }),
            netboot: None,
        }
    }

    #[test]
    fn merge_keeps_what_exists_replaces_what_was_built_drops_what_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("esx01.iso"), b"1").unwrap();
        std::fs::write(dir.path().join("esx03.iso"), b"3").unwrap();
        let p = prev(&[
            ("esx01", "esx01.iso"),
            ("esx02", "esx02.iso"),
            ("esx03", "esx03.iso"),
        ]);
        let (m, c) = merge(
            Path::new("src.iso"),
            dir.path(),
            Some(&p),
            vec![built("esx03"), built("esx04")],
        );
        let names: Vec<String> = m
            .hosts
            .iter()
            .map(|e| match e {
                Entry::Built(b) => format!("built {}", b.hostname),
                Entry::Kept(v) => format!("kept {}", v["hostname"].as_str().unwrap()),
            })
            .collect();
        assert_eq!(names, ["kept esx01", "built esx03", "built esx04"]);
        assert_eq!(c.kept, ["esx01"]);
        assert_eq!(c.dropped, ["esx02"]);
        let w: Vec<(&str, &str)> = m.warnings.iter().map(|w| (w.code, &*w.message)).collect();
        assert_eq!(
            w,
            [(
                "index-changed",
                &*format!(
                    "esx02 is no longer listed in SHA256SUMS and manifest.json: its ISO is gone \
                     from {}",
                    dir.path().display()
                )
            )]
        );
        let s = sums(&m, Some(&p), dir.path());
        assert_eq!(
            s,
            format!(
                "{}  esx01.iso\n{}  esx03.iso\n{}  esx04.iso\n",
                "a".repeat(64),
                "b".repeat(64),
                "b".repeat(64)
            )
        );
    }

    #[test]
    fn unreadable_index_files_are_refused_before_the_build() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_previous(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("manifest.json"), "{not json").unwrap();
        let e = read_previous(dir.path()).unwrap_err();
        assert!(
            format!("{e:#}").contains("it is not JSON; remove it"),
            "{e:#}"
        );
        std::fs::write(dir.path().join("manifest.json"), r#"{"hosts":[{"x":1}]}"#).unwrap();
        assert!(read_previous(dir.path()).is_err());
        std::fs::write(dir.path().join("manifest.json"), r#"{"hosts":[]}"#).unwrap();
        std::fs::write(dir.path().join("SHA256SUMS"), "nonsense\n").unwrap();
        let e = read_previous(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("SHA256SUMS:1: not a"), "{e:#}");
    }
}
