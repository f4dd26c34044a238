//! Streaming a [`Layout`] (or the [`Segment`]s of a tree being mastered)
//! to the output file, and hashing it on the way.
//!
//! Unchanged data reaches the output the cheapest way the file systems
//! allow ([`super::copy`]): cloned on a reflink file system (Btrfs, XFS,
//! ZFS 2.2+), so the output shares the source's blocks and costs a few
//! sectors of disk; copied by the kernel elsewhere; through user space only
//! across file systems that refuse both. Clones need block-aligned ranges
//! (4 KiB, while ISO sectors are 2 KiB), so around each edited sector the
//! rest of its block is copied, and everything between is cloned. The
//! output's bytes are the same whichever way ran.
//!
//! A second thread computes the SHA-256 while the data moves: from the
//! source through read-only mappings of the page cache ([`super::mapped`],
//! no copy into user space, shared by every host of a lab), and from the
//! new bytes in memory, never by reading the output again.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::copy::{
    clone_block, clone_range, copy_range, copy_range_userspace, failed, is_unsupported,
    start_writeback, Op,
};
pub use super::copy::{describe, input_failed, Failed};
use super::layout::{Layout, Segment};
use super::mapped;

/// Bytes per copy call: the unit of progress and of cancellation checks.
const CHUNK: u64 = 8 << 20;
/// Bytes per clone call: clones are fast, this only paces the progress.
const CLONE_CHUNK: u64 = 256 << 20;

/// Callbacks for a long write: progress in bytes, and a cancel check.
pub struct Watch<'a> {
    pub progress: &'a (dyn Fn(u64) + Sync),
    pub cancelled: &'a (dyn Fn() -> bool + Sync),
}

impl Watch<'_> {
    /// Reports `pos` bytes done; an [`io::ErrorKind::Interrupted`] error
    /// once the write is cancelled.
    fn advance(&self, pos: u64) -> io::Result<()> {
        (self.progress)(pos);
        self.check()
    }

    /// An [`io::ErrorKind::Interrupted`] error once the write is cancelled.
    fn check(&self) -> io::Result<()> {
        if (self.cancelled)() {
            Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"))
        } else {
            Ok(())
        }
    }
}

/// How the output's bytes got there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Shared with the input's blocks by the file system (a clone).
    pub cloned: u64,
    /// Copied by the kernel (`copy_file_range`).
    pub copied: u64,
    /// Copied through user space (read and write).
    pub copied_userspace: u64,
    /// New bytes written from memory: edited sectors, new files.
    pub written: u64,
}

impl WriteStats {
    /// The way most of the unchanged data went.
    pub fn method(&self) -> &'static str {
        if self.cloned > 0 && self.cloned >= self.copied + self.copied_userspace {
            "cloned"
        } else if self.copied_userspace > self.copied {
            "copied through user space"
        } else {
            "copied"
        }
    }

    /// For reports: the method, and the bytes shared with the input and
    /// the bytes that went to disk.
    pub fn report(&self) -> DataReport {
        let copied = self.copied + self.copied_userspace;
        DataReport {
            method: self.method(),
            cloned_bytes: self.cloned,
            copied_bytes: copied,
            written_bytes: copied + self.written,
        }
    }
}

/// [`WriteStats`] as summaries show them (`data` in `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DataReport {
    /// `cloned`, `copied`, or `copied through user space`.
    pub method: &'static str,
    /// Shared with the input's blocks, not written.
    pub cloned_bytes: u64,
    /// Unchanged data copied (by the kernel or through user space).
    pub copied_bytes: u64,
    /// Everything written to disk: copied data and new bytes.
    pub written_bytes: u64,
}

impl std::fmt::Display for DataReport {
    /// "cloned 601.19 MiB, wrote 316 KiB", "copied and wrote 601.50 MiB".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let size = |n: u64| indicatif::BinaryBytes(n).to_string();
        if self.cloned_bytes > 0 {
            write!(
                f,
                "cloned {} from the source, wrote {}",
                size(self.cloned_bytes),
                size(self.written_bytes)
            )
        } else {
            write!(f, "{}, wrote {}", self.method, size(self.written_bytes))
        }
    }
}

/// A finished write: the output's SHA-256 and how its bytes got there.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    pub sha256: [u8; 32],
    pub stats: WriteStats,
}

/// Streams `layout` from `source` (named `source_path` in errors) into
/// `out` (from offset 0). Once every byte is written, `then` runs on the
/// calling thread while the hash is still being computed (a build checks
/// its output and flushes it there); its result comes back with the hash. A cancel
/// (Ctrl-C) ends it with [`io::ErrorKind::Interrupted`].
pub fn write_image<T>(
    source: &File,
    source_path: &Path,
    layout: &Layout,
    out: &File,
    watch: &Watch<'_>,
    then: impl FnOnce() -> T,
) -> io::Result<(Written, T)> {
    write_segments_then(
        Some((source, source_path)),
        &layout.segments(),
        layout.total_len(),
        out,
        watch,
        then,
    )
}

/// Streams `segments` into `out` (from offset 0), `total_len` bytes in all;
/// `source` backs [`Segment::Source`]. Flushing the output to disk is the
/// caller's (`output::AtomicFile` does it once, data and metadata).
pub fn write_segments(
    source: Option<(&File, &Path)>,
    segments: &[Segment<'_>],
    total_len: u64,
    out: &File,
    watch: &Watch<'_>,
) -> io::Result<Written> {
    write_segments_then(source, segments, total_len, out, watch, || ()).map(|(w, ())| w)
}

/// [`write_segments`], running `then` once every byte is written and while
/// the hash may still be running.
pub fn write_segments_then<T>(
    source: Option<(&File, &Path)>,
    segments: &[Segment<'_>],
    total_len: u64,
    out: &File,
    watch: &Watch<'_>,
    then: impl FnOnce() -> T,
) -> io::Result<(Written, T)> {
    std::thread::scope(|s| {
        let hasher = s.spawn(|| hash_segments(source, segments, watch));
        // The copy usually finishes first: `then` (checking the output,
        // flushing it to disk) overlaps the rest of the hashing.
        let mut copier = Copier::new(out);
        let written = copier
            .segments(source, segments, watch)
            .and_then(|()| {
                out.set_len(total_len)
                    .map_err(|e| failed(Op::Write, None, total_len, e))
            })
            .map(|()| then());
        let hashed = hasher
            .join()
            .map_err(|_| io::Error::other("hashing thread panicked"))?;
        let after = written?;
        Ok((
            Written {
                sha256: hashed?,
                stats: copier.stats,
            },
            after,
        ))
    })
}

/// Copies `len` bytes of `src` from `off_in` into `dst` at `off_out`, the
/// cheapest way the file systems allow (extracting a file from an ISO).
pub fn copy_extent(src: &File, off_in: u64, dst: &File, off_out: u64, len: u64) -> io::Result<()> {
    let watch = Watch {
        progress: &|_| {},
        cancelled: &|| false,
    };
    Copier::new(dst).data(src, None, off_in, off_out, len, &watch)
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

/// Moves data into one output, remembering which ways work there: a clone
/// that fails as unsupported is not tried again, nor is a refused kernel
/// copy.
struct Copier<'a> {
    out: &'a File,
    /// The output file system's block size, while clones may work.
    clone_block: Option<u64>,
    kernel_copy: bool,
    stats: WriteStats,
}

impl<'a> Copier<'a> {
    fn new(out: &'a File) -> Copier<'a> {
        Copier {
            out,
            clone_block: clone_block(out),
            kernel_copy: true,
            stats: WriteStats::default(),
        }
    }

    fn segments(
        &mut self,
        source: Option<(&File, &Path)>,
        segments: &[Segment<'_>],
        watch: &Watch<'_>,
    ) -> io::Result<()> {
        let mut pos = 0u64;
        for seg in segments {
            match *seg {
                Segment::Source { .. } | Segment::File { .. } => {
                    let (from, name, offset, len) = segment_input(seg, source)?;
                    self.data(&from, Some(name), offset, pos, len, watch)?;
                    pos += len;
                }
                Segment::Bytes(b) => {
                    self.out
                        .write_all_at(b, pos)
                        .map_err(|e| failed(Op::Write, None, pos, e))?;
                    self.stats.written += b.len() as u64;
                    pos += b.len() as u64;
                    watch.advance(pos)?;
                }
                Segment::Zeros(n) => {
                    // Left as a hole; set_len at the end fixes the length.
                    pos += n;
                }
            }
        }
        Ok(())
    }

    /// `len` bytes of `from` at `offset` to the output at `pos`: the
    /// block-aligned middle cloned where the file systems allow, the rest
    /// copied.
    fn data(
        &mut self,
        from: &File,
        name: Option<&Path>,
        offset: u64,
        pos: u64,
        len: u64,
        watch: &Watch<'_>,
    ) -> io::Result<()> {
        let mut done = 0u64;
        if let Some(b) = self.clone_block.filter(|b| offset % b == pos % b) {
            let head = ((b - pos % b) % b).min(len);
            let body = (len - head) / b * b;
            if body > 0 {
                self.copy(from, name, offset, pos, head, watch)?;
                done = head;
                while done < head + body {
                    let n = (head + body - done).min(CLONE_CHUNK);
                    if clone_range(from, offset + done, self.out, pos + done, n).is_err() {
                        // Unsupported here, or failing: copy the rest,
                        // which works or says which side fails.
                        self.clone_block = None;
                        break;
                    }
                    self.stats.cloned += n;
                    done += n;
                    watch.advance(pos + done)?;
                }
            }
        }
        self.copy(from, name, offset + done, pos + done, len - done, watch)
    }

    /// Copies by the kernel, or by read/write where the kernel refuses.
    fn copy(
        &mut self,
        from: &File,
        name: Option<&Path>,
        offset: u64,
        pos: u64,
        len: u64,
        watch: &Watch<'_>,
    ) -> io::Result<()> {
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(CHUNK);
            let (at, to) = (offset + done, pos + done);
            let mut by_kernel = self.kernel_copy;
            if by_kernel {
                match copy_range(from, at, self.out, to, n) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                    Err(e) => {
                        // Unsupported: read/write from now on. Any other
                        // error: read/write this chunk, which fails again
                        // on the side that is failing.
                        self.kernel_copy = !is_unsupported(&e);
                        by_kernel = false;
                    }
                }
            }
            if by_kernel {
                self.stats.copied += n;
            } else {
                copy_range_userspace(from, name, at, self.out, to, n)?;
                self.stats.copied_userspace += n;
            }
            start_writeback(self.out, to, n);
            done += n;
            watch.advance(to + n)?;
        }
        Ok(())
    }
}

/// The SHA-256 of the output, from the inputs: data through mappings of
/// the page cache, new bytes from memory, zeros for the holes.
fn hash_segments(
    source: Option<(&File, &Path)>,
    segments: &[Segment<'_>],
    watch: &Watch<'_>,
) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let zeros = vec![0u8; 1 << 16];
    for seg in segments {
        match *seg {
            Segment::Source { .. } | Segment::File { .. } => {
                let (from, name, offset, len) = segment_input(seg, source)?;
                mapped::for_each_chunk(&from, offset, len, &mut |bytes| {
                    h.update(bytes);
                    watch.check()
                })
                .map_err(|e| failed(Op::Read, Some(name), e.offset, e.error))?;
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
        let (written, ()) = write_image(
            &src,
            &src_path,
            &layout,
            &out,
            &Watch {
                progress: &|_| {},
                cancelled: &|| false,
            },
            || (),
        )
        .unwrap();
        let got = std::fs::read(dir.path().join("out")).unwrap();
        let mut want = data.clone();
        want[3 * 2048..4 * 2048].fill(7);
        want.resize(41 * 2048, 0);
        want.extend(vec![9u8; 4096]);
        want.resize(want.len() + 3 * 2048, 0);
        assert_eq!(got, want);
        assert_eq!(written.sha256, <[u8; 32]>::from(Sha256::digest(&want)));
        let st = written.stats;
        assert_eq!(st.cloned + st.copied + st.copied_userspace, 39 * 2048 + 100);
        assert_eq!(st.written, 2048 + 4096);
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
            let e = write_image(src, Path::new("SRC"), &layout, out, &watch, || ()).unwrap_err();
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
            || (),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }
}
