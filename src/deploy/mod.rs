//! `esxi-iso deploy`: a lab's nested ESXi hosts as VMs on a vCenter or a
//! standalone ESXi host, created, booted, watched and torn down, through
//! the vSphere Web Services API ([`crate::vsphere`]).
//!
//! A run plans first and changes nothing until the plan passes:
//! - [`local`]: the inventory's VM settings, what each host installs
//!   from (its ISO in the lab folder, or, for a host built for network
//!   install, the stock ISO `esxi-iso serve` hands mboot.efi out of), its
//!   ESXi release and guest OS id;
//! - [`target`]: the server read (license, datacenters, the VMs there,
//!   room, guest ids), every problem listed; [`place`] finds where each
//!   VM goes (cluster or host, pool, folder, datastores, port groups); [`portgroups`] checks (and with `--fix-portgroups`
//!   fixes) the port groups nested hosts need;
//!
//! then acts: [`apply`] uploads the ISOs, creates or adopts each VM
//! ([`spec`]: what nested ESXi needs, and what differs in a VM that is
//! there), powers it on; [`watch`] follows each host (install reports and
//! vSphere's view) and empties its CD once installed; [`destroy()`] tears
//! the lab down. Every step is recorded in the lab folder ([`state`]), so
//! a rerun adopts what an interrupted one made. [`report`] has the lines
//! and the `--json` documents.
//!
//! Not covered: NSX segments as NIC backings, vApps, storage policies,
//! moving a VM whose placement differs from the inventory (reported only).

pub mod apply;
pub mod destroy;
pub mod local;
pub mod place;
pub mod portgroups;
pub mod report;
pub mod spec;
pub mod state;
pub mod target;
pub mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use self::report::{DeployReport, DestroyReport, Out, Stage};
use self::state::StateFile;
use crate::failure::{self, Failure, Tag};
use crate::lab::Problem;
use crate::progress::Trace;
use crate::publish::auth::{login, Credentials};
use crate::signals;
use crate::vsphere::http::{Client, Server, Thumbprint, Trust};
use crate::vsphere::task::Wait;
use crate::vsphere::{NoSoap, Vim};
use crate::warning::Warning;

/// How long one VM task (create, power on, destroy) may take.
const TASK_TIMEOUT: Duration = Duration::from_secs(1800);

/// What `esxi-iso deploy` is asked, as given.
#[derive(Debug, Clone, Default)]
pub struct DeployRequest {
    pub inventory: PathBuf,
    pub lab_dir: PathBuf,
    pub server: String,
    pub thumbprint: Option<Thumbprint>,
    pub ca_cert: Option<PathBuf>,
    pub insecure: bool,
    /// `--host`: these hosts only (all when empty).
    pub only: Vec<String>,
    pub dry_run: bool,
    pub destroy: bool,
    pub fix_portgroups: bool,
    /// `--wait STATE`.
    pub wait: Option<String>,
    pub timeout: Duration,
    pub quiet: bool,
}

/// The request, checked before the first connection.
#[derive(Debug)]
pub struct DeployPlan {
    pub req: DeployRequest,
    pub server: Server,
    pub trust: Trust,
    pub wait: Option<Stage>,
    /// `--insecure`, and what the lab's settings earned.
    pub warnings: Vec<Warning>,
    /// The hosts and their ISOs (a deploy); None for a teardown, which
    /// needs only the lab's name.
    pub local: Option<local::Local>,
    /// The lab's name: its VMs' marker.
    pub lab: String,
}

/// Checks everything that needs no server.
pub fn plan(req: &DeployRequest) -> Result<DeployPlan> {
    let (server, trust, mut warnings) = crate::publish::connection(
        &req.server,
        req.thumbprint.as_ref(),
        req.ca_cert.as_deref(),
        req.insecure,
    )
    .tag(Failure::Usage)?;
    let wait = match &req.wait {
        None => None,
        Some(w) => Some(Stage::parse_wait(w).ok_or_else(|| {
            let names: Vec<&str> = Stage::WAITABLE.iter().map(|s| s.name()).collect();
            let near = crate::diagnostic::nearest(w, &names)
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            failure::error(
                Failure::Usage,
                format!("--wait {w:?}: give one of {}{near}", names.join(", ")),
            )
        })?),
    };
    if req.dry_run && wait.is_some() {
        return Err(failure::error(
            Failure::Usage,
            "--dry-run changes nothing, so there is nothing to wait for: drop --wait",
        ));
    }
    if req.destroy && (wait.is_some() || req.fix_portgroups) {
        return Err(failure::error(
            Failure::Usage,
            "--destroy removes the lab's VMs: --wait and --fix-portgroups do not go with it",
        ));
    }
    // A teardown finds the lab's VMs by their marker, and --host names
    // the hosts they are marked for: the VM settings (which may have
    // changed, or lost a host) are not its business.
    let (local, lab) = if req.destroy {
        // Its record of uploaded ISOs is in the folder, if there is one.
        if req.lab_dir.is_file() {
            return Err(local::not_a_folder(&req.lab_dir));
        }
        (None, local::lab_name(&req.inventory)?)
    } else {
        let l = local::read(&req.inventory, &req.lab_dir, &req.only)?;
        warnings.extend(l.warnings.iter().cloned());
        let lab = l.lab.clone();
        (Some(l), lab)
    };
    Ok(DeployPlan {
        req: req.clone(),
        server,
        trust,
        wait,
        warnings,
        local,
        lab,
    })
}

/// What a run works with.
pub struct Ctx<'a> {
    pub vim: &'a Vim<'a>,
    pub creds: &'a Credentials,
    pub lab: &'a str,
    pub lab_dir: &'a Path,
    pub out: Out<'a>,
    pub state: StateFile,
    pub quiet: bool,
    pub warnings: Vec<Warning>,
}

impl Ctx<'_> {
    /// A warning: said at once, kept for the report.
    pub fn warn(&mut self, w: Warning) {
        (self.out.warn)(&w);
        self.warnings.push(w);
    }

    /// How a VM task is waited for: Ctrl-C stops the wait.
    pub fn wait(&self) -> Wait<'static> {
        Wait {
            timeout: TASK_TIMEOUT,
            cancel: &signals::cancelled,
        }
    }
}

/// Connects and logs in; a server that is not vSphere is said so.
fn connect<'a>(plan: &DeployPlan, client: &'a Client, trace: &Trace) -> Result<Vim<'a>> {
    let vim = Vim::connect(client, &plan.server, trace.clone()).map_err(|e| {
        if e.is::<NoSoap>() {
            failure::tagged(
                Failure::Network,
                e.context("deploy needs the vSphere API of a vCenter or an ESXi host"),
            )
        } else {
            failure::tagged(Failure::Network, e)
        }
    })?;
    Ok(vim)
}

/// A deploy's outcome: the report, and the verdict of a `--wait` that
/// timed out (the report is printed first).
pub struct Deployed {
    pub report: DeployReport,
    pub verdict: Option<anyhow::Error>,
}

/// Plans against the server, then (unless a dry run) makes the lab and,
/// with `--wait`, watches it.
pub fn deploy(
    plan: &DeployPlan,
    username: Option<&str>,
    out: Out,
    trace: &Trace,
) -> Result<Deployed> {
    with_session(plan, username, out, trace, |ctx| deploy_in(plan, ctx))
}

/// Tears the lab down (`--destroy`).
pub fn destroy(
    plan: &DeployPlan,
    username: Option<&str>,
    out: Out,
    trace: &Trace,
) -> Result<DestroyReport> {
    with_session(plan, username, out, trace, |ctx| {
        let mut report = destroy::destroy(ctx, &plan.lab, &plan.req.only, plan.req.dry_run)?;
        report.warnings = std::mem::take(&mut ctx.warnings);
        Ok(report)
    })
}

/// Logs in, reads the lab folder's state for this server, runs `work`,
/// logs out.
fn with_session<T>(
    plan: &DeployPlan,
    username: Option<&str>,
    out: Out,
    trace: &Trace,
    work: impl FnOnce(&mut Ctx) -> Result<T>,
) -> Result<T> {
    let client = Client::new(plan.trust.clone())?;
    let creds = Credentials::resolve(username, &plan.server.host).tag(Failure::Usage)?;
    let vim = connect(plan, &client, trace)?;
    login(&vim, &creds).tag(Failure::Network)?;
    let about = vim.about();
    trace.say(|| {
        format!(
            "{} is {} (apiType {}, API {})",
            plan.server.host,
            about.describe(),
            about.api_type.as_deref().unwrap_or("unknown"),
            about.api_version.as_deref().unwrap_or("unknown")
        )
    });
    let key = about
        .instance_uuid
        .clone()
        .unwrap_or_else(|| plan.server.host.clone());
    let result = StateFile::open(
        &plan.req.lab_dir,
        &plan.lab,
        &key,
        &plan.server.host,
        plan.req.dry_run,
    )
    .and_then(|state| {
        let mut ctx = Ctx {
            vim: &vim,
            creds: &creds,
            lab: &plan.lab,
            lab_dir: &plan.req.lab_dir,
            out,
            state,
            quiet: plan.req.quiet,
            warnings: plan.warnings.clone(),
        };
        work(&mut ctx)
    })
    .map_err(|e| stopped(e, plan));
    vim.logout();
    result
}

/// Ctrl-C, said with where the record of what was done is.
fn stopped(err: anyhow::Error, plan: &DeployPlan) -> anyhow::Error {
    if !err.is::<signals::Interrupted>() {
        return err;
    }
    let layers: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    let said = layers[..layers.len().saturating_sub(1)].join(": ");
    anyhow::Error::new(signals::Stopped).context(format!(
        "{said}; what was done is recorded in {}, and deploy run again goes on from there",
        crate::report::state_dir(&plan.req.lab_dir)
            .join(state::STATE_FILE)
            .display()
    ))
}

fn deploy_in(plan: &DeployPlan, ctx: &mut Ctx) -> Result<Deployed> {
    let local = plan.local.as_ref().expect("a deploy reads its hosts");
    let vim = ctx.vim;
    let mut target = target::read(vim, local)?;
    for w in std::mem::take(&mut target.warnings) {
        ctx.warn(w);
    }
    let mut problems = std::mem::take(&mut target.problems);
    // NSX segments cannot be checked here: a warning, never a fix.
    let mut unsafe_pgs = Vec::new();
    for p in target.portgroups.iter().filter(|p| !p.safe) {
        if p.kind == portgroups::Kind::Nsx {
            ctx.warn(Warning::advice("portgroup-unchecked", p.problem()));
        } else if plan.req.fix_portgroups {
            unsafe_pgs.push(p.change());
        } else {
            problems.push(Problem::usage(p.problem()));
        }
    }
    let mut reports: Vec<report::HostReport> =
        target.planned.iter().map(apply::host_report).collect();
    for p in &target.planned {
        let verb = match (&p.existing, plan.req.dry_run) {
            (None, true) => "would create",
            (None, false) => "to create",
            (Some(_), true) => "would adopt",
            (Some(_), false) => "to adopt",
        };
        let what = match &p.existing {
            Some(v) => format!(
                "this lab's VM {} ({}, {})",
                v.name, v.moref.value, v.power_state
            ),
            None => format!(
                "VM {} in {} on {}, datastore {}",
                p.host.lab.vm.name,
                p.place.location(),
                p.place.compute,
                p.place.datastore.name
            ),
        };
        ctx.out.say(p.host.name(), &format!("{verb} {what}"));
    }
    if !problems.is_empty() {
        return Err(crate::lab::problems_error(
            &format!("the target {}", plan.server.host),
            &problems,
            "nothing was changed",
        ));
    }
    let mut doc = DeployReport {
        server: plan.server.host.clone(),
        lab: local.lab.clone(),
        dry_run: plan.req.dry_run,
        hosts: Vec::new(),
        portgroups: Vec::new(),
        uploads: Vec::new(),
        warnings: Vec::new(),
    };
    if plan.req.dry_run {
        for p in &unsafe_pgs {
            ctx.out.note(&format!("would fix {p}"));
        }
        doc.hosts = reports;
        doc.portgroups = target.portgroups.clone();
        doc.warnings = std::mem::take(&mut ctx.warnings);
        return Ok(Deployed {
            report: doc,
            verdict: None,
        });
    }
    if !unsafe_pgs.is_empty() {
        portgroups::fix(vim, &mut target.portgroups, &ctx.wait())
            .map_err(|e| apply::explain(e, "fixing the port groups (--fix-portgroups)"))?;
        let again = target::read(vim, local)?;
        let still: Vec<String> = again
            .portgroups
            .iter()
            .filter(|p| !p.safe && p.kind != portgroups::Kind::Nsx)
            .map(|p| p.problem())
            .collect();
        if !still.is_empty() {
            return Err(failure::error(
                Failure::Network,
                format!(
                    "{} accepted the port group changes, but they do not show: {}; nothing \
                     else was changed",
                    plan.server.host,
                    still.join("; ")
                ),
            ));
        }
        for p in target.portgroups.iter().filter(|p| p.fixed) {
            ctx.out.note(&format!(
                "fixed port group {}: nested hosts' VMs can talk through it now",
                p.name
            ));
        }
    }
    doc.uploads = apply::upload(ctx, &target.planned)?;
    for (p, r) in target.planned.iter().zip(reports.iter_mut()) {
        match &p.existing {
            None => apply::create(ctx, p, r)?,
            Some(_) => apply::adopt(ctx, p, r)?,
        };
    }
    let verdict = watch::watch(
        ctx,
        &target.planned,
        &mut reports,
        plan.wait,
        plan.req.timeout,
    )?;
    doc.hosts = reports;
    doc.portgroups = target.portgroups.clone();
    doc.warnings = std::mem::take(&mut ctx.warnings);
    Ok(Deployed {
        report: doc,
        verdict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(dir: &Path) -> DeployRequest {
        let inventory = dir.join("lab.toml");
        std::fs::write(&inventory, "[lab]\nname = 'lab1'\n").unwrap();
        DeployRequest {
            inventory,
            lab_dir: dir.join("lab"),
            server: "https://vc.example".into(),
            ..DeployRequest::default()
        }
    }

    #[test]
    fn a_wait_state_that_is_not_one_gets_the_nearest() {
        let dir = tempfile::tempdir().unwrap();
        let wait = |w: &str| {
            let req = DeployRequest {
                wait: Some(w.into()),
                ..request(dir.path())
            };
            format!("{:#}", plan(&req).unwrap_err())
        };
        let states = "powered-on, fetched, loading, kickstart-fetched, installing, installed, \
                      booted";
        assert_eq!(
            wait("bootd"),
            format!("--wait \"bootd\": give one of {states} (did you mean booted?)")
        );
        assert_eq!(
            wait("kickstart_fetched"),
            format!(
                "--wait \"kickstart_fetched\": give one of {states} (did you mean \
                 kickstart-fetched?)"
            )
        );
        assert_eq!(wait("up"), format!("--wait \"up\": give one of {states}"));
    }

    #[test]
    fn a_teardowns_lab_folder_may_be_missing_but_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let req = DeployRequest {
            destroy: true,
            ..request(dir.path())
        };
        assert_eq!(plan(&req).unwrap().lab, "lab1");
        std::fs::write(&req.lab_dir, "").unwrap();
        let err = plan(&req).unwrap_err();
        assert_eq!(failure::of(&err), Some(Failure::Input));
        assert!(
            format!("{err:#}").ends_with(
                "lab is a file, not a folder: give --lab-dir the folder the lab was built into \
                 (the --out-dir of esxi-iso build --inventory)"
            ),
            "{err:#}"
        );
    }
}
