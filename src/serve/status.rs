//! Where each host stands: the event log folded into one row per host,
//! for `esxi-iso status`, the server's `/.esxi-iso/status.json` and its
//! status page.
//!
//! Hosts are those of the lab's manifest.json (in its order, with their
//! ISO file), or, without a manifest, one per top-level `*.iso` (named by
//! the file's stem); a host that reports and is in neither is added.
//! Host names compare without case, as the tokens do.
//!
//! A host's state is its last install event (installing, installed,
//! booted, and for a network install `loading`, when it loads its first
//! module, and `kickstart-fetched`), so a reinstall starts over; before
//! any, `fetched` once its ISO was downloaded to the last byte, else
//! `waiting`. A later download does
//! not move a host back (vCenter syncing a library would otherwise undo
//! every state). Pure over its inputs, except [`lab_hosts`].

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::events::Record;
use crate::report::Event;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Waiting,
    Fetched,
    /// Network install: the host loads the installer's modules.
    Loading,
    /// Network install: the host's installer fetched its kickstart.
    #[serde(rename = "kickstart-fetched")]
    KickstartFetched,
    Installing,
    Installed,
    Booted,
}

impl State {
    pub const ALL: [State; 7] = [
        State::Waiting,
        State::Fetched,
        State::Loading,
        State::KickstartFetched,
        State::Installing,
        State::Installed,
        State::Booted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            State::Waiting => "waiting",
            State::Fetched => "fetched",
            State::Loading => "loading",
            State::KickstartFetched => "kickstart-fetched",
            State::Installing => "installing",
            State::Installed => "installed",
            State::Booted => "booted",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.name() == s)
    }

    /// The state a host's event puts it in: a report, or what the server
    /// saw of a network install.
    fn of_event(name: &str) -> Option<State> {
        match Event::parse(name) {
            Some(Event::Installing) => Some(State::Installing),
            Some(Event::Installed) => Some(State::Installed),
            Some(Event::Booted) => Some(State::Booted),
            None => [State::Loading, State::KickstartFetched]
                .into_iter()
                .find(|s| s.name() == name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub host: String,
    pub state: State,
    /// When the state began (Unix seconds).
    pub since: Option<u64>,
    /// The management address: what the host reported, else the address
    /// its last report came from.
    pub address: Option<String>,
    /// The ISO file, relative to the directory.
    pub iso: Option<String>,
    /// The last complete download of the ISO.
    pub fetched: Option<u64>,
    pub last_event: Option<String>,
    pub last_time: Option<u64>,
}

impl Row {
    fn new(host: &str, iso: Option<String>) -> Row {
        Row {
            host: host.to_string(),
            state: State::Waiting,
            since: None,
            address: None,
            iso,
            fetched: None,
            last_event: None,
            last_time: None,
        }
    }
}

/// The rows, in the lab's order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Board {
    pub hosts: Vec<Row>,
}

impl Board {
    /// Hosts as (name, file): an ISO, or a network-install host's
    /// boot.cfg (which has no ISO).
    pub fn new(hosts: &[(String, String)]) -> Board {
        Board {
            hosts: hosts
                .iter()
                .map(|(h, f)| Row::new(h, is_iso(f).then(|| f.clone())))
                .collect(),
        }
    }

    /// Folds records, skipping those before `since`.
    pub fn fold(hosts: &[(String, String)], records: &[Record], since: u64) -> Board {
        let mut b = Board::new(hosts);
        for r in records.iter().filter(|r| r.time >= since) {
            b.apply(r);
        }
        b
    }

    pub fn apply(&mut self, r: &Record) {
        if r.event == "fetched" {
            let Some(file) = &r.file else { return };
            if let Some(row) = self.hosts.iter_mut().find(|h| h.iso.as_ref() == Some(file)) {
                row.fetched = Some(r.time);
                if row.state == State::Waiting {
                    row.state = State::Fetched;
                    row.since = Some(r.time);
                }
                row.last_event = Some(r.event.clone());
                row.last_time = Some(r.time);
            }
            return;
        }
        let (Some(state), Some(host)) = (State::of_event(&r.event), &r.host) else {
            return;
        };
        let i = match self
            .hosts
            .iter()
            .position(|h| h.host.eq_ignore_ascii_case(host))
        {
            Some(i) => i,
            None => {
                self.hosts.push(Row::new(host, None));
                self.hosts.len() - 1
            }
        };
        let row = &mut self.hosts[i];
        row.state = state;
        row.since = Some(r.time);
        row.last_event = Some(r.event.clone());
        row.last_time = Some(r.time);
        let reported = r
            .addr
            .as_deref()
            .filter(|a| a.parse::<std::net::IpAddr>().is_ok());
        row.address = Some(reported.unwrap_or(&r.peer).to_string());
    }

    /// Hosts that have not reached `state`.
    pub fn behind(&self, state: State) -> Vec<&Row> {
        self.hosts.iter().filter(|h| h.state < state).collect()
    }

    /// The text table of `esxi-iso status`.
    pub fn table(&self) -> String {
        let mut rows = vec![[
            "HOST".to_string(),
            "STATE".into(),
            "SINCE".into(),
            "ADDRESS".into(),
            "ISO FETCHED".into(),
            "LAST EVENT".into(),
        ]];
        for h in &self.hosts {
            rows.push([
                h.host.clone(),
                h.state.name().into(),
                h.since.map(fmt_time).unwrap_or_else(|| "-".into()),
                h.address.clone().unwrap_or_else(|| "-".into()),
                h.fetched.map(fmt_time).unwrap_or_else(|| "-".into()),
                match (&h.last_event, h.last_time) {
                    (Some(e), Some(t)) => format!("{e} {}", fmt_time(t)),
                    _ => "-".into(),
                },
            ]);
        }
        let mut width = [0usize; 6];
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let mut out = String::new();
        for r in &rows {
            let line: Vec<String> = r
                .iter()
                .zip(width)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

pub fn is_iso(file: &str) -> bool {
    file.to_ascii_lowercase().ends_with(".iso")
}

/// The lab's hosts: manifest.json's, else one per top-level `*.iso`.
pub fn lab_hosts(dir: &Path) -> Result<Vec<(String, String)>> {
    let manifest = dir.join(crate::lab::MANIFEST_FILE);
    match std::fs::read(&manifest) {
        Ok(bytes) => {
            #[derive(serde::Deserialize)]
            struct M {
                hosts: Vec<H>,
            }
            #[derive(serde::Deserialize)]
            struct H {
                hostname: String,
                file: String,
            }
            let m: M = serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", manifest.display()))?;
            Ok(m.hosts.into_iter().map(|h| (h.hostname, h.file)).collect())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut out = Vec::new();
            for entry in
                std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?
            {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if let Some(stem) = name.strip_suffix(".iso").filter(|s| !s.starts_with('.')) {
                    out.push((stem.to_string(), name.clone()));
                }
            }
            out.sort();
            Ok(out)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", manifest.display())),
    }
}

/// `2026-11-26 00:52:14Z` (UTC).
pub fn fmt_time(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        t: u64,
        event: &str,
        host: Option<&str>,
        file: Option<&str>,
        addr: Option<&str>,
    ) -> Record {
        Record {
            time: t,
            event: event.into(),
            host: host.map(Into::into),
            file: file.map(Into::into),
            peer: "192.0.2.9".into(),
            addr: addr.map(Into::into),
        }
    }

    fn hosts() -> Vec<(String, String)> {
        vec![
            ("esx01".into(), "esx01.iso".into()),
            ("esx02".into(), "esx02.iso".into()),
        ]
    }

    #[test]
    fn fold_table() {
        let cases: &[(&[Record], [State; 2])] = &[
            (&[], [State::Waiting, State::Waiting]),
            (
                &[rec(1, "fetched", None, Some("esx01.iso"), None)],
                [State::Fetched, State::Waiting],
            ),
            (
                &[rec(1, "installing", Some("ESX02"), None, None)],
                [State::Waiting, State::Installing],
            ),
            (
                &[
                    rec(1, "installing", Some("esx01"), None, None),
                    rec(2, "installed", Some("esx01"), None, None),
                    rec(3, "booted", Some("esx01"), None, Some("10.0.0.11")),
                    rec(4, "fetched", None, Some("esx01.iso"), None),
                ],
                [State::Booted, State::Waiting],
            ),
            (
                &[
                    rec(1, "booted", Some("esx01"), None, None),
                    rec(2, "installing", Some("esx01"), None, None),
                ],
                [State::Installing, State::Waiting],
            ),
            (
                &[rec(1, "rebooted", Some("esx01"), None, None)],
                [State::Waiting, State::Waiting],
            ),
            (
                &[
                    rec(1, "loading", Some("esx01"), None, None),
                    rec(2, "loading", Some("esx02"), None, None),
                    rec(3, "kickstart-fetched", Some("esx02"), None, None),
                ],
                [State::Loading, State::KickstartFetched],
            ),
            (
                &[rec(1, "fetched", None, Some("other.iso"), None)],
                [State::Waiting, State::Waiting],
            ),
        ];
        for (records, want) in cases {
            let b = Board::fold(&hosts(), records, 0);
            let got: Vec<State> = b.hosts.iter().take(2).map(|h| h.state).collect();
            assert_eq!(got, want, "{records:?}");
        }
    }

    #[test]
    fn rows_carry_address_times_and_new_hosts() {
        let records = [
            rec(100, "fetched", None, Some("esx01.iso"), None),
            rec(200, "installing", Some("esx01"), None, None),
            rec(300, "booted", Some("esx01"), None, Some("10.0.0.11")),
            rec(310, "booted", Some("esx09"), None, Some("not-an-ip")),
        ];
        let b = Board::fold(&hosts(), &records, 0);
        let r = &b.hosts[0];
        assert_eq!((r.since, r.fetched), (Some(300), Some(100)));
        assert_eq!(r.address.as_deref(), Some("10.0.0.11"));
        assert_eq!(b.hosts[2].host, "esx09");
        assert_eq!(b.hosts[2].address.as_deref(), Some("192.0.2.9"));
        let names: Vec<&str> = b
            .behind(State::Booted)
            .iter()
            .map(|r| r.host.as_str())
            .collect();
        assert_eq!(names, ["esx02"]);
        let later = Board::fold(&hosts(), &records, 250);
        assert_eq!(later.hosts[0].fetched, None);
        assert_eq!(later.hosts[0].state, State::Booted);
        let t = b.table();
        assert!(t.starts_with("HOST   STATE    SINCE"), "{t}");
        assert!(t.contains("esx02  waiting  -"), "{t}");
    }

    #[test]
    fn times() {
        for (unix, want) in [
            (0, "1970-01-01 00:00:00Z"),
            (951_782_400, "2000-02-29 00:00:00Z"),
            (1_700_000_000, "2023-11-14 22:13:20Z"),
            (4_107_542_399, "2100-02-28 23:59:59Z"),
        ] {
            assert_eq!(fmt_time(unix), want);
        }
    }
}
