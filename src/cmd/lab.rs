//! `esxi-iso build SOURCE --inventory lab.toml --out-dir DIR`: one ISO per
//! host from a single parse of the source, built by a bounded pool of
//! threads, then SHA256SUMS and manifest.json.
//!
//! Everything is validated by `inventory::plan` before DIR is created.
//! Failures: without --keep-going the first failing host stops the others
//! (through `build::Options::cancel`) and every file this run created is
//! removed; with it, the others finish, and SHA256SUMS and the manifest
//! list the hosts that were built. A file is "created by this run" when
//! its inode differs from the one seen before the run, so a file that a
//! --force run had not yet replaced is left alone.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::build::{self, KernelOpts, Options, Summary};
use crate::cli::BuildArgs;
use crate::esxi::Media;
use crate::inventory::{self, HostPlan, LabPlan};
use crate::iso::IsoImage;
use crate::{output, progress, signals};

pub fn run(args: &BuildArgs) -> Result<ExitCode> {
    signals::install();
    let lab = inventory::plan(args)?;
    for w in &lab.warnings {
        eprintln!("esxi-iso: {w}");
    }
    let img = super::build::open_source(&args.source)?;
    let media =
        Media::detect(&img).with_context(|| format!("checking {}", args.source.display()))?;
    let run = Run::start(&lab)?;
    if let Some(r) = &lab.report {
        r.persist()?;
    }
    let opts = Options {
        source_date_epoch: build::source_date_epoch()?,
        force: args.force,
        cancel: Some(Arc::new(AtomicBool::new(false))),
    };
    let jobs = match args.jobs {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let show = progress::enabled(args.quiet);
    let outcomes = build_all(&img, &media, &lab, &opts, jobs, args.keep_going, show);

    if signals::cancelled() {
        run.remove_outputs();
        bail!(signals::Interrupted);
    }
    let failed: Vec<String> = lab
        .hosts
        .iter()
        .zip(&outcomes)
        .filter_map(|(h, o)| match o {
            Outcome::Failed(e) => Some(format!("{}: {e:#}", h.hostname)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() && !args.keep_going {
        run.remove_outputs();
        bail!(
            "{}\nstopped the other hosts and removed this run's outputs \
             (pass --keep-going to build the others anyway)",
            failed.join("\n")
        );
    }
    let built: Vec<(&HostPlan, &Summary)> = lab
        .hosts
        .iter()
        .zip(&outcomes)
        .filter_map(|(h, o)| match o {
            Outcome::Built(s) => Some((h, s)),
            _ => None,
        })
        .collect();
    for (h, s) in &built {
        for w in &s.warnings {
            eprintln!("esxi-iso: warning: {}: {w}", h.hostname);
        }
    }
    let manifest = manifest(&args.source, &built);
    if !built.is_empty() {
        if let Err(e) = write_index(&lab, &manifest, args.force) {
            if !args.keep_going {
                run.remove_outputs();
            }
            return Err(e);
        }
    }
    report(&lab, &manifest, args.json, args.quiet)?;
    if !failed.is_empty() {
        bail!(
            "{} of {} hosts failed; the others were written:\n  {}",
            failed.len(),
            lab.hosts.len(),
            failed.join("\n  ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

enum Outcome {
    Built(Summary),
    Failed(anyhow::Error),
    /// Not started, or stopped because another host failed.
    Stopped,
}

/// Builds every host on up to `jobs` threads, in inventory order. The
/// source is opened once; workers share it (reads are positioned).
fn build_all(
    img: &IsoImage,
    media: &Media,
    lab: &LabPlan,
    opts: &Options,
    jobs: usize,
    keep_going: bool,
    show: bool,
) -> Vec<Outcome> {
    let n = lab.hosts.len();
    let multi = MultiProgress::with_draw_target(if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let total = multi.add(ProgressBar::new(n as u64));
    total.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} hosts {elapsed}")
            .expect("static template")
            .progress_chars("=> "),
    );
    total.set_prefix("total");
    let cancel = opts.cancel.clone().unwrap_or_default();
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Outcome>>> = (0..n).map(|_| Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                if opts.cancelled() {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(host) = lab.hosts.get(i) else { break };
                let bar =
                    multi.insert_before(&total, progress::bytes(img.len, &host.hostname, show));
                let r = build::build(img, media, &host.build, opts, &bar);
                bar.finish_and_clear();
                multi.remove(&bar);
                let outcome = match r {
                    Ok(s) => Outcome::Built(s),
                    Err(e) if e.is::<signals::Interrupted>() && !signals::cancelled() => {
                        Outcome::Stopped
                    }
                    Err(e) => {
                        if !keep_going {
                            cancel.store(true, Ordering::SeqCst);
                        }
                        Outcome::Failed(e)
                    }
                };
                if !matches!(outcome, Outcome::Stopped) {
                    total.inc(1);
                }
                *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
            });
        }
    });
    total.finish_and_clear();
    results
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or(Outcome::Stopped)
        })
        .collect()
}

/// The files a run may create, and what was at each path before it.
struct Run {
    before: HashMap<PathBuf, Option<(u64, u64)>>,
    out_dir: PathBuf,
    created_dir: bool,
}

impl Run {
    fn start(lab: &LabPlan) -> Result<Run> {
        let mut paths = vec![lab.sums_path(), lab.manifest_path()];
        for h in &lab.hosts {
            paths.push(h.build.output.clone());
            paths.push(inventory::sha256_path(&h.build.output));
        }
        let before = paths
            .into_iter()
            .map(|p| {
                let id = identity(&p);
                (p, id)
            })
            .collect();
        let created_dir = !lab.out_dir.exists();
        std::fs::create_dir_all(&lab.out_dir)
            .with_context(|| format!("creating {}", lab.out_dir.display()))?;
        Ok(Run {
            before,
            out_dir: lab.out_dir.clone(),
            created_dir,
        })
    }

    /// Removes every file this run created, and DIR if it made it.
    fn remove_outputs(&self) {
        for (path, before) in &self.before {
            let now = identity(path);
            if now.is_some() && now != *before {
                if let Err(e) = std::fs::remove_file(path) {
                    eprintln!("esxi-iso: warning: removing {}: {e}", path.display());
                }
            }
        }
        if self.created_dir {
            // Fails, as it should, if anything else is in there.
            let _ = std::fs::remove_dir(&self.out_dir);
        }
    }
}

fn identity(p: &Path) -> Option<(u64, u64)> {
    p.symlink_metadata().ok().map(|m| (m.dev(), m.ino()))
}

#[derive(Debug, Serialize)]
struct Manifest {
    source: String,
    hosts: Vec<ManifestHost>,
}

#[derive(Debug, Serialize)]
struct ManifestHost {
    hostname: String,
    file: String,
    size: u64,
    sha256: String,
    template: String,
    ks_path: String,
    variables: std::collections::BTreeMap<String, toml::Value>,
    overlays: Vec<String>,
    kernelopt: KernelOpts,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

fn manifest(source: &Path, built: &[(&HostPlan, &Summary)]) -> Manifest {
    Manifest {
        source: source.display().to_string(),
        hosts: built
            .iter()
            .map(|(h, s)| ManifestHost {
                hostname: h.hostname.clone(),
                file: file_name(&s.output),
                size: s.size,
                sha256: s.sha256.clone(),
                template: h.template.clone(),
                ks_path: s.ks_path.clone(),
                variables: h.vars.redacted(),
                overlays: h.overlays.clone(),
                kernelopt: s.kernelopt.clone(),
                warnings: s.warnings.clone(),
            })
            .collect(),
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// SHA256SUMS (the format `sha256sum -c` reads) and manifest.json.
fn write_index(lab: &LabPlan, m: &Manifest, force: bool) -> Result<()> {
    let sums: String = m
        .hosts
        .iter()
        .map(|h| format!("{}  {}\n", h.sha256, h.file))
        .collect();
    output::write_atomic(&lab.sums_path(), sums.as_bytes(), force)?;
    let mut json = serde_json::to_vec_pretty(m).context("serializing the manifest")?;
    json.push(b'\n');
    output::write_atomic(&lab.manifest_path(), &json, force)
}

fn report(lab: &LabPlan, m: &Manifest, json: bool, quiet: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, m)?;
        writeln!(out)?;
    } else if !quiet {
        for h in &m.hosts {
            writeln!(
                out,
                "wrote {} ({} bytes)",
                lab.out_dir.join(&h.file).display(),
                h.size
            )?;
        }
        if !m.hosts.is_empty() {
            writeln!(out, "wrote {}", lab.sums_path().display())?;
            writeln!(out, "wrote {}", lab.manifest_path().display())?;
        }
    }
    Ok(())
}
