//! Publishing ISOs: `upload` to a datastore (the `/folder` HTTP file API of
//! ESXi and vCenter) or to a vCenter content library (the vSphere
//! Automation API, `/api` forms first and `/rest` where a vCenter predates
//! them), and `vcsp`, which turns a folder of ISOs into a subscribed
//! content library that any static web server can host.
//!
//! Layout: [`auth`] (credentials), [`datastore`] (the `/folder` file API:
//! checks, temporary uploads, moves into place), [`locate`] (what the
//! SOAP API says about the datacenter and datastore before anything is
//! sent), [`vapi`] (the two URL forms, login and calls), [`library`] (the
//! upload steps), [`report`] (text and `--json` output), [`vcsp`]. The
//! HTTPS client, TLS trust and the SOAP client are [`crate::vsphere`]'s.
//! Not covered: OVF/OVA items.

pub mod auth;
pub mod datastore;
pub mod library;
pub mod locate;
pub mod report;
pub mod vapi;
pub mod vcsp;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use self::auth::Credentials;
use self::report::Report;
use crate::failure::{self, Failure, Tag};
use crate::progress::Trace;
use crate::signals::{self, Stopped};
use crate::vsphere::http::{Client, Server, Thumbprint, Trust};
use crate::warning::Warning;

/// What `esxi-iso upload` is asked, as given: checked by [`plan_upload`].
#[derive(Debug, Clone, Default)]
pub struct UploadRequest {
    pub isos: Vec<PathBuf>,
    /// `https://HOST[:PORT]`, parsed by [`Server::parse`] (whose errors
    /// never echo a password the URL may carry).
    pub server: String,
    pub username: Option<String>,
    pub datastore: Option<String>,
    /// None: the host's `ha-datacenter`; a vCenter needs one.
    pub datacenter: Option<String>,
    pub folder: Option<String>,
    pub library: Option<String>,
    pub item: Option<String>,
    pub force: bool,
    pub skip_existing: bool,
    pub thumbprint: Option<Thumbprint>,
    pub ca_cert: Option<PathBuf>,
    pub insecure: bool,
    pub quiet: bool,
    pub json: bool,
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

/// Which ISOs already on the server an upload leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// None: one that is there is replaced (`--force`) or in the way.
    Never,
    /// Those that hold the same bytes: a library item's file by the
    /// SHA-1 vCenter keeps, a datastore file of the same size by the
    /// SHA-256 of its bytes read back (ISOs built from one source for a
    /// lab all have the same size, so size alone says nothing).
    SameContent,
    /// A datastore file of the same size: for a caller that knows what it
    /// put there (deploy's state records the SHA-256 it uploaded).
    SameSize,
}

/// Everything `upload` needs, validated before the first connection.
#[derive(Debug)]
pub struct UploadPlan {
    pub server: Server,
    pub trust: Trust,
    pub target: Target,
    pub isos: Vec<LocalIso>,
    pub force: bool,
    /// Which ISOs that are there already are left out.
    pub skip: Skip,
    pub quiet: bool,
    /// `--verbose`: which API is used, each request (method, path or
    /// SOAP method, status), never a header or body.
    pub trace: Trace,
    /// A JSON summary on stdout instead of one line per upload.
    pub json: bool,
    /// What the user must know before anything is sent (`--insecure`).
    pub warnings: Vec<Warning>,
}

/// Logs in (`username`, or the environment, or a prompt) and uploads every
/// ISO of the plan, reporting each as it lands ([`report`]).
///
/// A failure here is the server's or the network's unless tagged otherwise
/// (a file that exists, a local file that cannot be read, a datacenter or
/// datastore that is not there); Ctrl-C stays [`Stopped`].
pub fn upload(plan: &UploadPlan, username: Option<&str>) -> Result<()> {
    upload_all(plan, username).map_err(|e| {
        if e.is::<Stopped>() {
            e
        } else {
            failure::tagged(Failure::Network, e)
        }
    })
}

fn upload_all(plan: &UploadPlan, username: Option<&str>) -> Result<()> {
    let client = Client::new(plan.trust.clone())?;
    let creds = Credentials::resolve(username, &plan.server.host).tag(Failure::Usage)?;
    let mut report = Report::new(&plan.server.host, plan.json, &plan.warnings);
    match &plan.target {
        Target::Datastore(target) => datastore::upload(&client, &creds, plan, target, &mut report)?,
        Target::Library { library, item } => {
            library::upload(&client, &creds, plan, library, item.as_deref(), &mut report)?
        }
    }
    report.finish()
}

/// Checks everything before the first connection.
///
/// Local files that cannot be read are input errors; the rest, usage.
pub fn plan_upload(req: &UploadRequest) -> Result<UploadPlan> {
    plan_checked(req).tag(Failure::Usage)
}

/// A server address and how its certificate is trusted, from the options
/// `upload` and `deploy` share, with the warning `--insecure` earns. The
/// URL's own errors never echo a password it may carry.
pub fn connection(
    server: &str,
    thumbprint: Option<&Thumbprint>,
    ca_cert: Option<&Path>,
    insecure: bool,
) -> Result<(Server, Trust, Vec<Warning>)> {
    let server = Server::parse(server).map_err(|e| anyhow::anyhow!("invalid --server: {e}"))?;
    let tls_option = [
        (thumbprint.is_some(), "--thumbprint"),
        (ca_cert.is_some(), "--ca-cert"),
        (insecure, "--insecure"),
    ]
    .into_iter()
    .find(|(given, _)| *given);
    if let (Some((_, opt)), false) = (tls_option, server.base.starts_with("https://")) {
        bail!(
            "{opt} is about TLS, and --server {} is plain http:// (nothing is verified or \
             encrypted): use https://, or drop {opt}",
            server.host
        );
    }
    let trust = match (thumbprint, ca_cert, insecure) {
        (Some(t), _, _) => Trust::Pinned(t.clone()),
        (_, Some(path), _) => Trust::load_ca_file(path).tag(Failure::Input)?,
        (_, _, true) => Trust::Insecure,
        _ => Trust::Roots,
    };
    let warnings = match trust {
        Trust::Insecure => vec![Warning::advice(
            "tls-insecure",
            format!(
                "--insecure: the certificate of {} is not verified; anyone on the network \
                 path can read the password and what is sent: pin it with --thumbprint instead",
                server.host
            ),
        )],
        _ => Vec::new(),
    };
    Ok((server, trust, warnings))
}

fn plan_checked(req: &UploadRequest) -> Result<UploadPlan> {
    let (server, trust, warnings) = connection(
        &req.server,
        req.thumbprint.as_ref(),
        req.ca_cert.as_deref(),
        req.insecure,
    )?;
    let isos = req
        .isos
        .iter()
        .map(|p| check_iso(p).tag(Failure::Input))
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
    let target = match (&req.datastore, &req.library) {
        (Some(ds), _) => Target::Datastore(datastore::DatastoreTarget::new(
            ds,
            req.datacenter.as_deref(),
            req.folder.as_deref(),
        )?),
        (None, Some(lib)) => {
            if req.item.is_some() && isos.len() > 1 {
                bail!("--item names one library item: give one ISO per run with --item");
            }
            Target::Library {
                library: lib.clone(),
                item: req.item.clone(),
            }
        }
        (None, None) => bail!("nowhere to upload: pass --datastore NAME or --library NAME"),
    };
    Ok(UploadPlan {
        warnings,
        server,
        trust,
        target,
        isos,
        force: req.force,
        skip: if req.skip_existing {
            Skip::SameContent
        } else {
            Skip::Never
        },
        quiet: req.quiet,
        trace: Trace::default(),
        json: req.json,
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

/// A progress bar on stderr, drawn only where [`crate::progress::enabled`]
/// says.
pub(crate) fn progress_bar(len: u64, msg: String, quiet: bool) -> ProgressBar {
    if !crate::progress::enabled(quiet) {
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

/// Streams a file to a request body, advancing a progress bar and hashing
/// the bytes it hands out (SHA-256), so the report gives the checksum of
/// what was sent without a second read.
pub(crate) struct ProgressReader {
    file: File,
    bar: ProgressBar,
    hash: Arc<Mutex<(Sha256, u64)>>,
}

impl ProgressReader {
    pub(crate) fn open(path: &Path, bar: ProgressBar) -> Result<Self> {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Ok(ProgressReader {
            file,
            bar,
            hash: Arc::default(),
        })
    }

    /// The hash of every byte read so far, readable after the body moved
    /// into the request.
    pub(crate) fn digest(&self) -> Sent {
        Sent(Arc::clone(&self.hash))
    }
}

impl Read for ProgressReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Ctrl-C stops the body where it is; the caller cleans up.
        if signals::cancelled() {
            return Err(io::Error::other("interrupted by a signal"));
        }
        let n = self.file.read(buf)?;
        self.bar.inc(n as u64);
        let mut hash = self.hash.lock().unwrap_or_else(|p| p.into_inner());
        hash.0.update(&buf[..n]);
        hash.1 += n as u64;
        Ok(n)
    }
}

/// The SHA-256 and byte count of what a [`ProgressReader`] handed out.
pub(crate) struct Sent(Arc<Mutex<(Sha256, u64)>>);

impl Sent {
    pub(crate) fn sha256(&self) -> String {
        let h = self.0.lock().unwrap_or_else(|p| p.into_inner()).0.clone();
        hex::encode(h.finalize())
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).1
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

/// Runs `work` while another thread calls `tick` every `interval`, to keep
/// server sessions alive through a long transfer; `tick` stops with it.
pub(crate) fn with_keepalive<T>(
    interval: Duration,
    tick: impl Fn() + Sync,
    work: impl FnOnce() -> T,
) -> T {
    let (stop, stopped) = mpsc::channel::<()>();
    thread::scope(|s| {
        let tick = &tick;
        s.spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                tick();
            }
        });
        let out = work();
        drop(stop);
        out
    })
}

/// A failed upload, with what was left behind said after the reason; the
/// exit status the reason was tagged with stays.
pub(crate) fn failed(err: anyhow::Error, doing: &str, left: &str) -> anyhow::Error {
    let text = format!("{doing}: {err:#}; {left}");
    match failure::of(&err) {
        Some(kind) => failure::error(kind, text),
        None => anyhow::anyhow!(text),
    }
}

/// The error a Ctrl-C during an upload ends with (exit status 130), saying
/// what was left behind (not [`signals::Interrupted`], whose "no output
/// was written" is untrue once an ISO has landed).
pub(crate) fn interrupted(what: String) -> anyhow::Error {
    anyhow::Error::new(Stopped).context(what)
}

pub(crate) fn human_size(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}
