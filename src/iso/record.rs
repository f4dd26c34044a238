//! Directory records (ECMA-119 9.1) and the System Use entries of Rock
//! Ridge (IEEE P1282 / SUSP 1.12) that esxi-iso reads or writes.
//!
//! Parsing checks every length against its buffer. Only the Rock Ridge
//! entries needed here are interpreted: `SP` (presence), `NM` (names) and
//! `CE` (continuation areas, read by the caller). Everything else is kept as
//! raw bytes and written back unchanged.

use super::format::*;

/// One parsed directory record, with its raw bytes kept for rewriting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub raw: Vec<u8>,
    pub extent: u32,
    pub size: u32,
    pub flags: u8,
}

/// Why a record could not be parsed; the caller adds the LBA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    TooShort(usize),
    PastSector { len: usize, room: usize },
    NameTooLong { name_len: usize, len: usize },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooShort(len) => {
                write!(f, "directory record length {len} is below the minimum 34")
            }
            Self::PastSector { len, room } => {
                write!(
                    f,
                    "directory record length {len} runs past its sector ({room} bytes left)"
                )
            }
            Self::NameTooLong { name_len, len } => {
                write!(
                    f,
                    "file identifier length {name_len} does not fit record length {len}"
                )
            }
        }
    }
}

impl Record {
    /// Parses the record at the start of `buf` (which ends at the sector
    /// boundary). Returns `Ok(None)` for the zero padding at a sector's end.
    pub fn parse(buf: &[u8]) -> Result<Option<Record>, RecordError> {
        let Some(&len) = buf.first() else {
            return Ok(None);
        };
        let len = usize::from(len);
        if len == 0 {
            return Ok(None);
        }
        if len < DR_MIN_LEN - 1 || buf.len() < DR_MIN_LEN - 1 {
            return Err(RecordError::TooShort(len));
        }
        if len > buf.len() {
            return Err(RecordError::PastSector {
                len,
                room: buf.len(),
            });
        }
        let name_len = usize::from(buf[DR_NAME_LEN]);
        if DR_NAME + name_len > len {
            return Err(RecordError::NameTooLong { name_len, len });
        }
        let raw = buf[..len].to_vec();
        Ok(Some(Record {
            extent: le_u32(&raw, DR_EXTENT),
            size: le_u32(&raw, DR_DATA_LEN),
            flags: raw[DR_FLAGS],
            raw,
        }))
    }

    pub fn identifier(&self) -> &[u8] {
        let n = usize::from(self.raw[DR_NAME_LEN]);
        &self.raw[DR_NAME..DR_NAME + n]
    }

    /// `.` (identifier 0x00) or `..` (0x01).
    pub fn is_self_or_parent(&self) -> bool {
        matches!(self.identifier(), [0] | [1])
    }

    pub fn is_dir(&self) -> bool {
        self.flags & FLAG_DIRECTORY != 0
    }

    pub fn is_multi_extent(&self) -> bool {
        self.flags & FLAG_MULTI_EXTENT != 0
    }

    /// The System Use area (after the identifier and its pad byte).
    pub fn system_use(&self) -> &[u8] {
        &self.raw[system_use_start(&self.raw)..]
    }

    pub fn set_extent(&mut self, extent: u32) {
        self.extent = extent;
        write_both_u32(&mut self.raw, DR_EXTENT, extent);
    }

    pub fn set_size(&mut self, size: u32) {
        self.size = size;
        write_both_u32(&mut self.raw, DR_DATA_LEN, size);
    }

    pub fn set_flags(&mut self, flags: u8) {
        self.flags = flags;
        self.raw[DR_FLAGS] = flags;
    }

    pub fn set_date(&mut self, date: [u8; 7]) {
        self.raw[DR_DATE].copy_from_slice(&date);
    }

    /// Builds a new file record; `system_use` is appended as is.
    pub fn new_file(
        identifier: &[u8],
        extent: u32,
        size: u32,
        date: [u8; 7],
        system_use: &[u8],
    ) -> Record {
        let pad = usize::from(identifier.len() % 2 == 0);
        let mut len = DR_NAME + identifier.len() + pad + system_use.len();
        len += len % 2; // records have even length (ECMA-119 9.1.13)
        let mut raw = vec![0u8; len];
        raw[DR_LEN] = len as u8;
        write_both_u32(&mut raw, DR_EXTENT, extent);
        write_both_u32(&mut raw, DR_DATA_LEN, size);
        raw[DR_DATE].copy_from_slice(&date);
        raw[DR_FLAGS] = 0;
        raw[DR_FILE_UNIT] = 0;
        raw[DR_INTERLEAVE] = 0;
        write_both_u16(&mut raw, DR_VOL_SEQ, 1);
        raw[DR_NAME_LEN] = identifier.len() as u8;
        raw[DR_NAME..DR_NAME + identifier.len()].copy_from_slice(identifier);
        let su = DR_NAME + identifier.len() + pad;
        raw[su..su + system_use.len()].copy_from_slice(system_use);
        Record {
            extent,
            size,
            flags: 0,
            raw,
        }
    }
}

fn system_use_start(raw: &[u8]) -> usize {
    let n = usize::from(raw[DR_NAME_LEN]);
    let start = DR_NAME + n + usize::from(n % 2 == 0);
    start.min(raw.len())
}

/// ISO9660 directory order (ECMA-119 9.3): by name, then extension; the
/// caller keeps `.` and `..` first. Joliet identifiers (UCS-2) sort by
/// code units the same way.
pub fn sort_key(id: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let base = match id.iter().rposition(|&b| b == b';') {
        Some(i) => &id[..i],
        None => id,
    };
    match base.iter().position(|&b| b == b'.') {
        Some(i) => (base[..i].to_vec(), base[i + 1..].to_vec()),
        None => (base.to_vec(), Vec::new()),
    }
}

/// One System Use entry: signature, version and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuEntry<'a> {
    pub sig: [u8; 2],
    pub version: u8,
    pub data: &'a [u8],
}

/// Iterates the SUSP entries of a System Use area, stopping at the first
/// entry whose length is impossible (short or past the area) or at `ST`.
pub fn su_entries(area: &[u8]) -> impl Iterator<Item = SuEntry<'_>> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos + 4 > area.len() {
            return None;
        }
        let len = usize::from(area[pos + 2]);
        if len < 4 || pos + len > area.len() {
            return None;
        }
        let e = SuEntry {
            sig: [area[pos], area[pos + 1]],
            version: area[pos + 3],
            data: &area[pos + 4..pos + len],
        };
        pos += len;
        if &e.sig == b"ST" {
            return None;
        }
        Some(e)
    })
}

/// A continuation area named by a `CE` entry: (LBA, offset, length).
pub fn continuation(area: &[u8]) -> Option<(u32, u32, u32)> {
    su_entries(area)
        .find(|e| &e.sig == b"CE" && e.data.len() >= 24)
        .map(|e| (le_u32(e.data, 0), le_u32(e.data, 8), le_u32(e.data, 16)))
}

/// Collects a Rock Ridge `NM` name from System Use areas (the record's own
/// area followed by any continuation area). `.`/`..` flags yield None.
pub fn rock_ridge_name<'a>(areas: impl IntoIterator<Item = &'a [u8]>) -> Option<String> {
    let mut name = Vec::new();
    let mut seen = false;
    for area in areas {
        for e in su_entries(area).filter(|e| &e.sig == b"NM") {
            let Some((&flags, text)) = e.data.split_first() else {
                continue;
            };
            if flags & 0x06 != 0 {
                return None;
            }
            seen = true;
            name.extend_from_slice(text);
            if flags & 0x01 == 0 {
                return Some(String::from_utf8_lossy(&name).into_owned());
            }
        }
    }
    seen.then(|| String::from_utf8_lossy(&name).into_owned())
}

/// `SP` at the start of the root's `.` record marks SUSP; the byte count
/// to skip in every System Use area follows it (SUSP 5.3).
pub fn susp_skip(root_self_area: &[u8]) -> Option<u8> {
    let e = su_entries(root_self_area).next()?;
    (&e.sig == b"SP" && e.data.len() >= 3 && e.data[..2] == [0xBE, 0xEF]).then(|| e.data[2])
}

/// Builds Rock Ridge entries for a new regular file: `RR` (RRIP 1.09, when
/// `with_rr`), `PX` with the given length (36 for RRIP 1.09, 44 for 1.12),
/// `TF` with a modify time, and `NM`.
pub fn rock_ridge_file_entries(
    name: &str,
    mode: u32,
    px_len: u8,
    with_rr: bool,
    date: [u8; 7],
) -> Vec<u8> {
    rock_ridge_entries(Some(name), mode, 1, px_len, with_rr, date)
}

/// Rock Ridge entries for any record; `name` None for `.` and `..`.
pub fn rock_ridge_entries(
    name: Option<&str>,
    mode: u32,
    links: u32,
    px_len: u8,
    with_rr: bool,
    date: [u8; 7],
) -> Vec<u8> {
    let mut out = Vec::new();
    if with_rr {
        // Flags: PX, TF, and NM when named (RRIP 1.09 4.1.5).
        let flags = 0x01 | 0x80 | if name.is_some() { 0x08 } else { 0 };
        out.extend_from_slice(&[b'R', b'R', 5, 1, flags]);
    }
    let mut px = vec![b'P', b'X', px_len, 1];
    let mut field = |v: u32| {
        px.extend_from_slice(&v.to_le_bytes());
        px.extend_from_slice(&v.to_be_bytes());
    };
    field(mode);
    field(links);
    field(0); // uid
    field(0); // gid
    if px_len >= 44 {
        field(0); // serial number
    }
    out.extend_from_slice(&px);
    out.extend_from_slice(&[b'T', b'F', 5 + 7, 1, 0x02]);
    out.extend_from_slice(&date);
    if let Some(name) = name {
        let nm_len = 5 + name.len();
        out.extend_from_slice(&[b'N', b'M', nm_len as u8, 1, 0]);
        out.extend_from_slice(name.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_record_round_trips() {
        let date = record_date(0);
        let su = rock_ridge_file_entries("KS.CFG", 0o100444, 36, true, date);
        let rec = Record::new_file(b"KS.CFG;1", 1234, 99, date, &su);
        assert_eq!(rec.raw.len() % 2, 0);
        let parsed = Record::parse(&rec.raw).unwrap().unwrap();
        assert_eq!(parsed, rec);
        assert_eq!(parsed.identifier(), b"KS.CFG;1");
        assert_eq!(
            (parsed.extent, parsed.size, parsed.is_dir()),
            (1234, 99, false)
        );
        assert_eq!(
            rock_ridge_name([parsed.system_use()]).as_deref(),
            Some("KS.CFG")
        );
        assert_eq!(
            &parsed.raw[DR_EXTENT + 4..DR_EXTENT + 8],
            &1234u32.to_be_bytes()
        );
    }

    #[test]
    fn parse_rejects_bad_lengths() {
        assert_eq!(Record::parse(&[]), Ok(None));
        assert_eq!(Record::parse(&[0, 1, 2]), Ok(None));
        let mut buf = [0u8; 40];
        buf[0] = 20;
        assert_eq!(Record::parse(&buf), Err(RecordError::TooShort(20)));
        buf[0] = 60;
        assert_eq!(
            Record::parse(&buf),
            Err(RecordError::PastSector { len: 60, room: 40 })
        );
        buf[0] = 34;
        buf[DR_NAME_LEN] = 5;
        assert_eq!(
            Record::parse(&buf),
            Err(RecordError::NameTooLong {
                name_len: 5,
                len: 34
            })
        );
    }

    #[test]
    fn su_entries_stop_at_bad_length() {
        let area = [b'N', b'M', 7, 1, 0, b'a', b'b', b'X', b'Y', 2, 1];
        let v: Vec<_> = su_entries(&area).collect();
        assert_eq!(v.len(), 1);
        assert_eq!(rock_ridge_name([&area[..]]).as_deref(), Some("ab"));
    }

    #[test]
    fn nm_continuation_joins_parts() {
        let area = [b'N', b'M', 7, 1, 1, b'a', b'b', b'N', b'M', 6, 1, 0, b'c'];
        assert_eq!(rock_ridge_name([&area[..]]).as_deref(), Some("abc"));
    }
}
