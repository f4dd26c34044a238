//! Publishing ISOs: `upload` to a datastore (the `/folder` HTTP file API of
//! ESXi and vCenter) or to a vCenter content library (the vSphere
//! Automation API, `/api` forms first and `/rest` where a vCenter predates
//! them), and `vcsp`, which turns a folder of ISOs into a subscribed
//! content library that any static web server can host.
//!
//! Layout: [`http`] (client, TLS trust, URL quoting), [`auth`]
//! (credentials), [`datastore`], [`vapi`] (the two URL forms, login and
//! calls), [`library`] (the upload steps), [`report`] (text and `--json`
//! output), [`vcsp`]. Not covered: the SOAP API (no `vmware_soap_session`
//! cookie login: `/folder` takes HTTP basic authentication on ESXi and
//! vCenter alike), OVF/OVA items.

pub mod auth;
pub mod datastore;
pub mod http;
pub mod library;
pub mod report;
pub mod vapi;
pub mod vcsp;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Args};
use indicatif::{ProgressBar, ProgressStyle};

use self::auth::Credentials;
use self::http::{Client, Server, Thumbprint, Trust};
use self::report::Report;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["datastore", "library"])))]
#[command(group(ArgGroup::new("trust").args(["thumbprint", "ca_cert", "insecure"])))]
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

    /// ESXi host or vCenter: https://HOST[:PORT]
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

    /// Datacenter of the datastore
    #[arg(long, value_name = "NAME", default_value = "ha-datacenter")]
    pub datacenter: String,

    /// Datastore folder to upload into (must exist)
    #[arg(long, value_name = "PATH", requires = "datastore")]
    pub folder: Option<String>,

    /// vCenter content library to upload to
    #[arg(long, value_name = "NAME")]
    pub library: Option<String>,

    /// Library item name [default: ISO name without .iso]
    #[arg(long, value_name = "NAME", requires = "library")]
    pub item: Option<String>,

    /// Replace an existing file or library item
    #[arg(short, long)]
    pub force: bool,

    /// Trust the certificate with this SHA-1 thumbprint
    #[arg(long, value_name = "SHA1", value_parser = Thumbprint::parse)]
    pub thumbprint: Option<Thumbprint>,

    /// Trust certificates signed by the CA in this PEM file
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Do not verify the certificate (prints a warning)
    #[arg(long)]
    pub insecure: bool,

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
    /// Folder of ISOs; lib.json, items.json and <item>/item.json go there
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Library name [default: the folder's name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

/// A local ISO to upload, checked before anything is sent.
#[derive(Debug, Clone)]
pub struct LocalIso {
    pub path: PathBuf,
    /// File name, the name it gets on the server.
    pub name: String,
    pub size: u64,
}

#[derive(Debug)]
pub enum Target {
    Datastore(datastore::DatastoreTarget),
    Library {
        library: String,
        item: Option<String>,
    },
}

/// Everything `upload` needs, validated before the first connection.
#[derive(Debug)]
pub struct UploadPlan {
    pub server: Server,
    pub trust: Trust,
    pub target: Target,
    pub isos: Vec<LocalIso>,
    pub force: bool,
    pub quiet: bool,
    /// Say which API is used, and trace requests on stderr.
    pub verbose: bool,
    /// A JSON summary on stdout instead of one line per upload.
    pub json: bool,
}

pub fn run_upload(args: &UploadArgs) -> Result<ExitCode> {
    let plan = plan_upload(args)?;
    if matches!(plan.trust, Trust::Insecure) {
        let _ = writeln!(
            io::stderr(),
            "esxi-iso: warning: --insecure: the certificate of {} is not verified; \
             anyone on the network path can read the password and the ISO",
            plan.server.host
        );
    }
    let client = Client::new(plan.trust.clone())?;
    let creds = Credentials::resolve(args.username.as_deref(), &plan.server.host)?;
    let mut report = Report::new(&plan.server.host, plan.json);
    match &plan.target {
        Target::Datastore(target) => {
            datastore::upload(&client, &creds, &plan, target, &mut report)?
        }
        Target::Library { library, item } => library::upload(
            &client,
            &creds,
            &plan,
            library,
            item.as_deref(),
            &mut report,
        )?,
    }
    report.finish()?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_vcsp(args: &VcspArgs) -> Result<ExitCode> {
    let summary = vcsp::write_index(&args.dir, args.name.as_deref())?;
    let mut out = io::stdout().lock();
    for line in summary.lines() {
        writeln!(out, "{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn plan_upload(args: &UploadArgs) -> Result<UploadPlan> {
    let server =
        Server::parse(&args.server).map_err(|e| anyhow::anyhow!("invalid --server: {e}"))?;
    let trust = match (&args.thumbprint, &args.ca_cert, args.insecure) {
        (Some(t), _, _) => Trust::Pinned(t.clone()),
        (_, Some(path), _) => Trust::load_ca_file(path)?,
        (_, _, true) => Trust::Insecure,
        _ => Trust::Roots,
    };
    let isos = args
        .isos
        .iter()
        .map(|p| check_iso(p))
        .collect::<Result<Vec<_>>>()?;
    let mut names = BTreeSet::new();
    for iso in &isos {
        if !names.insert(iso.name.as_str()) {
            bail!(
                "two ISOs are named {}: they would overwrite each other; rename one",
                iso.name
            );
        }
    }
    let target = match (&args.datastore, &args.library) {
        (Some(ds), _) => Target::Datastore(datastore::DatastoreTarget::new(
            ds,
            &args.datacenter,
            args.folder.as_deref(),
        )?),
        (None, Some(lib)) => {
            if args.item.is_some() && isos.len() > 1 {
                bail!("--item names one library item: give one ISO per run with --item");
            }
            Target::Library {
                library: lib.clone(),
                item: args.item.clone(),
            }
        }
        (None, None) => bail!("nowhere to upload: pass --datastore NAME or --library NAME"),
    };
    Ok(UploadPlan {
        server,
        trust,
        target,
        isos,
        force: args.force,
        quiet: args.quiet,
        verbose: args.verbose,
        json: args.json,
    })
}

fn check_iso(path: &Path) -> Result<LocalIso> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: the file name must be valid UTF-8", path.display()))?;
    Ok(LocalIso {
        path: path.to_path_buf(),
        name: name.to_string(),
        size: meta.len(),
    })
}

/// A progress bar on stderr (indicatif draws nothing when stderr is not a
/// terminal).
pub(crate) fn progress_bar(len: u64, msg: String, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(msg);
    bar
}

/// Streams a file to a request body, advancing a progress bar.
pub(crate) struct ProgressReader {
    file: File,
    bar: ProgressBar,
}

impl ProgressReader {
    pub(crate) fn open(path: &Path, bar: ProgressBar) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(ProgressReader { file, bar })
    }
}

impl Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Reads a file once, feeding every chunk to `sink` (hashing).
pub(crate) fn stream_file(
    path: &Path,
    bar: &ProgressBar,
    mut sink: impl FnMut(&[u8]),
) -> Result<u64> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        sink(&buf[..n]);
        bar.inc(n as u64);
        total += n as u64;
    }
    Ok(total)
}

pub(crate) fn human_size(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}
