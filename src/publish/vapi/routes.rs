//! The two URL forms of the content library calls, as one pure table:
//! for each operation `upload` makes, the method, path and query, and JSON
//! body in the `/api` forms (vCenter 7.0U2 and later) and in the `/rest`
//! forms (6.5 to 7.0U1, and the simulator). [`super`] says where each
//! shape comes from; the table test below spells every route out.

use serde_json::{json, Value};
use ureq::http::Method;

use crate::vsphere::http::quote;

/// The URL forms of the vAPI REST endpoint a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forms {
    Api,
    Rest,
}

impl Forms {
    /// `/api` or `/rest`, as `--verbose` and `--json` name them.
    pub fn label(self) -> &'static str {
        match self {
            Forms::Api => "/api",
            Forms::Rest => "/rest",
        }
    }

    pub(super) fn versions(self) -> &'static str {
        match self {
            Forms::Api => "vCenter 7.0U2 and later",
            Forms::Rest => "vCenter 6.5 to 7.0U1; deprecated since 7.0U2",
        }
    }

    pub fn session_path(self) -> &'static str {
        match self {
            Forms::Api => "/api/session",
            Forms::Rest => "/rest/com/vmware/cis/session",
        }
    }

    /// Method, path and query, and body of one operation in these forms.
    pub fn route(self, op: &Op) -> Route {
        match self {
            Forms::Api => api_route(op),
            Forms::Rest => rest_route(op),
        }
    }

    /// The result of a call: `/rest` wraps it in `{"value": ...}`.
    pub(super) fn result(self, body: Value) -> Value {
        match self {
            Forms::Api => body,
            Forms::Rest => body.get("value").cloned().unwrap_or(Value::Null),
        }
    }
}

/// A file to add to an update session: pushed by the client, with the size
/// and SHA-1 the server checks on completion.
#[derive(Debug, Clone, Copy)]
pub struct FileSpec<'a> {
    pub name: &'a str,
    pub size: u64,
    pub sha1: &'a str,
}

/// The content library operations `upload` needs.
#[derive(Debug, Clone, Copy)]
pub enum Op<'a> {
    FindLibrary {
        name: &'a str,
    },
    FindItem {
        library: &'a str,
        name: &'a str,
    },
    CreateItem {
        library: &'a str,
        name: &'a str,
    },
    DeleteItem {
        item: &'a str,
    },
    CreateUpdateSession {
        item: &'a str,
    },
    AddFile {
        session: &'a str,
        file: FileSpec<'a>,
    },
    CompleteSession {
        session: &'a str,
    },
    GetSession {
        session: &'a str,
    },
    CancelSession {
        session: &'a str,
    },
    DeleteSession {
        session: &'a str,
    },
    /// Keeps an update session alive, with the client's progress (0-100)
    /// when it went up.
    KeepAlive {
        session: &'a str,
        progress: Option<u64>,
    },
    /// The files of an item.
    ListFiles {
        item: &'a str,
    },
    /// Marks a file of the item for removal when the session completes.
    RemoveFile {
        session: &'a str,
        name: &'a str,
    },
    ListLibraries,
    GetLibrary {
        library: &'a str,
    },
    /// The login session's info: touches it, so it does not expire.
    GetLogin,
    Logout,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

fn route(method: Method, path: String, body: Option<Value>) -> Route {
    Route { method, path, body }
}

const ITEM_DESCRIPTION: &str = "uploaded by esxi-iso";

fn file_spec(f: &FileSpec) -> Value {
    json!({
        "name": f.name,
        "source_type": "PUSH",
        "size": f.size,
        "checksum_info": {"algorithm": "SHA1", "checksum": f.sha1},
    })
}

fn keep_alive_body(progress: Option<u64>) -> Value {
    match progress {
        Some(p) => json!({"client_progress": p}),
        None => json!({}),
    }
}

fn api_route(op: &Op) -> Route {
    const LIB: &str = "/api/content/library";
    const ITEM: &str = "/api/content/library/item";
    const US: &str = "/api/content/library/item/update-session";
    match *op {
        Op::FindLibrary { name } => route(
            Method::POST,
            format!("{LIB}?action=find"),
            Some(json!({"name": name})),
        ),
        Op::FindItem { library, name } => route(
            Method::POST,
            format!("{ITEM}?action=find"),
            Some(json!({"library_id": library, "name": name})),
        ),
        Op::CreateItem { library, name } => route(
            Method::POST,
            ITEM.to_string(),
            Some(json!({
                "library_id": library,
                "name": name,
                "type": "iso",
                "description": ITEM_DESCRIPTION,
            })),
        ),
        Op::DeleteItem { item } => route(Method::DELETE, format!("{ITEM}/{}", quote(item)), None),
        Op::CreateUpdateSession { item } => route(
            Method::POST,
            US.to_string(),
            Some(json!({"library_item_id": item})),
        ),
        Op::AddFile { session, file } => route(
            Method::POST,
            format!("{US}/{}/file", quote(session)),
            Some(file_spec(&file)),
        ),
        Op::CompleteSession { session } => route(
            Method::POST,
            format!("{US}/{}?action=complete", quote(session)),
            None,
        ),
        Op::GetSession { session } => route(Method::GET, format!("{US}/{}", quote(session)), None),
        Op::CancelSession { session } => route(
            Method::POST,
            format!("{US}/{}?action=cancel", quote(session)),
            None,
        ),
        Op::DeleteSession { session } => {
            route(Method::DELETE, format!("{US}/{}", quote(session)), None)
        }
        Op::KeepAlive { session, progress } => route(
            Method::POST,
            format!("{US}/{}?action=keep-alive", quote(session)),
            Some(keep_alive_body(progress)),
        ),
        Op::ListFiles { item } => route(
            Method::GET,
            format!("{ITEM}/file?library_item_id={}", quote(item)),
            None,
        ),
        Op::RemoveFile { session, name } => route(
            Method::DELETE,
            format!("{US}/{}/file/{}", quote(session), quote(name)),
            None,
        ),
        Op::ListLibraries => route(Method::GET, LIB.to_string(), None),
        Op::GetLibrary { library } => route(Method::GET, format!("{LIB}/{}", quote(library)), None),
        Op::GetLogin => route(Method::GET, Forms::Api.session_path().to_string(), None),
        Op::Logout => route(Method::DELETE, Forms::Api.session_path().to_string(), None),
    }
}

fn rest_route(op: &Op) -> Route {
    const LIB: &str = "/rest/com/vmware/content/library";
    const ITEM: &str = "/rest/com/vmware/content/library/item";
    const US: &str = "/rest/com/vmware/content/library/item/update-session";
    const US_FILE: &str = "/rest/com/vmware/content/library/item/updatesession/file";
    match *op {
        Op::FindLibrary { name } => route(
            Method::POST,
            format!("{LIB}?~action=find"),
            Some(json!({"spec": {"name": name}})),
        ),
        Op::FindItem { library, name } => route(
            Method::POST,
            format!("{ITEM}?~action=find"),
            Some(json!({"spec": {"library_id": library, "name": name}})),
        ),
        Op::CreateItem { library, name } => route(
            Method::POST,
            ITEM.to_string(),
            Some(json!({"create_spec": {
                "library_id": library,
                "name": name,
                "type": "iso",
                "description": ITEM_DESCRIPTION,
            }})),
        ),
        Op::DeleteItem { item } => {
            route(Method::DELETE, format!("{ITEM}/id:{}", quote(item)), None)
        }
        Op::CreateUpdateSession { item } => route(
            Method::POST,
            US.to_string(),
            Some(json!({"create_spec": {"library_item_id": item}})),
        ),
        Op::AddFile { session, file } => route(
            Method::POST,
            format!("{US_FILE}/id:{}?~action=add", quote(session)),
            Some(json!({"file_spec": file_spec(&file)})),
        ),
        Op::CompleteSession { session } => route(
            Method::POST,
            format!("{US}/id:{}?~action=complete", quote(session)),
            None,
        ),
        Op::GetSession { session } => {
            route(Method::GET, format!("{US}/id:{}", quote(session)), None)
        }
        Op::CancelSession { session } => route(
            Method::POST,
            format!("{US}/id:{}?~action=cancel", quote(session)),
            None,
        ),
        Op::DeleteSession { session } => {
            route(Method::DELETE, format!("{US}/id:{}", quote(session)), None)
        }
        Op::KeepAlive { session, progress } => route(
            Method::POST,
            format!("{US}/id:{}?~action=keep-alive", quote(session)),
            Some(keep_alive_body(progress)),
        ),
        Op::ListFiles { item } => route(
            Method::GET,
            format!("{ITEM}/file?library_item_id={}", quote(item)),
            None,
        ),
        Op::RemoveFile { session, name } => route(
            Method::POST,
            format!("{US_FILE}/id:{}?~action=remove", quote(session)),
            Some(json!({"file_name": name})),
        ),
        Op::ListLibraries => route(Method::GET, LIB.to_string(), None),
        Op::GetLibrary { library } => {
            route(Method::GET, format!("{LIB}/id:{}", quote(library)), None)
        }
        Op::GetLogin => route(
            Method::POST,
            format!("{}?~action=get", Forms::Rest.session_path()),
            None,
        ),
        Op::Logout => route(Method::DELETE, Forms::Rest.session_path().to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: FileSpec = FileSpec {
        name: "lab.iso",
        size: 42,
        sha1: "ab12",
    };

    fn spec() -> Value {
        json!({"name": "lab.iso", "source_type": "PUSH", "size": 42,
               "checksum_info": {"algorithm": "SHA1", "checksum": "ab12"}})
    }

    #[test]
    fn routes_follow_each_reference() {
        let s = "us-1";
        type Row<'a> = (Op<'a>, (&'a str, &'a str, Value), (&'a str, &'a str, Value));
        let rows: Vec<Row> = vec![
            (
                Op::FindLibrary { name: "isos" },
                (
                    "POST",
                    "/api/content/library?action=find",
                    json!({"name": "isos"}),
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library?~action=find",
                    json!({"spec": {"name": "isos"}}),
                ),
            ),
            (
                Op::FindItem {
                    library: "lib-1",
                    name: "lab",
                },
                (
                    "POST",
                    "/api/content/library/item?action=find",
                    json!({"library_id": "lib-1", "name": "lab"}),
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item?~action=find",
                    json!({"spec": {"library_id": "lib-1", "name": "lab"}}),
                ),
            ),
            (
                Op::CreateItem {
                    library: "lib-1",
                    name: "lab",
                },
                (
                    "POST",
                    "/api/content/library/item",
                    json!({"library_id": "lib-1", "name": "lab", "type": "iso",
                        "description": "uploaded by esxi-iso"}),
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item",
                    json!({"create_spec": {"library_id": "lib-1", "name": "lab", "type": "iso",
                        "description": "uploaded by esxi-iso"}}),
                ),
            ),
            (
                Op::DeleteItem { item: "it 1" },
                ("DELETE", "/api/content/library/item/it%201", Value::Null),
                (
                    "DELETE",
                    "/rest/com/vmware/content/library/item/id:it%201",
                    Value::Null,
                ),
            ),
            (
                Op::CreateUpdateSession { item: "it-1" },
                (
                    "POST",
                    "/api/content/library/item/update-session",
                    json!({"library_item_id": "it-1"}),
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item/update-session",
                    json!({"create_spec": {"library_item_id": "it-1"}}),
                ),
            ),
            (
                Op::AddFile {
                    session: s,
                    file: FILE,
                },
                (
                    "POST",
                    "/api/content/library/item/update-session/us-1/file",
                    spec(),
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item/updatesession/file/id:us-1?~action=add",
                    json!({"file_spec": spec()}),
                ),
            ),
            (
                Op::CompleteSession { session: s },
                (
                    "POST",
                    "/api/content/library/item/update-session/us-1?action=complete",
                    Value::Null,
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item/update-session/id:us-1?~action=complete",
                    Value::Null,
                ),
            ),
            (
                Op::GetSession { session: s },
                (
                    "GET",
                    "/api/content/library/item/update-session/us-1",
                    Value::Null,
                ),
                (
                    "GET",
                    "/rest/com/vmware/content/library/item/update-session/id:us-1",
                    Value::Null,
                ),
            ),
            (
                Op::CancelSession { session: s },
                (
                    "POST",
                    "/api/content/library/item/update-session/us-1?action=cancel",
                    Value::Null,
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item/update-session/id:us-1?~action=cancel",
                    Value::Null,
                ),
            ),
            (
                Op::DeleteSession { session: s },
                (
                    "DELETE",
                    "/api/content/library/item/update-session/us-1",
                    Value::Null,
                ),
                (
                    "DELETE",
                    "/rest/com/vmware/content/library/item/update-session/id:us-1",
                    Value::Null,
                ),
            ),
            (
                Op::KeepAlive {
                    session: s,
                    progress: Some(40),
                },
                (
                    "POST",
                    "/api/content/library/item/update-session/us-1?action=keep-alive",
                    json!({"client_progress": 40}),
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item/update-session/id:us-1?~action=keep-alive",
                    json!({"client_progress": 40}),
                ),
            ),
            (
                Op::KeepAlive {
                    session: s,
                    progress: None,
                },
                (
                    "POST",
                    "/api/content/library/item/update-session/us-1?action=keep-alive",
                    json!({}),
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item/update-session/id:us-1?~action=keep-alive",
                    json!({}),
                ),
            ),
            (
                Op::ListFiles { item: "it-1" },
                (
                    "GET",
                    "/api/content/library/item/file?library_item_id=it-1",
                    Value::Null,
                ),
                (
                    "GET",
                    "/rest/com/vmware/content/library/item/file?library_item_id=it-1",
                    Value::Null,
                ),
            ),
            (
                Op::RemoveFile {
                    session: s,
                    name: "old lab.iso",
                },
                (
                    "DELETE",
                    "/api/content/library/item/update-session/us-1/file/old%20lab.iso",
                    Value::Null,
                ),
                (
                    "POST",
                    "/rest/com/vmware/content/library/item/updatesession/file/id:us-1?~action=remove",
                    json!({"file_name": "old lab.iso"}),
                ),
            ),
            (
                Op::ListLibraries,
                ("GET", "/api/content/library", Value::Null),
                ("GET", "/rest/com/vmware/content/library", Value::Null),
            ),
            (
                Op::GetLibrary { library: "lib-1" },
                ("GET", "/api/content/library/lib-1", Value::Null),
                ("GET", "/rest/com/vmware/content/library/id:lib-1", Value::Null),
            ),
            (
                Op::GetLogin,
                ("GET", "/api/session", Value::Null),
                ("POST", "/rest/com/vmware/cis/session?~action=get", Value::Null),
            ),
            (
                Op::Logout,
                ("DELETE", "/api/session", Value::Null),
                ("DELETE", "/rest/com/vmware/cis/session", Value::Null),
            ),
        ];
        for (op, api, rest) in rows {
            for (forms, (method, path, body)) in [(Forms::Api, api), (Forms::Rest, rest)] {
                let got = forms.route(&op);
                assert_eq!(got.method.as_str(), method, "{op:?} {forms:?}");
                assert_eq!(got.path, path, "{op:?} {forms:?}");
                assert_eq!(got.body.unwrap_or(Value::Null), body, "{op:?} {forms:?}");
            }
        }
    }
}
