//! The boot checks of `verify`: the El Torito catalog (a BIOS and a UEFI
//! entry), its images (present, no emulation, a FAT boot sector for
//! UEFI) and the BIOS image's boot-info-table (the LBAs and checksum every
//! mastering tool writes into bytes 8-63, checked against this image).
//!
//! With `--source`, the same by what it means (`source-boot`): a repack
//! (extract, edit, pack; or any mastering tool) must move the catalog and
//! rewrite the boot-info-table, so the catalog is compared entry by entry
//! (platform, bootable, emulation, load segment, load size, the image it
//! loads), and each image byte for byte apart from its boot-info-table,
//! which must then be valid for the new image. A build (patched in place)
//! keeps both byte for byte.

use std::os::unix::fs::FileExt;

use std::ops::Range;

use super::source::{difference, Diff};
use super::{Check, Report};
use crate::esxi;
use crate::iso::eltorito::{
    platform_name, BootEntry, BIT_END, BIT_PVD, PLATFORM_EFI, PLATFORM_X86,
};
use crate::iso::format::{Lba, FIRST_DESCRIPTOR_LBA};
use crate::iso::{BootInfoTable, IsoImage};

/// The boot-info-table's bytes in a BIOS boot image.
const TABLE: Range<u64> = BIT_PVD as u64..BIT_END as u64;
/// El Torito: a load segment of 0 means the traditional 0x7C0.
const DEFAULT_SEGMENT: u16 = 0x7C0;

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
        let platform = platform_name(e.platform);
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
        Some(Ok((path, Some(t)))) => r.fail(Check::BootInfoTable, bad_table(&path, &t)),
    }
}

/// A boot-info-table that does not describe its image: what it says and
/// what it should say.
fn bad_table(path: &str, t: &BootInfoTable) -> String {
    format!(
        "/{path}: its boot-info-table says PVD LBA {}, file LBA {}, length {}, checksum {:#010x}; \
         this image needs PVD LBA {}, file LBA {}, length {}, checksum {:#010x} (ISOLINUX and \
         GRUB read the rest of themselves through it)",
        t.pvd_lba,
        t.file_lba,
        t.file_len,
        t.checksum,
        FIRST_DESCRIPTOR_LBA,
        t.file_lba_actual,
        t.file_len_actual,
        t.expected_checksum
    )
}

/// The boot catalog has the source's entries, in order, with the same
/// meaning, and each loads an image with the source's bytes, apart from a
/// BIOS image's boot-info-table, which must then be valid for this image.
pub(super) fn check_source_boot(img: &IsoImage, src: &IsoImage, r: &mut Report) {
    let (theirs, ours) = match (&src.boot, &img.boot) {
        (Some(t), Some(o)) => (t, o),
        (None, None) => {
            r.ok(Check::SourceBoot, "neither image has a boot catalog");
            return;
        }
        (None, Some(_)) => {
            r.ok(
                Check::SourceBoot,
                "the source has no boot catalog to compare with",
            );
            return;
        }
        (Some(_), None) => {
            r.fail(
                Check::SourceBoot,
                "no El Torito boot catalog, where the source has one",
            );
            return;
        }
    };
    let mut problems = Vec::new();
    if theirs.entries.len() != ours.entries.len() {
        let list = |i: &IsoImage, es: &[BootEntry]| -> String {
            es.iter()
                .map(|e| format!("{} {}", platform_name(e.platform), image_name(i, e)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let n = |es: &[BootEntry]| match es.len() {
            1 => "1 entry".to_string(),
            n => format!("{n} entries"),
        };
        problems.push(format!(
            "the boot catalog has {} ({}), the source's {} ({})",
            n(&ours.entries),
            list(img, &ours.entries),
            n(&theirs.entries),
            list(src, &theirs.entries)
        ));
    }
    let mut same = Vec::new();
    for (i, (a, b)) in theirs.entries.iter().zip(&ours.entries).enumerate() {
        match compare_entry(src, a, img, b, i + 1) {
            Ok(how) => same.push(how),
            Err(mut p) => problems.append(&mut p),
        }
    }
    r.summarize(
        Check::SourceBoot,
        &problems,
        format!(
            "{} entries as the source's: {}",
            same.len(),
            same.join("; ")
        ),
    );
}

/// `/ISOLINUX.BIN`, or the LBA when no file starts there.
fn image_name(img: &IsoImage, e: &BootEntry) -> String {
    img.file_at(e.load_rba)
        .map_or(format!("LBA {} (not a file)", e.load_rba), |(p, _)| {
            format!("/{p}")
        })
}

/// How entry `n` of the image (`b`) differs from the source's (`a`), or
/// how it is the same.
fn compare_entry(
    src: &IsoImage,
    a: &BootEntry,
    img: &IsoImage,
    b: &BootEntry,
    n: usize,
) -> Result<String, Vec<String>> {
    let label = format!(
        "entry {n} ({} {})",
        platform_name(b.platform),
        image_name(img, b)
    );
    let mut problems = Vec::new();
    let mut field = |what: &str, ours: String, theirs: String| {
        if ours != theirs {
            problems.push(format!("{label}: {what} {ours}, the source's {theirs}"));
        }
    };
    field(
        "platform",
        platform_name(b.platform).into(),
        platform_name(a.platform).into(),
    );
    field("bootable", b.bootable.to_string(), a.bootable.to_string());
    field("emulation type", b.media.to_string(), a.media.to_string());
    let segment = |e: &BootEntry| match e.load_segment {
        0 => DEFAULT_SEGMENT,
        s => s,
    };
    field(
        "load segment",
        format!("{:#x}", segment(b)),
        format!("{:#x}", segment(a)),
    );
    field(
        "load size",
        format!("{} sectors", b.sector_count),
        format!("{} sectors", a.sector_count),
    );
    let content = match (src.file_at(a.load_rba), img.file_at(b.load_rba)) {
        (Some((pa, ra)), Some((pb, rb))) => {
            if !pa.eq_ignore_ascii_case(&pb) {
                problems.push(format!("{label}: loads /{pb}, the source's /{pa}"));
            }
            if ra.size != rb.size {
                problems.push(format!(
                    "{label}: /{pb} is {} bytes, the source's /{pa} {}",
                    rb.size, ra.size
                ));
                None
            } else {
                let table =
                    a.platform == PLATFORM_X86 && a.media == 0 && has_table(src, a, ra.size);
                Some((format!("/{pb}"), u64::from(ra.size), table))
            }
        }
        (None, None) => {
            // Not a file in either: compare what the firmware loads.
            let len = u64::from(a.sector_count.max(1)) * 512;
            Some((format!("LBA {}", b.load_rba), len, false))
        }
        _ => {
            problems.push(format!(
                "{label}: loads {}, the source's {}",
                image_name(img, b),
                image_name(src, a)
            ));
            None
        }
    };
    let mut how = format!(
        "{} {} ({}, load size {})",
        platform_name(b.platform),
        image_name(img, b),
        if b.media == 0 {
            "no emulation".to_string()
        } else {
            format!("emulation type {}", b.media)
        },
        b.sector_count
    );
    if let Some((name, len, table)) = content {
        let mask = table.then_some(TABLE);
        match difference(src, a.load_rba, img, b.load_rba, len, mask) {
            Err(e) => problems.push(format!("{label}: comparing with the source's: {e}")),
            Ok(Diff::At(at)) => problems.push(format!(
                "{label}: {name} differs from the source's from byte {at}{}",
                if table {
                    " (its code, not its boot-info-table)"
                } else {
                    ""
                }
            )),
            Ok(Diff::Same) => how.push_str(": the same bytes"),
            Ok(Diff::OnlyMasked) => match esxi::bios_table(img, b.load_rba, len as u32) {
                Ok(Some(t)) if t.is_valid() => how.push_str(
                    ": the same bytes apart from its boot-info-table, which is valid for \
                         this image",
                ),
                Ok(Some(t)) => problems.push(format!(
                    "{label}: the same code as the source's, but {}",
                    bad_table(name.trim_start_matches('/'), &t)
                )),
                Ok(None) => problems.push(format!(
                    "{label}: {name} is too short to hold a boot-info-table"
                )),
                Err(e) => problems.push(format!("{label}: {e:#}")),
            },
        }
    }
    if problems.is_empty() {
        Ok(how)
    } else {
        Err(problems)
    }
}

/// Whether the source's BIOS image carries a boot-info-table: one valid
/// for the source, or the all-zero placeholder an unpatched image holds
/// (a mastering tool fills it in either way).
fn has_table(src: &IsoImage, e: &BootEntry, size: u32) -> bool {
    match esxi::bios_table(src, e.load_rba, size) {
        Ok(Some(t)) => {
            t.is_valid() || (t.pvd_lba, t.file_lba, t.file_len, t.checksum) == (0, 0, 0, 0)
        }
        _ => false,
    }
}
