//! Streaming a laid-out [`Image`]: metadata from memory, file data copied
//! by the kernel (`copy_file_range`, read/write where refused) from each
//! source file, while a second thread hashes the same bytes (reading the
//! files again through the page cache), so the SHA-256 costs no second pass
//! over the output. Each file is opened only while it is read, so a tree
//! of thousands of files stays under the open-file limit (often 1024).

use std::fs::File;
use std::io;

use super::super::format::*;
use super::super::layout::Segment;
use super::super::writer::{write_segments, Watch, Written};
use super::{Image, Piece};

fn piece_sectors(p: &Piece) -> u64 {
    match p {
        Piece::Bytes(b) => sectors_for(b.len() as u64),
        Piece::File { len, .. } => sectors_for(*len),
    }
}

/// Streams `image` into `out` from offset 0, with the same writer as
/// `build` uses: file data cloned or copied by the kernel, hashed on a
/// second thread, written back as it goes. A cancel ends it with
/// [`io::ErrorKind::Interrupted`].
pub fn write(image: &Image, out: &File, watch: &Watch<'_>) -> io::Result<Written> {
    let mut segments = Vec::with_capacity(image.pieces.len() * 2);
    let mut pos = 0u64;
    for p in &image.pieces {
        let len = match p {
            Piece::Bytes(b) => {
                segments.push(Segment::Bytes(b));
                b.len() as u64
            }
            Piece::File { path, len } => {
                segments.push(Segment::File { path, len: *len });
                *len
            }
        };
        // Padding to the sector boundary stays a hole (zeros).
        let padded = piece_sectors(p) * SECTOR_U64;
        if padded > len {
            segments.push(Segment::Zeros(padded - len));
        }
        pos += padded;
    }
    let total = image.total_len();
    if total > pos {
        segments.push(Segment::Zeros(total - pos));
    }
    write_segments(None, &segments, total, out, watch)
}
