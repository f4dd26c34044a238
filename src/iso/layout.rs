//! An output image as a list of pieces: [`Layout`] is what the patcher
//! decides (the source with sector overrides, then a tail and the trailing
//! pad), [`Segment`] the pieces the writer streams in order (source ranges,
//! ranges of other files when mastering from a tree, new bytes, zeros).
//!
//! Both live here, below `patch`, `master` and `writer`, so that the
//! producers and the consumer of a layout share it without importing each
//! other.

use std::collections::BTreeMap;
use std::path::Path;

use super::format::*;

/// One piece of an output image, in order.
#[derive(Debug, Clone, Copy)]
pub enum Segment<'a> {
    /// A range of the source image being edited.
    Source {
        offset: u64,
        len: u64,
    },
    /// The whole of another file, `len` bytes (mastering from a tree).
    /// It is opened only while it is copied, so a tree of any number of
    /// files needs two descriptors at a time, not one per file.
    File {
        path: &'a Path,
        len: u64,
    },
    Bytes(&'a [u8]),
    /// Zeros, left as a hole.
    Zeros(u64),
}

/// The output image: the source with sector overrides, then a tail.
#[derive(Debug)]
pub struct Layout {
    pub source_len: u64,
    /// Where the tail starts (the source rounded up to whole sectors, or
    /// its volume space size if larger).
    pub base_end: u64,
    pub overrides: BTreeMap<u32, Vec<u8>>,
    pub tail: Vec<u8>,
    /// Zero bytes after the tail: the trailing pad.
    pub pad: u64,
}

impl Layout {
    pub fn total_len(&self) -> u64 {
        self.base_end + self.tail.len() as u64 + self.pad
    }

    /// The output as a sequence of source ranges and new bytes.
    pub fn segments(&self) -> Vec<Segment<'_>> {
        let mut out = Vec::new();
        let mut pos = 0u64;
        let push_source = |out: &mut Vec<Segment<'_>>, from: u64, to: u64| {
            let src_end = to.min(self.source_len);
            if src_end > from {
                out.push(Segment::Source {
                    offset: from,
                    len: src_end - from,
                });
            }
            if to > src_end.max(from) {
                out.push(Segment::Zeros(to - src_end.max(from)));
            }
        };
        for (&lba, sector) in &self.overrides {
            let at = Lba(lba).offset();
            push_source(&mut out, pos, at);
            out.push(Segment::Bytes(sector));
            pos = at + SECTOR_U64;
        }
        push_source(&mut out, pos, self.base_end);
        if !self.tail.is_empty() {
            out.push(Segment::Bytes(&self.tail));
        }
        if self.pad > 0 {
            out.push(Segment::Zeros(self.pad));
        }
        out
    }
}

impl Layout {
    /// What the patcher chose, in words: sectors rewritten in place, what
    /// was appended where, the pad, and how much is copied from the source.
    pub fn describe(&self) -> String {
        let tail = self.tail.len() as u64 / SECTOR_U64;
        let copied: u64 = self
            .segments()
            .iter()
            .map(|s| match s {
                Segment::Source { len, .. } => *len,
                _ => 0,
            })
            .sum();
        let appended = if tail == 0 {
            "nothing appended".to_string()
        } else {
            format!(
                "{tail} sector{} appended at LBA {}",
                plural(tail),
                self.base_end / SECTOR_U64
            )
        };
        format!(
            "{} sector{} rewritten in place, {appended}, {} sector{} of trailing pad; \
             {copied} bytes copied from the source, {} new bytes, {} bytes in all",
            self.overrides.len(),
            plural(self.overrides.len() as u64),
            self.pad / SECTOR_U64,
            plural(self.pad / SECTOR_U64),
            self.overrides.len() as u64 * SECTOR_U64 + self.tail.len() as u64,
            self.total_len()
        )
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_output_in_order() {
        let mut overrides = BTreeMap::new();
        overrides.insert(16, vec![1u8; SECTOR]);
        overrides.insert(17, vec![2u8; SECTOR]);
        let layout = Layout {
            source_len: 20 * SECTOR_U64 + 5,
            base_end: 21 * SECTOR_U64,
            overrides,
            tail: vec![3u8; SECTOR],
            pad: 3 * SECTOR_U64,
        };
        let segs = layout.segments();
        assert!(matches!(segs[0], Segment::Source { offset: 0, len } if len == 16 * SECTOR_U64));
        assert!(matches!(segs[1], Segment::Bytes(b) if b[0] == 1));
        assert!(matches!(segs[2], Segment::Bytes(b) if b[0] == 2));
        assert!(
            matches!(segs[3], Segment::Source { offset, len } if offset == 18 * SECTOR_U64 && len == 2 * SECTOR_U64 + 5)
        );
        assert!(matches!(segs[4], Segment::Zeros(n) if n == SECTOR_U64 - 5));
        assert!(matches!(segs[5], Segment::Bytes(b) if b[0] == 3));
        assert!(matches!(segs[6], Segment::Zeros(n) if n == 3 * SECTOR_U64));
        let total: u64 = segs
            .iter()
            .map(|s| match s {
                Segment::Source { len, .. } | Segment::File { len, .. } | Segment::Zeros(len) => {
                    *len
                }
                Segment::Bytes(b) => b.len() as u64,
            })
            .sum();
        assert_eq!(total, layout.total_len());
    }

    #[test]
    fn descriptions_count_sectors_and_bytes() {
        let layout = |overrides: &[u32], tail: usize, pad: u64| Layout {
            source_len: 20 * SECTOR_U64,
            base_end: 20 * SECTOR_U64,
            overrides: overrides.iter().map(|&l| (l, vec![0u8; SECTOR])).collect(),
            tail: vec![0u8; tail * SECTOR],
            pad: pad * SECTOR_U64,
        };
        let cases = [
            (
                layout(&[16], 0, 0),
                "1 sector rewritten in place, nothing appended, 0 sectors of trailing pad; \
                 38912 bytes copied from the source, 2048 new bytes, 40960 bytes in all",
            ),
            (
                layout(&[16, 18], 3, 150),
                "2 sectors rewritten in place, 3 sectors appended at LBA 20, 150 sectors of \
                 trailing pad; 36864 bytes copied from the source, 10240 new bytes, \
                 354304 bytes in all",
            ),
        ];
        for (l, want) in cases {
            assert_eq!(l.describe(), want);
        }
    }
}
