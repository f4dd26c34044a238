//! `esxi-iso extract ISO DIR`: open, plan (every name checked), write the
//! files and the `.esxi-iso.toml` record ([`crate::tree::extract`]), report
//! (text, or `--json`).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::ExtractArgs;
use crate::failure::{Failure, Tag};
use crate::tree::extract;
use crate::{esxi, progress, signals};

/// `extract --json`: the ISO and directory as given, what was written.
#[derive(Serialize)]
struct Json<'a> {
    iso: &'a Path,
    dir: &'a Path,
    files: usize,
    bytes: u64,
    /// The `.esxi-iso.toml` record `pack` and `build DIR` read.
    record: &'a Path,
}

pub fn run(args: &ExtractArgs) -> Result<ExitCode> {
    signals::install();
    let img = esxi::open_iso(&args.iso)?;
    let plan = extract::plan(&img)
        .with_context(|| format!("extracting {}", args.iso.display()))
        .tag(Failure::Input)?;
    let bar = progress::bytes(plan.bytes, "extracting", progress::enabled(args.quiet));
    let record = extract::write(&img, &plan, &args.dir, args.force, &|n| bar.inc(n))?;
    bar.finish_and_clear();
    if args.json {
        let doc = Json {
            iso: &args.iso,
            dir: &args.dir,
            files: plan.files,
            bytes: plan.bytes,
            record: &record,
        };
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else if !args.quiet {
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
