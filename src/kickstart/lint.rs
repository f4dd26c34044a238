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
            let takes_next = !FLAGS.contains(&rest)
                && iter.peek().is_some_and(|next| !next.starts_with("--"));
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
        if let Some(s) = script_lines.iter().find(|s| names.contains(&s.word.as_str())) {
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
        return format!(
            "unknown command `{name}`: commands are lowercase; write `{lower}`"
        );
    }
    let best = KNOWN_COMMANDS
        .iter()
        .filter(|_| name.chars().count() <= 32)
        .map(|known| (edit_distance(name, known), *known))
        .filter(|(dist, _)| *dist <= 2)
        .min();
    match best {
        Some((_, known)) => format!(
            "unknown command `{name}`: the installer ignores it; did you mean `{known}`?"
        ),
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
            format!("network --bootproto={v} is not valid: use --bootproto=dhcp or --bootproto=static"),
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
            if item.parse::<Ipv4Addr>().is_err() {
                d.error(
                    line,
                    format!(
                        "network --nameserver has `{item}`, which is not a valid IPv4 \
                         address: list addresses such as 192.168.1.1, separated by commas"
                    ),
                );
            }
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
