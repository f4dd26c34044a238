//! Writing outputs safely: a temporary file in the destination directory,
//! fsync, then a rename that refuses to clobber unless forced. A dropped
//! [`AtomicFile`] (error, Ctrl-C) removes its temporary.
//!
//! Outputs get the mode any new file gets (`0666 & ~umask`, as `cp`,
//! xorriso and genisoimage create theirs), not the temporary's 0600, so a
//! web server or an NFS export can serve them; a file replaced with
//! `--force` keeps the mode it had.
//!
//! Also here: the `<OUTPUT>.sha256` file written next to every ISO, and
//! SOURCE_DATE_EPOCH, which makes outputs reproducible.

use std::cell::Cell;
use std::fs::{File, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

use crate::failure::{self, Failure};

/// `e` without the path tempfile adds to its messages: the error's kind
/// and OS code only.
fn without_path(e: std::io::Error) -> std::io::Error {
    match e.raw_os_error() {
        Some(code) => std::io::Error::from_raw_os_error(code),
        None => std::io::Error::from(e.kind()),
    }
}

/// The error for an output that exists and may not be replaced.
pub fn exists_error(dest: &Path) -> anyhow::Error {
    failure::error(
        Failure::OutputExists,
        format!(
            "{} already exists: pass --force to overwrite it",
            dest.display()
        ),
    )
}

pub struct AtomicFile {
    tmp: NamedTempFile,
    dest: PathBuf,
    force: bool,
    /// [`AtomicFile::sync`] ran: commit only renames.
    synced: Cell<bool>,
}

impl AtomicFile {
    /// Refuses an existing `dest` without `force`; creates the temporary.
    pub fn create(dest: &Path, force: bool) -> Result<AtomicFile> {
        if !force && dest.symlink_metadata().is_ok() {
            return Err(exists_error(dest));
        }
        let dir = parent_dir(dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The kernel applies the umask to the mode given to open(2).
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .permissions(Permissions::from_mode(0o666))
            .tempfile_in(&dir)
            .map_err(|e| {
                // tempfile's error names the temporary; the user knows
                // only the output.
                anyhow::Error::new(without_path(e)).context(format!(
                    "cannot write {} in {}",
                    dest.display(),
                    dir.display()
                ))
            })?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            force,
            synced: Cell::new(false),
        })
    }

    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Gives the temporary its final mode and flushes it to disk, data and
    /// metadata, so that [`AtomicFile::commit`] is left with the rename.
    /// Call it when nothing more will be written.
    pub fn sync(&self) -> Result<()> {
        if self.force {
            self.keep_mode_of_replaced()?;
        }
        self.tmp
            .as_file()
            .sync_all()
            .with_context(|| format!("flushing {} to disk", self.dest.display()))?;
        self.synced.set(true);
        Ok(())
    }

    /// Flushes to disk (unless [`AtomicFile::sync`] did), renames into
    /// place, and flushes the directory.
    pub fn commit(self) -> Result<()> {
        let dir = parent_dir(&self.dest);
        self.commit_leaving_dir_sync()?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// [`AtomicFile::commit`] without flushing the directory: for a caller
    /// that renames another file into the same directory next and flushes
    /// it then, once for both.
    pub fn commit_leaving_dir_sync(self) -> Result<()> {
        if !self.synced.get() {
            self.sync()?;
        }
        let dest = self.dest;
        let result = if self.force {
            self.tmp.persist(&dest).map(|_| ())
        } else {
            self.tmp.persist_noclobber(&dest).map(|_| ())
        };
        result.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                failure::error(
                    Failure::OutputExists,
                    format!(
                        "{} appeared while building: pass --force to overwrite it",
                        dest.display()
                    ),
                )
            } else {
                anyhow::Error::new(without_path(e.error))
                    .context(format!("renaming the finished file to {}", dest.display()))
            }
        })
    }
}

impl AtomicFile {
    /// Gives the temporary the permission bits of the regular file it is
    /// about to replace (set-id bits dropped, as `cp` does for a new file).
    fn keep_mode_of_replaced(&self) -> Result<()> {
        let Ok(old) = std::fs::symlink_metadata(&self.dest) else {
            return Ok(());
        };
        if !old.file_type().is_file() {
            return Ok(());
        }
        let mode = old.mode() & 0o1777;
        self.tmp
            .as_file()
            .set_permissions(Permissions::from_mode(mode))
            .with_context(|| {
                format!(
                    "giving the new {} the mode {mode:o} of the file it replaces",
                    self.dest.display()
                )
            })
    }
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes small bytes atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let f = AtomicFile::create(dest, force)?;
    f.file()
        .write_all(bytes)
        .with_context(|| format!("writing {}", dest.display()))?;
    f.commit()
}

/// Refuses an output that is the source itself, by path, symlink or hard
/// link, so the source can never be truncated.
pub fn refuse_same_file(source: &Path, dest: &Path) -> Result<()> {
    let src = std::fs::metadata(source).with_context(|| format!("reading {}", source.display()))?;
    if let Ok(d) = std::fs::metadata(dest) {
        if d.dev() == src.dev() && d.ino() == src.ino() {
            return Err(failure::error(
                Failure::Usage,
                format!(
                    "output {} is the source ISO itself (same file): choose another output path",
                    dest.display()
                ),
            ));
        }
    }
    Ok(())
}

/// `<ISO>.sha256`, the checksum file written next to each output ISO.
pub fn checksum_path(iso: &Path) -> PathBuf {
    let mut p = iso.as_os_str().to_owned();
    p.push(".sha256");
    PathBuf::from(p)
}

/// Writes `<output>.sha256` in the format `sha256sum -c` reads.
pub fn write_checksum_file(output: &Path, sha256: &str, force: bool) -> Result<()> {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    write_atomic(
        &checksum_path(output),
        format!("{sha256}  {name}\n").as_bytes(),
        force,
    )
}

/// Reads SOURCE_DATE_EPOCH (seconds since 1970) if set.
pub fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.trim().is_empty() => {
            s.trim().parse().map(Some).with_context(|| {
                format!("SOURCE_DATE_EPOCH={s:?} is not a whole number of seconds")
            })
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_clobber_and_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.iso");
        write_atomic(&dest, b"one", false).unwrap();
        assert!(write_atomic(&dest, b"two", false)
            .unwrap_err()
            .to_string()
            .contains("--force"));
        write_atomic(&dest, b"two", true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"two");
        {
            let f = AtomicFile::create(&dir.path().join("x.iso"), false).unwrap();
            f.file().write_all(b"partial").unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out.iso"]);
    }

    #[test]
    fn a_forced_replacement_keeps_the_mode_of_the_file_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a");
        write_atomic(&dest, b"1", false).unwrap();
        std::fs::set_permissions(&dest, Permissions::from_mode(0o4640)).unwrap();
        write_atomic(&dest, b"2", true).unwrap();
        let meta = std::fs::metadata(&dest).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640, "mode kept, set-uid dropped");
        assert_eq!(std::fs::read(&dest).unwrap(), b"2");
    }

    #[test]
    fn same_file_refused_through_links() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.iso");
        std::fs::write(&src, b"x").unwrap();
        std::fs::hard_link(&src, dir.path().join("b.iso")).unwrap();
        std::os::unix::fs::symlink(&src, dir.path().join("c.iso")).unwrap();
        for d in ["a.iso", "b.iso", "c.iso"] {
            assert!(refuse_same_file(&src, &dir.path().join(d)).is_err(), "{d}");
        }
        assert!(refuse_same_file(&src, &dir.path().join("d.iso")).is_ok());
    }
}
