//! Streaming a laid-out [`Image`]: metadata from memory, file data copied
//! by the kernel (`copy_file_range`, read/write where refused) from each
//! source file, while a second thread hashes the same bytes (reading the
//! files again through the page cache), so the SHA-256 costs no second pass
//! over the output.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::super::format::*;
use super::super::writer::{copy_range, copy_range_userspace, is_unsupported, Watch};
use super::{Image, Piece};

/// Bytes per copy call: the unit of progress and cancellation checks.
const CHUNK: u64 = 8 << 20;

/// Copies `len` bytes between files, by the kernel when it can.
pub fn copy_extent(src: &File, off_in: u64, dst: &File, off_out: u64, len: u64) -> io::Result<()> {
    match copy_range(src, off_in, dst, off_out, len) {
        Err(e) if is_unsupported(&e) => copy_range_userspace(src, off_in, dst, off_out, len),
        other => other,
    }
}

fn aborted() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "interrupted")
}

fn piece_sectors(p: &Piece) -> u64 {
    match p {
        Piece::Bytes(b) => sectors_for(b.len() as u64),
        Piece::File { len, .. } => sectors_for(*len),
    }
}

fn open_checked(path: &PathBuf, len: u64) -> io::Result<File> {
    let f = File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
    let now = f.metadata()?.len();
    if now != len {
        return Err(io::Error::other(format!(
            "{} changed size while packing ({len} bytes, now {now})",
            path.display()
        )));
    }
    Ok(f)
}

/// Streams `image` into `out` from offset 0 (file data copied by the
/// kernel) while a second thread hashes the same bytes; returns the
/// SHA-256. A cancel ends it with [`io::ErrorKind::Interrupted`].
pub fn write(image: &Image, out: &File, watch: &Watch<'_>) -> io::Result<[u8; 32]> {
    std::thread::scope(|s| {
        let hasher = s.spawn(|| hash(image, watch));
        let written = copy(image, out, watch);
        let hashed = hasher
            .join()
            .map_err(|_| io::Error::other("hashing thread panicked"))?;
        written?;
        let digest = hashed?;
        out.set_len(image.total_len())?;
        Ok(digest)
    })
}

fn copy(image: &Image, out: &File, watch: &Watch<'_>) -> io::Result<()> {
    let mut pos = 0u64;
    let mut kernel_copy = true;
    for p in &image.pieces {
        match p {
            Piece::Bytes(b) => out.write_all_at(b, pos)?,
            Piece::File { path, len } => {
                let src = open_checked(path, *len)?;
                let mut done = 0u64;
                while done < *len {
                    let n = (len - done).min(CHUNK);
                    if kernel_copy {
                        match copy_range(&src, done, out, pos + done, n) {
                            Ok(()) => {}
                            Err(e) if is_unsupported(&e) => {
                                kernel_copy = false;
                                copy_range_userspace(&src, done, out, pos + done, n)?;
                            }
                            Err(e) => return Err(e),
                        }
                    } else {
                        copy_range_userspace(&src, done, out, pos + done, n)?;
                    }
                    done += n;
                    (watch.progress)(pos + done);
                    if (watch.cancelled)() {
                        return Err(aborted());
                    }
                }
            }
        }
        // Padding to the sector boundary stays a hole (zeros).
        pos += piece_sectors(p) * SECTOR_U64;
        (watch.progress)(pos);
        if (watch.cancelled)() {
            return Err(aborted());
        }
    }
    Ok(())
}

fn hash(image: &Image, watch: &Watch<'_>) -> io::Result<[u8; 32]> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let zeros = [0u8; SECTOR];
    let mut pos = 0u64;
    for p in &image.pieces {
        let len = match p {
            Piece::Bytes(b) => {
                h.update(b);
                b.len() as u64
            }
            Piece::File { path, len } => {
                let src = open_checked(path, *len)?;
                let mut done = 0u64;
                while done < *len {
                    let n = (len - done).min(buf.len() as u64) as usize;
                    src.read_exact_at(&mut buf[..n], done)?;
                    h.update(&buf[..n]);
                    done += n as u64;
                    if done % CHUNK == 0 && (watch.cancelled)() {
                        return Err(aborted());
                    }
                }
                *len
            }
        };
        let pad = (SECTOR_U64 - len % SECTOR_U64) % SECTOR_U64;
        h.update(&zeros[..pad as usize]);
        pos += len + pad;
    }
    // Sectors after the last piece (zero-length files at the end: none).
    let mut rest = image.total_len() - pos;
    while rest > 0 {
        let k = rest.min(SECTOR_U64);
        h.update(&zeros[..k as usize]);
        rest -= k;
    }
    Ok(h.finalize().into())
}
