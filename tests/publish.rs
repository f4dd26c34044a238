//! End-to-end tests of `esxi-iso upload` and `esxi-iso vcsp`.
//!
//! The happy paths run against govmomi's simulator (vcsim, see
//! tests/vcsim/main.go), a real vSphere API peer, and read the result back
//! through the server (GET on /folder; the library item's file list and a
//! download session). vcsim does not check auth on /folder, creates missing
//! folders, never answers 405 or resets a connection, and does not validate
//! library checksums, so our handling of those cases is tested against a
//! scripted local HTTP server instead (`publish_errors_*`).

mod publish_support;

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use md5::{Digest, Md5};
use publish_support::*;
use serde_json::Value;

#[test]
fn publish_datastore_upload_reads_back() {
    if !vcsim_available("publish_datastore_upload_reads_back") {
        return;
    }
    let sim = Vcsim::start(VcsimOpts::default());
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab 1.iso"), 3_000_000, 1);
    make_iso(&w.path().join("lab2.iso"), 1_000_001, 2);
    let tp = sim.openssl_thumbprint();
    // Folders are not created (real servers answer 405): it must exist.
    fs::create_dir_all(sim.datastore_path.join("isos/esxi 8")).unwrap();
    let args = [
        "upload",
        "lab 1.iso",
        "lab2.iso",
        "--server",
        &sim.url,
        "--datacenter",
        &sim.datacenter,
        "--datastore",
        &sim.datastore,
        "--folder",
        "isos/esxi 8",
        "--thumbprint",
        &tp,
    ];
    let run = esxi_iso(w.path(), &args, &creds());
    run.success();
    assert!(
        run.stdout().contains("[LocalDS_0] isos/esxi 8/lab 1.iso"),
        "{}",
        run.stdout()
    );
    // Read back through the server, not its disk.
    let lab1 = sha256_file(&w.path().join("lab 1.iso"));
    assert_eq!(sha256(&sim.folder_get("isos/esxi%208/lab%201.iso")), lab1);
    assert_eq!(
        sha256(&sim.folder_get("isos/esxi%208/lab2.iso")),
        sha256_file(&w.path().join("lab2.iso"))
    );

    // Existing files are not overwritten without --force, and nothing is sent.
    make_iso(&w.path().join("lab 1.iso"), 2_000_000, 3);
    esxi_iso(w.path(), &args, &creds()).failure(4).stderr_has(&[
        "lab 1.iso, [LocalDS_0] isos/esxi 8/lab2.iso already exist",
        "--force",
    ]);
    assert_eq!(sha256(&sim.folder_get("isos/esxi%208/lab%201.iso")), lab1);

    let mut forced = args.to_vec();
    forced.push("--force");
    esxi_iso(w.path(), &forced, &creds()).success();
    assert_eq!(
        sha256(&sim.folder_get("isos/esxi%208/lab%201.iso")),
        sha256_file(&w.path().join("lab 1.iso"))
    );

    // The only datacenter that holds the datastore is taken without
    // --datacenter, and --verbose says so.
    make_iso(&w.path().join("lab2.iso"), 1_000_003, 4);
    let run = esxi_iso(
        w.path(),
        &[
            "upload",
            "lab2.iso",
            "--server",
            &sim.url,
            "--datastore",
            &sim.datastore,
            "--folder",
            "isos/esxi 8",
            "--thumbprint",
            &tp,
            "--force",
            "--verbose",
        ],
        &creds(),
    );
    run.success().stderr_has(&[&format!(
        "datastore {} is in datacenter {} only: uploading there",
        sim.datastore, sim.datacenter
    )]);
    assert_eq!(
        sha256(&sim.folder_get("isos/esxi%208/lab2.iso")),
        sha256_file(&w.path().join("lab2.iso"))
    );
}

#[test]
fn publish_datastore_standalone_esxi_insecure() {
    if !vcsim_available("publish_datastore_standalone_esxi_insecure") {
        return;
    }
    let sim = Vcsim::start(VcsimOpts {
        esx: true,
        go_builtin_cert: true,
        ..VcsimOpts::default()
    });
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab.iso"), 1_500_000, 7);
    // No --datacenter: ha-datacenter, as on a standalone host.
    esxi_iso(
        w.path(),
        &[
            "upload",
            "lab.iso",
            "--server",
            &sim.url,
            "--datastore",
            &sim.datastore,
            "--insecure",
        ],
        &creds(),
    )
    .success()
    .stderr_has(&["warning (esxi-iso advice): --insecure", "not verified"]);
    assert_eq!(
        sha256(&sim.folder_get("lab.iso")),
        sha256_file(&w.path().join("lab.iso"))
    );
    // Go's built-in certificate has a 1024-bit RSA key, which certificate
    // checks refuse; pinned, it is trusted as pinned (the handshake
    // signature is verified with that key, in TLS 1.2 since RSA-PSS needs
    // 2048 bits).
    make_iso(&w.path().join("lab.iso"), 1_200_000, 8);
    esxi_iso(
        w.path(),
        &[
            "upload",
            "lab.iso",
            "--server",
            &sim.url,
            "--datastore",
            &sim.datastore,
            "--thumbprint",
            &sim.openssl_thumbprint(),
            "--force",
        ],
        &creds(),
    )
    .success();
    assert_eq!(
        sha256(&sim.folder_get("lab.iso")),
        sha256_file(&w.path().join("lab.iso"))
    );
    // A standalone host has no content library: said from its SOAP about.
    esxi_iso(
        w.path(),
        &[
            "upload",
            "lab.iso",
            "--server",
            &sim.url,
            "--library",
            "isos",
            "--insecure",
        ],
        &creds(),
    )
    .failure(2)
    .stderr_has(&["is a standalone ESXi host", "--datastore"]);
}

#[test]
fn publish_tls_verification_and_thumbprints() {
    if !vcsim_available("publish_tls_verification_and_thumbprints") {
        return;
    }
    let sim = Vcsim::start(VcsimOpts::default());
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab.iso"), 10_000, 1);
    let tp = sim.openssl_thumbprint();
    let upload = |trust: &[&str]| {
        let mut args = vec![
            "upload",
            "lab.iso",
            "--server",
            &sim.url,
            "--datacenter",
            &sim.datacenter,
            "--datastore",
            &sim.datastore,
            "--force",
        ];
        args.extend_from_slice(trust);
        esxi_iso(w.path(), &args, &creds())
    };
    // Verified by default: Go's self-signed test certificate is refused,
    // and the message shows the way out, with the certificate's thumbprint.
    // (openssl's self-signed certificates are marked CA:TRUE.)
    upload(&[]).failure(5).stderr_has(&[
        "is a CA certificate used as the server's own",
        &format!("--thumbprint {tp}"),
    ]);
    let wrong = format!("SHA1:{}", ["AB"; 20].join(":"));
    upload(&["--thumbprint", &wrong])
        .failure(5)
        .stderr_has(&["does not match --thumbprint", &format!("presented {tp}")]);
    upload(&[
        "--thumbprint",
        &tp.to_lowercase()
            .replace(':', "")
            .replacen("sha1", "SHA1:", 1),
    ])
    .success()
    .stderr_lacks("warning");
    upload(&["--thumbprint", &tp, "--insecure"])
        .out
        .status
        .code()
        .filter(|c| *c == 2)
        .expect("--thumbprint and --insecure conflict (usage error)");
}

#[test]
fn publish_tls_ca_cert() {
    if !vcsim_available("publish_tls_ca_cert") {
        return;
    }
    let w = work_dir("publish-");
    let (ca, cert, key) = make_ca_and_leaf(w.path());
    let sim = Vcsim::start(VcsimOpts {
        cert: Some((cert, key)),
        ..VcsimOpts::default()
    });
    make_iso(&w.path().join("lab.iso"), 200_000, 5);
    let base = [
        "upload",
        "lab.iso",
        "--server",
        &sim.url,
        "--datacenter",
        &sim.datacenter,
        "--datastore",
        &sim.datastore,
        "--force",
    ];
    esxi_iso(w.path(), &base, &creds())
        .failure(5)
        .stderr_has(&["is not trusted", "--ca-cert"]);
    let mut with_ca = base.to_vec();
    with_ca.extend(["--ca-cert", ca.to_str().unwrap()]);
    esxi_iso(w.path(), &with_ca, &creds()).success();
    assert_eq!(
        sha256(&sim.folder_get("lab.iso")),
        sha256_file(&w.path().join("lab.iso"))
    );
    let mut bad = base.to_vec();
    bad.extend(["--ca-cert", "lab.iso"]);
    esxi_iso(w.path(), &bad, &creds())
        .failure(3)
        .stderr_has(&["no PEM certificate in lab.iso"]);
}

#[test]
fn publish_library_upload_reads_back() {
    if !vcsim_available("publish_library_upload_reads_back") {
        return;
    }
    let sim = Vcsim::start(VcsimOpts::default());
    let library = sim.create_library("isos");
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab.iso"), 2_500_000, 11);
    let tp = sim.openssl_thumbprint();
    let args = [
        "upload",
        "lab.iso",
        "--server",
        &sim.url,
        "--library",
        "isos",
        "--thumbprint",
        &tp,
    ];
    // vcsim (govmomi 0.24) has no /api: the login falls back to /rest, and
    // --verbose and --json say so.
    let mut first = args.to_vec();
    first.extend(["--json", "--verbose"]);
    let run = esxi_iso(w.path(), &first, &creds());
    run.success().stderr_lacks("error").stderr_has(&[
        "POST /api/session -> 404",
        "POST /rest/com/vmware/cis/session -> 200",
        "speaks the /rest forms",
        "PUT /rest/com/vmware/cis/data/",
    ]);
    let summary: Value = serde_json::from_str(&run.stdout()).expect("--json output");
    assert_eq!(summary["api"], "/rest");
    assert_eq!(summary["target"], "library");

    let rest = sim.rest();
    let item = rest.find_item(&library, "lab").expect("item lab created");
    assert_eq!(summary["uploads"][0]["item_id"], item.as_str());
    assert_eq!(summary["uploads"][0]["size"], 2_500_000);
    assert_eq!(summary["uploads"][0]["replaced"], false);
    assert_eq!(rest.item(&item)["type"], "iso");
    let files = rest.item_files(&item);
    let files = files.as_array().expect("file list");
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0]["name"], "lab.iso");
    assert_eq!(files[0]["size"], 2_500_000);
    let want = sha256_file(&w.path().join("lab.iso"));
    assert_eq!(sha256(&rest.download(&item, "lab.iso")), want);
    assert_eq!(summary["uploads"][0]["sha256"], want.as_str());

    // Existing item: refused without --force, before anything is sent.
    make_iso(&w.path().join("lab.iso"), 1_000_000, 12);
    esxi_iso(w.path(), &args, &creds())
        .failure(4)
        .stderr_has(&["library isos already has item lab", "--force"]);
    assert_eq!(sha256(&rest.download(&item, "lab.iso")), want);

    // --force replaces the file in the same item. (vcsim appends a second
    // file entry where vCenter replaces it, so only the bytes are compared.)
    let mut forced = args.to_vec();
    forced.extend(["--force", "--json"]);
    let run = esxi_iso(w.path(), &forced, &creds());
    run.success();
    let summary: Value = serde_json::from_str(&run.stdout()).expect("--json output");
    assert_eq!(summary["uploads"][0]["replaced"], true);
    assert_eq!(
        summary["uploads"][0]["sha256"],
        sha256_file(&w.path().join("lab.iso")).as_str()
    );
    assert_eq!(rest.find_item(&library, "lab"), Some(item.clone()));
    assert_eq!(
        sha256(&rest.download(&item, "lab.iso")),
        sha256_file(&w.path().join("lab.iso"))
    );

    // --item names the item.
    let mut named = args.to_vec();
    named.extend(["--item", "esxi-8-lab"]);
    esxi_iso(w.path(), &named, &creds()).success();
    let other = rest.find_item(&library, "esxi-8-lab").expect("named item");
    assert_eq!(
        sha256(&rest.download(&other, "lab.iso")),
        sha256_file(&w.path().join("lab.iso"))
    );

    // Unknown library, wrong password: explained.
    let mut unknown = args.to_vec();
    unknown[5] = "nope";
    esxi_iso(w.path(), &unknown, &creds())
        .failure(2)
        .stderr_has(&[
            "content library nope not found",
            "its libraries: isos",
            "--library",
        ]);
    esxi_iso(
        w.path(),
        &args,
        &[("ESXI_ISO_USERNAME", USER), ("ESXI_ISO_PASSWORD", "")],
    )
    .failure(5)
    .stderr_has(&["refused the credentials of user", "ESXI_ISO_PASSWORD"]);
}

/// Statuses vcsim never produces, from a scripted server: each must give a
/// message that says what to do, and never the password.
#[test]
fn publish_errors_explained() {
    const SECRET: &str = "Pw-Never-Shown-42";
    let w = work_dir("publish-");
    // Larger than socket buffers, so an early answer cuts the upload.
    make_iso(&w.path().join("lab.iso"), 16_000_000, 1);
    // No SOAP at /sdk: the basic-authentication path, whose answers come
    // from the file API alone.
    type Rule = fn(&str, &str) -> Reply;
    type Case<'a> = (&'a str, Rule, Vec<&'a str>, i32, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "401",
            |_, _| Reply::Status(401),
            vec![],
            5,
            vec![
                "refused the credentials of root (HTTP 401)",
                "ESXI_ISO_PASSWORD",
            ],
        ),
        (
            "403",
            |_, _| Reply::Status(403),
            vec![],
            5,
            vec![
                "root lacks privileges on datastore datastore1 (HTTP 403)",
                "Datastore.FileManagement",
            ],
        ),
        (
            "404",
            |_, _| Reply::Status(404),
            vec![],
            2,
            vec![
                "datastore datastore1 or datacenter ha-datacenter not found",
                "--datacenter",
            ],
        ),
        (
            "missing folder",
            |m, _| Reply::Status(if m == "HEAD" { 404 } else { 405 }),
            vec!["--folder", "isos/8"],
            2,
            vec![
                "folder [datastore1] isos/8 does not exist",
                "mkdir /vmfs/volumes/datastore1/isos/8",
            ],
        ),
        (
            "405 on the PUT",
            |m, t| match (m, t.starts_with("/folder/isos/8?")) {
                ("HEAD", true) => Reply::Status(200),
                ("HEAD", false) => Reply::Status(404),
                _ => Reply::Status(405),
            },
            vec!["--folder", "isos/8"],
            2,
            vec!["folder [datastore1] isos/8 does not exist", "(HTTP 405)"],
        ),
        (
            "reset",
            |m, t| match m {
                "HEAD" => Reply::Status(404),
                "PUT" => Reply::Reset,
                _ if t == "/sdk" => Reply::Status(404),
                _ => Reply::Status(404),
            },
            vec![],
            5,
            vec!["closed the connection after", "without an answer"],
        ),
        // The server answers before the body (the client asked with
        // Expect: 100-continue): that answer is what is reported.
        (
            "404 before the body",
            |m, _| match m {
                "PUT" => Reply::Early(404),
                _ => Reply::Status(404),
            },
            vec![],
            2,
            vec![
                "datastore datastore1 or datacenter ha-datacenter not found on",
                "(HTTP 404)",
            ],
        ),
        (
            "401 before the body",
            |m, _| match m {
                "PUT" => Reply::Early(401),
                _ => Reply::Status(404),
            },
            vec![],
            5,
            vec!["refused the credentials of root (HTTP 401)"],
        ),
        (
            "exists",
            |_, _| Reply::Status(200),
            vec![],
            4,
            vec!["[datastore1] lab.iso already exists", "--force"],
        ),
        (
            "500",
            |m, _| Reply::Status(if m == "PUT" { 500 } else { 404 }),
            vec![],
            5,
            vec!["answered HTTP 500: status 500"],
        ),
    ];
    for (name, rule, extra, code, expect) in cases {
        let server = FakeServer::start(rule);
        let mut args = vec![
            "upload",
            "lab.iso",
            "--server",
            &server.url,
            "--datastore",
            "datastore1",
            "-q",
        ];
        args.extend(extra);
        let run = esxi_iso(
            w.path(),
            &args,
            &[("ESXI_ISO_USERNAME", "root"), ("ESXI_ISO_PASSWORD", SECRET)],
        );
        eprintln!("case {name}: {}", run.stderr().trim());
        run.failure(code)
            .stderr_has(&expect)
            .stderr_lacks("in use")
            .never_shows(SECRET);
    }
}

/// The exact request the datastore API gets: method, quoted path, default
/// datacenter, headers, streamed body; 201 Created counts as success.
#[test]
fn publish_datastore_request_shape() {
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab 1.iso"), 1_234_567, 9);
    // No SOAP at /sdk (404): basic authentication; the folder is there,
    // the file is not.
    let server = FakeServer::start(|m, t| match m {
        "POST" => Reply::Status(404),
        "HEAD" if t.starts_with("/folder/isos?") => Reply::Status(200),
        "HEAD" => Reply::Status(404),
        _ => Reply::Status(201),
    });
    let run = esxi_iso(
        w.path(),
        &[
            "upload",
            "lab 1.iso",
            "--server",
            &server.url,
            "--datastore",
            "datastore1",
            "--folder",
            "/isos/",
            "--json",
            "--verbose",
        ],
        &[
            ("ESXI_ISO_USERNAME", "root"),
            ("ESXI_ISO_PASSWORD", "VMware1!"),
        ],
    );
    let target = "/folder/isos/lab%201.iso?dcPath=ha-datacenter&dsName=datastore1";
    run.success()
        .stderr_has(&[
            "through /folder with HTTP basic authentication",
            &format!("HEAD {target} -> 404"),
            &format!("PUT {target} -> 201"),
        ])
        .never_shows("VMware1!")
        .never_shows("cm9vdDpWTXdhcmUxIQ");
    let summary: Value = serde_json::from_str(&run.stdout()).expect("--json output");
    assert_eq!(summary["api"], "/folder");
    assert_eq!(summary["target"], "datastore");
    assert_eq!(summary["uploads"][0]["path"], "[datastore1] isos/lab 1.iso");
    assert_eq!(summary["uploads"][0]["size"], 1_234_567);
    assert_eq!(summary["uploads"][0]["replaced"], false);
    assert_eq!(
        summary["uploads"][0]["sha256"],
        sha256_file(&w.path().join("lab 1.iso")).as_str()
    );
    let seen = server.requests();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", "/sdk"),
            (
                "HEAD",
                "/folder/isos?dcPath=ha-datacenter&dsName=datastore1"
            ),
            ("HEAD", target),
            ("PUT", target),
        ]
    );
    let put = &seen[3];
    // Basic root:VMware1!
    let auth = "Basic cm9vdDpWTXdhcmUxIQ==";
    assert!(!seen[0].headers.contains_key("authorization"));
    for r in &seen[1..] {
        assert_eq!(r.headers["authorization"], auth);
    }
    assert_eq!(put.headers["expect"], "100-continue");
    assert_eq!(put.headers["content-type"], "application/octet-stream");
    assert_eq!(put.headers["content-length"], "1234567");
    assert!(
        !put.headers.contains_key("transfer-encoding"),
        "{:?}",
        put.headers
    );
    assert_eq!(sha256(&put.body), sha256_file(&w.path().join("lab 1.iso")));
}

#[test]
fn publish_credentials_come_from_env_only() {
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab.iso"), 1000, 1);
    let server = FakeServer::start(|_, _| Reply::Status(500));
    let base = [
        "upload",
        "lab.iso",
        "--server",
        &server.url,
        "--datastore",
        "ds",
    ];
    esxi_iso(w.path(), &base, &[("ESXI_ISO_PASSWORD", "x")])
        .failure(2)
        .stderr_has(&["no user name: pass --username or set ESXI_ISO_USERNAME"]);
    // No terminal (the runner calls setsid) and no variable: no prompt, a hint.
    esxi_iso(w.path(), &base, &[("ESXI_ISO_USERNAME", "root")])
        .failure(2)
        .stderr_has(&["no password: set ESXI_ISO_PASSWORD"]);
    // There is no password flag, and a password in the URL is refused
    // without being repeated.
    esxi_iso(
        w.path(),
        &[
            "upload",
            "lab.iso",
            "--server",
            "https://root:Sekrit-77@127.0.0.1:9",
            "--datastore",
            "ds",
        ],
        &creds(),
    )
    .failure(2)
    .stderr_has(&["must not contain credentials"])
    .never_shows("Sekrit-77");
    let run = esxi_iso(
        w.path(),
        &["upload", "--password", "x", "lab.iso"],
        &creds(),
    );
    assert_eq!(
        run.out.status.code(),
        Some(2),
        "no --password flag: {}",
        run.stderr()
    );
    assert_eq!(server.requests().len(), 0);
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((
                    rel,
                    fs::read(&p).unwrap(),
                    fs::metadata(&p).unwrap().modified().unwrap(),
                ));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn get_json(base: &str, href: &str) -> Value {
    let (status, body) = http_get(&format!("{base}/{href}"));
    assert_eq!(status, 200, "GET {href}");
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn publish_vcsp_serves_and_is_stable() {
    let w = work_dir("publish-");
    let dir = w.path().join("isos");
    fs::create_dir(&dir).unwrap();
    make_iso(&dir.join("lab 1.iso"), 200_000, 1);
    make_iso(&dir.join("lab2.iso"), 100_000, 2);
    fs::write(dir.join("README.txt"), "not an iso").unwrap();
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let vcsp =
        |env: &[(&str, &str)]| esxi_iso(w.path(), &["vcsp", "isos", "--name", "Lab ISOs"], env);
    vcsp(&epoch).success();

    // Fetch everything from lib.json down over HTTP, as vCenter would.
    let server = StaticServer::start(&dir);
    let lib = get_json(&server.url, "lib.json");
    assert_eq!(lib["vcspVersion"], "2");
    assert_eq!(lib["version"], "1");
    assert_eq!(lib["name"], "Lab ISOs");
    assert_eq!(lib["created"], "2023-11-14T22:13Z");
    assert_eq!(lib["capabilities"]["transferIn"][0], "httpGet");
    assert!(lib["id"].as_str().unwrap().starts_with("urn:uuid:"));
    let items = get_json(&server.url, lib["itemsHref"].as_str().unwrap());
    let items = items["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["selfHref"], "lab%201/item.json");
    assert_eq!(items[0]["files"][0]["hrefs"][0], "lab%201.iso");
    let mut ids = std::collections::BTreeSet::new();
    for item in &items {
        assert_eq!(
            &get_json(&server.url, item["selfHref"].as_str().unwrap()),
            item
        );
        assert_eq!(item["type"], "vcsp.iso");
        assert_eq!(item["version"], "1");
        assert!(ids.insert(item["id"].as_str().unwrap().to_string()));
        assert!(item["id"].as_str().unwrap().starts_with("urn:uuid:"));
        for file in item["files"].as_array().unwrap() {
            let (status, bytes) = http_get(&format!(
                "{}/{}",
                server.url,
                file["hrefs"][0].as_str().unwrap()
            ));
            assert_eq!(status, 200);
            assert_eq!(file["size"], bytes.len());
            assert_eq!(file["etag"], hex(&Md5::digest(&bytes)));
            let local = dir.join(file["name"].as_str().unwrap());
            assert_eq!(sha256(&bytes), sha256_file(&local));
        }
    }

    // Unchanged content: every file keeps its bytes and its mtime, even
    // without SOURCE_DATE_EPOCH.
    let before = snapshot(&dir);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = vcsp(&[]);
    run.success();
    assert!(run.stdout().contains("0 files written"), "{}", run.stdout());
    assert_eq!(snapshot(&dir), before);

    // One ISO changes: its version and the library's go up, nothing else.
    make_iso(&dir.join("lab2.iso"), 100_000, 3);
    vcsp(&epoch).success();
    let lib2 = get_json(&server.url, "lib.json");
    assert_eq!(lib2["version"], "2");
    assert_eq!(lib2["id"], lib["id"]);
    assert_eq!(lib2["created"], lib["created"]);
    let items2 = get_json(&server.url, "items.json")["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items2[0], items[0]);
    assert_eq!(items2[1]["version"], "2");
    assert_eq!(items2[1]["id"], items[1]["id"]);
    let after = snapshot(&dir);
    let item1 =
        |s: &[(String, Vec<u8>, SystemTime)]| s.iter().find(|e| e.0 == "lab 1/item.json").cloned();
    assert_eq!(item1(&after), item1(&before));

    // One ISO goes: its item.json goes too.
    fs::remove_file(dir.join("lab2.iso")).unwrap();
    vcsp(&epoch).success();
    assert!(!dir.join("lab2/item.json").exists());
    assert_eq!(
        get_json(&server.url, "items.json")["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(get_json(&server.url, "lib.json")["version"], "3");

    // An empty folder is an error with a hint.
    let empty = w.path().join("empty");
    fs::create_dir(&empty).unwrap();
    esxi_iso(w.path(), &["vcsp", "empty"], &[])
        .failure(3)
        .stderr_has(&["no .iso files in empty"]);
}

/// A server without HEAD on /folder: the existence check falls back to a
/// one-byte GET.
#[test]
fn publish_datastore_head_unsupported_falls_back_to_get() {
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab.iso"), 5000, 2);
    let server = FakeServer::start(|m, _| {
        Reply::Status(match m {
            "POST" => 404,
            "HEAD" => 405,
            "GET" => 404,
            _ => 200,
        })
    });
    esxi_iso(
        w.path(),
        &[
            "upload",
            "lab.iso",
            "--server",
            &server.url,
            "--datastore",
            "ds",
        ],
        &creds(),
    )
    .success();
    let methods: Vec<String> = server.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["POST", "HEAD", "GET", "PUT"]);
    assert_eq!(server.requests()[2].headers["range"], "bytes=0-0");
}

/// The content library flow, request by request, against a scripted
/// vCenter whose update session ends in ERROR (as a real vCenter's does on
/// a checksum mismatch, which vcsim never checks): the session is cancelled
/// and deleted, the new item removed, and the session logged out.
#[test]
fn publish_library_failure_cleans_up() {
    let w = work_dir("publish-");
    make_iso(&w.path().join("lab.iso"), 100_000, 4);
    let server = FakeServer::start_with_url(|m, t, base| {
        let path = t.split('?').next().unwrap();
        let value = |v: String| Reply::Json(200, format!("{{\"value\":{v}}}"));
        match (m, path) {
            // A vCenter before 7.0U2: no /api.
            ("POST", "/api/session") => Reply::Status(404),
            ("POST", "/rest/com/vmware/cis/session") => value("\"sid-1\"".into()),
            ("POST", "/rest/com/vmware/content/library") => value("[\"lib-1\"]".into()),
            ("POST", "/rest/com/vmware/content/library/item") if t.ends_with("find") => {
                value("[]".into())
            }
            ("POST", "/rest/com/vmware/content/library/item") => value("\"item-1\"".into()),
            ("POST", "/rest/com/vmware/content/library/item/update-session") => {
                value("\"us-1\"".into())
            }
            ("POST", p) if p.ends_with("/updatesession/file/id:us-1") => value(format!(
                "{{\"upload_endpoint\":{{\"uri\":\"{base}/cis/data/up-1/lab.iso\"}}}}"
            )),
            ("GET", p) if p.ends_with("/update-session/id:us-1") => value(
                r#"{"state":"ERROR","error_message":{"default_message":"checksum mismatch"}}"#
                    .into(),
            ),
            ("PUT" | "POST" | "DELETE", _) => Reply::Status(200),
            _ => Reply::Status(404),
        }
    });
    esxi_iso(
        w.path(),
        &[
            "upload",
            "lab.iso",
            "--server",
            &server.url,
            "--library",
            "isos",
        ],
        &creds(),
    )
    .failure(5)
    .stderr_has(&[
        "uploading lab.iso to library isos as item lab",
        "update session ended in state ERROR: checksum mismatch",
    ]);

    // The first request asks /sdk whether this is a host (no SOAP here).
    let seen = server.requests()[1..].to_vec();
    let calls: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.target))
        .collect();
    let cl = "/rest/com/vmware/content/library";
    let us = format!("{cl}/item/update-session/id:us-1");
    assert_eq!(
        calls,
        [
            "POST /api/session".to_string(),
            "POST /rest/com/vmware/cis/session".to_string(),
            format!("POST {cl}?~action=find"),
            format!("POST {cl}/item?~action=find"),
            format!("POST {cl}/item"),
            format!("POST {cl}/item/update-session"),
            format!("POST {cl}/item/updatesession/file/id:us-1?~action=add"),
            format!("GET {us}"),
            "PUT /cis/data/up-1/lab.iso".to_string(),
            format!("POST {us}?~action=complete"),
            format!("GET {us}"),
            format!("POST {us}?~action=cancel"),
            format!("DELETE {us}"),
            format!("DELETE {cl}/item/id:item-1"),
            "DELETE /rest/com/vmware/cis/session".to_string(),
        ]
    );
    for r in &seen[..2] {
        assert_eq!(r.headers["authorization"], "Basic dXNlcjpwYXNz");
    }
    let seen = &seen[1..];
    for r in &seen[1..] {
        assert_eq!(r.headers["vmware-api-session-id"], "sid-1", "{}", r.target);
        assert!(!r.headers.contains_key("authorization"), "{}", r.target);
    }
    let json = |i: usize| serde_json::from_slice::<Value>(&seen[i].body).unwrap();
    assert_eq!(json(1)["spec"]["name"], "isos");
    assert_eq!(json(3)["create_spec"]["type"], "iso");
    assert_eq!(json(3)["create_spec"]["name"], "lab");
    let bytes = fs::read(w.path().join("lab.iso")).unwrap();
    let spec = &json(5)["file_spec"];
    assert_eq!(spec["name"], "lab.iso");
    assert_eq!(spec["source_type"], "PUSH");
    assert_eq!(spec["size"], 100_000);
    assert_eq!(spec["checksum_info"]["algorithm"], "SHA1");
    assert_eq!(
        spec["checksum_info"]["checksum"],
        hex(&sha1::Sha1::digest(&bytes))
    );
    assert_eq!(seen[7].headers["content-length"], "100000");
    assert_eq!(seen[7].headers["content-type"], "application/octet-stream");
    assert_eq!(seen[7].body, bytes);
}
