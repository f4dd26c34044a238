//! The boot.cfg checks of `verify`: both files as VMware's loader reads
//! them ([`BootCfg`]): `runweasel` kept, one `ks=` for both, nothing the
//! loader reads differently than it looks; then what each loader loads,
//! resolved by its `prefix=` rules (mboot/config.c, bootlib/string.c
//! `make_path`): every file present, the same files for BIOS and UEFI,
//! and the Secure Boot view of the module list (only the stock one boots).
//!
//! Then the kickstart `ks=cdrom:` names: present under its exact name,
//! UTF-8, and (full checks) linted with the installer's rules.
//!
//! Findings quote the file: the line as written and its number, each
//! entry as written and the path it resolved to.

use super::{quote, Check, Report};
use crate::esxi::bootcfg::option;
use crate::esxi::loader::{is_absolute, BootCfg, Severity};
use crate::esxi::{self, Media};
use crate::iso::IsoImage;
use crate::kickstart::lint;

/// Kickstarts are a few KB; the installer reads them into memory too.
const KICKSTART_CAP: u32 = 1 << 20;

/// The kickstart location both boot.cfg files agree on, with where it was
/// read (for findings that quote it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ks {
    pub value: String,
    /// `/BOOT.CFG line 6: `kernelopt=...``.
    pub origin: String,
}

impl Ks {
    /// For `ks=cdrom:/PATH`: PATH without its leading `/`.
    pub fn cdrom_path(&self) -> Option<&str> {
        self.value
            .strip_prefix("cdrom:")
            .map(|p| p.trim_start_matches('/'))
    }
}

/// What the two boot.cfg files say about the kickstart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kickstart {
    /// Neither has `ks=`: the installer asks its questions (stock media).
    Interactive,
    /// Both have this `ks=`.
    At(Ks),
    /// They could not be read, lack a kernelopt line, have an empty
    /// `ks=` or disagree (a failed `boot-cfg` finding says how).
    Unclear,
}

/// Both boot.cfg keep `runweasel` and agree on `ks=`, and VMware's loader
/// reads them as they look ([`BootCfg::check`]: errors fail, warnings
/// warn). Returns what they say about the kickstart.
pub(super) fn check_boot_cfg(media: &anyhow::Result<Media>, r: &mut Report) -> Kickstart {
    let media = match media {
        Ok(m) => m,
        Err(e) => {
            r.fail(Check::BootCfg, format!("{e:#}"));
            return Kickstart::Unclear;
        }
    };
    let mut problems = Vec::new();
    // Per file: where its kernelopt is, and its ks= value.
    let mut seen: Vec<(&str, String, Option<String>)> = Vec::new();
    for (path, cfg) in media.configs() {
        let Some(line) = cfg.effective("kernelopt") else {
            problems.push(format!(
                "{path} has no kernelopt= line, so no runweasel: the loader would boot ESXi \
                 without starting the installer"
            ));
            continue;
        };
        let at = format!("{path} line {}: {}", line.number, quote(cfg.raw(line)));
        let ko = cfg.get("kernelopt").unwrap_or_default();
        if option(ko, "runweasel").is_none() {
            problems.push(format!(
                "{at} has no runweasel: the loader would boot ESXi without starting the installer"
            ));
        }
        let ks = option(ko, "ks");
        if ks == Some("") {
            problems.push(format!("{at}: its ks= has no value"));
            continue;
        }
        seen.push((path, at, ks.map(str::to_string)));
    }
    let kickstart = match &seen[..] {
        [(_, a_at, Some(a)), (_, b_at, Some(b))] if a != b => {
            problems.push(format!(
                "{a_at} has ks={a} but {b_at} has ks={b}: BIOS and UEFI boots would install \
                 from different kickstarts"
            ));
            Kickstart::Unclear
        }
        [(_, at, Some(a)), (_, _, Some(_))] => Kickstart::At(Ks {
            value: a.clone(),
            origin: at.clone(),
        }),
        [(_, _, None), (_, _, None)] => Kickstart::Interactive,
        [(a, a_at, a_ks), (b, b_at, b_ks)] => {
            let (none_at, other, ks, boots) = match a_ks {
                Some(k) => (b_at, *a, k, "UEFI"),
                None => (a_at, *b, b_ks.as_ref().expect("one has ks="), "BIOS"),
            };
            problems.push(format!(
                "{none_at} has no ks=, but {other} has ks={ks}: {boots} boots would not install \
                 unattended"
            ));
            Kickstart::Unclear
        }
        _ => Kickstart::Unclear,
    };
    let mut warnings = Vec::new();
    for (path, cfg) in media.configs() {
        for d in cfg.check() {
            let line = d.render(path);
            match d.severity {
                Severity::Error => problems.push(line),
                Severity::Warning => warnings.push(line),
            }
        }
    }
    let ok = match &kickstart {
        Kickstart::At(ks) => format!(
            "/BOOT.CFG and /EFI/BOOT/BOOT.CFG parse, keep runweasel, ks={}",
            ks.value
        ),
        _ => "/BOOT.CFG and /EFI/BOOT/BOOT.CFG parse and keep runweasel; no ks=, so the \
              installer asks its questions (as on stock media)"
            .to_string(),
    };
    if problems.is_empty() && !warnings.is_empty() {
        r.warn(Check::BootCfg, format!("{ok}; {}", warnings.join("; ")));
    } else {
        r.summarize(Check::BootCfg, &problems, ok);
    }
    kickstart
}

/// What a loaded file is on the image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// The file record's extent and size: two names for one file are one.
    File(u32, u32),
    /// Loaded over the network; not checked.
    Url(String),
    Missing,
}

/// One file a loader loads: the kernel or a module.
#[derive(Debug, Clone)]
struct Load {
    key: &'static str,
    /// The `kernel=` or `modules=` line the loader uses.
    line: usize,
    entry: String,
    options: Option<String>,
    /// What the loader opens (prefix joined, sanitized).
    path: String,
    target: Target,
}

impl Load {
    fn same(&self, other: &Load) -> bool {
        self.target == other.target && self.options == other.options
    }

    /// `` `entry options` (path) ``.
    fn describe(&self) -> String {
        let opts = self
            .options
            .as_deref()
            .map_or(String::new(), |o| format!(" {o}"));
        format!("`{}{opts}` ({})", self.entry, self.path)
    }
}

/// What the loader finds at `path` on the image.
fn target(img: &IsoImage, path: &str) -> Target {
    if path.contains("://") {
        return Target::Url(path.to_string());
    }
    match img.find(path.trim_start_matches('/')) {
        Some(e) if !img.record(e).is_dir() => {
            let rec = img.record(e);
            Target::File(rec.extent, rec.size)
        }
        _ => Target::Missing,
    }
}

/// The kernel and the modules of `cfg`, read from `path`, resolved and
/// looked up on the image.
fn loads(img: &IsoImage, path: &str, cfg: &BootCfg) -> Vec<Load> {
    let kernel = cfg.value("kernel").map(|k| {
        (
            "kernel",
            k.to_string(),
            None,
            cfg.kernel(path).unwrap_or_default(),
        )
    });
    let modules = cfg
        .modules(path)
        .into_iter()
        .map(|m| ("modules", m.entry, m.options, m.path));
    kernel
        .into_iter()
        .chain(modules)
        .map(|(key, entry, options, path)| Load {
            key,
            line: cfg.effective(key).map_or(0, |l| l.number),
            target: target(img, &path),
            entry,
            options,
            path,
        })
        .collect()
}

/// Why a relative entry resolved where it did.
fn prefix_note(path: &str, cfg: &BootCfg) -> String {
    match (cfg.value("prefix"), cfg.effective("prefix")) {
        (Some(p), Some(l)) => format!("prefix={p} on line {}", l.number),
        _ => match esxi::loader::config_dir(path) {
            "" => "no prefix=, so relative to the root".to_string(),
            dir => format!("no prefix=, so relative to {dir}, the directory of {path}"),
        },
    }
}

/// The kernel and modules of both boot.cfg files, resolved the way the
/// loader resolves them (prefix, config directory), that are not on the
/// image: each would stop the boot with "Not found". URLs are skipped.
pub fn missing_modules(img: &IsoImage, media: &Media) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, cfg) in media.configs() {
        for l in loads(img, path, cfg) {
            if l.target != Target::Missing {
                continue;
            }
            let how = if is_absolute(&l.entry) {
                String::new()
            } else {
                format!(" ({})", prefix_note(path, cfg))
            };
            problems.push(format!(
                "{path} line {}: {}= entry `{}` resolves to {}{how}, which is not on the ISO \
                 (the loader stops with \"Not found\")",
                l.line, l.key, l.entry, l.path
            ));
        }
    }
    problems
}

/// How two loaders' lists differ, or `None` when they load the same
/// files with the same options in the same order.
fn difference(a: (&str, &[Load]), b: (&str, &[Load])) -> Option<String> {
    let (an, al) = a;
    let (bn, bl) = b;
    if al.len() == bl.len() && al.iter().zip(bl).all(|(x, y)| x.same(y)) {
        return None;
    }
    let only = |xs: &[Load], ys: &[Load]| -> Vec<String> {
        xs.iter()
            .filter(|x| !ys.iter().any(|y| x.same(y)))
            .map(Load::describe)
            .collect()
    };
    let (only_a, only_b) = (only(al, bl), only(bl, al));
    let list = |v: &[String]| match v.len() {
        n if n > 3 => format!("{} (and {} more)", v[..3].join(", "), n - 3),
        _ => v.join(", "),
    };
    let line = |l: &[Load]| l.last().map_or(0, |l| l.line);
    if only_a.is_empty() && only_b.is_empty() {
        let i = al
            .iter()
            .zip(bl)
            .position(|(x, y)| !x.same(y))
            .unwrap_or(al.len().min(bl.len()));
        let at = |l: &[Load], name: &str| match l.get(i) {
            Some(x) => format!("{} in {name} line {}", x.describe(), x.line),
            None => format!("nothing in {name}"),
        };
        let how = if al.len() == bl.len() {
            format!("{an} and {bn} load the same files in another order")
        } else {
            format!("{an} loads {} files and {bn} {}", al.len(), bl.len())
        };
        return Some(format!(
            "{how}: item {} is {} but {}",
            i + 1,
            at(al, an),
            at(bl, bn)
        ));
    }
    let mut parts = Vec::new();
    if !only_a.is_empty() {
        parts.push(format!(
            "only {an} (line {}) loads {}",
            line(al),
            list(&only_a)
        ));
    }
    if !only_b.is_empty() {
        parts.push(format!(
            "only {bn} (line {}) loads {}",
            line(bl),
            list(&only_b)
        ));
    }
    Some(format!(
        "{an} and {bn} load different files: {}",
        parts.join("; ")
    ))
}

/// How an image's module list (as its loader resolves it) differs from
/// the source's, or `None` when it is the same, name for name.
fn changed_list(path: &str, ours: &[String], theirs: &[String]) -> Option<String> {
    if ours == theirs {
        return None;
    }
    let added: Vec<&str> = ours
        .iter()
        .filter(|m| !theirs.contains(m))
        .map(String::as_str)
        .collect();
    let gone: Vec<&str> = theirs
        .iter()
        .filter(|m| !ours.contains(m))
        .map(String::as_str)
        .collect();
    let mut what = Vec::new();
    if !added.is_empty() {
        what.push(format!("adds {}", added.join(" ")));
    }
    if !gone.is_empty() {
        what.push(format!("drops {}", gone.join(" ")));
    }
    if what.is_empty() {
        what.push("loads the same modules in another order".into());
    }
    Some(format!(
        "{path}'s module list differs from the source's ({}): {}",
        what.join(", "),
        esxi::SECURE_BOOT_EFFECT
    ))
}

/// Every file the loaders load is on the image, both load the same ones,
/// and the module list is the stock one, which Secure Boot requires:
/// compared with the source's when there is one, else checked for
/// modules esxi-iso adds.
pub(super) fn check_modules(img: &IsoImage, media: &Media, source: Option<&Media>, r: &mut Report) {
    let problems = missing_modules(img, media);
    if !problems.is_empty() {
        r.summarize(Check::Modules, &problems, String::new());
        return;
    }
    let [(bn, bios), (en, efi)] = media.configs();
    let (bl, el) = (loads(img, bn, bios), loads(img, en, efi));
    let n = bios.modules(bn).len();
    let mut notes = Vec::new();
    let mut same = "the same files for BIOS and UEFI".to_string();
    match difference((bn, &bl), (en, &el)) {
        Some(d) => notes.push(d),
        None => {
            let written = |c: &BootCfg, p| -> Vec<String> {
                c.modules(p).into_iter().map(|m| m.entry).collect()
            };
            if written(bios, bn) != written(efi, en) || bios.value("kernel") != efi.value("kernel")
            {
                same.push_str(" (named differently in the two files)");
            }
        }
    }
    let stock = match source {
        Some(src) => {
            let changes: Vec<String> = media
                .configs()
                .into_iter()
                .zip(src.configs())
                .filter_map(|((p, ours), (_, theirs))| {
                    changed_list(p, &ours.module_paths(p), &theirs.module_paths(p))
                })
                .collect();
            if changes.is_empty() {
                Some("the source's list as the loader resolves it (Secure Boot accepts it)")
            } else {
                notes.extend(changes);
                None
            }
        }
        None => {
            let ours: Vec<&str> = bl
                .iter()
                .chain(&el)
                .filter(|l| l.key == "modules" && is_overlay_module(&l.path))
                .map(|l| l.path.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            if ours.is_empty() {
                Some("none added by esxi-iso (--source compares with the stock list)")
            } else {
                notes.push(format!(
                    "{} added by esxi-iso: {}",
                    ours.join(" "),
                    esxi::SECURE_BOOT_EFFECT
                ));
                None
            }
        }
    };
    match stock {
        Some(stock) if notes.is_empty() => r.ok(
            Check::Modules,
            format!("{n} modules, all on the ISO, {same}, {stock}"),
        ),
        _ => r.warn(
            Check::Modules,
            format!("{n} modules, all on the ISO; {}", notes.join("; ")),
        ),
    }
}

/// `/OVERLAY.TGZ`, `/OVERLAY2.TGZ` ...: the names `build` gives the module
/// it adds.
fn is_overlay_module(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    name.strip_prefix("overlay")
        .and_then(|r| r.strip_suffix(".tgz"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// For `ks=cdrom:/PATH`: the file exists under exactly that (uppercase)
/// name, is not empty, and is UTF-8. Returns its path and text. Findings
/// name the boot.cfg line the `ks=` came from.
pub(super) fn check_kickstart(
    img: &IsoImage,
    ks: &Kickstart,
    r: &mut Report,
) -> Option<(String, String)> {
    let ks = match ks {
        Kickstart::At(ks) => ks,
        Kickstart::Interactive => {
            r.ok(
                Check::Kickstart,
                "no ks= in either boot.cfg: nothing to check",
            );
            return None;
        }
        Kickstart::Unclear => return None,
    };
    let Some(path) = ks.cdrom_path() else {
        r.ok(
            Check::Kickstart,
            format!("ks={} is not on the CD; not checked", ks.value),
        );
        return None;
    };
    let Some(e) = img.find(path) else {
        r.fail(
            Check::Kickstart,
            format!("ks={} ({}): /{path} is not on the ISO", ks.value, ks.origin),
        );
        return None;
    };
    let rec = img.record(e);
    let on_disc = crate::iso::reader::loader_name(rec.identifier());
    let want = path.rsplit('/').next().unwrap_or(path);
    if rec.is_dir() {
        r.fail(
            Check::Kickstart,
            format!("ks={} ({}): /{path} is a directory", ks.value, ks.origin),
        );
        return None;
    }
    if on_disc != want {
        r.fail(
            Check::Kickstart,
            format!(
                "ks={} ({}) names {want} but the ISO9660 name is {on_disc}: the installer \
                 matches the exact name",
                ks.value, ks.origin
            ),
        );
        return None;
    }
    let bytes = match img.read_small(rec, KICKSTART_CAP) {
        Ok(b) => b,
        Err(e) => {
            r.fail(Check::Kickstart, format!("reading /{path}: {e}"));
            return None;
        }
    };
    match String::from_utf8(bytes) {
        Ok(text) if !text.trim().is_empty() => {
            r.ok(
                Check::Kickstart,
                format!("/{path}, {} bytes (LBA {})", rec.size, rec.extent),
            );
            Some((format!("/{path}"), text))
        }
        Ok(_) => {
            r.fail(Check::Kickstart, format!("/{path} is empty"));
            None
        }
        Err(e) => {
            r.fail(
                Check::Kickstart,
                format!(
                    "/{path} is not UTF-8 text (byte {} starts an invalid sequence)",
                    e.utf8_error().valid_up_to()
                ),
            );
            None
        }
    }
}

/// The installer's rules (`kickstart::lint`) on the kickstart at `path`:
/// errors fail, each with its line.
pub(super) fn check_lint(path: &str, text: &str, r: &mut Report) {
    let diags = lint::lint(text);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.severity == lint::Severity::Error)
        .map(|d| d.render(path))
        .collect();
    let warnings = diags.len() - errors.len();
    r.summarize(
        Check::KickstartLint,
        &errors,
        format!("no errors, {warnings} warning(s)"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_list_table() {
        let v = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
        let cases = [
            ("/a /b", "/a /b", None),
            ("/a /b /overlay.tgz", "/a /b", Some("(adds /overlay.tgz)")),
            ("/a", "/a /b", Some("(drops /b)")),
            ("/A /b", "/a /b", Some("(adds /A, drops /a)")),
            (
                "/b /a",
                "/a /b",
                Some("(loads the same modules in another order)"),
            ),
        ];
        for (ours, theirs, want) in cases {
            let got = changed_list("/BOOT.CFG", &v(ours), &v(theirs));
            match want {
                None => assert_eq!(got, None, "{ours:?}"),
                Some(w) => {
                    let got = got.unwrap();
                    assert!(
                        got.starts_with(&format!(
                            "/BOOT.CFG's module list differs from the source's {w}"
                        )),
                        "{got}"
                    );
                }
            }
        }
    }

    #[test]
    fn overlay_module_names() {
        for (path, want) in [
            ("/overlay.tgz", true),
            ("/OVERLAY2.TGZ", true),
            ("/esxi/overlay13.tgz", true),
            ("/overlayx.tgz", false),
            ("/imgpayld.tgz", false),
        ] {
            assert_eq!(is_overlay_module(path), want, "{path}");
        }
    }
}
