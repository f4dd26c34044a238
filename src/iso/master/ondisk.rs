//! The on-disk structures of a mastered image: directory records with
//! their Rock Ridge entries, path tables, volume descriptors, the El Torito
//! boot record and catalog, and the boot-info-table. Each builder is a pure
//! function of the laid-out trees (ECMA-119 9.1, 9.4, 8.4; El Torito 1.0
//! section 2; RRIP 1.09 / SUSP 1.10; Joliet).

use super::super::eltorito::{self, PLATFORM_X86};
use super::super::format::*;
use super::{ucs2, Flat, FlatDir, Kind, Volume};

/// Rock Ridge file modes: fixed, so outputs don't depend on the tree's.
const MODE_FILE: u32 = 0o100_644;
const MODE_DIR: u32 = 0o040_755;
/// RRIP 1.09 `PX` entry length (mode, links, uid, gid).
const PX_LEN: u8 = 36;
const ER_ID: &[u8] = b"RRIP_1991A";
const ER_DES: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
const ER_SRC: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

// Volume descriptor fields not in format.rs (ECMA-119 8.4, table 4).
const VD_SYSTEM_ID: std::ops::Range<usize> = 8..40;
const VD_SET_SIZE: usize = 120;
const VD_SEQ_NUMBER: usize = 124;
const VD_SET_ID: std::ops::Range<usize> = 190..318;
const VD_PUBLISHER: std::ops::Range<usize> = 318..446;
const VD_PREPARER: std::ops::Range<usize> = 446..574;
const VD_APPLICATION: std::ops::Range<usize> = 574..702;
const VD_FILE_IDS: std::ops::Range<usize> = 702..813;
const VD_CREATED: usize = 813;
const VD_MODIFIED: usize = 830;
const VD_EXPIRES: usize = 847;
const VD_EFFECTIVE: usize = 864;
const VD_FILE_STRUCTURE: usize = 881;
/// Joliet level 3 (UCS-2) escape sequence.
const JOLIET_ESCAPE: &[u8] = b"%/E";

pub(super) fn dir_record(
    id: &[u8],
    extent: u32,
    size: u32,
    is_dir: bool,
    date: [u8; 7],
    su: &[u8],
) -> Vec<u8> {
    let pad = usize::from(id.len() % 2 == 0);
    let mut len = DR_NAME + id.len() + pad + su.len();
    len += len % 2;
    let mut raw = vec![0u8; len];
    raw[DR_LEN] = len as u8;
    write_both_u32(&mut raw, DR_EXTENT, extent);
    write_both_u32(&mut raw, DR_DATA_LEN, size);
    raw[DR_DATE].copy_from_slice(&date);
    raw[DR_FLAGS] = if is_dir { FLAG_DIRECTORY } else { 0 };
    write_both_u16(&mut raw, DR_VOL_SEQ, 1);
    raw[DR_NAME_LEN] = id.len() as u8;
    raw[DR_NAME..DR_NAME + id.len()].copy_from_slice(id);
    let at = DR_NAME + id.len() + pad;
    raw[at..at + su.len()].copy_from_slice(su);
    raw
}

pub(super) fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    write_both_u32(&mut b, 0, v);
    b
}

/// Rock Ridge entries of one record: `RR`, `PX`, `TF` and, for named
/// records, `NM`.
pub(super) fn rr_entries(name: Option<&str>, is_dir: bool, links: u32, date: [u8; 7]) -> Vec<u8> {
    let mut out = Vec::new();
    let flags = 0x01 | 0x80 | if name.is_some() { 0x08 } else { 0 };
    out.extend_from_slice(&[b'R', b'R', 5, 1, flags]);
    out.extend_from_slice(&[b'P', b'X', PX_LEN, 1]);
    out.extend_from_slice(&both32(if is_dir { MODE_DIR } else { MODE_FILE }));
    out.extend_from_slice(&both32(links));
    out.extend_from_slice(&both32(0));
    out.extend_from_slice(&both32(0));
    out.extend_from_slice(&[b'T', b'F', 12, 1, 0x02]);
    out.extend_from_slice(&date);
    if let Some(n) = name {
        out.extend_from_slice(&[b'N', b'M', (5 + n.len()) as u8, 1, 0]);
        out.extend_from_slice(n.as_bytes());
    }
    out
}

pub(super) const SP_ENTRY: [u8; 7] = [b'S', b'P', 7, 1, 0xBE, 0xEF, 0];
pub(super) const CE_LEN: usize = 28;

pub(super) fn ce_entry(lba: u32, len: u32) -> Vec<u8> {
    let mut out = vec![b'C', b'E', CE_LEN as u8, 1];
    out.extend_from_slice(&both32(lba));
    out.extend_from_slice(&both32(0));
    out.extend_from_slice(&both32(len));
    out
}

pub(super) fn er_entry() -> Vec<u8> {
    let mut out = vec![
        b'E',
        b'R',
        (8 + ER_ID.len() + ER_DES.len() + ER_SRC.len()) as u8,
        1,
        ER_ID.len() as u8,
        ER_DES.len() as u8,
        ER_SRC.len() as u8,
        1,
    ];
    out.extend_from_slice(ER_ID);
    out.extend_from_slice(ER_DES);
    out.extend_from_slice(ER_SRC);
    out
}

pub(super) fn subdir_count(d: &FlatDir) -> u32 {
    d.children
        .iter()
        .filter(|c| matches!(c.kind, Kind::Dir(_)))
        .count() as u32
}

/// The records of one directory, in order. `ce` is the root's
/// continuation sector (Rock Ridge only).
pub(super) fn records(
    flat: &Flat<'_>,
    di: usize,
    joliet: bool,
    rr: bool,
    ce: u32,
    date: [u8; 7],
) -> Vec<Vec<u8>> {
    let d = &flat.dirs[di];
    let p = &flat.dirs[d.parent];
    let (me, parent) = if joliet {
        ((d.jlba, d.jsize), (p.jlba, p.jsize))
    } else {
        ((d.lba, d.size), (p.lba, p.size))
    };
    let rr = rr && !joliet;
    let mut out = Vec::new();
    let mut su = Vec::new();
    if rr {
        if di == 0 {
            su.extend_from_slice(&SP_ENTRY);
        }
        su.extend(rr_entries(None, true, 2 + subdir_count(d), date));
        if di == 0 {
            su.extend(ce_entry(ce, er_entry().len() as u32));
        }
    }
    out.push(dir_record(&[0], me.0, me.1, true, date, &su));
    let su = if rr {
        rr_entries(None, true, 2 + subdir_count(p), date)
    } else {
        Vec::new()
    };
    out.push(dir_record(&[1], parent.0, parent.1, true, date, &su));
    let order = if joliet { &d.jorder } else { &d.order };
    for &i in order {
        let c = &d.children[i];
        let id = if joliet { &c.joliet } else { &c.primary };
        let (extent, size, is_dir, links) = match c.kind {
            Kind::Dir(s) => {
                let sd = &flat.dirs[s];
                let (l, z) = if joliet {
                    (sd.jlba, sd.jsize)
                } else {
                    (sd.lba, sd.size)
                };
                (l, z, true, 2 + subdir_count(sd))
            }
            Kind::File(f) => {
                let ff = &flat.files[f];
                (ff.lba, ff.content.len() as u32, false, 1)
            }
        };
        let su = if rr {
            rr_entries(Some(&c.name), is_dir, links, date)
        } else {
            Vec::new()
        };
        out.push(dir_record(id, extent, size, is_dir, date, &su));
    }
    out
}

/// Packs records into sectors without crossing a boundary (ECMA-119 6.8.1.1).
pub(super) fn pack_records(records: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0u8; SECTOR];
    let mut used = 0usize;
    for r in records {
        if used + r.len() > SECTOR {
            out.resize(out.len() + SECTOR, 0);
            used = 0;
        }
        let at = out.len() - SECTOR + used;
        out[at..at + r.len()].copy_from_slice(r);
        used += r.len();
    }
    out
}

/// Path table (ECMA-119 9.4) of a tree, little- or big-endian.
pub(super) fn path_table(flat: &Flat<'_>, joliet: bool, big_endian: bool) -> Vec<u8> {
    let order = if joliet {
        &flat.joliet_order
    } else {
        &flat.primary_order
    };
    let mut number = vec![0u16; flat.dirs.len()];
    for (i, &d) in order.iter().enumerate() {
        number[d] = (i + 1) as u16;
    }
    let mut out = Vec::new();
    for &d in order {
        let dir = &flat.dirs[d];
        let id: Vec<u8> = if d == 0 {
            vec![0]
        } else {
            let p = &flat.dirs[dir.parent];
            let c = p
                .children
                .iter()
                .find(|c| matches!(c.kind, Kind::Dir(s) if s == d))
                .expect("child of its parent");
            if joliet {
                c.joliet.clone()
            } else {
                c.primary.clone()
            }
        };
        let lba = if joliet { dir.jlba } else { dir.lba };
        out.push(id.len() as u8);
        out.push(0);
        if big_endian {
            out.extend_from_slice(&lba.to_be_bytes());
            out.extend_from_slice(&number[dir.parent].to_be_bytes());
        } else {
            out.extend_from_slice(&lba.to_le_bytes());
            out.extend_from_slice(&number[dir.parent].to_le_bytes());
        }
        out.extend_from_slice(&id);
        if id.len() % 2 == 1 {
            out.push(0);
        }
    }
    out
}

/// A 17-byte volume descriptor date (ECMA-119 8.4.26.1), UTC.
pub(super) fn vd_date(unix: i64) -> [u8; 17] {
    let d = record_date(unix);
    let s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}00",
        u32::from(d[0]) + 1900,
        d[1],
        d[2],
        d[3],
        d[4],
        d[5]
    );
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(s.as_bytes());
    out
}

pub(super) const VD_DATE_UNSET: [u8; 17] = *b"0000000000000000\0";

pub(super) struct TreeLoc {
    pub(super) root_lba: u32,
    pub(super) root_size: u32,
    pub(super) pt_size: u32,
    pub(super) l_table: u32,
    pub(super) m_table: u32,
}

pub(super) fn fill_text(raw: &mut [u8], range: std::ops::Range<usize>, text: &str, joliet: bool) {
    let field = &mut raw[range];
    if joliet {
        for pair in field.chunks_exact_mut(2) {
            pair.copy_from_slice(&[0, b' ']);
        }
        let units = ucs2(text);
        let n = units.len().min(field.len() & !1);
        field[..n].copy_from_slice(&units[..n]);
    } else {
        field.fill(b' ');
        let n = text.len().min(field.len());
        field[..n].copy_from_slice(&text.as_bytes()[..n]);
    }
}

pub(super) fn volume_descriptor(
    vol: &Volume,
    loc: &TreeLoc,
    joliet: bool,
    sectors: u32,
    date: [u8; 7],
) -> Vec<u8> {
    let mut raw = vec![0u8; SECTOR];
    raw[VD_TYPE] = if joliet {
        VD_TYPE_SUPPLEMENTARY
    } else {
        VD_TYPE_PRIMARY
    };
    raw[VD_STD_ID].copy_from_slice(STD_ID);
    raw[VD_VERSION] = 1;
    fill_text(&mut raw, VD_SYSTEM_ID, "", joliet);
    fill_text(&mut raw, VD_VOLUME_ID, &vol.volume_id, joliet);
    write_both_u32(&mut raw, VD_VOLUME_SPACE, sectors);
    if joliet {
        raw[VD_ESCAPES.start..VD_ESCAPES.start + 3].copy_from_slice(JOLIET_ESCAPE);
    }
    write_both_u16(&mut raw, VD_SET_SIZE, 1);
    write_both_u16(&mut raw, VD_SEQ_NUMBER, 1);
    write_both_u16(&mut raw, VD_BLOCK_SIZE, SECTOR as u16);
    write_both_u32(&mut raw, VD_PATH_TABLE_SIZE, loc.pt_size);
    raw[VD_L_PATH_TABLE..VD_L_PATH_TABLE + 4].copy_from_slice(&loc.l_table.to_le_bytes());
    raw[VD_M_PATH_TABLE..VD_M_PATH_TABLE + 4].copy_from_slice(&loc.m_table.to_be_bytes());
    let root = dir_record(&[0], loc.root_lba, loc.root_size, true, date, &[]);
    raw[VD_ROOT_RECORD..VD_ROOT_RECORD + VD_ROOT_RECORD_LEN].copy_from_slice(&root);
    fill_text(&mut raw, VD_SET_ID, "", joliet);
    fill_text(&mut raw, VD_PUBLISHER, "", joliet);
    fill_text(&mut raw, VD_PREPARER, "ESXI-ISO", joliet);
    fill_text(&mut raw, VD_APPLICATION, "", joliet);
    fill_text(&mut raw, VD_FILE_IDS, "", joliet);
    let d = vd_date(vol.unix_time);
    raw[VD_CREATED..VD_CREATED + 17].copy_from_slice(&d);
    raw[VD_MODIFIED..VD_MODIFIED + 17].copy_from_slice(&d);
    raw[VD_EXPIRES..VD_EXPIRES + 17].copy_from_slice(&VD_DATE_UNSET);
    raw[VD_EFFECTIVE..VD_EFFECTIVE + 17].copy_from_slice(&d);
    raw[VD_FILE_STRUCTURE] = 1;
    raw
}

pub(super) fn boot_record(catalog: u32) -> Vec<u8> {
    let mut raw = vec![0u8; SECTOR];
    raw[VD_TYPE] = VD_TYPE_BOOT;
    raw[VD_STD_ID].copy_from_slice(STD_ID);
    raw[VD_VERSION] = 1;
    raw[BR_SYSTEM_ID.start..BR_SYSTEM_ID.start + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
    raw[BR_CATALOG_LBA..BR_CATALOG_LBA + 4].copy_from_slice(&catalog.to_le_bytes());
    raw
}

pub(super) fn terminator() -> Vec<u8> {
    let mut raw = vec![0u8; SECTOR];
    raw[VD_TYPE] = VD_TYPE_TERMINATOR;
    raw[VD_STD_ID].copy_from_slice(STD_ID);
    raw[VD_VERSION] = 1;
    raw
}

/// The boot catalog sector (El Torito 1.0 section 2): validation entry,
/// default entry, then one section (header + entry) per further image.
pub fn catalog(entries: &[(u8, u16, u32)]) -> Vec<u8> {
    let mut s = vec![0u8; SECTOR];
    s[0] = 0x01;
    s[1] = entries.first().map_or(PLATFORM_X86, |e| e.0);
    s[30] = 0x55;
    s[31] = 0xAA;
    let sum = s[..32].chunks_exact(2).fold(0u16, |a, w| {
        a.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
    });
    s[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
    let entry = |s: &mut [u8], at: usize, load: u16, lba: u32| {
        s[at] = 0x88;
        s[at + 1] = 0; // no emulation
        s[at + 6..at + 8].copy_from_slice(&load.to_le_bytes());
        s[at + 8..at + 12].copy_from_slice(&lba.to_le_bytes());
    };
    if let Some(&(_, load, lba)) = entries.first() {
        entry(&mut s, 32, load, lba);
    }
    let rest = entries.get(1..).unwrap_or(&[]);
    let mut at = 64;
    for (i, &(platform, load, lba)) in rest.iter().enumerate() {
        s[at] = if i + 1 == rest.len() { 0x91 } else { 0x90 };
        s[at + 1] = platform;
        s[at + 2..at + 4].copy_from_slice(&1u16.to_le_bytes());
        entry(&mut s, at + 32, load, lba);
        at += 64;
    }
    s
}

/// Writes the boot-info-table (pvd LBA, file LBA, length, checksum of bytes
/// 64..end) into a boot image's bytes; bytes 24..64 are zeroed.
pub fn patch_boot_info_table(data: &mut [u8], lba: u32) {
    let len = data.len() as u32;
    let sum = eltorito::checksum(&data[eltorito::BIT_END..]);
    data[eltorito::BIT_PVD..eltorito::BIT_END].fill(0);
    data[eltorito::BIT_PVD..eltorito::BIT_PVD + 4]
        .copy_from_slice(&FIRST_DESCRIPTOR_LBA.to_le_bytes());
    data[eltorito::BIT_FILE..eltorito::BIT_FILE + 4].copy_from_slice(&lba.to_le_bytes());
    data[eltorito::BIT_LENGTH..eltorito::BIT_LENGTH + 4].copy_from_slice(&len.to_le_bytes());
    data[eltorito::BIT_CHECKSUM..eltorito::BIT_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
}
