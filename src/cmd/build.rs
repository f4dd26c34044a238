//! `esxi-iso build`: resolve the plan, open and check the source, build,
//! report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::build::{self, HostBuild, Options, Summary};
use crate::cli::BuildArgs;
use crate::esxi::bootcfg::KernelOptEdits;
use crate::esxi::Media;
use crate::iso::{name, IsoImage};
use crate::kickstart::{self, crypt::Salt, Source, Vars};
use crate::overlay::OverlaySet;
use crate::report::{self, Reporter};
use crate::{progress, signals};

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    if args.inventory.is_some() {
        return super::lab::run(args);
    }
    signals::install();
    let (host, opts, reporter) = plan(args)?;
    if let Some(r) = &reporter {
        r.persist()?;
    }
    if args.source.is_dir() {
        let bar = progress::bytes(0, "building", progress::enabled(args.quiet));
        let summary = super::pack::build_from_dir(&args.source, &host, &opts, &bar)?;
        report(&summary, args.json, args.quiet)?;
        return Ok(ExitCode::SUCCESS);
    }
    let img = open_source(&args.source)?;
    let media =
        Media::detect(&img).with_context(|| format!("checking {}", args.source.display()))?;
    let bar = progress::bytes(0, "building", progress::enabled(args.quiet));
    let summary = build::build(&img, &media, &host, &opts, &bar)?;
    report(&summary, args.json, args.quiet)?;
    Ok(ExitCode::SUCCESS)
}

/// Everything checked before the source is even opened.
fn plan(args: &BuildArgs) -> Result<(HostBuild, Options, Option<Reporter>)> {
    let ks_path = name::validate_path(&args.ks_path)
        .map_err(|e| anyhow::anyhow!("invalid --ks-path: {e}"))?;
    let extra = KernelOptEdits::from_args(&args.boot_opt, &args.remove_boot_opt)?;
    let source = Source::from_kickstart_arg(args.kickstart.as_deref());
    let overlay = OverlaySet::load(&args.overlay, Path::new("."))?;
    let source_date_epoch = build::source_date_epoch()?;
    let mut vars = Vars::load(args.vars.as_deref(), &args.set)?;
    vars.set_overlay(&overlay);
    vars.salt = Salt::for_epoch(source_date_epoch);
    let output = match &args.output {
        Some(o) => o.clone(),
        None => default_output(&args.source),
    };
    let reporter = match &args.report_to {
        Some(url) => Some(Reporter::open(url, output_dir(&output))?),
        None => None,
    };
    if let Some(r) = &reporter {
        vars.report = Some(r.for_host(&report::host_name(&vars, &output)?));
    }
    let kickstart = kickstart::produce(&source, &vars)?;
    if let Some(m) = report::missing_lines(vars.report.as_ref(), &kickstart) {
        eprintln!("esxi-iso: warning: {}: {m}", source.label());
    }
    if !args.no_lint {
        super::kickstart::check_before_build(&source.label(), &kickstart)?;
    }
    let mut var_opts = KernelOptEdits {
        set: vars.boot_opts(),
        remove: Vec::new(),
    };
    var_opts.set.extend(extra.set);
    var_opts.remove = extra.remove;
    let host = HostBuild {
        output,
        edits: var_opts,
        ks_path,
        kickstart,
        overlay,
        ks_in_ramdisk: args.ks_in_ramdisk,
        replace_vendor_files: args.replace_vendor_files,
        secure_boot: args.secure_boot,
    };
    if let Some(e) = host.secure_boot_conflict() {
        anyhow::bail!(e);
    }
    Ok((
        host,
        Options {
            source_date_epoch,
            force: args.force,
            cancel: None,
        },
        reporter,
    ))
}

/// The folder an output goes to (its state folder holds the secret).
fn output_dir(output: &Path) -> &Path {
    match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

pub fn open_source(path: &Path) -> Result<IsoImage> {
    IsoImage::open(path).with_context(|| format!("reading {}", path.display()))
}

/// `<source stem>-ks.iso` in the current directory.
fn default_output(source: &Path) -> PathBuf {
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "esxi".into());
    PathBuf::from(format!("{stem}-ks.iso"))
}

fn report(s: &Summary, json: bool, quiet: bool) -> Result<()> {
    use std::io::Write;
    for w in &s.warnings {
        eprintln!("esxi-iso: warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, s)?;
        writeln!(out)?;
    } else if !quiet {
        writeln!(out, "wrote {} ({} bytes)", s.output.display(), s.size)?;
        writeln!(out, "  sha256     {}", s.sha256)?;
        writeln!(out, "  kickstart  {}", s.ks_path)?;
        writeln!(out, "  BIOS       kernelopt={}", s.kernelopt.bios)?;
        writeln!(out, "  UEFI       kernelopt={}", s.kernelopt.efi)?;
    }
    Ok(())
}
