//! What `verify --source` compares byte for byte with the stock ISO:
//! every file esxi-iso does not change (`source`). The boot catalog and
//! the boot images, which a repack must rewrite, are compared by what
//! they mean in [`super::boot`], with [`difference`] from here.

use std::collections::HashMap;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use super::{Check, Report};
use crate::esxi::{BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::iso::format::Lba;
use crate::iso::IsoImage;

/// Chunk size for the byte comparisons.
const COMPARE_CHUNK: usize = 1 << 20;

/// The paths (upper case) of the source's boot catalog and boot images:
/// compared by [`super::boot::check_source_boot`], not byte for byte.
fn boot_files(src: &IsoImage) -> Vec<String> {
    let Some(cat) = &src.boot else {
        return Vec::new();
    };
    std::iter::once(cat.lba)
        .chain(cat.entries.iter().map(|e| e.load_rba))
        .filter_map(|lba| src.file_at(lba))
        .map(|(p, _)| p.to_ascii_uppercase())
        .collect()
}

/// Every file of the source's primary tree that esxi-iso does not change
/// (all but the two boot.cfg, the kickstart at `ks_path`, and the boot
/// files, which `source-boot` compares) is on the image with the
/// same bytes.
pub(super) fn check_source(img: &IsoImage, src: &IsoImage, ks_path: Option<&str>, r: &mut Report) {
    let boot = boot_files(src);
    let changed = |p: &str| {
        p.eq_ignore_ascii_case(BIOS_BOOT_CFG)
            || p.eq_ignore_ascii_case(EFI_BOOT_CFG)
            || ks_path.is_some_and(|k| p.eq_ignore_ascii_case(k))
            || boot.contains(&p.to_ascii_uppercase())
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
        match difference(src, a.extent, img, b.extent, u64::from(a.size), None) {
            // Nothing is masked here.
            Ok(Diff::Same | Diff::OnlyMasked) => {
                same += 1;
                bytes += u64::from(a.size);
            }
            Ok(Diff::At(at)) => problems.push(format!(
                "/{path} (LBA {}) differs from the source's from byte {at}",
                b.extent
            )),
            Err(e) => problems.push(format!("/{path}: {e}")),
        }
    }
    r.summarize(
        Check::Source,
        &problems,
        format!("{same} files ({bytes} bytes) identical to the source"),
    );
}

/// How two extents of `len` bytes compare, bytes in `mask` aside.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Diff {
    Same,
    /// Only bytes inside the mask differ.
    OnlyMasked,
    /// The first difference outside the mask, at this byte.
    At(u64),
}

pub(super) fn difference(
    a: &IsoImage,
    a_lba: u32,
    b: &IsoImage,
    b_lba: u32,
    len: u64,
    mask: Option<Range<u64>>,
) -> std::io::Result<Diff> {
    let n0 = (len as usize).min(COMPARE_CHUNK);
    let (mut x, mut y) = (vec![0u8; n0], vec![0u8; n0]);
    let mut masked = false;
    let mut pos = 0u64;
    while pos < len {
        let n = ((len - pos) as usize).min(COMPARE_CHUNK);
        a.file
            .read_exact_at(&mut x[..n], Lba(a_lba).offset() + pos)?;
        b.file
            .read_exact_at(&mut y[..n], Lba(b_lba).offset() + pos)?;
        if x[..n] != y[..n] {
            let differs = (0..n).filter(|&i| x[i] != y[i]).map(|i| pos + i as u64);
            for at in differs {
                if !mask.as_ref().is_some_and(|m| m.contains(&at)) {
                    return Ok(Diff::At(at));
                }
                masked = true;
            }
        }
        pos += n as u64;
    }
    Ok(if masked { Diff::OnlyMasked } else { Diff::Same })
}
