//! Command-line types (clap derive), and their translation into the
//! library's plain requests ([`build::Request`], [`LabRequest`],
//! [`PackRequest`], ...): the only module of the library that knows clap
//! (`cmd::completions` and `cmd::man` render these definitions). Values
//! are parsed into domain types here where clap can do it; cross-field
//! validation happens in each request's plan step, before any byte is
//! written. [`complete`] holds the shell completion side; `deploy.rs`
//! holds [`DeployArgs`].

pub mod complete;
mod deploy;

pub use deploy::DeployArgs;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand};
use clap_complete::engine::ArgValueCompleter;

use crate::build;
use crate::lab::LabRequest;
use crate::publish::UploadRequest;
use crate::tree::pack::PackRequest;
use crate::vsphere::http::Thumbprint;

#[derive(Debug, Parser)]
#[command(
    name = "esxi-iso",
    version,
    about = "Build unattended VMware ESXi installer ISOs",
    long_about = "Build unattended VMware ESXi installer ISOs: inject a Kickstart \
                  script and boot.cfg options into a stock installer ISO, offline, \
                  for BIOS and UEFI boot."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses the process's arguments, exiting with clap's help or usage
    /// error. Help and errors are styled only where anstream's `Auto`
    /// would, and never with `TERM=dumb`: anstream styles a dumb terminal
    /// when `CI` is set.
    pub fn parse_args() -> Cli {
        use clap::{ColorChoice, CommandFactory, FromArgMatches};
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let mut command = Cli::command();
        if dumb {
            command = command.color(ColorChoice::Never);
        }
        let mut matches = command.get_matches();
        Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.exit())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Repack an ESXi installer ISO with an injected kickstart
    Build(BuildArgs),
    /// Show the boot setup and kickstart of an ESXi installer ISO
    Inspect(InspectArgs),
    /// Check an ISO's structure, boot setup and kickstart
    Verify(VerifyArgs),
    /// Render, lint and list kickstart templates
    #[command(subcommand)]
    Kickstart(KickstartCommand),
    /// Write every file of an ISO to a directory, for `pack`
    Extract(ExtractArgs),
    /// Master a new bootable ISO from a directory
    Pack(PackArgs),
    /// Upload ISOs to a datastore or a content library
    Upload(UploadArgs),
    /// Write a subscribed content library (VCSP) index for a folder of ISOs
    Vcsp(VcspArgs),
    /// Serve a lab directory over HTTP and record install reports
    Serve(ServeArgs),
    /// Show where each host of a lab stands (or wait for it)
    Status(StatusArgs),
    /// Create, boot and watch a lab's hosts as nested ESXi VMs (or tear
    /// them down)
    Deploy(DeployArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(CompletionsArgs),
    /// Write man pages: esxi-iso.1 and one per subcommand
    Man(ManArgs),
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("served").args(["report_to", "netboot"]).multiple(true)))]
pub struct BuildArgs {
    /// ESXi installer ISO, or a directory from `extract` (never modified)
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,

    /// Output ISO, or a folder for it [default: <source stem>-ks.iso here]
    #[arg(short, long, value_name = "OUTPUT_ISO", conflicts_with = "inventory")]
    pub output: Option<PathBuf>,

    /// Build one ISO per host of a TOML or CSV inventory (needs --out-dir)
    #[arg(long, value_name = "FILE", requires = "out_dir")]
    pub inventory: Option<PathBuf>,

    /// Directory for the inventory's ISOs, SHA256SUMS and manifest.json
    #[arg(long, value_name = "DIR", requires = "inventory")]
    pub out_dir: Option<PathBuf>,

    /// Hosts built at once [default: the number of CPUs]
    #[arg(short, long, value_name = "N", requires = "inventory",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,

    /// Build the other hosts when one fails (their outputs are kept)
    #[arg(long, requires = "inventory")]
    pub keep_going: bool,

    /// Build only this host of the inventory (repeatable); the index files
    /// keep the other hosts' entries
    #[arg(long = "host", value_name = "HOSTNAME", requires = "inventory")]
    pub hosts: Vec<String>,

    /// Where the kickstart goes on the ISO: an uppercase ISO9660 8.3 path
    #[arg(long, value_name = "PATH", default_value = "/KS.CFG")]
    pub ks_path: String,

    /// Kickstart file, copied verbatim; a name ending in .tera is rendered
    #[arg(short, long, value_name = "FILE")]
    pub kickstart: Option<PathBuf>,

    /// Template variable (repeatable); overrides --vars
    #[arg(long = "set", value_name = "KEY=VALUE",
          add = ArgValueCompleter::new(complete::variable))]
    pub set: Vec<String>,

    /// TOML file of template variables
    #[arg(long, value_name = "FILE.toml")]
    pub vars: Option<PathBuf>,

    /// Add or replace a kernel option in both BOOT.CFG files (repeatable)
    #[arg(long = "boot-opt", value_name = "KEY[=VALUE]")]
    pub boot_opt: Vec<String>,

    /// Remove a kernel option from both BOOT.CFG files (repeatable)
    #[arg(long = "remove-boot-opt", value_name = "KEY")]
    pub remove_boot_opt: Vec<String>,

    /// Overlay folder (iso/, ramdisk/) or shipped overlay name (repeatable)
    #[arg(long, value_name = "DIR|NAME",
          add = ArgValueCompleter::new(complete::overlay))]
    pub overlay: Vec<String>,

    /// Let overlay files replace files of the source ISO
    #[arg(long)]
    pub replace_vendor_files: bool,

    /// Put the kickstart in the overlay ramdisk module (ks=file:///ks.cfg)
    #[arg(long, conflicts_with = "ks_path")]
    pub ks_in_ramdisk: bool,

    /// Targets boot with UEFI Secure Boot: refuse adding boot modules
    #[arg(long)]
    pub secure_boot: bool,

    /// Kickstart reports install progress to `esxi-iso serve` at this URL
    #[arg(long, value_name = "URL")]
    pub report_to: Option<String>,

    /// Accept a loopback or link-local --report-to or --netboot URL
    #[arg(long, requires = "served")]
    pub allow_local_report: bool,

    /// Make the inventory's hosts install over the network from SOURCE,
    /// served by `esxi-iso serve` at this URL: no ISO per host
    #[arg(long, value_name = "URL", requires = "inventory",
          conflicts_with_all = ["ks_in_ramdisk", "overlay", "ks_path", "jobs",
                                "keep_going", "replace_vendor_files"])]
    pub netboot: Option<String>,

    /// With --netboot: unknown MACs boot the installer without a kickstart
    /// (default: they get 404)
    #[arg(long, requires = "netboot")]
    pub netboot_interactive: bool,

    /// Do not show warnings with this code (repeatable, or comma-separated)
    #[arg(long, value_name = "CODE")]
    pub allow: Vec<String>,

    /// Skip linting the kickstart before injecting it
    #[arg(long)]
    pub no_lint: bool,

    /// Overwrite an existing output
    #[arg(short, long)]
    pub force: bool,

    /// No progress bar
    #[arg(short, long)]
    pub quiet: bool,

    /// Describe each step on stderr (plan, layout, copy)
    #[arg(short, long)]
    pub verbose: bool,

    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

impl BuildArgs {
    /// What to put on the ISO: the same for one build and every lab host.
    pub fn inputs(&self) -> build::Inputs {
        build::Inputs {
            ks_path: self.ks_path.clone(),
            kickstart: self.kickstart.clone(),
            set: self.set.clone(),
            vars: self.vars.clone(),
            boot_opts: self.boot_opt.clone(),
            remove_boot_opts: self.remove_boot_opt.clone(),
            overlays: self.overlay.clone(),
            replace_vendor_files: self.replace_vendor_files,
            ks_in_ramdisk: self.ks_in_ramdisk,
            secure_boot: self.secure_boot,
            lint: !self.no_lint,
            force: self.force,
            report_to: self.report_to.clone(),
            allow_local_report: self.allow_local_report,
            allow: self.allow.clone(),
        }
    }

    /// One build (no `--inventory`).
    pub fn request(&self) -> build::Request {
        build::Request {
            source: self.source.clone(),
            output: self.output.clone(),
            inputs: self.inputs(),
        }
    }

    /// A lab (`--inventory` with `--out-dir`).
    pub fn lab_request(&self) -> Result<LabRequest> {
        Ok(LabRequest {
            source: self.source.clone(),
            inventory: self.inventory.clone().context("no --inventory given")?,
            out_dir: self
                .out_dir
                .clone()
                .context("--inventory needs --out-dir")?,
            inputs: self.inputs(),
            jobs: self.jobs.map(usize::from),
            keep_going: self.keep_going,
            only: self.hosts.clone(),
            trace: Default::default(),
            netboot: self.netboot.is_some(),
        })
    }
}

impl BuildArgs {
    /// `--netboot URL` and its options, when given.
    pub fn netboot_request(&self) -> Option<crate::netboot::Request> {
        Some(crate::netboot::Request {
            url: self.netboot.clone()?,
            interactive: self.netboot_interactive,
            allow_local: self.allow_local_report,
        })
    }
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// ISO to inspect (metadata only is read)
    #[arg(value_name = "ISO")]
    pub iso: PathBuf,

    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// ISO to read (never modified)
    #[arg(value_name = "ISO")]
    pub iso: PathBuf,

    /// Directory to write; created if missing, must be empty
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Write into a non-empty directory, replacing files
    #[arg(short, long)]
    pub force: bool,

    /// No progress bar or summary
    #[arg(short, long)]
    pub quiet: bool,

    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// Directory to pack (from `extract`, or laid out like ESXi media)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Output ISO
    #[arg(short, long, value_name = "OUTPUT_ISO")]
    pub output: PathBuf,

    /// Volume id [default: from .esxi-iso.toml, or ESXI]
    #[arg(long, value_name = "ID")]
    pub volid: Option<String>,

    /// Add Rock Ridge names [default: as recorded]
    #[arg(long)]
    pub rock_ridge: bool,

    /// Add a Joliet tree [default: as recorded]
    #[arg(long)]
    pub joliet: bool,

    /// No Rock Ridge or Joliet, even if recorded
    #[arg(long, conflicts_with_all = ["rock_ridge", "joliet"])]
    pub plain: bool,

    /// Treat boot.cfg and boot image problems as errors
    #[arg(long)]
    pub strict: bool,

    /// Overwrite an existing output
    #[arg(short, long)]
    pub force: bool,

    /// No progress bar
    #[arg(short, long)]
    pub quiet: bool,

    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

impl PackArgs {
    pub fn request(&self) -> PackRequest {
        PackRequest {
            dir: self.dir.clone(),
            output: self.output.clone(),
            volume_id: self.volid.clone(),
            rock_ridge: self.rock_ridge,
            joliet: self.joliet,
            plain: self.plain,
            strict: self.strict,
            force: self.force,
        }
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// ISO to check (normally one esxi-iso built)
    #[arg(value_name = "ISO")]
    pub iso: PathBuf,

    /// Also check that every file esxi-iso does not change is byte-identical
    /// to this source ISO's
    #[arg(long, value_name = "SOURCE_ISO")]
    pub source: Option<PathBuf>,

    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Lab directory (from `build --inventory` or `vcsp`); never written
    /// except its state folder .esxi-iso/
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Address and port to listen on (0.0.0.0:8080 for VMs to reach it)
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080",
          value_parser = parse_listen)]
    pub listen: std::net::SocketAddr,

    /// Serve HTTPS with this PEM certificate chain (needs --tls-key)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Connections served at once; more wait
    #[arg(long, value_name = "N", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub max_connections: u32,

    /// Seconds a client may stay silent or take to send its request
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,

    /// No access log on stderr
    #[arg(short, long)]
    pub quiet: bool,

    /// JSON lines on stdout: start-up, then one per request
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Lab directory that `esxi-iso serve` serves
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Wait until every host reached STATE (fetched, loading,
    /// kickstart-fetched, installing, installed, booted)
    #[arg(long, value_name = "STATE", num_args = 0..=1,
          default_missing_value = "booted",
          add = ArgValueCompleter::new(complete::state))]
    pub wait: Option<String>,

    /// Give up waiting after this many seconds (exit 1)
    #[arg(long, value_name = "SECS", default_value_t = 3600, requires = "wait")]
    pub timeout: u64,

    /// Ignore events before this Unix time (e.g. `date +%s` before a run)
    #[arg(long, value_name = "UNIX_SECS")]
    pub since: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum KickstartCommand {
    /// Print a rendered kickstart
    Render(RenderArgs),
    /// Check kickstart files against the ESXi installer's rules
    Lint(LintArgs),
    /// List the template variables
    Vars(VarsArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Built-in template name (nested-lab, minimal) or a template file
    #[arg(long, value_name = "NAME|FILE", default_value = "nested-lab",
          add = ArgValueCompleter::new(complete::template))]
    pub template: String,

    /// Template variable (repeatable); overrides --vars
    #[arg(long = "set", value_name = "KEY=VALUE",
          add = ArgValueCompleter::new(complete::variable))]
    pub set: Vec<String>,

    /// TOML file of template variables
    #[arg(long, value_name = "FILE.toml")]
    pub vars: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Kickstart files to check (- reads standard input)
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VarsArgs {
    /// A template (built-in name or .tera file): list what it reads
    /// [default: every variable of the built-in templates]
    #[arg(value_name = "NAME|FILE", add = ArgValueCompleter::new(complete::template))]
    pub template: Option<String>,

    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// How the server's certificate is trusted (`upload`, `deploy`): one of
/// the three, or the built-in roots.
#[derive(Debug, Args)]
#[group(id = "trust", multiple = false)]
pub struct TrustArgs {
    /// Trust the certificate with this SHA-1 thumbprint
    #[arg(long, value_name = "SHA1", value_parser = Thumbprint::parse)]
    pub thumbprint: Option<Thumbprint>,

    /// Trust certificates signed by the CA in this PEM file
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Do not verify the certificate (prints a warning)
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["datastore", "library"])))]
#[command(
    override_usage = "esxi-iso upload [OPTIONS] --server URL --datastore NAME ISO...\n       \
                      esxi-iso upload [OPTIONS] --server URL --library NAME ISO...",
    after_help = "The password is read from ESXI_ISO_PASSWORD, or prompted for.\n\
                  Thumbprints look like SHA1:AB:CD:..:EF (40 hex digits)."
)]
pub struct UploadArgs {
    /// ISO files to upload
    #[arg(value_name = "ISO", required = true)]
    pub isos: Vec<PathBuf>,

    /// ESXi host or vCenter: https://HOST or https://HOST:PORT
    // Parsed in plan_upload, not by clap: clap's error would echo the value,
    // and a URL can carry a password.
    #[arg(long, value_name = "URL")]
    pub server: String,

    /// User to log in as
    #[arg(short, long, value_name = "USER", env = "ESXI_ISO_USERNAME")]
    pub username: Option<String>,

    /// Datastore to upload to (/folder file API)
    #[arg(long, value_name = "NAME")]
    pub datastore: Option<String>,

    /// Datacenter of the datastore [default: the one that holds it; on a
    /// host ha-datacenter]
    #[arg(long, value_name = "NAME", requires = "datastore")]
    pub datacenter: Option<String>,

    /// Datastore folder to upload into (must exist)
    #[arg(long, value_name = "PATH", requires = "datastore")]
    pub folder: Option<String>,

    /// vCenter content library to upload to
    #[arg(long, value_name = "NAME")]
    pub library: Option<String>,

    /// Library item name [default: ISO name without .iso]
    #[arg(long, value_name = "NAME", requires = "library")]
    pub item: Option<String>,

    /// Replace an existing file, or the files of an existing library item
    #[arg(short, long)]
    pub force: bool,

    /// Skip ISOs already there that hold the same bytes (a datastore file
    /// is read back; a library item's SHA-1 is compared); with --force,
    /// replace the others
    #[arg(long)]
    pub skip_existing: bool,

    #[command(flatten)]
    pub trust: TrustArgs,

    /// No progress bar
    #[arg(short, long)]
    pub quiet: bool,

    /// Show the API used and each request on stderr
    #[arg(short, long)]
    pub verbose: bool,

    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VcspArgs {
    /// Folder of ISOs; lib.json, items.json and ITEM/item.json go there
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Library name [default: the folder's name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Load it in the shell's start-up file, e.g. for bash:\n  \
                        source <(esxi-iso completions bash)\n\
                        docs/cli.md lists the file to write it to for each shell."
)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory for the pages; created if missing (e.g.
    /// ~/.local/share/man/man1)
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Overwrite existing pages
    #[arg(short, long)]
    pub force: bool,
}

impl UploadArgs {
    pub fn request(&self) -> UploadRequest {
        UploadRequest {
            isos: self.isos.clone(),
            server: self.server.clone(),
            username: self.username.clone(),
            datastore: self.datastore.clone(),
            datacenter: self.datacenter.clone(),
            folder: self.folder.clone(),
            library: self.library.clone(),
            item: self.item.clone(),
            force: self.force,
            skip_existing: self.skip_existing,
            thumbprint: self.trust.thumbprint.clone(),
            ca_cert: self.trust.ca_cert.clone(),
            insecure: self.trust.insecure,
            quiet: self.quiet,
            json: self.json,
        }
    }
}

/// `--listen ADDR:PORT`: an IP address and a port; a port alone or a
/// host name gets an error that shows the form (a name could resolve to
/// several addresses, and serve binds one).
fn parse_listen(s: &str) -> Result<std::net::SocketAddr, String> {
    s.parse().map_err(|_| {
        let port = s.rsplit(':').next().filter(|p| p.parse::<u16>().is_ok());
        let example = port.unwrap_or("8080");
        format!(
            "give an IP address and a port, such as 0.0.0.0:{example} (every address: VMs \
             reach it) or 127.0.0.1:{example} (this machine only); [::]:{example} for IPv6"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_fits_80_columns() {
        let mut cmd = Cli::command().term_width(80);
        let mut names = vec![None];
        names.extend(
            cmd.get_subcommands()
                .map(|s| Some(s.get_name().to_string())),
        );
        for name in names {
            let help = match &name {
                None => cmd.render_help().to_string(),
                Some(n) => cmd
                    .find_subcommand_mut(n)
                    .unwrap()
                    .render_help()
                    .to_string(),
            };
            for line in help.lines() {
                assert!(line.chars().count() <= 80, "{name:?}: {line:?}");
            }
        }
    }
}
