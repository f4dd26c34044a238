//! Table tests over real and documented boot.cfg files
//! (tests/field/bootcfg/, sources in SOURCES.md there): the release
//! `inspect` reports, the loader diagnostics `build` and `verify` print,
//! the kernelopt edit (only the line the loader uses changes, everything
//! else byte for byte), and the module append (existing entries untouched,
//! the new one absolute so that it resolves to /OVERLAY.TGZ whatever
//! `prefix=` says).
//!
//! The expectations are written by hand from the files, not computed with
//! the code under test: line numbers of the effective lines, module counts
//! as the loader splits them (every `---`), and each edited kernelopt.

use std::path::PathBuf;

use esxi_iso::esxi::bootcfg::{self, KernelOptEdits};
use esxi_iso::esxi::loader::{BootCfg, Severity};
use esxi_iso::esxi::version;

struct Row {
    file: &'static str,
    /// `inspect`'s "product release" from the text alone.
    version: &'static str,
    /// Items as the loader splits the `modules=` line.
    modules: usize,
    /// 1-based line of the kernelopt the loader uses, or of the kernel
    /// line a new kernelopt goes after (`new_line`).
    kernelopt_line: usize,
    new_line: bool,
    /// The kernelopt value after setting ks=cdrom:/KS.CFG.
    edited: &'static str,
    /// 1-based line of the modules= line the loader uses.
    modules_line: usize,
    /// (line, severity, text in the message).
    diags: &'static [(usize, Severity, &'static str)],
}

const KS: &str = "ks=cdrom:/KS.CFG";
const DUP: &str = "ignores line 6";

#[rustfmt::skip]
const ROWS: &[Row] = &[
    Row { file: "6.0-constructed.cfg", version: "ESXi 6.0 or 6.5", modules: 104, kernelopt_line: 5, new_line: false,
          edited: "runweasel ks=cdrom:/KS.CFG", modules_line: 6, diags: &[] },
    Row { file: "6.5u3-constructed.cfg", version: "ESXi 6.0 or 6.5", modules: 183, kernelopt_line: 5, new_line: false,
          edited: "runweasel ks=cdrom:/KS.CFG", modules_line: 6, diags: &[] },
    Row { file: "6.7u3-constructed.cfg", version: "ESXi 6.7", modules: 160, kernelopt_line: 6, new_line: false,
          edited: "cdromBoot runweasel ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "6.7u3-pxe-tlhakhan.cfg", version: "ESXi 6.7", modules: 160, kernelopt_line: 4, new_line: true,
          edited: "ks=cdrom:/KS.CFG", modules_line: 5, diags: &[] },
    Row { file: "6.x-hpe-prajith.cfg", version: "ESXi 6.0 or 6.5", modules: 150, kernelopt_line: 5, new_line: false,
          edited: "runweasel ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "7.0.0-lab-chrise01.cfg", version: "ESXi 7.0.0", modules: 89, kernelopt_line: 9, new_line: false,
          edited: "ks=cdrom:/KS.CFG", modules_line: 10, diags: &[] },
    Row { file: "7.0.0-pxe-apnex.cfg", version: "ESXi 7.0.0", modules: 89, kernelopt_line: 6, new_line: false,
          edited: "cdromBoot runweasel ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "7.0.2-hpe-msh8.cfg", version: "ESXi 7.0.2", modules: 117, kernelopt_line: 7, new_line: false,
          edited: "ks=cdrom:/KS.CFG", modules_line: 8, diags: &[] },
    Row { file: "7.0.3-serial-dcasota.cfg", version: "ESXi 7.0.3", modules: 96, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot tty1Port=com1 tty2Port=com1 ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "8.0.0-usb-tekore.cfg", version: "ESXi 8.0.0", modules: 101, kernelopt_line: 6, new_line: false,
          edited: "ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "8.0.2-pxe-sagbash.cfg", version: "ESXi 8.0.2", modules: 108, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "8.0.3-pxe-dsjodin.cfg", version: "ESXi 8.0.3", modules: 109, kernelopt_line: 13, new_line: false,
          edited: "runweasel ks=cdrom:/KS.CFG", modules_line: 14, diags: &[] },
    Row { file: "8.0u3-constructed.cfg", version: "ESXi 8.0.3", modules: 109, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "9.0-constructed.cfg", version: "ESX 9.0.0.0", modules: 109, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "9.1.0-efi-metalsoft.cfg", version: "ESX 9.1.0", modules: 132, kernelopt_line: 6, new_line: false,
          edited: "ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "9.1.1-constructed.cfg", version: "ESX 9.1.1.0", modules: 109, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "crlf-trailing-constructed.cfg", version: "ESXi 8.0.3", modules: 109, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
    Row { file: "dup-kernelopt-constructed.cfg", version: "ESXi 6.7", modules: 160, kernelopt_line: 7, new_line: false,
          edited: "runweasel text nofb com1_baud=115200 com1_Port=0x3f8 tty2Port=com1 gdbPort=none logPort=none cdromBoot ks=cdrom:/KS.CFG",
          modules_line: 8, diags: &[(7, Severity::Warning, DUP)] },
    Row { file: "inline-comment-modules-constructed.cfg", version: "ESXi 7.0.2", modules: 118, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot # ks=cdrom:/KS.CFG added below", modules_line: 7,
          diags: &[(6, Severity::Warning, "passed to the kernel"), (7, Severity::Error, "splits the list")] },
    Row { file: "inline-comment-timeout-constructed.cfg", version: "ESXi 8.0.3", modules: 109, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 7,
          diags: &[(3, Severity::Error, "Configuration error while parsing")] },
    Row { file: "kernelopts-typo-constructed.cfg", version: "ESXi 8.0.3", modules: 109, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 8,
          diags: &[(7, Severity::Warning, "did you mean `kernelopt=`")] },
    Row { file: "space-before-eq-constructed.cfg", version: "ESXi 8.0.3", modules: 109, kernelopt_line: 5, new_line: true,
          edited: "ks=cdrom:/KS.CFG", modules_line: 7,
          diags: &[(6, Severity::Warning, "space before `=`")] },
    Row { file: "vendor-mixedcase-constructed.cfg", version: "ESXi 8.0.3", modules: 113, kernelopt_line: 6, new_line: false,
          edited: "runweasel cdromBoot ks=cdrom:/KS.CFG", modules_line: 7, diags: &[] },
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/field/bootcfg")
}

fn read(file: &str) -> String {
    let p = dir().join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn parse(file: &str) -> BootCfg {
    BootCfg::parse(read(file))
}

/// Lines split at '\n' only, keeping their ends, as the loader splits.
fn split(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn ks_edit() -> KernelOptEdits {
    KernelOptEdits {
        set: vec![KernelOptEdits::parse_opt(KS).unwrap()],
        remove: vec![],
    }
}

#[test]
fn every_fixture_is_in_the_table_and_the_sources() {
    let sources = read("SOURCES.md");
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cfg"))
        .collect();
    files.sort();
    for f in &files {
        assert!(ROWS.iter().any(|r| r.file == f), "{f} has no row in ROWS");
        assert!(
            sources.contains(f.as_str()),
            "{f} is not described in SOURCES.md"
        );
    }
    assert_eq!(files.len(), ROWS.len());
}

#[test]
fn release_detected_from_every_fixture() {
    for r in ROWS {
        let v = version::detect(&parse(r.file), None)
            .unwrap_or_else(|| panic!("{}: no release detected", r.file));
        assert_eq!(
            format!("{} {}", v.product, v.release),
            r.version,
            "{}",
            r.file
        );
    }
}

#[test]
fn module_counts_and_names_as_written() {
    for r in ROWS {
        let text = read(r.file);
        let line = split(&text)[r.modules_line - 1];
        let value = line.split_once('=').unwrap().1;
        let cfg = BootCfg::parse(text.as_str());
        let mods = cfg.modules("/BOOT.CFG");
        assert_eq!(mods.len(), r.modules, "{}", r.file);
        // The line the loader uses is the one the table names.
        assert_eq!(
            cfg.effective("modules").map(|l| l.number),
            Some(r.modules_line),
            "{}",
            r.file
        );
        // Every entry the loader reads is spelled as in the file.
        for m in &mods {
            assert!(
                value.contains(&m.entry),
                "{}: {} not in the line",
                r.file,
                m.entry
            );
        }
    }
}

#[test]
fn diagnostics_match_the_loader_rules() {
    for r in ROWS {
        let got = parse(r.file).check();
        assert_eq!(got.len(), r.diags.len(), "{}: {got:#?}", r.file);
        for (d, (line, sev, text)) in got.iter().zip(r.diags) {
            assert_eq!((d.line, d.severity), (*line, *sev), "{}: {d:?}", r.file);
            assert!(
                d.message.contains(text),
                "{}: {:?} lacks {text:?}",
                r.file,
                d.message
            );
        }
    }
}

#[test]
fn kernelopt_edit_touches_only_the_effective_line() {
    for r in ROWS {
        let text = read(r.file);
        let cfg = BootCfg::parse(text.as_str());
        if !r.new_line {
            assert_eq!(
                cfg.effective("kernelopt").map(|l| l.number),
                Some(r.kernelopt_line),
                "{}",
                r.file
            );
        }
        let out = bootcfg::edit(&cfg, &ks_edit()).unwrap();
        let (before, after) = (split(&text), split(&out.text));
        let at = r.kernelopt_line - 1;
        if r.new_line {
            assert_eq!(after.len(), before.len() + 1, "{}", r.file);
            assert_eq!(before[..=at], after[..=at], "{}", r.file);
            assert_eq!(before[at + 1..], after[at + 2..], "{}", r.file);
            let new = after[at + 1].trim_end_matches(['\r', '\n']);
            assert_eq!(new, format!("kernelopt={}", r.edited), "{}", r.file);
        } else {
            assert_eq!(after.len(), before.len(), "{}", r.file);
            for (i, (a, b)) in before.iter().zip(&after).enumerate() {
                if i != at {
                    assert_eq!(a, b, "{}: line {} changed", r.file, i + 1);
                }
            }
            let (head, _) = before[at].split_once('=').unwrap();
            let end = &before[at][before[at].trim_end_matches(['\r', '\n']).len()..];
            let trailing = {
                let body = before[at].trim_end_matches(['\r', '\n']);
                &body[body.trim_end().len()..]
            };
            assert_eq!(
                after[at],
                format!("{head}={}{trailing}{end}", r.edited),
                "{}",
                r.file
            );
        }
        assert_eq!(out.kernelopt, r.edited, "{}", r.file);
        let edited = BootCfg::parse(out.text.as_str());
        assert_eq!(edited.get("kernelopt"), Some(r.edited), "{}", r.file);
        // Editing again changes nothing more.
        assert_eq!(
            bootcfg::edit(&edited, &ks_edit()).unwrap().text,
            out.text,
            "{}",
            r.file
        );
    }
}

#[test]
fn appended_module_keeps_entries_and_resolves_to_the_root() {
    for r in ROWS {
        let text = read(r.file);
        let cfg = BootCfg::parse(text.as_str());
        let out = bootcfg::append_module(&cfg, "/OVERLAY.TGZ").unwrap();
        let (before, after) = (split(&text), split(&out));
        let at = r.modules_line - 1;
        assert_eq!(before.len(), after.len(), "{}", r.file);
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            if i != at {
                assert_eq!(a, b, "{}: line {} changed", r.file, i + 1);
            }
        }
        let body = before[at].trim_end_matches(['\r', '\n']);
        let end = &before[at][body.len()..];
        let lower = !body
            .split_once('=')
            .unwrap()
            .1
            .chars()
            .any(|c| c.is_ascii_uppercase());
        let entry = if lower {
            "/overlay.tgz"
        } else {
            "/OVERLAY.TGZ"
        };
        assert_eq!(after[at], format!("{body} --- {entry}{end}"), "{}", r.file);
        for cfg in ["/BOOT.CFG", "/EFI/BOOT/BOOT.CFG"] {
            let mods = BootCfg::parse(out.as_str()).modules(cfg);
            let last = mods.last().unwrap();
            assert!(
                last.path.eq_ignore_ascii_case("/OVERLAY.TGZ"),
                "{} {cfg}: {last:?}",
                r.file
            );
            // The old way, a relative entry, resolves elsewhere whenever a
            // prefix applies: on UEFI always, on BIOS with prefix=.
            let relative = format!("{body} --- overlay.tgz{end}");
            let old = text.replacen(before[at], &relative, 1);
            let old_last = BootCfg::parse(old).modules(cfg).pop().unwrap();
            let prefixed = !BootCfg::parse(text.as_str()).prefix(cfg).is_empty();
            assert_eq!(
                old_last.path != "overlay.tgz",
                prefixed,
                "{} {cfg}: {old_last:?}",
                r.file
            );
        }
    }
}

#[test]
fn mixed_case_vendor_names_are_kept() {
    let text = read("vendor-mixedcase-constructed.cfg");
    let out = bootcfg::append_module(&BootCfg::parse(text.as_str()), "/OVERLAY.TGZ").unwrap();
    let out = bootcfg::edit(&BootCfg::parse(out), &ks_edit())
        .unwrap()
        .text;
    let names = |t: &str| -> Vec<String> {
        BootCfg::parse(t)
            .modules("/BOOT.CFG")
            .into_iter()
            .map(|m| m.entry)
            .collect()
    };
    let (a, b) = (names(&text), names(&out));
    assert_eq!(a[..], b[..a.len()]);
    for n in [
        "/DEL_OSNA.V00",
        "/Brcm_Bnx.v00",
        "/dellBoot.V01",
        "/HPE_Amsd.v00",
    ] {
        assert!(b.iter().any(|x| x == n), "{n} lost: {b:?}");
    }
    assert_eq!(b.last().map(String::as_str), Some("/OVERLAY.TGZ"));
}

/// VMware's path rule, written out again from esx-boot (mboot/config.c
/// `parse_config`, bootlib/string.c `make_path`), not taken from the code
/// under test: the last `prefix=` line with a value, else the config
/// file's directory; entries starting with `/` or holding `://` are used
/// as they are, others joined to the prefix with `/`; runs of `/` after
/// the URL scheme merge.
fn oracle(text: &str, cfg: &str, entry: &str) -> String {
    let dir = &cfg[..cfg.rfind('/').unwrap()];
    let prefix = text
        .split('\n')
        .filter_map(|l| {
            let l = l.trim();
            let (k, v) = l.split_once('=')?;
            k.eq_ignore_ascii_case("prefix").then(|| v.trim())
        })
        .next_back()
        .filter(|p| !p.is_empty())
        .unwrap_or(dir);
    let joined = if entry.starts_with('/') || entry.contains("://") || prefix.is_empty() {
        entry.to_string()
    } else {
        format!("{prefix}/{entry}")
    };
    let (scheme, rest) = match joined.find("://") {
        Some(i) => joined.split_at(i + 3),
        None => ("", joined.as_str()),
    };
    let mut out = scheme.to_string();
    for c in rest.chars() {
        if !(c == '/' && out.ends_with('/') && out.len() > scheme.len()) {
            out.push(c);
        }
    }
    out
}

/// What the loader opens for every module of every field file, read as
/// /BOOT.CFG and as /EFI/BOOT/BOOT.CFG, is what the rule above says; and
/// naming each module by that path instead (absolute, no prefix) loads
/// the same list (where the resolved paths are absolute), which is why
/// `verify` compares what the two loaders load rather than how the two
/// files spell it.
#[test]
fn modules_resolve_by_the_loader_rule_and_not_by_spelling() {
    for r in ROWS {
        let text = read(r.file);
        let cfg = BootCfg::parse(text.as_str());
        let line = split(&text)[r.modules_line - 1];
        for path in ["/BOOT.CFG", "/EFI/BOOT/BOOT.CFG"] {
            let mods = cfg.modules(path);
            for m in &mods {
                assert_eq!(
                    m.path,
                    oracle(&text, path, &m.entry),
                    "{} {path}: {m:?}",
                    r.file
                );
            }
            let absolute: Vec<&str> = mods.iter().map(|m| m.path.as_str()).collect();
            // A relative prefix (prefix=vmware) resolves to relative
            // paths, which name no file without the loader's directory.
            if !absolute
                .iter()
                .all(|p| p.starts_with('/') || p.contains("://"))
            {
                continue;
            }
            let end = &line[line.trim_end_matches(['\r', '\n']).len()..];
            let rewritten = text
                .replacen(line, &format!("modules={}{end}", absolute.join(" --- ")), 1)
                .replace("\nprefix=", "\n#prefix=");
            let again = BootCfg::parse(rewritten);
            assert_eq!(again.value("prefix"), None, "{}", r.file);
            assert_eq!(
                again.module_paths(path),
                cfg.module_paths(path),
                "{} {path}",
                r.file
            );
        }
    }
}
