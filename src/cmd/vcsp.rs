//! `esxi-iso vcsp DIR`: write or refresh the subscribed content library
//! index of a folder of ISOs ([`crate::publish::vcsp`]), print what changed.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::VcspArgs;
use crate::publish::vcsp;

pub fn run(args: &VcspArgs) -> Result<ExitCode> {
    let summary = vcsp::write_index(&args.dir, args.name.as_deref())?;
    let mut out = io::stdout().lock();
    for line in summary.lines() {
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}
