//! What `upload` tells the user: one line per uploaded ISO on stdout as it
//! lands, or with `--json` one JSON object at the end (and nothing else on
//! stdout). The object names the API that carried the upload (`/folder`,
//! `/api` or `/rest`), so a script can tell which forms a vCenter spoke,
//! and per file the destination, the bytes, the SHA-256 of what was sent
//! (null when skipped), whether it was skipped (`--skip-existing`: already
//! there), whether it replaced a file or item, and the other files removed
//! from a library item it replaced:
//!
//! ```json
//! {"server": "vcenter.lab", "target": "library", "api": "/api",
//!  "uploads": [{"file": "lab.iso", "size": 1048576, "sha256": "...",
//!               "skipped": false, "replaced": false, "removed": [],
//!               "path": null, "library": "isos", "item": "lab",
//!               "item_id": "..."}]}
//! ```
//!
//! A datastore upload gives `"path": "[datastore1] isos/lab.iso"` and null
//! library fields; every upload has every key. A failed run prints no
//! JSON: the error is on stderr (exit status 2 to 5, see `failure`).

use std::io::{self, Write};

use anyhow::Result;
use serde_json::{json, Value};

use super::human_size;
use crate::warning::Warning;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `[datastore] folder/file`
    Datastore { path: String },
    Library {
        library: String,
        item: String,
        item_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    pub file: String,
    pub size: u64,
    /// SHA-256 of the bytes sent, lowercase hex; None when skipped.
    pub sha256: Option<String>,
    /// Not sent: the same file is there already (`--skip-existing`).
    pub skipped: bool,
    /// A file (datastore) or item (library) of that name was there before.
    pub replaced: bool,
    /// Other files of a replaced library item, removed with it.
    pub removed: Vec<String>,
    pub to: Destination,
}

/// The uploads of one run, printed as they happen unless `json`.
#[derive(Debug)]
pub struct Report {
    server: String,
    json: bool,
    api: Option<&'static str>,
    uploads: Vec<Uploaded>,
    warnings: Vec<Warning>,
}

impl Report {
    /// `warnings`: those the command printed before the run, for `--json`.
    pub fn new(server: &str, json: bool, warnings: &[Warning]) -> Report {
        Report {
            server: server.to_string(),
            json,
            api: None,
            uploads: Vec::new(),
            warnings: warnings.to_vec(),
        }
    }

    /// Records the API the uploads go through.
    pub fn set_api(&mut self, api: &'static str) {
        self.api = Some(api);
    }

    pub fn push(&mut self, up: Uploaded) -> Result<()> {
        if !self.json {
            writeln!(io::stdout(), "{}", human_line(&up, &self.server))?;
        }
        self.uploads.push(up);
        Ok(())
    }

    /// The uploads so far (a report made with `json` prints nothing until
    /// [`Report::finish`], so a caller can say them its own way).
    pub fn uploads(&self) -> &[Uploaded] {
        &self.uploads
    }

    /// Prints the JSON summary when asked for.
    pub fn finish(&self) -> Result<()> {
        if self.json {
            let mut out = io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &self.to_json())?;
            writeln!(out)?;
        }
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        let target = match self.uploads.first().map(|u| &u.to) {
            Some(Destination::Library { .. }) => "library",
            Some(Destination::Datastore { .. }) => "datastore",
            None => "",
        };
        let uploads: Vec<Value> = self
            .uploads
            .iter()
            .map(|u| {
                let mut v = json!({
                    "file": u.file, "size": u.size, "sha256": u.sha256,
                    "skipped": u.skipped, "replaced": u.replaced, "removed": u.removed,
                    "path": null, "library": null, "item": null, "item_id": null,
                });
                match &u.to {
                    Destination::Datastore { path } => v["path"] = json!(path),
                    Destination::Library {
                        library,
                        item,
                        item_id,
                    } => {
                        v["library"] = json!(library);
                        v["item"] = json!(item);
                        v["item_id"] = json!(item_id);
                    }
                }
                v
            })
            .collect();
        json!({
            "server": self.server,
            "target": target,
            "api": self.api,
            "uploads": uploads,
            "warnings": self.warnings,
        })
    }
}

pub fn human_line(up: &Uploaded, server: &str) -> String {
    let to = match &up.to {
        Destination::Datastore { path } => path.clone(),
        Destination::Library { library, item, .. } => {
            format!("library {library} as item {item}")
        }
    };
    if up.skipped {
        let same = match &up.to {
            Destination::Datastore { .. } => "the same size",
            Destination::Library { .. } => "the same SHA-1",
        };
        return format!(
            "skipped {}: {to} on {server} has it already ({same})",
            up.file
        );
    }
    let replacing = match (&up.to, up.replaced) {
        (_, false) => String::new(),
        (Destination::Datastore { .. }, true) => ", replacing the file there".into(),
        (Destination::Library { .. }, true) if up.removed.is_empty() => {
            ", replacing the item's file".into()
        }
        (Destination::Library { .. }, true) => format!(
            ", replacing the item's files (removed {})",
            up.removed.join(", ")
        ),
    };
    format!(
        "uploaded {} ({}) to {to} on {server}{replacing}",
        up.file,
        human_size(up.size)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(file: &str) -> Uploaded {
        Uploaded {
            file: file.into(),
            size: 2048,
            sha256: Some("ab".repeat(32)),
            skipped: false,
            replaced: true,
            removed: vec!["old.iso".into()],
            to: Destination::Library {
                library: "isos".into(),
                item: "lab".into(),
                item_id: "it-1".into(),
            },
        }
    }

    #[test]
    fn human_lines_name_the_destination() {
        let ds = Uploaded {
            file: "lab 1.iso".into(),
            size: 3_000_000,
            sha256: Some("cd".repeat(32)),
            skipped: false,
            replaced: false,
            removed: Vec::new(),
            to: Destination::Datastore {
                path: "[ds1] isos/lab 1.iso".into(),
            },
        };
        let skipped = Uploaded {
            sha256: None,
            skipped: true,
            ..ds.clone()
        };
        let cases = [
            (
                ds,
                "uploaded lab 1.iso (2.86 MiB) to [ds1] isos/lab 1.iso on esx01",
            ),
            (
                library("lab.iso"),
                "uploaded lab.iso (2.00 KiB) to library isos as item lab on esx01, \
                 replacing the item's files (removed old.iso)",
            ),
            (
                skipped,
                "skipped lab 1.iso: [ds1] isos/lab 1.iso on esx01 has it already \
                 (the same size)",
            ),
        ];
        for (up, want) in cases {
            assert_eq!(human_line(&up, "esx01"), want);
        }
    }

    #[test]
    fn json_names_the_api_and_each_upload() {
        let mut r = Report::new("vc:443", true, &[]);
        r.set_api("/rest");
        r.push(library("lab.iso")).unwrap();
        assert_eq!(
            r.to_json(),
            json!({
                "server": "vc:443", "target": "library", "api": "/rest",
                "uploads": [{"file": "lab.iso", "size": 2048, "sha256": "ab".repeat(32),
                             "skipped": false, "replaced": true, "removed": ["old.iso"],
                             "path": null, "library": "isos", "item": "lab",
                             "item_id": "it-1"}],
                "warnings": [],
            })
        );
        let w = Warning::advice("tls-insecure", "--insecure: m");
        let empty = Report::new("h", true, std::slice::from_ref(&w)).to_json();
        assert_eq!(empty["api"], Value::Null);
        assert_eq!(empty["uploads"], json!([]));
        assert_eq!(empty["warnings"][0]["code"], "tls-insecure");
    }
}
