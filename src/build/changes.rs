//! What a build changes on the image, worked out before any byte is
//! written: both boot.cfg files edited (`ks=`, `--boot-opt`), checked as
//! VMware's loader reads them, overlay files placed, the ramdisk module
//! packed and appended to `modules=`, and the kickstart's place. The same
//! plan serves an ISO source (placed by the patcher) and a directory
//! source (placed in the scanned tree).
//!
//! Secure Boot: an added or changed module list stops the boot, so it is
//! refused with `--secure-boot` and a warning otherwise.

use anyhow::{bail, Context, Result};

use super::{HostBuild, Options, RAMDISK_KS};
use crate::esxi::bootcfg::{self, KernelOptEdits};
use crate::esxi::loader::{self, BootCfg};
use crate::esxi::{BIOS_BOOT_CFG, BIOS_CFG_PATH, EFI_BOOT_CFG, EFI_CFG_PATH, SECURE_BOOT_EFFECT};
use crate::failure::{self, Failure, Tag};
use crate::overlay;
use crate::warning::Warning;

pub(super) fn secure_boot_refusal(why: &str) -> String {
    format!(
        "--secure-boot: {why}, and {SECURE_BOOT_EFFECT}. Keep the kickstart on the CD (the \
         default, ks=cdrom:/KS.CFG) and move ramdisk files into the kickstart (%pre/%post \
         can write them), or build without --secure-boot for hosts that boot without it"
    )
}

/// The kernel option edits for a kickstart at `location`, then `extra`.
pub fn edits_for(location: &str, extra: &KernelOptEdits) -> KernelOptEdits {
    let mut set = vec![("ks".to_string(), Some(location.to_string()))];
    set.extend(extra.set.iter().cloned());
    KernelOptEdits {
        set,
        remove: extra.remove.clone(),
    }
}

/// The new contents of the image, computed before anything is written.
pub struct Changes {
    pub bios: bootcfg::Edited,
    pub efi: bootcfg::Edited,
    /// (ISO path, bytes), in placement order.
    pub files: Vec<(String, Vec<u8>)>,
    pub warnings: Vec<Warning>,
}

/// Loader diagnostics of a boot.cfg about to be edited: errors stop the
/// build (the ISO would not boot), warnings are returned.
fn check_boot_cfg(label: &str, cfg: &BootCfg, warnings: &mut Vec<Warning>) -> Result<()> {
    let diags = cfg.check();
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == loader::Severity::Error)
        .map(|d| d.render(label))
        .collect();
    if !errors.is_empty() {
        return Err(failure::error(
            Failure::Input,
            format!(
                "{label} would stop VMware's boot loader; fix it in the source (or in the \
                 overlay that replaces it):\n  {}",
                errors.join("\n  ")
            ),
        ));
    }
    warnings.extend(
        diags
            .iter()
            .filter(|d| d.severity == loader::Severity::Warning)
            .map(|d| Warning::from_diagnostic(d, label)),
    );
    Ok(())
}

/// Works out every file to place: both boot.cfg files (edited, and with
/// the overlay module appended), overlay ISO files, the module, and the
/// kickstart on the ISO unless it goes into the ramdisk. `exists` tells
/// whether a loader-style path is on the source (an ISO or a tree).
/// A boot.cfg the loader would refuse is the source's fault (an input);
/// every other refusal is a conflict in what was asked (usage).
pub fn plan_changes(
    exists: &dyn Fn(&str) -> bool,
    bios: &BootCfg,
    efi: &BootCfg,
    host: &HostBuild,
    opts: &Options,
) -> Result<Changes> {
    changes(exists, bios, efi, host, opts).tag(Failure::Usage)
}

fn changes(
    exists: &dyn Fn(&str) -> bool,
    src_bios: &BootCfg,
    src_efi: &BootCfg,
    host: &HostBuild,
    opts: &Options,
) -> Result<Changes> {
    let is_cfg =
        |p: &str| p.eq_ignore_ascii_case(BIOS_BOOT_CFG) || p.eq_ignore_ascii_case(EFI_BOOT_CFG);
    if !host.ks_in_ramdisk && is_cfg(&host.ks_path) {
        bail!(
            "--ks-path /{} would overwrite a boot.cfg: choose another path",
            host.ks_path
        );
    }
    if let Some(e) = host.secure_boot_conflict() {
        bail!(e);
    }
    // The source's files, unless an overlay replaces them (parsed once).
    let mut bios = None;
    let mut efi = None;
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    for f in &host.overlay.iso {
        if exists(&f.path) && !host.replace_vendor_files {
            bail!(
                "overlay file {} would replace /{} from the source ISO: pass --replace-vendor-files if that is intended",
                f.origin,
                f.path
            );
        }
        if !host.ks_in_ramdisk && f.path.eq_ignore_ascii_case(&host.ks_path) {
            bail!(
                "overlay file {} collides with the kickstart at /{}: choose another --ks-path",
                f.origin,
                host.ks_path
            );
        }
        let text = || {
            String::from_utf8(f.data.clone())
                .with_context(|| format!("overlay file {} is not UTF-8", f.origin))
        };
        if f.path.eq_ignore_ascii_case(BIOS_BOOT_CFG) {
            bios = Some(BootCfg::parse(text()?));
        } else if f.path.eq_ignore_ascii_case(EFI_BOOT_CFG) {
            efi = Some(BootCfg::parse(text()?));
        } else {
            files.push((f.path.clone(), f.data.clone()));
        }
    }
    let bios = bios.as_ref().unwrap_or(src_bios);
    let efi = efi.as_ref().unwrap_or(src_efi);
    for (label, src, new) in [
        (BIOS_CFG_PATH, src_bios, bios),
        (EFI_CFG_PATH, src_efi, efi),
    ] {
        check_boot_cfg(label, new, &mut warnings)?;
        // What the loader opens, as Secure Boot sees it: a prefix= that
        // names the same files differently changes nothing.
        if src.module_paths(label) != new.module_paths(label) {
            let why = format!("the overlay's {label} changes the boot module list of the source's");
            if host.secure_boot {
                bail!(secure_boot_refusal(&why));
            }
            warnings.push(Warning::advice(
                "module-list-changed",
                format!("{why}: {SECURE_BOOT_EFFECT}"),
            ));
        }
    }
    let mut module_files = host.overlay.ramdisk.clone();
    if host.ks_in_ramdisk {
        if module_files.iter().any(|f| f.path == RAMDISK_KS) {
            bail!("an overlay already provides /{RAMDISK_KS} in the ramdisk, where --ks-in-ramdisk puts the kickstart");
        }
        module_files.push(overlay::File {
            path: RAMDISK_KS.into(),
            data: host.kickstart.clone().into_bytes(),
            executable: false,
            origin: "the kickstart".into(),
        });
    }
    let edits = edits_for(&host.ks_location(), &host.edits);
    let mut bios = bootcfg::edit(bios, &edits)
        .map_err(anyhow::Error::msg)
        .context("editing /BOOT.CFG")?;
    let mut efi = bootcfg::edit(efi, &edits)
        .map_err(anyhow::Error::msg)
        .context("editing /EFI/BOOT/BOOT.CFG")?;
    if !module_files.is_empty() {
        let name = module_name(exists, &files);
        let mtime = opts.source_date_epoch.unwrap_or(0).max(0) as u64;
        let module = overlay::pack_module(&module_files, mtime)?;
        for (label, e) in [(BIOS_CFG_PATH, &mut bios), (EFI_CFG_PATH, &mut efi)] {
            e.text = bootcfg::append_module(&BootCfg::parse(e.text.as_str()), &format!("/{name}"))
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("adding the overlay module to {label}"))?;
        }
        let why = host.adds_module().unwrap_or("overlay files");
        warnings.push(Warning::advice(
            "module-added",
            format!(
                "this build adds the boot module /{name} ({why}): {SECURE_BOOT_EFFECT}; and \
                 %firstboot scripts are skipped under Secure Boot. Pass --secure-boot to refuse \
                 such builds"
            ),
        ));
        files.push((name, module));
    }
    if !host.ks_in_ramdisk {
        files.push((host.ks_path.clone(), host.kickstart.clone().into_bytes()));
    }
    Ok(Changes {
        bios,
        efi,
        files,
        warnings,
    })
}

/// `OVERLAY.TGZ`, or the first free `OVERLAYn.TGZ` when the source already
/// carries one (an ISO built by esxi-iso before).
fn module_name(exists: &dyn Fn(&str) -> bool, files: &[(String, Vec<u8>)]) -> String {
    (1..)
        .map(|n| {
            if n == 1 {
                "OVERLAY.TGZ".to_string()
            } else {
                format!("OVERLAY{n}.TGZ")
            }
        })
        .find(|n| !exists(n) && !files.iter().any(|(p, _)| p.eq_ignore_ascii_case(n)))
        .expect("some name is free")
}
