//! `esxi-iso upload`: check the ISOs and the target
//! ([`crate::publish::plan_upload`]), warn about `--insecure`, then log in,
//! check the target on the server and upload; `--verbose` lines go to
//! stderr, Ctrl-C stops the upload and cleans up (exit 130).

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::UploadArgs;
use crate::progress::Trace;
use crate::publish;
use crate::signals;

pub fn run(args: &UploadArgs) -> Result<ExitCode> {
    signals::install();
    let mut plan = publish::plan_upload(&args.request())?;
    if args.verbose {
        plan.trace = Trace::to(|line| {
            let _ = writeln!(io::stderr(), "esxi-iso: {line}");
        });
    }
    for w in &plan.warnings {
        let _ = writeln!(io::stderr(), "esxi-iso: {}", w.render());
    }
    publish::upload(&plan, args.username.as_deref())?;
    Ok(ExitCode::SUCCESS)
}
