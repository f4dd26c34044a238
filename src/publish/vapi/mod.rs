//! The vSphere Automation (vAPI) REST endpoint of a vCenter, in its two
//! URL forms, for the content library calls that `upload --library` makes.
//!
//! - **`/api`** (vCenter 7.0U2 and later; the only forms VMware keeps
//!   after deprecating `/rest`, KB 83022): `POST /api/session` answers 201
//!   with the session id as a bare JSON string; requests and answers carry
//!   bare JSON (no `spec`/`create_spec` wrapper, no `{"value": ...}`);
//!   actions are `?action=NAME`; ids are path segments; creates answer 201,
//!   and complete/cancel/delete 204 with no body; errors are
//!   `{"error_type": "NOT_FOUND", "messages": [...]}`.
//! - **`/rest`** (vCenter 6.5 to 7.0U1, still served by 7.0U2 and 8, and
//!   the only forms govmomi 0.24's vcsim knows): `/rest/com/vmware/...`,
//!   `~action=NAME`, `id:ID` segments, bodies wrapped in `spec`,
//!   `create_spec` or `file_spec`, answers wrapped in `{"value": ...}`,
//!   errors `{"type": "com.vmware.vapi.std.errors.not_found", "value":
//!   {"messages": [...]}}`.
//!
//! Which forms a server speaks is found once per run, at login: `POST
//! /api/session`, and on 404 `POST /rest/com/vmware/cis/session`. Both take
//! HTTP basic authentication and give a session id that later requests
//! send in the `vmware-api-session-id` header.
//!
//! References: the vSphere Automation API reference on
//! developer.broadcom.com (xapis/vsphere-automation-api/latest: "Create
//! Session" `cis/api/session/post`; "Content Library find"
//! `api/content/library__action=find/post`; "Content Library Item find"
//! `api/content/library/item__action=find/post`; "Content Library Item
//! create" `api/content/library/item/post`; "Content Library Item
//! UpdateSession create" and "complete"
//! `api/content/library/item/update-session/updateSessionId__action=complete/post`;
//! "Vapi Std Errors Error" for the error body), and the operation table
//! "Library Item Updatesession File APIs" (8.0U2 and latest), which lists
//! the file add as a create on `/update-session/{id}/file`, with no action,
//! as does a C# client generated from that spec. The `/rest` forms follow
//! the vSphere Automation SDK REST 6.7 reference
//! (operations/com/vmware/content/...) and govmomi 0.24's vapi/internal.
//!
//! The route table is `routes`; this file logs in, finds the forms, and
//! makes the calls. Not covered: SAML/token login, OVF items, several
//! files per item.

use anyhow::{anyhow, bail, Result};
use serde_json::Value;
use ureq::http::{header, Method, Request};

use super::auth::Credentials;
use crate::progress::Trace;
use crate::vsphere::http::{body_snippet, Client, Server};

mod routes;

pub use routes::{FileSpec, Forms, Op, Route};

pub const SESSION_HEADER: &str = "vmware-api-session-id";

/// The body of a POST that has none: sent with `Content-Length: 0`, where
/// ureq would otherwise send an empty chunked body, which not every proxy
/// in front of a vCenter need accept.
const NO_BODY: &[u8] = &[];

/// What a login answer means for the next step.
#[derive(Debug, PartialEq, Eq)]
enum LoginStep {
    LoggedIn,
    /// `/api/session` is unknown here: an older vCenter, try `/rest`.
    TryRest,
    Refused,
    /// Neither form exists: not a vCenter.
    NoApi,
    Failed,
}

fn login_step(forms: Forms, status: u16) -> LoginStep {
    match (forms, status) {
        (_, 200..=299) => LoginStep::LoggedIn,
        (_, 401 | 403) => LoginStep::Refused,
        (Forms::Api, 404) => LoginStep::TryRest,
        (Forms::Rest, 404) => LoginStep::NoApi,
        _ => LoginStep::Failed,
    }
}

/// A logged-in vAPI session in the forms the server speaks.
pub struct Session<'a> {
    client: &'a Client,
    server: &'a Server,
    forms: Forms,
    username: String,
    id: String,
    trace: Trace,
    /// The `Date` of the last answer: the server's clock, for reading the
    /// expiration times it gives.
    date: std::sync::Mutex<Option<std::time::SystemTime>>,
}

impl<'a> Session<'a> {
    /// Logs in with the `/api` forms, or the `/rest` forms where `/api`
    /// is not there.
    pub fn login(
        client: &'a Client,
        server: &'a Server,
        creds: &Credentials,
        trace: &Trace,
    ) -> Result<Session<'a>> {
        let mut forms = Forms::Api;
        loop {
            let path = forms.session_path();
            let request = Request::builder()
                .method(Method::POST)
                .uri(server.url(path))
                .header(header::AUTHORIZATION, creds.basic_auth())
                .header(header::ACCEPT, "application/json")
                .body(NO_BODY)?;
            let mut resp = client.agent.run(request).map_err(|e| {
                anyhow!(
                    "logging in to {}: {}",
                    server.host,
                    client.explain(&e, server)
                )
            })?;
            let status = resp.status().as_u16();
            trace.say(|| format!("POST {path} -> {status}"));
            match login_step(forms, status) {
                LoginStep::LoggedIn => {
                    let body = resp
                        .body_mut()
                        .read_to_string()
                        .map_err(|e| anyhow!("reading the login answer of {}: {e}", server.host))?;
                    let id = serde_json::from_str::<Value>(&body)
                        .ok()
                        .map(|v| forms.result(v))
                        .and_then(|v| v.as_str().map(str::to_string))
                        .filter(|id| !id.is_empty())
                        .ok_or_else(|| {
                            anyhow!("{} sent no session id at login ({path})", server.host)
                        })?;
                    trace.say(|| {
                        format!(
                            "{} speaks the {} forms of the vSphere Automation API ({})",
                            server.host,
                            forms.label(),
                            forms.versions()
                        )
                    });
                    return Ok(Session {
                        client,
                        server,
                        forms,
                        username: creds.username.clone(),
                        id,
                        trace: trace.clone(),
                        date: Default::default(),
                    });
                }
                LoginStep::TryRest => forms = Forms::Rest,
                LoginStep::Refused => bail!(
                    "{} refused the credentials of {} (HTTP {status} on {path}): check \
                     --username or ESXI_ISO_USERNAME (on vCenter with its domain, e.g. \
                     administrator@vsphere.local), and ESXI_ISO_PASSWORD",
                    server.host,
                    creds.username
                ),
                LoginStep::NoApi => bail!(
                    "{} has no content library API (HTTP 404 on /api/session and on \
                     /rest): --library needs vCenter; for a standalone ESXi host use \
                     --datastore",
                    server.host
                ),
                LoginStep::Failed => bail!(
                    "logging in to {} at {path}: HTTP {status}{}{}",
                    server.host,
                    creds.scrub(&body_snippet(&mut resp)),
                    if status == 400 && forms == Forms::Api {
                        "; an ESXi host answers this way: --library needs vCenter \
                         (use --datastore for a host)"
                    } else {
                        ""
                    }
                ),
            }
        }
    }

    pub fn forms(&self) -> Forms {
        self.forms
    }

    pub fn client(&self) -> &Client {
        self.client
    }

    pub fn server(&self) -> &Server {
        self.server
    }

    /// The session id, for the upload endpoint's PUT.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The server's clock at its last answer, when it sent a `Date`.
    pub fn server_date(&self) -> Option<std::time::SystemTime> {
        self.date.lock().ok().and_then(|d| *d)
    }

    /// Best effort: the session expires on its own.
    pub fn logout(&self) {
        let _ = self.call(&Op::Logout, "logging out");
    }

    pub fn explain(&self, err: &ureq::Error) -> String {
        self.client.explain(err, self.server)
    }

    /// One call; returns its result (Null for an empty answer).
    pub fn call(&self, op: &Op, doing: &str) -> Result<Value> {
        let Route { method, path, body } = self.forms.route(op);
        let builder = Request::builder()
            .method(method.clone())
            .uri(self.server.url(&path))
            .header(SESSION_HEADER, &self.id)
            .header(header::ACCEPT, "application/json");
        let result = match body {
            Some(b) => self.client.agent.run(
                builder
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(b.to_string())?,
            ),
            None if method == Method::POST => self.client.agent.run(builder.body(NO_BODY)?),
            None => self.client.agent.run(builder.body(())?),
        };
        let mut resp = result.map_err(|e| anyhow!("{doing}: {}", self.explain(&e)))?;
        let status = resp.status().as_u16();
        self.trace.say(|| format!("{method} {path} -> {status}"));
        if let Some(date) = resp
            .headers()
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
        {
            if let Ok(mut d) = self.date.lock() {
                *d = Some(date);
            }
        }
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| anyhow!("{doing}: reading the answer: {e}"))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..=299).contains(&status) {
            bail!(
                "{doing}: {} answered HTTP {status}{}{}",
                self.server.host,
                vapi_error(&json),
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
        Ok(self.forms.result(json))
    }
}

/// ` (kind: message)` from an error body in either form, or nothing.
pub fn vapi_error(body: &Value) -> String {
    // /api: {"error_type": "NOT_FOUND", "messages": [...]}
    // /rest: {"type": "com.vmware.vapi.std.errors.not_found", "value": {"messages": [...]}}
    let kind = body.get("error_type").and_then(Value::as_str).or_else(|| {
        body.get("type")
            .and_then(Value::as_str)
            .map(|t| t.rsplit('.').next().unwrap_or(t))
    });
    let messages: Vec<&str> = body
        .get("messages")
        .or_else(|| body.pointer("/value/messages"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn login_falls_back_to_rest_only_on_404() {
        let cases = [
            (Forms::Api, 201, LoginStep::LoggedIn),
            (Forms::Api, 200, LoginStep::LoggedIn),
            (Forms::Api, 404, LoginStep::TryRest),
            (Forms::Api, 401, LoginStep::Refused),
            (Forms::Api, 403, LoginStep::Refused),
            (Forms::Api, 400, LoginStep::Failed),
            (Forms::Api, 503, LoginStep::Failed),
            (Forms::Rest, 200, LoginStep::LoggedIn),
            (Forms::Rest, 404, LoginStep::NoApi),
            (Forms::Rest, 401, LoginStep::Refused),
            (Forms::Rest, 500, LoginStep::Failed),
        ];
        for (forms, status, want) in cases {
            assert_eq!(login_step(forms, status), want, "{forms:?} {status}");
        }
    }

    #[test]
    fn results_are_unwrapped_per_form() {
        assert_eq!(Forms::Api.result(json!("sid")), json!("sid"));
        assert_eq!(Forms::Rest.result(json!({"value": "sid"})), json!("sid"));
        assert_eq!(Forms::Rest.result(json!("sid")), Value::Null);
        assert_eq!(Forms::Api.result(Value::Null), Value::Null);
    }

    #[test]
    fn vapi_errors_are_summarised_in_both_forms() {
        let cases = [
            (json!({}), ""),
            (Value::Null, ""),
            (
                json!({"type": "com.vmware.vapi.std.errors.already_exists"}),
                " (already_exists)",
            ),
            (
                json!({"type": "com.vmware.vapi.std.errors.not_allowed_in_current_state",
                       "value": {"messages": [{"default_message": "checksum mismatch"}]}}),
                " (not_allowed_in_current_state: checksum mismatch)",
            ),
            (
                json!({"error_type": "NOT_FOUND",
                       "messages": [{"args": [], "default_message": "Not found.",
                                     "id": "com.vmware.vapi.rest.httpNotFound"}]}),
                " (NOT_FOUND: Not found.)",
            ),
            (
                json!({"error_type": "UNAUTHENTICATED", "messages": []}),
                " (UNAUTHENTICATED)",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(vapi_error(&input), want, "{input}");
        }
    }
}
