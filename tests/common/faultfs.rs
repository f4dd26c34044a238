//! A FUSE file system for fault tests: a passthrough of a backing folder
//! (served by a thread of the test process) whose reads of one file fail
//! with EIO from a chosen offset, or whose writes fail with EIO once a
//! chosen number of bytes has been written, as a failing disk or a flaky
//! NFS share would.
//!
//! Every file is opened with FOPEN_DIRECT_IO, so each read(2) and write(2)
//! of the program under test reaches this process with its own offset and
//! size (no page cache, no readahead): a fault lands exactly where it is
//! set. Attributes and entries are never cached either (TTL 0), so renames
//! and unlinks are seen at once.
//!
//! Only what esxi-iso does to its inputs and outputs is implemented:
//! lookup, getattr, setattr (size, mode), open, create, read, write,
//! fsync, rename (with RENAME_NOREPLACE), link, unlink, readdir.
//!
//! [`mount`] returns a guard that unmounts on drop (lazily, if something
//! still holds the mount), so no test leaves a mount behind; it returns
//! None after printing why when FUSE cannot be mounted here, and panics
//! instead under CI (CI=true), where a skipped test would hide a broken
//! setup.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use fuser::consts::FOPEN_DIRECT_IO;
use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, Request, TimeOrNow,
};
use libc::{EEXIST, EIO, ENOENT};

use super::tools;

const TTL: Duration = Duration::ZERO;

/// Where the faults are.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Reads of this file (relative to the backing folder) at or past this
    /// offset fail with EIO; a read across it returns the bytes before it.
    pub read_fails: Option<(PathBuf, u64)>,
    /// Writes fail with EIO once this many bytes were written, in all.
    pub writes_fail_after: Option<u64>,
}

struct FaultFs {
    backing: PathBuf,
    faults: Faults,
    /// Inode number - 1 → path relative to `backing` (inode 1 is the root).
    paths: Vec<PathBuf>,
    inodes: HashMap<PathBuf, u64>,
    handles: HashMap<u64, File>,
    next_fh: u64,
    written: u64,
}

fn errno(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(EIO)
}

impl FaultFs {
    fn ino(&mut self, rel: &Path) -> u64 {
        if let Some(&i) = self.inodes.get(rel) {
            return i;
        }
        self.paths.push(rel.to_path_buf());
        let i = self.paths.len() as u64;
        self.inodes.insert(rel.to_path_buf(), i);
        i
    }

    fn rel(&self, ino: u64) -> Option<PathBuf> {
        self.paths.get(ino as usize - 1).cloned()
    }

    fn child(&self, parent: u64, name: &OsStr) -> Option<PathBuf> {
        self.rel(parent).map(|p| p.join(name))
    }

    fn attr(&mut self, rel: &Path) -> Result<FileAttr, i32> {
        let m = fs::symlink_metadata(self.backing.join(rel)).map_err(|e| errno(&e))?;
        let ino = self.ino(rel);
        let time = |s: i64| UNIX_EPOCH + Duration::from_secs(s.max(0) as u64);
        Ok(FileAttr {
            ino,
            size: m.len(),
            blocks: m.blocks(),
            atime: time(m.atime()),
            mtime: time(m.mtime()),
            ctime: time(m.ctime()),
            crtime: time(m.mtime()),
            kind: if m.is_dir() {
                FileType::Directory
            } else {
                FileType::RegularFile
            },
            perm: (m.mode() & 0o7777) as u16,
            nlink: m.nlink() as u32,
            uid: m.uid(),
            gid: m.gid(),
            rdev: 0,
            blksize: 4096,
            flags: 0,
        })
    }

    fn keep(&mut self, f: File) -> u64 {
        self.next_fh += 1;
        self.handles.insert(self.next_fh, f);
        self.next_fh
    }

    /// How many of `size` bytes at `offset` of `rel` may be read: None when
    /// the read starts at or past the fault.
    fn readable(&self, rel: &Path, offset: u64, size: u64) -> Option<u64> {
        match &self.faults.read_fails {
            Some((p, at)) if p == rel => (offset < *at).then(|| size.min(at - offset)),
            _ => Some(size),
        }
    }
}

impl Filesystem for FaultFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let Some(rel) = self.child(parent, name) else {
            return reply.error(ENOENT);
        };
        match self.attr(&rel) {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let Some(rel) = self.rel(ino) else {
            return reply.error(ENOENT);
        };
        match self.attr(&rel) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let Some(rel) = self.rel(ino) else {
            return reply.error(ENOENT);
        };
        let path = self.backing.join(&rel);
        let result = (|| {
            if let Some(len) = size {
                OpenOptions::new().write(true).open(&path)?.set_len(len)?;
            }
            if let Some(m) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(m & 0o7777))?;
            }
            Ok::<_, std::io::Error>(())
        })();
        match result.map_err(|e| errno(&e)).and_then(|()| self.attr(&rel)) {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let Some(rel) = self.rel(ino) else {
            return reply.error(ENOENT);
        };
        let acc = flags & libc::O_ACCMODE;
        let f = OpenOptions::new()
            .read(acc != libc::O_WRONLY)
            .write(acc != libc::O_RDONLY)
            .open(self.backing.join(rel));
        match f {
            Ok(f) => {
                let fh = self.keep(f);
                reply.opened(fh, FOPEN_DIRECT_IO)
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let Some(rel) = self.child(parent, name) else {
            return reply.error(ENOENT);
        };
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .create_new(flags & libc::O_EXCL != 0)
            .truncate(flags & libc::O_TRUNC != 0)
            .mode(mode & !umask & 0o7777)
            .open(self.backing.join(&rel));
        let f = match f {
            Ok(f) => f,
            Err(e) => return reply.error(errno(&e)),
        };
        match self.attr(&rel) {
            Ok(a) => {
                let fh = self.keep(f);
                reply.created(&TTL, &a, 0, fh, FOPEN_DIRECT_IO)
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let (Some(rel), Some(f)) = (self.rel(ino), self.handles.get(&fh)) else {
            return reply.error(ENOENT);
        };
        let Some(n) = self.readable(&rel, offset as u64, u64::from(size)) else {
            return reply.error(EIO);
        };
        let mut buf = vec![0u8; n as usize];
        let mut got = 0;
        while got < buf.len() {
            match f.read_at(&mut buf[got..], offset as u64 + got as u64) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) => return reply.error(errno(&e)),
            }
        }
        reply.data(&buf[..got])
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let n = match self.faults.writes_fail_after {
            Some(limit) if self.written >= limit => return reply.error(EIO),
            Some(limit) => data.len().min((limit - self.written) as usize),
            None => data.len(),
        };
        let Some(f) = self.handles.get(&fh) else {
            return reply.error(ENOENT);
        };
        match f.write_all_at(&data[..n], offset as u64) {
            Ok(()) => {
                self.written += n as u64;
                reply.written(n as u32)
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _owner: u64, reply: ReplyEmpty) {
        reply.ok()
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.handles.remove(&fh);
        reply.ok()
    }

    fn fsync(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.handles.get(&fh).map(File::sync_data) {
            Some(Ok(())) => reply.ok(),
            Some(Err(e)) => reply.error(errno(&e)),
            None => reply.error(ENOENT),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let Some(rel) = self.child(parent, name) else {
            return reply.error(ENOENT);
        };
        match fs::remove_file(self.backing.join(&rel)) {
            Ok(()) => {
                self.inodes.remove(&rel);
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let (Some(from), Some(to)) = (self.child(parent, name), self.child(newparent, newname))
        else {
            return reply.error(ENOENT);
        };
        let dest = self.backing.join(&to);
        if flags & libc::RENAME_NOREPLACE != 0 && dest.symlink_metadata().is_ok() {
            return reply.error(EEXIST);
        }
        match fs::rename(self.backing.join(&from), &dest) {
            Ok(()) => {
                if let Some(ino) = self.inodes.remove(&from) {
                    self.paths[ino as usize - 1] = to.clone();
                    self.inodes.insert(to, ino);
                }
                reply.ok()
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn link(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let (Some(from), Some(to)) = (self.rel(ino), self.child(newparent, newname)) else {
            return reply.error(ENOENT);
        };
        if let Err(e) = fs::hard_link(self.backing.join(from), self.backing.join(&to)) {
            return reply.error(errno(&e));
        }
        match self.attr(&to) {
            Ok(a) => reply.entry(&TTL, &a, 0),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let Some(rel) = self.rel(ino) else {
            return reply.error(ENOENT);
        };
        let listing = match fs::read_dir(self.backing.join(&rel)) {
            Ok(rd) => rd,
            Err(e) => return reply.error(errno(&e)),
        };
        let mut entries = vec![
            (ino, FileType::Directory, ".".into()),
            (ino, FileType::Directory, "..".into()),
        ];
        let mut names: Vec<_> = listing.filter_map(Result::ok).collect();
        names.sort_by_key(|e| e.file_name());
        for e in names {
            let kind = match e.file_type() {
                Ok(t) if t.is_dir() => FileType::Directory,
                _ => FileType::RegularFile,
            };
            let child = self.ino(&rel.join(e.file_name()));
            entries.push((child, kind, e.file_name()));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(ino, i as i64 + 1, kind, name) {
                break;
            }
        }
        reply.ok()
    }
}

/// A mounted [`FaultFs`]; unmounts when dropped.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    pub dir: PathBuf,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // Dropping the session unmounts (and ends its thread). If the mount
        // is still busy, detach it so the folder can go.
        drop(self.session.take());
        if is_mounted(&self.dir) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.dir)
                .status();
        }
    }
}

fn is_mounted(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    fs::read_to_string("/proc/self/mountinfo").is_ok_and(|t| {
        t.lines()
            .any(|l| l.split(' ').nth(4) == Some(dir.to_string_lossy().as_ref()))
    })
}

/// Serves `backing` at `dir` (an empty folder) with `faults`. None (after
/// a message) where FUSE cannot be mounted outside CI.
pub fn mount(backing: &Path, dir: &Path, faults: Faults) -> Option<Mounted> {
    let fs = FaultFs {
        backing: backing.to_path_buf(),
        faults,
        paths: vec![PathBuf::new()],
        inodes: HashMap::from([(PathBuf::new(), 1)]),
        handles: HashMap::new(),
        next_fh: 0,
        written: 0,
    };
    let options = [MountOption::FSName("esxi-iso-faultfs".into())];
    match fuser::spawn_mount2(fs, dir, &options) {
        Ok(session) => Some(Mounted {
            session: Some(session),
            dir: dir.to_path_buf(),
        }),
        Err(e) => {
            tools::unavailable(&format!(
                "cannot mount a FUSE file system at {} ({e}): needs /dev/fuse and root",
                dir.display()
            ));
            None
        }
    }
}
