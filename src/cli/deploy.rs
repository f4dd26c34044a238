//! `esxi-iso deploy`'s arguments and their translation into a
//! [`DeployRequest`] (kept apart from `mod.rs`, which holds every other
//! command's).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::{complete, TrustArgs};
use crate::deploy::DeployRequest;

#[derive(Debug, Args)]
#[command(
    override_usage = "esxi-iso deploy [OPTIONS] INVENTORY --lab-dir DIR --server URL\n       \
                      esxi-iso deploy --destroy INVENTORY --lab-dir DIR --server URL",
    after_help = "The password is read from ESXI_ISO_PASSWORD, or prompted for.\n\
                  VM settings come from the inventory's [defaults.vm] and [host.vm]."
)]
pub struct DeployArgs {
    /// The lab's inventory (TOML or CSV) with its VM settings
    #[arg(value_name = "INVENTORY")]
    pub inventory: PathBuf,

    /// The folder `build --inventory --out-dir` wrote (ISOs or
    /// network-install files, state)
    #[arg(long, value_name = "DIR")]
    pub lab_dir: PathBuf,

    /// vCenter or ESXi host: https://HOST or https://HOST:PORT
    // Parsed in deploy::plan, not by clap: clap's error would echo the
    // value, and a URL can carry a password.
    #[arg(long, value_name = "URL")]
    pub server: String,

    /// User to log in as
    #[arg(short, long, value_name = "USER", env = "ESXI_ISO_USERNAME")]
    pub username: Option<String>,

    /// Only this host (repeatable): of the inventory, or with --destroy,
    /// one the lab's VMs are marked for
    #[arg(long = "host", value_name = "HOSTNAME")]
    pub hosts: Vec<String>,

    /// Show what would be done, change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Power off and delete the lab's VMs (those with its marker) instead
    #[arg(long)]
    pub destroy: bool,

    /// Allow what nested hosts need on the lab's port groups
    /// (promiscuous mode or MAC learning, forged transmits)
    #[arg(long)]
    pub fix_portgroups: bool,

    /// Wait until every host reached STATE (powered-on, fetched, loading,
    /// kickstart-fetched, installing, installed, booted)
    #[arg(long, value_name = "STATE", num_args = 0..=1,
          default_missing_value = "booted",
          add = ArgValueCompleter::new(complete::deploy_stage))]
    pub wait: Option<String>,

    /// Give up waiting after this many seconds (exit 1)
    #[arg(long, value_name = "SECS", default_value_t = 3600, requires = "wait")]
    pub timeout: u64,

    #[command(flatten)]
    pub trust: TrustArgs,

    /// No progress bar
    #[arg(short, long)]
    pub quiet: bool,

    /// Show each request on stderr
    #[arg(short, long)]
    pub verbose: bool,

    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

impl DeployArgs {
    pub fn request(&self) -> DeployRequest {
        DeployRequest {
            inventory: self.inventory.clone(),
            lab_dir: self.lab_dir.clone(),
            server: self.server.clone(),
            thumbprint: self.trust.thumbprint.clone(),
            ca_cert: self.trust.ca_cert.clone(),
            insecure: self.trust.insecure,
            only: self.hosts.clone(),
            dry_run: self.dry_run,
            destroy: self.destroy,
            fix_portgroups: self.fix_portgroups,
            wait: self.wait.clone(),
            timeout: Duration::from_secs(self.timeout),
            quiet: self.quiet,
        }
    }
}
