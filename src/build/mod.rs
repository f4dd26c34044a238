//! Building one output ISO. [`request`] resolves what was asked into a
//! [`Plan`] before anything is opened; [`changes`] works out the edited
//! boot.cfg files and every file to place; [`build`] patches an ISO source
//! and [`dir`] packs a directory from `extract`. Both stream the result to
//! a temporary file while hashing it, re-read its metadata (the cheap
//! `verify`, plus what only the build knows), rename it into place and
//! write `<OUTPUT>.sha256`.
//!
//! The source is parsed once by the caller and shared, so a lab of hosts
//! costs one metadata parse plus one copy per host.

pub mod changes;
pub mod checks;
pub mod dir;
pub mod request;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::esxi::bootcfg::{self, KernelOptEdits};
use crate::esxi::{self, Media, BIOS_BOOT_CFG, EFI_BOOT_CFG};
use crate::failure::{self, Failure, Tag};
use crate::iso::{self, DataReport, IsoImage, Patcher, Watch};
use crate::output::{self, AtomicFile};
use crate::overlay::OverlaySet;
use crate::progress::{self, Trace};
use crate::warning::Warning;
use crate::{signals, verify};

use changes::secure_boot_refusal;
pub use changes::{edits_for, plan_changes, Changes};
pub use request::{describe_host, lint_file, unknown_error, Inputs, Plan, Request};

/// Where the kickstart lives in the installer ramdisk with `--ks-in-ramdisk`.
pub const RAMDISK_KS: &str = "ks.cfg";

/// Everything about one output, resolved before any byte is written.
#[derive(Debug, Clone, Default)]
pub struct HostBuild {
    pub output: PathBuf,
    /// Validated ISO path without the leading slash, e.g. `KS.CFG`.
    pub ks_path: String,
    pub kickstart: String,
    /// Kernel option edits besides `ks=`, which [`build`] adds.
    pub edits: KernelOptEdits,
    pub overlay: OverlaySet,
    /// Put the kickstart in the overlay module (`ks=file:///ks.cfg`).
    pub ks_in_ramdisk: bool,
    /// Let overlay files replace files already on the source ISO.
    pub replace_vendor_files: bool,
    /// The targets boot with UEFI Secure Boot: refuse any change to the
    /// module list (see [`HostBuild::secure_boot_conflict`]).
    pub secure_boot: bool,
}

impl HostBuild {
    /// Why this build cannot boot under Secure Boot, when it adds a boot
    /// module: `--ks-in-ramdisk` or an overlay with a `ramdisk/` part.
    pub fn adds_module(&self) -> Option<&'static str> {
        if self.ks_in_ramdisk {
            Some("--ks-in-ramdisk puts the kickstart in an added boot module")
        } else if !self.overlay.ramdisk.is_empty() {
            Some("an overlay's ramdisk/ files go into an added boot module")
        } else {
            None
        }
    }

    /// The error for a Secure Boot build that would add a module.
    pub fn secure_boot_conflict(&self) -> Option<String> {
        let why = self.adds_module().filter(|_| self.secure_boot)?;
        Some(secure_boot_refusal(why))
    }

    /// Where the kickstart went, as reports show it.
    pub fn ks_label(&self) -> String {
        if self.ks_in_ramdisk {
            format!("/{RAMDISK_KS} (ramdisk)")
        } else {
            format!("/{}", self.ks_path)
        }
    }

    /// The `ks=` value both boot.cfg files get.
    pub fn ks_location(&self) -> String {
        if self.ks_in_ramdisk {
            format!("file:///{RAMDISK_KS}")
        } else {
            format!("cdrom:/{}", self.ks_path)
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub source_date_epoch: Option<i64>,
    pub force: bool,
    /// Stops this build like Ctrl-C does, when another build of the same
    /// run has failed (`build --inventory`); None for a single build.
    pub cancel: Option<Arc<AtomicBool>>,
    /// `--verbose`: each step, prefixed by the output's file name.
    pub trace: Trace,
}

impl Options {
    /// A signal arrived or the run was cancelled.
    pub fn cancelled(&self) -> bool {
        signals::cancelled()
            || self
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelOpts {
    pub bios: String,
    pub efi: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    pub output: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub ks_path: String,
    pub kernelopt: KernelOpts,
    /// Things the user must know (kickstart lint, a module added, boot.cfg
    /// lines the loader reads differently than they look), but those
    /// `--allow` silences; commands print them on stderr.
    pub warnings: Vec<Warning>,
    /// How the output's bytes got there: cloned from the source, copied.
    pub data: DataReport,
}

/// Builds the planned output from its source, an ISO or a directory from
/// `extract`. The summary's warnings are the plan's and the build's, less
/// those the plan allows.
pub fn run(plan: &Plan, show_progress: bool) -> Result<BuildSummary> {
    if let Some(r) = &plan.reporter {
        r.persist()?;
    }
    let bar = progress::bytes(0, "building", show_progress);
    let mut summary = if plan.source.is_dir() {
        dir::build_from_dir(&plan.source, &plan.host, &plan.opts, &bar)?
    } else {
        let (img, media) = esxi::open_installer(&plan.source)?;
        let mut s = build(&img, &media, &plan.host, &plan.opts, &bar)?;
        s.warnings.extend(img.warnings.iter().map(|w| {
            Warning::advice("iso-oddity", w.clone()).at(&plan.source.display().to_string(), 0)
        }));
        s
    };
    let mut warnings = plan.warnings.clone();
    warnings.append(&mut summary.warnings);
    summary.warnings = plan.allow.filter(warnings);
    Ok(summary)
}

/// Builds one output from an opened ISO.
pub fn build(
    img: &IsoImage,
    media: &Media,
    host: &HostBuild,
    opts: &Options,
    bar: &ProgressBar,
) -> Result<BuildSummary> {
    output::refuse_same_file(&img.path, &host.output)?;
    let exists = |p: &str| img.find(p).is_some();
    let Changes {
        bios,
        efi,
        files,
        warnings,
    } = plan_changes(&exists, &media.bios, &media.efi, host, opts)?;
    // The patcher fails only on what the source's metadata cannot take.
    let mut patch = Patcher::new(img, opts.source_date_epoch).tag(Failure::Input)?;
    let name = host
        .output
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    let cfgs = [
        (BIOS_BOOT_CFG, bios.text.as_bytes()),
        (EFI_BOOT_CFG, efi.text.as_bytes()),
    ];
    let placed = cfgs
        .into_iter()
        .chain(files.iter().map(|(p, d)| (p.as_str(), &d[..])));
    for (path, data) in placed {
        let how = patch
            .put_file(path, data)
            .with_context(|| format!("placing /{path}"))
            .tag(Failure::Input)?;
        opts.trace
            .say(|| format!("{name}: /{path} ({} bytes) {how}", data.len()));
    }
    let layout = patch.finish().tag(Failure::Input)?;
    opts.trace
        .say(|| format!("{name}: layout: {}", layout.describe()));

    let out = AtomicFile::create(&host.output, opts.force)?;
    bar.set_length(layout.total_len());
    let progress = |n: u64| bar.set_position(n);
    let cancelled = || opts.cancelled();
    let watch = Watch {
        progress: &progress,
        cancelled: &cancelled,
    };
    // Once the data is written, and while the hash is still running, the
    // output is checked and flushed to disk (data and metadata, once).
    let check = || {
        check_output(img, media, out.path(), host).with_context(|| {
            format!(
                "checking the new image before saving it as {}",
                host.output.display()
            )
        })?;
        out.sync()
    };
    let (written, checked) =
        iso::write_image(&img.file, &img.path, &layout, out.file(), &watch, check).map_err(
            |e| {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    anyhow::Error::new(signals::Interrupted)
                } else {
                    let input = iso::input_failed(&e);
                    let err = iso::describe_write_error(e, &host.output);
                    if input {
                        failure::tagged(Failure::Input, err)
                    } else {
                        err
                    }
                }
            },
        )?;
    checked?;
    bar.finish_and_clear();
    if opts.cancelled() {
        bail!(signals::Interrupted);
    }
    opts.trace.say(|| {
        format!(
            "{name}: written to the temporary {} beside it ({}), SHA-256 computed while \
             writing; checked it and flushed it to disk; renaming it into place",
            out.path().file_name().unwrap_or_default().to_string_lossy(),
            written.stats.report()
        )
    });
    // The .sha256 is renamed into the same directory next, which flushes
    // the directory for both.
    out.commit_leaving_dir_sync()?;
    let sha256 = hex::encode(written.sha256);
    output::write_checksum_file(&host.output, &sha256, opts.force)?;
    Ok(BuildSummary {
        data: written.stats.report(),
        output: host.output.clone(),
        size: layout.total_len(),
        sha256,
        ks_path: host.ks_label(),
        kernelopt: KernelOpts {
            bios: bios.kernelopt,
            efi: efi.kernelopt,
        },
        warnings,
    })
}

/// The cheap part of `verify` ([`verify::Depth::Cheap`]) on the unrenamed
/// output, plus what only the build knows: both boot.cfg point at this
/// kickstart, it has exactly the bytes rendered, and the boot catalog is
/// the source's. A BIOS boot-info-table that was already invalid on the
/// source is tolerated (esxi-iso never touches the boot images).
fn check_output(src: &IsoImage, src_media: &Media, path: &Path, host: &HostBuild) -> Result<()> {
    let out = IsoImage::open(path)?;
    let media = Media::detect(&out);
    let report = verify::verify_detected(&out, &media, verify::Depth::Cheap);
    let src_bit_ok = esxi::boot_report(src)?
        .iter()
        .any(|b| b.boot_info_table_valid == Some(true));
    // Only what the source got right has to stay right: a source whose
    // kernelopt lacks runweasel (not an installer boot) is not our doing.
    let src_runweasel = src_media.configs().iter().all(|(_, c)| {
        c.get("kernelopt")
            .is_some_and(|ko| bootcfg::option(ko, "runweasel").is_some())
    });
    let src_modules_ok = verify::missing_modules(src, src_media).is_empty();
    let failures: Vec<String> = report
        .failures()
        .filter(|f| src_bit_ok || f.check != verify::Check::BootInfoTable)
        .filter(|f| src_modules_ok || f.check != verify::Check::Modules)
        .filter(|f| src_runweasel || f.check != verify::Check::BootCfg)
        .map(|f| format!("{}: {}", f.check.label(), f.detail))
        .collect();
    ensure!(failures.is_empty(), "{}", failures.join("; "));
    let media = media?;
    let want = host.ks_location();
    for (name, cfg) in media.configs() {
        let ko = cfg.get("kernelopt").unwrap_or_default();
        ensure!(
            bootcfg::option(ko, "ks") == Some(want.as_str()),
            "{name} does not carry ks={want}"
        );
    }
    if !host.ks_in_ramdisk {
        let ks = out
            .find(&host.ks_path)
            .with_context(|| format!("/{} is missing from the output", host.ks_path))?;
        let rec = out.record(ks);
        ensure!(
            rec.size as usize == host.kickstart.len(),
            "/{} has the wrong size on the output",
            host.ks_path
        );
        let bytes = out.read_small(rec, rec.size)?;
        ensure!(
            bytes == host.kickstart.as_bytes(),
            "/{} on the output differs from the kickstart",
            host.ks_path
        );
    }
    ensure!(out.boot == src.boot, "the El Torito boot catalog changed");
    Ok(())
}
