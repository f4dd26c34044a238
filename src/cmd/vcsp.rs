//! `esxi-iso vcsp DIR`: write or refresh the subscribed content library
//! index of a folder of ISOs ([`crate::publish::vcsp`]), print what changed
//! (text, or `--json`).

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::VcspArgs;
use crate::publish::vcsp;

pub fn run(args: &VcspArgs) -> Result<ExitCode> {
    let summary = vcsp::write_index(&args.dir, args.name.as_deref())?;
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        out.write_all(summary.text().as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
