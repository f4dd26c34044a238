//! The docs are tested: every ```console block of README.md and docs/*.md
//! runs against the real binary, and its output must match what the
//! block shows (snapbox's wildcards: `[..]` within a line, `...` for
//! lines), so an example cannot go stale.
//!
//! How a page is run: in a sandbox folder of its own, holding the fixture
//! ISOs under the names a user's files have ([`SOURCES`]), the page's
//! code blocks are taken in order. A block whose info string names a file
//! (```toml file=lab.toml) writes that file; a ```console block runs its
//! `$ ` commands with bash (`\` continues a line; `export K=V` is
//! remembered for the page's later commands), stdout and stderr together
//! as a terminal shows them. A `? N` line after a command's output is the
//! exit status it must end with (0 otherwise).
//!
//! Every `esxi-iso` command line in any other block (```sh, ```text) must
//! at least parse: it is checked with the real command-line definitions.
//! And every option of every subcommand is documented somewhere.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use common::cli::BIN;
use common::fixture::{self, fixtures, work_dir};

/// A source ISO the docs use: (its name there, the fixture it is).
type Source = (&'static str, fn() -> PathBuf);

/// The source ISOs the docs use, by the names they have there.
const SOURCES: &[Source] = &[
    ("VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso", || {
        fixtures().plain.clone()
    }),
    ("VMware-VMvisor-Installer-9.1.0-25433460.x86_64.iso", || {
        fixtures().v91.clone()
    }),
    ("ubuntu-24.04-live-server-amd64.iso", non_esxi),
];

/// A valid ISO that is not an ESXi installer.
fn non_esxi() -> PathBuf {
    let dir = fixtures().dir.join("docs-non-esxi");
    let iso = dir.join("data.iso");
    if !iso.is_file() {
        fs::create_dir_all(dir.join("tree")).unwrap();
        fs::write(dir.join("tree/README.TXT"), "not ESXi\n").unwrap();
        let tmp = dir.join(format!("data.{}.iso", std::process::id()));
        let st = Command::new("genisoimage")
            .args(["-quiet", "-o"])
            .arg(&tmp)
            .arg(dir.join("tree"))
            .status()
            .unwrap();
        assert!(st.success());
        fs::rename(tmp, &iso).unwrap();
    }
    iso
}

/// The Markdown files whose examples must run.
fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    if let Ok(entries) = fs::read_dir(root.join("docs")) {
        let mut docs: Vec<PathBuf> = entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .collect();
        docs.sort();
        v.extend(docs);
    }
    v.retain(|p| p.is_file());
    v
}

/// A fenced code block: its info string and lines.
struct Block {
    info: String,
    lines: Vec<String>,
    /// 1-based line of the opening fence.
    at: usize,
}

fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<String> = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.starts_with("```"))
            .map(str::to_string)
            .collect();
        out.push(Block {
            info: info.trim().to_string(),
            lines: body,
            at: i + 1,
        });
    }
    out
}

/// One `$ ` command of a console block, with what it must print.
struct Step {
    command: String,
    expected: String,
    status: i32,
}

fn steps(block: &Block) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut lines = block.lines.iter().peekable();
    while let Some(line) = lines.next() {
        let Some(cmd) = line.strip_prefix("$ ") else {
            let step = out.last_mut().unwrap_or_else(|| {
                panic!(
                    "block at line {}: output before the first `$ ` command",
                    block.at
                )
            });
            match line.strip_prefix("? ") {
                Some(code) => {
                    step.status = code.trim().parse().unwrap_or_else(|_| {
                        panic!("block at line {}: `? {code}` is not a status", block.at)
                    })
                }
                None => {
                    step.expected.push_str(line);
                    step.expected.push('\n');
                }
            }
            continue;
        };
        let mut command = cmd.to_string();
        while command.ends_with('\\') {
            command.pop();
            match lines.next() {
                Some(next) => command.push_str(next.trim_start()),
                None => break,
            }
        }
        out.push(Step {
            command,
            expected: String::new(),
            status: 0,
        });
    }
    out
}

/// Runs the examples of one page; returns what failed.
fn run_page(page: &Path) -> Vec<String> {
    let text = fs::read_to_string(page).unwrap();
    let name = page.file_name().unwrap().to_string_lossy().into_owned();
    let sandbox = work_dir(&format!("docs-{}", name.trim_end_matches(".md")));
    let dir = sandbox.path();
    for (file, fixture) in SOURCES {
        fs::copy(fixture(), dir.join(file)).unwrap();
    }
    fs::create_dir(dir.join("home")).unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut exports: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    for block in blocks(&text) {
        let mut words = block.info.split_whitespace();
        let lang = words.next().unwrap_or_default();
        if let Some(file) = words.find_map(|w| w.strip_prefix("file=")) {
            let target = dir.join(file);
            if let Some(parent) = target.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(&target, block.lines.join("\n") + "\n").unwrap();
            continue;
        }
        if lang != "console" {
            continue;
        }
        for step in steps(&block) {
            if let Some(assignment) = step.command.strip_prefix("export ") {
                for a in shell_words(assignment) {
                    let (k, v) = a.split_once('=').unwrap_or((&a, ""));
                    exports.insert(k.to_string(), v.to_string());
                }
                continue;
            }
            let out = Command::new("bash")
                .arg("-c")
                .arg(format!("{} 2>&1", step.command))
                .current_dir(dir)
                .env_clear()
                .env("PATH", &path)
                .env("HOME", dir.join("home"))
                .env("LANG", "C.UTF-8")
                .env("TERM", "dumb")
                .envs(&exports)
                .output()
                .unwrap();
            let got = String::from_utf8_lossy(&out.stdout).into_owned();
            let code = out.status.code().unwrap_or(-1);
            let shown = format!("{name}:{}: $ {}", block.at, step.command);
            if code != step.status {
                failures.push(format!(
                    "{shown}\nexited {code}, the page says {}\n{got}",
                    step.status
                ));
                continue;
            }
            let check = snapbox::Assert::new().try_eq(
                Some(&"the real output"),
                snapbox::Data::text(got.clone()),
                snapbox::Data::text(step.expected.clone()),
            );
            if let Err(e) = check {
                failures.push(format!("{shown}\n{e}"));
            }
        }
    }
    failures
}

/// `a='b c' d` -> ["a=b c", "d"], as the shell reads an export line.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn every_console_example_runs_as_shown() {
    if !fixture::available() {
        return;
    }
    let mut failures = Vec::new();
    for page in pages() {
        failures.extend(run_page(&page));
    }
    assert!(
        failures.is_empty(),
        "{} example(s) differ from what the binary does (fix the docs, or the \
         binary):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// `esxi-iso ...` lines in every block but the console ones (which run),
/// parsed as the binary would.
#[test]
fn every_esxi_iso_command_line_in_the_docs_parses() {
    let mut bad = Vec::new();
    for page in pages() {
        let text = fs::read_to_string(&page).unwrap();
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        for block in blocks(&text).into_iter().filter(|b| b.info != "console") {
            let mut joined: Vec<String> = Vec::new();
            let mut cur = String::new();
            for l in &block.lines {
                let l = l.strip_prefix("$ ").unwrap_or(l);
                cur.push_str(l.trim_end_matches('\\'));
                if !l.ends_with('\\') {
                    joined.push(std::mem::take(&mut cur));
                }
            }
            for line in joined {
                let line = line.split(" # ").next().unwrap_or_default();
                // The esxi-iso invocations of a shell line.
                for part in line.split(['|', ';', '&', '>', '<']) {
                    let words = shell_words(part.trim());
                    let Some(at) = words.iter().position(|w| w == "esxi-iso") else {
                        continue;
                    };
                    if words[..at].iter().any(|w| !w.contains('=') && w != "sudo") {
                        continue;
                    }
                    let args = &words[at..];
                    if let Err(e) = <esxi_iso::cli::Cli as clap::Parser>::try_parse_from(args) {
                        if e.kind() != clap::error::ErrorKind::DisplayHelp
                            && e.kind() != clap::error::ErrorKind::DisplayVersion
                        {
                            bad.push(format!(
                                "{name}:{}: `{}`: {}",
                                block.at,
                                args.join(" "),
                                e.render()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "command lines that do not parse:\n{}",
        bad.join("\n")
    );
}

/// Every long option of every subcommand appears in the docs.
#[test]
fn every_option_is_documented() {
    let all: String = pages()
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    let mut missing = Vec::new();
    let cli = esxi_iso::cli::Cli::command();
    let mut stack: Vec<(String, &clap::Command)> = vec![(String::new(), &cli)];
    while let Some((path, cmd)) = stack.pop() {
        for sub in cmd.get_subcommands() {
            stack.push((format!("{path} {}", sub.get_name()), sub));
        }
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if ["help", "version"].contains(&long) || arg.is_hide_set() {
                continue;
            }
            if !all.contains(&format!("--{long}")) {
                missing.push(format!("esxi-iso{path} --{long}"));
            }
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "options no page of the docs mentions:\n  {}",
        missing.join("\n  ")
    );
}

/// Every warning code is in docs/cli.md's list, for `--allow`.
#[test]
fn every_warning_code_is_documented() {
    let cli = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/cli.md")).unwrap();
    let missing: Vec<&str> = esxi_iso::warning::codes()
        .filter(|c| !cli.contains(&format!("`{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/cli.md lacks warning codes {missing:?}"
    );
}

/// The README stays a few screens: the rest goes in docs/.
#[test]
fn the_readme_is_short() {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let n = readme.lines().count();
    assert!(
        n <= 250,
        "README.md has {n} lines; move the detail to docs/"
    );
}
