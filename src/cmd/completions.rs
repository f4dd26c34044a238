//! `esxi-iso completions SHELL`: print the script that registers esxi-iso's
//! completions in SHELL ([`crate::cli::complete`]). docs/cli.md says where
//! each shell looks for it.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::complete;
use crate::cli::CompletionsArgs;

pub fn run(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    complete::write_script(args.shell, &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
