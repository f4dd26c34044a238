//! What deploy tells: a line per host and step as it happens (created,
//! powered on, loading and kickstart-fetched for a network install,
//! installing, installed, detached, booted), through an
//! [`Out`] the command prints, and the reports it returns, which are the
//! `--json` documents (README, "JSON output": `deploy` and
//! `deploy-destroy`).

use serde::Serialize;

use super::portgroups::PortGroup;
use crate::warning::Warning;

/// Where a host stands, from what deploy did, what vSphere says of its VM
/// and what the host reported (`esxi-iso status`'s states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// A dry run, or not created yet.
    Planned,
    Created,
    PoweredOff,
    PoweredOn,
    /// Its ISO was downloaded from `esxi-iso serve` (HTTP boot).
    Fetched,
    /// Network install: `esxi-iso serve` saw it load its first module.
    Loading,
    /// Network install: its installer fetched the kickstart.
    KickstartFetched,
    Installing,
    Installed,
    Booted,
}

impl Stage {
    pub const WAITABLE: [Stage; 7] = [
        Stage::PoweredOn,
        Stage::Fetched,
        Stage::Loading,
        Stage::KickstartFetched,
        Stage::Installing,
        Stage::Installed,
        Stage::Booted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Planned => "planned",
            Stage::Created => "created",
            Stage::PoweredOff => "powered-off",
            Stage::PoweredOn => "powered-on",
            Stage::Fetched => "fetched",
            Stage::Loading => "loading",
            Stage::KickstartFetched => "kickstart-fetched",
            Stage::Installing => "installing",
            Stage::Installed => "installed",
            Stage::Booted => "booted",
        }
    }

    /// A state `--wait` takes.
    pub fn parse_wait(s: &str) -> Option<Stage> {
        Stage::WAITABLE.into_iter().find(|x| x.name() == s)
    }
}

/// One host of the run.
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    pub host: String,
    pub vm: String,
    /// The VM's managed object id; null before it exists.
    pub moref: Option<String>,
    /// `create` or `adopt` (what was done, or would be with --dry-run).
    pub action: &'static str,
    pub state: Stage,
    pub datacenter: String,
    /// Below the datacenter's VM folder; empty for the folder itself.
    pub folder: String,
    /// The cluster or host.
    pub compute: String,
    pub datastore: String,
    pub guest_id: String,
    pub macs: Vec<String>,
    /// `cdrom` or `http`.
    pub boot: &'static str,
    /// The datastore path of its ISO, or the URL its firmware boots.
    pub iso: String,
    pub detached: bool,
    /// The management address, reported or seen by VMware Tools.
    pub address: Option<String>,
    /// What the VM has that the inventory does not say (not changed).
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UploadReport {
    pub host: String,
    pub path: String,
    pub size: u64,
    /// Of the bytes sent; null when skipped.
    pub sha256: Option<String>,
    /// There already, from an earlier run.
    pub skipped: bool,
    pub replaced: bool,
}

/// `--json` of a deploy.
#[derive(Debug, Serialize)]
pub struct DeployReport {
    pub server: String,
    pub lab: String,
    pub dry_run: bool,
    pub hosts: Vec<HostReport>,
    pub portgroups: Vec<PortGroup>,
    pub uploads: Vec<UploadReport>,
    pub warnings: Vec<Warning>,
}

/// A VM a teardown removed (or would, with --dry-run).
#[derive(Debug, Clone, Serialize)]
pub struct Destroyed {
    pub host: String,
    pub vm: String,
    pub moref: String,
    pub datacenter: String,
    /// It was on, and was powered off first.
    pub powered_off: bool,
}

/// `--json` of `--destroy`.
#[derive(Debug, Serialize)]
pub struct DestroyReport {
    pub server: String,
    pub lab: String,
    pub dry_run: bool,
    pub destroyed: Vec<Destroyed>,
    /// ISOs deploy had uploaded for them, deleted.
    pub isos_deleted: Vec<String>,
    pub warnings: Vec<Warning>,
}

/// Where the progress lines and warnings go, as they happen: the command
/// prints them (lines on stdout unless `--json`, warnings on stderr).
#[derive(Clone, Copy)]
pub struct Out<'a> {
    pub line: &'a dyn Fn(&str),
    pub warn: &'a dyn Fn(&Warning),
}

impl Out<'_> {
    /// `HOST: WHAT`.
    pub fn say(&self, host: &str, what: &str) {
        (self.line)(&format!("{host}: {what}"));
    }

    /// A line about the run as a whole.
    pub fn note(&self, what: &str) {
        (self.line)(what);
    }
}
