//! Install reports: a host tells `esxi-iso serve` that it started
//! installing (`%pre`), finished installing and is rebooting (`%post`),
//! and came up after its first boot (`%firstboot`). This module owns what
//! both sides share: the `--report-to` URL, the per-lab secret, each
//! host's token, the kickstart lines that send a report, and a reader
//! that finds those lines again (for lint and for `build`'s check).
//!
//! Trust: the secret (32 random bytes) lives in the state folder
//! `DIR/.esxi-iso/secret` (folder 0700, file 0600) of the directory that
//! holds the ISOs; it never goes on an ISO, into a manifest, argv or a log.
//! A host's token is HMAC-SHA256(secret, "esxi-iso report v1" NUL
//! lowercased hostname), so the token on one host's ISO lets it report for
//! itself only, and nobody without an ISO can report at all. The server
//! checks tokens with ring's constant-time `hmac::verify`.
//!
//! The report lines must never hurt an install: `%pre` stops the
//! installer when it exits non-zero, and a report to a server that is down
//! or a black hole must not hang it. Debian's busybox 1.35 `wget` has no
//! `-T` (and crashes on it), and ESXi's is not documented, so the lines
//! bound the time themselves: wget runs in the background, a watchdog
//! subshell kills it after [`WATCHDOG_SECS`], `wait ... || true` keeps the
//! status 0, and the watchdog is killed as soon as wget is done (so it
//! never signals a reused PID). Only `-q` and `-O`, which every busybox
//! wget has, are used.
//!
//! Out of scope: HTTPS certificate checks by the installer (busybox wget
//! may not verify); the events themselves and the server are `serve`'s.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// The state folder, inside the served directory; never served.
pub const STATE_DIR: &str = ".esxi-iso";
pub const SECRET_FILE: &str = "secret";
/// The `--report-to` URLs the folder's ISOs were built with, one a line,
/// so that `serve` can check it listens where the hosts will report.
pub const URLS_FILE: &str = "report-to";
/// Where hosts send reports, relative to the server's root.
pub const REPORT_PATH: &str = "/.esxi-iso/report";
/// How long a report may take before the kickstart line gives up.
pub const WATCHDOG_SECS: u32 = 10;
const TOKEN_CONTEXT: &[u8] = b"esxi-iso report v1\0";

/// What a host reports, in install order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// `%pre` ran: the installer has the kickstart and starts.
    Installing,
    /// `%post` ran: the install is done; the host reboots next.
    Installed,
    /// `%firstboot` ran on the installed host.
    Booted,
}

impl Event {
    pub const ALL: [Event; 3] = [Event::Installing, Event::Installed, Event::Booted];

    pub fn name(self) -> &'static str {
        match self {
            Event::Installing => "installing",
            Event::Installed => "installed",
            Event::Booted => "booted",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == s)
    }

    /// The kickstart section that sends it.
    pub fn section(self) -> &'static str {
        match self {
            Event::Installing => "%pre",
            Event::Installed => "%post",
            Event::Booted => "%firstboot",
        }
    }
}

/// The parts of an `http(s)://host[:port][/path]` URL, as
/// [`parse_base_url`], [`unreachable()`] and serve's address checks read
/// them: one reading for all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    /// Without the brackets of an IPv6 address.
    pub host: &'a str,
    /// The port as written (`None` when there is none).
    pub port: Option<&'a str>,
    /// From the first `/` after the authority; empty when there is none.
    pub path: &'a str,
}

impl<'a> UrlParts<'a> {
    /// Splits `url` at `://`, the authority and the path; `None` without
    /// a scheme.
    pub fn split(url: &'a str) -> Option<UrlParts<'a>> {
        let (scheme, rest) = url.split_once("://")?;
        let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6.split_once(']').unwrap_or((v6, ""));
                (h, after.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        Some(UrlParts {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The port, or the scheme's (80, 443); `None` when it is not a port.
    pub fn port_number(&self) -> Option<u16> {
        match self.port {
            Some(p) => p.parse().ok().filter(|p| *p > 0),
            None if self.scheme.eq_ignore_ascii_case("https") => Some(443),
            None => Some(80),
        }
    }
}

/// Checks a base URL of `esxi-iso serve` (`--report-to`, `--netboot`,
/// `vm.boot_url`): `http(s)://host[:port][/path]` (a path for a proxy in
/// front of serve), made only of characters that are safe inside a
/// double-quoted shell word and a URL. Returns it without a trailing
/// slash.
pub fn parse_base_url(url: &str) -> Result<String, String> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!("{url:?} must start with http:// or https://"));
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "-._~:/[]%".contains(c);
    if let Some(c) = url.chars().find(|c| !safe(*c)) {
        return Err(format!(
            "{url:?} contains {c:?}: give a plain base URL such as http://10.0.0.5:8080 \
             (no query, fragment, user or quotes)"
        ));
    }
    let parts = UrlParts::split(url).ok_or_else(|| format!("{url:?} has no scheme"))?;
    if parts.host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if let Some(port) = parts.port.filter(|_| parts.port_number().is_none()) {
        return Err(format!("{url:?} has an invalid port {port:?}"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// Why no VM can reach `base` (a URL from [`parse_base_url`]), when its
/// host is this machine's loopback, the unspecified address or a
/// link-local one. Host names other than `localhost` are not resolved.
pub fn unreachable(base: &str) -> Option<String> {
    let host = UrlParts::split(base)?.host;
    if host.eq_ignore_ascii_case("localhost") {
        return Some(format!("{host} is this machine's loopback name"));
    }
    let ip: std::net::IpAddr = host.parse().ok()?;
    let why = if ip.is_loopback() {
        "is a loopback address: it is the VM itself, not this machine, when the VM uses it"
    } else if ip.is_unspecified() {
        "is the unspecified address, which a server listens on but nobody can connect to"
    } else if match ip {
        std::net::IpAddr::V4(v4) => v4.is_link_local(),
        std::net::IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    } {
        "is link-local: only reachable on one network segment, without routing"
    } else {
        return None;
    };
    Some(format!("{host} {why}"))
}

/// The per-lab secret. Never printed: Debug shows a marker.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret([u8; 32]);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    pub fn generate() -> Result<Secret> {
        use ring::rand::SecureRandom;
        let mut b = [0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut b)
            .map_err(|_| anyhow::anyhow!("drawing a random report secret"))?;
        Ok(Secret(b))
    }

    /// Reads `STATE/secret`; None when there is none.
    pub fn load(state_dir: &Path) -> Result<Option<Secret>> {
        let path = state_dir.join(SECRET_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let bytes = from_hex(text.trim())
            .filter(|b| b.len() == 32)
            .with_context(|| {
                format!(
                    "{} is not 64 hex digits: remove it and rebuild the ISOs (their tokens \
                 come from it)",
                    path.display()
                )
            })?;
        let mut b = [0u8; 32];
        b.copy_from_slice(&bytes);
        Ok(Some(Secret(b)))
    }

    /// Writes `STATE/secret` (folder 0700, file 0600), refusing to replace
    /// one: ISOs already built carry tokens made from it.
    pub fn store(&self, state_dir: &Path) -> Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let path = state_dir.join(SECRET_FILE);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .and_then(|()| writeln!(f, "{}", hex(&self.0)))
            .and_then(|()| f.sync_all())
            .with_context(|| format!("writing {}", path.display()))
    }

    fn key(&self) -> ring::hmac::Key {
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0)
    }

    /// The token of `host` (64 hex digits).
    pub fn token(&self, host: &str) -> String {
        hex(ring::hmac::sign(&self.key(), &token_input(host)).as_ref())
    }

    /// Constant-time check of a token given by a client.
    pub fn verify(&self, host: &str, token: &str) -> bool {
        match from_hex(token) {
            Some(tag) => ring::hmac::verify(&self.key(), &token_input(host), &tag).is_ok(),
            None => false,
        }
    }
}

fn token_input(host: &str) -> Vec<u8> {
    let mut v = TOKEN_CONTEXT.to_vec();
    v.extend(host.to_ascii_lowercase().bytes());
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The `--report-to` URLs the ISOs of a folder were built with (from its
/// state folder; none when it has no record).
pub fn urls(state_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(state_dir.join(URLS_FILE))
        .unwrap_or_default()
        .lines()
        .filter(|l| parse_base_url(l).is_ok())
        .map(str::to_string)
        .collect()
}

/// The state folder for ISOs written into `dir`.
pub fn state_dir(dir: &Path) -> PathBuf {
    dir.join(STATE_DIR)
}

/// `--report-to` resolved for one build: the URL and the secret of the
/// folder the ISOs go to (loaded, or new and not yet stored).
#[derive(Debug, Clone)]
pub struct Reporter {
    pub base: String,
    secret: Secret,
    state_dir: PathBuf,
    new: bool,
}

impl Reporter {
    /// Validates the URL and reads (or draws, without writing) the secret
    /// of the ISOs' folder `out_dir`. Writes nothing. A URL no VM can
    /// reach (loopback, link-local) is refused unless `allow_local`.
    pub fn open(url: &str, out_dir: &Path, allow_local: bool) -> Result<Reporter> {
        let base = parse_base_url(url).map_err(|e| anyhow::anyhow!("--report-to {e}"))?;
        if let (Some(why), false) = (unreachable(&base), allow_local) {
            anyhow::bail!(
                "--report-to {base}: {why}, so the hosts' reports would never arrive: give \
                 this machine's address as the VMs see it (`ip -brief addr` lists them), or \
                 pass --allow-local-report if the hosts really are on this machine"
            );
        }
        let state_dir = state_dir(out_dir);
        let (secret, new) = match Secret::load(&state_dir)? {
            Some(s) => (s, false),
            None => (Secret::generate()?, true),
        };
        Ok(Reporter {
            base,
            secret,
            state_dir,
            new,
        })
    }

    /// Stores a new secret and records the URL ([`URLS_FILE`]); called
    /// once the build is about to write.
    pub fn persist(&self) -> Result<()> {
        if self.new {
            self.secret.store(&self.state_dir)?;
        }
        let mut urls = urls(&self.state_dir);
        if !urls.contains(&self.base) {
            urls.push(self.base.clone());
            let text: String = urls.iter().map(|u| format!("{u}\n")).collect();
            crate::output::write_atomic(&self.state_dir.join(URLS_FILE), text.as_bytes(), true)?;
        }
        Ok(())
    }

    /// For `--verbose`: where reports go and where the secret lives (never
    /// the secret or a token).
    pub fn describe(&self) -> String {
        let path = self.state_dir.join(SECRET_FILE);
        format!(
            "reports go to {}; each host's token comes from the secret in {} ({})",
            self.base,
            path.display(),
            if self.new {
                "new: drawn now, stored when writing starts"
            } else {
                "reused"
            }
        )
    }

    /// The folder's secret (for network install's kickstart tokens,
    /// which are the hosts' report tokens).
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    pub fn for_host(&self, host: &str) -> HostReport {
        HostReport {
            base: self.base.clone(),
            host: host.to_string(),
            token: self.secret.token(host),
        }
    }
}

/// What one host's kickstart needs to report.
#[derive(Clone, PartialEq, Eq)]
pub struct HostReport {
    pub base: String,
    pub host: String,
    token: String,
}

impl fmt::Debug for HostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostReport({} to {})", self.host, self.base)
    }
}

/// The template variable `report`: one block of lines per section.
#[derive(Debug, Clone, Serialize)]
pub struct Lines {
    pub pre: String,
    pub post: String,
    pub firstboot: String,
}

impl HostReport {
    pub fn url(&self, event: Event) -> String {
        format!(
            "{}{REPORT_PATH}?host={}&event={}&token={}",
            self.base,
            self.host,
            event.name(),
            self.token
        )
    }

    /// The comment and command that send `event`. `%firstboot` adds the
    /// management address (vmk0) as ESXi sees it.
    pub fn line(&self, event: Event) -> String {
        let (prefix, url) = match event {
            Event::Booted => (
                "a=$(esxcli network ip interface ipv4 get -i vmk0 2>/dev/null | \
                 awk '$1==\"vmk0\"{print $2}'); "
                    .to_string(),
                format!("{}&addr=$a", self.url(event)),
            ),
            _ => (String::new(), self.url(event)),
        };
        format!(
            "# esxi-iso: report \"{}\" to {} (bounded, never fails the install)\n\
             {prefix}wget -q -O /dev/null \"{url}\" >/dev/null 2>&1 & p=$!; \
             (sleep {WATCHDOG_SECS}; kill $p) >/dev/null 2>&1 & w=$!; \
             wait $p || true; kill $w 2>/dev/null || true",
            event.name(),
            self.base
        )
    }

    pub fn lines(&self) -> Lines {
        Lines {
            pre: self.line(Event::Installing),
            post: self.line(Event::Installed),
            firstboot: self.line(Event::Booted),
        }
    }
}

/// A report line found in a script body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub line: usize,
    /// The URL up to the report path.
    pub base: String,
    pub host: Option<String>,
    pub event: Option<String>,
    pub has_token: bool,
    /// Has `-T` or a watchdog that kills wget.
    pub bounded: bool,
    /// Ends so that its exit status is 0 whatever wget does.
    pub cannot_fail: bool,
}

/// The `wget` lines of a script body that call the report endpoint.
pub fn find(body: &[(usize, String)]) -> Vec<Found> {
    body.iter()
        .filter_map(|(no, text)| found(*no, text))
        .collect()
}

fn found(no: usize, text: &str) -> Option<Found> {
    let t = text.trim();
    if t.starts_with('#') || !t.split_whitespace().any(|w| w == "wget") {
        return None;
    }
    let at = t.find(REPORT_PATH)?;
    let start = t[..at]
        .rfind(|c: char| c == '"' || c == '\'' || c.is_whitespace())
        .map_or(0, |i| i + 1);
    let query_end = t[at..]
        .find(|c: char| c == '"' || c == '\'' || c.is_whitespace())
        .map_or(t.len(), |i| at + i);
    let query = t[at + REPORT_PATH.len()..query_end].trim_start_matches('?');
    let param = |k: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    let words: Vec<&str> = t.split_whitespace().collect();
    let bounded = words.windows(2).any(|w| w[0] == "-T") || t.contains("kill $p");
    let tail = t.trim_end_matches(';').trim_end();
    let cannot_fail = ["|| true", "|| :", "; true", "; :"]
        .iter()
        .any(|s| tail.ends_with(s));
    Some(Found {
        line: no,
        base: t[start..at].to_string(),
        host: param("host"),
        event: param("event"),
        has_token: param("token").is_some_and(|v| !v.is_empty()),
        bounded,
        cannot_fail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        let p = |s| UrlParts::split(s).map(|p| (p.scheme, p.host, p.port, p.path, p.port_number()));
        assert_eq!(
            p("http://10.0.0.5:8080/esxi/"),
            Some(("http", "10.0.0.5", Some("8080"), "/esxi/", Some(8080)))
        );
        assert_eq!(
            p("https://[fd00::5]/"),
            Some(("https", "fd00::5", None, "/", Some(443)))
        );
        assert_eq!(p("http://a:x"), Some(("http", "a", Some("x"), "", None)));
        assert_eq!(p("http://a"), Some(("http", "a", None, "", Some(80))));
        assert_eq!(p("10.0.0.5:8080"), None);
    }

    #[test]
    fn base_urls() {
        let ok = [
            ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
            ("http://10.0.0.5:8080/", "http://10.0.0.5:8080"),
            ("https://lab.example/esxi/", "https://lab.example/esxi"),
            ("http://[fd00::5]:8080", "http://[fd00::5]:8080"),
            ("http://builder", "http://builder"),
        ];
        for (input, want) in ok {
            assert_eq!(parse_base_url(input).as_deref(), Ok(want), "{input}");
        }
        let bad = [
            ("ftp://x", "must start with http"),
            ("10.0.0.5:8080", "must start with http"),
            ("http://", "has no host"),
            ("http://:80", "has no host"),
            ("http://a:0", "invalid port"),
            ("http://a:http", "invalid port"),
            ("http://a/?x=1", "contains '?'"),
            ("http://a/\"", "contains '\"'"),
            ("http://a/$(reboot)", "contains '$'"),
            ("http://a b", "contains ' '"),
            ("http://u@a", "contains '@'"),
        ];
        for (input, want) in bad {
            let e = parse_base_url(input).unwrap_err();
            assert!(e.contains(want), "{input}: {e}");
        }
    }

    #[test]
    fn tokens_are_per_host_and_verified() {
        let s = Secret([7; 32]);
        let t = s.token("esx01");
        assert_eq!(t.len(), 64);
        assert!(s.verify("esx01", &t));
        assert!(s.verify("ESX01", &t), "hostnames compare without case");
        assert!(!s.verify("esx02", &t));
        assert!(!s.verify("esx01", &t[..62]));
        assert!(!s.verify("esx01", "zz"));
        assert!(!Secret([8; 32]).verify("esx01", &t));
        assert_ne!(s.token("esx01"), s.token("esx02"));
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn secret_is_stored_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_dir(dir.path());
        assert_eq!(Secret::load(&state).unwrap(), None);
        let s = Secret::generate().unwrap();
        s.store(&state).unwrap();
        assert_eq!(Secret::load(&state).unwrap(), Some(s.clone()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join(SECRET_FILE)), 0o600);
        assert!(s.store(&state).is_err(), "never replaced");
        std::fs::write(state.join(SECRET_FILE), "nothex\n").unwrap();
        let e = format!("{:#}", Secret::load(&state).unwrap_err());
        assert!(e.contains("not 64 hex digits"), "{e}");
    }

    #[test]
    fn lines_are_found_again() {
        let r = HostReport {
            base: "http://10.0.0.5:8080".into(),
            host: "esx01".into(),
            token: "ab".repeat(32),
        };
        for e in Event::ALL {
            let text = r.line(e);
            let body: Vec<(usize, String)> = text
                .lines()
                .enumerate()
                .map(|(i, l)| (i + 1, l.to_string()))
                .collect();
            let f = find(&body);
            assert_eq!(f.len(), 1, "{text}");
            let f = &f[0];
            assert_eq!(f.line, 2);
            assert_eq!(f.base, "http://10.0.0.5:8080");
            assert_eq!(f.host.as_deref(), Some("esx01"));
            assert_eq!(f.event.as_deref(), Some(e.name()));
            assert!(f.has_token && f.bounded && f.cannot_fail, "{f:?}");
        }
    }

    #[test]
    fn find_table() {
        // (has_token, bounded, cannot_fail), None: not a report line.
        type Flags = Option<(bool, bool, bool)>;
        let cases: &[(&str, Flags)] = &[
            ("wget -q -O /dev/null http://a/.esxi-iso/report?host=h&event=booted&token=1 || true", Some((true, false, true))),
            ("wget -T 5 -q -O /dev/null 'http://a/.esxi-iso/report?host=h&token=1' || :", Some((true, true, true))),
            ("wget http://a/.esxi-iso/report?host=h", Some((false, false, false))),
            ("wget -T 5 http://a/.esxi-iso/report?host=h&token=", Some((false, true, false))),
            ("# wget http://a/.esxi-iso/report?host=h", None),
            ("curl http://a/.esxi-iso/report?host=h", None),
            ("wget http://a/other", None),
        ];
        for (text, want) in cases {
            let got = found(1, text).map(|f| (f.has_token, f.bounded, f.cannot_fail));
            assert_eq!(got, *want, "{text}");
        }
    }
}
