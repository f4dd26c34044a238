//! Upload to a datastore through the HTTP file API that ESXi and vCenter
//! serve at `/folder/<path>?dcPath=<datacenter>&dsName=<datastore>`
//! (vSphere Web Services SDK Programming Guide, "HTTP Access to vSphere
//! Server Files": the same URL syntax and privileges on both; on ESXi
//! `dcPath` is `ha-datacenter`, on vCenter the datacenter's inventory path).
//! Every request carries HTTP basic authentication, on vCenter as on ESXi:
//! that is what Ansible's `community.vmware.vsphere_copy`, written for
//! vCenter, sends. govc logs in over SOAP and sends the
//! `vmware_soap_session` cookie instead; VMware documents no case where
//! `/folder` refuses basic authentication, so there is no SOAP login here.
//!
//! Every file is checked with HEAD first (a one-byte GET where HEAD is not
//! allowed): that fails fast on bad
//! credentials before gigabytes are sent, and refuses to overwrite without
//! `--force`. The body is streamed from disk with an explicit
//! Content-Length (the API does not take chunked uploads). Folders are not
//! created: real servers answer 405 for a missing parent folder.

use std::io::{self, Write};

use anyhow::{bail, Result};
use ureq::http::{header, Method, Request};
use ureq::SendBody;

use super::auth::Credentials;
use super::report::{Destination, Report, Uploaded};
use super::vapi::trace;
use super::{progress_bar, LocalIso, ProgressReader, UploadPlan};
use crate::failure::{self, Failure};
use crate::vsphere::http::{body_snippet, is_connection_closed, quote, Client, Server};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreTarget {
    pub datastore: String,
    pub datacenter: String,
    /// Folder path segments, already split and checked.
    pub folder: Vec<String>,
}

impl DatastoreTarget {
    pub fn new(datastore: &str, datacenter: &str, folder: Option<&str>) -> Result<Self> {
        if datastore.is_empty() {
            bail!("--datastore is empty: give the datastore's name, e.g. datastore1");
        }
        if datacenter.is_empty() {
            bail!("--datacenter is empty: a standalone ESXi host uses ha-datacenter");
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
            datacenter: datacenter.to_string(),
            folder: segments,
        })
    }

    /// Path and query of the file API URL for a file in the folder.
    pub fn url_path(&self, file_name: &str) -> String {
        let mut path = String::from("/folder");
        for seg in self.folder.iter().map(String::as_str).chain([file_name]) {
            path.push('/');
            path.push_str(&quote(seg));
        }
        format!(
            "{path}?dcPath={}&dsName={}",
            quote(&self.datacenter),
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
}

pub fn upload(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    target: &DatastoreTarget,
    report: &mut Report,
) -> Result<()> {
    report.set_api("/folder");
    if plan.verbose {
        let _ = writeln!(
            io::stderr(),
            "esxi-iso: uploading to {} through /folder with HTTP basic authentication \
             (datacenter {})",
            plan.server.host,
            target.datacenter
        );
    }
    let mut existing = Vec::new();
    let mut replaces = Vec::new();
    for iso in &plan.isos {
        let found = exists(client, creds, plan, target, iso)?;
        if found {
            existing.push(target.display(&iso.name));
        }
        replaces.push(found);
    }
    if !existing.is_empty() && !plan.force {
        return Err(failure::error(
            Failure::OutputExists,
            format!(
                "{} already exist{} on {}: pass --force to overwrite",
                existing.join(", "),
                if existing.len() == 1 { "s" } else { "" },
                plan.server.host
            ),
        ));
    }
    for (iso, replaced) in plan.isos.iter().zip(replaces) {
        let sha256 = put(client, creds, plan, target, iso)?;
        report.push(Uploaded {
            file: iso.name.clone(),
            size: iso.size,
            sha256,
            replaced,
            to: Destination::Datastore {
                path: target.display(&iso.name),
            },
        })?;
    }
    Ok(())
}

fn exists(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    target: &DatastoreTarget,
    iso: &LocalIso,
) -> Result<bool> {
    let server = &plan.server;
    let remote = target.display(&iso.name);
    let path = target.url_path(&iso.name);
    let probe = |method: Method| -> Result<(u16, String)> {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(server.url(&path))
            .header(header::AUTHORIZATION, creds.basic_auth());
        if method == Method::GET {
            builder = builder.header(header::RANGE, "bytes=0-0");
        }
        match client.agent.run(builder.body(())?) {
            // The snippet also drains a ranged GET's single byte.
            Ok(mut resp) => {
                trace(plan.verbose, &method, &path, resp.status().as_u16());
                Ok((resp.status().as_u16(), body_snippet(&mut resp)))
            }
            Err(e) => bail!(
                "checking whether {remote} exists: {}",
                client.explain(&e, server)
            ),
        }
    };
    let (mut status, mut body) = probe(Method::HEAD)?;
    if status == 405 || status == 501 {
        // A server without HEAD: ask for one byte instead.
        (status, body) = probe(Method::GET)?;
    }
    match status {
        200..=299 => Ok(true),
        404 => Ok(false),
        status => bail!(
            "checking whether {remote} exists: {}",
            explain_status(status, &creds.scrub(&body), creds, target, server)
        ),
    }
}

fn put(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    target: &DatastoreTarget,
    iso: &LocalIso,
) -> Result<String> {
    let server = &plan.server;
    let remote = target.display(&iso.name);
    let path = target.url_path(&iso.name);
    let bar = progress_bar(iso.size, iso.name.clone(), plan.quiet);
    let reader = ProgressReader::open(&iso.path, bar.clone())?;
    let sent = reader.digest();
    let request = Request::builder()
        .method(Method::PUT)
        .uri(server.url(&path))
        .header(header::AUTHORIZATION, creds.basic_auth())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, iso.size)
        .body(SendBody::from_owned_reader(reader))?;
    let result = client.agent.run(request);
    bar.finish_and_clear();
    let mut resp = match result {
        Ok(resp) => resp,
        // Some servers refuse a PUT into a missing folder by closing the
        // connection before the body is sent, so look before blaming a
        // file in use.
        Err(e) if is_connection_closed(&e) && folder_missing(client, creds, server, target) => {
            bail!(
                "uploading {} to {remote}: {}",
                iso.name,
                missing_folder(target, "the server closed the connection")
            )
        }
        Err(e) => bail!(
            "uploading {} to {remote}: {}",
            iso.name,
            client.explain(&e, server)
        ),
    };
    let status = resp.status().as_u16();
    trace(plan.verbose, &Method::PUT, &path, status);
    if !(200..=299).contains(&status) {
        let body = body_snippet(&mut resp);
        bail!(
            "uploading {} to {remote}: {}",
            iso.name,
            explain_status(status, &creds.scrub(&body), creds, target, server)
        );
    }
    Ok(sent.sha256())
}

/// True when `--folder` was given and the server says it is not there.
fn folder_missing(
    client: &Client,
    creds: &Credentials,
    server: &Server,
    target: &DatastoreTarget,
) -> bool {
    if target.folder.is_empty() {
        return false;
    }
    let path = target.url_path("");
    // url_path ends the folder with "/" + the (empty) file name: drop it.
    let path = path.replacen("/?", "?", 1);
    Request::builder()
        .method(Method::HEAD)
        .uri(server.url(&path))
        .header(header::AUTHORIZATION, creds.basic_auth())
        .body(())
        .ok()
        .and_then(|req| client.agent.run(req).ok())
        .is_some_and(|resp| resp.status().as_u16() == 404)
}

fn missing_folder(target: &DatastoreTarget, how: &str) -> String {
    format!(
        "folder {} does not exist ({how}): create it first (vSphere Client: \
         Storage > {} > Files > New Folder; ESXi shell: mkdir \
         /vmfs/volumes/{}/{}), or leave out --folder",
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
            "datastore {} or datacenter {} not found on {} (HTTP 404): check \
             --datastore and --datacenter (a standalone ESXi host uses \
             ha-datacenter; on vCenter give the datacenter's name)",
            target.datastore, target.datacenter, server.host
        ),
        405 if !target.folder.is_empty() => missing_folder(target, "HTTP 405"),
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
                ("ds&1", "My DC", Some("a//b"), "x#y.iso"),
                "/folder/a/b/x%23y.iso?dcPath=My%20DC&dsName=ds%261",
            ),
        ];
        for ((ds, dc, folder, file), want) in cases {
            let t = DatastoreTarget::new(ds, dc, folder).unwrap();
            assert_eq!(t.url_path(file), want);
        }
    }

    #[test]
    fn bad_targets_are_refused() {
        assert!(DatastoreTarget::new("", "dc", None).is_err());
        assert!(DatastoreTarget::new("ds", "dc", Some("a/../b")).is_err());
        assert!(DatastoreTarget::new("ds", "dc", Some("./a")).is_err());
    }

    #[test]
    fn display_uses_vsphere_datastore_paths() {
        let t = DatastoreTarget::new("datastore1", "ha-datacenter", Some("isos")).unwrap();
        assert_eq!(t.display("lab.iso"), "[datastore1] isos/lab.iso");
    }
}
