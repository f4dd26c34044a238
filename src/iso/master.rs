//! Mastering a new ISO9660 image from a file tree (what `mkisofs` does, for
//! the shape of image the ESXi loaders read).
//!
//! Layout, in order:
//! 1. system area (sectors 0-15, zero);
//! 2. volume descriptors from sector 16: primary, El Torito boot record
//!    (when there are boot images), Joliet supplementary (when asked),
//!    terminator;
//! 3. path tables: L then M of the primary tree, then L and M of Joliet;
//! 4. directories of the primary tree, then of the Joliet tree, each tree
//!    in path-table order (breadth first, ECMA-119 9.4);
//! 5. the Rock Ridge continuation sector holding the root's `ER` entry;
//! 6. the boot catalog;
//! 7. file data, in primary directory order, each file one contiguous
//!    extent starting on a sector boundary (the UEFI ISO9660 driver reads
//!    nothing else). The BIOS image gets its boot-info-table patched in.
//!
//! Names: the primary tree carries uppercase 8.3 identifiers with `;1`
//! (ECMA-119 level 1), sorted as ECMA-119 9.3 says. Rock Ridge (RRIP 1.09:
//! `RR`, `PX`, `TF`, `NM`, `SP`/`CE`/`ER` on the root) and Joliet (UCS-2,
//! `%/E`) carry the tree's own names for other readers; they never change
//! the primary names. Every date is the one `unix_time` given (the caller
//! takes it from SOURCE_DATE_EPOCH), so equal inputs give equal bytes.
//!
//! Not covered: multi-extent files (4 GiB and more), Rock Ridge names too
//! long for one directory record (no `NM` continuation), directories deeper
//! than 8 levels (no `RE`/`CL` relocation), emulated boot images.
//! References: ECMA-119 4th edition, El Torito 1.0, SUSP 1.10, RRIP 1.09,
//! Joliet specification (1995).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::eltorito::{self, PLATFORM_X86};
use super::format::*;
use super::name;
use super::writer::{copy_range, copy_range_userspace, is_unsupported, Watch};
use super::IsoError;

/// Largest BIOS boot image accepted: it is read into memory to patch its
/// boot-info-table (ISOLINUX.BIN is about 40 KB).
pub const MAX_BIT_IMAGE: u64 = 16 << 20;
/// Deepest directory nesting of the primary tree (ECMA-119 6.8.2.1).
pub const MAX_DEPTH: usize = 8;
/// Joliet names are at most 64 UCS-2 characters.
pub const MAX_JOLIET_NAME: usize = 64;
/// Bytes per copy call: the unit of progress and cancellation checks.
const CHUNK: u64 = 8 << 20;

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

/// What a file holds: a file on disk (streamed) or bytes in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Path { path: PathBuf, len: u64 },
    Bytes(Vec<u8>),
}

impl Content {
    pub fn len(&self) -> u64 {
        match self {
            Content::Path { len, .. } => *len,
            Content::Bytes(b) => b.len() as u64,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read_all(&self, cap: u64) -> io::Result<Vec<u8>> {
        match self {
            Content::Bytes(b) => Ok(b.clone()),
            Content::Path { path, len } => {
                if *len > cap {
                    return Err(io::Error::other(format!(
                        "{} is {len} bytes, over the {cap}-byte limit",
                        path.display()
                    )));
                }
                let mut buf = Vec::with_capacity(*len as usize);
                File::open(path)?.take(*len).read_to_end(&mut buf)?;
                if buf.len() as u64 != *len {
                    return Err(io::Error::other(format!(
                        "{} changed size while packing",
                        path.display()
                    )));
                }
                Ok(buf)
            }
        }
    }
}

/// A directory: its entries by name (the name Rock Ridge and Joliet show).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dir {
    pub entries: BTreeMap<String, Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir(Dir),
    File(Content),
}

impl Dir {
    /// Looks a `/`-separated path up by exact name.
    pub fn get(&self, path: &str) -> Option<&Node> {
        let mut parts = path.split('/').filter(|p| !p.is_empty()).peekable();
        let mut dir = self;
        while let Some(part) = parts.next() {
            let node = dir.entries.get(part)?;
            if parts.peek().is_none() {
                return Some(node);
            }
            match node {
                Node::Dir(d) => dir = d,
                Node::File(_) => return None,
            }
        }
        None
    }

    /// The actual path (exact names) of the entry whose primary name is
    /// `path` compared case-insensitively, as the ESXi loaders look up.
    pub fn find_loader_path(&self, path: &str) -> Option<String> {
        let mut out = Vec::new();
        let mut dir = self;
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let (name, node) = dir
                .entries
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(part))?;
            out.push(name.clone());
            match node {
                Node::Dir(d) => dir = d,
                Node::File(_) if i + 1 == parts.len() => {}
                Node::File(_) => return None,
            }
        }
        (!out.is_empty()).then(|| out.join("/"))
    }

    /// Puts a file at `path`, replacing one or creating parent directories.
    pub fn put(&mut self, path: &str, content: Content) -> Result<(), String> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let (last, init) = parts.split_last().ok_or("empty path")?;
        let mut dir = self;
        for part in init {
            let node = dir
                .entries
                .entry(part.to_string())
                .or_insert_with(|| Node::Dir(Dir::default()));
            dir = match node {
                Node::Dir(d) => d,
                Node::File(_) => return Err(format!("{part} is a file, not a directory")),
            };
        }
        if let Some(Node::Dir(_)) = dir.entries.get(*last) {
            return Err(format!("{path} is a directory"));
        }
        dir.entries.insert(last.to_string(), Node::File(content));
        Ok(())
    }

    pub fn remove(&mut self, path: &str) -> Option<Node> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let (last, init) = parts.split_last()?;
        let mut dir = self;
        for part in init {
            dir = match dir.entries.get_mut(*part)? {
                Node::Dir(d) => d,
                Node::File(_) => return None,
            };
        }
        dir.entries.remove(*last)
    }
}

/// One El Torito entry. Only no-emulation images are supported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootImage {
    pub platform: u8,
    /// Path in the tree (exact names, no leading slash).
    pub image: String,
    /// Virtual 512-byte sectors the firmware loads.
    pub load_size: u16,
    pub boot_info_table: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// Path of the catalog in the tree; a file there is replaced.
    pub catalog: String,
    /// The first entry is the default entry.
    pub entries: Vec<BootImage>,
}

/// Everything the new image is made of.
#[derive(Debug, Clone)]
pub struct Volume {
    pub volume_id: String,
    pub root: Dir,
    pub rock_ridge: bool,
    pub joliet: bool,
    pub boot: Option<Boot>,
    /// The one date used for every timestamp.
    pub unix_time: i64,
}

/// One piece of the output; each starts on a sector boundary and is
/// followed by zeros up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    File { path: PathBuf, len: u64 },
}

/// The laid-out image, ready to stream.
#[derive(Debug, Clone)]
pub struct Image {
    pub pieces: Vec<Piece>,
    pub sectors: u32,
    /// Where each file landed: (path in the tree, LBA, length).
    pub extents: Vec<(String, u32, u64)>,
}

impl Image {
    pub fn total_len(&self) -> u64 {
        u64::from(self.sectors) * SECTOR_U64
    }
}

/// Checks a volume identifier: 1-32 uppercase a-characters (ECMA-119 7.4.1,
/// which VMware's `ESXI-8.0U3-...` uses).
pub fn validate_volume_id(id: &str) -> Result<(), String> {
    let ok_char = |c: char| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || " !\"%&'()*+,-./:;<=>?_".contains(c)
    };
    if id.is_empty() || id.len() > 32 || !id.chars().all(ok_char) {
        let suggestion: String = id
            .chars()
            .map(|c| c.to_ascii_uppercase())
            .map(|c| if ok_char(c) { c } else { '_' })
            .take(32)
            .collect();
        return Err(format!(
            "volume id {id:?} is not 1-32 uppercase letters, digits or ISO9660 a-characters (try {suggestion:?})"
        ));
    }
    Ok(())
}

/// The primary identifier of a name: as is, or uppercased when another
/// tree keeps the real name (`fold_case`). Errors suggest a valid name.
pub fn primary_name(name: &str, is_dir: bool, fold_case: bool) -> Result<String, String> {
    let n = if fold_case {
        name.to_ascii_uppercase()
    } else {
        name.to_string()
    };
    let checked = if is_dir {
        name::validate_path(&format!("/{n}/X"))
    } else {
        name::validate_file(&n).map(|_| n.clone())
    };
    checked.map(|_| n).map_err(|_| {
        let suggestion = name::suggest_part(name, !is_dir);
        let what = if is_dir { "directory" } else { "file" };
        format!(
            "{what} name {name:?} is not an uppercase 8.3 ISO9660 name the ESXi loaders can read: rename it, e.g. to {suggestion:?}"
        )
    })
}

// ---------------------------------------------------------------------------
// Flattened trees

struct FlatDir {
    /// Path in the tree ("" for the root).
    path: String,
    parent: usize,
    children: Vec<Child>,
    /// Child indices in primary / Joliet directory order.
    order: Vec<usize>,
    jorder: Vec<usize>,
    lba: u32,
    size: u32,
    jlba: u32,
    jsize: u32,
}

struct Child {
    name: String,
    primary: Vec<u8>,
    joliet: Vec<u8>,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Dir(usize),
    File(usize),
}

struct FlatFile<'a> {
    path: String,
    content: &'a Content,
    lba: u32,
}

/// ECMA-119 9.3 order: name, then extension, then version (all ours are 1).
fn sort_key(id: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let base = match id.iter().rposition(|&b| b == b';') {
        Some(i) => &id[..i],
        None => id,
    };
    match base.iter().position(|&b| b == b'.') {
        Some(i) => (base[..i].to_vec(), base[i + 1..].to_vec()),
        None => (base.to_vec(), Vec::new()),
    }
}

/// Joliet identifiers sort by UCS-2 code units with the same rule.
fn joliet_sort_key(id: &[u8]) -> (Vec<u16>, Vec<u16>) {
    let units: Vec<u16> = id
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let base = match units.iter().rposition(|&u| u == u16::from(b';')) {
        Some(i) => &units[..i],
        None => &units[..],
    };
    match base.iter().position(|&u| u == u16::from(b'.')) {
        Some(i) => (base[..i].to_vec(), base[i + 1..].to_vec()),
        None => (base.to_vec(), Vec::new()),
    }
}

fn ucs2(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

struct Flat<'a> {
    dirs: Vec<FlatDir>,
    files: Vec<FlatFile<'a>>,
    /// Directory indices in path-table order, per tree.
    primary_order: Vec<usize>,
    joliet_order: Vec<usize>,
}

fn flatten(vol: &Volume) -> Result<Flat<'_>, IsoError> {
    let fold = vol.rock_ridge || vol.joliet;
    let bad = |what: String| IsoError::Unsupported(what);
    let mut dirs = vec![FlatDir {
        path: String::new(),
        parent: 0,
        children: Vec::new(),
        order: Vec::new(),
        jorder: Vec::new(),
        lba: 0,
        size: 0,
        jlba: 0,
        jsize: 0,
    }];
    let mut files = Vec::new();
    let mut queue = std::collections::VecDeque::from([(0usize, &vol.root, 1usize)]);
    while let Some((di, dir, depth)) = queue.pop_front() {
        let mut children = Vec::new();
        for (name, node) in &dir.entries {
            let path = join(&dirs[di].path, name);
            if name.is_empty() || name.contains(['/', '\0']) || name == "." || name == ".." {
                return Err(bad(format!("/{path}: not a usable file name")));
            }
            let is_dir = matches!(node, Node::Dir(_));
            let primary =
                primary_name(name, is_dir, fold).map_err(|e| bad(format!("/{path}: {e}")))?;
            if vol.joliet && name.encode_utf16().count() > MAX_JOLIET_NAME {
                return Err(bad(format!(
                    "/{path}: Joliet names are at most {MAX_JOLIET_NAME} characters"
                )));
            }
            let kind = match node {
                Node::Dir(sub) => {
                    if depth >= MAX_DEPTH {
                        return Err(bad(format!(
                            "/{path}: directories nest deeper than ISO9660's {MAX_DEPTH} levels"
                        )));
                    }
                    let idx = dirs.len();
                    dirs.push(FlatDir {
                        path: path.clone(),
                        parent: di,
                        children: Vec::new(),
                        order: Vec::new(),
                        jorder: Vec::new(),
                        lba: 0,
                        size: 0,
                        jlba: 0,
                        jsize: 0,
                    });
                    queue.push_back((idx, sub, depth + 1));
                    Kind::Dir(idx)
                }
                Node::File(content) => {
                    if content.len() > u64::from(u32::MAX) {
                        return Err(bad(format!(
                            "/{path}: files of 4 GiB or more need multi-extent records, which esxi-iso does not write"
                        )));
                    }
                    files.push(FlatFile {
                        path: path.clone(),
                        content,
                        lba: 0,
                    });
                    Kind::File(files.len() - 1)
                }
            };
            let (primary, joliet) = match kind {
                Kind::Dir(_) => (primary.into_bytes(), ucs2(name)),
                // Joliet names carry no version, as genisoimage writes them.
                Kind::File(_) => (format!("{primary};1").into_bytes(), ucs2(name)),
            };
            children.push(Child {
                name: name.clone(),
                primary,
                joliet,
                kind,
            });
        }
        let mut order: Vec<usize> = (0..children.len()).collect();
        order.sort_by_key(|&i| sort_key(&children[i].primary));
        for w in order.windows(2) {
            let (a, b) = (&children[w[0]], &children[w[1]]);
            if sort_key(&a.primary) == sort_key(&b.primary) {
                return Err(bad(format!(
                    "/{} and /{} have the same ISO9660 name {}: rename one",
                    join(&dirs[di].path, &a.name),
                    join(&dirs[di].path, &b.name),
                    String::from_utf8_lossy(&a.primary)
                )));
            }
        }
        let mut jorder: Vec<usize> = (0..children.len()).collect();
        jorder.sort_by_key(|&i| joliet_sort_key(&children[i].joliet));
        dirs[di].children = children;
        dirs[di].order = order;
        dirs[di].jorder = jorder;
    }
    let bfs = |joliet: bool| {
        let mut out = vec![0usize];
        let mut i = 0;
        while i < out.len() {
            let d = &dirs[out[i]];
            let ord = if joliet { &d.jorder } else { &d.order };
            for &c in ord {
                if let Kind::Dir(sub) = d.children[c].kind {
                    out.push(sub);
                }
            }
            i += 1;
        }
        out
    };
    let primary_order = bfs(false);
    let joliet_order = bfs(true);
    // File data follows primary directory order.
    let mut file_order = Vec::new();
    for &d in &primary_order {
        for &c in &dirs[d].order {
            if let Kind::File(f) = dirs[d].children[c].kind {
                file_order.push(f);
            }
        }
    }
    let mut sorted: Vec<Option<FlatFile<'_>>> = files.into_iter().map(Some).collect();
    let mut remap = vec![0usize; sorted.len()];
    let mut files = Vec::with_capacity(sorted.len());
    for (new, &old) in file_order.iter().enumerate() {
        remap[old] = new;
        files.push(sorted[old].take().expect("each file once"));
    }
    for d in &mut dirs {
        for c in &mut d.children {
            if let Kind::File(f) = &mut c.kind {
                *f = remap[*f];
            }
        }
    }
    Ok(Flat {
        dirs,
        files,
        primary_order,
        joliet_order,
    })
}

// ---------------------------------------------------------------------------
// Records

fn dir_record(
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

fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    write_both_u32(&mut b, 0, v);
    b
}

/// Rock Ridge entries of one record: `RR`, `PX`, `TF` and, for named
/// records, `NM`.
fn rr_entries(name: Option<&str>, is_dir: bool, links: u32, date: [u8; 7]) -> Vec<u8> {
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

const SP_ENTRY: [u8; 7] = [b'S', b'P', 7, 1, 0xBE, 0xEF, 0];
const CE_LEN: usize = 28;

fn ce_entry(lba: u32, len: u32) -> Vec<u8> {
    let mut out = vec![b'C', b'E', CE_LEN as u8, 1];
    out.extend_from_slice(&both32(lba));
    out.extend_from_slice(&both32(0));
    out.extend_from_slice(&both32(len));
    out
}

fn er_entry() -> Vec<u8> {
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

fn subdir_count(d: &FlatDir) -> u32 {
    d.children
        .iter()
        .filter(|c| matches!(c.kind, Kind::Dir(_)))
        .count() as u32
}

/// The records of one directory, in order. `ce` is the root's
/// continuation sector (Rock Ridge only).
fn records(
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
fn pack_records(records: &[Vec<u8>]) -> Vec<u8> {
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
fn path_table(flat: &Flat<'_>, joliet: bool, big_endian: bool) -> Vec<u8> {
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
fn vd_date(unix: i64) -> [u8; 17] {
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

const VD_DATE_UNSET: [u8; 17] = *b"0000000000000000\0";

struct TreeLoc {
    root_lba: u32,
    root_size: u32,
    pt_size: u32,
    l_table: u32,
    m_table: u32,
}

fn fill_text(raw: &mut [u8], range: std::ops::Range<usize>, text: &str, joliet: bool) {
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

fn volume_descriptor(
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

fn boot_record(catalog: u32) -> Vec<u8> {
    let mut raw = vec![0u8; SECTOR];
    raw[VD_TYPE] = VD_TYPE_BOOT;
    raw[VD_STD_ID].copy_from_slice(STD_ID);
    raw[VD_VERSION] = 1;
    raw[BR_SYSTEM_ID.start..BR_SYSTEM_ID.start + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
    raw[BR_CATALOG_LBA..BR_CATALOG_LBA + 4].copy_from_slice(&catalog.to_le_bytes());
    raw
}

fn terminator() -> Vec<u8> {
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

/// Lays the volume out. Fails on names or shapes the primary tree can't
/// carry, a missing boot image, or a boot image that can't be read.
pub fn layout(vol: &Volume) -> Result<Image, IsoError> {
    let bad = |what: String| IsoError::Unsupported(what);
    if let Err(e) = validate_volume_id(&vol.volume_id) {
        return Err(bad(e));
    }
    let mut root = vol.root.clone();
    let mut vol_boot = None;
    if let Some(boot) = &vol.boot {
        if boot.entries.is_empty() {
            return Err(bad("El Torito: no boot images".into()));
        }
        // The catalog is generated: whatever file sits at its path is replaced.
        root.put(&boot.catalog, Content::Bytes(vec![0u8; SECTOR]))
            .map_err(|e| bad(format!("boot catalog /{}: {e}", boot.catalog)))?;
        for e in &boot.entries {
            match root.get(&e.image) {
                Some(Node::File(_)) => {}
                _ => {
                    return Err(IsoError::NotFound(format!(
                        "boot image /{} is not a file in the tree",
                        e.image
                    )))
                }
            }
            if e.image == boot.catalog {
                return Err(bad(format!(
                    "/{} is both a boot image and the catalog",
                    e.image
                )));
            }
        }
        vol_boot = Some(boot);
    }
    let vol2 = Volume {
        root,
        ..vol.clone()
    };
    let vol = &vol2;
    let date = record_date(vol.unix_time);
    let mut flat = flatten(vol)?;

    // Volume descriptors.
    let mut next = FIRST_DESCRIPTOR_LBA + 1; // after the PVD
    if vol_boot.is_some() {
        next += 1;
    }
    if vol.joliet {
        next += 1;
    }
    next += 1; // terminator

    // Path tables (sizes don't depend on LBAs).
    let pt_sectors =
        |joliet: bool| sectors_for(path_table(&flat, joliet, false).len() as u64) as u32;
    let p_pt = path_table(&flat, false, false).len() as u32;
    let (p_l, p_m) = (next, next + pt_sectors(false));
    next += 2 * pt_sectors(false);
    let (mut j_pt, mut j_l, mut j_m) = (0, 0, 0);
    if vol.joliet {
        j_pt = path_table(&flat, true, false).len() as u32;
        j_l = next;
        j_m = next + pt_sectors(true);
        next += 2 * pt_sectors(true);
    }

    // Directories: sizes first (record lengths don't depend on LBAs).
    for joliet in [false, true] {
        if joliet && !vol.joliet {
            continue;
        }
        let order = if joliet {
            flat.joliet_order.clone()
        } else {
            flat.primary_order.clone()
        };
        for d in order {
            let size =
                pack_records(&records(&flat, d, joliet, vol.rock_ridge, 0, date)).len() as u32;
            let fd = &mut flat.dirs[d];
            if joliet {
                (fd.jlba, fd.jsize) = (next, size);
            } else {
                (fd.lba, fd.size) = (next, size);
            }
            next += size / SECTOR as u32;
        }
    }
    let ce = if vol.rock_ridge {
        next += 1;
        next - 1
    } else {
        0
    };
    let catalog_lba = if vol_boot.is_some() {
        next += 1;
        next - 1
    } else {
        0
    };
    // File data.
    let meta_end = next;
    let catalog_path = vol_boot.map(|b| b.catalog.clone());
    for f in &mut flat.files {
        if Some(&f.path) == catalog_path.as_ref() {
            f.lba = catalog_lba;
            continue;
        }
        f.lba = next;
        let sectors = sectors_for(f.content.len());
        next = u32::try_from(u64::from(next) + sectors)
            .map_err(|_| bad("the image would exceed 2^32 sectors".into()))?;
    }
    let total = next;

    // Metadata bytes.
    let mut meta = vec![0u8; meta_end as usize * SECTOR];
    let mut put = |lba: u32, bytes: &[u8]| {
        let at = lba as usize * SECTOR;
        meta[at..at + bytes.len()].copy_from_slice(bytes);
    };
    let root = &flat.dirs[0];
    let ploc = TreeLoc {
        root_lba: root.lba,
        root_size: root.size,
        pt_size: p_pt,
        l_table: p_l,
        m_table: p_m,
    };
    let mut vd = FIRST_DESCRIPTOR_LBA;
    put(vd, &volume_descriptor(vol, &ploc, false, total, date));
    vd += 1;
    if vol_boot.is_some() {
        put(vd, &boot_record(catalog_lba));
        vd += 1;
    }
    if vol.joliet {
        let jloc = TreeLoc {
            root_lba: root.jlba,
            root_size: root.jsize,
            pt_size: j_pt,
            l_table: j_l,
            m_table: j_m,
        };
        put(vd, &volume_descriptor(vol, &jloc, true, total, date));
        vd += 1;
    }
    put(vd, &terminator());
    put(p_l, &path_table(&flat, false, false));
    put(p_m, &path_table(&flat, false, true));
    if vol.joliet {
        put(j_l, &path_table(&flat, true, false));
        put(j_m, &path_table(&flat, true, true));
    }
    for joliet in [false, true] {
        if joliet && !vol.joliet {
            continue;
        }
        for d in 0..flat.dirs.len() {
            let recs = records(&flat, d, joliet, vol.rock_ridge, ce, date);
            for r in &recs {
                if r.len() > 255 {
                    return Err(bad(format!(
                        "a name in /{} is too long for one Rock Ridge directory record",
                        flat.dirs[d].path
                    )));
                }
            }
            let lba = if joliet {
                flat.dirs[d].jlba
            } else {
                flat.dirs[d].lba
            };
            put(lba, &pack_records(&recs));
        }
    }
    if vol.rock_ridge {
        put(ce, &er_entry());
    }

    // Boot catalog and images.
    let mut patched: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    if let Some(boot) = vol_boot {
        let mut entries = Vec::new();
        for e in &boot.entries {
            let fi = flat
                .files
                .iter()
                .position(|f| f.path == e.image)
                .expect("boot image checked above");
            let f = &flat.files[fi];
            if e.boot_info_table {
                if f.content.len() <= eltorito::BIT_END as u64 {
                    return Err(bad(format!(
                        "boot image /{} is too small for a boot-info-table",
                        e.image
                    )));
                }
                let mut data = f
                    .content
                    .read_all(MAX_BIT_IMAGE)
                    .map_err(|err| IsoError::Io {
                        what: format!("reading boot image /{}", e.image),
                        source: err,
                    })?;
                patch_boot_info_table(&mut data, f.lba);
                patched.insert(fi, data);
            }
            entries.push((e.platform, e.load_size, f.lba));
        }
        put(catalog_lba, &catalog(&entries));
    }

    let mut pieces = vec![Piece::Bytes(meta)];
    let mut extents = Vec::new();
    for (i, f) in flat.files.iter().enumerate() {
        extents.push((f.path.clone(), f.lba, f.content.len()));
        if f.lba == catalog_lba && catalog_path.as_ref() == Some(&f.path) {
            continue;
        }
        if f.content.is_empty() {
            continue;
        }
        let piece = match (patched.remove(&i), f.content) {
            (Some(bytes), _) => Piece::Bytes(bytes),
            (None, Content::Bytes(b)) => Piece::Bytes(b.clone()),
            (None, Content::Path { path, len }) => Piece::File {
                path: path.clone(),
                len: *len,
            },
        };
        pieces.push(piece);
    }
    Ok(Image {
        pieces,
        sectors: total,
        extents,
    })
}

// ---------------------------------------------------------------------------
// Streaming

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso::eltorito::PLATFORM_EFI;

    fn file(bytes: &[u8]) -> Node {
        Node::File(Content::Bytes(bytes.to_vec()))
    }

    #[test]
    fn sort_keys_follow_ecma_119() {
        let mut ids = vec![
            "B.B00;1",
            "A_B;1",
            "A;1",
            "EFIBOOT.IMG;1",
            "EFI",
            "AB.C;1",
            "A.Z;1",
        ];
        ids.sort_by_key(|i| sort_key(i.as_bytes()));
        assert_eq!(
            ids,
            [
                "A;1",
                "A.Z;1",
                "AB.C;1",
                "A_B;1",
                "B.B00;1",
                "EFI",
                "EFIBOOT.IMG;1"
            ]
        );
    }

    #[test]
    fn primary_names_table() {
        for (name, dir, fold, want) in [
            ("KS.CFG", false, false, Ok("KS.CFG")),
            ("ks.cfg", false, true, Ok("KS.CFG")),
            ("EFI", true, false, Ok("EFI")),
            ("ks.cfg", false, false, Err("\"KS.CFG\"")),
            ("kickstart.cfg", false, true, Err("\"KICKSTAR.CFG\"")),
            ("my-dir", true, false, Err("\"MY_DIR\"")),
            ("A.B.C", false, false, Err("not an uppercase 8.3")),
        ] {
            match (primary_name(name, dir, fold), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{name}"),
                (Err(got), Err(w)) => assert!(got.contains(w), "{name}: {got}"),
                (got, w) => panic!("{name}: {got:?} vs {w:?}"),
            }
        }
    }

    #[test]
    fn volume_ids() {
        assert!(validate_volume_id("ESXI-8.0U3-24022510-STANDARD").is_ok());
        assert!(validate_volume_id("").is_err());
        assert!(validate_volume_id("esxi").unwrap_err().contains("\"ESXI\""));
        assert!(validate_volume_id(&"A".repeat(33)).is_err());
    }

    #[test]
    fn catalog_round_trips_through_the_parser() {
        let s = catalog(&[(PLATFORM_X86, 4, 100), (PLATFORM_EFI, 2008, 40)]);
        let c = eltorito::parse_catalog(&s, 20, 1 << 30).unwrap();
        assert_eq!(c.entries.len(), 2);
        assert_eq!(
            (
                c.entries[0].platform,
                c.entries[0].sector_count,
                c.entries[0].load_rba,
                c.entries[0].media
            ),
            (PLATFORM_X86, 4, 100, 0)
        );
        assert_eq!(
            (
                c.entries[1].platform,
                c.entries[1].sector_count,
                c.entries[1].load_rba
            ),
            (PLATFORM_EFI, 2008, 40)
        );
        assert!(c.entries.iter().all(|e| e.bootable));
    }

    #[test]
    fn boot_info_table_fields() {
        let mut data: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
        patch_boot_info_table(&mut data, 77);
        assert_eq!(le_u32(&data, 8), 16);
        assert_eq!(le_u32(&data, 12), 77);
        assert_eq!(le_u32(&data, 16), 200);
        assert_eq!(le_u32(&data, 20), eltorito::checksum(&data[64..]));
        assert!(data[24..64].iter().all(|&b| b == 0));
        assert_eq!(data[64], 64);
    }

    #[test]
    fn path_table_and_records_of_a_small_tree() {
        let mut root = Dir::default();
        root.put("EFI/BOOT/BOOT.CFG", Content::Bytes(b"x".to_vec()))
            .unwrap();
        root.entries.insert("A.TXT".into(), file(b"hello"));
        let vol = Volume {
            volume_id: "T".into(),
            root,
            rock_ridge: false,
            joliet: false,
            boot: None,
            unix_time: 0,
        };
        let img = layout(&vol).unwrap();
        // PVD 16, terminator 17, L table 18, M table 19, dirs 20-22, files.
        assert_eq!(
            img.extents,
            [("A.TXT".into(), 23, 5), ("EFI/BOOT/BOOT.CFG".into(), 24, 1)]
        );
        assert_eq!(img.sectors, 25);
        let Piece::Bytes(meta) = &img.pieces[0] else {
            panic!()
        };
        let pt = &meta[18 * SECTOR..];
        // root, EFI (parent 1), BOOT (parent 2)
        assert_eq!(&pt[..10], &[1, 0, 20, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&pt[10..18], &[3, 0, 21, 0, 0, 0, 1, 0]);
        assert_eq!(&pt[18..21], b"EFI");
    }

    #[test]
    fn colliding_names_are_refused() {
        let mut root = Dir::default();
        root.entries.insert("ks.cfg".into(), file(b"a"));
        root.entries.insert("KS.CFG".into(), file(b"b"));
        let vol = Volume {
            volume_id: "T".into(),
            root,
            rock_ridge: true,
            joliet: false,
            boot: None,
            unix_time: 0,
        };
        let err = layout(&vol).unwrap_err().to_string();
        assert!(err.contains("same ISO9660 name KS.CFG;1"), "{err}");
    }
}
