//! A lab: one ISO per host of an inventory (`build SOURCE --inventory
//! lab.toml --out-dir DIR`), from a single parse of the source.
//!
//! - [`inventory`] reads the TOML or CSV file as written;
//! - [`resolve`] merges each host over the defaults and the command line
//!   into a [`HostPlan`], collecting every problem of every host; nothing
//!   is written when there is any;
//! - [`runner`] builds the hosts on a bounded pool of threads and removes
//!   this run's outputs when it fails;
//! - [`index`] updates SHA256SUMS and manifest.json: this run's hosts
//!   replace their entries, the others' stay while their ISOs do;
//! - [`vm`] reads the VM each host runs in (the `vm` tables), which a
//!   build checks too, and [`vmplan`] resolves them for `deploy`
//!   ([`vmplan::read_lab`]).
//!
//! [`plan`] does the first two, [`run`] the others. Each host is an
//! ordinary [`crate::build`] of one output.

pub mod index;
pub mod inventory;
pub mod mac;
pub mod resolve;
pub mod runner;
pub mod vm;
pub mod vmplan;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::{bail, Result};

use crate::build::{BuildSummary, HostBuild, Inputs, Options};
use crate::failure::{self, Failure, Tag};
use crate::kickstart::Vars;
use crate::progress::{Notify, Trace};
use crate::warning::{Allow, Warning};
use crate::{esxi, output, signals};
use index::LabManifest;
use runner::{build_all, Outcome, Run};

pub const SUMS_FILE: &str = "SHA256SUMS";
pub const MANIFEST_FILE: &str = "manifest.json";

/// What `esxi-iso build --inventory` is asked.
#[derive(Debug, Clone)]
pub struct LabRequest {
    pub source: PathBuf,
    pub inventory: PathBuf,
    pub out_dir: PathBuf,
    /// The command line's share of every host.
    pub inputs: Inputs,
    /// Hosts built at once; None: the number of CPUs.
    pub jobs: Option<usize>,
    /// Build the other hosts when one fails (their outputs are kept).
    pub keep_going: bool,
    /// `--host`: build only these hosts (all when empty).
    pub only: Vec<String>,
    /// `--verbose`: each host's steps (see [`crate::build::Options`]).
    pub trace: Trace,
    /// `--netboot`: the hosts install over the network; no ISO is built
    /// (see `crate::netboot`).
    pub netboot: bool,
}

impl LabRequest {
    /// Hosts built at once: `--jobs`, else the number of CPUs.
    pub fn jobs(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// One host, resolved and checked.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub hostname: String,
    /// The template as named in the inventory or on the command line.
    pub template: String,
    /// All variables after merging (secrets included: use `redacted()`).
    pub vars: Vars,
    pub overlays: Vec<String>,
    pub build: HostBuild,
    /// What the plan found about the host's kickstart (`--allow` applied).
    pub warnings: Vec<Warning>,
    /// The boot NIC's MAC, when the inventory gives one (`mac`, else
    /// the first of `vm.macs`, NIC 0 of the host's VM).
    pub mac: Option<mac::Mac>,
}

/// The lab, ready to build: the hosts of this run (all of the inventory,
/// or those of `--host`), every one checked.
#[derive(Debug, Clone)]
pub struct LabPlan {
    /// `[lab] name`, or the inventory's file name without extension.
    pub name: String,
    pub hosts: Vec<HostPlan>,
    pub out_dir: PathBuf,
    /// `--report-to`: its secret is stored when the build starts.
    pub report: Option<crate::report::Reporter>,
    /// `--host`: the hosts asked for (empty: all).
    pub only: Vec<String>,
    /// The folder's index before this run, merged into the new one.
    pub index: Option<index::Previous>,
    /// `--allow`, for the warnings of the builds.
    pub allow: Allow,
}

impl LabPlan {
    pub fn sums_path(&self) -> PathBuf {
        self.out_dir.join(SUMS_FILE)
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.out_dir.join(MANIFEST_FILE)
    }
}

/// One thing wrong with an inventory, and what kind of failure it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub failure: Failure,
    pub text: String,
}

impl Problem {
    pub fn usage(text: impl Into<String>) -> Problem {
        Problem {
            failure: Failure::Usage,
            text: text.into(),
        }
    }
}

/// The failure a list of problems ends in: their kind when they share
/// one, else a usage error.
/// `WHAT has N problems; DONE:` and one line per problem, as one error:
/// of the problems' kind when they share one, else a usage error (for
/// `build` and `deploy`).
pub fn problems_error(what: &str, problems: &[Problem], done: &str) -> anyhow::Error {
    let kind = match problems.split_first() {
        Some((first, rest)) if rest.iter().all(|p| p.failure == first.failure) => first.failure,
        _ => Failure::Usage,
    };
    let lines: Vec<&str> = problems.iter().map(|p| p.text.as_str()).collect();
    failure::error(
        kind,
        format!(
            "{what} has {} problem{}; {done}:\n  {}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            lines.join("\n  ")
        ),
    )
}

/// What a run built, and which hosts failed (with --keep-going).
#[derive(Debug)]
pub struct LabReport {
    /// The index after the run: this run's hosts and those kept.
    pub manifest: LabManifest,
    /// This run's hosts that were built: (hostname, summary).
    pub built: Vec<(String, BuildSummary)>,
    /// What changed in the index besides this run's hosts.
    pub changes: index::Changes,
    /// `hostname: error`, one per failed host.
    pub failed: Vec<String>,
    pub hosts: usize,
}

impl LabReport {
    /// The error to end with when some hosts failed.
    pub fn failure(&self) -> Option<anyhow::Error> {
        if self.failed.is_empty() {
            return None;
        }
        Some(anyhow::anyhow!(
            "{} of {} hosts failed; the others were written:\n  {}",
            self.failed.len(),
            self.hosts,
            self.failed.join("\n  ")
        ))
    }
}

/// Reads, resolves and checks the inventory: every problem at once.
pub fn plan(req: &LabRequest) -> Result<LabPlan> {
    let path = &req.inventory;
    let inv = inventory::read(path)?;
    let mut common =
        resolve::Common::from_inputs(&req.inputs, path, req.out_dir.clone(), &req.only)
            .tag(Failure::Usage)?;
    common.netboot = req.netboot;
    let mut plan = resolve::resolve(&inv, &common).map_err(|problems| {
        problems_error(
            &path.display().to_string(),
            &problems,
            "nothing was written",
        )
    })?;
    plan.index = index::read_previous(&req.out_dir)?;
    Ok(plan)
}

/// Opens the source once and builds every host of `lab`, then writes the
/// index files. Per-host warnings and cleanup failures go to `notify`.
pub fn run(
    req: &LabRequest,
    lab: &LabPlan,
    show_progress: bool,
    notify: Notify<'_>,
) -> Result<LabReport> {
    let (img, media) = esxi::open_installer(&req.source)?;
    let run = Run::start(lab)?;
    if let Some(r) = &lab.report {
        r.persist()?;
    }
    let opts = Options {
        source_date_epoch: output::source_date_epoch()?,
        force: req.inputs.force,
        cancel: Some(Arc::new(AtomicBool::new(false))),
        trace: req.trace.clone(),
    };
    let jobs = req.jobs();
    let outcomes = build_all(
        &img,
        &media,
        lab,
        &opts,
        jobs,
        req.keep_going,
        show_progress,
    );

    if signals::cancelled() {
        run.remove_outputs(notify);
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
    if !failed.is_empty() && !req.keep_going {
        run.remove_outputs(notify);
        bail!(
            "{}\nstopped the other hosts and removed this run's outputs \
             (pass --keep-going to build the others anyway)",
            failed.join("\n")
        );
    }
    let mut built = Vec::new();
    let mut entries = Vec::new();
    for (h, o) in lab.hosts.iter().zip(outcomes) {
        let Outcome::Built(mut s) = o else { continue };
        for w in lab.allow.filter(std::mem::take(&mut s.warnings)) {
            notify(&w.render_for(Some(&h.hostname)));
            s.warnings.push(w);
        }
        let mut all = h.warnings.clone();
        all.extend(s.warnings.iter().cloned());
        s.warnings = all;
        entries.push(index::built_entry(&req.source, h, &s));
        built.push((h.hostname.clone(), s));
    }
    let (manifest, changes) = index::merge(&req.source, &lab.out_dir, lab.index.as_ref(), entries);
    if !built.is_empty() {
        if let Err(e) = index::write_index(lab, &manifest) {
            if !req.keep_going {
                run.remove_outputs(notify);
            }
            return Err(e);
        }
    }
    Ok(LabReport {
        manifest,
        built,
        changes,
        failed,
        hosts: lab.hosts.len(),
    })
}
