//! Building every host of a lab: a bounded pool of threads shares one
//! parse of the source, in inventory order. Without --keep-going the first
//! failing host stops the others (through `build::Options::cancel`) and
//! [`Run::remove_outputs`] removes every file this run created; with it,
//! the others finish. A file is "created by this run" when its inode
//! differs from the one seen before the run, so a file that a --force run
//! had not yet replaced is left alone.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::LabPlan;
use crate::build::{self, BuildSummary, Options};
use crate::esxi::Media;
use crate::iso::IsoImage;
use crate::output;
use crate::progress::{self, Notify};
use crate::signals;
use crate::warning::Warning;

pub enum Outcome {
    Built(BuildSummary),
    Failed(anyhow::Error),
    /// Not started, or stopped because another host failed.
    Stopped,
}

/// Builds every host on up to `jobs` threads, in inventory order. The
/// source is opened once; workers share it (reads are positioned).
pub fn build_all(
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
pub struct Run {
    before: HashMap<PathBuf, Option<(u64, u64)>>,
    out_dir: PathBuf,
    created_dir: bool,
}

impl Run {
    pub fn start(lab: &LabPlan) -> Result<Run> {
        let mut paths = vec![lab.sums_path(), lab.manifest_path()];
        for h in &lab.hosts {
            paths.push(h.build.output.clone());
            paths.push(output::checksum_path(&h.build.output));
        }
        let before = paths
            .into_iter()
            .map(|p| {
                let id = identity(&p);
                (p, id)
            })
            .collect();
        let created_dir = !lab.out_dir.exists();
        // Its parent was checked when the lab was planned.
        std::fs::create_dir_all(&lab.out_dir)
            .with_context(|| format!("creating {}", lab.out_dir.display()))?;
        Ok(Run {
            before,
            out_dir: lab.out_dir.clone(),
            created_dir,
        })
    }

    /// Removes every file this run created, and DIR if it made it.
    pub fn remove_outputs(&self, notify: Notify<'_>) {
        for (path, before) in &self.before {
            let now = identity(path);
            if now.is_some() && now != *before {
                if let Err(e) = std::fs::remove_file(path) {
                    let w = Warning::advice(
                        "cleanup-failed",
                        format!("removing {}: {e}: remove it by hand", path.display()),
                    );
                    notify(&w.render());
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
