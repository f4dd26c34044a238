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

mod ondisk;
mod stream;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use super::eltorito;
use super::format::*;
use super::name;
use super::record::sort_key;
use super::IsoError;
use ondisk::*;

pub use super::writer::copy_extent;
pub use ondisk::{catalog, patch_boot_info_table};
pub use stream::write;

/// Largest BIOS boot image accepted: it is read into memory to patch its
/// boot-info-table (ISOLINUX.BIN is about 40 KB).
pub const MAX_BIT_IMAGE: u64 = 16 << 20;
/// Deepest directory nesting of the primary tree (ECMA-119 6.8.2.1).
pub const MAX_DEPTH: usize = 8;
/// Most directories in one tree, the root included: path table records
/// name their parent by a 16-bit number (ECMA-119 9.4.4).
pub const MAX_DIRS: usize = u16::MAX as usize;
/// Joliet names are at most 64 UCS-2 characters.
pub const MAX_JOLIET_NAME: usize = 64;

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

#[derive(Default)]
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
    let mut dirs = vec![FlatDir::default()];
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
                    if dirs.len() >= MAX_DIRS {
                        return Err(bad(format!(
                            "/{path}: more than {MAX_DIRS} directories; ISO9660 path tables \
                             number directories with 16 bits: put fewer folders in the tree"
                        )));
                    }
                    let idx = dirs.len();
                    dirs.push(FlatDir {
                        path: path.clone(),
                        parent: di,
                        ..FlatDir::default()
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
    // The trailing pad: streamed as zeros up to `total`.
    let total = next
        .checked_add(TRAILING_PAD_SECTORS)
        .ok_or_else(|| bad("the image would exceed 2^32 sectors".into()))?;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iso::eltorito::{PLATFORM_EFI, PLATFORM_X86};

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
        // Files end at 25, then the trailing pad.
        assert_eq!(img.sectors, 25 + TRAILING_PAD_SECTORS);
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
