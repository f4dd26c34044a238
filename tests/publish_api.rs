//! `upload --library` against a vCenter that speaks only the `/api` forms
//! of the vSphere Automation API: tests/publish_support/vapi_mock.rs, a
//! stand-in written from the API reference that refuses wrong paths,
//! missing session headers and `/rest`-shaped bodies the way a vCenter
//! does (and a test here proves it refuses them). Also the login's choice
//! between `/api` and `/rest`. The `/rest` forms run against govmomi's
//! vcsim in tests/publish.rs.

mod publish_support;

use esxi_iso::publish::vapi::{FileSpec, Forms, Op, Route};
use esxi_iso::vsphere::http::{basic_auth, Client, Trust};
use publish_support::vapi_mock::{ApiOpts, ApiServer};
use publish_support::*;
use serde_json::{json, Value};

/// The password, distinctive enough that finding it in any output is a leak.
const SECRET: &str = "Api-Pw-Never-Shown-7";

fn api_creds() -> Vec<(&'static str, &'static str)> {
    vec![("ESXI_ISO_USERNAME", USER), ("ESXI_ISO_PASSWORD", SECRET)]
}

/// `esxi-iso upload lab.iso --server URL --library isos EXTRA...` in `dir`.
fn upload_lab(dir: &std::path::Path, url: &str, extra: &[&str]) -> Run {
    let mut args = vec!["upload", "lab.iso", "--server", url, "--library", "isos"];
    args.extend_from_slice(extra);
    esxi_iso(dir, &args, &api_creds())
}

#[test]
fn publish_api_only_upload_reads_back() {
    let server = ApiServer::start(
        USER,
        SECRET,
        &["isos", "other"],
        ApiOpts {
            polls_before_done: 1,
            ..ApiOpts::default()
        },
    );
    let w = work_dir("publish-api-");
    make_iso(&w.path().join("lab.iso"), 2_000_003, 21);
    let args = [
        "upload",
        "lab.iso",
        "--server",
        &server.url,
        "--library",
        "isos",
    ];
    let run = upload_lab(w.path(), &server.url, &["--json", "--verbose"]);
    run.success()
        .stderr_has(&[
            "POST /api/session -> 201",
            "speaks the /api forms",
            "POST /api/content/library?action=find -> 200",
            "PUT /cls/data/",
            "?action=complete -> 204",
            "DELETE /api/session -> 204",
        ])
        .stderr_lacks("/rest")
        // Neither the password nor the session id (the stand-in's are
        // sid-NNNN) is traced.
        .stderr_lacks("sid-")
        .never_shows(SECRET);
    let summary: Value = serde_json::from_str(&run.stdout()).expect("--json output");
    assert_eq!(summary["api"], "/api");
    assert_eq!(summary["target"], "library");

    // Read the bytes back from what the server stored.
    let item = server.item("isos", "lab").expect("item lab created");
    assert_eq!(summary["uploads"][0]["item_id"], item.id.as_str());
    assert_eq!(item.kind, "iso");
    assert_eq!(item.files.keys().collect::<Vec<_>>(), ["lab.iso"]);
    let want = sha256_file(&w.path().join("lab.iso"));
    assert_eq!(sha256(&item.files["lab.iso"]), want);
    assert_eq!(summary["uploads"][0]["sha256"], want.as_str());
    assert_eq!(summary["uploads"][0]["replaced"], false);
    // Every request was one the server accepts, none in the /rest forms,
    // and nothing is left open.
    for line in server.log().iter().filter(|l| !l.starts_with("POST /sdk")) {
        assert!(
            line.ends_with(" -> 200") || line.ends_with(" -> 201") || line.ends_with(" -> 204"),
            "{line}"
        );
        assert!(!line.contains("/rest"), "{line}");
    }
    assert_eq!(server.live_sessions(), 0);
    assert_eq!(server.update_sessions(), ["DONE"]);

    // An existing item is refused without --force, before any upload.
    make_iso(&w.path().join("lab.iso"), 1_000_000, 22);
    upload_lab(w.path(), &server.url, &[])
        .failure(4)
        .stderr_has(&["library isos already has item lab", "--force"]);
    assert_eq!(
        sha256(&server.item("isos", "lab").unwrap().files["lab.iso"]),
        want
    );

    // --force replaces the file of the same item.
    upload_lab(w.path(), &server.url, &["--force"]).success();
    let replaced = server.item("isos", "lab").unwrap();
    assert_eq!(replaced.id, item.id);
    assert_eq!(
        sha256(&replaced.files["lab.iso"]),
        sha256_file(&w.path().join("lab.iso"))
    );

    // --item names the item.
    upload_lab(w.path(), &server.url, &["--item", "esxi-8-lab"]).success();
    let other = server.item("isos", "esxi-8-lab").expect("named item");
    assert_eq!(
        sha256(&other.files["lab.iso"]),
        sha256_file(&w.path().join("lab.iso"))
    );
    assert_eq!(server.item_count(), 2);

    // Unknown library, wrong password: explained; a refused login does not
    // go on to try /rest.
    let mut unknown = args.to_vec();
    unknown[5] = "nope";
    esxi_iso(w.path(), &unknown, &api_creds())
        .failure(2)
        .stderr_has(&[
            "content library nope not found",
            "its libraries: isos, other",
            "--library",
        ]);
    let before = server.log().len();
    esxi_iso(
        w.path(),
        &args,
        &[
            ("ESXI_ISO_USERNAME", USER),
            ("ESXI_ISO_PASSWORD", "Wrong-Pw-9"),
        ],
    )
    .failure(5)
    .stderr_has(&[
        "refused the credentials of user (HTTP 401 on /api/session)",
        "ESXI_ISO_PASSWORD",
    ])
    .never_shows("Wrong-Pw-9");
    assert_eq!(
        server.log()[before..],
        ["POST /sdk -> 404", "POST /api/session -> 401"]
    );
    assert_eq!(server.live_sessions(), 0);
}

/// A checksum mismatch (the server flips a byte of what it receives): the
/// update session ends in ERROR, and the client cancels and deletes it,
/// removes the item it created and logs out, request by request.
#[test]
fn publish_api_checksum_failure_cleans_up() {
    let server = ApiServer::start(
        USER,
        SECRET,
        &["isos"],
        ApiOpts {
            corrupt_upload: true,
            ..ApiOpts::default()
        },
    );
    let w = work_dir("publish-api-");
    make_iso(&w.path().join("lab.iso"), 300_000, 5);
    upload_lab(w.path(), &server.url, &[])
        .failure(5)
        .stderr_has(&[
            "uploading lab.iso to library isos as item lab",
            "update session ended in state ERROR: Checksum mismatch for file lab.iso",
        ]);
    let us = "/api/content/library/item/update-session/us-0004";
    assert_eq!(
        server.log(),
        [
            "POST /sdk -> 404".to_string(),
            "POST /api/session -> 201".into(),
            "POST /api/content/library?action=find -> 200".into(),
            "POST /api/content/library/item?action=find -> 200".into(),
            "POST /api/content/library/item -> 201".into(),
            "POST /api/content/library/item/update-session -> 201".into(),
            format!("POST {us}/file -> 201"),
            format!("GET {us} -> 200"),
            "PUT /cls/data/tok-0005/lab.iso -> 200".into(),
            format!("POST {us}?action=complete -> 204"),
            format!("GET {us} -> 200"),
            // A session in ERROR is no longer active: cancel is refused,
            // delete is not.
            format!("POST {us}?action=cancel -> 400"),
            format!("DELETE {us} -> 204"),
            "DELETE /api/content/library/item/item-0003 -> 204".into(),
            "DELETE /api/session -> 204".into(),
        ]
    );
    assert_eq!(server.item_count(), 0);
    assert!(server.update_sessions().is_empty());
    assert_eq!(server.live_sessions(), 0);
}

struct Raw {
    client: Client,
    base: String,
}

impl Raw {
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some(b) => self.client.agent.run(
                req.header("Content-Type", "application/json")
                    .body(b.to_string())
                    .unwrap(),
            ),
            None => self.client.agent.run(req.body(()).unwrap()),
        };
        let mut resp = result.unwrap();
        let text = resp.body_mut().read_to_string().unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    fn route(&self, route: &Route, sid: &str) -> (u16, Value) {
        self.send(
            route.method.as_str(),
            &route.path,
            &[("vmware-api-session-id", sid)],
            route.body.clone(),
        )
    }
}

/// The stand-in must be able to fail a client: every operation in the
/// `/rest` forms is refused by it, the same operation in the `/api` forms
/// is accepted, and missing headers, wrapped bodies, `~action` and bad
/// values get a vCenter's errors.
#[test]
fn publish_api_mock_refuses_what_vcenter_refuses() {
    let server = ApiServer::start(USER, SECRET, &["isos"], ApiOpts::default());
    let raw = Raw {
        client: Client::new(Trust::Roots).unwrap(),
        base: server.url.clone(),
    };
    let (status, body) = raw.send(
        "POST",
        "/api/session",
        &[("Authorization", &basic_auth(USER, "x"))],
        None,
    );
    assert_eq!(
        (status, body["error_type"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let (status, rest) = raw.send(
        "POST",
        "/rest/com/vmware/cis/session",
        &[("Authorization", &basic_auth(USER, SECRET))],
        None,
    );
    assert_eq!((status, rest), (404, Value::Null));
    let (status, sid) = raw.send(
        "POST",
        "/api/session",
        &[("Authorization", &basic_auth(USER, SECRET))],
        None,
    );
    assert_eq!(status, 201);
    let sid = sid.as_str().expect("a bare JSON string").to_string();

    // Each step in /rest forms first (refused), then in /api forms.
    let step = |op: Op| -> Value {
        let (status, body) = raw.route(&Forms::Rest.route(&op), &sid);
        assert!(status >= 400, "{op:?} in /rest forms: HTTP {status} {body}");
        let (status, body) = raw.route(&Forms::Api.route(&op), &sid);
        assert!(
            (200..300).contains(&status),
            "{op:?} in /api forms: HTTP {status} {body}"
        );
        body
    };
    let lib = step(Op::FindLibrary { name: "isos" })[0]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        step(Op::FindItem {
            library: &lib,
            name: "lab"
        }),
        json!([])
    );
    let item = step(Op::CreateItem {
        library: &lib,
        name: "lab",
    })
    .as_str()
    .unwrap()
    .to_string();
    let us = step(Op::CreateUpdateSession { item: &item })
        .as_str()
        .unwrap()
        .to_string();
    let file = FileSpec {
        name: "lab.iso",
        size: 3,
        sha1: "a9993e364706816aba3e25717850c26c9cd0d89d",
    };
    let added = step(Op::AddFile { session: &us, file });
    let uri = added["upload_endpoint"]["uri"].as_str().unwrap();
    let path = &uri[server.url.len()..];
    assert_eq!(
        raw.send("PUT", path, &[], Some(json!("x"))).0,
        401,
        "PUT without the session header"
    );
    let put = raw.client.agent.run(
        ureq::http::Request::builder()
            .method("PUT")
            .uri(uri)
            .header("vmware-api-session-id", &sid)
            .body("abc".to_string())
            .unwrap(),
    );
    assert_eq!(put.unwrap().status().as_u16(), 200);
    step(Op::CompleteSession { session: &us });
    assert_eq!(step(Op::GetSession { session: &us })["state"], "DONE");
    assert_eq!(server.item("isos", "lab").unwrap().files["lab.iso"], b"abc");
    step(Op::DeleteSession { session: &us });
    step(Op::DeleteItem { item: &item });

    // Errors in the shapes of the reference.
    let hdr = [("vmware-api-session-id", sid.as_str())];
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        Option<Value>,
        u16,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/content/library?action=find",
            &[],
            Some(json!({"name": "isos"})),
            401,
            "UNAUTHENTICATED",
        ),
        (
            "POST",
            "/api/content/library?action=find",
            &hdr,
            Some(json!({"spec": {"name": "isos"}})),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "POST",
            "/api/content/library?action=find",
            &hdr,
            Some(json!({})),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "POST",
            "/api/content/library?~action=find",
            &hdr,
            Some(json!({"name": "isos"})),
            404,
            "NOT_FOUND",
        ),
        (
            "POST",
            "/api/content/library/item",
            &hdr,
            Some(json!({"create_spec": {"library_id": lib, "name": "x"}})),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "POST",
            "/api/content/library/item",
            &hdr,
            Some(json!({"library_id": "lib-nope", "name": "x"})),
            404,
            "NOT_FOUND",
        ),
        (
            "GET",
            "/api/content/library/item/id:item-0001",
            &hdr,
            None,
            404,
            "NOT_FOUND",
        ),
        (
            "POST",
            "/api/content/library/item/update-session",
            &hdr,
            Some(json!({"library_item_id": 7})),
            400,
            "INVALID_ARGUMENT",
        ),
        (
            "DELETE",
            "/api/content/library/item/update-session/us-nope",
            &hdr,
            None,
            404,
            "NOT_FOUND",
        ),
    ];
    for (method, path, headers, body, want, kind) in cases {
        let (status, got) = raw.send(method, path, headers, body.clone());
        assert_eq!(
            (status, got["error_type"].as_str()),
            (want, Some(kind)),
            "{method} {path} {body:?}: {got}"
        );
        assert!(got["messages"][0]["default_message"].is_string(), "{got}");
    }
    assert_eq!(raw.send("DELETE", "/api/session", &hdr, None).0, 204);
    assert_eq!(
        raw.send(
            "POST",
            "/api/content/library?action=find",
            &hdr,
            Some(json!({"name": "isos"}))
        )
        .0,
        401,
        "a logged-out session is refused"
    );
}

/// What the login makes of servers that are not a vCenter with `/api`.
#[test]
fn publish_api_login_outcomes() {
    let w = work_dir("publish-api-");
    make_iso(&w.path().join("lab.iso"), 1000, 1);
    type Rule = fn(&str, &str) -> Reply;
    let cases: Vec<(&str, Rule, Vec<&str>, Vec<&str>)> = vec![
        (
            "neither form: an ESXi host",
            |_, _| Reply::Status(404),
            vec!["POST /api/session", "POST /rest/com/vmware/cis/session"],
            vec![
                "no content library API (HTTP 404 on /api/session and on /rest)",
                "--datastore",
            ],
        ),
        (
            "400 on /api/session: no fallback",
            |_, _| {
                Reply::Json(
                    400,
                    r#"{"error_type":"INVALID_REQUEST","messages":[]}"#.into(),
                )
            },
            vec!["POST /api/session"],
            vec!["at /api/session: HTTP 400", "--library needs vCenter"],
        ),
        (
            "a session that is not a JSON string",
            |_, _| Reply::Json(201, r#"{"value":"sid"}"#.into()),
            vec!["POST /api/session"],
            vec!["sent no session id at login (/api/session)"],
        ),
        (
            "/rest refuses the user",
            |_, t| Reply::Status(if t.starts_with("/api") { 404 } else { 401 }),
            vec!["POST /api/session", "POST /rest/com/vmware/cis/session"],
            vec!["refused the credentials of user (HTTP 401 on /rest/com/vmware/cis/session)"],
        ),
    ];
    for (name, rule, calls, expect) in cases {
        let server = FakeServer::start(rule);
        let run = upload_lab(w.path(), &server.url, &[]);
        eprintln!("case {name}: {}", run.stderr().trim());
        run.failure(5).stderr_has(&expect).never_shows(SECRET);
        // First /sdk, which is not SOAP here.
        let requests = server.requests()[1..].to_vec();
        let seen: Vec<String> = requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.target))
            .collect();
        assert_eq!(seen, calls, "{name}");
        // A POST without a body says so with Content-Length: 0, not with
        // an empty chunked body.
        for r in requests {
            assert_eq!(
                r.headers.get("content-length").map(String::as_str),
                Some("0")
            );
            assert!(
                !r.headers.contains_key("transfer-encoding"),
                "{:?}",
                r.headers
            );
        }
    }
}

/// Issue 28: `--force` of new-name.iso onto an item holding old-name.iso
/// leaves the item holding exactly new-name.iso, and says it removed the
/// other (the stand-in, like vCenter, keeps files nobody removed).
#[test]
fn publish_api_force_replaces_every_file_of_the_item() {
    let server = ApiServer::start(USER, SECRET, &["isos"], ApiOpts::default());
    let w = work_dir("publish-api-");
    make_iso(&w.path().join("old-name.iso"), 50_000, 1);
    make_iso(&w.path().join("new-name.iso"), 60_000, 2);
    let up = |file: &str, extra: &[&str]| {
        let mut args = vec![
            "upload",
            file,
            "--server",
            &server.url,
            "--library",
            "isos",
            "--item",
            "lab",
        ];
        args.extend_from_slice(extra);
        esxi_iso(w.path(), &args, &api_creds())
    };
    up("old-name.iso", &[]).success();
    let run = up("new-name.iso", &["--force", "--json"]);
    run.success();
    let item = server.item("isos", "lab").unwrap();
    assert_eq!(item.files.keys().collect::<Vec<_>>(), ["new-name.iso"]);
    assert_eq!(
        sha256(&item.files["new-name.iso"]),
        sha256_file(&w.path().join("new-name.iso"))
    );
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v["uploads"][0]["replaced"], true);
    assert_eq!(v["uploads"][0]["removed"], json!(["old-name.iso"]));
    let us = "/api/content/library/item/update-session/";
    assert!(
        server
            .log()
            .iter()
            .any(|l| l.starts_with(&format!("DELETE {us}"))
                && l.ends_with("/file/old-name.iso -> 204")),
        "{:?}",
        server.log()
    );
    up("old-name.iso", &["--force"])
        .success()
        .stdout()
        .contains("removed new-name.iso")
        .then_some(())
        .expect("the human line names the removed file");
}

/// A PUT that outlasts the sessions' idle lifetime: without keep-alives
/// the stand-in expires both (shown with a raw client first), with them
/// the upload completes.
#[test]
fn publish_api_long_upload_keeps_both_sessions_alive() {
    let opts = ApiOpts {
        session_timeout: Some(std::time::Duration::from_secs(4)),
        slow_put: Some(std::time::Duration::from_secs(8)),
        ..ApiOpts::default()
    };
    // The control: the same steps by hand, no keep-alive; the PUT is
    // refused at its end because the login session expired meanwhile.
    let server = ApiServer::start(USER, SECRET, &["isos"], opts.clone());
    let raw = Raw {
        client: Client::new(Trust::Roots).unwrap(),
        base: server.url.clone(),
    };
    let (_, sid) = raw.send(
        "POST",
        "/api/session",
        &[("Authorization", &basic_auth(USER, SECRET))],
        None,
    );
    let sid = sid.as_str().unwrap().to_string();
    let call = |op: Op| raw.route(&Forms::Api.route(&op), &sid).1;
    let lib = call(Op::FindLibrary { name: "isos" })[0]
        .as_str()
        .unwrap()
        .to_string();
    let item = call(Op::CreateItem {
        library: &lib,
        name: "raw",
    });
    let us = call(Op::CreateUpdateSession {
        item: item.as_str().unwrap(),
    });
    let us = us.as_str().unwrap();
    let file = FileSpec {
        name: "raw.iso",
        size: 64,
        sha1: "a9993e364706816aba3e25717850c26c9cd0d89d",
    };
    let added = call(Op::AddFile { session: us, file });
    let put = raw
        .client
        .agent
        .run(
            ureq::http::Request::builder()
                .method("PUT")
                .uri(added["upload_endpoint"]["uri"].as_str().unwrap())
                .header("vmware-api-session-id", &sid)
                .body("x".repeat(64))
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        put.status().as_u16(),
        401,
        "the stand-in must expire idle sessions"
    );

    // esxi-iso keeps both alive through the same slow PUT.
    let server = ApiServer::start(USER, SECRET, &["isos"], opts);
    let w = work_dir("publish-api-");
    make_iso(&w.path().join("lab.iso"), 400_000, 9);
    upload_lab(w.path(), &server.url, &["--verbose"])
        .success()
        .stderr_has(&["keeping the update session and the login alive every 1 s"]);
    let log = server.log();
    let kept = |part: &str| log.iter().filter(|l| l.contains(part)).count();
    assert!(kept("?action=keep-alive -> 204") >= 2, "{log:?}");
    assert!(kept("GET /api/session -> 200") >= 2, "{log:?}");
    assert_eq!(
        sha256(&server.item("isos", "lab").unwrap().files["lab.iso"]),
        sha256_file(&w.path().join("lab.iso"))
    );
}

/// --skip-existing: an item that holds the same file (by SHA-1) is left
/// alone; one that holds another is in the way unless --force.
#[test]
fn publish_api_skip_existing_items() {
    let server = ApiServer::start(USER, SECRET, &["isos"], ApiOpts::default());
    let w = work_dir("publish-api-");
    make_iso(&w.path().join("lab.iso"), 80_000, 3);
    upload_lab(w.path(), &server.url, &[]).success();
    let before = server.log().len();
    let run = upload_lab(w.path(), &server.url, &["--skip-existing", "--json"]);
    run.success();
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v["uploads"][0]["skipped"], true);
    assert_eq!(v["uploads"][0]["sha256"], Value::Null);
    assert!(
        !server.log()[before..]
            .iter()
            .any(|l| l.contains("update-session")),
        "{:?}",
        server.log()
    );
    make_iso(&w.path().join("lab.iso"), 80_000, 4);
    upload_lab(w.path(), &server.url, &["--skip-existing"])
        .failure(4)
        .stderr_has(&[
            "library isos already has item lab",
            "do not hold the same file",
        ]);
    upload_lab(w.path(), &server.url, &["--skip-existing", "--force"]).success();
    assert_eq!(
        sha256(&server.item("isos", "lab").unwrap().files["lab.iso"]),
        sha256_file(&w.path().join("lab.iso"))
    );
}
