//! The content checks of `verify`: the kickstart that `ks=cdrom:` names
//! (present under its exact name, UTF-8, and by the full checks linted),
//! and the comparison with the source ISO: every file esxi-iso does not
//! change has the source's bytes.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;

use super::{Check, Report};
use crate::esxi::{BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::iso::format::Lba;
use crate::iso::IsoImage;
use crate::kickstart::lint;

/// Kickstarts are a few KB; the installer reads them into memory too.
const KICKSTART_CAP: u32 = 1 << 20;
/// Chunk size for the byte comparison with the source.
const COMPARE_CHUNK: usize = 1 << 20;

/// For `ks=cdrom:/PATH`: the file exists under exactly that (uppercase)
/// name, is not empty, and is UTF-8. Returns its text.
pub(super) fn check_kickstart(img: &IsoImage, ks: Option<&str>, r: &mut Report) -> Option<String> {
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

pub(super) fn check_lint(text: &str, r: &mut Report) {
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
pub(super) fn check_source(img: &IsoImage, src: &IsoImage, ks: Option<&str>, r: &mut Report) {
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
