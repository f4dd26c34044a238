//! El Torito 1.0 boot catalog and the ISOLINUX boot-info-table.
//!
//! The catalog is read, validated and reported; esxi-iso never rewrites it
//! (its sector and the boot images stay where VMware put them). Only the
//! first catalog sector is read: ESXi media have two entries.

use std::fs::File;
use std::os::unix::fs::FileExt;

use serde::Serialize;

use super::format::*;
use super::IsoError;

// Catalog entries (El Torito 1.0, section 2).
const ENTRY: usize = 32;
const VALIDATION_HEADER: u8 = 0x01;
const SECTION_MORE: u8 = 0x90;
const SECTION_FINAL: u8 = 0x91;
const BOOTABLE: u8 = 0x88;
const EXTENSION: u8 = 0x44;

pub const PLATFORM_X86: u8 = 0x00;
pub const PLATFORM_EFI: u8 = 0xEF;

/// Offsets inside the boot-info-table (mkisofs `-boot-info-table`), which
/// sits at byte 8 of the boot file.
pub const BIT_PVD: usize = 8;
pub const BIT_FILE: usize = 12;
pub const BIT_LENGTH: usize = 16;
pub const BIT_CHECKSUM: usize = 20;
pub const BIT_END: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootEntry {
    pub platform: u8,
    pub bootable: bool,
    /// 0 = no emulation.
    pub media: u8,
    pub load_segment: u16,
    /// Virtual 512-byte sectors loaded by BIOS firmware.
    pub sector_count: u16,
    pub load_rba: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootCatalog {
    pub lba: u32,
    pub entries: Vec<BootEntry>,
}

pub fn platform_name(p: u8) -> &'static str {
    match p {
        PLATFORM_X86 => "BIOS",
        PLATFORM_EFI => "UEFI",
        0x01 => "PowerPC",
        0x02 => "Mac",
        _ => "unknown",
    }
}

pub(super) fn read_catalog(
    file: &File,
    len: u64,
    lba: u32,
    record_lba: u32,
) -> Result<BootCatalog, IsoError> {
    if Lba(lba).offset() + SECTOR_U64 > len {
        return Err(IsoError::Malformed {
            what: format!(
                "El Torito boot record points at catalog LBA {lba}, past the end of the file"
            ),
            lba: record_lba,
        });
    }
    let mut sector = vec![0u8; SECTOR];
    file.read_exact_at(&mut sector, Lba(lba).offset())
        .map_err(|e| IsoError::Io {
            what: format!("reading the boot catalog at LBA {lba}"),
            source: e,
        })?;
    parse_catalog(&sector, lba, len)
}

/// Parses one catalog sector; `image_len` bounds the load addresses.
pub fn parse_catalog(sector: &[u8], lba: u32, image_len: u64) -> Result<BootCatalog, IsoError> {
    let bad = |what: String| IsoError::Malformed { what, lba };
    let v = &sector[..ENTRY];
    if v[0] != VALIDATION_HEADER {
        return Err(bad(format!(
            "boot catalog validation entry has header id {:#04x} (expected 0x01)",
            v[0]
        )));
    }
    if v[30] != 0x55 || v[31] != 0xAA {
        return Err(bad(format!(
            "boot catalog validation key is {:02x} {:02x} (expected 55 AA)",
            v[30], v[31]
        )));
    }
    let sum = v.chunks_exact(2).fold(0u16, |a, w| {
        a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    if sum != 0 {
        return Err(bad(format!(
            "boot catalog validation entry checksum is wrong (words sum to {sum:#06x}, not 0)"
        )));
    }
    let mut entries = vec![parse_entry(&sector[ENTRY..2 * ENTRY], v[1])];
    let mut pos = 2 * ENTRY;
    while pos + ENTRY <= sector.len() {
        let header = sector[pos];
        if header != SECTION_MORE && header != SECTION_FINAL {
            break;
        }
        let platform = sector[pos + 1];
        let count = usize::from(le_u16(sector, pos + 2));
        pos += ENTRY;
        let mut seen = 0;
        while seen < count && pos + ENTRY <= sector.len() {
            if sector[pos] == EXTENSION {
                pos += ENTRY;
                continue;
            }
            entries.push(parse_entry(&sector[pos..pos + ENTRY], platform));
            seen += 1;
            pos += ENTRY;
        }
        if seen < count {
            return Err(bad(format!("boot catalog section declares {count} entries but the catalog sector ends after {seen}")));
        }
        if header == SECTION_FINAL {
            break;
        }
    }
    for e in &entries {
        if e.bootable && Lba(e.load_rba).offset() >= image_len {
            return Err(bad(format!(
                "{} boot entry loads from LBA {}, past the end of the file",
                platform_name(e.platform),
                e.load_rba
            )));
        }
    }
    Ok(BootCatalog { lba, entries })
}

fn parse_entry(e: &[u8], platform: u8) -> BootEntry {
    BootEntry {
        platform,
        bootable: e[0] == BOOTABLE,
        media: e[1] & 0x0F,
        load_segment: le_u16(e, 2),
        sector_count: le_u16(e, 6),
        load_rba: le_u32(e, 8),
    }
}

/// The boot-info-table of a boot file, and what it should say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BootInfoTable {
    pub pvd_lba: u32,
    pub file_lba: u32,
    pub file_len: u32,
    pub checksum: u32,
    pub expected_checksum: u32,
    pub file_lba_actual: u32,
    pub file_len_actual: u32,
}

impl BootInfoTable {
    pub fn is_valid(&self) -> bool {
        self.pvd_lba == FIRST_DESCRIPTOR_LBA
            && self.file_lba == self.file_lba_actual
            && self.file_len == self.file_len_actual
            && self.checksum == self.expected_checksum
    }
}

/// Reads the table of the boot file at `lba` with `len` bytes (streaming
/// the file once to compute the checksum: 32-bit LE words from byte 64).
pub fn boot_info_table(
    file: &File,
    image_len: u64,
    lba: u32,
    len: u32,
) -> Result<Option<BootInfoTable>, IsoError> {
    if (len as usize) < BIT_END {
        return Ok(None);
    }
    let start = Lba(lba).offset();
    if start + u64::from(len) > image_len {
        return Err(IsoError::Malformed {
            what: format!("boot file of {len} bytes runs past the end of the file"),
            lba,
        });
    }
    let io = |e| IsoError::Io {
        what: format!("reading the boot file at LBA {lba}"),
        source: e,
    };
    let mut head = [0u8; BIT_END];
    file.read_exact_at(&mut head, start).map_err(io)?;
    // Streamed in chunks (a multiple of 4 bytes, so only the last word is
    // padded): the length is untrusted and may be as large as the image.
    let mut sum = 0u32;
    let mut buf = vec![0u8; (len as usize - BIT_END).min(1 << 20)];
    let mut pos = BIT_END as u64;
    while pos < u64::from(len) {
        let n = (u64::from(len) - pos).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], start + pos).map_err(io)?;
        sum = sum.wrapping_add(checksum(&buf[..n]));
        pos += n as u64;
    }
    Ok(Some(BootInfoTable {
        pvd_lba: le_u32(&head, BIT_PVD),
        file_lba: le_u32(&head, BIT_FILE),
        file_len: le_u32(&head, BIT_LENGTH),
        checksum: le_u32(&head, BIT_CHECKSUM),
        expected_checksum: sum,
        file_lba_actual: lba,
        file_len_actual: len,
    }))
}

/// Sum of little-endian 32-bit words, the last one zero-padded.
pub fn checksum(data: &[u8]) -> u32 {
    data.chunks(4).fold(0u32, |acc, w| {
        let mut word = [0u8; 4];
        word[..w.len()].copy_from_slice(w);
        acc.wrapping_add(u32::from_le_bytes(word))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Vec<u8> {
        let mut s = vec![0u8; SECTOR];
        s[0] = 1;
        s[30] = 0x55;
        s[31] = 0xAA;
        let sum = s[..32].chunks_exact(2).fold(0u16, |a, w| {
            a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
        });
        s[28..30].copy_from_slice(&(0u16.wrapping_sub(sum)).to_le_bytes());
        s[32] = BOOTABLE;
        s[38] = 4;
        s[40..44].copy_from_slice(&30u32.to_le_bytes());
        s[64] = SECTION_FINAL;
        s[65] = PLATFORM_EFI;
        s[66] = 1;
        s[96] = BOOTABLE;
        s[104..108].copy_from_slice(&40u32.to_le_bytes());
        s
    }

    #[test]
    fn parses_bios_and_efi_entries() {
        let c = parse_catalog(&catalog(), 20, 1 << 20).unwrap();
        assert_eq!(c.entries.len(), 2);
        assert_eq!(
            (
                c.entries[0].platform,
                c.entries[0].sector_count,
                c.entries[0].load_rba
            ),
            (0, 4, 30)
        );
        assert_eq!(
            (c.entries[1].platform, c.entries[1].load_rba),
            (PLATFORM_EFI, 40)
        );
    }

    #[test]
    fn rejects_bad_checksum_key_and_range() {
        let mut s = catalog();
        s[4] ^= 1;
        assert!(parse_catalog(&s, 20, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("checksum"));
        let mut s = catalog();
        s[31] = 0;
        assert!(parse_catalog(&s, 20, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("validation key"));
        let err = parse_catalog(&catalog(), 20, 35 * 2048)
            .unwrap_err()
            .to_string();
        assert!(err.contains("UEFI boot entry loads from LBA 40"), "{err}");
    }

    #[test]
    fn checksum_pads_last_word() {
        assert_eq!(checksum(&[1, 0, 0, 0, 2, 0, 0, 0]), 3);
        assert_eq!(checksum(&[1, 0, 0, 0, 2]), 3);
        assert_eq!(checksum(&[0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0]), 0);
    }
}
