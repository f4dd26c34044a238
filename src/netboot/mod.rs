//! A lab made for network install (`build SOURCE --inventory FILE
//! --out-dir DIR --netboot URL`): no ISO per host, only two small files
//! per host, and the stock ISO served as it is by `esxi-iso serve`.
//!
//! From a resolved lab ([`crate::lab::plan`]: every kickstart rendered and
//! linted) [`plan`] works out, before anything is written:
//!
//! - each host's boot NIC MAC (its `mac`, or the one `deploy` derives,
//!   [`crate::lab::mac::Mac::derived`]), refusing MACs used twice, in this
//!   run or by a host the folder already serves;
//! - each host's boot.cfg (`DIR/MOUNT/efi/boot/01-MAC/boot.cfg`, see
//!   [`bootcfg`]), read back as VMware's loader reads it, with every file
//!   it loads found on the ISO;
//! - its kickstart (`DIR/.esxi-iso/kickstarts/HOST.cfg`), which the server
//!   hands out only at `/.esxi-iso/ks/TOKEN/HOST.cfg` (the token is the
//!   host's report token, [`crate::report`]);
//! - the record `DIR/.esxi-iso/netboot.json` that tells `serve` which ISO
//!   each mount is ([`crate::serve::installer`], where the URL layout is).
//!
//! `write` writes them (atomically, existing files only with `--force`,
//! removing what it wrote when it fails), removes the boot.cfg a host left
//! behind under an old MAC, and updates SHA256SUMS and manifest.json.
//!
//! Network install is UEFI only (mboot.efi over UEFI HTTP boot). The
//! ISO-only inputs (overlays, `--ks-path`, `--ks-in-ramdisk`) are refused.

pub mod bootcfg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::build::edits_for;
use crate::esxi::bootcfg::KernelOptEdits;
use crate::esxi::{self, EFI_BOOT_CFG};
use crate::failure::{self, Failure, Tag};
use crate::lab::index::{self, HostKernelOpts, LabManifest, ManifestHost, NetbootEntry};
use crate::lab::mac::Mac;
use crate::lab::{HostPlan, LabPlan, LabRequest, Problem};
use crate::output::{self, AtomicFile};
use crate::report::{self, Secret};
use crate::serve::installer::{
    self, boot_cfg_path, bootif_of, fallback_path, Host, Installer, Record, KICKSTART_DIR,
    KICKSTART_PATH, LOADER,
};
use crate::warning::Warning;

/// What `--netboot URL` asks.
#[derive(Debug, Clone)]
pub struct Request {
    /// The server's base URL as the hosts see it.
    pub url: String,
    /// `--netboot-interactive`: MACs not in the lab boot the installer
    /// without a kickstart, instead of getting 404.
    pub interactive: bool,
    /// `--allow-local-report`: a loopback or link-local URL is meant.
    pub allow_local: bool,
}

/// One host's files.
#[derive(Debug, Clone)]
pub struct HostFiles {
    pub hostname: String,
    pub mac: Mac,
    /// Relative to the lab folder.
    pub boot_cfg_rel: String,
    pub boot_cfg: String,
    pub kickstart: String,
    /// The kickstart's file name in the state folder's kickstarts/.
    pub ks_file: String,
    /// kernelopt of the boot.cfg with the token shown as `<token>`.
    pub kernelopt: String,
    pub kickstart_url: String,
    pub warnings: Vec<Warning>,
}

/// Everything a network-install run writes, worked out.
#[derive(Debug)]
pub struct Plan {
    pub base: String,
    pub mount: String,
    pub iso: PathBuf,
    pub hosts: Vec<HostFiles>,
    /// The fallback boot.cfg (`--netboot-interactive`), else None: it is
    /// removed when there is one.
    pub fallback: Option<String>,
    pub record: Record,
    /// boot.cfg files of this run's hosts under a MAC they no longer have.
    pub stale: Vec<String>,
    secret: Secret,
    secret_new: bool,
}

impl Plan {
    /// The URL the hosts' firmware boots: mboot.efi, served from the ISO.
    pub fn boot_uri(&self) -> String {
        format!("{}/{}/{LOADER}", self.base, self.mount)
    }
}

/// The ISO-only inputs a network install cannot honour.
fn refuse_iso_inputs(req: &LabRequest, lab: &LabPlan) -> Vec<String> {
    let mut out = Vec::new();
    if !req.inputs.overlays.is_empty() || lab.hosts.iter().any(|h| !h.overlays.is_empty()) {
        out.push(
            "overlays put files on an ISO and into a boot module; a network install serves \
             the stock ISO as it is: drop --overlay and the inventory's overlays (a template \
             can write files in %pre or %post)"
                .to_string(),
        );
    }
    if req.inputs.ks_in_ramdisk {
        out.push("--ks-in-ramdisk: the hosts fetch their kickstart over HTTP".into());
    }
    if req.source.is_dir() {
        out.push(format!(
            "{} is a folder: --netboot serves the installer straight out of a stock ISO; \
             give the ISO",
            req.source.display()
        ));
    }
    out
}

/// Works out every file of the run; writes nothing.
pub fn plan(req: &LabRequest, lab: &LabPlan, nb: &Request) -> Result<Plan> {
    let base = report::parse_base_url(&nb.url)
        .map_err(|e| failure::error(Failure::Usage, format!("--netboot {e}")))?;
    if let (Some(why), false) = (report::unreachable(&base), nb.allow_local) {
        return Err(failure::error(
            Failure::Usage,
            format!(
                "--netboot {base}: {why}, so no host could load its installer: give this \
                 machine's address as the hosts see it, or pass --allow-local-report if they \
                 really are on this machine"
            ),
        ));
    }
    let refused = refuse_iso_inputs(req, lab);
    if !refused.is_empty() {
        return Err(failure::error(
            Failure::Usage,
            format!("--netboot: {}", refused.join("; ")),
        ));
    }
    let (img, media) = esxi::open_installer(&req.source)?;
    let mount = installer::mount_name(&req.source);
    let inst = Installer::describe(&mount, &req.source, img.volume_id()).tag(Failure::Input)?;
    let state = report::state_dir(&lab.out_dir);
    let previous = Record::read(&state).tag(Failure::Input)?;
    check_mount(&previous, &inst, &lab.out_dir)?;

    let mut problems: Vec<Problem> = Vec::new();
    let macs: Vec<Mac> = lab
        .hosts
        .iter()
        .map(|h| {
            h.mac
                .unwrap_or_else(|| Mac::derived(&lab.name, &h.hostname, 0))
        })
        .collect();
    let kept: Vec<Host> = previous
        .hosts
        .iter()
        .filter(|p| {
            !lab.hosts
                .iter()
                .any(|h| h.hostname.eq_ignore_ascii_case(&p.hostname))
                && lab
                    .out_dir
                    .join(boot_cfg_path(&p.mount, &bootif_of(&p.mac)))
                    .is_file()
        })
        .cloned()
        .collect();
    problems.extend(
        duplicate_macs(lab, &macs, &kept)
            .into_iter()
            .map(Problem::usage),
    );

    let (secret, secret_new) = match &lab.report {
        Some(r) => (r.secret().clone(), false),
        None => match Secret::load(&state).tag(Failure::Input)? {
            Some(s) => (s, false),
            None => (Secret::generate()?, true),
        },
    };
    let mut hosts = Vec::new();
    for (h, mac) in lab.hosts.iter().zip(&macs) {
        match host_files(h, *mac, &base, &mount, &media.efi, &img, &secret) {
            Ok(f) => hosts.push(f),
            Err(e) => problems.push(Problem::usage(format!("{}: {e}", h.hostname))),
        }
    }
    let force = req.inputs.force;
    for f in &hosts {
        let ks = state.join(KICKSTART_DIR).join(&f.ks_file);
        for p in [lab.out_dir.join(&f.boot_cfg_rel), ks] {
            if !force && p.symlink_metadata().is_ok() {
                problems.push(Problem {
                    failure: Failure::OutputExists,
                    text: format!(
                        "{}: {} already exists: pass --force to overwrite it",
                        f.hostname,
                        p.display()
                    ),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(crate::lab::problems_error(
            &format!("{} (for network install)", req.inventory.display()),
            &problems,
            "nothing was written",
        ));
    }
    let fallback = if nb.interactive {
        let prefix = format!("{base}/{mount}");
        let edits = KernelOptEdits {
            set: Vec::new(),
            remove: vec!["ks".into()],
        };
        let text = bootcfg::for_host(&media.efi, &format!("/{EFI_BOOT_CFG}"), &prefix, &edits)
            .map_err(|e| failure::error(Failure::Input, format!("the fallback boot.cfg: {e}")))?;
        check_host_cfg(&text, &base, &mount, &prefix, &img)
            .map_err(|e| failure::error(Failure::Input, format!("the fallback boot.cfg: {e}")))?;
        Some(text)
    } else {
        None
    };
    let stale = previous
        .hosts
        .iter()
        .filter_map(|p| {
            let now = hosts
                .iter()
                .find(|f| f.hostname.eq_ignore_ascii_case(&p.hostname))?;
            let old = boot_cfg_path(&p.mount, &bootif_of(&p.mac));
            (old != now.boot_cfg_rel).then_some(old)
        })
        .collect();
    let record = merge_record(previous, inst, &hosts, &kept, &mount, &base);
    Ok(Plan {
        base,
        mount,
        iso: req.source.clone(),
        hosts,
        fallback,
        record,
        stale,
        secret,
        secret_new,
    })
}

/// A mount name already serving another ISO, or a folder of that name
/// that is not a mount, is refused.
fn check_mount(previous: &Record, inst: &Installer, out_dir: &Path) -> Result<()> {
    match previous.installer(&inst.mount) {
        // The same media at another path (the ISO moved, or a copy): the
        // record follows it, and every host of the mount boots from it.
        Some(old) if old.volume_id == inst.volume_id && old.size == inst.size => Ok(()),
        Some(old) if old.iso != inst.iso => Err(failure::error(
            Failure::Usage,
            format!(
                "{} already serves the installer {} from {}, and {} has the same name: \
                 rename one of the two ISOs (the name is the file's stem), or build into \
                 another folder",
                out_dir.display(),
                inst.mount,
                old.iso.display(),
                inst.iso.display()
            ),
        )),
        None if out_dir.join(&inst.mount).symlink_metadata().is_ok() => Err(failure::error(
            Failure::Usage,
            format!(
                "{} exists and is not a network-install folder of this lab: the installer \
                 would be served under that name; move it, rename the ISO, or build into \
                 another folder",
                out_dir.join(&inst.mount).display()
            ),
        )),
        _ => Ok(()),
    }
}

/// MACs used by two hosts of this run, or by one of them and a host the
/// folder already serves.
fn duplicate_macs(lab: &LabPlan, macs: &[Mac], kept: &[Host]) -> Vec<String> {
    let mut by: BTreeMap<Mac, Vec<String>> = BTreeMap::new();
    for (h, m) in lab.hosts.iter().zip(macs) {
        let how = if h.mac.is_some() { "" } else { " (derived)" };
        by.entry(*m)
            .or_default()
            .push(format!("{}{how}", h.hostname));
    }
    for k in kept {
        if let Ok(m) = Mac::parse(&k.mac) {
            if let Some(v) = by.get_mut(&m) {
                v.push(format!("{} (already served from this folder)", k.hostname));
            }
        }
    }
    by.into_iter()
        .filter(|(_, who)| who.len() > 1)
        .map(|(m, who)| {
            format!(
                "duplicate mac {m}: {}: each host boots by its own MAC; give one of them \
                 another `mac`",
                who.join(", ")
            )
        })
        .collect()
}

fn host_files(
    h: &HostPlan,
    mac: Mac,
    base: &str,
    mount: &str,
    efi: &crate::esxi::loader::BootCfg,
    img: &crate::iso::IsoImage,
    secret: &Secret,
) -> Result<HostFiles, String> {
    let name = h.hostname.to_ascii_lowercase();
    let bootif = mac.bootif();
    let token = secret.token(&h.hostname);
    let ks_url = format!("{base}{KICKSTART_PATH}{token}/{name}.cfg");
    let prefix = format!("{base}/{mount}/{bootif}");
    let edits = edits_for(&ks_url, &h.build.edits);
    let text = bootcfg::for_host(efi, &format!("/{EFI_BOOT_CFG}"), &prefix, &edits)?;
    let rb = check_host_cfg(&text, base, mount, &prefix, img)?;
    let shown_url = ks_url.replace(&token, "<token>");
    if crate::esxi::bootcfg::option(&rb.kernelopt, "ks") != Some(ks_url.as_str()) {
        return Err(format!(
            "the loader would not pass ks={shown_url} to the installer (kernelopt={})",
            rb.kernelopt.replace(&token, "<token>")
        ));
    }
    let warnings = rb
        .warnings
        .iter()
        .map(|d| Warning::from_diagnostic(d, &boot_cfg_path(mount, &bootif)))
        .collect();
    Ok(HostFiles {
        hostname: h.hostname.clone(),
        mac,
        boot_cfg_rel: boot_cfg_path(mount, &bootif),
        boot_cfg: text,
        kickstart: h.build.kickstart.clone(),
        ks_file: format!("{name}.cfg"),
        kernelopt: rb.kernelopt.replace(&token, "<token>"),
        kickstart_url: shown_url,
        warnings,
    })
}

/// Reads a boot.cfg as the loader will (served from the mount's boot
/// folder) and checks every file it loads is on the ISO.
fn check_host_cfg(
    text: &str,
    base: &str,
    mount: &str,
    prefix: &str,
    img: &crate::iso::IsoImage,
) -> Result<bootcfg::ReadBack, String> {
    let cfg_url = format!("{base}/{mount}/efi/boot/boot.cfg");
    let rb = bootcfg::read_back(text, &cfg_url, prefix)?;
    let missing: Vec<&String> = rb.files.iter().filter(|f| img.find(f).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!(
            "the loader would ask for files the ISO does not have ({}): the server would \
             answer 404 and the boot would stop",
            missing
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(rb)
}

fn merge_record(
    previous: Record,
    inst: Installer,
    hosts: &[HostFiles],
    kept: &[Host],
    mount: &str,
    base: &str,
) -> Record {
    let mut out = Record::default();
    for h in kept {
        out.hosts.push(h.clone());
    }
    for f in hosts {
        out.hosts.push(Host {
            hostname: f.hostname.clone(),
            mac: f.mac.to_string(),
            mount: mount.to_string(),
            url: base.to_string(),
        });
    }
    out.installers = previous
        .installers
        .into_iter()
        .filter(|i| i.mount != inst.mount && out.hosts.iter().any(|h| h.mount == i.mount))
        .collect();
    out.installers.push(inst);
    out
}

/// What a run wrote.
#[derive(Debug)]
pub struct Report {
    pub manifest: LabManifest,
    pub changes: index::Changes,
    /// Old boot.cfg files removed (relative to the lab folder).
    pub removed: Vec<String>,
    /// Whether the fallback boot.cfg is there after the run.
    pub fallback: bool,
}

/// Writes the plan; on failure removes what it wrote.
pub fn write(req: &LabRequest, lab: &LabPlan, plan: &Plan) -> Result<Report> {
    let state = report::state_dir(&lab.out_dir);
    let mut created: Vec<PathBuf> = Vec::new();
    let result = write_files(req, lab, plan, &state, &mut created);
    if result.is_err() {
        for p in created.iter().rev() {
            let _ = std::fs::remove_file(p);
        }
    }
    result
}

fn write_files(
    req: &LabRequest,
    lab: &LabPlan,
    plan: &Plan,
    state: &Path,
    created: &mut Vec<PathBuf>,
) -> Result<Report> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state.join(KICKSTART_DIR))
        .with_context(|| format!("creating {}", state.join(KICKSTART_DIR).display()))?;
    match &lab.report {
        Some(r) => r.persist()?,
        None if plan.secret_new => plan.secret.store(state)?,
        None => {}
    }
    let force = req.inputs.force;
    let mut files: Vec<(PathBuf, &[u8])> = Vec::new();
    for h in &plan.hosts {
        files.push((
            state.join(KICKSTART_DIR).join(&h.ks_file),
            h.kickstart.as_bytes(),
        ));
        files.push((lab.out_dir.join(&h.boot_cfg_rel), h.boot_cfg.as_bytes()));
    }
    let fallback = lab.out_dir.join(fallback_path(&plan.mount));
    if let Some(text) = &plan.fallback {
        files.push((fallback.clone(), text.as_bytes()));
    }
    // Open every temporary first, then write, then commit: one pass of
    // small writes, and nothing renamed into place before all are written.
    let mut pending = Vec::new();
    for (path, bytes) in &files {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let is_fallback = *path == fallback;
        let f = AtomicFile::create(path, force || is_fallback)?;
        use std::io::Write;
        f.file()
            .write_all(bytes)
            .with_context(|| format!("writing {}", path.display()))?;
        pending.push((path.clone(), f));
    }
    // Flushed on a few threads at once (the file system commits their
    // journal entries together), then renamed, then each folder flushed.
    let buckets = sync_all(pending)?;
    let mut dirs = std::collections::BTreeSet::new();
    for (path, f) in buckets {
        let existed = path.exists();
        f.commit_leaving_dir_sync()?;
        if !existed {
            created.push(path.clone());
        }
        if let Some(d) = path.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    for d in dirs {
        if let Ok(f) = std::fs::File::open(&d) {
            f.sync_all()
                .with_context(|| format!("flushing {} to disk", d.display()))?;
        }
    }
    let fallback_there = plan.fallback.is_some();
    if !fallback_there && fallback.exists() {
        std::fs::remove_file(&fallback)
            .with_context(|| format!("removing {}", fallback.display()))?;
    }
    let mut removed = Vec::new();
    for rel in &plan.stale {
        let p = lab.out_dir.join(rel);
        if p.is_file() {
            std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            if let Some(dir) = p.parent() {
                let _ = std::fs::remove_dir(dir);
            }
            removed.push(rel.clone());
        }
    }
    let mut json = serde_json::to_vec_pretty(&plan.record).context("serializing the record")?;
    json.push(b'\n');
    output::write_atomic(&Record::path(state), &json, true)?;

    let entries = plan
        .hosts
        .iter()
        .zip(&lab.hosts)
        .map(|(f, h)| entry(&req.source, h, f, plan))
        .collect();
    let (manifest, changes) = index::merge(&req.source, &lab.out_dir, lab.index.as_ref(), entries);
    index::write_index(lab, &manifest)?;
    Ok(Report {
        manifest,
        changes,
        removed,
        fallback: fallback_there,
    })
}

/// Flushes every temporary to disk, on up to 8 threads.
fn sync_all(pending: Vec<(PathBuf, AtomicFile)>) -> Result<Vec<(PathBuf, AtomicFile)>> {
    let n = pending.len().clamp(1, 8);
    let mut buckets: Vec<Vec<(PathBuf, AtomicFile)>> = (0..n).map(|_| Vec::new()).collect();
    for (i, p) in pending.into_iter().enumerate() {
        buckets[i % n].push(p);
    }
    let done: Vec<Result<Vec<(PathBuf, AtomicFile)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = buckets
            .into_iter()
            .map(|b| {
                s.spawn(move || {
                    for (_, f) in &b {
                        f.sync()?;
                    }
                    Ok(b)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a thread flushing files failed")))
            })
            .collect()
    });
    let mut out = Vec::new();
    for d in done {
        out.extend(d?);
    }
    Ok(out)
}

fn entry(source: &Path, h: &HostPlan, f: &HostFiles, plan: &Plan) -> ManifestHost {
    let mut warnings = h.warnings.clone();
    warnings.extend(f.warnings.iter().cloned());
    ManifestHost {
        hostname: h.hostname.clone(),
        file: f.boot_cfg_rel.clone(),
        size: f.boot_cfg.len() as u64,
        sha256: hex::encode(Sha256::digest(f.boot_cfg.as_bytes())),
        source: source.display().to_string(),
        template: h.template.clone(),
        ks_path: format!("{}/{KICKSTART_DIR}/{}", report::STATE_DIR, f.ks_file),
        variables: h.vars.redacted(),
        overlays: Vec::new(),
        kernelopt: HostKernelOpts {
            bios: None,
            efi: f.kernelopt.clone(),
        },
        secure_boot: h.build.secure_boot,
        warnings,
        data: None,
        netboot: Some(NetbootEntry {
            mac: f.mac.to_string(),
            boot_uri: plan.boot_uri(),
            boot_cfg: f.boot_cfg_rel.clone(),
            kickstart_url: f.kickstart_url.clone(),
        }),
    }
}
