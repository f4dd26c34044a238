//! `verify`: re-reading an ISO and checking what an ESXi installer needs of
//! it, as a list of findings rather than a first error, so one run shows
//! everything that is wrong.
//!
//! The cheap checks ([`Depth::Cheap`], also run by `build` on its own
//! output before renaming it into place) read metadata, the boot catalog,
//! the BIOS boot file (for its boot-info-table), both boot.cfg files (as
//! VMware's loader reads them, [`loader`]), the files their kernel and
//! modules resolve to, and the kickstart. The full checks add the
//! kickstart lint and, given the source ISO, a comparison of the module
//! list (Secure Boot boots only the stock one) and of the bytes of every
//! file esxi-iso does not change. A finding is ok, a warning (passes, but
//! the user must know, e.g. an added module) or a failure.
//!
//! Deliberately out of scope: booting the image (tests/boot.rs does that
//! under QEMU) and judging the kickstart's content beyond the linter.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::Path;

use serde::Serialize;

use crate::esxi::{self, bootcfg, loader, Media, BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::iso::eltorito::{PLATFORM_EFI, PLATFORM_X86};
use crate::iso::format::{Lba, FLAG_MULTI_EXTENT, TRAILING_PAD_SECTORS};
use crate::iso::reader::Tree;
use crate::iso::{IsoError, IsoImage};
use crate::kickstart::lint;

/// Kickstarts are a few KB; the installer reads them into memory too.
const KICKSTART_CAP: u32 = 1 << 20;
/// Chunk size for the byte comparison with the source.
const COMPARE_CHUNK: usize = 1 << 20;

/// The checks, in the order they run and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Descriptors,
    Directories,
    Files,
    Pad,
    BootCatalog,
    BootImages,
    BootInfoTable,
    BootCfg,
    Modules,
    Kickstart,
    KickstartLint,
    Source,
}

impl Check {
    pub fn label(self) -> &'static str {
        match self {
            Check::Descriptors => "descriptors",
            Check::Directories => "directories",
            Check::Files => "files",
            Check::Pad => "trailing pad",
            Check::BootCatalog => "boot catalog",
            Check::BootImages => "boot images",
            Check::BootInfoTable => "boot-info-table",
            Check::BootCfg => "boot.cfg",
            Check::Modules => "boot modules",
            Check::Kickstart => "kickstart",
            Check::KickstartLint => "kickstart lint",
            Check::Source => "unchanged files",
        }
    }
}

/// How a check came out. `Warn` passes (`ok` stays true) but says
/// something the user must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: Check,
    pub ok: bool,
    pub level: Level,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.ok)
    }

    fn push(&mut self, check: Check, level: Level, detail: impl Into<String>) {
        self.findings.push(Finding {
            check,
            ok: level != Level::Fail,
            level,
            detail: detail.into(),
        });
    }

    fn ok(&mut self, check: Check, detail: impl Into<String>) {
        self.push(check, Level::Ok, detail);
    }

    fn warn(&mut self, check: Check, detail: impl Into<String>) {
        self.push(check, Level::Warn, detail);
    }

    fn fail(&mut self, check: Check, detail: impl Into<String>) {
        self.push(check, Level::Fail, detail);
    }

    /// The findings that passed with a warning.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.level == Level::Warn)
    }

    /// One finding for a check: ok with `ok_detail` when `problems` is
    /// empty, else a failure listing the first few.
    fn summarize(&mut self, check: Check, problems: &[String], ok_detail: String) {
        if problems.is_empty() {
            self.ok(check, ok_detail);
        } else {
            let more = match problems.len() {
                n if n > 3 => format!(" (and {} more)", n - 3),
                _ => String::new(),
            };
            self.fail(
                check,
                format!("{}{more}", problems[..problems.len().min(3)].join("; ")),
            );
        }
    }
}

/// How much to check.
#[derive(Debug, Clone, Copy)]
pub enum Depth<'a> {
    /// Metadata, boot images, boot.cfg and the kickstart's presence.
    Cheap,
    /// Also lint the kickstart and, with a source, compare unchanged files.
    Full { source: Option<&'a IsoImage> },
}

/// Opens and checks `path`. An image that cannot be parsed at all yields a
/// single failed finding naming the structure and LBA.
pub fn verify_path(path: &Path, depth: Depth<'_>) -> Report {
    match IsoImage::open(path) {
        Ok(img) => verify(&img, depth),
        Err(e) => {
            let mut r = Report::default();
            r.fail(open_failure_check(&e), e.to_string());
            r
        }
    }
}

/// Which check an image that failed to open fails: the reader stops at the
/// first bad structure, named at the start of its message.
fn open_failure_check(e: &IsoError) -> Check {
    let IsoError::Malformed { what, .. } = e else {
        return Check::Descriptors;
    };
    if what.starts_with("boot catalog")
        || what.starts_with("El Torito")
        || what.contains("boot entry")
    {
        Check::BootCatalog
    } else if what.starts_with("directory") || what.starts_with("root directory") {
        Check::Directories
    } else if what.starts_with("file ") {
        Check::Files
    } else {
        Check::Descriptors
    }
}

/// Checks an opened image.
pub fn verify(img: &IsoImage, depth: Depth<'_>) -> Report {
    let mut r = Report::default();
    check_descriptors(img, &mut r);
    check_directories(img, &mut r);
    check_files(img, &mut r);
    check_pad(img, &mut r);
    check_boot(img, &mut r);
    let media = Media::detect(img);
    let ks = check_boot_cfg(&media, &mut r);
    if let Ok(media) = &media {
        let source = match depth {
            Depth::Full { source } => source,
            Depth::Cheap => None,
        };
        check_modules(img, media, source, &mut r);
    }
    let ks_text = check_kickstart(img, ks.as_deref(), &mut r);
    if let Depth::Full { source } = depth {
        if let Some(text) = &ks_text {
            check_lint(text, &mut r);
        }
        if let Some(src) = source {
            check_source(img, src, ks.as_deref(), &mut r);
        }
    }
    r
}

fn check_descriptors(img: &IsoImage, r: &mut Report) {
    let pvd = img.pvd();
    let mut detail = format!(
        "{} volume descriptors, primary at LBA {}, volume \"{}\" of {} sectors",
        img.descriptors.len(),
        pvd.lba,
        img.volume_id(),
        pvd.volume_space()
    );
    if img.joliet.is_some() {
        detail.push_str(", Joliet");
    }
    if img.rock_ridge.is_some() {
        detail.push_str(", Rock Ridge");
    }
    let mut problems: Vec<String> = img.unsupported_descriptors.clone();
    problems.extend(img.warnings.iter().cloned());
    r.summarize(Check::Descriptors, &problems, detail);
}

fn trees(img: &IsoImage) -> impl Iterator<Item = (&'static str, &Tree)> {
    std::iter::once(("primary", &img.primary)).chain(img.joliet.iter().map(|t| ("Joliet", t)))
}

fn label(path: &str) -> String {
    format!("/{path}")
}

/// `.` names its own directory, `..` its parent (the root: itself), and
/// every directory lies inside the volume.
fn check_directories(img: &IsoImage, r: &mut Report) {
    let volume_end = Lba(img.pvd().volume_space()).offset();
    let mut problems = Vec::new();
    let mut count = 0usize;
    for (name, tree) in trees(img) {
        for d in &tree.dirs {
            count += 1;
            let end = Lba(d.extent).offset() + u64::from(d.size);
            if end > volume_end {
                problems.push(format!(
                    "{name} directory {} (LBA {}) ends past the volume ({volume_end} bytes)",
                    label(&d.path),
                    d.extent
                ));
            }
            if d.records[0].extent != d.extent {
                problems.push(format!(
                    "{name} directory {} (LBA {}): its . record points at LBA {}",
                    label(&d.path),
                    d.extent,
                    d.records[0].extent
                ));
            }
            let parent = d.parent.map_or(d.extent, |p| tree.dirs[p].extent);
            if d.records[1].extent != parent {
                problems.push(format!(
                    "{name} directory {} (LBA {}): its .. record points at LBA {}, not its parent's LBA {parent}",
                    label(&d.path),
                    d.extent,
                    d.records[1].extent
                ));
            }
        }
    }
    r.summarize(
        Check::Directories,
        &problems,
        format!("{count} directories, all records in bounds"),
    );
}

/// Each file is one extent, not interleaved, inside the volume and after
/// the volume descriptors.
fn check_files(img: &IsoImage, r: &mut Report) {
    let volume_end = Lba(img.pvd().volume_space()).offset();
    let first_data = img.descriptors.last().map_or(16, |d| d.lba) + 2;
    let mut problems = Vec::new();
    let mut count = 0usize;
    for (name, tree) in trees(img) {
        for d in &tree.dirs {
            for rec in d.records.iter().filter(|x| !x.is_dir()) {
                count += 1;
                let path = if tree.joliet {
                    crate::iso::reader::joliet_name(rec.identifier())
                } else {
                    crate::iso::reader::loader_name(rec.identifier())
                };
                let path = label(&crate::iso::reader::join(&d.path, &path));
                if rec.flags & FLAG_MULTI_EXTENT != 0 {
                    problems.push(format!(
                        "{name} file {path} (LBA {}) has more than one extent",
                        rec.extent
                    ));
                }
                if rec.raw[crate::iso::format::DR_FILE_UNIT] != 0
                    || rec.raw[crate::iso::format::DR_INTERLEAVE] != 0
                {
                    problems.push(format!(
                        "{name} file {path} (LBA {}) is interleaved",
                        rec.extent
                    ));
                }
                if rec.size == 0 {
                    continue;
                }
                let end = Lba(rec.extent).offset() + u64::from(rec.size);
                if end > volume_end {
                    problems.push(format!(
                        "{name} file {path} (LBA {}, {} bytes) ends past the volume ({volume_end} bytes)",
                        rec.extent, rec.size
                    ));
                }
                if rec.extent < first_data {
                    problems.push(format!(
                        "{name} file {path} starts at LBA {}, inside the system area or volume descriptors",
                        rec.extent
                    ));
                }
            }
        }
    }
    r.summarize(
        Check::Files,
        &problems,
        format!("{count} file records, each one contiguous extent inside the volume"),
    );
}

/// At least [`TRAILING_PAD_SECTORS`] unused sectors end the volume, as
/// genisoimage and xorriso leave them: CD readers read ahead near the end
/// of a disc, and GRUB's BIOS reader misreads a file in the last sectors.
fn check_pad(img: &IsoImage, r: &mut Report) {
    let volume = img.pvd().volume_space();
    let data_end = img.data_end();
    let pad = volume.saturating_sub(data_end);
    if pad >= TRAILING_PAD_SECTORS {
        r.ok(
            Check::Pad,
            format!("{pad} unused sectors after the last data (LBA {data_end})"),
        );
    } else {
        r.warn(
            Check::Pad,
            format!(
                "only {pad} unused sectors after the last data (LBA {data_end}), fewer than \
                 {TRAILING_PAD_SECTORS}: readers that read ahead at the end of a disc (GRUB on \
                 BIOS) may misread the last files; rebuild it with esxi-iso build or pack"
            ),
        );
    }
}

fn check_boot(img: &IsoImage, r: &mut Report) {
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
/// them as they look ([`loader::check`]: errors fail, warnings warn);
/// returns the `ks=` value they agree on, if any.
fn check_boot_cfg(media: &anyhow::Result<Media>, r: &mut Report) -> Option<String> {
    let media = match media {
        Ok(m) => m,
        Err(e) => {
            r.fail(Check::BootCfg, format!("{e:#}"));
            return None;
        }
    };
    let mut problems = Vec::new();
    let mut ks = Vec::new();
    for (name, text) in [
        (BIOS_BOOT_CFG, &media.bios_text),
        (EFI_BOOT_CFG, &media.efi_text),
    ] {
        let Some(ko) = bootcfg::get(text, "kernelopt") else {
            problems.push(format!("/{name} has no kernelopt= line"));
            continue;
        };
        if bootcfg::option(ko, "runweasel").is_none() {
            problems.push(format!(
                "/{name}: kernelopt has no runweasel (the installer would not start)"
            ));
        }
        match bootcfg::option(ko, "ks") {
            Some(v) if !v.is_empty() => ks.push(v.to_string()),
            _ => problems.push(format!("/{name}: kernelopt has no ks= option")),
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
    for (name, text) in [
        (BIOS_BOOT_CFG, &media.bios_text),
        (EFI_BOOT_CFG, &media.efi_text),
    ] {
        for d in loader::check(text) {
            let line = d.render(&format!("/{name}"));
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
    for (name, text) in [
        (BIOS_BOOT_CFG, &media.bios_text),
        (EFI_BOOT_CFG, &media.efi_text),
    ] {
        let cfg = format!("/{name}");
        let kernel = loader::kernel(text, &cfg).map(|k| (k.clone(), k));
        let mods = loader::modules(text, &cfg)
            .into_iter()
            .map(|m| (m.entry, m.path));
        for (entry, path) in kernel.into_iter().chain(mods) {
            if path.contains("://") {
                continue;
            }
            let found = img
                .find(path.trim_start_matches('/'))
                .is_some_and(|e| !img.record(e).is_dir());
            if !found {
                problems.push(format!(
                    "{cfg}: {entry} resolves to {path}, which is not on the ISO \
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
fn check_modules(img: &IsoImage, media: &Media, source: Option<&IsoImage>, r: &mut Report) {
    let problems = missing_modules(img, media);
    if !problems.is_empty() {
        r.summarize(Check::Modules, &problems, String::new());
        return;
    }
    let entries = |t: &str| -> Vec<String> {
        loader::modules(t, "/")
            .into_iter()
            .map(|m| m.entry)
            .collect()
    };
    let (bios, efi) = (entries(&media.bios_text), entries(&media.efi_text));
    let n = bios.len();
    let mut notes = Vec::new();
    if bios != efi {
        notes.push("/BOOT.CFG and /EFI/BOOT/BOOT.CFG list different modules".to_string());
    }
    let stock = match source.map(Media::detect) {
        Some(Ok(src)) => {
            let theirs = entries(&src.bios_text);
            let added: Vec<&String> = bios.iter().filter(|m| !theirs.contains(m)).collect();
            let gone: Vec<&String> = theirs.iter().filter(|m| !bios.contains(m)).collect();
            if bios == theirs && efi == entries(&src.efi_text) {
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
                    crate::build::SECURE_BOOT_EFFECT
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
                    crate::build::SECURE_BOOT_EFFECT
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

/// For `ks=cdrom:/PATH`: the file exists under exactly that (uppercase)
/// name, is not empty, and is UTF-8. Returns its text.
fn check_kickstart(img: &IsoImage, ks: Option<&str>, r: &mut Report) -> Option<String> {
    let ks = ks?;
    let Some(path) = ks.strip_prefix("cdrom:") else {
        r.ok(
            Check::Kickstart,
            format!("ks={ks} is not on the CD; not checked"),
        );
        return None;
    };
    let path = path.trim_start_matches('/');
    let Some(e) = img.find(path) else {
        r.fail(
            Check::Kickstart,
            format!("ks=cdrom:/{path}: no such file on the ISO"),
        );
        return None;
    };
    let rec = img.record(e);
    let on_disc = crate::iso::reader::loader_name(rec.identifier());
    let want = path.rsplit('/').next().unwrap_or(path);
    if rec.is_dir() {
        r.fail(Check::Kickstart, format!("/{path} is a directory"));
        return None;
    }
    if on_disc != want {
        r.fail(
            Check::Kickstart,
            format!("ks= names {want} but the ISO9660 name is {on_disc}: the installer matches the exact name"),
        );
        return None;
    }
    let bytes = match img.read_small(rec, KICKSTART_CAP) {
        Ok(b) => b,
        Err(e) => {
            r.fail(Check::Kickstart, format!("reading /{path}: {e}"));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) if !text.trim().is_empty() => {
            r.ok(
                Check::Kickstart,
                format!("/{path}, {} bytes (LBA {})", rec.size, rec.extent),
            );
            Some(text)
        }
        Ok(_) => {
            r.fail(Check::Kickstart, format!("/{path} is empty"));
            None
        }
        Err(_) => {
            r.fail(Check::Kickstart, format!("/{path} is not UTF-8 text"));
            None
        }
    }
}

fn check_lint(text: &str, r: &mut Report) {
    let diags = lint::lint(text);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == lint::Severity::Error)
        .map(|d| d.render("kickstart"))
        .collect();
    let warnings = diags.len() - errors.len();
    r.summarize(
        Check::KickstartLint,
        &errors,
        format!("no errors, {warnings} warning(s)"),
    );
}

/// Every file of the source's primary tree that esxi-iso does not change
/// (all but the two boot.cfg and the kickstart) is on the image with the
/// same bytes, and the boot catalog is the source's.
fn check_source(img: &IsoImage, src: &IsoImage, ks: Option<&str>, r: &mut Report) {
    let ks_path = ks
        .and_then(|k| k.strip_prefix("cdrom:"))
        .map(|p| p.trim_start_matches('/').to_string());
    let changed = |p: &str| {
        p.eq_ignore_ascii_case(BIOS_BOOT_CFG)
            || p.eq_ignore_ascii_case(EFI_BOOT_CFG)
            || ks_path
                .as_deref()
                .is_some_and(|k| p.eq_ignore_ascii_case(k))
    };
    let out_files: HashMap<String, _> = img
        .files()
        .map(|(p, e)| (p.to_ascii_uppercase(), e))
        .collect();
    let mut problems = Vec::new();
    let (mut same, mut bytes) = (0usize, 0u64);
    for (path, e) in src.files() {
        if changed(&path) {
            continue;
        }
        let a = src.record(e);
        let Some(&oe) = out_files.get(&path.to_ascii_uppercase()) else {
            problems.push(format!("/{path} is missing"));
            continue;
        };
        let b = img.record(oe);
        if a.size != b.size {
            problems.push(format!(
                "/{path} is {} bytes, the source's {}",
                b.size, a.size
            ));
            continue;
        }
        match same_bytes(src, a.extent, img, b.extent, u64::from(a.size)) {
            Ok(true) => {
                same += 1;
                bytes += u64::from(a.size);
            }
            Ok(false) => problems.push(format!(
                "/{path} (LBA {}) differs from the source",
                b.extent
            )),
            Err(e) => problems.push(format!("/{path}: {e}")),
        }
    }
    if img.boot != src.boot {
        problems.push("the El Torito boot catalog differs from the source's".into());
    }
    r.summarize(
        Check::Source,
        &problems,
        format!("{same} files ({bytes} bytes) identical to the source"),
    );
}

fn same_bytes(
    a: &IsoImage,
    a_lba: u32,
    b: &IsoImage,
    b_lba: u32,
    len: u64,
) -> std::io::Result<bool> {
    let n0 = (len as usize).min(COMPARE_CHUNK);
    let (mut x, mut y) = (vec![0u8; n0], vec![0u8; n0]);
    let mut pos = 0u64;
    while pos < len {
        let n = ((len - pos) as usize).min(COMPARE_CHUNK);
        a.file
            .read_exact_at(&mut x[..n], Lba(a_lba).offset() + pos)?;
        b.file
            .read_exact_at(&mut y[..n], Lba(b_lba).offset() + pos)?;
        if x[..n] != y[..n] {
            return Ok(false);
        }
        pos += n as u64;
    }
    Ok(true)
}
