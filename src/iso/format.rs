//! On-disk constants and field helpers for ISO9660 (ECMA-119, 4th edition)
//! and El Torito 1.0. Offsets are named after the tables that define them.
//!
//! Both-endian fields are written both ways and read little-endian, as
//! Linux does; [`read_both_u32`] reports a mismatch so callers can warn.

pub const SECTOR: usize = 2048;
pub const SECTOR_U64: u64 = SECTOR as u64;

/// First volume descriptor (ECMA-119 6.2.1: system area is sectors 0-15).
pub const FIRST_DESCRIPTOR_LBA: u32 = 16;
/// Zero sectors kept after the last file of every output, inside the
/// volume. CD readers read ahead near the end of a disc and fail or return
/// garbage there (GRUB's BIOS reader through int 13h does, for a file in
/// the last sectors); genisoimage and xorriso pad every image by 300 KB
/// (150 sectors) for that reason, and VMware's media carry that pad.
pub const TRAILING_PAD_SECTORS: u32 = 150;

/// Sanity cap on the descriptor set: real images have 3-5.
pub const MAX_DESCRIPTORS: u32 = 64;

// Volume descriptor (ECMA-119 8.4, table 4).
pub const VD_TYPE: usize = 0;
pub const VD_STD_ID: std::ops::Range<usize> = 1..6;
pub const VD_VERSION: usize = 6;
pub const VD_VOLUME_ID: std::ops::Range<usize> = 40..72;
pub const VD_VOLUME_SPACE: usize = 80;
pub const VD_ESCAPES: std::ops::Range<usize> = 88..120;
pub const VD_BLOCK_SIZE: usize = 128;
pub const VD_PATH_TABLE_SIZE: usize = 132;
pub const VD_L_PATH_TABLE: usize = 140;
pub const VD_L_PATH_TABLE_OPT: usize = 144;
pub const VD_M_PATH_TABLE: usize = 148;
pub const VD_M_PATH_TABLE_OPT: usize = 152;
pub const VD_ROOT_RECORD: usize = 156;
pub const VD_ROOT_RECORD_LEN: usize = 34;

pub const VD_TYPE_BOOT: u8 = 0;
pub const VD_TYPE_PRIMARY: u8 = 1;
pub const VD_TYPE_SUPPLEMENTARY: u8 = 2;
pub const VD_TYPE_PARTITION: u8 = 3;
pub const VD_TYPE_TERMINATOR: u8 = 255;
pub const STD_ID: &[u8; 5] = b"CD001";

// Boot record volume descriptor (El Torito 1.0, figure 7).
pub const BR_SYSTEM_ID: std::ops::Range<usize> = 7..39;
pub const BR_CATALOG_LBA: usize = 0x47;
pub const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";

// Directory record (ECMA-119 9.1, table 8).
pub const DR_LEN: usize = 0;
pub const DR_EXTENT: usize = 2;
pub const DR_DATA_LEN: usize = 10;
pub const DR_DATE: std::ops::Range<usize> = 18..25;
pub const DR_FLAGS: usize = 25;
pub const DR_FILE_UNIT: usize = 26;
pub const DR_INTERLEAVE: usize = 27;
pub const DR_VOL_SEQ: usize = 28;
pub const DR_NAME_LEN: usize = 32;
pub const DR_NAME: usize = 33;
pub const DR_MIN_LEN: usize = 34;

pub const FLAG_HIDDEN: u8 = 0x01;
pub const FLAG_DIRECTORY: u8 = 0x02;
pub const FLAG_MULTI_EXTENT: u8 = 0x80;

/// A logical block address: a 2048-byte sector number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lba(pub u32);

impl Lba {
    pub fn offset(self) -> u64 {
        u64::from(self.0) * SECTOR_U64
    }
}

impl std::fmt::Display for Lba {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Number of sectors needed for `len` bytes.
pub fn sectors_for(len: u64) -> u64 {
    len.div_ceil(SECTOR_U64)
}

pub fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Reads a both-endian u32 (ECMA-119 7.3.3); returns the little-endian
/// value and whether the big-endian copy agreed.
pub fn read_both_u32(b: &[u8], at: usize) -> (u32, bool) {
    let le = le_u32(b, at);
    (le, le == be_u32(b, at + 4))
}

pub fn write_both_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

pub fn write_both_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    b[at + 2..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// A 7-byte directory record date (ECMA-119 9.1.5) for a Unix time, in UTC.
/// Years outside 1900-2155 are clamped.
pub fn record_date(unix: i64) -> [u8; 7] {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let year = (y - 1900).clamp(0, 255) as u8;
    [
        year,
        m as u8,
        d as u8,
        (secs / 3600) as u8,
        (secs / 60 % 60) as u8,
        (secs % 60) as u8,
        0,
    ]
}

/// Gregorian date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_endian_round_trip() {
        let mut b = [0u8; 8];
        write_both_u32(&mut b, 0, 0x0102_0304);
        assert_eq!(read_both_u32(&b, 0), (0x0102_0304, true));
        b[7] = 9;
        assert_eq!(read_both_u32(&b, 0), (0x0102_0304, false));
    }

    #[test]
    fn dates() {
        assert_eq!(record_date(0), [70, 1, 1, 0, 0, 0, 0]);
        // 2024-02-29 12:34:56 UTC
        assert_eq!(record_date(1_709_210_096), [124, 2, 29, 12, 34, 56, 0]);
    }

    #[test]
    fn sector_counts() {
        assert_eq!(sectors_for(0), 0);
        assert_eq!(sectors_for(1), 1);
        assert_eq!(sectors_for(2048), 1);
        assert_eq!(sectors_for(2049), 2);
    }
}
