//! `esxi-iso extract ISO DIR`: open, plan (every name checked), write the
//! files and the `.esxi-iso.toml` record ([`crate::tree::extract`]), report.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ExtractArgs;
use crate::tree::extract;
use crate::{esxi, progress, signals};

pub fn run(args: &ExtractArgs) -> Result<ExitCode> {
    signals::install();
    let img = esxi::open_iso(&args.iso)?;
    let plan = extract::plan(&img).with_context(|| format!("extracting {}", args.iso.display()))?;
    let bar = progress::bytes(plan.bytes, "extracting", progress::enabled(args.quiet));
    let record = extract::write(&img, &plan, &args.dir, args.force, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    if !args.quiet {
        println!(
            "extracted {} files ({} bytes) to {}",
            plan.files,
            plan.bytes,
            args.dir.display()
        );
        println!("  record     {}", record.display());
    }
    Ok(ExitCode::SUCCESS)
}
