//! Streaming a [`Layout`] to the output file.
//!
//! Unchanged ranges are copied by the kernel (`copy_file_range`, falling
//! back to read/write across file systems that refuse it). A second thread
//! hashes the same byte stream (reading the source through the page cache
//! and the new bytes from memory) while the kernel copies, so the SHA-256
//! costs no second pass over the output.
//!
//! An I/O error says which file failed, how and where ([`Failed`]):
//! `copy_file_range` reports one errno for both ends, so a failed kernel
//! copy is retried with read/write, which tells a failing source disk from
//! a failing output disk.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::layout::{Layout, Segment};

/// Bytes per copy call: the unit of progress and of cancellation checks.
const CHUNK: u64 = 8 << 20;

/// Callbacks for a long write: progress in bytes, and a cancel check.
pub struct Watch<'a> {
    pub progress: &'a (dyn Fn(u64) + Sync),
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

/// What failed: opening or reading an input, writing or flushing the
/// output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Open,
    Read,
    Write,
    Flush,
}

/// An I/O error of [`write_segments`], as the payload of the `io::Error`
/// it returns (same kind): the operation, the input file for a read (the
/// caller names the output), and the byte offset in that file.
#[derive(Debug, thiserror::Error)]
#[error("{} at offset {offset}: {source}", match op { Op::Open => "opening", Op::Read => "reading", Op::Write => "writing", Op::Flush => "flushing" })]
pub struct Failed {
    pub op: Op,
    pub input: Option<PathBuf>,
    pub offset: u64,
    pub source: io::Error,
}

fn failed(op: Op, input: Option<&Path>, offset: u64, e: io::Error) -> io::Error {
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

/// The message for an error of [`write_image`] or [`write_segments`]:
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
        (Op::Flush, _) => ("flushing", output),
    };
    anyhow::Error::new(f.source).context(format!(
        "{verb} {} at offset {}",
        file.display(),
        f.offset
    ))
}

/// Streams `layout` from `source` (named `source_path` in errors) into
/// `out` (from offset 0) and returns the SHA-256 of everything written. A
/// cancel (Ctrl-C) ends it with [`io::ErrorKind::Interrupted`].
pub fn write_image(
    source: &File,
    source_path: &Path,
    layout: &Layout,
    out: &File,
    watch: &Watch<'_>,
) -> io::Result<[u8; 32]> {
    write_segments(
        Some((source, source_path)),
        &layout.segments(),
        layout.total_len(),
        out,
        watch,
    )
}

/// Streams `segments` into `out` (from offset 0), `total_len` bytes in all,
/// and returns their SHA-256; `source` backs [`Segment::Source`].
pub fn write_segments(
    source: Option<(&File, &Path)>,
    segments: &[Segment<'_>],
    total_len: u64,
    out: &File,
    watch: &Watch<'_>,
) -> io::Result<[u8; 32]> {
    std::thread::scope(|s| {
        let hasher = s.spawn(|| hash_segments(source, segments, watch));
        // The copy usually finishes first: flushing it to disk then overlaps
        // the rest of the hashing instead of following it.
        let written = copy_segments(source, segments, out, watch)
            .and_then(|()| {
                out.set_len(total_len)
                    .map_err(|e| failed(Op::Write, None, total_len, e))
            })
            .and_then(|()| {
                out.sync_data()
                    .map_err(|e| failed(Op::Flush, None, total_len, e))
            });
        let hashed = hasher
            .join()
            .map_err(|_| io::Error::other("hashing thread panicked"))?;
        written?;
        hashed
    })
}

fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "interrupted")
}

/// A data segment's input: the source image, or a tree file opened for
/// the time it is read (and checked to still have the size planned).
enum Input<'a> {
    Source(&'a File),
    Opened(File),
}

impl std::ops::Deref for Input<'_> {
    type Target = File;
    fn deref(&self) -> &File {
        match self {
            Input::Source(f) => f,
            Input::Opened(f) => f,
        }
    }
}

/// The input of a data segment, its name, and the range to read.
fn segment_input<'a>(
    seg: &Segment<'a>,
    source: Option<(&'a File, &'a Path)>,
) -> io::Result<(Input<'a>, &'a Path, u64, u64)> {
    match *seg {
        Segment::File { path, len } => {
            let f = File::open(path).map_err(|e| failed(Op::Open, Some(path), 0, e))?;
            let now = f
                .metadata()
                .map_err(|e| failed(Op::Open, Some(path), 0, e))?
                .len();
            if now != len {
                let e = io::Error::other(format!(
                    "it changed size while packing ({len} bytes, now {now})"
                ));
                return Err(failed(Op::Open, Some(path), 0, e));
            }
            Ok((Input::Opened(f), path, 0, len))
        }
        Segment::Source { offset, len } => {
            let (f, name) = source
                .ok_or_else(|| io::Error::other("a source segment without a source image"))?;
            Ok((Input::Source(f), name, offset, len))
        }
        Segment::Bytes(_) | Segment::Zeros(_) => unreachable!("not a data segment"),
    }
}

fn copy_segments(
    source: Option<(&File, &Path)>,
    segments: &[Segment<'_>],
    out: &File,
    watch: &Watch<'_>,
) -> io::Result<()> {
    let mut pos = 0u64;
    let mut kernel_copy = true;
    for seg in segments {
        match *seg {
            Segment::Source { .. } | Segment::File { .. } => {
                let (from, name, offset, len) = segment_input(seg, source)?;
                let from = &*from;
                let mut done = 0u64;
                while done < len {
                    let n = (len - done).min(CHUNK);
                    let userspace =
                        || copy_range_userspace(from, Some(name), offset + done, out, pos, n);
                    if kernel_copy {
                        match copy_range(from, offset + done, out, pos, n) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                            Err(e) => {
                                // Unsupported: read/write from now on. Any
                                // other error: read/write this chunk, which
                                // fails again on the side that is failing.
                                kernel_copy = !is_unsupported(&e);
                                userspace()?;
                            }
                        }
                    } else {
                        userspace()?;
                    }
                    start_writeback(out, pos, n);
                    done += n;
                    pos += n;
                    (watch.progress)(pos);
                    if (watch.cancelled)() {
                        return Err(aborted());
                    }
                }
            }
            Segment::Bytes(b) => {
                out.write_all_at(b, pos)
                    .map_err(|e| failed(Op::Write, None, pos, e))?;
                pos += b.len() as u64;
                (watch.progress)(pos);
                if (watch.cancelled)() {
                    return Err(aborted());
                }
            }
            Segment::Zeros(n) => {
                // Left as a hole; set_len at the end fixes the length.
                pos += n;
            }
        }
    }
    Ok(())
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

/// Copies `len` bytes between files, by the kernel when it can.
pub fn copy_extent(src: &File, off_in: u64, dst: &File, off_out: u64, len: u64) -> io::Result<()> {
    match copy_range(src, off_in, dst, off_out, len) {
        Err(e) if is_unsupported(&e) => copy_range_userspace(src, None, off_in, dst, off_out, len),
        other => other,
    }
}

fn is_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP)
    )
}

pub(super) fn copy_range(
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
fn copy_range_userspace(
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
fn read_exact_at(src: &File, name: Option<&Path>, buf: &mut [u8], offset: u64) -> io::Result<()> {
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

fn hash_segments(
    source: Option<(&File, &Path)>,
    segments: &[Segment<'_>],
    watch: &Watch<'_>,
) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    // Small enough to stay in the L2 cache between the read and the hash.
    let mut buf = vec![0u8; 256 << 10];
    let zeros = vec![0u8; 1 << 16];
    for seg in segments {
        match *seg {
            Segment::Source { .. } | Segment::File { .. } => {
                let (from, name, offset, len) = segment_input(seg, source)?;
                let from = &*from;
                let mut done = 0u64;
                while done < len {
                    let n = (len - done).min(buf.len() as u64) as usize;
                    read_exact_at(from, Some(name), &mut buf[..n], offset + done)?;
                    h.update(&buf[..n]);
                    done += n as u64;
                    if done % (4 << 20) == 0 && (watch.cancelled)() {
                        return Err(aborted());
                    }
                }
            }
            Segment::Bytes(b) => h.update(b),
            Segment::Zeros(mut n) => {
                while n > 0 {
                    let k = n.min(zeros.len() as u64) as usize;
                    h.update(&zeros[..k]);
                    n -= k as u64;
                }
            }
        }
    }
    Ok(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Write;

    #[test]
    fn output_and_hash_match_layout() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        let mut src = File::create(&src_path).unwrap();
        let data: Vec<u8> = (0..(40 * 2048 + 100)).map(|i| (i % 251) as u8).collect();
        src.write_all(&data).unwrap();
        let src = File::open(&src_path).unwrap();
        let mut overrides = BTreeMap::new();
        overrides.insert(3, vec![7u8; 2048]);
        let layout = Layout {
            source_len: data.len() as u64,
            base_end: 41 * 2048,
            overrides,
            tail: vec![9u8; 4096],
            pad: 3 * 2048,
        };
        let out = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("out"))
            .unwrap();
        let digest = write_image(
            &src,
            &src_path,
            &layout,
            &out,
            &Watch {
                progress: &|_| {},
                cancelled: &|| false,
            },
        )
        .unwrap();
        let got = std::fs::read(dir.path().join("out")).unwrap();
        let mut want = data.clone();
        want[3 * 2048..4 * 2048].fill(7);
        want.resize(41 * 2048, 0);
        want.extend(vec![9u8; 4096]);
        want.resize(want.len() + 3 * 2048, 0);
        assert_eq!(got, want);
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(&want)));
    }

    #[test]
    fn errors_name_the_failing_file_operation_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src.iso");
        std::fs::write(&src_path, vec![1u8; 3 * 2048]).unwrap();
        let out_path = dir.path().join("out.iso");
        std::fs::write(&out_path, b"").unwrap();
        let layout = Layout {
            source_len: 3 * 2048,
            base_end: 3 * 2048,
            overrides: BTreeMap::new(),
            tail: vec![2u8; 2048],
            pad: 0,
        };
        let watch = Watch {
            progress: &|_| {},
            cancelled: &|| false,
        };
        let readable = File::open(&src_path).unwrap();
        let write_only = File::options().write(true).open(&src_path).unwrap();
        let read_only_out = File::open(&out_path).unwrap();
        let writable_out = File::options().write(true).open(&out_path).unwrap();
        // (source, output, message): EBADF stands in for EIO on either side.
        let cases = [
            (&write_only, &writable_out, "reading SRC at offset 0: "),
            (&readable, &read_only_out, "writing OUT at offset 0: "),
        ];
        for (src, out, want) in cases {
            let e = write_image(src, Path::new("SRC"), &layout, out, &watch).unwrap_err();
            let msg = format!("{:#}", describe(e, Path::new("OUT")));
            assert!(msg.starts_with(want), "{msg}");
            assert!(msg.contains("Bad file descriptor"), "{msg}");
        }
    }

    #[test]
    fn abort_stops_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src");
        std::fs::write(&src_path, vec![1u8; 3 * CHUNK as usize]).unwrap();
        let src = File::open(&src_path).unwrap();
        let layout = Layout {
            source_len: 3 * CHUNK,
            base_end: 3 * CHUNK,
            overrides: BTreeMap::new(),
            tail: Vec::new(),
            pad: 0,
        };
        let out = File::create(dir.path().join("out")).unwrap();
        let err = write_image(
            &src,
            &src_path,
            &layout,
            &out,
            &Watch {
                progress: &|_| {},
                cancelled: &|| true,
            },
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }
}
