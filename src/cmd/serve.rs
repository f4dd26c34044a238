//! `esxi-iso serve DIR`: the command line turned into a server
//! configuration; the server is [`crate::serve`]. The start-up and the stop
//! print as text on stdout (start-up warnings on stderr), or with `--json`
//! as JSON lines (`listening` with its warnings, then the access log's
//! `request` lines, then `stopped`).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use crate::cli::ServeArgs;
use crate::serve::{self, AccessLog, Config, Notice};

pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let cfg = Config {
        dir: args.dir.clone(),
        listen: args.listen,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        max_connections: args.max_connections as usize,
        timeout: Duration::from_secs(args.timeout),
        access: match (args.quiet, args.json) {
            (true, _) => AccessLog::Off,
            (false, true) => AccessLog::Json,
            (false, false) => AccessLog::Text,
        },
    };
    let json = args.json;
    serve::run(&cfg, &mut |notice| {
        if json {
            let line = match notice {
                Notice::Listening(l) => {
                    let mut v = serde_json::to_value(l).unwrap_or_default();
                    v["event"] = json!("listening");
                    v
                }
                Notice::Stopped => json!({"event": "stopped"}),
            };
            serve::json_line(&line);
            return;
        }
        let mut out = std::io::stdout().lock();
        let lines = match notice {
            Notice::Listening(l) => {
                // Warnings go to stderr, as every command's do, even with
                // --quiet (which silences the access log only).
                for w in &l.warnings {
                    eprintln!("esxi-iso: {}", w.render());
                }
                l.lines()
            }
            Notice::Stopped => vec!["stopped".to_string()],
        };
        for line in lines {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    })?;
    Ok(ExitCode::SUCCESS)
}
