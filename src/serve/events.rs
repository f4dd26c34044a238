//! The event log: `DIR/.esxi-iso/events.jsonl`, one JSON record a line,
//! append-only, synced (fdatasync) before the server answers, so a record
//! the client saw acknowledged survives a crash or restart.
//!
//! A crash can leave a torn last line (no newline). On open the server cuts
//! the file back to its last complete line, so the next record starts on a
//! line of its own; readers (`status`) skip a torn last line silently and
//! report other lines they cannot read, without failing.
//!
//! Records are only ever appended by the server; nothing here interprets
//! them (that is `status`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub const EVENTS_FILE: &str = "events.jsonl";
/// Longer lines are not ours: skipped unread.
const MAX_LINE: usize = 64 * 1024;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Unix seconds.
    pub time: u64,
    /// `installing`, `installed`, `booted` (from a host) or `fetched`
    /// (the server sent the last byte of an ISO).
    pub event: String,
    /// The reporting host, as it named itself (token checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The file fetched (a path below the served directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The client's address as the server saw it.
    pub peer: String,
    /// The address the host reported for itself (vmk0), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The open log of a server.
pub struct EventLog {
    file: Mutex<File>,
    path: PathBuf,
}

impl EventLog {
    /// Creates the state folder (0700) and log (0600) if missing, cuts a
    /// torn last line, and returns the log with every record in it and
    /// what was wrong with the file.
    pub fn open(state_dir: &Path) -> Result<(EventLog, Vec<Record>, Vec<String>)> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(state_dir)
            .with_context(|| format!("creating {}", state_dir.display()))?;
        let path = state_dir.join(EVENTS_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut notes = Vec::new();
        let len = file.metadata()?.len();
        let keep =
            complete_len(&mut file).with_context(|| format!("reading {}", path.display()))?;
        if keep < len {
            file.set_len(keep)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cutting the torn last line of {}", path.display()))?;
            notes.push(format!(
                "{}: dropped a torn last line ({} bytes) left by an interrupted write",
                path.display(),
                len - keep
            ));
        }
        file.seek(SeekFrom::Start(0))?;
        let (records, bad) = parse(BufReader::new(&file), &path);
        notes.extend(bad);
        Ok((
            EventLog {
                file: Mutex::new(file),
                path,
            },
            records,
            notes,
        ))
    }

    /// Appends one record in a single write, then fdatasync.
    pub fn append(&self, r: &Record) -> Result<()> {
        let mut line = serde_json::to_vec(r).context("serializing an event")?;
        line.push(b'\n');
        let f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        (&*f)
            .write_all(&line)
            .and_then(|()| f.sync_data())
            .with_context(|| format!("appending to {}", self.path.display()))
    }
}

/// Length of the file up to and including its last newline.
fn complete_len(f: &mut File) -> std::io::Result<u64> {
    let len = f.metadata()?.len();
    let mut pos = len;
    let mut buf = [0u8; 4096];
    while pos > 0 {
        let n = (pos as usize).min(buf.len());
        pos -= n as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

/// Reads the log of `state_dir` without writing (for `status`): records,
/// and one line per unreadable line (a torn last line is not one).
pub fn read(state_dir: &Path) -> Result<(Vec<Record>, Vec<String>)> {
    let path = state_dir.join(EVENTS_FILE);
    match File::open(&path) {
        Ok(f) => Ok(parse(BufReader::new(f), &path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Vec::new(), Vec::new())),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn parse(mut r: impl BufRead, path: &Path) -> (Vec<Record>, Vec<String>) {
    let mut records = Vec::new();
    let mut bad = Vec::new();
    let mut buf = Vec::new();
    let mut no = 0;
    loop {
        buf.clear();
        match r
            .by_ref()
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                bad.push(format!("{}: {e}", path.display()));
                break;
            }
        }
        no += 1;
        let complete = buf.last() == Some(&b'\n');
        if !complete && buf.len() > MAX_LINE {
            // Skip the rest of an overlong line.
            let mut sink = Vec::new();
            let _ = r.read_until(b'\n', &mut sink);
            bad.push(format!("{}:{no}: line too long, skipped", path.display()));
            continue;
        }
        match serde_json::from_slice::<Record>(&buf) {
            Ok(rec) => records.push(rec),
            // A torn last line: the write that made it was never acknowledged.
            Err(_) if !complete => {}
            Err(e) => bad.push(format!("{}:{no}: skipped: {e}", path.display())),
        }
    }
    (records, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, event: &str) -> Record {
        Record {
            time: t,
            event: event.into(),
            host: Some("esx01".into()),
            file: None,
            peer: "10.0.0.11".into(),
            addr: None,
        }
    }

    #[test]
    fn survives_reopen_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".esxi-iso");
        let (log, recs, notes) = EventLog::open(&state).unwrap();
        assert!(recs.is_empty() && notes.is_empty());
        log.append(&rec(1, "installing")).unwrap();
        log.append(&rec(2, "installed")).unwrap();
        drop(log);
        let path = state.join(EVENTS_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"time\":3,\"event\":\"boo").unwrap();
        drop(f);
        let (recs, bad) = read(&state).unwrap();
        assert_eq!(recs, vec![rec(1, "installing"), rec(2, "installed")]);
        assert!(bad.is_empty(), "{bad:?}");
        let (log, recs, notes) = EventLog::open(&state).unwrap();
        assert_eq!(recs.len(), 2);
        assert!(notes[0].contains("torn last line"), "{notes:?}");
        log.append(&rec(4, "booted")).unwrap();
        let (recs, bad) = read(&state).unwrap();
        assert_eq!(recs.last(), Some(&rec(4, "booted")));
        assert_eq!(recs.len(), 3);
        assert!(bad.is_empty());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn bad_middle_lines_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_path_buf();
        let long = "x".repeat(MAX_LINE + 10);
        std::fs::write(
            state.join(EVENTS_FILE),
            format!(
                "{}\nnot json\n{long}\n{}\n",
                serde_json::to_string(&rec(1, "installing")).unwrap(),
                serde_json::to_string(&rec(2, "booted")).unwrap()
            ),
        )
        .unwrap();
        let (recs, bad) = read(&state).unwrap();
        assert_eq!(recs, vec![rec(1, "installing"), rec(2, "booted")]);
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(bad[0].contains(":2: skipped") && bad[1].contains(":3: line too long"));
    }
}
