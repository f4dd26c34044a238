//! Kickstart linter: finds, before an ISO is built, the mistakes that make the
//! ESXi installer stop, warn, or silently do something other than intended.
//!
//! It models the installer's parser as described in
//! `shared/reference/esxi-facts.md` ("How the installer treats a kickstart"):
//! one command per line, `#` comment lines, `--name=value` / `--name value` /
//! `--flag` options, double-quoted values, and `%pre` / `%post` / `%firstboot`
//! scripts that run to the next `%` line or the end of the file.
//!
//! Deliberately out of scope: running or checking the scripts themselves,
//! following `%include`, unknown options of known commands, and anything that
//! depends on the target host (which disk holds VMFS, whether Secure Boot is
//! on). Pure functions over a string: no I/O, and no panics on any input.
//!
//! Messages never echo a plain root password: diagnostics end up in logs.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// 1-based; 0 means the whole file.
    pub line: usize,
    pub message: String,
}

impl Diagnostic {
    /// `file:LINE: error: MESSAGE`; a whole-file diagnostic (line 0) renders
    /// as `file: error: MESSAGE`, as compilers do, rather than a fake line 0.
    pub fn render(&self, file: &str) -> String {
        if self.line == 0 {
            format!("{file}: {}: {}", self.severity.label(), self.message)
        } else {
            format!(
                "{file}:{}: {}: {}",
                self.line,
                self.severity.label(),
                self.message
            )
        }
    }
}

pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(|d| d.severity == Severity::Error)
}

/// The installer refuses a kickstart with more commands than this.
const MAX_COMMANDS: usize = 256;

const KNOWN_COMMANDS: &[&str] = &[
    "accepteula",
    "vmaccepteula",
    "clearpart",
    "dryrun",
    "include",
    "install",
    "installorupgrade",
    "upgrade",
    "keyboard",
    "serialnum",
    "vmserialnum",
    "network",
    "paranoid",
    "part",
    "partition",
    "reboot",
    "rootpw",
];

const INSTALL_COMMANDS: &[&str] = &["install", "upgrade", "installorupgrade"];

/// Commands that may legitimately appear more than once.
const REPEATABLE: &[&str] = &["part", "include"];

/// Options that never take a value in the space form (`--flag next` leaves
/// `next` alone). `--firstdisk` takes an optional list only as `--firstdisk=`.
const FLAGS: &[&str] = &[
    "alldrives",
    "deletecosvmdk",
    "firstdisk",
    "forcemigrate",
    "forceunsupportedinstall",
    "ignoreprereqerrors",
    "ignoreprereqwarnings",
    "ignoressd",
    "iscrypted",
    "noeject",
    "novmfsondisk",
    "overwritevmfs",
    "overwritevsan",
    "preservevmfs",
];

const SECTIONS: &[&str] = &["%pre", "%post", "%firstboot"];

/// Aliases the installer treats as the same command.
fn canonical(name: &str) -> &str {
    match name {
        "accepteula" => "vmaccepteula",
        "serialnum" => "vmserialnum",
        "partition" => "part",
        "%include" => "include",
        other => other,
    }
}

struct Opt {
    name: String,
    value: Option<String>,
}

struct Command {
    line: usize,
    name: String,
    opts: Vec<Opt>,
    args: Vec<String>,
}

/// An option as the checks see it: missing, given without a value (or with an
/// empty one), or given with a value. The last occurrence wins.
enum Val<'a> {
    Absent,
    Empty,
    Given(&'a str),
}

impl Command {
    fn from_tokens(line: usize, tokens: Vec<String>) -> Option<Command> {
        let mut iter = tokens.into_iter().peekable();
        let name = iter.next()?;
        let mut opts = Vec::new();
        let mut args = Vec::new();
        while let Some(tok) = iter.next() {
            let Some(rest) = tok.strip_prefix("--") else {
                args.push(tok);
                continue;
            };
            if let Some((n, v)) = rest.split_once('=') {
                opts.push(Opt {
                    name: n.to_string(),
                    value: Some(v.to_string()),
                });
                continue;
            }
            let takes_next =
                !FLAGS.contains(&rest) && iter.peek().is_some_and(|next| !next.starts_with("--"));
            let value = if takes_next { iter.next() } else { None };
            opts.push(Opt {
                name: rest.to_string(),
                value,
            });
        }
        Some(Command {
            line,
            name,
            opts,
            args,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.opts.iter().any(|o| o.name == name)
    }

    fn val(&self, name: &str) -> Val<'_> {
        match self.opts.iter().rev().find(|o| o.name == name) {
            None => Val::Absent,
            Some(Opt { value: None, .. }) => Val::Empty,
            Some(Opt { value: Some(v), .. }) if v.trim().is_empty() => Val::Empty,
            Some(Opt { value: Some(v), .. }) => Val::Given(v.trim()),
        }
    }
}

/// A line inside a script, remembered so that a "missing command" error can
/// point at a command that was swallowed by a script.
struct ScriptLine {
    line: usize,
    word: String,
    section: String,
    start: usize,
}

#[derive(Default)]
struct Diags(Vec<Diagnostic>);

impl Diags {
    fn push(&mut self, severity: Severity, line: usize, message: String) {
        self.0.push(Diagnostic {
            severity,
            line,
            message,
        });
    }
    fn error(&mut self, line: usize, message: String) {
        self.push(Severity::Error, line, message);
    }
    fn warn(&mut self, line: usize, message: String) {
        self.push(Severity::Warning, line, message);
    }
}

/// Splits a line into words on ASCII whitespace; double quotes group words
/// and are removed. Returns whether a quote was left open.
fn tokenize(line: &str) -> (Vec<String>, bool) {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut quoted = false;
    for c in line.chars() {
        if quoted {
            if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            quoted = true;
            in_token = true;
        } else if c.is_ascii_whitespace() {
            if in_token {
                tokens.push(std::mem::take(&mut cur));
                in_token = false;
            }
        } else {
            cur.push(c);
            in_token = true;
        }
    }
    if in_token {
        tokens.push(cur);
    }
    (tokens, quoted)
}

pub fn lint(text: &str) -> Vec<Diagnostic> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut d = Diags::default();
    let mut commands = Vec::new();
    let mut script_lines = Vec::new();
    let mut section: Option<(String, usize)> = None;

    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        check_ascii(&mut d, line_no, line);
        let trimmed = line.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (tokens, unterminated) = if trimmed.starts_with('%') || section.is_none() {
            tokenize(trimmed)
        } else {
            (Vec::new(), false)
        };
        if trimmed.starts_with('%') {
            let word = tokens.first().map(String::as_str).unwrap_or("%");
            if SECTIONS.contains(&word) {
                check_section(&mut d, line_no, &tokens);
                section = Some((word.to_string(), line_no));
                continue;
            }
            section = None;
            if word != "%include" {
                d.warn(
                    line_no,
                    format!(
                        "unknown section `{word}`: the installer knows only %pre, %post and \
                         %firstboot; remove the line"
                    ),
                );
                continue;
            }
        }
        if let Some((name, start)) = &section {
            let word = trimmed
                .split(|c: char| c.is_ascii_whitespace())
                .next()
                .unwrap_or("");
            script_lines.push(ScriptLine {
                line: line_no,
                word: word.to_string(),
                section: name.clone(),
                start: *start,
            });
            continue;
        }
        if unterminated {
            d.error(
                line_no,
                "unterminated quote: add the closing `\"`".to_string(),
            );
        }
        commands.extend(Command::from_tokens(line_no, tokens));
    }

    check_commands(&mut d, &commands, &script_lines);

    let mut diags = d.0;
    diags.sort_by_key(|diag| diag.line);
    diags
}

fn check_ascii(d: &mut Diags, line_no: usize, line: &str) {
    if let Some(c) = line.chars().find(|c| !c.is_ascii()) {
        let shown = if c.is_alphanumeric() {
            format!(" ('{c}')")
        } else {
            String::new()
        };
        d.warn(
            line_no,
            format!(
                "non-ASCII character U+{:04X}{shown}: the installer warns about non-ASCII \
                 text; replace it with plain ASCII",
                u32::from(c)
            ),
        );
    }
}

fn check_section(d: &mut Diags, line_no: usize, tokens: &[String]) {
    let Some(cmd) = Command::from_tokens(line_no, tokens.to_vec()) else {
        return;
    };
    let bad = match cmd.val("interpreter") {
        Val::Absent => return,
        Val::Given(v) if v == "busybox" || v == "python" => return,
        Val::Given(v) => format!("--interpreter={v} is not supported"),
        Val::Empty => "--interpreter has no value".to_string(),
    };
    d.error(
        line_no,
        format!(
            "{} {bad}: use --interpreter=busybox or --interpreter=python",
            cmd.name
        ),
    );
}

fn check_commands(d: &mut Diags, commands: &[Command], script_lines: &[ScriptLine]) {
    let mut first_seen: HashMap<&str, &Command> = HashMap::new();
    let mut first_install: Option<&Command> = None;

    for (index, cmd) in commands.iter().enumerate() {
        if index == MAX_COMMANDS {
            d.error(
                cmd.line,
                format!(
                    "more than {MAX_COMMANDS} commands: the installer refuses the kickstart; \
                     remove commands or move settings into a %firstboot script"
                ),
            );
        }
        let name = cmd.name.as_str();
        let canon = canonical(name);
        if !KNOWN_COMMANDS.contains(&canon) {
            d.warn(cmd.line, unknown_command(name));
            continue;
        }

        if INSTALL_COMMANDS.contains(&canon) {
            match first_install {
                Some(first) if first.name != cmd.name => d.error(
                    cmd.line,
                    format!(
                        "`{name}` conflicts with `{}` on line {}: keep only one of install, \
                         upgrade and installorupgrade",
                        first.name, first.line
                    ),
                ),
                Some(_) => {}
                None => first_install = Some(cmd),
            }
        }
        if !REPEATABLE.contains(&canon) {
            match first_seen.get(canon) {
                Some(first) if first.name == cmd.name => d.warn(
                    cmd.line,
                    format!(
                        "duplicate `{name}` (also on line {}): the installer uses only the \
                         last one; remove one of them",
                        first.line
                    ),
                ),
                // A repeat across the install family is the conflict above.
                Some(_) if INSTALL_COMMANDS.contains(&canon) => {}
                Some(first) => d.warn(
                    cmd.line,
                    format!(
                        "duplicate `{name}` (same as `{}` on line {}): the installer uses \
                         only the last one; remove one of them",
                        first.name, first.line
                    ),
                ),
                None => {
                    first_seen.insert(canon, cmd);
                }
            }
        }

        match canon {
            "install" | "installorupgrade" | "upgrade" => check_install(d, cmd),
            "rootpw" => check_rootpw(d, cmd),
            "network" => check_network(d, cmd),
            "paranoid" => d.warn(
                cmd.line,
                "`paranoid` makes every installer warning fatal at install time, so each \
                 warning listed here will stop the install: fix them, or remove `paranoid`"
                    .to_string(),
            ),
            "dryrun" => d.warn(
                cmd.line,
                "`dryrun` only checks the kickstart and installs nothing: remove it for a \
                 real install"
                    .to_string(),
            ),
            _ => {}
        }
    }

    let has = |names: &[&str]| commands.iter().any(|c| names.contains(&c.name.as_str()));
    let include = has(&["include", "%include"]);
    let mut missing = |names: &[&str], message: &str| {
        if has(names) {
            return;
        }
        let mut message = message.to_string();
        if let Some(s) = script_lines
            .iter()
            .find(|s| names.contains(&s.word.as_str()))
        {
            let _ = write!(
                message,
                " (the `{}` on line {} is inside the {} script that starts on line {}, so \
                 the installer does not see it: move it above line {})",
                s.word, s.line, s.section, s.start, s.start
            );
        }
        if include {
            message.push_str(" (unless an included file provides it)");
            d.warn(0, message);
        } else {
            d.error(0, message);
        }
    };
    missing(
        &["vmaccepteula", "accepteula"],
        "no vmaccepteula: add a line `vmaccepteula`",
    );
    missing(
        INSTALL_COMMANDS,
        "no install, upgrade or installorupgrade: add a line such as \
         `install --firstdisk --overwritevmfs`",
    );
    missing(
        &["rootpw"],
        "no rootpw: add a line `rootpw --iscrypted HASH` (make HASH with \
         `openssl passwd -6`)",
    );
    if !include && !has(&["network"]) {
        d.warn(
            0,
            "no network command: the installer warns and uses DHCP; add \
             `network --bootproto=dhcp` to say so, or configure a static address"
                .to_string(),
        );
    }
}

fn unknown_command(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    if KNOWN_COMMANDS.contains(&lower.as_str()) {
        return format!("unknown command `{name}`: commands are lowercase; write `{lower}`");
    }
    let best = KNOWN_COMMANDS
        .iter()
        .filter(|_| name.chars().count() <= 32)
        .map(|known| (edit_distance(name, known), *known))
        .filter(|(dist, _)| *dist <= 2)
        .min();
    match best {
        Some((_, known)) => {
            format!("unknown command `{name}`: the installer ignores it; did you mean `{known}`?")
        }
        None => format!(
            "unknown command `{name}`: the installer ignores it; remove it or fix its spelling"
        ),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn check_install(d: &mut Diags, cmd: &Command) {
    let name = &cmd.name;
    let mut empty_target = false;
    for opt in ["disk", "drive"] {
        if matches!(cmd.val(opt), Val::Empty) {
            empty_target = true;
            d.error(
                cmd.line,
                format!(
                    "`{name} --{opt}` has no value: write --{opt}=DISK \
                     (e.g. --{opt}=mpx.vmhba0:C0:T0:L0), or use --firstdisk"
                ),
            );
        }
    }
    let has_target = cmd.has("firstdisk")
        || matches!(cmd.val("disk"), Val::Given(_))
        || matches!(cmd.val("drive"), Val::Given(_));
    if !has_target && !empty_target {
        d.error(
            cmd.line,
            format!("{name} without a target disk: add --firstdisk, --disk=DISK or --drive=DISK"),
        );
    }
    if name != "upgrade"
        && !["overwritevmfs", "preservevmfs", "novmfsondisk"]
            .iter()
            .any(|o| cmd.has(o))
    {
        d.warn(
            cmd.line,
            format!(
                "{name} without --overwritevmfs, --preservevmfs or --novmfsondisk: it fails \
                 on a disk that already holds VMFS; add --overwritevmfs (or --preservevmfs \
                 to keep the datastore)"
            ),
        );
    }
}

fn check_rootpw(d: &mut Diags, cmd: &Command) {
    let secret = match cmd.args.as_slice() {
        [] => {
            d.error(
                cmd.line,
                "rootpw has no password: write `rootpw PASSWORD` or \
                 `rootpw --iscrypted HASH`"
                    .to_string(),
            );
            return;
        }
        [one] => one,
        _ => {
            d.error(
                cmd.line,
                "rootpw has more than one password word: quote a password that contains \
                 spaces, e.g. `rootpw \"two words\"`"
                    .to_string(),
            );
            return;
        }
    };
    let problem = if cmd.has("iscrypted") {
        crypt_problem(secret)
    } else {
        plain_password_problem(secret)
    };
    if let Some(message) = problem {
        d.error(cmd.line, message);
    }
}

fn is_crypt_char(c: char) -> bool {
    c == '.' || c == '/' || c.is_ascii_alphanumeric()
}

/// Checks the hash formats the installer accepts. `$1$` and `$6$` hashes are
/// checked in full: a hash cut short or mangled by shell expansion would be
/// accepted and then lock root out.
fn crypt_problem(hash: &str) -> Option<String> {
    if hash.len() == 13 && hash.chars().all(is_crypt_char) {
        return None;
    }
    let (rest, kind, max_salt, hash_len, rounds) = if let Some(rest) = hash.strip_prefix("$6$") {
        (rest, "$6$ but is not a complete SHA-512", 16, 86, true)
    } else if let Some(rest) = hash.strip_prefix("$1$") {
        (rest, "$1$ but is not a complete MD5", 8, 22, false)
    } else {
        return Some(
            "rootpw --iscrypted value is not an MD5 ($1$), SHA-512 ($6$) or DES crypt hash, \
             the only kinds ESXi accepts: make one with `openssl passwd -6`"
                .to_string(),
        );
    };
    let rest = match rest.strip_prefix("rounds=") {
        Some(r) if rounds => match r.split_once('$') {
            Some((n, after)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => after,
            _ => "",
        },
        _ => rest,
    };
    let ok = match rest.split_once('$') {
        Some((salt, digest)) => {
            salt.chars().count() <= max_salt
                && !salt.contains(':')
                && digest.len() == hash_len
                && digest.chars().all(is_crypt_char)
        }
        None => false,
    };
    if ok {
        return None;
    }
    Some(format!(
        "rootpw --iscrypted value starts with {kind} crypt hash ($SALT$ then {hash_len} \
         characters); was it cut short or expanded by a shell? make a new one with \
         `openssl passwd {}`",
        if rounds { "-6" } else { "-1" }
    ))
}

/// ESXi's default pam_passwdqc policy: 7 to 40 printable ASCII characters
/// from at least three classes, where a leading capital and a trailing digit
/// don't count toward their class.
fn plain_password_problem(pw: &str) -> Option<String> {
    if !pw.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Some(
            "rootpw password contains a character that is not printable ASCII: use only \
             printable ASCII characters"
                .to_string(),
        );
    }
    let len = pw.len();
    if !(7..=40).contains(&len) {
        return Some(format!(
            "rootpw password is {len} characters long: use 7 to 40 characters"
        ));
    }
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for (i, c) in pw.chars().enumerate() {
        if c.is_ascii_lowercase() {
            lower = true;
        } else if c.is_ascii_uppercase() {
            upper |= i != 0;
        } else if c.is_ascii_digit() {
            digit |= i + 1 != len;
        } else {
            other = true;
        }
    }
    let classes: Vec<&str> = [
        (lower, "lowercase"),
        (upper, "uppercase"),
        (digit, "digits"),
        (other, "other characters"),
    ]
    .into_iter()
    .filter_map(|(has, name)| has.then_some(name))
    .collect();
    if classes.len() >= 3 {
        return None;
    }
    Some(format!(
        "rootpw password is too weak for ESXi, which needs three of lowercase, uppercase, \
         digits and other characters (a leading capital and a trailing digit don't count); \
         it has only {}: add characters of the missing classes",
        if classes.is_empty() {
            "none".to_string()
        } else {
            classes.join(", ")
        }
    ))
}

fn check_network(d: &mut Diags, cmd: &Command) {
    let line = cmd.line;
    for opt in [
        "bootproto",
        "device",
        "ip",
        "netmask",
        "gateway",
        "nameserver",
        "hostname",
        "vlanid",
    ] {
        if matches!(cmd.val(opt), Val::Empty) {
            d.error(
                line,
                format!("`network --{opt}` has no value: write --{opt}=VALUE, or remove it"),
            );
        }
    }

    let static_opts: Vec<&str> = ["ip", "netmask", "gateway"]
        .into_iter()
        .filter(|o| cmd.has(o))
        .collect();
    let listed = static_opts
        .iter()
        .map(|o| format!("--{o}"))
        .collect::<Vec<_>>()
        .join(", ");
    match cmd.val("bootproto") {
        Val::Given(v) if v.eq_ignore_ascii_case("static") => {
            for (opt, example) in [("ip", "ADDRESS"), ("netmask", "255.255.255.0")] {
                if !cmd.has(opt) {
                    d.error(
                        line,
                        format!(
                            "network --bootproto=static without --{opt}: add --{opt}={example}"
                        ),
                    );
                }
            }
            if !cmd.has("hostname") {
                d.warn(
                    line,
                    "network --bootproto=static without --hostname: the host will be named \
                     localhost; add --hostname=FQDN"
                        .to_string(),
                );
            }
        }
        Val::Given(v) if v.eq_ignore_ascii_case("dhcp") => {
            if !static_opts.is_empty() {
                d.error(
                    line,
                    format!(
                        "network --bootproto=dhcp cannot be combined with {listed}: remove \
                         them, or use --bootproto=static"
                    ),
                );
            }
        }
        Val::Given(v) => d.error(
            line,
            format!(
                "network --bootproto={v} is not valid: use --bootproto=dhcp or --bootproto=static"
            ),
        ),
        Val::Absent => {
            if !static_opts.is_empty() {
                d.error(
                    line,
                    format!(
                        "network {listed} without --bootproto=static: the default is DHCP, \
                         which cannot be combined with them; add --bootproto=static"
                    ),
                );
            }
        }
        Val::Empty => {}
    }

    for opt in ["ip", "gateway"] {
        if let Val::Given(v) = cmd.val(opt) {
            if v.parse::<Ipv4Addr>().is_err() {
                d.error(
                    line,
                    format!(
                        "network --{opt}={v} is not a valid IPv4 address: write four numbers \
                         0-255 separated by dots, e.g. 192.168.1.10"
                    ),
                );
            }
        }
    }
    if let Val::Given(v) = cmd.val("netmask") {
        if !is_netmask(v) {
            d.error(
                line,
                format!(
                    "network --netmask={v} is not a valid netmask: use a contiguous mask \
                     such as 255.255.255.0"
                ),
            );
        }
    }
    if let Val::Given(v) = cmd.val("nameserver") {
        for item in v.split(',').map(str::trim) {
            let what = if item.is_empty() {
                "an empty entry".to_string()
            } else if item.parse::<Ipv4Addr>().is_err() {
                format!("`{item}`, which is not a valid IPv4 address")
            } else {
                continue;
            };
            d.error(
                line,
                format!(
                    "network --nameserver has {what}: list addresses such as 192.168.1.1, \
                     separated by commas"
                ),
            );
        }
    }
    if let Val::Given(v) = cmd.val("vlanid") {
        let problem = if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            Some("is not a number")
        } else if v.parse::<u16>().map_or(true, |n| n > 4095) {
            Some("is out of range")
        } else {
            None
        };
        if let Some(problem) = problem {
            d.error(
                line,
                format!("network --vlanid={v} {problem}: use a VLAN id from 0 to 4095"),
            );
        }
    }
}

/// A netmask is a run of one bits followed by zero bits; 0.0.0.0 is rejected
/// because a host cannot live in a /0 network.
fn is_netmask(s: &str) -> bool {
    match s.parse::<Ipv4Addr>() {
        Ok(addr) => {
            let mask = u32::from(addr);
            let host = !mask;
            mask != 0 && host & host.wrapping_add(1) == 0
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Severity::{Error as E, Warning as W};

    type Want<'a> = &'a [(Severity, usize, &'a str)];

    /// Lines 1-3: everything required except network.
    macro_rules! base {
        () => {
            "vmaccepteula\n\
             install --firstdisk --overwritevmfs\n\
             rootpw --iscrypted $6$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0\n"
        };
    }
    /// Lines 1-4: a clean kickstart; the line under test is line 5.
    macro_rules! full {
        () => {
            concat!(base!(), "network --bootproto=dhcp\n")
        };
    }

    const LAB: &str = "\
# Nested lab host
vmaccepteula
install --firstdisk --overwritevmfs --novmfsondisk
rootpw --iscrypted $6$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0
network --bootproto=static --ip=192.168.10.11 --netmask=255.255.255.0 --gateway=192.168.10.1 --hostname=esx01.lab.local --nameserver=192.168.10.1 --vlanid=0
reboot

%firstboot --interpreter=busybox
vim-cmd hostsvc/enable_ssh
vim-cmd hostsvc/start_ssh
vim-cmd hostsvc/enable_esx_shell
vim-cmd hostsvc/start_esx_shell
esxcli system settings advanced set -o /UserVars/SuppressShellWarning -i 1
esxcli system settings advanced set -o /Net/FollowHardwareMac -i 1
esxcli system ntp set --server=pool.ntp.org --enabled=true
";

    fn check(cases: &[(&str, Want)]) {
        let mut failures = String::new();
        for (ks, want) in cases {
            let got = lint(ks);
            let want: Vec<Diagnostic> = want
                .iter()
                .map(|&(severity, line, message)| Diagnostic {
                    severity,
                    line,
                    message: message.to_string(),
                })
                .collect();
            if got != want {
                let _ = writeln!(
                    failures,
                    "--- kickstart:\n{ks}\n--- got:\n{got:#?}\n--- want:\n{want:#?}\n"
                );
            }
        }
        assert!(failures.is_empty(), "{failures}");
    }

    #[test]
    fn clean_kickstarts() {
        check(&[
            (LAB, &[]),
            (full!(), &[]),
            // BOM, CRLF, tabs, trailing whitespace, indentation, comments.
            (
                "\u{feff}# lab\r\n\tvmaccepteula  \r\n\r\ninstall\t--firstdisk\t--overwritevmfs \r\n  rootpw \"VMware1!\"\t\r\nnetwork --bootproto=dhcp\r\n",
                &[],
            ),
            // Space form of options, quoted values, aliases, DES hash.
            (
                "accepteula\ninstallorupgrade --disk \"mpx.vmhba0:C0:T0:L0\" --preservevmfs\nrootpw --iscrypted abJnggxhB/yWI\nnetwork --bootproto static --ip 10.0.0.5 --netmask 255.255.0.0 --gateway 10.0.0.1 --hostname \"esx01\" --nameserver \"10.0.0.2, 10.0.0.3\" --vlanid 4095\nkeyboard \"US Default\"\n",
                &[],
            ),
            (
                "vmaccepteula\nupgrade --drive=mpx.vmhba0:C0:T0:L0\nrootpw --iscrypted $1$abcdefgh$Zac.c5m8ZEmo20GRVX6do/\nnetwork --bootproto=DHCP\npart datastore1 --ondisk=mpx.vmhba1:C0:T0:L0\npartition datastore2 --ondisk=mpx.vmhba2:C0:T0:L0\nclearpart --alldrives --overwritevmfs\nserialnum --esx=XXXXX-XXXXX-XXXXX-XXXXX-XXXXX\n",
                &[],
            ),
            // Lines inside scripts are not commands.
            (
                concat!(full!(), "%pre --interpreter=python --ignorefailure=true\nimport os\nfoo --bootproto=dhcp --ip=1.2.3.4\n%post\nrootpw\n"),
                &[],
            ),
        ]);
    }

    #[test]
    fn required_commands() {
        check(&[
            (
                "",
                &[
                    (E, 0, "no vmaccepteula: add a line `vmaccepteula`"),
                    (E, 0, "no install, upgrade or installorupgrade: add a line such as `install --firstdisk --overwritevmfs`"),
                    (E, 0, "no rootpw: add a line `rootpw --iscrypted HASH` (make HASH with `openssl passwd -6`)"),
                    (W, 0, "no network command: the installer warns and uses DHCP; add `network --bootproto=dhcp` to say so, or configure a static address"),
                ],
            ),
            (
                "install --firstdisk --overwritevmfs\nrootpw VMware1!\nnetwork\n%firstboot\nvmaccepteula\n",
                &[(E, 0, "no vmaccepteula: add a line `vmaccepteula` (the `vmaccepteula` on line 5 is inside the %firstboot script that starts on line 4, so the installer does not see it: move it above line 4)")],
            ),
            (
                "%include /tmp/ks-generated.cfg\n",
                &[
                    (W, 0, "no vmaccepteula: add a line `vmaccepteula` (unless an included file provides it)"),
                    (W, 0, "no install, upgrade or installorupgrade: add a line such as `install --firstdisk --overwritevmfs` (unless an included file provides it)"),
                    (W, 0, "no rootpw: add a line `rootpw --iscrypted HASH` (make HASH with `openssl passwd -6`) (unless an included file provides it)"),
                ],
            ),
            (concat!(full!(), "%pre\necho > /tmp/net\n%include /tmp/net\ninclude /tmp/more\n"), &[]),
        ]);
    }

    #[test]
    fn install_rules() {
        check(&[
            (
                concat!(full!(), "upgrade --firstdisk\ninstallorupgrade --firstdisk --overwritevmfs\n"),
                &[
                    (E, 5, "`upgrade` conflicts with `install` on line 2: keep only one of install, upgrade and installorupgrade"),
                    (E, 6, "`installorupgrade` conflicts with `install` on line 2: keep only one of install, upgrade and installorupgrade"),
                ],
            ),
            (
                concat!(full!(), "install --firstdisk --overwritevmfs\n"),
                &[(W, 5, "duplicate `install` (also on line 2): the installer uses only the last one; remove one of them")],
            ),
            (
                "vmaccepteula\ninstall --overwritevmfs\nrootpw VMware1!\nnetwork\n",
                &[(E, 2, "install without a target disk: add --firstdisk, --disk=DISK or --drive=DISK")],
            ),
            (
                "vmaccepteula\nupgrade\nrootpw VMware1!\nnetwork\n",
                &[(E, 2, "upgrade without a target disk: add --firstdisk, --disk=DISK or --drive=DISK")],
            ),
            (
                "vmaccepteula\ninstall --disk= --overwritevmfs\nrootpw VMware1!\nnetwork\n",
                &[(E, 2, "`install --disk` has no value: write --disk=DISK (e.g. --disk=mpx.vmhba0:C0:T0:L0), or use --firstdisk")],
            ),
            (
                "vmaccepteula\ninstall --overwritevmfs --drive\nrootpw VMware1!\nnetwork\n",
                &[(E, 2, "`install --drive` has no value: write --drive=DISK (e.g. --drive=mpx.vmhba0:C0:T0:L0), or use --firstdisk")],
            ),
            (
                "vmaccepteula\ninstall --firstdisk=local\nrootpw VMware1!\nnetwork\n",
                &[(W, 2, "install without --overwritevmfs, --preservevmfs or --novmfsondisk: it fails on a disk that already holds VMFS; add --overwritevmfs (or --preservevmfs to keep the datastore)")],
            ),
            (
                "vmaccepteula\ninstallorupgrade --firstdisk\nrootpw VMware1!\nnetwork\n",
                &[(W, 2, "installorupgrade without --overwritevmfs, --preservevmfs or --novmfsondisk: it fails on a disk that already holds VMFS; add --overwritevmfs (or --preservevmfs to keep the datastore)")],
            ),
            ("vmaccepteula\ninstall --disk=mpx.vmhba0:C0:T0:L0 --novmfsondisk\nrootpw VMware1!\nnetwork\n", &[]),
        ]);
    }

    #[test]
    fn network_rules() {
        check(&[
            (
                concat!(base!(), "network --bootproto=dhcp --ip=10.0.0.5 --gateway=10.0.0.1 --hostname=esx01\n"),
                &[(E, 4, "network --bootproto=dhcp cannot be combined with --ip, --gateway: remove them, or use --bootproto=static")],
            ),
            (
                concat!(base!(), "network --ip=10.0.0.5 --netmask=255.255.255.0\n"),
                &[(E, 4, "network --ip, --netmask without --bootproto=static: the default is DHCP, which cannot be combined with them; add --bootproto=static")],
            ),
            (
                concat!(base!(), "network --bootproto=static --gateway=10.0.0.1\n"),
                &[
                    (E, 4, "network --bootproto=static without --ip: add --ip=ADDRESS"),
                    (E, 4, "network --bootproto=static without --netmask: add --netmask=255.255.255.0"),
                    (W, 4, "network --bootproto=static without --hostname: the host will be named localhost; add --hostname=FQDN"),
                ],
            ),
            (
                concat!(base!(), "network --bootproto=manual\n"),
                &[(E, 4, "network --bootproto=manual is not valid: use --bootproto=dhcp or --bootproto=static")],
            ),
            (
                concat!(base!(), "network --bootproto=static --netmask=255.255.255.0 --hostname=h --ip\n"),
                &[(E, 4, "`network --ip` has no value: write --ip=VALUE, or remove it")],
            ),
            (
                concat!(base!(), "network --bootproto=static --ip=10.0.0.256 --netmask=255.0.255.0 --gateway=gw --hostname=h\n"),
                &[
                    (E, 4, "network --ip=10.0.0.256 is not a valid IPv4 address: write four numbers 0-255 separated by dots, e.g. 192.168.1.10"),
                    (E, 4, "network --gateway=gw is not a valid IPv4 address: write four numbers 0-255 separated by dots, e.g. 192.168.1.10"),
                    (E, 4, "network --netmask=255.0.255.0 is not a valid netmask: use a contiguous mask such as 255.255.255.0"),
                ],
            ),
            (
                concat!(base!(), "network --bootproto=static --ip=10.0.0.5 --netmask=0.0.0.0 --hostname=h\n"),
                &[(E, 4, "network --netmask=0.0.0.0 is not a valid netmask: use a contiguous mask such as 255.255.255.0")],
            ),
            (concat!(base!(), "network --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.255 --hostname=h\n"), &[]),
            (
                concat!(base!(), "network --nameserver=1.1.1.1,foo,,8.8.8.8\n"),
                &[
                    (E, 4, "network --nameserver has `foo`, which is not a valid IPv4 address: list addresses such as 192.168.1.1, separated by commas"),
                    (E, 4, "network --nameserver has an empty entry: list addresses such as 192.168.1.1, separated by commas"),
                ],
            ),
            (
                concat!(base!(), "network --vlanid=4096\n"),
                &[(E, 4, "network --vlanid=4096 is out of range: use a VLAN id from 0 to 4095")],
            ),
            (
                concat!(base!(), "network --vlanid=99999999999999999999999\n"),
                &[(E, 4, "network --vlanid=99999999999999999999999 is out of range: use a VLAN id from 0 to 4095")],
            ),
            (
                concat!(base!(), "network --vlanid=-1\n"),
                &[(E, 4, "network --vlanid=-1 is not a number: use a VLAN id from 0 to 4095")],
            ),
            (
                concat!(base!(), "network --vlanid ten\n"),
                &[(E, 4, "network --vlanid=ten is not a number: use a VLAN id from 0 to 4095")],
            ),
        ]);
    }

    const WEAK: &str = "rootpw password is too weak for ESXi, which needs three of lowercase, uppercase, digits and other characters (a leading capital and a trailing digit don't count); it has only";

    #[test]
    fn rootpw_rules() {
        let weak =
            |classes: &str| format!("{WEAK} {classes}: add characters of the missing classes");
        let (lower, lower_upper, lower_digits) = (
            weak("lowercase"),
            weak("lowercase, uppercase"),
            weak("lowercase, digits"),
        );
        check(&[
            (
                concat!(base!(), "network\nrootpw\n"),
                &[
                    (W, 5, "duplicate `rootpw` (also on line 3): the installer uses only the last one; remove one of them"),
                    (E, 5, "rootpw has no password: write `rootpw PASSWORD` or `rootpw --iscrypted HASH`"),
                ],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw --iscrypted\n",
                &[(E, 4, "rootpw has no password: write `rootpw PASSWORD` or `rootpw --iscrypted HASH`")],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw two words\n",
                &[(E, 4, "rootpw has more than one password word: quote a password that contains spaces, e.g. `rootpw \"two words\"`")],
            ),
            ("vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw VMware1!\n", &[]),
            ("vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw \"my pass 1A\"\n", &[]),
            ("vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw abcDEF1g\n", &[]),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw Password1\n",
                &[(E, 4, &lower)],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw Abcdefg\n",
                &[(E, 4, &lower)],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw abcdEFG\n",
                &[(E, 4, &lower_upper)],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw abc1efg2\n",
                &[(E, 4, &lower_digits)],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw Ab1!\n",
                &[(E, 4, "rootpw password is 4 characters long: use 7 to 40 characters")],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!Aa1!x\n",
                &[(E, 4, "rootpw password is 41 characters long: use 7 to 40 characters")],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw Passwörd1!\n",
                &[
                    (W, 4, "non-ASCII character U+00F6 ('ö'): the installer warns about non-ASCII text; replace it with plain ASCII"),
                    (E, 4, "rootpw password contains a character that is not printable ASCII: use only printable ASCII characters"),
                ],
            ),
            (
                "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw \"Tab\tbed1!\"\n",
                &[(E, 4, "rootpw password contains a character that is not printable ASCII: use only printable ASCII characters")],
            ),
        ]);
    }

    #[test]
    fn rootpw_hashes() {
        const NOT_A_HASH: &str = "rootpw --iscrypted value is not an MD5 ($1$), SHA-512 ($6$) or DES crypt hash, the only kinds ESXi accepts: make one with `openssl passwd -6`";
        const BAD_SHA: &str = "rootpw --iscrypted value starts with $6$ but is not a complete SHA-512 crypt hash ($SALT$ then 86 characters); was it cut short or expanded by a shell? make a new one with `openssl passwd -6`";
        const BAD_MD5: &str = "rootpw --iscrypted value starts with $1$ but is not a complete MD5 crypt hash ($SALT$ then 22 characters); was it cut short or expanded by a shell? make a new one with `openssl passwd -1`";
        let head =
            "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork\nrootpw --iscrypted ";
        let cases: &[(&str, Want)] = &[
            ("$6$rounds=5000$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0", &[]),
            ("$6$$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0", &[]),
            ("$1$abcdefgh$Zac.c5m8ZEmo20GRVX6do/", &[]),
            ("abJnggxhB/yWI", &[]),
            ("$y$j9T$abcdefghijklmnop$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", &[(E, 4, NOT_A_HASH)]),
            ("$5$salt$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", &[(E, 4, NOT_A_HASH)]),
            ("VMware1!", &[(E, 4, NOT_A_HASH)]),
            ("abJnggxhB/yW!", &[(E, 4, NOT_A_HASH)]),
            ("$6$", &[(E, 4, BAD_SHA)]),
            ("$6$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFq", &[(E, 4, BAD_SHA)]),
            ("$6$4kQ9cXbq2Lr8Zt1wTOOLONG$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0", &[(E, 4, BAD_SHA)]),
            ("$6$rounds=$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0", &[(E, 4, BAD_SHA)]),
            ("$1$abcdefgh$Zac.c5m8ZEmo20GRVX6do!", &[(E, 4, BAD_MD5)]),
            ("$1$rounds=5$abcdefgh$Zac.c5m8ZEmo20GRVX6do/", &[(E, 4, BAD_MD5)]),
        ];
        let owned: Vec<(String, Want)> = cases
            .iter()
            .map(|(hash, want)| (format!("{head}{hash}\n"), *want))
            .collect();
        let borrowed: Vec<(&str, Want)> = owned.iter().map(|(k, w)| (k.as_str(), *w)).collect();
        check(&borrowed);
    }

    #[test]
    fn other_warnings() {
        check(&[
            (
                concat!(full!(), "foo --bar\ninstal --firstdisk\nReboot\n"),
                &[
                    (W, 5, "unknown command `foo`: the installer ignores it; remove it or fix its spelling"),
                    (W, 6, "unknown command `instal`: the installer ignores it; did you mean `install`?"),
                    (W, 7, "unknown command `Reboot`: commands are lowercase; write `reboot`"),
                ],
            ),
            (
                concat!(full!(), "keyboard German\nkeyboard \"US Default\"\naccepteula\nreboot\nreboot --noeject\n"),
                &[
                    (W, 6, "duplicate `keyboard` (also on line 5): the installer uses only the last one; remove one of them"),
                    (W, 7, "duplicate `accepteula` (same as `vmaccepteula` on line 1): the installer uses only the last one; remove one of them"),
                    (W, 9, "duplicate `reboot` (also on line 8): the installer uses only the last one; remove one of them"),
                ],
            ),
            (
                concat!(full!(), "paranoid\ndryrun\n"),
                &[
                    (W, 5, "`paranoid` makes every installer warning fatal at install time, so each warning listed here will stop the install: fix them, or remove `paranoid`"),
                    (W, 6, "`dryrun` only checks the kickstart and installs nothing: remove it for a real install"),
                ],
            ),
            (
                concat!(full!(), "# caf\u{e9}\n%firstboot\necho \u{201c}hi\u{201d}\n"),
                &[
                    (W, 5, "non-ASCII character U+00E9 ('\u{e9}'): the installer warns about non-ASCII text; replace it with plain ASCII"),
                    (W, 7, "non-ASCII character U+201C: the installer warns about non-ASCII text; replace it with plain ASCII"),
                ],
            ),
            (
                concat!("vmaccepteula\n\u{feff}", "install --firstdisk --overwritevmfs\nrootpw VMware1!\nnetwork\n"),
                // A BOM is only skipped at the very start of the file.
                &[
                    (E, 0, "no install, upgrade or installorupgrade: add a line such as `install --firstdisk --overwritevmfs`"),
                    (W, 2, "non-ASCII character U+FEFF: the installer warns about non-ASCII text; replace it with plain ASCII"),
                    (W, 2, "unknown command `\u{feff}install`: the installer ignores it; did you mean `install`?"),
                ],
            ),
        ]);
    }

    #[test]
    fn syntax_and_sections() {
        check(&[
            (
                concat!(full!(), "keyboard \"US Default\n"),
                &[(E, 5, "unterminated quote: add the closing `\"`")],
            ),
            (
                concat!(full!(), "%firstboot --interpreter=bash\necho hi\n%post --interpreter\n"),
                &[
                    (E, 5, "%firstboot --interpreter=bash is not supported: use --interpreter=busybox or --interpreter=python"),
                    (E, 7, "%post --interpreter has no value: use --interpreter=busybox or --interpreter=python"),
                ],
            ),
            (
                concat!(full!(), "%firstboot\necho hi\n%end\nreboot\n"),
                &[(W, 7, "unknown section `%end`: the installer knows only %pre, %post and %firstboot; remove the line")],
            ),
        ]);
    }

    #[test]
    fn command_limit() {
        let at_limit = format!("{}{}", full!(), "part x\n".repeat(MAX_COMMANDS - 4));
        let over = format!("{at_limit}reboot\nreboot --noeject\n");
        check(&[
            (&at_limit, &[]),
            (
                &over,
                &[
                    (E, 257, "more than 256 commands: the installer refuses the kickstart; remove commands or move settings into a %firstboot script"),
                    (W, 258, "duplicate `reboot` (also on line 257): the installer uses only the last one; remove one of them"),
                ],
            ),
        ]);
    }

    #[test]
    fn render_and_has_errors() {
        let diags = lint("vmaccepteula\ninstall --firstdisk\nrootpw VMware1!\nnetwork\n");
        let rendered: Vec<String> = diags.iter().map(|d| d.render("ks.cfg")).collect();
        assert_eq!(
            rendered,
            ["ks.cfg:2: warning: install without --overwritevmfs, --preservevmfs or --novmfsondisk: it fails on a disk that already holds VMFS; add --overwritevmfs (or --preservevmfs to keep the datastore)"]
        );
        assert!(!has_errors(&diags));
        let diags = lint("");
        assert_eq!(
            diags[0].render("ks.cfg"),
            "ks.cfg: error: no vmaccepteula: add a line `vmaccepteula`"
        );
        assert!(has_errors(&diags));
        assert!(Severity::Error > Severity::Warning);
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
        let alphabet: &[u8] = b"-=\"#% \t\r\n$./:,aZ09";
        for round in 0..500 {
            let len = (next() % 400) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        r as u8
                    } else {
                        alphabet[(r as usize) % alphabet.len()]
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let diags = lint(&text);
            assert!(diags.windows(2).all(|w| w[0].line <= w[1].line));
        }
        for i in 0..LAB.len() {
            if LAB.is_char_boundary(i) {
                lint(&LAB[..i]);
            }
        }
        let long = "x".repeat(1 << 20);
        for text in [
            long.clone(),
            format!("rootpw {long}"),
            format!("network --ip={long} --vlanid={long} --nameserver={long}"),
            format!("rootpw --iscrypted $6${long}"),
            format!("\"{long}"),
            "--".repeat(1 << 16),
            "\n".repeat(1 << 16),
            "%".to_string(),
            "\u{feff}".to_string(),
            "\r".to_string(),
            "network --bootproto".to_string(),
            "rootpw --iscrypted $6$rounds=".to_string(),
        ] {
            lint(&text);
        }
    }
}
