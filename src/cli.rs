//! Command-line types (clap derive). Values are parsed into domain types
//! here where clap can do it; cross-field validation happens in each
//! command's plan step, before any byte is written.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Upload(crate::publish::UploadArgs),
    /// Write a subscribed content library (VCSP) index for a folder of ISOs
    Vcsp(crate::publish::VcspArgs),
    /// Serve a lab directory over HTTP and record install reports
    Serve(ServeArgs),
    /// Show where each host of a lab stands (or wait for it)
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// ESXi installer ISO, or a directory from `extract` (never modified)
    #[arg(value_name = "SOURCE")]
    pub source: PathBuf,

    /// Output ISO [default: <source stem>-ks.iso in the current directory]
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

    /// Where the kickstart goes on the ISO: an uppercase ISO9660 8.3 path
    #[arg(long, value_name = "PATH", default_value = "/KS.CFG")]
    pub ks_path: String,

    /// Kickstart file, copied verbatim; a name ending in .tera is rendered
    #[arg(short, long, value_name = "FILE")]
    pub kickstart: Option<PathBuf>,

    /// Template variable (repeatable); overrides --vars
    #[arg(long = "set", value_name = "KEY=VALUE")]
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
    #[arg(long, value_name = "DIR|NAME")]
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

    /// Skip linting the kickstart before injecting it
    #[arg(long)]
    pub no_lint: bool,

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
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
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
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Lab directory that `esxi-iso serve` serves
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,

    /// Wait until every host reached STATE (fetched, installing,
    /// installed, booted)
    #[arg(long, value_name = "STATE", num_args = 0..=1,
          default_missing_value = "booted")]
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
    Vars,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Built-in template name (nested-lab, minimal) or a template file
    #[arg(long, value_name = "NAME|FILE", default_value = "nested-lab")]
    pub template: String,

    /// Template variable (repeatable); overrides --vars
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,

    /// TOML file of template variables
    #[arg(long, value_name = "FILE.toml")]
    pub vars: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Kickstart files to check
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
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
