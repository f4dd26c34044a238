//! `esxi-iso build DIR`: the build's changes ([`plan_changes`]) applied to
//! a directory from `extract`, in memory (the directory is only read), then
//! packed like `pack` does, with the trees and El Torito setup its
//! `.esxi-iso.toml` records.

use std::path::Path;

use anyhow::{Context, Result};
use indicatif::ProgressBar;

use super::{plan_changes, BuildSummary, HostBuild, KernelOpts, Options};
use crate::esxi::loader::BootCfg;
use crate::esxi::{BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::failure::{Failure, Tag};
use crate::iso::master::{Content, Dir, Volume};
use crate::tree::pack::{
    boot_spec, check, check_names, read_text, scan, skip_output, write_volume, DEFAULT_EPOCH,
    DEFAULT_VOLUME_ID,
};
use crate::tree::TreeManifest;

/// A tree from `extract`: its record, its files, and its two boot.cfg
/// files (path as on the tree, text).
type Tree = (Option<TreeManifest>, Dir, Vec<(String, String)>);

fn read_tree(dir: &Path) -> Result<Tree> {
    let manifest = TreeManifest::load(dir)?;
    let root = scan(dir)?;
    let mut cfgs = Vec::new();
    for cfg in [BIOS_BOOT_CFG, EFI_BOOT_CFG] {
        let path = root.find_loader_path(cfg).with_context(|| {
            format!(
                "{} has no /{cfg}: ESXi installer trees carry both /BOOT.CFG and /EFI/BOOT/BOOT.CFG",
                dir.display()
            )
        })?;
        let text = read_text(&root, &path).with_context(|| format!("reading /{path}"))?;
        cfgs.push((path, text));
    }
    Ok((manifest, root, cfgs))
}

/// `esxi-iso build DIR`: the edits of `build`, applied to an extracted
/// tree in memory (the directory is never modified), then packed with the
/// trees and El Torito setup its `.esxi-iso.toml` records.
pub fn build_from_dir(
    dir: &Path,
    host: &HostBuild,
    opts: &Options,
    bar: &ProgressBar,
) -> Result<BuildSummary> {
    let (manifest, mut root, cfgs) = read_tree(dir).tag(Failure::Input)?;
    skip_output(&mut root, dir, &host.output);
    let exists = |p: &str| root.find_loader_path(p).is_some();
    let (bios, efi) = (BootCfg::parse(&*cfgs[0].1), BootCfg::parse(&*cfgs[1].1));
    let changes = plan_changes(&exists, &bios, &efi, host, opts)?;
    let mut put = |path: &str, bytes: Vec<u8>| {
        // Replace a file under its own spelling, else add the 8.3 path.
        let at = root
            .find_loader_path(path)
            .unwrap_or_else(|| path.to_string());
        root.put(&at, Content::Bytes(bytes))
            .map_err(|e| anyhow::anyhow!("placing /{path}: {e}"))
    };
    put(&cfgs[0].0, changes.bios.text.into_bytes())?;
    put(&cfgs[1].0, changes.efi.text.into_bytes())?;
    for (path, data) in changes.files {
        put(&path, data)?;
    }
    let kernelopt = [changes.bios.kernelopt, changes.efi.kernelopt];
    let mut warnings = changes.warnings;
    let rock_ridge = manifest.as_ref().is_some_and(|m| m.rock_ridge);
    let joliet = manifest.as_ref().is_some_and(|m| m.joliet);
    let boot = boot_spec(&root, manifest.as_ref())?;
    let vol = Volume {
        volume_id: manifest
            .as_ref()
            .map_or(DEFAULT_VOLUME_ID.into(), |m| m.volume_id.clone()),
        root,
        rock_ridge,
        joliet,
        boot,
        unix_time: opts.source_date_epoch.unwrap_or(DEFAULT_EPOCH),
    };
    check_names(&vol)?;
    warnings.extend(check(&vol, dir, false)?);
    let s = write_volume(&vol, &host.output, opts.force, bar)?;
    let [bios, efi] = kernelopt;
    Ok(BuildSummary {
        output: s.output,
        size: s.size,
        sha256: s.sha256,
        ks_path: host.ks_label(),
        kernelopt: KernelOpts { bios, efi },
        warnings,
        data: s.data,
    })
}
