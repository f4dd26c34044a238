//! The boot checks of `verify`: the El Torito catalog and its images, the
//! BIOS boot-info-table, both boot.cfg files as VMware's loader reads them
//! ([`loader`]), and the kernel and modules they resolve to, with the
//! Secure Boot view of the module list (only the stock list boots).

use std::os::unix::fs::FileExt;

use super::{Check, Report};
use crate::esxi::loader::{self, BootCfg};
use crate::esxi::{self, bootcfg, Media};
use crate::iso::eltorito::{PLATFORM_EFI, PLATFORM_X86};
use crate::iso::format::Lba;
use crate::iso::IsoImage;

pub(super) fn check_boot(img: &IsoImage, r: &mut Report) {
    let Some(cat) = &img.boot else {
        r.fail(Check::BootCatalog, "no El Torito boot record or catalog");
        return;
    };
    // parse_catalog has checked the header, key and checksum at open.
    let has = |p| cat.entries.iter().any(|e| e.bootable && e.platform == p);
    let mut problems = Vec::new();
    if !has(PLATFORM_X86) {
        problems.push("no bootable BIOS entry".to_string());
    }
    if !has(PLATFORM_EFI) {
        problems.push("no bootable UEFI (0xEF) entry".to_string());
    }
    r.summarize(
        Check::BootCatalog,
        &problems,
        format!(
            "catalog at LBA {}: validation entry and checksum valid, {} entries (BIOS and UEFI)",
            cat.lba,
            cat.entries.len()
        ),
    );

    let mut problems = Vec::new();
    let mut names = Vec::new();
    let mut bit = None;
    for e in cat.entries.iter().filter(|e| e.bootable) {
        let platform = crate::iso::eltorito::platform_name(e.platform);
        let Some((path, rec)) = img.file_at(e.load_rba) else {
            problems.push(format!(
                "{platform} entry loads LBA {}, where no file starts",
                e.load_rba
            ));
            continue;
        };
        names.push(format!("{platform} /{path}"));
        if rec.size == 0 {
            problems.push(format!("{platform} boot image /{path} is empty"));
            continue;
        }
        if e.media != 0 {
            problems.push(format!(
                "{platform} entry uses emulation type {} (ESXi media use no emulation)",
                e.media
            ));
        }
        match e.platform {
            PLATFORM_X86 if bit.is_none() => {
                bit = Some(esxi::bios_table(img, e.load_rba, rec.size).map(|t| (path.clone(), t)))
            }
            PLATFORM_EFI => {
                let mut sig = [0u8; 2];
                let at = Lba(e.load_rba).offset() + 510;
                if rec.size < 512
                    || img.file.read_exact_at(&mut sig, at).is_err()
                    || sig != [0x55, 0xAA]
                {
                    problems.push(format!(
                        "UEFI boot image /{path} (LBA {}) has no FAT boot sector signature",
                        e.load_rba
                    ));
                }
            }
            _ => {}
        }
    }
    r.summarize(Check::BootImages, &problems, names.join(", "));

    match bit {
        None => r.fail(Check::BootInfoTable, "no BIOS boot image to check"),
        Some(Err(e)) => r.fail(Check::BootInfoTable, format!("{e:#}")),
        Some(Ok((path, None))) => r.fail(
            Check::BootInfoTable,
            format!("BIOS boot image /{path} is too short to hold a boot-info-table"),
        ),
        Some(Ok((path, Some(t)))) if t.is_valid() => r.ok(
            Check::BootInfoTable,
            format!(
                "/{path}: PVD LBA {}, file LBA {}, {} bytes, checksum {:#010x}",
                t.pvd_lba, t.file_lba, t.file_len, t.checksum
            ),
        ),
        Some(Ok((path, Some(t)))) => r.fail(
            Check::BootInfoTable,
            format!(
                "/{path} has PVD LBA {}, file LBA {}, length {}, checksum {:#010x}; expected 16, {}, {}, {:#010x}",
                t.pvd_lba,
                t.file_lba,
                t.file_len,
                t.checksum,
                t.file_lba_actual,
                t.file_len_actual,
                t.expected_checksum
            ),
        ),
    }
}

/// Both boot.cfg parse and keep `runweasel`, and VMware's loader reads
/// them as they look ([`BootCfg::check`]: errors fail, warnings warn);
/// returns the `ks=` value they agree on, if any.
pub(super) fn check_boot_cfg(media: &anyhow::Result<Media>, r: &mut Report) -> Option<String> {
    let media = match media {
        Ok(m) => m,
        Err(e) => {
            r.fail(Check::BootCfg, format!("{e:#}"));
            return None;
        }
    };
    let mut problems = Vec::new();
    let mut ks = Vec::new();
    for (name, cfg) in media.configs() {
        let Some(ko) = cfg.get("kernelopt") else {
            problems.push(format!("{name} has no kernelopt= line"));
            continue;
        };
        if bootcfg::option(ko, "runweasel").is_none() {
            problems.push(format!(
                "{name}: kernelopt has no runweasel (the installer would not start)"
            ));
        }
        match bootcfg::option(ko, "ks") {
            Some(v) if !v.is_empty() => ks.push(v.to_string()),
            _ => problems.push(format!("{name}: kernelopt has no ks= option")),
        }
    }
    if ks.len() == 2 && ks[0] != ks[1] {
        problems.push(format!(
            "/BOOT.CFG has ks={} but /EFI/BOOT/BOOT.CFG has ks={}",
            ks[0], ks[1]
        ));
    }
    let agreed = (problems.is_empty()).then(|| ks[0].clone());
    let mut warnings = Vec::new();
    for (name, cfg) in media.configs() {
        for d in cfg.check() {
            let line = d.render(name);
            match d.severity {
                loader::Severity::Error => problems.push(line),
                loader::Severity::Warning => warnings.push(line),
            }
        }
    }
    let ok = format!(
        "/BOOT.CFG and /EFI/BOOT/BOOT.CFG parse, keep runweasel, ks={}",
        ks.first().map_or("", |s| s.as_str())
    );
    if problems.is_empty() && !warnings.is_empty() {
        r.warn(Check::BootCfg, format!("{ok}; {}", warnings.join("; ")));
    } else {
        r.summarize(Check::BootCfg, &problems, ok);
    }
    agreed
}

/// The kernel and modules of both boot.cfg files, resolved the way the
/// loader resolves them (prefix, config directory), that are not on the
/// image: each would stop the boot with "Not found". URLs are skipped.
pub fn missing_modules(img: &IsoImage, media: &Media) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, cfg) in media.configs() {
        let kernel = cfg.kernel(name).map(|k| (k.clone(), k));
        let mods = cfg.modules(name).into_iter().map(|m| (m.entry, m.path));
        for (entry, path) in kernel.into_iter().chain(mods) {
            if path.contains("://") {
                continue;
            }
            let found = img
                .find(path.trim_start_matches('/'))
                .is_some_and(|e| !img.record(e).is_dir());
            if !found {
                problems.push(format!(
                    "{name}: {entry} resolves to {path}, which is not on the ISO \
                     (the loader stops with \"Not found\")"
                ));
            }
        }
    }
    problems
}

/// Every module resolves to a file of the image, and the module list is
/// the stock one, which Secure Boot requires: compared with the source
/// when there is one, else checked for modules esxi-iso adds.
pub(super) fn check_modules(
    img: &IsoImage,
    media: &Media,
    source: Option<&IsoImage>,
    r: &mut Report,
) {
    let problems = missing_modules(img, media);
    if !problems.is_empty() {
        r.summarize(Check::Modules, &problems, String::new());
        return;
    }
    let entries =
        |c: &BootCfg| -> Vec<String> { c.modules("/").into_iter().map(|m| m.entry).collect() };
    let (bios, efi) = (entries(&media.bios), entries(&media.efi));
    let n = bios.len();
    let mut notes = Vec::new();
    if bios != efi {
        notes.push("/BOOT.CFG and /EFI/BOOT/BOOT.CFG list different modules".to_string());
    }
    let stock = match source.map(Media::detect) {
        Some(Ok(src)) => {
            let theirs = entries(&src.bios);
            let added: Vec<&String> = bios.iter().filter(|m| !theirs.contains(m)).collect();
            let gone: Vec<&String> = theirs.iter().filter(|m| !bios.contains(m)).collect();
            if bios == theirs && efi == entries(&src.efi) {
                Some(format!("{n} modules, all on the ISO, the source's list as written (Secure Boot accepts it)"))
            } else {
                let list =
                    |v: &[&String]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
                let mut what = Vec::new();
                if !added.is_empty() {
                    what.push(format!("adds {}", list(&added)));
                }
                if !gone.is_empty() {
                    what.push(format!("drops {}", list(&gone)));
                }
                if what.is_empty() {
                    what.push("reorders or respells modules".into());
                }
                notes.push(format!(
                    "the module list differs from the source's ({}): {}",
                    what.join(", "),
                    esxi::SECURE_BOOT_EFFECT
                ));
                None
            }
        }
        Some(Err(_)) | None => {
            let ours: Vec<&String> = bios.iter().filter(|m| is_overlay_module(m)).collect();
            if ours.is_empty() {
                Some(format!(
                    "{n} modules, all on the ISO, none added by esxi-iso (--source compares with the stock list)"
                ))
            } else {
                notes.push(format!(
                    "{} added by esxi-iso: {}",
                    ours.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    esxi::SECURE_BOOT_EFFECT
                ));
                None
            }
        }
    };
    match (stock, notes.is_empty()) {
        (Some(ok), true) => r.ok(Check::Modules, ok),
        (_, _) => r.warn(
            Check::Modules,
            format!("{n} modules, all on the ISO; {}", notes.join("; ")),
        ),
    }
}

/// `/OVERLAY.TGZ`, `/OVERLAY2.TGZ` ...: the names `build` gives the module
/// it adds.
fn is_overlay_module(entry: &str) -> bool {
    let name = entry
        .rsplit('/')
        .next()
        .unwrap_or(entry)
        .to_ascii_lowercase();
    name.strip_prefix("overlay")
        .and_then(|r| r.strip_suffix(".tgz"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}
