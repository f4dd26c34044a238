//! Overlays: extra files for the ISO (`iso/`) and for the installer's
//! ramdisk (`ramdisk/`, packed into one gzip'd tar boot module).
//!
//! ESXi's boot loader loads every `modules=` entry of boot.cfg, and a
//! gzip'd tar module is unpacked into the installer's in-memory file
//! system, so files reach the installer without touching VMware's payloads.
//! The module is deterministic: entries sorted, owner root (0/0), mtime from
//! SOURCE_DATE_EPOCH or 0, modes 0644/0755, a gzip header without name or
//! time.
//!
//! Overlays shipped in the repo's `overlays/` folder are compiled in and
//! can be named bare (`--overlay ssh-keys`).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::iso::name;

/// Overlays compiled into the binary: (name, relative path, bytes, mode).
const SHIPPED: &[(&str, &str, &[u8], u32)] = &[
    (
        "ssh-keys",
        "README.md",
        include_bytes!("../overlays/ssh-keys/README.md"),
        0o644,
    ),
    (
        "ssh-keys",
        "ramdisk/authorized_keys",
        include_bytes!("../overlays/ssh-keys/ramdisk/authorized_keys"),
        0o644,
    ),
];

/// Cap on all overlay data for one build: overlays are configuration, not
/// payloads, and the bytes are held in memory until written.
const MAX_TOTAL: u64 = 256 << 20;
/// Deepest folder nesting inside an overlay's iso/ or ramdisk/.
const MAX_DEPTH: usize = 64;

fn too_large(at: &Path) -> String {
    format!(
        "overlays hold more than {} MiB (reached at {}): keep large payloads out of overlays",
        MAX_TOTAL >> 20,
        at.display()
    )
}

/// One file from an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Relative path with `/` separators (ISO paths uppercase 8.3).
    pub path: String,
    pub data: Vec<u8>,
    pub executable: bool,
    /// Where it came from, for messages.
    pub origin: String,
}

/// The files of all overlays given to one build, merged and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OverlaySet {
    pub names: Vec<String>,
    pub iso: Vec<File>,
    pub ramdisk: Vec<File>,
}

impl OverlaySet {
    /// Loads overlays by directory path or shipped name, relative paths
    /// resolved against `base`. Two overlays providing one path is an error.
    pub fn load(specs: &[String], base: &Path) -> Result<OverlaySet> {
        let mut set = OverlaySet::default();
        let mut iso: BTreeMap<String, File> = BTreeMap::new();
        let mut ram: BTreeMap<String, File> = BTreeMap::new();
        let mut total = 0u64;
        for spec in specs {
            let (label, files) = load_one(spec, base)?;
            set.names.push(label);
            for (part, f) in files {
                total += f.data.len() as u64;
                if total > MAX_TOTAL {
                    bail!(
                        "overlays hold more than {} MiB: keep large payloads out of overlays",
                        MAX_TOTAL >> 20
                    );
                }
                let map = if part == Part::Iso {
                    &mut iso
                } else {
                    &mut ram
                };
                let key = if part == Part::Iso {
                    f.path.to_ascii_uppercase()
                } else {
                    f.path.clone()
                };
                if let Some(prev) = map.get(&key) {
                    bail!(
                        "{} and {} both provide {}: keep it in one overlay",
                        prev.origin,
                        f.origin,
                        f.path
                    );
                }
                map.insert(key, f);
            }
        }
        set.iso = iso.into_values().collect();
        set.ramdisk = ram.into_values().collect();
        Ok(set)
    }

    /// Adds another set's files (a host's own overlays after the shared
    /// ones); a path provided twice is an error.
    pub fn extend(&mut self, other: OverlaySet) -> Result<()> {
        for (mine, theirs, iso) in [
            (&mut self.iso, other.iso, true),
            (&mut self.ramdisk, other.ramdisk, false),
        ] {
            for f in theirs {
                let same = |a: &File| {
                    if iso {
                        a.path.eq_ignore_ascii_case(&f.path)
                    } else {
                        a.path == f.path
                    }
                };
                if let Some(prev) = mine.iter().find(|a| same(a)) {
                    bail!(
                        "{} and {} both provide {}: keep it in one overlay",
                        prev.origin,
                        f.origin,
                        f.path
                    );
                }
                mine.push(f);
            }
            mine.sort_by(|a, b| a.path.cmp(&b.path));
        }
        self.names.extend(other.names);
        Ok(())
    }

    /// Bytes held in memory: all files' data.
    pub fn bytes(&self) -> u64 {
        self.iso
            .iter()
            .chain(&self.ramdisk)
            .map(|f| f.data.len() as u64)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.iso.is_empty() && self.ramdisk.is_empty()
    }

    /// Text files of the ramdisk part, for templates (`overlay` variable).
    pub fn ramdisk_texts(&self) -> BTreeMap<String, String> {
        self.ramdisk
            .iter()
            .filter(|f| f.data.len() <= 64 << 10)
            .filter_map(|f| {
                String::from_utf8(f.data.clone())
                    .ok()
                    .map(|t| (f.path.clone(), t))
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Iso,
    Ramdisk,
}

/// Names of the overlays compiled into the binary.
pub fn shipped_names() -> Vec<&'static str> {
    let mut v: Vec<&str> = SHIPPED.iter().map(|(n, ..)| *n).collect();
    v.dedup();
    v
}

fn load_one(spec: &str, base: &Path) -> Result<(String, Vec<(Part, File)>)> {
    let path = base.join(spec);
    if path.is_dir() {
        return Ok((spec.to_string(), load_dir(&path)?));
    }
    let bare = !spec.contains('/') && !spec.starts_with('.');
    if bare && SHIPPED.iter().any(|(n, ..)| *n == spec) {
        let mut files = Vec::new();
        for (_, rel, data, mode) in SHIPPED.iter().filter(|(n, ..)| *n == spec) {
            let (part, inner) = match rel.split_once('/') {
                Some(("iso", r)) => (Part::Iso, r),
                Some(("ramdisk", r)) => (Part::Ramdisk, r),
                _ => continue,
            };
            files.push((
                part,
                File {
                    path: inner.to_string(),
                    data: data.to_vec(),
                    executable: mode & 0o111 != 0,
                    origin: format!("overlay {spec}"),
                },
            ));
        }
        return Ok((spec.to_string(), files));
    }
    bail!(
        "overlay {spec:?}: no such directory, and not a shipped overlay (shipped: {})",
        shipped_names().join(", ")
    )
}

fn load_dir(dir: &Path) -> Result<Vec<(Part, File)>> {
    let mut out = Vec::new();
    let mut any = false;
    let mut total = 0u64;
    for (sub, part) in [("iso", Part::Iso), ("ramdisk", Part::Ramdisk)] {
        let root = dir.join(sub);
        if !root.exists() {
            continue;
        }
        any = true;
        let meta = root
            .symlink_metadata()
            .with_context(|| format!("reading {}", root.display()))?;
        if !meta.is_dir() {
            bail!("{} must be a directory", root.display());
        }
        for (rel, abs) in walk(&root)? {
            let rel_str =
                relative_path(&rel).with_context(|| format!("overlay file {}", abs.display()))?;
            if part == Part::Iso {
                // The name's error says which name and suggests one.
                name::validate_path(&format!("/{rel_str}")).map_err(|e| {
                    anyhow::anyhow!(
                        "overlay file {}: rename it: {}",
                        abs.display(),
                        e.trim_start_matches(&format!("/{rel_str}: "))
                    )
                })?;
            }
            let meta = abs
                .metadata()
                .with_context(|| format!("reading {}", abs.display()))?;
            // Checked before reading: one huge file must not be read into
            // memory first (load() checks the sum over all overlays).
            total += meta.len();
            if total > MAX_TOTAL {
                bail!("{}", too_large(&abs));
            }
            let data = std::fs::read(&abs)
                .with_context(|| format!("reading overlay file {}", abs.display()))?;
            out.push((
                part,
                File {
                    path: rel_str,
                    data,
                    executable: meta.permissions().mode() & 0o111 != 0,
                    origin: abs.display().to_string(),
                },
            ));
        }
    }
    if !any {
        bail!(
            "overlay {} has neither an iso/ nor a ramdisk/ folder",
            dir.display()
        );
    }
    Ok(out)
}

/// Regular files under `root`, sorted, refusing links and special files.
fn walk(root: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .collect::<std::io::Result<_>>()
            .with_context(|| format!("listing {}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let abs = e.path();
            let r = rel.join(e.file_name());
            let t = e
                .file_type()
                .with_context(|| format!("reading {}", abs.display()))?;
            if t.is_symlink() {
                bail!(
                    "overlay file {} is a symbolic link: copy the file itself into the overlay",
                    abs.display()
                );
            } else if t.is_dir() {
                if r.components().count() > MAX_DEPTH {
                    bail!(
                        "overlay folder {} is nested more than {MAX_DEPTH} levels deep: \
                         flatten the overlay",
                        abs.display()
                    );
                }
                stack.push(r);
            } else if t.is_file() {
                out.push((r, abs));
            } else {
                bail!("overlay file {} is a device, FIFO or socket: only regular files can go in an overlay", abs.display());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A safe relative path: no root, no `..`, UTF-8 without control characters.
pub fn relative_path(p: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => {
                let s = s
                    .to_str()
                    .with_context(|| format!("{} is not UTF-8", p.display()))?;
                if s.chars().any(|c| c.is_control()) {
                    bail!("{s:?} contains a control character");
                }
                parts.push(s.to_string());
            }
            Component::CurDir => {}
            Component::ParentDir => bail!("{} contains `..`", p.display()),
            Component::RootDir | Component::Prefix(_) => {
                bail!("{} is absolute: overlay paths are relative", p.display())
            }
        }
    }
    if parts.is_empty() {
        bail!("empty path");
    }
    Ok(parts.join("/"))
}

/// Packs files (plus `extra`, e.g. a kickstart) into a deterministic
/// gzip'd tar. Directories get their own entries, parents first.
pub fn pack_module(files: &[File], mtime: u64) -> Result<Vec<u8>> {
    let mut entries: BTreeMap<String, Option<&File>> = BTreeMap::new();
    for f in files {
        let mut prefix = String::new();
        for comp in f
            .path
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|(_, d)| d.to_vec())
            .unwrap_or_default()
        {
            prefix = if prefix.is_empty() {
                comp.to_string()
            } else {
                format!("{prefix}/{comp}")
            };
            entries.entry(format!("{prefix}/")).or_insert(None);
        }
        entries.insert(f.path.clone(), Some(f));
    }
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, file) in &entries {
        let mut h = tar::Header::new_ustar();
        h.set_uid(0);
        h.set_gid(0);
        h.set_username("root").context("tar header")?;
        h.set_groupname("root").context("tar header")?;
        h.set_mtime(mtime);
        match file {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                tar.append_data(&mut h, path, std::io::empty())
                    .with_context(|| format!("packing {path}"))?;
            }
            Some(f) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(if f.executable { 0o755 } else { 0o644 });
                h.set_size(f.data.len() as u64);
                tar.append_data(&mut h, path, &f.data[..])
                    .with_context(|| format!("packing {path}"))?;
            }
        }
    }
    let gz = tar.into_inner().context("finishing the overlay tar")?;
    let mut bytes = gz.finish().context("finishing the overlay gzip")?;
    bytes.flush()?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_sibling_folders_are_not_depth() {
        // The depth limit counts a folder's own depth, not how many
        // folders are still to be walked.
        let dir = tempfile::tempdir().unwrap();
        for i in 0..(MAX_DEPTH + 10) {
            let d = dir.path().join(format!("ramdisk/etc/d{i}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("f"), b"x").unwrap();
        }
        let set = OverlaySet::load(&[".".into()], dir.path()).unwrap();
        assert_eq!(set.ramdisk.len(), MAX_DEPTH + 10);
        let mut deep = dir.path().join("ramdisk");
        for _ in 0..=MAX_DEPTH {
            deep = deep.join("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let e = OverlaySet::load(&[".".into()], dir.path()).unwrap_err();
        assert!(
            format!("{e:#}").contains("nested more than 64 levels"),
            "{e:#}"
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path(Path::new("a/b.txt")).unwrap(), "a/b.txt");
        assert_eq!(relative_path(Path::new("./a")).unwrap(), "a");
        for bad in ["../x", "a/../../x", "/etc/passwd", "", "a\nb"] {
            assert!(relative_path(Path::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn module_is_deterministic_and_normalised() {
        let files = vec![
            File {
                path: "etc/b.sh".into(),
                data: b"echo".to_vec(),
                executable: true,
                origin: "t".into(),
            },
            File {
                path: "a.txt".into(),
                data: b"x".to_vec(),
                executable: false,
                origin: "t".into(),
            },
        ];
        let a = pack_module(&files, 0).unwrap();
        assert_eq!(a, pack_module(&files, 0).unwrap());
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&a[..]));
        let got: Vec<(String, u32, u64, u64)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.mtime().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a.txt".into(), 0o644, 0, 0),
                ("etc/".into(), 0o755, 0, 0),
                ("etc/b.sh".into(), 0o755, 0, 0)
            ]
        );
    }

    #[test]
    fn shipped_overlay_loads_by_name() {
        let set = OverlaySet::load(&["ssh-keys".into()], Path::new("/nonexistent")).unwrap();
        assert_eq!(set.ramdisk.len(), 1);
        assert_eq!(set.ramdisk[0].path, "authorized_keys");
        assert!(
            OverlaySet::load(&["nope".into()], Path::new("/nonexistent"))
                .unwrap_err()
                .to_string()
                .contains("ssh-keys")
        );
    }
}
