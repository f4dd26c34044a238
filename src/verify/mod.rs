//! `verify`: re-reading an ISO and checking what an ESXi installer needs of
//! it, as a list of findings rather than a first error, so one run shows
//! everything that is wrong.
//!
//! The cheap checks ([`Depth::Cheap`], also run by `build` on its own
//! output before renaming it into place) read metadata, the boot catalog,
//! the BIOS boot file (for its boot-info-table), both boot.cfg files (as
//! VMware's loader reads them, [`crate::esxi::loader`]), the files their
//! kernel and modules resolve to, and the kickstart. The full checks add
//! the kickstart lint and, given the source ISO, a comparison of the
//! module list (Secure Boot boots only the stock one), of the bytes of
//! every file esxi-iso does not change, and of what the boot catalog and
//! boot images mean (a repack rewrites their LBAs). A finding is ok, a
//! warning (passes, but the user must know, e.g. an added module) or a
//! failure, and its detail quotes what the image holds.
//!
//! An input that cannot be read as an ISO at all (missing, a folder, no
//! ISO9660 volume descriptor at sector 16, an I/O error) is an error, not
//! a verdict ([`verify_path`]); from a volume descriptor on, whatever is
//! damaged is a failed finding.
//!
//! Deliberately out of scope: booting the image (tests/boot.rs does that
//! under QEMU) and judging the kickstart's content beyond the linter.

mod boot;
mod config;
mod source;
mod structure;

use std::path::Path;

use serde::Serialize;

use crate::esxi::{self, Media};
use crate::iso::reader::Tree;
use crate::iso::{IsoError, IsoImage};

use boot::{check_boot, check_source_boot};
pub use config::missing_modules;
use config::{check_boot_cfg, check_kickstart, check_lint, check_modules, Kickstart};
use source::check_source;
use structure::{check_descriptors, check_directories, check_files, check_pad};

/// The checks, in the order they run and print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Descriptors,
    Directories,
    Files,
    Pad,
    BootCatalog,
    BootImages,
    BootInfoTable,
    BootCfg,
    Modules,
    Kickstart,
    KickstartLint,
    Source,
    SourceBoot,
}

impl Check {
    /// Every check, in order.
    pub const ALL: [Check; 13] = [
        Check::Descriptors,
        Check::Directories,
        Check::Files,
        Check::Pad,
        Check::BootCatalog,
        Check::BootImages,
        Check::BootInfoTable,
        Check::BootCfg,
        Check::Modules,
        Check::Kickstart,
        Check::KickstartLint,
        Check::Source,
        Check::SourceBoot,
    ];

    /// The `check` value of `--json` (the serde name).
    pub fn id(self) -> &'static str {
        match self {
            Check::Descriptors => "descriptors",
            Check::Directories => "directories",
            Check::Files => "files",
            Check::Pad => "pad",
            Check::BootCatalog => "boot-catalog",
            Check::BootImages => "boot-images",
            Check::BootInfoTable => "boot-info-table",
            Check::BootCfg => "boot-cfg",
            Check::Modules => "modules",
            Check::Kickstart => "kickstart",
            Check::KickstartLint => "kickstart-lint",
            Check::Source => "source",
            Check::SourceBoot => "source-boot",
        }
    }

    /// The name in the text report.
    pub fn label(self) -> &'static str {
        match self {
            Check::Descriptors => "descriptors",
            Check::Directories => "directories",
            Check::Files => "files",
            Check::Pad => "trailing pad",
            Check::BootCatalog => "boot catalog",
            Check::BootImages => "boot images",
            Check::BootInfoTable => "boot-info-table",
            Check::BootCfg => "boot.cfg",
            Check::Modules => "boot modules",
            Check::Kickstart => "kickstart",
            Check::KickstartLint => "kickstart lint",
            Check::Source => "unchanged files",
            Check::SourceBoot => "boot as source",
        }
    }
}

/// How a check came out. `Warn` passes (`ok` stays true) but says
/// something the user must know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: Check,
    pub ok: bool,
    pub level: Level,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.ok)
    }

    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.ok)
    }

    pub(super) fn push(&mut self, check: Check, level: Level, detail: impl Into<String>) {
        self.findings.push(Finding {
            check,
            ok: level != Level::Fail,
            level,
            detail: detail.into(),
        });
    }

    pub(super) fn ok(&mut self, check: Check, detail: impl Into<String>) {
        self.push(check, Level::Ok, detail);
    }

    pub(super) fn warn(&mut self, check: Check, detail: impl Into<String>) {
        self.push(check, Level::Warn, detail);
    }

    pub(super) fn fail(&mut self, check: Check, detail: impl Into<String>) {
        self.push(check, Level::Fail, detail);
    }

    /// The findings that passed with a warning.
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.level == Level::Warn)
    }

    /// One finding for a check: ok with `ok_detail` when `problems` is
    /// empty, else a failure listing the first few.
    pub(super) fn summarize(&mut self, check: Check, problems: &[String], ok_detail: String) {
        if problems.is_empty() {
            self.ok(check, ok_detail);
        } else {
            let more = match problems.len() {
                n if n > 3 => format!(" (and {} more)", n - 3),
                _ => String::new(),
            };
            self.fail(
                check,
                format!("{}{more}", problems[..problems.len().min(3)].join("; ")),
            );
        }
    }
}

/// How much to check.
#[derive(Debug, Clone, Copy)]
pub enum Depth<'a> {
    /// Metadata, boot images, boot.cfg and the kickstart's presence.
    Cheap,
    /// Also lint the kickstart and, with a source, compare unchanged files.
    Full { source: Option<&'a IsoImage> },
}

/// Opens and checks `path`. An input that is not an ISO9660 image at all
/// (see `judged`) is an error, an input failure; an image that
/// is one but cannot be parsed yields a single failed finding naming the
/// structure and LBA.
pub fn verify_path(path: &Path, depth: Depth<'_>) -> anyhow::Result<Report> {
    match IsoImage::open(path) {
        Ok(img) => Ok(verify(&img, depth)),
        Err(e) if judged(&e) => {
            let mut r = Report::default();
            r.fail(open_failure_check(&e), e.to_string());
            Ok(r)
        }
        Err(e) => Err(esxi::open_error(path, e)),
    }
}

/// Where an unreadable input stops being an error and becomes a verdict:
/// once the reader has found an ISO9660 volume descriptor at sector 16,
/// what is wrong after it is the image's fault ([`IsoError::Malformed`]
/// and the like). Before it (a missing file, a folder, a FIFO, an empty or
/// short file, no `CD001` at sector 16) there is no image to judge, and an
/// I/O error says nothing about the image either.
fn judged(e: &IsoError) -> bool {
    match e {
        IsoError::NotIso(_) | IsoError::Io { .. } => false,
        IsoError::Malformed { .. } | IsoError::NotFound(_) | IsoError::Unsupported(_) => true,
    }
}

/// Which check an image that failed to open fails: the reader stops at the
/// first bad structure, named at the start of its message.
fn open_failure_check(e: &IsoError) -> Check {
    let IsoError::Malformed { what, .. } = e else {
        return Check::Descriptors;
    };
    if what.starts_with("boot catalog")
        || what.starts_with("El Torito")
        || what.contains("boot entry")
    {
        Check::BootCatalog
    } else if what.starts_with("directory") || what.starts_with("root directory") {
        Check::Directories
    } else if what.starts_with("file ") {
        Check::Files
    } else {
        Check::Descriptors
    }
}

/// Checks an opened image.
pub fn verify(img: &IsoImage, depth: Depth<'_>) -> Report {
    verify_detected(img, &Media::detect(img), depth)
}

/// [`verify`] with the image's boot.cfg files already read (`media`, as
/// [`Media::detect`] found them), for a caller that reads them too.
pub fn verify_detected(img: &IsoImage, media: &anyhow::Result<Media>, depth: Depth<'_>) -> Report {
    let mut r = Report::default();
    check_descriptors(img, &mut r);
    check_directories(img, &mut r);
    check_files(img, &mut r);
    check_pad(img, &mut r);
    check_boot(img, &mut r);
    let source = match depth {
        Depth::Full { source } => source,
        Depth::Cheap => None,
    };
    // The source's boot.cfg files, when it is an installer at all (the
    // command refuses a source that is not; the library then compares
    // files only).
    let src_media = source.and_then(|s| Media::detect(s).ok());
    let ks = check_boot_cfg(media, &mut r);
    if let Ok(media) = media {
        check_modules(img, media, src_media.as_ref(), &mut r);
    }
    let ks_text = check_kickstart(img, &ks, &mut r);
    if let Depth::Full { source } = depth {
        if let Some((path, text)) = &ks_text {
            check_lint(path, text, &mut r);
        }
        if let Some(src) = source {
            let ks_path = match &ks {
                Kickstart::At(k) => k.cdrom_path(),
                _ => None,
            };
            check_source(img, src, ks_path, &mut r);
            check_source_boot(img, src, &mut r);
        }
    }
    r
}

pub(super) fn trees(img: &IsoImage) -> impl Iterator<Item = (&'static str, &Tree)> {
    std::iter::once(("primary", &img.primary)).chain(img.joliet.iter().map(|t| ("Joliet", t)))
}

pub(super) fn label(path: &str) -> String {
    format!("/{path}")
}

/// A line of a file, quoted for a finding: as written (without a CR), cut
/// to a readable length.
pub(super) fn quote(raw: &str) -> String {
    const MAX: usize = 160;
    let line = raw.trim_end_matches('\r');
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("`{}...` ({} bytes)", &line[..cut], line.len()),
        None => format!("`{line}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_table() {
        let long = format!("modules={}", "/ü.v00 --- ".repeat(40));
        let cut: String = long.chars().take(160).collect();
        let cases = [
            ("kernelopt=runweasel\r", "`kernelopt=runweasel`".to_string()),
            ("", "``".to_string()),
            (long.as_str(), format!("`{cut}...` ({} bytes)", long.len())),
        ];
        for (raw, want) in cases {
            assert_eq!(quote(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn ids_are_the_serde_names() {
        for c in Check::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.id());
        }
    }
}
