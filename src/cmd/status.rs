//! `esxi-iso status DIR`: where each host of a lab stands, from the
//! server's event log (read only; the server need not run), as a table or
//! JSON; `--wait STATE` polls until every host reached STATE or the time
//! is up, then names the hosts that did not.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use crate::cli::StatusArgs;
use crate::failure::{self, Failure, Tag};
use crate::report;
use crate::serve::events;
use crate::serve::status::{lab_hosts, Board, State};
use crate::warning::Warning;

/// How often `--wait` reads the log again.
const POLL: Duration = Duration::from_secs(2);

pub fn run(args: &StatusArgs) -> Result<ExitCode> {
    let target = match &args.wait {
        None => None,
        Some(s) => Some(
            State::parse(s)
                .filter(|s| *s != State::Waiting)
                .ok_or_else(|| {
                    let names: Vec<&str> = State::ALL
                        .iter()
                        .filter(|s| **s != State::Waiting)
                        .map(|s| s.name())
                        .collect();
                    let near = crate::diagnostic::nearest(s, &names)
                        .map(|n| format!(" (did you mean {n}?)"))
                        .unwrap_or_default();
                    failure::error(
                        Failure::Usage,
                        format!("--wait {s:?}: give one of {}{near}", names.join(", ")),
                    )
                })?,
        ),
    };
    let since = args.since.unwrap_or(0);
    let started = Instant::now();
    let mut warnings = Vec::new();
    loop {
        let board = read(&args.dir, since, &mut warnings)?;
        if board.hosts.is_empty() {
            return Err(failure::error(
                Failure::Input,
                format!(
                    "{} has no hosts: no manifest.json, no *.iso and no reports (is it the \
                     directory `build --inventory --out-dir` wrote?)",
                    args.dir.display()
                ),
            ));
        }
        let Some(target) = target else {
            print(&args.dir, &board, &warnings, args.json)?;
            return Ok(ExitCode::SUCCESS);
        };
        let behind = board.behind(target);
        if behind.is_empty() {
            print(&args.dir, &board, &warnings, args.json)?;
            return Ok(ExitCode::SUCCESS);
        }
        if started.elapsed() >= Duration::from_secs(args.timeout) {
            print(&args.dir, &board, &warnings, args.json)?;
            let names: Vec<String> = behind
                .iter()
                .map(|r| format!("{} ({})", r.host, r.state.name()))
                .collect();
            return Err(failure::error(
                Failure::Verdict,
                format!(
                    "timed out after {} s: {} of {} hosts did not reach {}: {}",
                    args.timeout,
                    names.len(),
                    board.hosts.len(),
                    target.name(),
                    names.join(", ")
                ),
            ));
        }
        std::thread::sleep(POLL.min(Duration::from_secs(args.timeout)));
    }
}

/// The board from the log; the log's unreadable lines become warnings
/// (printed at once, and kept for `--json`) the first time.
fn read(dir: &Path, since: u64, warnings: &mut Vec<Warning>) -> Result<Board> {
    let hosts = lab_hosts(dir).tag(Failure::Input)?;
    let (records, bad) = events::read(&report::state_dir(dir)).tag(Failure::Input)?;
    if warnings.is_empty() {
        for b in bad {
            let w = Warning::advice("event-log", b);
            eprintln!("esxi-iso: {}", w.render());
            warnings.push(w);
        }
    }
    Ok(Board::fold(&hosts, &records, since))
}

/// `--json`: the board, led by the lab directory as given.
#[derive(Serialize)]
struct Json<'a> {
    dir: &'a Path,
    #[serde(flatten)]
    board: &'a Board,
    warnings: &'a [Warning],
}

fn print(dir: &Path, board: &Board, warnings: &[Warning], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let doc = Json {
            dir,
            board,
            warnings,
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        out.write_all(board.table().as_bytes())?;
    }
    Ok(())
}
