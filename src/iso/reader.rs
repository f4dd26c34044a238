//! Reading an ISO9660 image: volume descriptors, directory trees (primary
//! and Joliet), Rock Ridge names and the El Torito catalog.
//!
//! Only metadata is read; file data is read on request. Every extent and
//! length is checked against the file size before use, directory loops and
//! deep nesting are refused, and sizes are capped, so a hostile image yields
//! an [`IsoError`] naming the structure and LBA, never a panic or a hang.
//! Path tables are not trusted for lookups (some vendor ISOs carry odd
//! ones); directories are walked from the root record.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::eltorito::{self, BootCatalog};
use super::format::*;
use super::record::{self, Record};
use super::IsoError;

/// Largest directory accepted (a real ESXi root is 2-4 sectors).
pub const MAX_DIR_SIZE: u32 = 16 << 20;
/// Most directory bytes read for one tree: bounds the time a hostile image
/// with many large, overlapping directories can cost (ESXi trees: ~50 KB).
pub const MAX_TREE_BYTES: u64 = 64 << 20;
/// Deepest directory nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most directory records accepted in one tree.
pub const MAX_RECORDS: usize = 1 << 20;

/// A volume descriptor as read, with its raw sector kept for patching.
#[derive(Debug, Clone)]
pub struct Descriptor {
    pub lba: u32,
    pub kind: u8,
    pub raw: Vec<u8>,
}

impl Descriptor {
    pub fn volume_space(&self) -> u32 {
        le_u32(&self.raw, VD_VOLUME_SPACE)
    }

    pub fn is_joliet(&self) -> bool {
        let esc = &self.raw[VD_ESCAPES];
        self.kind == VD_TYPE_SUPPLEMENTARY
            && [b"%/@", b"%/C", b"%/E"].iter().any(|s| esc.starts_with(*s))
    }

    pub fn volume_id(&self) -> String {
        String::from_utf8_lossy(&self.raw[VD_VOLUME_ID])
            .trim_end()
            .to_string()
    }

    /// (L table, optional L, M table, optional M, size in bytes).
    pub fn path_tables(&self) -> ([u32; 4], u32) {
        let r = &self.raw;
        (
            [
                le_u32(r, VD_L_PATH_TABLE),
                le_u32(r, VD_L_PATH_TABLE_OPT),
                be_u32(r, VD_M_PATH_TABLE),
                be_u32(r, VD_M_PATH_TABLE_OPT),
            ],
            le_u32(r, VD_PATH_TABLE_SIZE),
        )
    }

    pub fn root_record(&self) -> Record {
        Record::parse(&self.raw[VD_ROOT_RECORD..VD_ROOT_RECORD + VD_ROOT_RECORD_LEN])
            .ok()
            .flatten()
            .expect("root record validated at open")
    }
}

/// One directory of a tree, with all its records (including `.` and `..`).
#[derive(Debug, Clone)]
pub struct Directory {
    /// Path from the root with `/` separators, loader-style names ("" = root).
    pub path: String,
    pub extent: u32,
    pub size: u32,
    pub parent: Option<usize>,
    pub records: Vec<Record>,
    /// For each record index that is a subdirectory: its directory index.
    pub children: Vec<(usize, usize)>,
}

/// A directory hierarchy (primary or Joliet). `dirs[0]` is the root.
#[derive(Debug, Clone)]
pub struct Tree {
    pub dirs: Vec<Directory>,
    /// Index of the descriptor this tree hangs from.
    pub descriptor: usize,
    pub joliet: bool,
}

/// What Rock Ridge looks like on this image, so new records can match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RockRidge {
    /// SUSP skip count from the root's `SP` entry.
    pub skip: u8,
    /// Length of `PX` entries in use (36: RRIP 1.09, 44: RRIP 1.12).
    pub px_len: u8,
    /// Whether records carry the RRIP 1.09 `RR` entry.
    pub rr_entry: bool,
}

/// An opened ISO: parsed metadata plus a read-only handle for file data.
#[derive(Debug)]
pub struct IsoImage {
    pub path: PathBuf,
    pub file: File,
    pub len: u64,
    pub descriptors: Vec<Descriptor>,
    pub primary: Tree,
    pub joliet: Option<Tree>,
    pub rock_ridge: Option<RockRidge>,
    pub boot: Option<BootCatalog>,
    /// Descriptors we can't keep consistent (ISO9660:1999 trees, partitions).
    pub unsupported_descriptors: Vec<String>,
    /// Non-fatal oddities (both-endian mismatches, ...).
    pub warnings: Vec<String>,
}

/// A located file: which directory and which record in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub dir: usize,
    pub rec: usize,
}

impl IsoImage {
    /// Opens `path` read-only and parses all metadata.
    pub fn open(path: &Path) -> Result<IsoImage, IsoError> {
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it has no
        // effect on regular files and block devices.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| IsoError::Io {
                what: "opening the image".into(),
                source: e,
            })?;
        let meta = file.metadata().map_err(|e| IsoError::Io {
            what: "reading file metadata".into(),
            source: e,
        })?;
        let kind = meta.file_type();
        if kind.is_dir() {
            return Err(IsoError::NotIso("it is a directory".into()));
        }
        let len = if kind.is_file() {
            meta.len()
        } else if kind.is_block_device() {
            use std::io::Seek;
            (&file)
                .seek(std::io::SeekFrom::End(0))
                .map_err(|e| IsoError::Io {
                    what: "finding the size of the block device".into(),
                    source: e,
                })?
        } else {
            return Err(IsoError::NotIso(
                "it is not a regular file or a block device (a FIFO, socket or character device cannot be read at random offsets)".into(),
            ));
        };
        if len == 0 {
            return Err(IsoError::NotIso("the file is empty".into()));
        }
        let mut img = Reader {
            file: &file,
            len,
            dir_bytes: 0,
        };
        let descriptors = img.descriptors()?;
        let pvd_idx = descriptors
            .iter()
            .position(|d| d.kind == VD_TYPE_PRIMARY)
            .ok_or_else(|| IsoError::Malformed {
                // CD001 is there, so this is an ISO9660 image, damaged.
                what: "the volume descriptor set has no primary volume descriptor".into(),
                lba: FIRST_DESCRIPTOR_LBA,
            })?;
        let mut warnings = Vec::new();
        let mut unsupported = Vec::new();
        let pvd = &descriptors[pvd_idx];
        let (space, agree) = read_both_u32(&pvd.raw, VD_VOLUME_SPACE);
        if !agree {
            warnings.push("primary volume descriptor: volume space size differs between its little- and big-endian copies".into());
        }
        if u64::from(space) * SECTOR_U64 > len {
            return Err(IsoError::Malformed {
                what: format!(
                    "volume space size {space} sectors ({} bytes) exceeds the file size {len}: the file is truncated",
                    u64::from(space) * SECTOR_U64
                ),
                lba: pvd.lba,
            });
        }
        let primary = img.tree(&descriptors, pvd_idx, false)?;
        let rock_ridge = detect_rock_ridge(&primary);
        let primary = if rock_ridge.is_some() {
            img.with_rock_ridge_names(primary)?
        } else {
            primary
        };
        let mut joliet = None;
        for (i, d) in descriptors.iter().enumerate() {
            match d.kind {
                VD_TYPE_SUPPLEMENTARY if d.is_joliet() && joliet.is_none() => {
                    joliet = Some(img.tree(&descriptors, i, true)?);
                }
                VD_TYPE_SUPPLEMENTARY => unsupported.push(format!(
                    "supplementary volume descriptor at LBA {} (not Joliet)",
                    d.lba
                )),
                VD_TYPE_PARTITION => {
                    unsupported.push(format!("volume partition descriptor at LBA {}", d.lba))
                }
                _ => {}
            }
        }
        check_file_extents(&primary, len)?;
        if let Some(j) = &joliet {
            check_file_extents(j, len)?;
        }
        let boot = match descriptors
            .iter()
            .find(|d| d.kind == VD_TYPE_BOOT && d.raw[BR_SYSTEM_ID].starts_with(EL_TORITO_ID))
        {
            Some(br) => Some(eltorito::read_catalog(
                &file,
                len,
                le_u32(&br.raw, BR_CATALOG_LBA),
                br.lba,
            )?),
            None => None,
        };
        Ok(IsoImage {
            path: path.to_path_buf(),
            file,
            len,
            descriptors,
            primary,
            joliet,
            rock_ridge,
            boot,
            unsupported_descriptors: unsupported,
            warnings,
        })
    }

    pub fn pvd(&self) -> &Descriptor {
        &self.descriptors[self.primary.descriptor]
    }

    pub fn volume_id(&self) -> String {
        self.pvd().volume_id()
    }

    /// Looks a path up in the primary tree the way the ESXi boot loaders do:
    /// case-insensitively, ignoring `;N` versions and a trailing dot.
    pub fn find(&self, path: &str) -> Option<Entry> {
        find_in(&self.primary, path, false)
    }

    pub fn record(&self, e: Entry) -> &Record {
        &self.primary.dirs[e.dir].records[e.rec]
    }

    /// Finds the file whose data starts at `lba` (to name boot images).
    pub fn file_at(&self, lba: u32) -> Option<(String, &Record)> {
        self.primary.dirs.iter().find_map(|d| {
            d.records
                .iter()
                .find(|r| !r.is_dir() && r.extent == lba)
                .map(|r| (join(&d.path, &loader_name(r.identifier())), r))
        })
    }

    /// Reads a whole small file, refusing anything over `cap` bytes.
    pub fn read_small(&self, rec: &Record, cap: u32) -> Result<Vec<u8>, IsoError> {
        if rec.size > cap {
            return Err(IsoError::Malformed {
                what: format!(
                    "file of {} bytes is larger than the {cap}-byte limit for this file",
                    rec.size
                ),
                lba: rec.extent,
            });
        }
        Reader {
            file: &self.file,
            len: self.len,
            dir_bytes: 0,
        }
        .read_extent(rec.extent, rec.size, "file data")
    }

    /// The sector after the last one anything of the image lives in:
    /// directories and file data of every tree, path tables, the boot
    /// catalog (boot images are files). What lies beyond is padding.
    pub fn data_end(&self) -> u32 {
        let end = |extent: u32, len: u64| {
            if len == 0 {
                0
            } else {
                u64::from(extent) + sectors_for(len)
            }
        };
        let mut last = u64::from(FIRST_DESCRIPTOR_LBA) + self.descriptors.len() as u64 + 1;
        for tree in std::iter::once(&self.primary).chain(&self.joliet) {
            for dir in &tree.dirs {
                last = last.max(end(dir.extent, u64::from(dir.size)));
                for r in dir.records.iter().filter(|r| !r.is_self_or_parent()) {
                    last = last.max(end(r.extent, u64::from(r.size)));
                }
            }
        }
        for d in &self.descriptors {
            if d.kind == VD_TYPE_PRIMARY || d.kind == VD_TYPE_SUPPLEMENTARY {
                let (tables, size) = d.path_tables();
                for t in tables.into_iter().filter(|&t| t != 0) {
                    last = last.max(end(t, u64::from(size)));
                }
            }
        }
        if let Some(boot) = &self.boot {
            last = last.max(u64::from(boot.lba) + 1);
        }
        last.min(u64::from(u32::MAX)) as u32
    }

    /// Every file (not directory) in the primary tree, with its path.
    pub fn files(&self) -> impl Iterator<Item = (String, Entry)> + '_ {
        self.primary.dirs.iter().enumerate().flat_map(|(di, d)| {
            d.records
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.is_dir())
                .map(move |(ri, r)| {
                    (
                        join(&d.path, &loader_name(r.identifier())),
                        Entry { dir: di, rec: ri },
                    )
                })
        })
    }
}

/// Looks up `path` in a tree; Joliet names are UCS-2 big-endian.
pub fn find_in(tree: &Tree, path: &str, _joliet: bool) -> Option<Entry> {
    let mut dir = 0usize;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (last, init) = parts.split_last()?;
    for part in init {
        let d = &tree.dirs[dir];
        let (_, child) = d
            .children
            .iter()
            .find(|(ri, _)| name_eq(tree, &d.records[*ri], part))?;
        dir = *child;
    }
    let d = &tree.dirs[dir];
    let rec = d
        .records
        .iter()
        .position(|r| !r.is_self_or_parent() && name_eq(tree, r, last))?;
    Some(Entry { dir, rec })
}

/// Finds a directory by loader-style path ("" or "/" is the root).
pub fn find_dir(tree: &Tree, path: &str) -> Option<usize> {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return Some(0);
    }
    let e = find_in(tree, trimmed, tree.joliet)?;
    tree.dirs[e.dir]
        .children
        .iter()
        .find(|(ri, _)| *ri == e.rec)
        .map(|(_, di)| *di)
}

fn name_eq(tree: &Tree, rec: &Record, want: &str) -> bool {
    let id = rec.identifier();
    if tree.joliet {
        return joliet_name(id).eq_ignore_ascii_case(want);
    }
    // Most identifiers are ASCII: compare in place rather than allocate a
    // name for every record a lookup passes.
    match std::str::from_utf8(id) {
        Ok(s) => drop_version(s).eq_ignore_ascii_case(want),
        Err(_) => loader_name(id).eq_ignore_ascii_case(want),
    }
}

/// A primary-tree identifier as the ESXi loader sees it: `;N` and a
/// trailing `.` dropped.
pub fn loader_name(id: &[u8]) -> String {
    drop_version(&String::from_utf8_lossy(id)).to_string()
}

/// An identifier without its `;N` version and the `.` of an empty
/// extension.
fn drop_version(s: &str) -> &str {
    let s = s.rfind(';').map_or(s, |i| &s[..i]);
    s.strip_suffix('.').unwrap_or(s)
}

/// A Joliet identifier (UCS-2 big-endian) with `;N` dropped.
pub fn joliet_name(id: &[u8]) -> String {
    let units: Vec<u16> = id
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let s = String::from_utf16_lossy(&units);
    match s.rfind(';') {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn detect_rock_ridge(tree: &Tree) -> Option<RockRidge> {
    let root = tree.dirs.first()?;
    let skip = record::susp_skip(root.records.first()?.system_use())?;
    let mut rr = RockRidge {
        skip,
        px_len: 36,
        rr_entry: false,
    };
    let sample = tree
        .dirs
        .iter()
        .flat_map(|d| d.records.iter())
        .find(|r| !r.is_self_or_parent() && !r.is_dir());
    if let Some(r) = sample {
        let area = r.system_use().get(usize::from(skip)..).unwrap_or(&[]);
        for e in record::su_entries(area) {
            match &e.sig {
                b"PX" => rr.px_len = (e.data.len() + 4) as u8,
                b"RR" => rr.rr_entry = true,
                _ => {}
            }
        }
    }
    Some(rr)
}

struct Reader<'a> {
    file: &'a File,
    len: u64,
    /// Directory bytes read so far for the current tree.
    dir_bytes: u64,
}

impl Reader<'_> {
    fn read_at(&self, offset: u64, buf: &mut [u8], what: &str, lba: u32) -> Result<(), IsoError> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(IsoError::Malformed {
                what: format!(
                    "{what} ({} bytes) runs past the end of the file ({} bytes)",
                    buf.len(),
                    self.len
                ),
                lba,
            });
        }
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| IsoError::Io {
                what: format!("reading {what} at LBA {lba}"),
                source: e,
            })
    }

    fn read_extent(&self, lba: u32, size: u32, what: &str) -> Result<Vec<u8>, IsoError> {
        let mut buf = vec![0u8; size as usize];
        self.read_at(Lba(lba).offset(), &mut buf, what, lba)?;
        Ok(buf)
    }

    fn descriptors(&mut self) -> Result<Vec<Descriptor>, IsoError> {
        let mut out = Vec::new();
        for lba in FIRST_DESCRIPTOR_LBA..FIRST_DESCRIPTOR_LBA + MAX_DESCRIPTORS {
            if Lba(lba).offset() + SECTOR_U64 > self.len {
                return Err(if out.is_empty() {
                    IsoError::NotIso(format!(
                        "the file is {} bytes, too short to hold a volume descriptor at LBA 16",
                        self.len
                    ))
                } else {
                    IsoError::Malformed {
                        what: "volume descriptor set has no terminator before the end of the file"
                            .into(),
                        lba,
                    }
                });
            }
            let mut raw = vec![0u8; SECTOR];
            self.read_at(Lba(lba).offset(), &mut raw, "volume descriptor", lba)?;
            if &raw[VD_STD_ID] != STD_ID {
                return Err(if out.is_empty() {
                    IsoError::NotIso("no ISO9660 volume descriptor (CD001) at LBA 16".into())
                } else {
                    IsoError::Malformed {
                        what: "volume descriptor without the CD001 identifier".into(),
                        lba,
                    }
                });
            }
            let kind = raw[VD_TYPE];
            if kind == VD_TYPE_TERMINATOR {
                return Ok(out);
            }
            if kind == VD_TYPE_PRIMARY || kind == VD_TYPE_SUPPLEMENTARY {
                if le_u16(&raw, VD_BLOCK_SIZE) != SECTOR as u16 {
                    return Err(IsoError::Malformed {
                        what: format!(
                            "logical block size {} (only 2048 is supported)",
                            le_u16(&raw, VD_BLOCK_SIZE)
                        ),
                        lba,
                    });
                }
                let root = &raw[VD_ROOT_RECORD..VD_ROOT_RECORD + VD_ROOT_RECORD_LEN];
                match Record::parse(root) {
                    Ok(Some(r)) if r.is_dir() && r.raw.len() == VD_ROOT_RECORD_LEN => {}
                    Ok(Some(r)) if !r.is_dir() => {
                        return Err(IsoError::Malformed {
                            what: "root directory record is not flagged as a directory".into(),
                            lba,
                        })
                    }
                    Ok(_) => {
                        return Err(IsoError::Malformed {
                            what: format!("root directory record length {} (must be 34)", root[0]),
                            lba,
                        })
                    }
                    Err(e) => {
                        return Err(IsoError::Malformed {
                            what: format!("root directory record: {e}"),
                            lba,
                        })
                    }
                }
            }
            out.push(Descriptor { lba, kind, raw });
        }
        Err(IsoError::Malformed {
            what: format!("more than {MAX_DESCRIPTORS} volume descriptors without a terminator"),
            lba: FIRST_DESCRIPTOR_LBA,
        })
    }

    fn tree(
        &mut self,
        descriptors: &[Descriptor],
        idx: usize,
        joliet: bool,
    ) -> Result<Tree, IsoError> {
        let root = descriptors[idx].root_record();
        let mut dirs = Vec::new();
        let mut visited = HashSet::new();
        let mut total = 0usize;
        self.dir_bytes = 0;
        // (extent, size, path, parent, depth)
        let mut queue = std::collections::VecDeque::from([(
            root.extent,
            root.size,
            String::new(),
            None,
            0usize,
        )]);
        while let Some((extent, size, path, parent, depth)) = queue.pop_front() {
            let label = if path.is_empty() {
                "/".to_string()
            } else {
                path.clone()
            };
            if depth > MAX_DEPTH {
                return Err(IsoError::Malformed {
                    what: format!("directory {label} is nested deeper than {MAX_DEPTH} levels"),
                    lba: extent,
                });
            }
            if !visited.insert(extent) {
                return Err(IsoError::Malformed {
                    what: format!(
                        "directory loop: {label} points back to a directory already visited"
                    ),
                    lba: extent,
                });
            }
            if size == 0 || size > MAX_DIR_SIZE {
                return Err(IsoError::Malformed {
                    what: format!(
                        "directory {label} has size {size} (must be 1 to {MAX_DIR_SIZE} bytes)"
                    ),
                    lba: extent,
                });
            }
            self.dir_bytes += u64::from(size);
            if self.dir_bytes > MAX_TREE_BYTES {
                return Err(IsoError::Malformed {
                    what: format!(
                        "directories total more than {MAX_TREE_BYTES} bytes (at directory {label})"
                    ),
                    lba: extent,
                });
            }
            let data = self.read_extent(extent, size, &format!("directory {label}"))?;
            let records = parse_dir(&data, extent, &label)?;
            total += records.len();
            if total > MAX_RECORDS {
                return Err(IsoError::Malformed {
                    what: format!("more than {MAX_RECORDS} directory records"),
                    lba: extent,
                });
            }
            let me = dirs.len();
            for r in records
                .iter()
                .filter(|r| r.is_dir() && !r.is_self_or_parent())
            {
                let name = if joliet {
                    joliet_name(r.identifier())
                } else {
                    loader_name(r.identifier())
                };
                queue.push_back((r.extent, r.size, join(&path, &name), Some(me), depth + 1));
            }
            dirs.push(Directory {
                path,
                extent,
                size,
                parent,
                records,
                children: Vec::new(),
            });
        }
        // Link children by extent now that every directory has an index.
        let by_extent: std::collections::HashMap<u32, usize> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.extent, i))
            .collect();
        for d in &mut dirs {
            d.children = d
                .records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.is_dir() && !r.is_self_or_parent())
                .filter_map(|(ri, r)| by_extent.get(&r.extent).map(|&di| (ri, di)))
                .collect();
        }
        Ok(Tree {
            dirs,
            descriptor: idx,
            joliet,
        })
    }

    /// Replaces primary paths with nothing new but records Rock Ridge
    /// continuation areas as validated (names are read on demand).
    fn with_rock_ridge_names(&mut self, tree: Tree) -> Result<Tree, IsoError> {
        for d in &tree.dirs {
            for r in &d.records {
                if let Some((lba, off, len)) = record::continuation(r.system_use()) {
                    let end = u64::from(off) + u64::from(len);
                    if end > SECTOR_U64 || Lba(lba).offset() + SECTOR_U64 > self.len {
                        return Err(IsoError::Malformed {
                            what: format!(
                                "Rock Ridge continuation area (offset {off}, length {len}) of a record in {} lies outside its sector or the file",
                                if d.path.is_empty() { "/" } else { &d.path }
                            ),
                            lba,
                        });
                    }
                }
            }
        }
        Ok(tree)
    }
}

/// Every file's data must lie inside the image, so later reads (and the
/// writer's copy) never run past its end.
fn check_file_extents(tree: &Tree, len: u64) -> Result<(), IsoError> {
    for d in &tree.dirs {
        for r in d.records.iter().filter(|r| !r.is_dir() && r.size > 0) {
            let end = Lba(r.extent).offset() + u64::from(r.size);
            if end > len {
                let name = if tree.joliet {
                    joliet_name(r.identifier())
                } else {
                    loader_name(r.identifier())
                };
                return Err(IsoError::Malformed {
                    what: format!(
                        "file /{} ({} bytes) runs past the end of the image ({len} bytes)",
                        join(&d.path, &name),
                        r.size
                    ),
                    lba: r.extent,
                });
            }
        }
    }
    Ok(())
}

/// Splits a directory's data into records, sector by sector (a record never
/// crosses a sector boundary, ECMA-119 6.8.1.1).
fn parse_dir(data: &[u8], extent: u32, label: &str) -> Result<Vec<Record>, IsoError> {
    let mut out = Vec::new();
    for (i, sector) in data.chunks(SECTOR).enumerate() {
        let mut pos = 0usize;
        while pos < sector.len() {
            match Record::parse(&sector[pos..]) {
                Ok(Some(r)) => {
                    pos += r.raw.len();
                    out.push(r);
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(IsoError::Malformed {
                        what: format!("directory {label}: {e}"),
                        lba: extent + i as u32,
                    })
                }
            }
        }
    }
    if out.len() < 2 || !out[0].is_self_or_parent() || !out[1].is_self_or_parent() {
        return Err(IsoError::Malformed {
            what: format!("directory {label} does not start with its . and .. records"),
            lba: extent,
        });
    }
    Ok(out)
}

/// A record's Rock Ridge System Use bytes: its own area (after the SUSP
/// skip) and the continuation area a `CE` entry names, if that lies inside
/// one sector of the image. None without Rock Ridge.
pub fn rock_ridge_areas(img: &IsoImage, rec: &Record) -> Option<(Vec<u8>, Vec<u8>)> {
    let skip = usize::from(img.rock_ridge?.skip);
    let area = rec.system_use().get(skip..).unwrap_or(&[]).to_vec();
    let mut cont = Vec::new();
    if let Some((lba, off, len)) = record::continuation(&area) {
        let (off, len) = (off as usize, len as usize);
        let mut sector = vec![0u8; SECTOR];
        if off + len <= SECTOR
            && Lba(lba).offset() + SECTOR_U64 <= img.len
            && img
                .file
                .read_exact_at(&mut sector, Lba(lba).offset())
                .is_ok()
        {
            cont = sector[off..off + len].to_vec();
        }
    }
    Some((area, cont))
}

/// The Rock Ridge name of a record, reading a continuation area if needed.
pub fn rock_ridge_name_of(img: &IsoImage, rec: &Record) -> Option<String> {
    let (area, cont) = rock_ridge_areas(img, rec)?;
    record::rock_ridge_name([&area[..], &cont[..]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loader_names() {
        for (id, want) in [
            (&b"BOOT.CFG;1"[..], "BOOT.CFG"),
            (b"UPGRADE", "UPGRADE"),
            (b"README.;1", "README"),
            (b"A.B;12", "A.B"),
        ] {
            assert_eq!(loader_name(id), want);
        }
    }

    #[test]
    fn joliet_names() {
        let id: Vec<u8> = "ks.cfg;1"
            .encode_utf16()
            .flat_map(|u| u.to_be_bytes())
            .collect();
        assert_eq!(joliet_name(&id), "ks.cfg");
    }
}
