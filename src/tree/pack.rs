//! Packing: master a new ISO from a directory. `build <DIR>` uses the same
//! steps, with the kickstart and boot.cfg edits applied in memory
//! (`build::dir`).
//!
//! Pipeline: read the tree and `.esxi-iso.toml` into a [`master::Volume`],
//! check names and boot setup (all before any byte is written), stream the
//! image to a temporary file while hashing it, re-read its metadata, rename
//! it into place, write `<OUTPUT>.sha256`.
//!
//! Without `.esxi-iso.toml`, El Torito follows ESXi's convention: BIOS
//! ISOLINUX.BIN (no emulation, load size 4, boot-info-table), UEFI
//! EFIBOOT.IMG (platform 0xEF), catalog BOOT.CAT. Dates come from
//! SOURCE_DATE_EPOCH, else 1980-01-01 00:00:00 UTC, so two packs of one
//! tree are identical. The user's directory is only ever read.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;

use super::{TreeManifest, MANIFEST};
use crate::esxi::loader::BootCfg;
use crate::esxi::{self, bootcfg, BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::failure::{self, Failure, Tag};
use crate::iso::eltorito::{PLATFORM_EFI, PLATFORM_X86};
use crate::iso::master::{self, Boot, BootImage, Content, Dir, Node, Volume};
use crate::iso::{DataReport, IsoImage, Watch};
use crate::output::{self, AtomicFile};
use crate::signals;
use crate::warning::Warning;

/// Dates when SOURCE_DATE_EPOCH is unset: 1980-01-01 00:00:00 UTC, the
/// earliest date FAT and ZIP can hold, so extracted files keep it anywhere.
pub const DEFAULT_EPOCH: i64 = 315_532_800;
pub const DEFAULT_VOLUME_ID: &str = "ESXI";
/// boot.cfg files are a few KB.
const BOOT_CFG_CAP: u64 = 1 << 20;
/// Most files and folders in a tree: ESXi media hold a few hundred, and
/// the tree and its directory records take about 1 KB each in memory.
pub const MAX_ENTRIES: usize = 100_000;

/// What `esxi-iso pack` is asked.
#[derive(Debug, Clone, Default)]
pub struct PackRequest {
    pub dir: PathBuf,
    pub output: PathBuf,
    /// None: from `.esxi-iso.toml`, or [`DEFAULT_VOLUME_ID`].
    pub volume_id: Option<String>,
    /// Add Rock Ridge names (else as recorded).
    pub rock_ridge: bool,
    /// Add a Joliet tree (else as recorded).
    pub joliet: bool,
    /// Neither, even if recorded.
    pub plain: bool,
    /// Boot problems are errors, not warnings.
    pub strict: bool,
    pub force: bool,
}

/// A volume resolved and checked, ready to write.
#[derive(Debug)]
pub struct PackPlan {
    pub volume: Volume,
    pub output: PathBuf,
    pub force: bool,
    /// Boot problems found (without `strict`); the command shows them.
    pub warnings: Vec<Warning>,
}

/// Reads and checks everything before any byte is written.
pub fn plan(req: &PackRequest) -> Result<PackPlan> {
    plan_tree(req).tag(Failure::Input)
}

/// [`plan`]; what fails here is the tree (or `--volid`, tagged usage).
fn plan_tree(req: &PackRequest) -> Result<PackPlan> {
    let manifest = TreeManifest::load(&req.dir)?;
    let mut root = scan(&req.dir)?;
    skip_output(&mut root, &req.dir, &req.output);
    let volume = volume(root, manifest.as_ref(), req)?;
    let warnings = check(&volume, &req.dir, req.strict)?;
    Ok(PackPlan {
        volume,
        output: req.output.clone(),
        force: req.force,
        warnings,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct PackSummary {
    pub output: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub volume_id: String,
    pub rock_ridge: bool,
    pub joliet: bool,
    pub files: usize,
    pub boot: Vec<esxi::BootReport>,
    pub warnings: Vec<Warning>,
    /// How the files' bytes got into the image.
    pub data: DataReport,
}

/// Reads DIR into a tree of file references (data is read while writing).
/// Symlinks and special files are refused; DIR/.esxi-iso.toml is skipped.
pub fn scan(dir: &Path) -> Result<Dir> {
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    ensure!(meta.is_dir(), "{} is not a directory", dir.display());
    scan_dir(dir, 1, &mut 0)
}

/// Leaves an earlier output (and its .sha256) written into DIR itself out
/// of the image, so `pack . -o out.iso --force` can run twice.
pub fn skip_output(root: &mut Dir, dir: &Path, output: &Path) {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let same = match (fs::canonicalize(parent), fs::canonicalize(dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if let (true, Some(name)) = (same, output.file_name().and_then(|n| n.to_str())) {
        root.entries.remove(name);
        root.entries.remove(&format!("{name}.sha256"));
    }
}

/// `depth`: 1 for DIR itself. Deeper folders than ISO9660 allows are
/// refused here, before a deep tree is walked to its bottom.
fn scan_dir(dir: &Path, depth: usize, count: &mut usize) -> Result<Dir> {
    let mut out = Dir::default();
    for entry in
        fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))?
    {
        let entry = entry.with_context(|| format!("reading directory {}", dir.display()))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            bail!("{}: the name is not UTF-8", path.display());
        };
        if depth == 1 && name == MANIFEST {
            continue;
        }
        *count += 1;
        ensure!(
            *count <= MAX_ENTRIES,
            "{} holds more than {MAX_ENTRIES} files and folders: pack is for installer \
             media (a few hundred files); remove what does not belong on the ISO",
            dir.display()
        );
        let ft = entry
            .file_type()
            .with_context(|| format!("reading {}", path.display()))?;
        let node = if ft.is_symlink() {
            bail!(
                "{} is a symbolic link: pack takes regular files and directories only",
                path.display()
            );
        } else if ft.is_dir() {
            ensure!(
                depth < master::MAX_DEPTH,
                "{}: directories nest deeper than ISO9660's {} levels",
                path.display(),
                master::MAX_DEPTH
            );
            Node::Dir(scan_dir(&path, depth + 1, count)?)
        } else if ft.is_file() {
            let len = entry
                .metadata()
                .with_context(|| format!("reading {}", path.display()))?
                .len();
            Node::File(Content::Path { path, len })
        } else {
            bail!("{} is not a regular file or directory", path.display());
        };
        out.entries.insert(name, node);
    }
    Ok(out)
}

/// Resolves the volume: trees, volume id and El Torito, from the record
/// or ESXi's convention, and checks every name.
fn volume(root: Dir, manifest: Option<&TreeManifest>, req: &PackRequest) -> Result<Volume> {
    let rock_ridge = req.rock_ridge || (!req.plain && manifest.is_some_and(|m| m.rock_ridge));
    let joliet = req.joliet || (!req.plain && manifest.is_some_and(|m| m.joliet));
    let volume_id = req
        .volume_id
        .clone()
        .or_else(|| manifest.map(|m| m.volume_id.clone()))
        .unwrap_or_else(|| DEFAULT_VOLUME_ID.into());
    master::validate_volume_id(&volume_id)
        .map_err(|e| failure::error(Failure::Usage, format!("invalid --volid: {e}")))?;
    let boot = boot_spec(&root, manifest)?;
    let vol = Volume {
        volume_id,
        root,
        rock_ridge,
        joliet,
        boot,
        unix_time: output::source_date_epoch()?.unwrap_or(DEFAULT_EPOCH),
    };
    check_names(&vol)?;
    Ok(vol)
}

/// El Torito from the record, or by convention (files looked up in the
/// root case-insensitively). None when there is nothing to boot.
pub fn boot_spec(root: &Dir, manifest: Option<&TreeManifest>) -> Result<Option<Boot>> {
    let strip = |p: &str| p.trim_start_matches('/').to_string();
    if let Some(m) = manifest.filter(|m| !m.entries.is_empty()) {
        let mut entries = Vec::new();
        for e in &m.entries {
            ensure!(
                e.no_emulation,
                "{MANIFEST}: boot image {} uses floppy or hard-disk emulation, which pack does not support",
                e.image
            );
            entries.push(BootImage {
                platform: e.platform.id(),
                image: strip(&e.image),
                load_size: e.load_size,
                boot_info_table: e.boot_info_table,
            });
        }
        let catalog = m.catalog.as_deref().map_or("BOOT.CAT".into(), strip);
        return Ok(Some(Boot { catalog, entries }));
    }
    let find = |name: &str| {
        root.find_loader_path(name)
            .filter(|p| matches!(root.get(p), Some(Node::File(_))))
    };
    let mut entries = Vec::new();
    if let Some(image) = find("ISOLINUX.BIN") {
        entries.push(BootImage {
            platform: PLATFORM_X86,
            image,
            load_size: 4,
            boot_info_table: true,
        });
    }
    if let Some(image) = find("EFIBOOT.IMG") {
        let len = match root.get(&image) {
            Some(Node::File(c)) => c.len(),
            _ => 0,
        };
        entries.push(BootImage {
            platform: PLATFORM_EFI,
            image,
            load_size: len.div_ceil(512).min(u64::from(u16::MAX)) as u16,
            boot_info_table: false,
        });
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let catalog = root
        .find_loader_path("BOOT.CAT")
        .unwrap_or_else(|| "BOOT.CAT".into());
    Ok(Some(Boot { catalog, entries }))
}

/// Every name checked at once, so one run lists every rename needed.
pub fn check_names(vol: &Volume) -> Result<()> {
    fn walk(dir: &Dir, at: &str, fold: bool, errs: &mut Vec<String>) {
        for (name, node) in &dir.entries {
            let path = format!("{at}/{name}");
            let is_dir = matches!(node, Node::Dir(_));
            if let Err(e) = master::primary_name(name, is_dir, fold) {
                errs.push(format!("{path}: {e}"));
            }
            if let Node::Dir(d) = node {
                walk(d, &path, fold, errs);
            }
        }
    }
    let mut errs = Vec::new();
    walk(&vol.root, "", vol.rock_ridge || vol.joliet, &mut errs);
    if errs.is_empty() {
        return Ok(());
    }
    let n = errs.len();
    errs.truncate(20);
    bail!(
        "{n} name(s) the ESXi loaders cannot read (they see only uppercase 8.3 names; \
         --rock-ridge/--joliet allow lowercase names that differ only in case):\n  {}",
        errs.join("\n  ")
    )
}

/// The boot checks `build` makes, on the tree: both boot.cfg files exist,
/// their `ks=cdrom:` points at a file of the tree; and there are BIOS and
/// UEFI boot images. Problems are returned as warnings, or are errors with
/// `strict`.
pub fn check(vol: &Volume, dir: &Path, strict: bool) -> Result<Vec<Warning>> {
    let mut problems = Vec::new();
    let mut ks_seen = Vec::new();
    for cfg in [BIOS_BOOT_CFG, EFI_BOOT_CFG] {
        let Some(path) = vol.root.find_loader_path(cfg) else {
            problems.push(format!(
                "/{cfg} is missing: the ESXi installer's {} boot reads it",
                if cfg == BIOS_BOOT_CFG { "BIOS" } else { "UEFI" }
            ));
            continue;
        };
        let text = match read_text(&vol.root, &path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(format!("/{path}: {e:#}"));
                continue;
            }
        };
        let ks = BootCfg::parse(text)
            .get("kernelopt")
            .and_then(|ko| bootcfg::option(ko, "ks"))
            .map(str::to_string);
        if let Some(target) = ks.as_deref().and_then(|k| k.strip_prefix("cdrom:")) {
            if !matches!(
                vol.root
                    .find_loader_path(target)
                    .and_then(|p| vol.root.get(&p)),
                Some(Node::File(_))
            ) {
                problems.push(format!(
                    "/{path} boots with ks=cdrom:{target}, which is not a file in {}",
                    dir.display()
                ));
            }
        }
        ks_seen.push((path, ks));
    }
    if let [(a, ka), (b, kb)] = &ks_seen[..] {
        if ka != kb {
            problems.push(format!(
                "/{a} and /{b} name different kickstarts ({} vs {}): BIOS and UEFI installs would differ",
                ka.as_deref().unwrap_or("none"),
                kb.as_deref().unwrap_or("none")
            ));
        }
    }
    let platforms: Vec<u8> = vol
        .boot
        .iter()
        .flat_map(|b| b.entries.iter().map(|e| e.platform))
        .collect();
    for (p, what) in [
        (PLATFORM_X86, "BIOS (ISOLINUX.BIN)"),
        (PLATFORM_EFI, "UEFI (EFIBOOT.IMG)"),
    ] {
        if !platforms.contains(&p) {
            problems.push(format!(
                "no {what} boot image: the ISO will not boot on {what}"
            ));
        }
    }
    if strict && !problems.is_empty() {
        bail!("--strict: {}", problems.join("; "));
    }
    Ok(problems
        .into_iter()
        .map(|p| Warning::advice("pack-tree", p))
        .collect())
}

pub fn read_text(root: &Dir, path: &str) -> Result<String> {
    let bytes = match root.get(path) {
        Some(Node::File(Content::Bytes(b))) => b.clone(),
        Some(Node::File(Content::Path { path: p, len })) => {
            ensure!(
                *len <= BOOT_CFG_CAP,
                "{len} bytes is too large for a boot.cfg"
            );
            fs::read(p).with_context(|| format!("reading {}", p.display()))?
        }
        _ => bail!("not a file"),
    };
    String::from_utf8(bytes).context("not UTF-8 text")
}

/// Writes a planned pack; its warnings go into the summary.
pub fn write(plan: &PackPlan, bar: &ProgressBar) -> Result<PackSummary> {
    let mut summary = write_volume(&plan.volume, &plan.output, plan.force, bar)?;
    summary.warnings = plan.warnings.clone();
    Ok(summary)
}

/// Lays out, streams, checks and publishes the image and its `.sha256`.
pub fn write_volume(
    vol: &Volume,
    output: &Path,
    force: bool,
    bar: &ProgressBar,
) -> Result<PackSummary> {
    let image = master::layout(vol)
        .context("laying out the image")
        .tag(Failure::Input)?;
    let out = AtomicFile::create(output, force)?;
    bar.set_length(image.total_len());
    let progress = |n: u64| bar.set_position(n);
    let watch = Watch {
        progress: &progress,
        cancelled: &signals::cancelled,
    };
    let written = master::write(&image, out.file(), &watch).map_err(|e| {
        if e.kind() == std::io::ErrorKind::Interrupted {
            anyhow::Error::new(signals::Interrupted)
        } else {
            let input = crate::iso::input_failed(&e);
            let err = crate::iso::describe_write_error(e, output);
            if input {
                failure::tagged(Failure::Input, err)
            } else {
                err
            }
        }
    })?;
    bar.finish_and_clear();
    let boot = check_output(out.path(), vol).with_context(|| {
        format!(
            "checking the new image before saving it as {}",
            output.display()
        )
    })?;
    if signals::cancelled() {
        bail!(signals::Interrupted);
    }
    out.commit()?;
    let sha256 = hex::encode(written.sha256);
    output::write_checksum_file(output, &sha256, force)?;
    Ok(PackSummary {
        data: written.stats.report(),
        output: output.to_path_buf(),
        size: image.total_len(),
        sha256,
        volume_id: vol.volume_id.clone(),
        rock_ridge: vol.rock_ridge,
        joliet: vol.joliet,
        files: image.extents.len(),
        boot,
        warnings: Vec::new(),
    })
}

/// Re-reads the output with our reader: it parses, the trees asked for are
/// there, the boot entries are the ones asked for, BIOS tables are valid.
fn check_output(path: &Path, vol: &Volume) -> Result<Vec<esxi::BootReport>> {
    let img = IsoImage::open(path)?;
    ensure!(
        img.rock_ridge.is_some() == vol.rock_ridge,
        "Rock Ridge presence differs from the plan"
    );
    ensure!(
        img.joliet.is_some() == vol.joliet,
        "Joliet presence differs from the plan"
    );
    let report = esxi::boot_report(&img)?;
    let want = vol.boot.as_ref().map_or(0, |b| b.entries.len());
    ensure!(
        report.len() == want,
        "{} boot entries written, {want} planned",
        report.len()
    );
    if let Some(boot) = &vol.boot {
        for (r, e) in report.iter().zip(&boot.entries) {
            let at = r.image.as_deref().map(|p| p.trim_start_matches('/'));
            ensure!(
                at.is_some_and(|p| p.eq_ignore_ascii_case(&e.image)),
                "the boot entry for /{} points at {at:?}",
                e.image
            );
            if e.boot_info_table {
                ensure!(
                    r.boot_info_table_valid == Some(true),
                    "the boot-info-table of /{} is not valid",
                    e.image
                );
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &[u8])]) -> Dir {
        let mut d = Dir::default();
        for (p, b) in files {
            d.put(p, Content::Bytes(b.to_vec())).unwrap();
        }
        d
    }

    #[test]
    fn convention_boot_spec() {
        let root = tree(&[("ISOLINUX.BIN", &[0; 100]), ("EFIBOOT.IMG", &[0; 1025])]);
        let b = boot_spec(&root, None).unwrap().unwrap();
        assert_eq!(b.catalog, "BOOT.CAT");
        assert_eq!(
            b.entries,
            [
                BootImage {
                    platform: PLATFORM_X86,
                    image: "ISOLINUX.BIN".into(),
                    load_size: 4,
                    boot_info_table: true
                },
                BootImage {
                    platform: PLATFORM_EFI,
                    image: "EFIBOOT.IMG".into(),
                    load_size: 3,
                    boot_info_table: false
                }
            ]
        );
        assert_eq!(boot_spec(&tree(&[("A", b"x")]), None).unwrap(), None);
    }

    #[test]
    fn boot_cfg_checks() {
        let vol = |files: &[(&str, &[u8])]| Volume {
            volume_id: "X".into(),
            root: tree(files),
            rock_ridge: false,
            joliet: false,
            boot: None,
            unix_time: 0,
        };
        let ok = vol(&[
            ("BOOT.CFG", b"kernelopt=runweasel ks=cdrom:/KS.CFG\n"),
            (
                "EFI/BOOT/BOOT.CFG",
                b"kernelopt=runweasel ks=cdrom:/KS.CFG\n",
            ),
            ("KS.CFG", b"vmaccepteula\n"),
        ]);
        let p = check(&ok, Path::new("D"), false).unwrap();
        assert_eq!(p.len(), 2, "only the two boot image warnings: {p:?}");
        let bad = vol(&[
            ("BOOT.CFG", b"kernelopt=runweasel ks=cdrom:/KS.CFG\n"),
            ("KS.CFG", b"x"),
        ]);
        let err = check(&bad, Path::new("D"), true).unwrap_err().to_string();
        assert!(err.contains("/EFI/BOOT/BOOT.CFG is missing"), "{err}");
        let missing = vol(&[
            ("BOOT.CFG", b"kernelopt=ks=cdrom:/KS.CFG\n"),
            ("EFI/BOOT/BOOT.CFG", b"kernelopt=ks=cdrom:/KS.CFG\n"),
        ]);
        let err = check(&missing, Path::new("D"), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ks=cdrom:/KS.CFG, which is not a file"),
            "{err}"
        );
    }
}
