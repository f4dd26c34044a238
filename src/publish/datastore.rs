//! Upload to a datastore through the HTTP file API that ESXi and vCenter
//! serve at `/folder/<path>?dcPath=<datacenter>&dsName=<datastore>`
//! (vSphere Web Services SDK Programming Guide, "HTTP Access to vSphere
//! Server Files": the same URL syntax and privileges on both).
//!
//! Where the server speaks SOAP at `/sdk` (every ESXi host and vCenter),
//! the run logs in over SOAP first and checks everything before a byte
//! is sent ([`super::locate`]: the datacenter, which a vCenter needs and a
//! host has one of, the datastore, its state and room, the folder). The
//! `/folder` requests then carry that session's `vmware_soap_session`
//! cookie, as govc's do. Each ISO is sent under a temporary name beside
//! its destination and moved into place with `MoveDatastoreFile_Task`
//! (force only where it replaces a file), so the name never holds a
//! partial file and an existing copy stays until the new one is complete;
//! on any failure or Ctrl-C the temporary file is deleted with
//! `DeleteDatastoreFile_Task`, and the message says what was left. The
//! session is kept alive during long transfers (`CurrentTime`), and logged
//! in again if it expired anyway before the move.
//!
//! Where `/sdk` is not SOAP, the run falls back to HTTP basic
//! authentication on `/folder`, with `ha-datacenter` unless
//! `--datacenter` says otherwise, and sends under the real name (the
//! file API cannot rename); a failed upload is deleted again, and a
//! replaced copy is said to be lost.
//!
//! Every PUT sends `Expect: 100-continue`, so a server that refuses the
//! request (404, 401, 403, 405) answers before the body, and that answer
//! is reported; a connection closed during the body is reported as such,
//! never blamed on a file in use. Files are checked with HEAD first (a
//! one-byte GET where HEAD is not allowed), all of them before any
//! upload; with `--skip-existing` a file of the same size is read back
//! and skipped only when it holds the same bytes. Folders are not created: real servers answer 405 for a missing
//! parent folder.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use ureq::http::{header, request, Method, Request, Response};
use ureq::{Body, SendBody};

use super::auth::{login, Credentials};
use super::locate::{self, Located};
use super::report::{Destination, Report, Uploaded};
use super::{
    failed, interrupted, progress_bar, stream_file, with_keepalive, LocalIso, ProgressReader, Skip,
    UploadPlan,
};
use crate::failure::{self, Failure};
use crate::signals;
use crate::vsphere::http::{body_snippet, is_connection_closed, quote, Client, Server};
use crate::vsphere::{Fault, FaultKind, NoSoap, Vim};

/// How often a session is touched during a long transfer.
const KEEPALIVE: Duration = Duration::from_secs(120);
/// How long moving or deleting a file may take.
const TASK_TIMEOUT: Duration = Duration::from_secs(600);
/// A host's only datacenter.
const HOST_DATACENTER: &str = "ha-datacenter";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreTarget {
    pub datastore: String,
    /// As given; None on a host means its only datacenter.
    pub datacenter: Option<String>,
    /// Folder path segments, already split and checked.
    pub folder: Vec<String>,
}

impl DatastoreTarget {
    pub fn new(datastore: &str, datacenter: Option<&str>, folder: Option<&str>) -> Result<Self> {
        if datastore.is_empty() {
            bail!("--datastore is empty: give the datastore's name, e.g. datastore1");
        }
        if datacenter.is_some_and(str::is_empty) {
            bail!("--datacenter is empty: leave it out on a host, give the datacenter on vCenter");
        }
        let mut segments = Vec::new();
        for seg in folder.unwrap_or("").split('/') {
            match seg {
                "" => {}
                "." | ".." => bail!("--folder must not contain . or .. segments"),
                s => segments.push(s.to_string()),
            }
        }
        Ok(DatastoreTarget {
            datastore: datastore.to_string(),
            datacenter: datacenter.map(str::to_string),
            folder: segments,
        })
    }

    /// Path and query of the file API URL for a file in the folder (the
    /// folder itself for an empty name).
    pub fn url_path(&self, datacenter: &str, file_name: &str) -> String {
        let mut path = String::from("/folder");
        for seg in self.folder.iter().map(String::as_str).chain([file_name]) {
            if !seg.is_empty() {
                path.push('/');
                path.push_str(&quote(seg));
            }
        }
        format!(
            "{path}?dcPath={}&dsName={}",
            quote(datacenter),
            quote(&self.datastore)
        )
    }

    /// `[datastore] folder/file`, as vSphere writes datastore paths.
    pub fn display(&self, file_name: &str) -> String {
        let mut parts = self.folder.clone();
        parts.push(file_name.to_string());
        format!("[{}] {}", self.datastore, parts.join("/"))
    }

    fn folder_display(&self) -> String {
        format!("[{}] {}", self.datastore, self.folder.join("/"))
    }

    /// The name an ISO is sent under before it is moved into place: hidden,
    /// random, and saying whose it is.
    fn temp_name(file_name: &str) -> Result<String> {
        let mut bytes = [0u8; 4];
        // Two runs sharing a name would delete each other's upload.
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| anyhow!("the system's random number generator failed"))?;
        Ok(format!(
            ".{file_name}.{}.esxi-iso-partial",
            hex::encode(bytes)
        ))
    }
}

pub fn upload(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    target: &DatastoreTarget,
    report: &mut Report,
) -> Result<()> {
    report.set_api("/folder");
    match Vim::connect(client, &plan.server, plan.trace.clone()) {
        Ok(vim) => {
            login(&vim, creds)?;
            let result = upload_in_session(&vim, creds, plan, target, report);
            vim.logout();
            result
        }
        Err(e) if e.is::<NoSoap>() => {
            plan.trace.say(|| {
                format!(
                    "{e}: uploading through /folder with HTTP basic authentication, \
                     without checking the datacenter and datastore first"
                )
            });
            with_basic(client, creds, plan, target, report)
        }
        Err(e) => Err(e),
    }
}

/// What to do with one ISO, decided before any upload.
enum Action {
    Send { replaced: bool },
    Skip,
}

/// Uploads the ISOs of `plan` to `target` over a logged-in SOAP session:
/// checks first, each ISO under a temporary name then moved into place.
/// `deploy` uses it for a lab's ISOs, on its own session.
pub fn upload_in_session(
    vim: &Vim,
    creds: &Credentials,
    plan: &UploadPlan,
    target: &DatastoreTarget,
    report: &mut Report,
) -> Result<()> {
    let host = &plan.server.host;
    let about = vim.about();
    plan.trace.say(|| {
        format!(
            "{host} is {} (apiType {}): checking the datacenter and datastore over SOAP",
            about.describe(),
            about.api_type.as_deref().unwrap_or("unknown")
        )
    });
    let located = locate::locate(vim, target)?;
    plan.trace.say(|| {
        format!(
            "datastore {} ({}) in datacenter {} is accessible, {} free",
            located.datastore.name,
            located.datastore.kind,
            located.datacenter.path,
            located
                .datastore
                .free_space
                .map_or("unknown".into(), super::human_size)
        )
    });
    let cookie = vim
        .session_cookie()
        .ok_or_else(|| anyhow!("{host} set no session cookie at login"))?;
    let folder = Files {
        client: vim.client(),
        plan,
        target,
        creds,
        datacenter: located.datacenter.path.clone(),
        auth: Auth::Cookie(cookie),
    };
    let actions = folder.plan_actions()?;
    let need = actions
        .iter()
        .filter(|(_, a)| matches!(a, Action::Send { .. }))
        .map(|(iso, _)| iso.size)
        .sum();
    locate::check_room(&located, need, host)?;
    for (iso, action) in actions {
        if signals::cancelled() {
            return Err(interrupted("upload stopped before the next ISO".into()));
        }
        let replaced = match action {
            Action::Skip => {
                report.push(folder.uploaded(iso, None, false))?;
                continue;
            }
            Action::Send { replaced } => replaced,
        };
        let sha256 = send_and_move(vim, &folder, &located, iso, replaced)?;
        report.push(folder.uploaded(iso, Some(sha256), replaced))?;
    }
    Ok(())
}

/// Sends one ISO under a temporary name, then moves it into place; on any
/// failure the temporary file is deleted.
fn send_and_move(
    vim: &Vim,
    files: &Files,
    located: &Located,
    iso: &LocalIso,
    replaced: bool,
) -> Result<String> {
    let target = files.target;
    let temp = DatastoreTarget::temp_name(&iso.name)?;
    let dest = target.display(&iso.name);
    let trace = &files.plan.trace;
    trace.say(|| format!("sending {} as {}", iso.name, target.display(&temp)));
    let sent = with_keepalive(
        KEEPALIVE,
        || {
            if let Err(e) = vim.current_time() {
                trace.say(|| format!("keeping the session alive failed: {e:#}"));
            }
        },
        || files.put(&temp, iso),
    );
    let result = sent.and_then(|sha256| {
        trace.say(|| format!("moving {} to {dest}", target.display(&temp)));
        relogin_once(vim, files.creds, || {
            let task = vim.move_datastore_file(
                &target.display(&temp),
                &dest,
                &located.datacenter.moref,
                replaced,
            )?;
            vim.wait_task(&task, "MoveDatastoreFile_Task", TASK_TIMEOUT)
        })
        .map_err(|e| explain_move(e, &dest))
        .map(|()| sha256)
    });
    result.map_err(|e| {
        let cancelled = signals::cancelled();
        let removed = relogin_once(vim, files.creds, || {
            let task =
                vim.delete_datastore_file(&target.display(&temp), &located.datacenter.moref)?;
            vim.wait_task(&task, "DeleteDatastoreFile_Task", TASK_TIMEOUT)
        });
        let left = match removed {
            Ok(()) => "the partial upload was deleted; nothing is left on the datastore".into(),
            Err(d)
                if matches!(
                    d.downcast_ref::<Fault>().map(|f| &f.kind),
                    Some(FaultKind::FileNotFound { .. })
                ) =>
            {
                "nothing was left on the datastore".into()
            }
            Err(d) => format!(
                "the partial upload {} is left on the datastore, deleting it failed \
                 ({d:#}): delete it in the datastore browser",
                target.display(&temp)
            ),
        };
        let doing = format!("uploading {} to {dest}", iso.name);
        if cancelled {
            interrupted(format!("{doing} stopped; {left}"))
        } else {
            failed(e, &doing, &left)
        }
    })
}

/// Runs `call`; if the session has expired meanwhile, logs in again and
/// runs it once more.
fn relogin_once(vim: &Vim, creds: &Credentials, call: impl Fn() -> Result<()>) -> Result<()> {
    match call() {
        Err(e)
            if matches!(
                e.downcast_ref::<Fault>().map(|f| &f.kind),
                Some(FaultKind::NotAuthenticated)
            ) =>
        {
            login(vim, creds)?;
            call()
        }
        other => other,
    }
}

fn explain_move(err: anyhow::Error, dest: &str) -> anyhow::Error {
    match err.downcast_ref::<Fault>().map(|f| f.kind.clone()) {
        Some(FaultKind::FileAlreadyExists { .. }) => failure::error(
            Failure::OutputExists,
            format!("{dest} appeared while uploading: pass --force to replace it"),
        ),
        Some(FaultKind::FileLocked { .. }) => anyhow!(
            "{dest} is in use (locked), e.g. attached to a VM's CD drive: detach it, or \
             upload under another name; the file there is unchanged"
        ),
        _ => err.context(format!("moving the upload into place as {dest}")),
    }
}

fn with_basic(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    target: &DatastoreTarget,
    report: &mut Report,
) -> Result<()> {
    let datacenter = target.datacenter.as_deref().unwrap_or(HOST_DATACENTER);
    plan.trace.say(|| {
        format!(
            "uploading to {} through /folder with HTTP basic authentication \
             (datacenter {datacenter})",
            plan.server.host
        )
    });
    let files = Files {
        client,
        plan,
        target,
        creds,
        datacenter: datacenter.to_string(),
        auth: Auth::Basic,
    };
    for (iso, action) in files.plan_actions()? {
        if signals::cancelled() {
            return Err(interrupted("upload stopped before the next ISO".into()));
        }
        let replaced = match action {
            Action::Skip => {
                report.push(files.uploaded(iso, None, false))?;
                continue;
            }
            Action::Send { replaced } => replaced,
        };
        let sha256 = files.put(&iso.name, iso).map_err(|e| {
            let cancelled = signals::cancelled();
            let left = if replaced {
                "the copy that was there has been overwritten by the partial upload: run \
                 again to send it whole"
                    .to_string()
            } else {
                match files.delete(&iso.name) {
                    Ok(true) => "the partial upload was deleted".into(),
                    Ok(false) => "nothing was left on the datastore".into(),
                    Err(d) => format!(
                        "the partial upload may be left, deleting it failed ({d:#}): check \
                         {} in the datastore browser",
                        target.display(&iso.name)
                    ),
                }
            };
            let doing = format!("uploading {} to {}", iso.name, target.display(&iso.name));
            if cancelled {
                interrupted(format!("{doing} stopped; {left}"))
            } else {
                failed(e, &doing, &left)
            }
        })?;
        report.push(files.uploaded(iso, Some(sha256), replaced))?;
    }
    Ok(())
}

/// How `/folder` requests authenticate.
enum Auth {
    /// The SOAP session's cookie, `name=value`.
    Cookie(String),
    Basic,
}

/// The `/folder` files of one datacenter and datastore.
struct Files<'a> {
    client: &'a Client,
    plan: &'a UploadPlan,
    target: &'a DatastoreTarget,
    creds: &'a Credentials,
    /// The datacenter's inventory path, for `dcPath`.
    datacenter: String,
    auth: Auth,
}

impl Files<'_> {
    fn server(&self) -> &Server {
        &self.plan.server
    }

    fn request(&self, method: Method, file: &str) -> request::Builder {
        let path = self.target.url_path(&self.datacenter, file);
        let builder = Request::builder()
            .method(method)
            .uri(self.server().url(&path));
        match &self.auth {
            Auth::Cookie(c) => builder.header(header::COOKIE, c),
            Auth::Basic => builder.header(header::AUTHORIZATION, self.creds.basic_auth()),
        }
    }

    fn run<B: ureq::AsSendBody>(
        &self,
        method: &Method,
        file: &str,
        req: Request<B>,
    ) -> Result<Response<Body>, ureq::Error> {
        let result = self.client.agent.run(req);
        if let Ok(resp) = &result {
            let path = self.target.url_path(&self.datacenter, file);
            self.plan
                .trace
                .say(|| format!("{method} {path} -> {}", resp.status().as_u16()));
        }
        result
    }

    /// HEAD (or a one-byte GET): `(status, size, body start)`.
    fn probe(&self, file: &str) -> Result<(u16, Option<u64>, String)> {
        let mut method = Method::HEAD;
        loop {
            let mut builder = self.request(method.clone(), file);
            if method == Method::GET {
                builder = builder.header(header::RANGE, "bytes=0-0");
            }
            let mut resp = self
                .run(&method, file, builder.body(())?)
                .map_err(|e| anyhow!("{}", self.client.explain(&e, self.server())))?;
            let status = resp.status().as_u16();
            if method == Method::HEAD && (status == 405 || status == 501) {
                // A server without HEAD: ask for one byte instead.
                method = Method::GET;
                continue;
            }
            let size = if method == Method::GET {
                content_range_total(&resp)
            } else {
                resp.headers()
                    .get(header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
            };
            // The snippet also drains a ranged GET's single byte.
            return Ok((status, size, body_snippet(&mut resp)));
        }
    }

    /// Existence of each ISO, all checked before any upload, then what to
    /// do with each; every file that is in the way is reported at once.
    fn plan_actions(&self) -> Result<Vec<(&LocalIso, Action)>> {
        if !self.target.folder.is_empty() {
            let (status, _, _) = self
                .probe("")
                .with_context(|| format!("checking folder {}", self.target.folder_display()))?;
            if status == 404 {
                return Err(failure::error(Failure::Usage, missing_folder(self.target)));
            }
        }
        let plan = self.plan;
        let mut actions = Vec::new();
        let mut in_the_way = Vec::new();
        for iso in &plan.isos {
            let remote = self.target.display(&iso.name);
            let (status, size, body) = self
                .probe(&iso.name)
                .with_context(|| format!("checking whether {remote} exists"))?;
            let same = (200..=299).contains(&status)
                && size == Some(iso.size)
                && match plan.skip {
                    Skip::Never => false,
                    Skip::SameSize => true,
                    Skip::SameContent => self.same_bytes(iso)?,
                };
            let action = match status {
                200..=299 if same => Action::Skip,
                200..=299 if plan.force => Action::Send { replaced: true },
                200..=299 => {
                    in_the_way.push(match size {
                        Some(n) if plan.skip != Skip::Never && n != iso.size => {
                            format!("{remote} ({n} bytes, not {})", iso.size)
                        }
                        Some(_) if plan.skip != Skip::Never => {
                            format!("{remote} (the same size, other bytes)")
                        }
                        _ => remote,
                    });
                    continue;
                }
                404 => Action::Send { replaced: false },
                status => {
                    return Err(self.status_error(status, &body))
                        .with_context(|| format!("checking whether {remote} exists"))
                }
            };
            actions.push((iso, action));
        }
        if !in_the_way.is_empty() {
            return Err(failure::error(
                Failure::OutputExists,
                format!(
                    "{} already exist{} on {}: pass --force to replace {}{}",
                    in_the_way.join(", "),
                    if in_the_way.len() == 1 { "s" } else { "" },
                    self.server().host,
                    if in_the_way.len() == 1 { "it" } else { "them" },
                    if plan.skip != Skip::Never {
                        ""
                    } else {
                        ", or --skip-existing to keep files that hold the same bytes"
                    }
                ),
            ));
        }
        Ok(actions)
    }

    /// Whether the file of `iso`'s name there holds `iso`'s bytes: the
    /// SHA-256 of each, the remote one read back with a GET (a lab's ISOs
    /// all have the same size, so the size says nothing).
    fn same_bytes(&self, iso: &LocalIso) -> Result<bool> {
        let remote = self.target.display(&iso.name);
        let bar = progress_bar(iso.size, format!("sha256 {}", iso.name), self.plan.quiet);
        let mut local = Sha256::new();
        stream_file(&iso.path, &bar, |chunk| local.update(chunk))?;
        bar.reset();
        bar.set_message(format!("reading back {remote}"));
        let builder = self.request(Method::GET, &iso.name);
        let mut resp = self
            .run(&Method::GET, &iso.name, builder.body(())?)
            .map_err(|e| anyhow!("{}", self.client.explain(&e, self.server())))
            .with_context(|| format!("reading back {remote}"))?;
        let status = resp.status().as_u16();
        if !(200..=299).contains(&status) {
            let body = body_snippet(&mut resp);
            return Err(self.status_error(status, &body))
                .with_context(|| format!("reading back {remote}"));
        }
        let mut there = Sha256::new();
        let mut reader = resp.body_mut().as_reader();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            if signals::cancelled() {
                return Err(interrupted(format!(
                    "reading back {remote} stopped; nothing was uploaded"
                )));
            }
            let n = reader
                .read(&mut buf)
                .with_context(|| format!("reading back {remote}"))?;
            if n == 0 {
                break;
            }
            there.update(&buf[..n]);
            bar.inc(n as u64);
        }
        bar.finish_and_clear();
        Ok(local.finalize() == there.finalize())
    }

    /// PUT of one file under `name`; returns the SHA-256 of what was sent.
    fn put(&self, name: &str, iso: &LocalIso) -> Result<String> {
        let mut expect = true;
        loop {
            let bar = progress_bar(iso.size, iso.name.clone(), self.plan.quiet);
            let reader = ProgressReader::open(&iso.path, bar.clone())?;
            let sent = reader.digest();
            let mut builder = self
                .request(Method::PUT, name)
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .header(header::CONTENT_LENGTH, iso.size);
            if expect {
                builder = builder.header(header::EXPECT, "100-continue");
            }
            let request = builder.body(SendBody::from_owned_reader(reader))?;
            let result = self.run(&Method::PUT, name, request);
            bar.finish_and_clear();
            let host = &self.server().host;
            let mut resp = match result {
                Ok(resp) => resp,
                Err(_) if signals::cancelled() => bail!("stopped by a signal"),
                Err(e) if is_connection_closed(&e) => bail!(
                    "{host} closed the connection after {} of {} bytes, without an answer \
                     ({}); run again, and if it happens again, look at the host's \
                     hostd.log",
                    sent.bytes(),
                    iso.size,
                    match &e {
                        ureq::Error::Io(io) => io.to_string(),
                        other => other.to_string(),
                    }
                ),
                Err(e) => bail!("{}", self.client.explain(&e, self.server())),
            };
            let status = resp.status().as_u16();
            if status == 417 && expect {
                // Expectation Failed: a server that does not do 100-continue.
                expect = false;
                continue;
            }
            if !(200..=299).contains(&status) {
                let body = body_snippet(&mut resp);
                return Err(self.status_error(status, &body));
            }
            return Ok(sent.sha256());
        }
    }

    /// DELETE of a file: whether there was one.
    fn delete(&self, name: &str) -> Result<bool> {
        let resp = self
            .run(
                &Method::DELETE,
                name,
                self.request(Method::DELETE, name).body(())?,
            )
            .map_err(|e| anyhow!("{}", self.client.explain(&e, self.server())))?;
        match resp.status().as_u16() {
            200..=299 => Ok(true),
            404 => Ok(false),
            status => bail!("DELETE answered HTTP {status}"),
        }
    }

    fn uploaded(&self, iso: &LocalIso, sha256: Option<String>, replaced: bool) -> Uploaded {
        Uploaded {
            file: iso.name.clone(),
            size: iso.size,
            skipped: sha256.is_none(),
            sha256,
            replaced,
            removed: Vec::new(),
            to: Destination::Datastore {
                path: self.target.display(&iso.name),
            },
        }
    }

    /// An HTTP status from the file API as an error that says what to do,
    /// tagged: names that are not there are usage errors.
    fn status_error(&self, status: u16, body: &str) -> anyhow::Error {
        let text = explain_status(
            status,
            &self.creds.scrub(body),
            self.creds,
            self.target,
            &self.datacenter,
            self.server(),
        );
        match status {
            404 => failure::error(Failure::Usage, text),
            405 if !self.target.folder.is_empty() => failure::error(Failure::Usage, text),
            _ => anyhow!(text),
        }
    }
}

/// The total size from `Content-Range: bytes 0-0/12345`.
fn content_range_total(resp: &Response<Body>) -> Option<u64> {
    resp.headers()
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit('/').next())
        .and_then(|v| v.parse().ok())
}

fn missing_folder(target: &DatastoreTarget) -> String {
    format!(
        "folder {} does not exist: create it first (vSphere Client: Storage > {} > \
         Files > New Folder; ESXi shell: mkdir /vmfs/volumes/{}/{}), or leave out --folder",
        target.folder_display(),
        target.datastore,
        target.datastore,
        target.folder.join("/")
    )
}

/// What an HTTP status from the file API means, and what to do about it.
pub fn explain_status(
    status: u16,
    body: &str,
    creds: &Credentials,
    target: &DatastoreTarget,
    datacenter: &str,
    server: &Server,
) -> String {
    match status {
        401 => format!(
            "{} refused the credentials of {} (HTTP 401): check --username or \
             ESXI_ISO_USERNAME (on vCenter with its domain, e.g. \
             administrator@vsphere.local), and ESXI_ISO_PASSWORD",
            server.host, creds.username
        ),
        403 => format!(
            "{} lacks privileges on datastore {} (HTTP 403): it needs \
             Datastore.Browse and Datastore.FileManagement; check the user \
             and its role",
            creds.username, target.datastore
        ),
        404 => format!(
            "datastore {} or datacenter {datacenter} not found on {} (HTTP 404): check \
             --datastore and --datacenter (a standalone ESXi host uses \
             ha-datacenter; on vCenter give the datacenter's name)",
            target.datastore, server.host
        ),
        405 if !target.folder.is_empty() => format!("{} (HTTP 405)", missing_folder(target)),
        405 => format!(
            "{} refused the upload (HTTP 405){body}: check that --server is an \
             ESXi host or vCenter",
            server.host
        ),
        _ => format!("{} answered HTTP {status}{body}", server.host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_quote_each_segment() {
        let cases = [
            (
                ("datastore1", "ha-datacenter", None, "lab.iso"),
                "/folder/lab.iso?dcPath=ha-datacenter&dsName=datastore1",
            ),
            (
                ("LocalDS_0", "DC0", Some("/isos/esxi 8/"), "lab 1.iso"),
                "/folder/isos/esxi%208/lab%201.iso?dcPath=DC0&dsName=LocalDS_0",
            ),
            (
                ("ds&1", "F0/My DC", Some("a//b"), "x#y.iso"),
                "/folder/a/b/x%23y.iso?dcPath=F0%2FMy%20DC&dsName=ds%261",
            ),
            (
                ("ds", "DC0", Some("isos"), ""),
                "/folder/isos?dcPath=DC0&dsName=ds",
            ),
        ];
        for ((ds, dc, folder, file), want) in cases {
            let t = DatastoreTarget::new(ds, Some(dc), folder).unwrap();
            assert_eq!(t.url_path(dc, file), want);
        }
    }

    #[test]
    fn bad_targets_are_refused() {
        assert!(DatastoreTarget::new("", None, None).is_err());
        assert!(DatastoreTarget::new("ds", Some(""), None).is_err());
        assert!(DatastoreTarget::new("ds", None, Some("a/../b")).is_err());
        assert!(DatastoreTarget::new("ds", None, Some("./a")).is_err());
    }

    #[test]
    fn display_uses_vsphere_datastore_paths() {
        let t = DatastoreTarget::new("datastore1", None, Some("isos")).unwrap();
        assert_eq!(t.display("lab.iso"), "[datastore1] isos/lab.iso");
        let temp = DatastoreTarget::temp_name("lab.iso").unwrap();
        assert!(temp.starts_with(".lab.iso.") && temp.ends_with(".esxi-iso-partial"));
        assert_ne!(temp, DatastoreTarget::temp_name("lab.iso").unwrap());
    }
}
