//! Lint on kickstarts from the field: 30 files found in public
//! repositories (tests/field/SOURCES.md says where, and why each verdict),
//! kept byte for byte. For each, tests/field/expectations.txt records what
//! the ESXi installer says, derived from its parser's rules; lint must say
//! exactly that, with the installer's severity: no error on a file the
//! installer accepts, no missed error on one it refuses, the same warnings.
//! esxi-iso's advice is left out of the comparison (it is not the
//! installer's verdict) but must never be an error. Two upgrade
//! kickstarts (tests/field/upgrade) check that lint marks what only
//! esxi-iso says, the commands an upgrade invalidates, as advice.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use esxi_iso::kickstart::lint::{kind, lint, Severity};

fn field_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/field")
}

struct Expected {
    accept: bool,
    diags: Vec<(char, usize, String)>,
}

fn expectations() -> BTreeMap<String, Expected> {
    let text = fs::read_to_string(field_dir().join("expectations.txt")).unwrap();
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    let mut current: Option<String> = None;
    for (no, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  ") {
            let mut f = rest.split_whitespace();
            let (Some(kind), Some(at), Some(code), None) = (f.next(), f.next(), f.next(), f.next())
            else {
                panic!("expectations.txt:{}: bad line {line:?}", no + 1);
            };
            let file = current.as_ref().expect("a diagnostic before any file");
            out.get_mut(file).unwrap().diags.push((
                kind.chars().next().unwrap(),
                at.parse().unwrap(),
                code.to_string(),
            ));
        } else {
            let (file, verdict) = line.rsplit_once(": ").expect("FILE: accept|reject");
            let accept = match verdict {
                "accept" => true,
                "reject" => false,
                v => panic!("expectations.txt:{}: verdict {v:?}", no + 1),
            };
            out.insert(
                file.to_string(),
                Expected {
                    accept,
                    diags: Vec::new(),
                },
            );
            current = Some(file.to_string());
        }
    }
    out
}

#[test]
fn lint_agrees_with_the_installer_on_every_field_kickstart() {
    let expected = expectations();
    let mut files: Vec<String> = fs::read_dir(field_dir().join("kickstarts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    let listed: Vec<&String> = expected.keys().collect();
    assert_eq!(
        files.iter().collect::<Vec<_>>(),
        listed,
        "every file has an expectation"
    );
    let sources = fs::read_to_string(field_dir().join("SOURCES.md")).unwrap();

    let mut failures = String::new();
    for file in &files {
        assert!(
            sources.contains(&format!("`{file}`")),
            "{file} is not in SOURCES.md"
        );
        let bytes = fs::read(field_dir().join("kickstarts").join(file)).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let diags = lint(&text);
        for d in diags.iter().filter(|d| d.advice) {
            assert_eq!(
                d.severity,
                Severity::Warning,
                "{file}: advice as an error: {d:?}"
            );
        }
        let mut got: Vec<(char, usize, String)> = diags
            .iter()
            .filter(|d| !d.advice)
            .map(|d| {
                let kind = if d.severity == Severity::Error {
                    'E'
                } else {
                    'W'
                };
                (kind, d.line, d.code.to_string())
            })
            .collect();
        let want = &expected[file];
        let mut want_diags = want.diags.clone();
        got.sort();
        want_diags.sort();
        let accepted = !got.iter().any(|(k, _, _)| *k == 'E');
        assert_eq!(
            want.accept,
            !want_diags.iter().any(|(k, _, _)| *k == 'E'),
            "{file}: the expectation's verdict and its errors disagree"
        );
        if accepted != want.accept || got != want_diags {
            failures.push_str(&format!(
                "{file}: installer {}, lint {}\n  got:  {got:?}\n  want: {want_diags:?}\n",
                if want.accept { "accepts" } else { "rejects" },
                if accepted { "accepts" } else { "rejects" },
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "lint disagrees with the installer:\n{failures}"
    );
}

/// The corpus covers both verdicts and the traps the field shows.
#[test]
fn corpus_covers_both_verdicts() {
    let expected = expectations();
    let rejects = expected.values().filter(|e| !e.accept).count();
    assert!(rejects >= 8 && expected.len() - rejects >= 15);
}

/// Upgrade kickstarts as public generators write them (tests/field/upgrade,
/// SOURCES.md says which and how): the installer warns about
/// `--preservevmfs` only; the commands the upgrade invalidates are
/// esxi-iso's advice, marked as such when printed, since the installer
/// prints nothing about them.
#[test]
fn upgrade_kickstarts_mark_invalidated_commands_as_advice() {
    type Found = &'static [(char, usize, &'static str)];
    let cases: [(&str, Found); 2] = [
        (
            "andrewcluey-kspy-upgrade.cfg",
            &[
                ('W', 9, "arg-unknown"),
                ('A', 13, "command-invalidated"),
                ('A', 15, "command-invalidated"),
                ('A', 18, "command-invalidated"),
            ],
        ),
        (
            "vmkdaily-dsc-labs-upgrade.cfg",
            &[
                ('W', 8, "arg-unknown"),
                ('A', 14, "command-invalidated"),
                ('A', 17, "command-invalidated"),
            ],
        ),
    ];
    let sources = fs::read_to_string(field_dir().join("SOURCES.md")).unwrap();
    for (file, want) in cases {
        assert!(sources.contains(&format!("`upgrade/{file}`")), "{file}");
        let text = fs::read_to_string(field_dir().join("upgrade").join(file)).unwrap();
        let diags = lint(&text);
        let got: Vec<(char, usize, &str)> =
            diags.iter().map(|d| (kind(d), d.line, d.code)).collect();
        assert_eq!(got, want, "{file}");
        // Through the binary: exit 0 (no error), and `--json` says which
        // findings are advice.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_esxi-iso"))
            .args(["kickstart", "lint", "--json"])
            .arg(field_dir().join("upgrade").join(file))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{file}: {out:?}");
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let findings = json["files"][0]["diagnostics"].as_array().unwrap();
        assert_eq!(findings.len(), want.len(), "{json}");
        for f in findings {
            let invalidated = f["code"] == "command-invalidated";
            assert_eq!(f["advice"], invalidated, "{f}");
            assert_eq!(f["severity"], "warning", "{f}");
        }
    }
}
