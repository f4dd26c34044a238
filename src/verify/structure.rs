//! The structure checks of `verify`: volume descriptors, directories
//! (`.`/`..` and bounds), file extents, and the trailing pad. They read
//! metadata only; booting and contents are `boot` and `contents`.

use super::{label, trees, Check, Report};
use crate::iso::format::{Lba, FLAG_MULTI_EXTENT, TRAILING_PAD_SECTORS};
use crate::iso::IsoImage;

pub(super) fn check_descriptors(img: &IsoImage, r: &mut Report) {
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

/// `.` names its own directory, `..` its parent (the root: itself), and
/// every directory lies inside the volume.
pub(super) fn check_directories(img: &IsoImage, r: &mut Report) {
    let volume_end = Lba(img.pvd().volume_space()).offset();
    let mut problems = Vec::new();
    let mut count = 0usize;
    let mut self_parents = 0usize;
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
            if tree.joliet && d.parent.is_some() && d.records[1].extent == d.extent {
                self_parents += 1;
            } else if d.records[1].extent != parent {
                problems.push(format!(
                    "{name} directory {} (LBA {}): its .. record points at LBA {}, not its parent's LBA {parent}",
                    label(&d.path),
                    d.extent,
                    d.records[1].extent
                ));
            }
        }
    }
    let detail = format!("{count} directories, all records in bounds");
    if problems.is_empty() && self_parents > 0 {
        // xorriso 1.5 writes these; readers find parents by path, not by
        // Joliet `..` records, so such images read and boot as usual.
        r.warn(
            Check::Directories,
            format!(
                "{detail}; {self_parents} Joliet directories have a .. record pointing at \
                 themselves, as xorriso 1.5 writes them (readers do not follow it)"
            ),
        );
    } else {
        r.summarize(Check::Directories, &problems, detail);
    }
}

/// Each file is one extent, not interleaved, inside the volume and after
/// the volume descriptors.
pub(super) fn check_files(img: &IsoImage, r: &mut Report) {
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
pub(super) fn check_pad(img: &IsoImage, r: &mut Report) {
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
