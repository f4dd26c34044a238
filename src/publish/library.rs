//! Upload to a vCenter content library through the vSphere Automation API,
//! in the `/api` forms where the server has them and the `/rest` forms
//! otherwise (see [`super::vapi`]): log in, find the library by name,
//! create an item of type `iso` (or reuse it with `--force`), then an
//! update session: add the file (PUSH, size, SHA-1), PUT the bytes to the
//! endpoint vCenter returns (with the session header), complete, and wait
//! for the session state DONE. A failed session is cancelled and deleted,
//! and an item created by this run is removed, so a failure leaves the
//! library as it was. The same steps in the same order for both forms.
//!
//! Not covered: OVF items, several files per item.

use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use sha1::{Digest, Sha1};
use ureq::http::{header, Method, Request};
use ureq::SendBody;

use super::auth::Credentials;
use super::report::{Destination, Report, Uploaded};
use super::vapi::{FileSpec, Op, Session, SESSION_HEADER};
use super::{progress_bar, stream_file, LocalIso, ProgressReader, UploadPlan};
use crate::failure::{self, Failure};
use crate::vsphere::http::{body_snippet, Client};

/// How long vCenter may take to move a completed upload into the library.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub fn upload(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    library: &str,
    item: Option<&str>,
    report: &mut Report,
) -> Result<()> {
    let session = Session::login(client, &plan.server, creds, &plan.trace)?;
    report.set_api(session.forms().label());
    let result = upload_all(&session, plan, library, item, report);
    session.logout();
    result
}

fn upload_all(
    session: &Session,
    plan: &UploadPlan,
    library: &str,
    item: Option<&str>,
    report: &mut Report,
) -> Result<()> {
    let library_id = find_library(session, library)?;
    let mut jobs = Vec::new();
    let mut existing = Vec::new();
    for iso in &plan.isos {
        let name = item.map_or_else(|| item_name(&iso.name), str::to_string);
        let found = find_item(session, &library_id, &name)?;
        if found.is_some() {
            existing.push(name.clone());
        }
        jobs.push((iso, name, found));
    }
    if !existing.is_empty() && !plan.force {
        return Err(failure::error(
            Failure::OutputExists,
            format!(
                "library {library} already has item{} {}: pass --force to replace its file",
                if existing.len() == 1 { "" } else { "s" },
                existing.join(", ")
            ),
        ));
    }
    for (iso, name, found) in jobs {
        let replaced = found.is_some();
        let (item_id, sha256) = upload_one(session, plan, &library_id, iso, &name, found)
            .with_context(|| {
                format!("uploading {} to library {library} as item {name}", iso.name)
            })?;
        report.push(Uploaded {
            file: iso.name.clone(),
            size: iso.size,
            sha256: Some(sha256),
            skipped: false,
            replaced,
            removed: Vec::new(),
            to: Destination::Library {
                library: library.to_string(),
                item: name,
                item_id,
            },
        })?;
    }
    Ok(())
}

/// Item name for an ISO: its file name without `.iso`.
pub fn item_name(file_name: &str) -> String {
    match file_name.len().checked_sub(4) {
        Some(i) if file_name.is_char_boundary(i) && file_name[i..].eq_ignore_ascii_case(".iso") => {
            file_name[..i].to_string()
        }
        _ => file_name.to_string(),
    }
}

fn find_library(session: &Session, name: &str) -> Result<String> {
    let ids = session.call(
        &Op::FindLibrary { name },
        &format!("looking up content library {name}"),
    )?;
    let ids = string_list(&ids);
    match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => bail!(
            "content library {name} not found on {}: check --library, or create \
             it in the vSphere Client (Content Libraries > Create)",
            session.server().host
        ),
        _ => bail!(
            "{} content libraries are named {name}; rename one",
            ids.len()
        ),
    }
}

fn find_item(session: &Session, library: &str, name: &str) -> Result<Option<String>> {
    let ids = session.call(
        &Op::FindItem { library, name },
        &format!("looking up library item {name}"),
    )?;
    Ok(string_list(&ids).into_iter().next())
}

fn returned_id(v: &Value, what: &str) -> Result<String> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("vCenter returned no id for {what}"))
}

/// Uploads one ISO; returns the item's id and the SHA-256 of what was sent.
fn upload_one(
    session: &Session,
    plan: &UploadPlan,
    library: &str,
    iso: &LocalIso,
    name: &str,
    existing: Option<String>,
) -> Result<(String, String)> {
    let bar = progress_bar(iso.size, format!("sha1 {}", iso.name), plan.quiet);
    let mut sha1 = Sha1::new();
    stream_file(&iso.path, &bar, |chunk| sha1.update(chunk))?;
    bar.finish_and_clear();
    let checksum = hex::encode(sha1.finalize());

    let created = existing.is_none();
    let item = match existing {
        Some(id) => id,
        None => returned_id(
            &session.call(
                &Op::CreateItem { library, name },
                &format!("creating library item {name}"),
            )?,
            &format!("the new item {name}"),
        )?,
    };
    let result = session
        .call(
            &Op::CreateUpdateSession { item: &item },
            "opening an update session",
        )
        .and_then(|v| returned_id(&v, "the update session"))
        .and_then(|us| {
            let r = transfer(session, plan, &us, iso, &checksum);
            if r.is_err() {
                // Best effort: the session may already be gone.
                let _ = session.call(
                    &Op::CancelSession { session: &us },
                    "cancelling the update session",
                );
                let _ = session.call(
                    &Op::DeleteSession { session: &us },
                    "deleting the update session",
                );
            }
            r
        });
    if result.is_err() && created {
        let _ = session.call(
            &Op::DeleteItem { item: &item },
            "removing the unfinished item",
        );
    }
    result.map(|sha256| (item, sha256))
}

fn transfer(
    session: &Session,
    plan: &UploadPlan,
    us: &str,
    iso: &LocalIso,
    checksum: &str,
) -> Result<String> {
    let file = FileSpec {
        name: &iso.name,
        size: iso.size,
        sha1: checksum,
    };
    let added = session.call(
        &Op::AddFile { session: us, file },
        "adding the file to the update session",
    )?;
    let uri = added
        .pointer("/upload_endpoint/uri")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("vCenter returned no upload_endpoint for {}", iso.name))?;
    let sha256 = put_bytes(session, plan, uri, iso)?;
    session.call(
        &Op::CompleteSession { session: us },
        "completing the update session",
    )?;
    wait_done(session, us)?;
    Ok(sha256)
}

/// PUT of the file to the upload endpoint, with the session header (the
/// endpoint is on the same vCenter, `/cls/data/...` or `/rest/com/vmware/cis/data/...`).
fn put_bytes(session: &Session, plan: &UploadPlan, uri: &str, iso: &LocalIso) -> Result<String> {
    let bar = progress_bar(iso.size, iso.name.clone(), plan.quiet);
    let reader = ProgressReader::open(&iso.path, bar.clone())?;
    let sent = reader.digest();
    let request = Request::builder()
        .method(Method::PUT)
        .uri(uri)
        .header(SESSION_HEADER, session.id())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, iso.size)
        .body(SendBody::from_owned_reader(reader))?;
    let result = session.client().agent.run(request);
    bar.finish_and_clear();
    let mut resp = result.map_err(|e| anyhow!("sending the file: {}", session.explain(&e)))?;
    let status = resp.status().as_u16();
    // The path only: an endpoint's query could carry a token.
    let path = uri
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(uri);
    let path = path.split('?').next().unwrap_or(path);
    session.trace().say(|| format!("PUT {path} -> {status}"));
    if !(200..=299).contains(&status) {
        let body = body_snippet(&mut resp);
        bail!(
            "sending the file: {} answered HTTP {status}{body}",
            session.server().host
        );
    }
    Ok(sent.sha256())
}

fn wait_done(session: &Session, us: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        let info = session.call(
            &Op::GetSession { session: us },
            "reading the update session state",
        )?;
        match info.get("state").and_then(Value::as_str).unwrap_or("") {
            "DONE" => return Ok(()),
            "ACTIVE" if start.elapsed() < COMPLETE_TIMEOUT => sleep(Duration::from_millis(500)),
            "ACTIVE" => bail!(
                "vCenter did not finish the upload within {} minutes; check the \
                 library item in the vSphere Client",
                COMPLETE_TIMEOUT.as_secs() / 60
            ),
            state => bail!(
                "the update session ended in state {state}{}",
                info.pointer("/error_message/default_message")
                    .and_then(Value::as_str)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        }
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_names_drop_the_iso_extension() {
        let cases = [
            ("lab1.iso", "lab1"),
            ("ESXi-8.0U3.ISO", "ESXi-8.0U3"),
            ("notes.txt", "notes.txt"),
            (".iso", ""),
            ("é.iso", "é"),
        ];
        for (input, want) in cases {
            assert_eq!(item_name(input), want, "{input}");
        }
    }
}
