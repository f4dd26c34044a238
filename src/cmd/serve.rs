//! `esxi-iso serve DIR`: the command line turned into a server
//! configuration; the server is [`crate::serve`].

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::cli::ServeArgs;
use crate::serve::{self, Config};

pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    let cfg = Config {
        dir: args.dir.clone(),
        listen: args.listen,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        max_connections: args.max_connections as usize,
        timeout: Duration::from_secs(args.timeout),
        quiet: args.quiet,
    };
    serve::run(&cfg, &mut |line| {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })?;
    Ok(ExitCode::SUCCESS)
}
