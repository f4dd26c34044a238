//! Editing an ISO without rebuilding it: the output is the source image
//! with a few sectors replaced and new extents appended after its end.
//!
//! - A changed file is rewritten in place when it still fits the sectors it
//!   had, otherwise appended; every record pointing at it (primary, Joliet)
//!   gets the new extent and size.
//! - A new file is appended and a record for it is inserted, in ISO9660
//!   order, in the primary directory and in the matching Joliet directory,
//!   with Rock Ridge entries when the image has Rock Ridge.
//! - A directory that outgrows its sectors moves to the end; its parent's
//!   record, its `.`, its children's `..`, the path tables and (for the
//!   root) the volume descriptor follow it.
//!
//! - The image ends with [`TRAILING_PAD_SECTORS`] zero sectors after its
//!   last file, inside the volume, as genisoimage and xorriso lay theirs
//!   out: new extents go after the source and before a fresh pad, and a
//!   source without a pad of its own gets one.
//!
//! The boot catalog, boot images and every untouched file keep their bytes
//! and their LBAs, so the El Torito entries and the boot-info-table stay
//! valid. This mirrors what a multisession "rewrite" does, at the cost of a
//! copy.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::FileExt;

use super::format::*;
use super::layout::Layout;
use super::reader::{find_dir, find_in, join, Directory, IsoImage, Tree};
use super::record::{rock_ridge_entries, rock_ridge_file_entries, sort_key, Record};
use super::IsoError;

/// Largest path table accepted for patching.
const MAX_PATH_TABLE: u32 = 4 << 20;

/// Spare sectors (zeroed) tolerated when a file is rewritten in place.
const MAX_IN_PLACE_SLACK: u64 = 512;

/// What happened to a file given to [`Patcher::put_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    ReplacedInPlace,
    ReplacedAppended,
    Added,
}

impl std::fmt::Display for PutOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PutOutcome::ReplacedInPlace => "replaced in place (it fits its old sectors)",
            PutOutcome::ReplacedAppended => {
                "replaced, moved after the source's end (it outgrew its old sectors)"
            }
            PutOutcome::Added => "added after the source's end",
        })
    }
}

pub struct Patcher<'a> {
    img: &'a IsoImage,
    trees: Vec<Tree>,
    descriptors: Vec<Vec<u8>>,
    dirty: BTreeSet<(usize, usize)>,
    overrides: BTreeMap<u32, Vec<u8>>,
    base_end: u32,
    tail: Vec<u8>,
    date: [u8; 7],
    date_is_explicit: bool,
    /// Trees that gained directories: their path tables are rebuilt.
    grown: BTreeSet<usize>,
}

impl<'a> Patcher<'a> {
    /// `unix_time`: the time for new and changed records (SOURCE_DATE_EPOCH);
    /// without it new records take the date of their directory's `.`.
    pub fn new(img: &'a IsoImage, unix_time: Option<i64>) -> Result<Self, IsoError> {
        if let Some(what) = img.unsupported_descriptors.first() {
            return Err(IsoError::Unsupported(format!(
                "the image has a {what}, which esxi-iso cannot keep consistent"
            )));
        }
        let mut trees = vec![img.primary.clone()];
        trees.extend(img.joliet.clone());
        let source_sectors = sectors_for(img.len) as u32;
        let base_end = source_sectors.max(img.pvd().volume_space());
        Ok(Patcher {
            img,
            trees,
            descriptors: img.descriptors.iter().map(|d| d.raw.clone()).collect(),
            dirty: BTreeSet::new(),
            overrides: BTreeMap::new(),
            base_end,
            tail: Vec::new(),
            date: unix_time.map(record_date).unwrap_or([0; 7]),
            date_is_explicit: unix_time.is_some(),
            grown: BTreeSet::new(),
        })
    }

    /// Writes `data` at `path` (loader-style, e.g. `EFI/BOOT/BOOT.CFG`),
    /// replacing an existing file or adding a new one. The parent directory
    /// must exist. `name` casing is used as given for new records.
    pub fn put_file(&mut self, path: &str, data: &[u8]) -> Result<PutOutcome, IsoError> {
        let path = path.trim_start_matches('/');
        if u32::try_from(data.len()).is_err() {
            return Err(IsoError::Unsupported(format!(
                "{path}: files of 4 GiB or more need multi-extent records"
            )));
        }
        match find_in(&self.trees[0], path, false) {
            Some(e) => self.replace(e.dir, e.rec, path, data),
            None => self.add(path, data),
        }
    }

    fn replace(
        &mut self,
        dir: usize,
        rec: usize,
        path: &str,
        data: &[u8],
    ) -> Result<PutOutcome, IsoError> {
        let old = self.trees[0].dirs[dir].records[rec].clone();
        if old.is_dir() {
            return Err(IsoError::Unsupported(format!(
                "/{path} is a directory on the image, not a file"
            )));
        }
        if old.is_multi_extent() {
            return Err(IsoError::Unsupported(format!(
                "/{path} is a multi-extent file"
            )));
        }
        let alloc = sectors_for(u64::from(old.size));
        if old.size > 0 && Lba(old.extent).offset() + u64::from(old.size) > self.img.len {
            return Err(IsoError::Malformed {
                what: format!("/{path} runs past the end of the image"),
                lba: old.extent,
            });
        }
        // In place only when the new data fits and the old extent is not
        // much larger: zeroing a huge (untrusted) allocation would cost
        // memory in proportion to it.
        let in_place = old.size > 0
            && data.len() as u64 <= alloc * SECTOR_U64
            && alloc <= sectors_for(data.len() as u64) + MAX_IN_PLACE_SLACK;
        let (extent, outcome) = if in_place {
            for i in 0..alloc {
                let start = (i as usize) * SECTOR;
                let mut sector = vec![0u8; SECTOR];
                if start < data.len() {
                    let end = (start + SECTOR).min(data.len());
                    sector[..end - start].copy_from_slice(&data[start..end]);
                }
                self.overrides.insert(old.extent + i as u32, sector);
            }
            (old.extent, PutOutcome::ReplacedInPlace)
        } else {
            (self.append(data), PutOutcome::ReplacedAppended)
        };
        let size = data.len() as u32;
        let date = self.date_is_explicit.then_some(self.date);
        let update = |t: usize,
                      d: usize,
                      r: usize,
                      trees: &mut Vec<Tree>,
                      dirty: &mut BTreeSet<(usize, usize)>| {
            let rec = &mut trees[t].dirs[d].records[r];
            rec.set_extent(extent);
            rec.set_size(size);
            if let Some(date) = date {
                rec.set_date(date);
            }
            dirty.insert((t, d));
        };
        if old.size == 0 {
            // Empty files may share one extent; touch only this path's records.
            update(0, dir, rec, &mut self.trees, &mut self.dirty);
            if self.trees.len() > 1 {
                if let Some(j) = find_in(&self.trees[1], path, true) {
                    update(1, j.dir, j.rec, &mut self.trees, &mut self.dirty);
                }
            }
        } else {
            let mut hits = Vec::new();
            for (t, tree) in self.trees.iter().enumerate() {
                for (d, dir) in tree.dirs.iter().enumerate() {
                    for (r, rec) in dir.records.iter().enumerate() {
                        if !rec.is_dir() && rec.extent == old.extent {
                            hits.push((t, d, r));
                        }
                    }
                }
            }
            for (t, d, r) in hits {
                update(t, d, r, &mut self.trees, &mut self.dirty);
            }
        }
        Ok(outcome)
    }

    fn add(&mut self, path: &str, data: &[u8]) -> Result<PutOutcome, IsoError> {
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => ("", path),
        };
        self.ensure_dirs(parent)?;
        let pdir = find_dir(&self.trees[0], parent).expect("ensure_dirs created it");
        let extent = self.append(data);
        let size = data.len() as u32;
        let date = self.date_for(0, pdir);
        let ident = versioned_name(&self.trees[0], pdir, name, |id| id.contains(&b';'));
        let su = match self.img.rock_ridge {
            Some(rr) => {
                let mut su = vec![0u8; usize::from(rr.skip)];
                su.extend(rock_ridge_file_entries(
                    name,
                    0o100444,
                    rr.px_len,
                    rr.rr_entry,
                    date,
                ));
                su
            }
            None => Vec::new(),
        };
        let rec = Record::new_file(ident.as_bytes(), extent, size, date, &su);
        insert_record(&mut self.trees[0], pdir, rec);
        self.dirty.insert((0, pdir));
        if self.trees.len() > 1 {
            let jdir = find_dir(&self.trees[1], parent).expect("ensure_dirs created it");
            let jname = versioned_name(&self.trees[1], jdir, name, |id| {
                id.chunks_exact(2).any(|c| c == [0, b';'])
            });
            let jid: Vec<u8> = jname.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
            let jrec = Record::new_file(&jid, extent, size, date, &[]);
            insert_record(&mut self.trees[1], jdir, jrec);
            self.dirty.insert((1, jdir));
        }
        Ok(PutOutcome::Added)
    }

    /// New records are dated SOURCE_DATE_EPOCH, else like their directory.
    fn date_for(&self, t: usize, dir: usize) -> [u8; 7] {
        if self.date_is_explicit {
            return self.date;
        }
        let mut d = [0u8; 7];
        d.copy_from_slice(&self.trees[t].dirs[dir].records[0].raw[DR_DATE]);
        d
    }

    /// Creates the missing directories of loader-style `path` in every tree.
    fn ensure_dirs(&mut self, path: &str) -> Result<(), IsoError> {
        let mut cur = String::new();
        for (depth, comp) in path.split('/').filter(|c| !c.is_empty()).enumerate() {
            let next = join(&cur, comp);
            for t in 0..self.trees.len() {
                if find_dir(&self.trees[t], &next).is_some() {
                    continue;
                }
                if find_in(&self.trees[t], &next, false).is_some() {
                    return Err(IsoError::Unsupported(format!(
                        "/{next} is a file on the image, not a directory"
                    )));
                }
                if depth >= 7 {
                    return Err(IsoError::Unsupported(format!(
                        "/{next} is deeper than ISO9660's 8 levels"
                    )));
                }
                let parent = find_dir(&self.trees[t], &cur).expect("parents are created first");
                self.create_dir(t, parent, comp);
            }
            cur = next;
        }
        Ok(())
    }

    fn create_dir(&mut self, t: usize, parent: usize, name: &str) {
        let date = self.date_for(t, parent);
        let extent = self.reserve(1);
        let size = SECTOR as u32;
        let rr = if t == 0 { self.img.rock_ridge } else { None };
        let su = |name: Option<&str>| match rr {
            Some(rr) => {
                let mut su = vec![0u8; usize::from(rr.skip)];
                su.extend(rock_ridge_entries(
                    name,
                    0o40555,
                    2,
                    rr.px_len,
                    rr.rr_entry,
                    date,
                ));
                su
            }
            None => Vec::new(),
        };
        let ident: Vec<u8> = if self.trees[t].joliet {
            name.encode_utf16().flat_map(|u| u.to_be_bytes()).collect()
        } else {
            name.as_bytes().to_vec()
        };
        let dir_rec = |id: &[u8], extent: u32, size: u32, su: &[u8]| {
            let mut r = Record::new_file(id, extent, size, date, su);
            r.set_flags(FLAG_DIRECTORY);
            r
        };
        let (p_extent, p_size, p_path) = {
            let p = &self.trees[t].dirs[parent];
            (p.extent, p.size, p.path.clone())
        };
        let records = vec![
            dir_rec(&[0], extent, size, &su(None)),
            dir_rec(&[1], p_extent, p_size, &su(None)),
        ];
        let tree = &mut self.trees[t];
        let idx = tree.dirs.len();
        tree.dirs.push(Directory {
            path: join(&p_path, name),
            extent,
            size,
            parent: Some(parent),
            records,
            children: Vec::new(),
        });
        let pos = insert_record(tree, parent, dir_rec(&ident, extent, size, &su(Some(name))));
        tree.dirs[parent].children.push((pos, idx));
        self.dirty.insert((t, parent));
        self.dirty.insert((t, idx));
        self.grown.insert(t);
    }

    /// Appends sector-aligned data after the image; returns its LBA.
    fn append(&mut self, data: &[u8]) -> u32 {
        let lba = self.reserve(sectors_for(data.len() as u64) as u32);
        let at = (lba - self.base_end) as usize * SECTOR;
        self.tail[at..at + data.len()].copy_from_slice(data);
        lba
    }

    /// Adds zeroed sectors after the image; returns their first LBA.
    fn reserve(&mut self, sectors: u32) -> u32 {
        let lba = self.base_end + (self.tail.len() / SECTOR) as u32;
        self.tail
            .resize(self.tail.len() + sectors as usize * SECTOR, 0);
        lba
    }

    /// Lays out every change; returns the plan the writer streams.
    pub fn finish(mut self) -> Result<Layout, IsoError> {
        // 1. Move directories that no longer fit their sectors.
        let mut moved: Vec<(usize, u32, u32)> = Vec::new(); // (tree, old extent, new extent)
        let dirty: Vec<_> = self.dirty.iter().copied().collect();
        for &(t, d) in &dirty {
            let need = packed_len(&self.trees[t].dirs[d].records);
            let have = sectors_for(u64::from(self.trees[t].dirs[d].size)) * SECTOR_U64;
            if need as u64 <= have {
                continue;
            }
            let sectors = need.div_ceil(SECTOR) as u32;
            let new_extent = self.reserve(sectors);
            let new_size = sectors * SECTOR as u32;
            let old_extent = self.trees[t].dirs[d].extent;
            self.relocate(t, d, new_extent, new_size);
            moved.push((t, old_extent, new_extent));
        }
        // 2. Serialize every dirty directory into its (possibly new) extent.
        for &(t, d) in &self.dirty.clone() {
            let dir = &self.trees[t].dirs[d];
            let bytes = pack(&dir.records, dir.size as usize);
            let extent = dir.extent;
            self.place(extent, &bytes);
        }
        // 3. Path tables follow moved directories, or are rebuilt when a
        //    tree gained directories.
        for (t, old, new) in &moved {
            if !self.grown.contains(t) {
                let desc = self.trees[*t].descriptor;
                self.patch_path_tables(desc, *old, *new)?;
            }
        }
        for t in self.grown.clone() {
            self.rebuild_path_tables(t)?;
        }
        // 4. No file ends in the last sectors. Everything new lies in the
        //    tail, and a file rewritten in place stays inside its old
        //    sectors, so without a tail the source's own end decides.
        let tail_end = self.base_end + (self.tail.len() / SECTOR) as u32;
        let used_end = if self.tail.is_empty() {
            self.img.data_end()
        } else {
            tail_end
        };
        let total = tail_end.max(used_end.saturating_add(TRAILING_PAD_SECTORS));
        let pad_sectors = total - tail_end;
        // 5. Volume space size in every PVD/SVD, then the descriptors.
        for (i, d) in self.img.descriptors.iter().enumerate() {
            let raw = &mut self.descriptors[i];
            if d.kind == VD_TYPE_PRIMARY || d.kind == VD_TYPE_SUPPLEMENTARY {
                if total != self.img.pvd().volume_space() {
                    write_both_u32(raw, VD_VOLUME_SPACE, total);
                }
                if raw != &d.raw {
                    self.overrides.insert(d.lba, raw.clone());
                }
            }
        }
        Ok(Layout {
            source_len: self.img.len,
            base_end: u64::from(self.base_end) * SECTOR_U64,
            overrides: self.overrides,
            tail: self.tail,
            pad: u64::from(pad_sectors) * SECTOR_U64,
        })
    }

    fn relocate(&mut self, t: usize, d: usize, extent: u32, size: u32) {
        let tree = &mut self.trees[t];
        tree.dirs[d].extent = extent;
        tree.dirs[d].size = size;
        let set = |r: &mut Record| {
            r.set_extent(extent);
            r.set_size(size);
        };
        set(&mut tree.dirs[d].records[0]);
        match tree.dirs[d].parent {
            Some(p) => {
                if let Some(&(ri, _)) = tree.dirs[p].children.iter().find(|(_, di)| *di == d) {
                    set(&mut tree.dirs[p].records[ri]);
                    self.dirty.insert((t, p));
                }
            }
            None => {
                // The root's `..` is itself, and the descriptor holds its record.
                set(&mut tree.dirs[d].records[1]);
                let desc = &mut self.descriptors[tree.descriptor];
                write_both_u32(desc, VD_ROOT_RECORD + DR_EXTENT, extent);
                write_both_u32(desc, VD_ROOT_RECORD + DR_DATA_LEN, size);
            }
        }
        let children: Vec<usize> = tree.dirs[d].children.iter().map(|&(_, c)| c).collect();
        for c in children {
            set(&mut tree.dirs[c].records[1]);
            self.dirty.insert((t, c));
        }
    }

    /// Puts bytes at an LBA: into the tail when it lies there, else as
    /// sector overrides of the source.
    fn place(&mut self, lba: u32, bytes: &[u8]) {
        for (i, chunk) in bytes.chunks(SECTOR).enumerate() {
            let at = lba + i as u32;
            let mut sector = vec![0u8; SECTOR];
            sector[..chunk.len()].copy_from_slice(chunk);
            if at >= self.base_end {
                let off = (at - self.base_end) as usize * SECTOR;
                self.tail[off..off + SECTOR].copy_from_slice(&sector);
            } else {
                self.overrides.insert(at, sector);
            }
        }
    }

    fn patch_path_tables(&mut self, desc: usize, old: u32, new: u32) -> Result<(), IsoError> {
        let d = &self.img.descriptors[desc];
        let (tables, size) = d.path_tables();
        if size == 0 || size > MAX_PATH_TABLE {
            return Err(IsoError::Malformed {
                what: format!("path table size {size}"),
                lba: d.lba,
            });
        }
        for (i, &lba) in tables.iter().enumerate() {
            if lba == 0 {
                continue;
            }
            let big_endian = i >= 2;
            let sectors = sectors_for(u64::from(size)) as u32;
            let mut buf = self.read_sectors(lba, sectors, "path table")?;
            let mut pos = 0usize;
            let mut changed = false;
            while pos + 8 <= size as usize {
                let len_di = usize::from(buf[pos]);
                if len_di == 0 {
                    break;
                }
                let at = pos + 2;
                let ext = if big_endian {
                    be_u32(&buf, at)
                } else {
                    le_u32(&buf, at)
                };
                if ext == old {
                    let bytes = if big_endian {
                        new.to_be_bytes()
                    } else {
                        new.to_le_bytes()
                    };
                    buf[at..at + 4].copy_from_slice(&bytes);
                    changed = true;
                }
                pos += 8 + len_di + (len_di % 2);
            }
            if changed {
                self.place(lba, &buf);
            }
        }
        Ok(())
    }

    /// Writes fresh path tables for tree `t` (ECMA-119 9.4: by level, then
    /// parent number, then identifier), in place when they still fit,
    /// otherwise after the image with the descriptor pointing there.
    fn rebuild_path_tables(&mut self, t: usize) -> Result<(), IsoError> {
        let tree = &self.trees[t];
        let mut order = vec![0usize];
        let mut number = vec![0u16; tree.dirs.len()];
        number[0] = 1;
        let mut level = vec![0usize];
        while !level.is_empty() {
            let mut next: Vec<(u16, Vec<u8>, usize)> = Vec::new();
            for &d in &level {
                for &(ri, c) in &tree.dirs[d].children {
                    next.push((number[d], tree.dirs[d].records[ri].identifier().to_vec(), c));
                }
            }
            next.sort();
            for (_, _, c) in &next {
                order.push(*c);
                number[*c] = u16::try_from(order.len())
                    .map_err(|_| IsoError::Unsupported("more than 65535 directories".into()))?;
            }
            level = next.into_iter().map(|(_, _, c)| c).collect();
        }
        let (mut l, mut m) = (Vec::new(), Vec::new());
        for &d in &order {
            let dir = &tree.dirs[d];
            let (ident, parent) = match dir.parent {
                None => (vec![0u8], 1u16),
                Some(p) => {
                    let ri = tree.dirs[p]
                        .children
                        .iter()
                        .find(|(_, c)| *c == d)
                        .map(|(ri, _)| *ri)
                        .expect("every directory is linked from its parent");
                    (tree.dirs[p].records[ri].identifier().to_vec(), number[p])
                }
            };
            for (buf, big) in [(&mut l, false), (&mut m, true)] {
                buf.push(ident.len() as u8);
                buf.push(0);
                buf.extend_from_slice(&if big {
                    dir.extent.to_be_bytes()
                } else {
                    dir.extent.to_le_bytes()
                });
                buf.extend_from_slice(&if big {
                    parent.to_be_bytes()
                } else {
                    parent.to_le_bytes()
                });
                buf.extend_from_slice(&ident);
                if ident.len() % 2 == 1 {
                    buf.push(0);
                }
            }
        }
        let desc = tree.descriptor;
        let (tables, old_size) = self.img.descriptors[desc].path_tables();
        let new_size = l.len() as u32;
        let fits = sectors_for(u64::from(new_size)) <= sectors_for(u64::from(old_size));
        let fields = [
            VD_L_PATH_TABLE,
            VD_L_PATH_TABLE_OPT,
            VD_M_PATH_TABLE,
            VD_M_PATH_TABLE_OPT,
        ];
        // Only the descriptor says where the old tables are (readers use
        // the directories), so check it before writing over that place.
        let first_data = self.img.descriptors.last().map_or(16, |d| d.lba) + 2;
        let old_end = |lba: u32| u64::from(lba) + sectors_for(u64::from(old_size));
        for (i, &lba) in tables.iter().enumerate() {
            if lba == 0 {
                continue;
            }
            if lba < first_data || old_end(lba) > u64::from(self.base_end) {
                return Err(IsoError::Malformed {
                    what: format!(
                        "path table at LBA {lba} ({old_size} bytes) lies outside the image's data area"
                    ),
                    lba: self.img.descriptors[desc].lba,
                });
            }
            let big = i >= 2;
            let at = if fits {
                lba
            } else {
                self.reserve(sectors_for(u64::from(new_size)) as u32)
            };
            let bytes = if big { m.clone() } else { l.clone() };
            self.place(at, &bytes);
            let v = if big {
                at.to_be_bytes()
            } else {
                at.to_le_bytes()
            };
            self.descriptors[desc][fields[i]..fields[i] + 4].copy_from_slice(&v);
        }
        write_both_u32(&mut self.descriptors[desc], VD_PATH_TABLE_SIZE, new_size);
        Ok(())
    }

    /// Reads sectors as the output will have them (overrides applied).
    fn read_sectors(&self, lba: u32, count: u32, what: &str) -> Result<Vec<u8>, IsoError> {
        let mut buf = vec![0u8; count as usize * SECTOR];
        let end = Lba(lba).offset() + buf.len() as u64;
        if end > self.img.len {
            return Err(IsoError::Malformed {
                what: format!("{what} runs past the end of the file"),
                lba,
            });
        }
        self.img
            .file
            .read_exact_at(&mut buf, Lba(lba).offset())
            .map_err(|e| IsoError::Io {
                what: format!("reading {what} at LBA {lba}"),
                source: e,
            })?;
        for i in 0..count {
            if let Some(s) = self.overrides.get(&(lba + i)) {
                buf[i as usize * SECTOR..(i as usize + 1) * SECTOR].copy_from_slice(s);
            }
        }
        Ok(buf)
    }
}

fn insert_sorted(records: &mut Vec<Record>, rec: Record) -> usize {
    let key = sort_key(rec.identifier());
    let pos = records
        .iter()
        .enumerate()
        .skip(2)
        .find(|(_, r)| sort_key(r.identifier()) > key)
        .map(|(i, _)| i)
        .unwrap_or(records.len());
    records.insert(pos, rec);
    pos
}

/// Inserts a record into a directory, keeping that directory's child links
/// (record indices) pointing at the right records.
fn insert_record(tree: &mut Tree, dir: usize, rec: Record) -> usize {
    let pos = insert_sorted(&mut tree.dirs[dir].records, rec);
    for (ri, _) in &mut tree.dirs[dir].children {
        if *ri >= pos {
            *ri += 1;
        }
    }
    pos
}

/// `name;1` when the directory's other files carry versions, else `name`.
/// A directory without files follows the root.
fn versioned_name(
    tree: &Tree,
    dir: usize,
    name: &str,
    has_version: impl Fn(&[u8]) -> bool,
) -> String {
    let files = |d: &Directory| {
        d.records
            .iter()
            .filter(|r| !r.is_dir())
            .cloned()
            .collect::<Vec<Record>>()
    };
    let mut sample = files(&tree.dirs[dir]);
    if sample.is_empty() {
        sample = files(&tree.dirs[0]);
    }
    if sample.is_empty() || sample.iter().all(|r| has_version(r.identifier())) {
        format!("{name};1")
    } else {
        name.to_string()
    }
}

/// Bytes needed to pack records into sectors without crossing boundaries.
fn packed_len(records: &[Record]) -> usize {
    let mut sectors = 1usize;
    let mut used = 0usize;
    for r in records {
        if used + r.raw.len() > SECTOR {
            sectors += 1;
            used = 0;
        }
        used += r.raw.len();
    }
    sectors * SECTOR
}

fn pack(records: &[Record], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; sectors_for(size as u64) as usize * SECTOR];
    let (mut sector, mut used) = (0usize, 0usize);
    for r in records {
        if used + r.raw.len() > SECTOR {
            sector += 1;
            used = 0;
        }
        let at = sector * SECTOR + used;
        out[at..at + r.raw.len()].copy_from_slice(&r.raw);
        used += r.raw.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, len: usize) -> Record {
        let mut r = Record::new_file(name.as_bytes(), 0, 0, [0; 7], &vec![0u8; len]);
        r.raw.truncate(r.raw.len());
        r
    }

    #[test]
    fn sorted_insert_follows_iso_order() {
        let mut v = vec![
            rec("\0", 0),
            rec("\x01", 0),
            rec("A.B;1", 0),
            rec("KERNEL.B;1", 0),
            rec("ZZ;1", 0),
        ];
        insert_sorted(&mut v, rec("KS.CFG;1", 0));
        insert_sorted(&mut v, rec("B.B00;1", 0));
        let names: Vec<_> = v
            .iter()
            .skip(2)
            .map(|r| String::from_utf8_lossy(r.identifier()).into_owned())
            .collect();
        assert_eq!(
            names,
            ["A.B;1", "B.B00;1", "KERNEL.B;1", "KS.CFG;1", "ZZ;1"]
        );
    }

    #[test]
    fn packing_never_crosses_sectors() {
        let records: Vec<_> = (0..30).map(|i| rec(&format!("F{i:02}.X;1"), 100)).collect();
        let len = packed_len(&records);
        let bytes = pack(&records, len);
        assert_eq!(bytes.len(), len);
        let per = records[0].raw.len();
        assert_eq!(len / SECTOR, 30usize.div_ceil(SECTOR / per));
    }
}
