//! Moving bytes from one file to another, the cheapest way the file
//! systems allow: a clone (`FICLONERANGE`: the output shares the input's
//! blocks on Btrfs, XFS, ZFS 2.2+ and other reflink file systems), a
//! kernel copy (`copy_file_range`), or read/write through user space
//! across file systems that refuse both. Also the errors of all of it,
//! which name the file that failed, the operation and the offset.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What failed: opening or reading an input, or writing the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Open,
    Read,
    Write,
}

/// An I/O error of [`write_segments`](super::writer::write_segments), as the payload of the `io::Error`
/// it returns (same kind): the operation, the input file for a read (the
/// caller names the output), and the byte offset in that file.
#[derive(Debug, thiserror::Error)]
#[error("{} at offset {offset}: {source}", match op { Op::Open => "opening", Op::Read => "reading", Op::Write => "writing" })]
pub struct Failed {
    pub op: Op,
    pub input: Option<PathBuf>,
    pub offset: u64,
    pub source: io::Error,
}

pub fn failed(op: Op, input: Option<&Path>, offset: u64, e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::Interrupted || e.get_ref().is_some_and(|r| r.is::<Failed>()) {
        return e;
    }
    io::Error::new(
        e.kind(),
        Failed {
            op,
            input: input.map(Path::to_path_buf),
            offset,
            source: e,
        },
    )
}

/// Whether an error of [`write_segments`](super::writer::write_segments) is an input's (opening or
/// reading a source), rather than the output's.
pub fn input_failed(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|r| r.downcast_ref::<Failed>())
        .is_some_and(|f| f.input.is_some() && f.op != Op::Write)
}

/// The message for an error of [`write_image`](super::writer::write_image) or [`write_segments`](super::writer::write_segments):
/// "reading SOURCE at offset N: ..." for a failing input, "writing OUTPUT
/// at offset N: ..." for a failing output. Cancels are the caller's.
pub fn describe(e: io::Error, output: &Path) -> anyhow::Error {
    if !e.get_ref().is_some_and(|r| r.is::<Failed>()) {
        return anyhow::Error::new(e).context(format!("writing {}", output.display()));
    }
    let f = *e
        .into_inner()
        .and_then(|b| b.downcast::<Failed>().ok())
        .expect("checked above");
    // Reads and opens of write_segments always name their input.
    let (verb, file) = match (f.op, &f.input) {
        (Op::Open, Some(p)) => {
            return anyhow::Error::new(f.source).context(format!("opening {}", p.display()))
        }
        (Op::Read, Some(p)) => ("reading", p.as_path()),
        (Op::Open | Op::Read | Op::Write, _) => ("writing", output),
    };
    anyhow::Error::new(f.source).context(format!(
        "{verb} {} at offset {}",
        file.display(),
        f.offset
    ))
}

/// The block size clones must be aligned to on `out`'s file system, when
/// it is one a clone can use (a power of two from 512 bytes to 1 MiB).
pub fn clone_block(out: &File) -> Option<u64> {
    let b = out.metadata().ok()?.blksize();
    (b.is_power_of_two() && (512..=1 << 20).contains(&b)).then_some(b)
}

/// Makes `dst[off_out..off_out + len]` share `src[off_in..off_in + len]`'s
/// blocks (`FICLONERANGE`). Offsets and length must be block-aligned.
pub fn clone_range(src: &File, off_in: u64, dst: &File, off_out: u64, len: u64) -> io::Result<()> {
    let range = libc::file_clone_range {
        src_fd: i64::from(src.as_raw_fd()),
        src_offset: off_in,
        src_length: len,
        dest_offset: off_out,
    };
    loop {
        // SAFETY: valid descriptors and a clone range that lives across the call.
        let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONERANGE, &range) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Asks the kernel to start writing a range back now (without waiting),
/// so the final fsync has little left to do. Advisory: errors are ignored.
pub(crate) fn start_writeback(out: &File, offset: u64, len: u64) {
    // SAFETY: a valid fd; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(
            out.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// The file systems or the kernel do not offer this way of copying.
pub fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOTTY)
    )
}

pub fn copy_range(
    src: &File,
    mut off_in: u64,
    dst: &File,
    mut off_out: u64,
    mut len: u64,
) -> io::Result<()> {
    while len > 0 {
        let mut i = off_in as libc::loff_t;
        let mut o = off_out as libc::loff_t;
        // SAFETY: valid fds and offset pointers for the duration of the call.
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut i,
                dst.as_raw_fd(),
                &mut o,
                len as usize,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "source ended early",
            ));
        }
        off_in += n as u64;
        off_out += n as u64;
        len -= n as u64;
    }
    Ok(())
}

/// Copies with read and write; errors say which side failed (`name`
/// names the input, when known).
pub fn copy_range_userspace(
    src: &File,
    name: Option<&Path>,
    off_in: u64,
    dst: &File,
    off_out: u64,
    len: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        read_exact_at(src, name, &mut buf[..n], off_in + done)?;
        dst.write_all_at(&buf[..n], off_out + done)
            .map_err(|e| failed(Op::Write, None, off_out + done, e))?;
        done += n as u64;
    }
    Ok(())
}

/// `read_exact_at`, its error naming the input and the first offset that
/// could not be read.
pub fn read_exact_at(
    src: &File,
    name: Option<&Path>,
    buf: &mut [u8],
    offset: u64,
) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let at = offset + got as u64;
        match src.read_at(&mut buf[got..], at) {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended early");
                return Err(failed(Op::Read, name, at, e));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(Op::Read, name, at, e)),
        }
    }
    Ok(())
}
