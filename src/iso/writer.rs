//! Streaming a [`Layout`] to the output file.
//!
//! Unchanged ranges are copied by the kernel (`copy_file_range`, falling
//! back to read/write across file systems that refuse it). A second thread
//! hashes the same byte stream (reading the source through the page cache
//! and the new bytes from memory) while the kernel copies, so the SHA-256
//! costs no second pass over the output.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use super::layout::{Layout, Segment};

/// Bytes per copy call: the unit of progress and of cancellation checks.
const CHUNK: u64 = 8 << 20;

/// Callbacks for a long write: progress in bytes, and a cancel check.
pub struct Watch<'a> {
    pub progress: &'a (dyn Fn(u64) + Sync),
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

/// Streams `layout` from `source` into `out` (from offset 0) and returns
/// the SHA-256 of everything written. A cancel (Ctrl-C) ends it with
/// [`io::ErrorKind::Interrupted`].
pub fn write_image(
    source: &File,
    layout: &Layout,
    out: &File,
    watch: &Watch<'_>,
) -> io::Result<[u8; 32]> {
    write_segments(
        Some(source),
        &layout.segments(),
        layout.total_len(),
        out,
        watch,
    )
}

/// Streams `segments` into `out` (from offset 0), `total_len` bytes in all,
/// and returns their SHA-256; `source` backs [`Segment::Source`].
pub fn write_segments(
    source: Option<&File>,
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
            .and_then(|()| out.set_len(total_len))
            .and_then(|()| out.sync_data());
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

/// The file a data segment reads from.
fn segment_file<'a>(seg: &Segment<'a>, source: Option<&'a File>) -> io::Result<&'a File> {
    match *seg {
        Segment::File { file, .. } => Ok(file),
        _ => source.ok_or_else(|| io::Error::other("a source segment without a source image")),
    }
}

fn copy_segments(
    source: Option<&File>,
    segments: &[Segment<'_>],
    out: &File,
    watch: &Watch<'_>,
) -> io::Result<()> {
    let mut pos = 0u64;
    let mut kernel_copy = true;
    for seg in segments {
        match *seg {
            Segment::Source { offset, len } | Segment::File { offset, len, .. } => {
                let from = segment_file(seg, source)?;
                let mut done = 0u64;
                while done < len {
                    let n = (len - done).min(CHUNK);
                    if kernel_copy {
                        match copy_range(from, offset + done, out, pos, n) {
                            Ok(()) => {}
                            Err(e) if is_unsupported(&e) => {
                                kernel_copy = false;
                                copy_range_userspace(from, offset + done, out, pos, n)?;
                            }
                            Err(e) => return Err(e),
                        }
                    } else {
                        copy_range_userspace(from, offset + done, out, pos, n)?;
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
                out.write_all_at(b, pos)?;
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
        Err(e) if is_unsupported(&e) => copy_range_userspace(src, off_in, dst, off_out, len),
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

pub(super) fn copy_range_userspace(
    src: &File,
    off_in: u64,
    dst: &File,
    off_out: u64,
    len: u64,
) -> io::Result<()> {
    let mut buf = vec![0u8; len.min(1 << 20) as usize];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        src.read_exact_at(&mut buf[..n], off_in + done)?;
        dst.write_all_at(&buf[..n], off_out + done)?;
        done += n as u64;
    }
    Ok(())
}

fn hash_segments(
    source: Option<&File>,
    segments: &[Segment<'_>],
    watch: &Watch<'_>,
) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    // Small enough to stay in the L2 cache between the read and the hash.
    let mut buf = vec![0u8; 256 << 10];
    let zeros = vec![0u8; 1 << 16];
    for seg in segments {
        match *seg {
            Segment::Source { offset, len } | Segment::File { offset, len, .. } => {
                let from = segment_file(seg, source)?;
                let mut done = 0u64;
                while done < len {
                    let n = (len - done).min(buf.len() as u64) as usize;
                    from.read_exact_at(&mut buf[..n], offset + done)?;
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
