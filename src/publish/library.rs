//! Upload to a vCenter content library through the `/rest` API (vSphere 6.5
//! and later): log in, find the library by name, create an item of type
//! `iso` (or reuse it with `--force`), then an update session: add the file
//! (PUSH, size, SHA-1), PUT the bytes to the endpoint vCenter returns,
//! complete, and wait for the session state DONE. A failed session is
//! cancelled and deleted, and an item created by this run is removed, so a
//! failure leaves the library as it was.
//!
//! Not covered: the `/api` forms (7.0U2+ also serve `/rest`), OVF items,
//! several files per item.

use std::io::{self, Write};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use ureq::http::{header, Method, Request};
use ureq::SendBody;

use super::auth::Credentials;
use super::http::{body_snippet, Client, Server};
use super::{human_size, progress_bar, stream_file, LocalIso, ProgressReader, UploadPlan};

const SESSION_HEADER: &str = "vmware-api-session-id";
const LIBRARY: &str = "/rest/com/vmware/content/library";
const ITEM: &str = "/rest/com/vmware/content/library/item";
const UPDATE_SESSION: &str = "/rest/com/vmware/content/library/item/update-session";
const UPDATE_SESSION_FILE: &str = "/rest/com/vmware/content/library/item/updatesession/file";
/// How long vCenter may take to move a completed upload into the library.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub fn upload(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    library: &str,
    item: Option<&str>,
) -> Result<()> {
    let rest = Rest::login(client, &plan.server, creds)?;
    let result = upload_all(&rest, plan, library, item);
    rest.logout();
    result
}

fn upload_all(rest: &Rest, plan: &UploadPlan, library: &str, item: Option<&str>) -> Result<()> {
    let library_id = rest.find_library(library)?;
    let mut jobs = Vec::new();
    let mut existing = Vec::new();
    for iso in &plan.isos {
        let name = item.map_or_else(|| item_name(&iso.name), str::to_string);
        let found = rest.find_item(&library_id, &name)?;
        if found.is_some() {
            existing.push(name.clone());
        }
        jobs.push((iso, name, found));
    }
    if !existing.is_empty() && !plan.force {
        bail!(
            "library {library} already has item{} {}: pass --force to replace its file",
            if existing.len() == 1 { "" } else { "s" },
            existing.join(", ")
        );
    }
    for (iso, name, found) in jobs {
        upload_one(rest, plan, &library_id, iso, &name, found).with_context(|| {
            format!("uploading {} to library {library} as item {name}", iso.name)
        })?;
        writeln!(
            io::stdout(),
            "uploaded {} ({}) to library {library} as item {name} on {}",
            iso.name,
            human_size(iso.size),
            plan.server.host
        )?;
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

fn upload_one(
    rest: &Rest,
    plan: &UploadPlan,
    library_id: &str,
    iso: &LocalIso,
    name: &str,
    existing: Option<String>,
) -> Result<()> {
    let bar = progress_bar(iso.size, format!("sha1 {}", iso.name), plan.quiet);
    let mut sha1 = Sha1::new();
    stream_file(&iso.path, &bar, |chunk| sha1.update(chunk))?;
    bar.finish_and_clear();
    let checksum = hex(&sha1.finalize());

    let created = existing.is_none();
    let item_id = match existing {
        Some(id) => id,
        None => rest.create_item(library_id, name)?,
    };
    let result = rest.create_update_session(&item_id).and_then(|session| {
        let r = transfer(rest, plan, &session, iso, &checksum);
        if r.is_err() {
            rest.abandon_session(&session);
        }
        r
    });
    if result.is_err() && created {
        rest.delete_item(&item_id);
    }
    result
}

fn transfer(
    rest: &Rest,
    plan: &UploadPlan,
    session: &str,
    iso: &LocalIso,
    checksum: &str,
) -> Result<()> {
    let added = rest.call(
        Method::POST,
        &format!("{UPDATE_SESSION_FILE}/id:{session}?~action=add"),
        Some(json!({"file_spec": {
            "name": iso.name,
            "source_type": "PUSH",
            "size": iso.size,
            "checksum_info": {"algorithm": "SHA1", "checksum": checksum},
        }})),
        "adding the file to the update session",
    )?;
    let uri = added
        .pointer("/upload_endpoint/uri")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("vCenter returned no upload_endpoint for {}", iso.name))?;

    let bar = progress_bar(iso.size, iso.name.clone(), plan.quiet);
    let reader = ProgressReader::open(&iso.path, bar.clone())?;
    let request = Request::builder()
        .method(Method::PUT)
        .uri(uri)
        .header(SESSION_HEADER, &rest.session)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, iso.size)
        .body(SendBody::from_owned_reader(reader))?;
    let result = rest.client.agent.run(request);
    bar.finish_and_clear();
    let mut resp = result.map_err(|e| anyhow!("sending the file: {}", rest.explain(&e)))?;
    let status = resp.status().as_u16();
    if !(200..=299).contains(&status) {
        let body = body_snippet(&mut resp);
        bail!(
            "sending the file: {} answered HTTP {status}{body}",
            rest.server.host
        );
    }

    rest.call(
        Method::POST,
        &format!("{UPDATE_SESSION}/id:{session}?~action=complete"),
        None,
        "completing the update session",
    )?;
    wait_done(rest, session)
}

fn wait_done(rest: &Rest, session: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        let info = rest.call(
            Method::GET,
            &format!("{UPDATE_SESSION}/id:{session}"),
            None,
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

/// A logged-in `/rest` session.
struct Rest<'a> {
    client: &'a Client,
    server: &'a Server,
    username: String,
    session: String,
}

impl<'a> Rest<'a> {
    fn login(client: &'a Client, server: &'a Server, creds: &Credentials) -> Result<Rest<'a>> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(server.url("/rest/com/vmware/cis/session"))
            .header(header::AUTHORIZATION, creds.basic_auth())
            .body(())?;
        let mut resp = client.agent.run(request).map_err(|e| {
            anyhow!(
                "logging in to {}: {}",
                server.host,
                client.explain(&e, server)
            )
        })?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => {}
            401 | 403 => bail!(
                "{} refused the credentials of {} (HTTP {status}): check --username \
                 or ESXI_ISO_USERNAME, and ESXI_ISO_PASSWORD",
                server.host,
                creds.username
            ),
            404 => bail!(
                "{} has no content library API (HTTP 404 on /rest): --library needs \
                 vCenter; for a standalone ESXi host use --datastore",
                server.host
            ),
            _ => bail!(
                "logging in to {}: HTTP {status}{}",
                server.host,
                creds.scrub(&body_snippet(&mut resp))
            ),
        }
        let body = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow!("reading the login answer of {}: {e}", server.host))?;
        let session = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("value").and_then(Value::as_str).map(str::to_string))
            .ok_or_else(|| anyhow!("{} sent no session id at login", server.host))?;
        Ok(Rest {
            client,
            server,
            username: creds.username.clone(),
            session,
        })
    }

    fn logout(&self) {
        let _ = self.call(
            Method::DELETE,
            "/rest/com/vmware/cis/session",
            None,
            "logging out",
        );
    }

    fn explain(&self, err: &ureq::Error) -> String {
        self.client.explain(err, self.server)
    }

    /// One JSON call; returns the `value` member (Null when absent).
    fn call(&self, method: Method, path: &str, body: Option<Value>, doing: &str) -> Result<Value> {
        let builder = Request::builder()
            .method(method)
            .uri(self.server.url(path))
            .header(SESSION_HEADER, &self.session)
            .header(header::ACCEPT, "application/json");
        let result = match body {
            Some(b) => self.client.agent.run(
                builder
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.to_string())?,
            ),
            None => self.client.agent.run(builder.body(())?),
        };
        let mut resp = result.map_err(|e| anyhow!("{doing}: {}", self.explain(&e)))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow!("{doing}: reading the answer: {e}"))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..=299).contains(&status) {
            let what = vapi_error(&json);
            bail!(
                "{doing}: {} answered HTTP {status}{what}{}",
                self.server.host,
                match status {
                    401 => "; the session expired or was refused, run again".to_string(),
                    403 => format!(
                        "; {} lacks content library privileges (Content library > \
                         Add library item, Update files)",
                        self.username
                    ),
                    _ => String::new(),
                }
            );
        }
        Ok(json.get("value").cloned().unwrap_or(Value::Null))
    }

    fn find_library(&self, name: &str) -> Result<String> {
        let ids = self.call(
            Method::POST,
            &format!("{LIBRARY}?~action=find"),
            Some(json!({"spec": {"name": name}})),
            &format!("looking up content library {name}"),
        )?;
        let ids = string_list(&ids);
        match ids.as_slice() {
            [id] => Ok(id.clone()),
            [] => bail!(
                "content library {name} not found on {}: check --library, or create \
                 it in the vSphere Client (Content Libraries > Create)",
                self.server.host
            ),
            _ => bail!(
                "{} content libraries are named {name}; rename one",
                ids.len()
            ),
        }
    }

    fn find_item(&self, library_id: &str, name: &str) -> Result<Option<String>> {
        let ids = self.call(
            Method::POST,
            &format!("{ITEM}?~action=find"),
            Some(json!({"spec": {"library_id": library_id, "name": name}})),
            &format!("looking up library item {name}"),
        )?;
        Ok(string_list(&ids).into_iter().next())
    }

    fn create_item(&self, library_id: &str, name: &str) -> Result<String> {
        let id = self.call(
            Method::POST,
            ITEM,
            Some(json!({"create_spec": {
                "library_id": library_id,
                "name": name,
                "type": "iso",
                "description": "uploaded by esxi-iso",
            }})),
            &format!("creating library item {name}"),
        )?;
        id.as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("vCenter returned no id for the new item {name}"))
    }

    fn delete_item(&self, item_id: &str) {
        let _ = self.call(
            Method::DELETE,
            &format!("{ITEM}/id:{item_id}"),
            None,
            "removing the unfinished item",
        );
    }

    fn create_update_session(&self, item_id: &str) -> Result<String> {
        let id = self.call(
            Method::POST,
            UPDATE_SESSION,
            Some(json!({"create_spec": {"library_item_id": item_id}})),
            "opening an update session",
        )?;
        id.as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("vCenter returned no update session id"))
    }

    /// Best effort: the session may already be gone.
    fn abandon_session(&self, session: &str) {
        let path = format!("{UPDATE_SESSION}/id:{session}");
        let _ = self.call(
            Method::POST,
            &format!("{path}?~action=cancel"),
            None,
            "cancelling the update session",
        );
        let _ = self.call(Method::DELETE, &path, None, "deleting the update session");
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

/// ` (type: message)` from a vAPI error body, or nothing.
fn vapi_error(body: &Value) -> String {
    let kind = body
        .get("type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('.').next().unwrap_or(t));
    let messages: Vec<&str> = body
        .pointer("/value/messages")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    m.get("default_message")
                        .and_then(Value::as_str)
                        .or(m.as_str())
                })
                .collect()
        })
        .unwrap_or_default();
    match (kind, messages.is_empty()) {
        (None, true) => String::new(),
        (Some(k), true) => format!(" ({k})"),
        (k, false) => format!(
            " ({}{})",
            k.map(|k| format!("{k}: ")).unwrap_or_default(),
            messages.join("; ")
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    #[test]
    fn vapi_errors_are_summarised() {
        let cases = [
            (json!({}), ""),
            (
                json!({"type": "com.vmware.vapi.std.errors.already_exists"}),
                " (already_exists)",
            ),
            (
                json!({"type": "com.vmware.vapi.std.errors.not_allowed_in_current_state",
                       "value": {"messages": [{"default_message": "checksum mismatch"}]}}),
                " (not_allowed_in_current_state: checksum mismatch)",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(vapi_error(&input), want);
        }
    }
}
