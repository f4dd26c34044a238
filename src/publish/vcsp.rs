//! `vcsp`: make a folder of ISOs a subscribed content library. vCenter
//! subscribes to `lib.json` over plain HTTP(S) (the VMware Content
//! Subscription Protocol, version 2, as written by VMware's
//! `make_vcsp_2018.py`), so any static web server can host the folder.
//!
//! Layout (all hrefs are URL-quoted and relative to lib.json):
//!
//! ```text
//! DIR/lib.json            library: id, version, itemsHref "items.json"
//! DIR/items.json          {"items": [<every item.json>]}
//! DIR/lab1.iso            the ISO stays where it is: file href "lab1.iso"
//! DIR/lab1/item.json      item "lab1": selfHref "lab1/item.json"
//! ```
//!
//! Runs are idempotent: ids are name-based UUIDs (v5), versions go up only
//! when an item's content (md5 etag, size, ...) or the item list changed,
//! `created` stays as first written, and files whose bytes would not change
//! are not rewritten (their mtimes stay). New files are written atomically.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::library::item_name;
use super::{progress_bar, stream_file};
use crate::failure::{self, Failure, Tag};
use crate::vsphere::http::quote;

const LIB_JSON: &str = "lib.json";
const ITEMS_JSON: &str = "items.json";
const ITEM_JSON: &str = "item.json";
/// vCenter's limit on item names.
const MAX_NAME: usize = 80;

struct Iso {
    file_name: String,
    path: PathBuf,
    item: String,
    mtime: i64,
}

/// What a run wrote: `vcsp` prints it as text or `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct IndexSummary {
    pub dir: PathBuf,
    pub library: String,
    /// The library's version after this run.
    pub version: String,
    pub items: Vec<ItemSummary>,
    /// Index files written; files whose bytes did not change are left alone.
    pub written: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ItemSummary {
    pub file: String,
    pub item: String,
    pub version: String,
    pub size: u64,
    /// `new`, `changed` or `unchanged`.
    pub state: &'static str,
}

impl IndexSummary {
    /// One line per item, then the library.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for i in &self.items {
            let _ = writeln!(
                out,
                "{}: item {} version {} ({})",
                i.file, i.item, i.version, i.state
            );
        }
        let n = self.items.len();
        let _ = writeln!(
            out,
            "library {}: version {}, {n} item{}, {} file{} written; \
             subscribe vCenter to <web server URL of {}>/lib.json",
            self.library,
            self.version,
            if n == 1 { "" } else { "s" },
            self.written,
            if self.written == 1 { "" } else { "s" },
            self.dir.display()
        );
        out
    }
}

/// Writes the index into `dir`; returns what it wrote.
pub fn write_index(dir: &Path, name: Option<&str>) -> Result<IndexSummary> {
    let isos = find_isos(dir).tag(Failure::Input)?;
    let library = match name {
        Some(n) => n.to_string(),
        None => default_name(dir).tag(Failure::Input)?,
    };
    if library.is_empty() {
        return Err(failure::error(
            Failure::Usage,
            "the library name is empty: pass --name NAME",
        ));
    }
    let source_date = source_date_epoch()?;
    let mut summary = Vec::new();
    let mut items = Vec::new();
    let mut written = 0;
    for iso in &isos {
        let (size, etag) = md5_file(&iso.path, &iso.file_name)?;
        let item_path = dir.join(&iso.item).join(ITEM_JSON);
        let previous = read_json(&item_path)?;
        let item = item_json(
            &library,
            iso,
            size,
            &etag,
            source_date.unwrap_or(iso.mtime),
            previous.as_ref(),
        );
        let state = match &previous {
            None => "new",
            Some(p) if p == &item => "unchanged",
            Some(_) => "changed",
        };
        summary.push(ItemSummary {
            file: iso.file_name.clone(),
            item: iso.item.clone(),
            version: item["version"].as_str().unwrap_or("?").to_string(),
            size,
            state,
        });
        fs::create_dir_all(dir.join(&iso.item))
            .with_context(|| format!("creating folder {}", dir.join(&iso.item).display()))?;
        written += write_if_changed(&item_path, &item)? as usize;
        items.push(item);
    }

    let items_path = dir.join(ITEMS_JSON);
    let previous_items = read_json(&items_path)?;
    let items_doc = json!({ "items": items });
    remove_stale_items(dir, previous_items.as_ref(), &isos)?;
    written += write_if_changed(&items_path, &items_doc)? as usize;

    let lib_path = dir.join(LIB_JSON);
    let previous_lib = read_json(&lib_path)?;
    let newest = isos.iter().map(|i| i.mtime).max().unwrap_or(0);
    let lib = lib_json(
        &library,
        source_date.unwrap_or(newest),
        previous_lib.as_ref(),
        previous_items.as_ref() != Some(&items_doc),
    );
    written += write_if_changed(&lib_path, &lib)? as usize;
    Ok(IndexSummary {
        dir: dir.to_path_buf(),
        version: lib["version"].as_str().unwrap_or("?").to_string(),
        library,
        items: summary,
        written,
    })
}

fn find_isos(dir: &Path) -> Result<Vec<Iso>> {
    let entries = fs::read_dir(dir).with_context(|| format!("reading folder {}", dir.display()))?;
    let mut isos = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading folder {}", dir.display()))?;
        let path = entry.path();
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let item = item_name(&file_name);
        if item == file_name || item.is_empty() {
            continue; // not NAME.iso
        }
        let meta = fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() {
            continue;
        }
        if item.chars().count() > MAX_NAME {
            bail!("{file_name}: item names are limited to {MAX_NAME} characters; rename the ISO");
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        isos.push(Iso {
            file_name,
            path,
            item,
            mtime,
        });
    }
    if isos.is_empty() {
        bail!(
            "no .iso files in {}: put the ISOs to publish there",
            dir.display()
        );
    }
    isos.sort_by(|a, b| a.file_name.cmp(&b.file_name));
    let mut seen = BTreeSet::new();
    for iso in &isos {
        if !seen.insert(iso.item.to_lowercase()) {
            bail!(
                "two ISOs in {} make the item {}: rename one",
                dir.display(),
                iso.item
            );
        }
    }
    Ok(isos)
}

fn default_name(dir: &Path) -> Result<String> {
    let abs = fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    Ok(abs
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string())
}

fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(s) if !s.is_empty() => s
            .trim()
            .parse()
            .map(Some)
            .with_context(|| format!("SOURCE_DATE_EPOCH={s:?} is not a number of seconds")),
        _ => Ok(None),
    }
}

fn md5_file(path: &Path, name: &str) -> Result<(u64, String)> {
    let len = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(len, format!("md5 {name}"), false);
    let mut md5 = Md5::new();
    let size = stream_file(path, &bar, |chunk| md5.update(chunk))?;
    bar.finish_and_clear();
    Ok((size, hex::encode(md5.finalize())))
}

fn item_json(
    library: &str,
    iso: &Iso,
    size: u64,
    etag: &str,
    created: i64,
    previous: Option<&Value>,
) -> Value {
    let mut item = json!({
        "created": previous
            .and_then(|p| p.get("created").cloned())
            .unwrap_or_else(|| json!(timestamp(created))),
        "description": format!("{} (published by esxi-iso)", iso.file_name),
        "version": "1",
        "id": urn_uuid(&format!("esxi-iso:vcsp:item:{library}/{}", iso.item)),
        "name": iso.item,
        "properties": {},
        "selfHref": format!("{}/{ITEM_JSON}", quote(&iso.item)),
        "type": "vcsp.iso",
        "files": [{
            "name": iso.file_name,
            "size": size,
            "etag": etag,
            "hrefs": [quote(&iso.file_name)],
        }],
    });
    item["version"] = json!(next_version(previous, &item));
    item
}

fn lib_json(library: &str, created: i64, previous: Option<&Value>, items_changed: bool) -> Value {
    let mut lib = json!({
        "vcspVersion": "2",
        "version": "1",
        "contentVersion": "1",
        "name": library,
        "id": urn_uuid(&format!("esxi-iso:vcsp:library:{library}")),
        "created": previous
            .and_then(|p| p.get("created").cloned())
            .unwrap_or_else(|| json!(timestamp(created))),
        "capabilities": {"transferIn": ["httpGet"], "transferOut": ["httpGet"]},
        "itemsHref": ITEMS_JSON,
    });
    let version = match previous {
        Some(p) if items_changed => bump(p),
        _ => next_version(previous, &lib),
    };
    lib["version"] = json!(version);
    lib
}

/// The previous version if nothing but the version differs, else one more.
fn next_version(previous: Option<&Value>, current: &Value) -> String {
    let Some(prev) = previous else {
        return "1".into();
    };
    let mut same = prev.clone();
    same["version"] = current["version"].clone();
    if &same == current {
        prev["version"].as_str().unwrap_or("1").to_string()
    } else {
        bump(prev)
    }
}

fn bump(previous: &Value) -> String {
    let v: u64 = previous["version"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (v + 1).to_string()
}

/// Removes `item.json` files that the previous items.json listed but whose
/// ISO is gone, and their folders when left empty.
fn remove_stale_items(dir: &Path, previous: Option<&Value>, isos: &[Iso]) -> Result<()> {
    let current: BTreeSet<&str> = isos.iter().map(|i| i.item.as_str()).collect();
    let stale = previous
        .and_then(|p| p["items"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|item| item["name"].as_str())
        .filter(|name| !current.contains(name) && !name.contains(['/', '\\']) && *name != "..");
    for name in stale {
        let folder = dir.join(name);
        let path = folder.join(ITEM_JSON);
        if path.is_file() {
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            let _ = fs::remove_dir(&folder);
        }
    }
    Ok(())
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes pretty JSON atomically unless the file already holds exactly it.
fn write_if_changed(path: &Path, value: &Value) -> Result<bool> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    if fs::read(path).ok().as_deref() == Some(bytes.as_slice()) {
        return Ok(false);
    }
    crate::output::write_atomic(path, &bytes, true)?;
    Ok(true)
}

/// `urn:uuid:` of an RFC 4122 version 5 (SHA-1, name-based) UUID in the
/// URL namespace.
pub fn urn_uuid(name: &str) -> String {
    format!(
        "urn:uuid:{}",
        Uuid::new_v5(&Uuid::NAMESPACE_URL, name.as_bytes())
    )
}

/// `%Y-%m-%dT%H:%MZ` in UTC, the form VMware's VCSP tooling writes.
pub fn timestamp(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v5_matches_rfc_vectors() {
        // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org")
        assert_eq!(
            Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"python.org").to_string(),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d"
        );
        // Python: uuid.uuid5(uuid.NAMESPACE_URL, name), the ids VCSP indexes
        // written before the uuid crate carry.
        for (name, want) in [
            ("a", "urn:uuid:e1407479-3136-56c0-9908-bb02fb0339e2"),
            (
                "esxi-iso:vcsp:library:lab",
                "urn:uuid:98933c05-6c56-5ca6-8243-f9a4ee0b5cf8",
            ),
        ] {
            assert_eq!(urn_uuid(name), want);
        }
        assert_ne!(urn_uuid("a"), urn_uuid("b"));
    }

    #[test]
    fn timestamps_are_utc_minutes() {
        let cases = [
            (0, "1970-01-01T00:00Z"),
            (951_782_400, "2000-02-29T00:00Z"),
            (1_700_000_000, "2023-11-14T22:13Z"),
            (-60, "1969-12-31T23:59Z"),
        ];
        for (input, want) in cases {
            assert_eq!(timestamp(input), want, "{input}");
        }
    }

    #[test]
    fn versions_move_only_on_change() {
        let prev = json!({"version": "4", "name": "a", "files": [1]});
        let same = json!({"version": "1", "name": "a", "files": [1]});
        let changed = json!({"version": "1", "name": "a", "files": [2]});
        assert_eq!(next_version(None, &same), "1");
        assert_eq!(next_version(Some(&prev), &same), "4");
        assert_eq!(next_version(Some(&prev), &changed), "5");
    }
}
