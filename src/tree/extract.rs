//! Extracting: every file of an ISO written to a directory, with a
//! `.esxi-iso.toml` record ([`TreeManifest`]) of what `pack` needs to
//! master it again (volume id, trees, El Torito entries and catalog path).
//!
//! Names are the ones the ESXi loader sees (primary names without `;1`), or
//! the Rock Ridge names when the image has them. Everything is checked
//! before the first byte is written: a name that could leave DIR (`..`,
//! `/`, NUL), a Rock Ridge symlink, device, or relocated directory, a
//! multi-extent file, or a duplicate name refuses the whole extract.
//! File data is copied by the kernel from the image.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{BootEntry, Platform, TreeManifest, MANIFEST};
use crate::esxi;
use crate::failure::{self, Failure};
use crate::iso::eltorito::{PLATFORM_EFI, PLATFORM_X86};
use crate::iso::format::Lba;
use crate::iso::reader::{loader_name, rock_ridge_areas, rock_ridge_name_of};
use crate::iso::record::{su_entries, Record};
use crate::iso::{master, IsoImage};
use crate::signals;

/// One thing to create under DIR, parents first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Dir(String),
    File {
        path: String,
        extent: u32,
        size: u32,
    },
}

/// What an extract writes, checked in full before the first byte.
pub struct ExtractPlan {
    items: Vec<Item>,
    manifest: TreeManifest,
    /// Bytes of file data.
    pub bytes: u64,
    pub files: usize,
}

/// Writes the plan into `dir` (created, or empty unless `force`), then the
/// record; returns the record's path. `progress` gets bytes written.
pub fn write(
    img: &IsoImage,
    plan: &ExtractPlan,
    dir: &Path,
    force: bool,
    progress: &dyn Fn(u64),
) -> Result<PathBuf> {
    prepare_dir(dir, force)?;
    write_items(img, &plan.items, dir, progress)?;
    let record = dir.join(MANIFEST);
    fs::write(&record, plan.manifest.to_text()?)
        .with_context(|| format!("writing {}", record.display()))?;
    Ok(record)
}

/// Walks the primary tree and checks every name before anything is written.
pub fn plan(img: &IsoImage) -> Result<ExtractPlan> {
    let tree = &img.primary;
    let mut dir_paths: Vec<Option<String>> = vec![None; tree.dirs.len()];
    dir_paths[0] = Some(String::new());
    let mut items = Vec::new();
    let mut by_extent = std::collections::HashMap::new();
    let (mut bytes, mut files) = (0u64, 0usize);
    for (di, d) in tree.dirs.iter().enumerate() {
        let Some(here) = dir_paths[di].clone() else {
            continue;
        };
        let mut seen = std::collections::HashSet::new();
        for (ri, r) in d.records.iter().enumerate() {
            if r.is_self_or_parent() {
                continue;
            }
            let name = match img.rock_ridge {
                Some(_) => {
                    rock_ridge_name_of(img, r).unwrap_or_else(|| loader_name(r.identifier()))
                }
                None => loader_name(r.identifier()),
            };
            let path = if here.is_empty() {
                name.clone()
            } else {
                format!("{here}/{name}")
            };
            check_name(&name, &here)?;
            if here.is_empty() && name == MANIFEST {
                bail!("refusing /{name}: it would overwrite the extract record");
            }
            check_rock_ridge(img, r, &path)?;
            if !seen.insert(name.clone()) {
                bail!("refusing /{path}: two entries of one directory have this name");
            }
            if r.is_dir() {
                match d.children.iter().find(|(i, _)| *i == ri) {
                    Some(&(_, child)) => dir_paths[child] = Some(path.clone()),
                    None => bail!("directory /{path} could not be read"),
                }
                items.push(Item::Dir(path));
            } else {
                if r.is_multi_extent() {
                    bail!("refusing /{path}: multi-extent files are not supported");
                }
                let end = Lba(r.extent).offset() + u64::from(r.size);
                if end > img.len {
                    bail!(
                        "/{path} (LBA {}, {} bytes) runs past the end of the image",
                        r.extent,
                        r.size
                    );
                }
                by_extent.entry(r.extent).or_insert_with(|| path.clone());
                bytes += u64::from(r.size);
                files += 1;
                items.push(Item::File {
                    path,
                    extent: r.extent,
                    size: r.size,
                });
            }
        }
    }
    let manifest = manifest(img, &by_extent)?;
    Ok(ExtractPlan {
        items,
        manifest,
        bytes,
        files,
    })
}

/// Refuses names that would leave DIR or can't be file names.
fn check_name(name: &str, dir: &str) -> Result<()> {
    let at = if dir.is_empty() { "/" } else { dir };
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        bail!("refusing an entry of {at} named {name:?}: it would escape the target directory");
    }
    Ok(())
}

/// Refuses Rock Ridge symlinks, devices and relocated directories.
fn check_rock_ridge(img: &IsoImage, r: &Record, path: &str) -> Result<()> {
    let Some((area, cont)) = rock_ridge_areas(img, r) else {
        return Ok(());
    };
    for e in su_entries(&area).chain(su_entries(&cont)) {
        match &e.sig {
            b"SL" => bail!("refusing /{path}: it is a symbolic link"),
            b"CL" | b"RE" | b"PL" => {
                bail!(
                    "refusing /{path}: relocated directories (Rock Ridge CL/RE) are not supported"
                )
            }
            b"PX" if e.data.len() >= 4 => {
                let mode = u32::from_le_bytes([e.data[0], e.data[1], e.data[2], e.data[3]]);
                let kind = mode & 0o170_000;
                let want = if r.is_dir() { 0o040_000 } else { 0o100_000 };
                if kind == 0o120_000 {
                    bail!("refusing /{path}: it is a symbolic link");
                }
                if kind != want && kind != 0 {
                    bail!("refusing /{path}: it is a special file (mode {mode:o}), not a regular file or directory");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn manifest(
    img: &IsoImage,
    by_extent: &std::collections::HashMap<u32, String>,
) -> Result<TreeManifest> {
    let mut m = TreeManifest {
        volume_id: img.volume_id(),
        rock_ridge: img.rock_ridge.is_some(),
        joliet: img.joliet.is_some(),
        catalog: None,
        entries: Vec::new(),
    };
    let Some(cat) = &img.boot else {
        return Ok(m);
    };
    m.catalog = Some(match by_extent.get(&cat.lba) {
        Some(p) => format!("/{p}"),
        None => "/BOOT.CAT".into(),
    });
    for e in &cat.entries {
        let platform = match e.platform {
            PLATFORM_X86 => Platform::Bios,
            PLATFORM_EFI => Platform::Uefi,
            p => bail!(
                "El Torito entry for platform {p:#04x}: only BIOS and UEFI entries are supported"
            ),
        };
        let Some(image) = by_extent.get(&e.load_rba) else {
            bail!(
                "the {platform:?} boot image at LBA {} is not a file on the ISO, so it cannot be extracted",
                e.load_rba
            );
        };
        let no_emulation = e.media == 0;
        let boot_info_table = if platform == Platform::Bios && no_emulation {
            let size = img
                .files()
                .map(|(_, en)| img.record(en))
                .find(|r| r.extent == e.load_rba)
                .map_or(0, |r| r.size);
            esxi::bios_table(img, e.load_rba, size)?.is_some_and(|t| t.is_valid())
        } else {
            false
        };
        m.entries.push(BootEntry {
            platform,
            image: format!("/{image}"),
            load_size: e.sector_count,
            boot_info_table,
            no_emulation,
        });
    }
    Ok(m)
}

/// Creates DIR, or checks it is empty (any content with `force`) and not a
/// symlink.
fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    match dir.symlink_metadata() {
        Ok(m) if m.file_type().is_symlink() => {
            bail!(
                "{} is a symbolic link: give the real directory",
                dir.display()
            )
        }
        Ok(m) if !m.is_dir() => bail!("{} exists and is not a directory", dir.display()),
        Ok(_) => {
            let mut entries =
                fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
            if entries.next().is_some() && !force {
                return Err(failure::error(
                    Failure::OutputExists,
                    format!(
                        "{} is not empty: pass --force to write into it",
                        dir.display()
                    ),
                ));
            }
        }
        Err(_) => fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?,
    }
    Ok(())
}

fn write_items(img: &IsoImage, items: &[Item], dir: &Path, progress: &dyn Fn(u64)) -> Result<()> {
    for item in items {
        if signals::cancelled() {
            bail!(signals::Interrupted);
        }
        match item {
            Item::Dir(p) => {
                let path = dir.join(p);
                match path.symlink_metadata() {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => bail!(
                        "{} exists and is not a directory (or is a symlink)",
                        path.display()
                    ),
                    Err(_) => fs::create_dir(&path)
                        .with_context(|| format!("creating {}", path.display()))?,
                }
            }
            Item::File { path, extent, size } => {
                let dest: PathBuf = dir.join(path);
                let out = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&dest)
                    .with_context(|| {
                        format!("creating {} (symlinks are not followed)", dest.display())
                    })?;
                copy_out(&img.file, Lba(*extent).offset(), &out, u64::from(*size))
                    .with_context(|| format!("writing {} from LBA {extent}", dest.display()))?;
                progress(u64::from(*size));
            }
        }
    }
    Ok(())
}

fn copy_out(src: &File, offset: u64, out: &File, len: u64) -> std::io::Result<()> {
    master::copy_extent(src, offset, out, 0, len)?;
    out.set_len(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_names_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a\0b", "/etc"] {
            assert!(check_name(bad, "EFI").is_err(), "{bad:?}");
        }
        for good in ["BOOT.CFG", "isolinux.cfg", "..a", "a..b"] {
            assert!(check_name(good, "").is_ok(), "{good:?}");
        }
    }
}
