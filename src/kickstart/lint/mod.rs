//! Kickstart linter: says, before an ISO is built, what the ESXi installer
//! will say about a kickstart, rule for rule and with the installer's
//! severity: an error where the installer refuses or stops, a warning where
//! it warns and goes on.
//!
//! The reference is the installer's own parser (weasel): `scriptedinstall.py`
//! (`ScriptedInstallPreparser`), `grammar.py` (`GrammarDefinition`),
//! `kickstartfile.py`, `users.py`, `networking/utils.py` and
//! `util/regexlocator.py`, in the Python 3 version that ESXi 7.x ships (it
//! added SHA-512 root passwords); an older Python 2 version (ESX 4.x, with
//! the service console) differs where noted in docs/kickstart.md. Facts only, no
//! code, were taken from it. `lexer` cuts the file as the installer does,
//! `grammar` holds the command and option table, `args` reads one command's
//! options, `commands` and `scripts` apply what each command checks, and
//! this module the checks over the whole file (required commands, the
//! 256-command limit, `paranoid`).
//!
//! Out of scope: anything that depends on the target host (which disks
//! exist or hold VMFS, which NICs are linked, whether a licence key is
//! genuine), the contents of `%include`d files (usually written by `%pre`),
//! the script bodies themselves, and passwdqc's dictionary checks. Where
//! esxi-iso knows something the installer does not say (a runtime
//! consequence it does not check, an outcome that depends on the host, a
//! warning it computes and then loses), it says so as advice: a warning
//! marked `(esxi-iso advice)`, never an error. [`RULES`] lists which codes
//! are the installer's verdict and which esxi-iso's advice.
//!
//! Pure functions over a string: no I/O, no panics on any input. Messages
//! never echo a root password: diagnostics end up in logs.

mod args;
mod commands;
mod grammar;
pub mod lexer;
pub mod report;
mod scripts;
mod values;

use std::collections::HashMap;

use crate::diagnostic::edit_distance;
pub use crate::diagnostic::{has_errors, Diagnostic, Severity};

use grammar::{Command, Detail};

/// The installer refuses a kickstart with more commands than this
/// (`preParseCommandTokens`).
const MAX_COMMANDS: usize = 256;

/// Every finding's code and what it may be: `E` an error and `W` a warning
/// the installer itself gives (its parser says so, or the install
/// certainly stops on it), `A` esxi-iso's advice (the installer says
/// nothing, or what it does depends on the host). A code given more than
/// one kind takes each in a case of its own (`missing-rootpw` is an error
/// for `install`, advice when an `%include` may provide it).
/// tests/lint_rules.rs has a row for each code and kind.
pub const RULES: &[(&str, &str)] = &[
    ("syntax", "E"),
    ("non-ascii", "W"),
    ("unknown-command", "W"),
    ("keyword-lost", "A"),
    ("too-many-commands", "E"),
    ("command-deprecated", "W"),
    ("command-unused", "W"),
    ("command-invalidated", "A"),
    ("command-duplicate", "WE"),
    ("dryrun", "A"),
    ("missing-vmaccepteula", "EA"),
    ("missing-install", "EA"),
    ("install-conflict", "E"),
    ("missing-rootpw", "EA"),
    ("missing-network", "WA"),
    ("requires-install", "E"),
    ("paranoid", "E"),
    ("arg-deprecated", "W"),
    ("arg-position", "W"),
    ("arg-missing", "E"),
    ("arg-unknown", "WE"),
    ("arg-no-value", "W"),
    ("arg-takes-no-value", "W"),
    ("arg-invalid", "WE"),
    ("arg-duplicate", "WE"),
    ("arg-required", "E"),
    ("arg-conflict", "E"),
    ("install-no-disk", "E"),
    ("upgrade-bootdiskmarker", "E"),
    ("upgrade-savebootbank", "E"),
    ("install-vmfs", "A"),
    ("clearpart-no-drives", "E"),
    ("keyboard-unknown", "W"),
    ("part-no-disk", "E"),
    ("part-install-disk", "E"),
    ("part-same-disk", "E"),
    ("part-same-name", "E"),
    ("network-no-bootproto", "W"),
    ("network-dhcp-static-option", "E"),
    ("network-dhcp-ignored", "W"),
    ("network-static-no-ip", "E"),
    ("network-static-no-hostname", "W"),
    ("network-static-no-nameserver", "W"),
    ("network-static-no-netmask", "W"),
    ("network-static-no-gateway", "WE"),
    ("network-static-settings", "E"),
    ("rootpw-empty", "E"),
    ("rootpw-words", "A"),
    ("rootpw-crypted-invalid", "E"),
    ("rootpw-md5-incomplete", "A"),
    ("rootpw-weak", "E"),
    ("script-no-interpreter", "W"),
    ("firstboot-empty", "E"),
    ("script-end-fails-pre", "E"),
    ("script-end", "A"),
    ("report-unbounded", "A"),
    ("report-can-fail", "A"),
    ("report-fails-pre", "A"),
    ("report-no-token", "A"),
    ("report-section", "A"),
    ("report-event", "A"),
];

/// What a finding is, as [`RULES`] writes it: `E`, `W` or `A`.
pub fn kind(d: &Diagnostic) -> char {
    match (d.advice, d.severity) {
        (true, _) => 'A',
        (false, Severity::Error) => 'E',
        (false, Severity::Warning) => 'W',
    }
}

/// The findings so far, with the errors counted as they come: option
/// parsing asks for the count once per command.
#[derive(Default)]
pub(crate) struct Diags {
    list: Vec<Diagnostic>,
    errors: usize,
}

impl Diags {
    fn push(
        &mut self,
        severity: Severity,
        line: usize,
        code: &'static str,
        advice: bool,
        message: String,
    ) {
        self.errors += usize::from(severity == Severity::Error);
        let d = Diagnostic {
            severity,
            line,
            code,
            advice,
            message,
        };
        debug_assert!(
            RULES
                .iter()
                .any(|(c, kinds)| *c == code && kinds.contains(kind(&d))),
            "lint code {code} given as {} is not in RULES",
            kind(&d)
        );
        self.list.push(d);
    }
    pub(crate) fn error(&mut self, line: usize, code: &'static str, message: String) {
        self.push(Severity::Error, line, code, false, message);
    }
    pub(crate) fn warn(&mut self, line: usize, code: &'static str, message: String) {
        self.push(Severity::Warning, line, code, false, message);
    }
    pub(crate) fn advice(&mut self, line: usize, code: &'static str, message: String) {
        self.push(Severity::Warning, line, code, true, message);
    }
    pub(crate) fn errors(&self) -> usize {
        self.errors
    }
}

/// A command line as the installer found it.
struct Item {
    line: usize,
    cmd: &'static Command,
    words: Vec<String>,
    /// For a script: the body lines, numbered.
    body: Vec<(usize, String)>,
}

pub fn lint(text: &str) -> Vec<Diagnostic> {
    let mut d = Diags::default();
    let lines = lexer::lines(text);
    let mut items = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    // First words of script lines, to explain a command a script swallowed.
    let mut swallowed: Vec<(usize, String, usize, &'static str)> = Vec::new();

    let mut i = 0;
    while i < lines.len() {
        let line = &lines[i];
        let tokens = match lexer::tokenize(&line.text) {
            Ok(t) => t,
            Err(e) => {
                d.error(
                    line.no,
                    "syntax",
                    format!(
                        "{} (the installer cannot read this line and stops): {}",
                        e.message(),
                        match e {
                            lexer::TokenError::NoClosingQuotation => "add the closing quote",
                            lexer::TokenError::NoEscapedCharacter => {
                                "remove the backslash at the end of the file"
                            }
                        }
                    ),
                );
                i += 1;
                continue;
            }
        };
        let Some(name) = tokens.first() else {
            i += 1;
            continue;
        };
        if let Some(c) = line.text.chars().find(|c| !c.is_ascii()) {
            d.warn(
                line.no,
                "non-ascii",
                format!(
                    "script file contains a non-ASCII character (U+{:04X}): replace it with \
                     plain ASCII",
                    u32::from(c)
                ),
            );
        }
        let Some(cmd) = grammar::find(name) else {
            if !unknown.contains(name) {
                d.warn(line.no, "unknown-command", unknown_command(name));
                unknown.push(name.clone());
            }
            i += 1;
            continue;
        };
        let mut item = Item {
            line: line.no,
            cmd,
            words: tokens[1..].to_vec(),
            body: Vec::new(),
        };
        i += 1;
        if cmd.multiline {
            let b = lexer::body(&lines, i - 1);
            item.body = lines[b.first..b.end]
                .iter()
                .map(|l| (l.no, l.text.to_string()))
                .collect();
            for (no, text) in &item.body {
                if let Some(word) = text.split_whitespace().next() {
                    swallowed.push((*no, word.to_string(), line.no, cmd.name));
                }
            }
            if let Some(lost) = b.swallowed {
                d.advice(
                    lines[lost].no,
                    "keyword-lost",
                    format!(
                        "the installer skips this line: a keyword on the last line of the \
                         file, right after the {} script, is read as the script's end and \
                         then dropped; add an empty line after it",
                        cmd.name
                    ),
                );
            }
            i = b.resume;
        }
        items.push(item);
    }

    check_items(&mut d, &items);
    check_file(&mut d, &items, &swallowed);

    let mut diags = d.list;
    diags.sort_by_key(|diag| diag.line);
    diags
}

fn check_items(d: &mut Diags, items: &[Item]) {
    let upgrade = items
        .iter()
        .find(|it| it.cmd.id == "upgrade")
        .map(|it| it.line);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut state = commands::State::default();
    // The installer parses the install family before the other commands,
    // so the install disk is known when `part` is checked.
    for it in items.iter().filter(|it| is_install(it.cmd.id)) {
        if let Some(b) = args_quiet(it) {
            commands::claim_install_disk(&mut state, it.cmd.id, &b);
        }
    }
    for (count, it) in items.iter().enumerate() {
        let (line, cmd) = (it.line, it.cmd);
        if count == MAX_COMMANDS {
            d.error(
                line,
                "too-many-commands",
                format!(
                    "more than {MAX_COMMANDS} commands were included in the kickstart file(s): \
                     the installer refuses it; move settings into a %firstboot script"
                ),
            );
        }
        match cmd.detail {
            Detail::Deprecated => {
                d.warn(
                    line,
                    "command-deprecated",
                    format!(
                        "command \"{}\" is deprecated and should not be used (the installer \
                         ignores it): remove it",
                        cmd.name
                    ),
                );
                continue;
            }
            Detail::Unused => {
                d.warn(
                    line,
                    "command-unused",
                    format!(
                        "command \"{}\" is currently unused (the installer ignores it): remove \
                         it",
                        cmd.name
                    ),
                );
                continue;
            }
            Detail::Supported => {}
        }
        if let Some(at) = upgrade.filter(|_| grammar::INVALIDATED_BY_UPGRADE.contains(&cmd.id)) {
            // `preParseCommandTokens` computes "command ... is invalidated"
            // and then overwrites its warnings with those of `addBranch`:
            // the installer prints nothing.
            d.advice(
                line,
                "command-invalidated",
                format!(
                    "command \"{}\" is invalidated by the upgrade on line {at}: an upgrade keeps \
                     the host's settings and ignores it (the installer says nothing about it); \
                     remove it",
                    cmd.name
                ),
            );
        }
        let words = if cmd.multiline {
            let mut w = it.words.clone();
            w.push(it.body.iter().map(|(_, t)| t.as_str()).collect());
            w
        } else {
            it.words.clone()
        };
        let Some(branch) = args::parse(d, line, cmd, &words) else {
            continue;
        };
        if !cmd.multiple {
            if let Some(first) = seen.get(cmd.id) {
                let message = format!(
                    "command \"{}\" was already specified (line {first})",
                    cmd.id
                );
                if cmd.dup_error {
                    d.error(line, "command-duplicate", format!("{message}: keep one"));
                } else {
                    d.warn(
                        line,
                        "command-duplicate",
                        format!("{message}. Using the latest value: remove one of them"),
                    );
                }
            } else {
                seen.insert(cmd.id, line);
            }
        }
        match cmd.id {
            "install" | "installorupgrade" | "upgrade" => {
                commands::install(d, line, cmd.id, &branch)
            }
            "clearpart" => commands::clearpart(d, line, &branch),
            "keyboard" => commands::keyboard(d, line, &branch),
            "network" => commands::network(d, line, &branch),
            "part" => commands::part(d, line, &branch, &mut state),
            "rootpw" => commands::rootpw(d, line, &branch, &it.words),
            "%pre" | "%post" | "%firstboot" => scripts::check(d, line, cmd.id, &branch, &it.body),
            "dryrun" => d.advice(
                line,
                "dryrun",
                "`dryrun` only checks the kickstart and installs nothing: remove it for a real \
                 install"
                    .to_string(),
            ),
            _ => {}
        }
    }
}

/// The options of an install command, without reporting anything.
fn args_quiet(it: &Item) -> Option<args::Branch> {
    args::parse(&mut Diags::default(), it.line, it.cmd, &it.words)
}

fn is_install(id: &str) -> bool {
    matches!(id, "install" | "installorupgrade" | "upgrade")
}

/// The checks over the whole file: `postValidate` and the command-level
/// `validate` (required commands, `requires`), and `paranoid`.
fn check_file(d: &mut Diags, items: &[Item], swallowed: &[(usize, String, usize, &str)]) {
    let has = |id: &str| {
        items
            .iter()
            .any(|it| it.cmd.id == id && it.cmd.detail == Detail::Supported)
    };
    let include = has("include");
    let upgrade = has("upgrade");
    let installs: Vec<&str> = ["install", "upgrade", "installorupgrade"]
        .into_iter()
        .filter(|id| has(id))
        .collect();
    // installorupgrade installs or upgrades as the disk it finds decides,
    // so what only an install requires is then advice.
    let either = installs == ["installorupgrade"];
    let missing = |d: &mut Diags, names: &[&str], code: &'static str, message: &str| {
        let mut message = message.to_string();
        if let Some((no, word, start, section)) = swallowed
            .iter()
            .find(|(_, w, _, _)| names.contains(&w.as_str()))
        {
            message.push_str(&format!(
                " (the `{word}` on line {no} is inside the {section} script that starts on \
                 line {start}, so the installer does not see it: move it above line {start})"
            ));
        }
        if include {
            message.push_str("; unless an included file provides it");
            d.advice(0, code, message);
        } else if either {
            message.push_str(
                "; the installer requires it when installorupgrade installs, not when it \
                 upgrades a disk that holds ESXi",
            );
            d.advice(0, code, message);
        } else {
            d.error(0, code, message);
        }
    };
    // postValidate: only an upgrade goes without the EULA.
    if !has("vmaccepteula") && !upgrade {
        missing(
            d,
            &["vmaccepteula", "accepteula"],
            "missing-vmaccepteula",
            "vmaccepteula command was not specified: add a line `vmaccepteula`",
        );
    }
    // applychoices.doit stops when neither install nor upgrade was chosen
    // (dryrun never gets there).
    if installs.is_empty() && !has("dryrun") {
        missing(
            d,
            &["install", "upgrade", "installorupgrade"],
            "missing-install",
            "no install, upgrade or installorupgrade: the installer reads the file, then stops \
             with \"Install method not set.\"; add a line such as `install --firstdisk \
             --overwritevmfs`",
        );
    } else if installs.len() > 1 {
        d.error(
            0,
            "install-conflict",
            format!(
                "More than one of 'install', 'upgrade', or 'installorupgrade' was specified \
                 ({}). There can be only one: keep one",
                installs.join(", ")
            ),
        );
    }
    if !has("rootpw") && !upgrade {
        missing(
            d,
            &["rootpw"],
            "missing-rootpw",
            "command \"rootpw\" required but not found: add a line `rootpw --iscrypted HASH` \
             (make HASH with `openssl passwd -6`)",
        );
    }
    if !has("network") && !upgrade && !include {
        let message = "network command not specified. Defaulting to DHCP: add `network \
                       --bootproto=dhcp` to say so, or configure a static address";
        if either {
            d.advice(
                0,
                "missing-network",
                format!(
                    "{message}; the installer warns so when installorupgrade installs, not \
                     when it upgrades"
                ),
            );
        } else {
            d.warn(0, "missing-network", message.to_string());
        }
    }
    if !has("install") {
        for it in items
            .iter()
            .filter(|it| grammar::NEEDS_INSTALL.contains(&it.cmd.id))
        {
            d.error(
                it.line,
                "requires-install",
                format!(
                    "command \"{}\" requires command: \"install\" (installorupgrade and upgrade \
                     do not count): remove it, or use install",
                    it.cmd.name
                ),
            );
        }
    }
    if let Some(p) = items.iter().find(|it| it.cmd.id == "paranoid") {
        let warnings = d
            .list
            .iter()
            .filter(|x| x.severity == Severity::Warning && !x.advice)
            .count();
        if warnings > 0 {
            d.error(
                p.line,
                "paranoid",
                format!(
                    "got warnings during paranoid mode: with `paranoid` each of the {warnings} \
                     installer warning(s) listed stops the install; fix them, or remove \
                     `paranoid`"
                ),
            );
        }
    }
}

fn unknown_command(name: &str) -> String {
    let supported = grammar::COMMANDS
        .iter()
        .filter(|c| c.detail == Detail::Supported)
        .map(|c| c.name);
    let lower = name.to_ascii_lowercase();
    if lower != name && grammar::find(&lower).is_some() {
        return format!(
            "unknown command \"{}\": commands are lowercase; write `{lower}`",
            name.escape_debug()
        );
    }
    let best = supported
        .filter(|_| name.chars().count() <= 32)
        .map(|known| (edit_distance(name, known), known))
        .filter(|(dist, _)| *dist <= 2)
        .min();
    match best {
        Some((_, known)) => format!(
            "unknown command \"{}\": the installer ignores it; did you mean `{known}`?",
            name.escape_debug()
        ),
        None => format!(
            "unknown command \"{}\": the installer ignores it; remove it or fix its spelling{}",
            name.escape_debug(),
            if name == "%end" {
                " (%end is not an ESXi kickstart keyword)"
            } else {
                ""
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_and_has_errors() {
        let diags =
            lint("vmaccepteula\ninstall --firstdisk\nrootpw VMware1!\nnetwork --bootproto=dhcp\n");
        let rendered: Vec<String> = diags.iter().map(|d| d.render("ks.cfg")).collect();
        assert_eq!(rendered.len(), 1);
        assert!(rendered[0]
            .starts_with("ks.cfg:2: warning (esxi-iso advice): install without --overwritevmfs"));
        assert!(!has_errors(&diags));
        let diags = lint("");
        assert_eq!(
            diags[0].render("ks.cfg"),
            "ks.cfg: error: vmaccepteula command was not specified: add a line `vmaccepteula`"
        );
        assert!(has_errors(&diags));
        assert!(Severity::Error > Severity::Warning);
    }

    #[test]
    fn passwords_never_echoed() {
        for ks in [
            "rootpw Sekrit1!x extra\n",
            "rootpw Sekrit1!x --iscrypted\n",
            "rootpw --iscrypted Sekrit1!x\n",
            "rootpw Sekrit1!x Sekrit1!x\n",
        ] {
            for d in lint(ks) {
                assert!(!d.message.contains("Sekrit"), "{ks}: {}", d.message);
            }
        }
    }

    #[test]
    fn advice_is_never_an_error() {
        let ks = "vmaccepteula\ninstall --firstdisk\ndryrun\nrootpw --iscrypted $1$abcdefgh$Zac.c5m8ZEmo20GRVX6do\n%firstboot\necho\n%end\n";
        let diags = lint(ks);
        assert!(diags.iter().any(|d| d.advice));
        assert!(diags
            .iter()
            .all(|d| !d.advice || d.severity == Severity::Warning));
    }

    #[test]
    fn never_panics() {
        // A small deterministic generator: no dependency, same bytes every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: &[u8] = b"-=\"'\\#% \t\r\n$./:,aZ09";
        let words = [
            "network ",
            "--bootproto=",
            "static ",
            "--ip=",
            "10.0.0.1 ",
            "rootpw ",
            "--iscrypted ",
            "$6$",
            "%pre\n",
            "%end\n",
            "part ",
            "--ondisk=",
            "install ",
            "upgrade ",
            "include ",
            "keyboard ",
            "--netmask=",
            "24 ",
            "::1 ",
            "paranoid\n",
        ];
        for round in 0..600 {
            let len = (next() % 300) as usize;
            let text: String = match round % 3 {
                0 => String::from_utf8_lossy(&(0..len).map(|_| next() as u8).collect::<Vec<_>>())
                    .into_owned(),
                1 => (0..len)
                    .map(|_| alphabet[(next() as usize) % alphabet.len()] as char)
                    .collect(),
                _ => (0..len / 8)
                    .map(|_| words[(next() as usize) % words.len()])
                    .collect(),
            };
            let diags = lint(&text);
            assert!(diags.windows(2).all(|w| w[0].line <= w[1].line));
        }
        let long = "x".repeat(1 << 20);
        for text in [
            format!("rootpw {long}"),
            format!("network --bootproto=static --ip={long} --vlanid={long} --nameserver={long}"),
            format!("rootpw --iscrypted $6${long}"),
            format!("\"{long}"),
            "--".repeat(1 << 16),
            "\n".repeat(1 << 16),
            "reboot\n".repeat(5000),
            "%pre\n".repeat(5000),
            "\\".to_string(),
            "network --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.255".to_string(),
            "network --bootproto=static --ip=2001:db8::5".to_string(),
        ] {
            lint(&text);
        }
    }
}
