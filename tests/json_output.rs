//! Every `--json` output against the shapes docs/json.md documents (one
//! ```json block per command, found by the word after `json`): each
//! command's real stdout must be exactly one JSON document (serde_json
//! refuses trailing text) whose keys at every level are the documented
//! ones, with the documented types. So the docs and the binary cannot
//! drift apart without a test failing.

mod common;
mod deploy_support;
mod publish_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::cli::{run_in, Run};
use common::fixture::{self, fixtures, work_dir};
use common::server::Server;
use serde_json::Value;

const PW: &str = "VMware1!lab";

/// The README's JSON blocks by name (```json NAME).
fn documented() -> BTreeMap<String, Value> {
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/json.md")).unwrap();
    let mut out = BTreeMap::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("```json ") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let v: Value = serde_json::from_str(&body.join("\n"))
            .unwrap_or_else(|e| panic!("docs/json.md block json {name} is not JSON: {e}"));
        assert!(
            out.insert(name.trim().to_string(), v).is_none(),
            "docs/json.md has two json {name} blocks"
        );
    }
    out
}

/// Whether `got` has the shape of `doc`: the same keys in every object
/// (an empty documented object is a map whose keys vary), the elements of
/// arrays shaped like the documented first element, the same scalar types.
/// A documented `null` allows anything; a `null` value is always allowed
/// (the convention: a value that does not apply is null, its key stays).
fn check_shape(doc: &Value, got: &Value, at: &str, problems: &mut Vec<String>) {
    match (doc, got) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(d), Value::Object(g)) => {
            if d.is_empty() {
                return;
            }
            for k in d.keys().filter(|k| !g.contains_key(*k)) {
                problems.push(format!("{at}.{k}: documented, missing"));
            }
            for k in g.keys().filter(|k| !d.contains_key(*k)) {
                problems.push(format!("{at}.{k}: printed, not documented"));
            }
            for (k, dv) in d {
                if let Some(gv) = g.get(k) {
                    check_shape(dv, gv, &format!("{at}.{k}"), problems);
                }
            }
        }
        (Value::Array(d), Value::Array(g)) => {
            if let Some(first) = d.first() {
                for (i, gv) in g.iter().enumerate() {
                    check_shape(first, gv, &format!("{at}[{i}]"), problems);
                }
            }
        }
        (Value::Bool(_), Value::Bool(_))
        | (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_)) => {}
        (d, g) => problems.push(format!("{at}: documented as {d}, printed {g}")),
    }
}

/// Parses `text` as exactly one JSON document and checks it against the
/// README block `name`; returns it.
fn matches_doc(docs: &BTreeMap<String, Value>, name: &str, text: &str, what: &str) -> Value {
    let doc = docs
        .get(name)
        .unwrap_or_else(|| panic!("docs/json.md has no json {name} block"));
    let got: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{what}: stdout is not one JSON document ({e}):\n{text}"));
    let mut problems = Vec::new();
    check_shape(doc, &got, name, &mut problems);
    assert!(
        problems.is_empty(),
        "{what} differs from docs/json.md's json {name}:\n  {}\n{got:#}",
        problems.join("\n  ")
    );
    got
}

/// Runs `esxi-iso ARGS` (it must succeed unless `want_code` says) and
/// checks stdout against the README block `name`.
fn json_run(
    docs: &BTreeMap<String, Value>,
    dir: &Path,
    name: &str,
    args: &[&str],
    want_code: i32,
) -> Value {
    let run: Run = run_in(dir, args, &[("ESXI_ISO_ROOT_PASSWORD", PW)]);
    assert_eq!(run.code(), Some(want_code), "{}", run.describe());
    matches_doc(docs, name, &run.stdout(), &run.cmd)
}

#[test]
fn json_shape_check_catches_drift() {
    let doc: Value = serde_json::json!({"a": 1, "b": [{"c": "x"}], "m": {}, "n": null});
    let cases = [
        (
            serde_json::json!({"a": 2, "b": [], "m": {"k": 1}, "n": [1]}),
            0,
        ),
        (
            serde_json::json!({"a": null, "b": [{"c": "y"}], "m": {}, "n": 1}),
            0,
        ),
        (serde_json::json!({"b": [], "m": {}, "n": 1}), 1),
        (
            serde_json::json!({"a": 1, "b": [], "m": {}, "n": 1, "z": 0}),
            1,
        ),
        (
            serde_json::json!({"a": "1", "b": [{"c": 1}], "m": {}, "n": 1}),
            2,
        ),
        (serde_json::json!({"a": 1, "b": [{}], "m": {}, "n": 1}), 1),
    ];
    for (got, want) in cases {
        let mut problems = Vec::new();
        check_shape(&doc, &got, "doc", &mut problems);
        assert_eq!(problems.len(), want, "{got}: {problems:?}");
    }
}

#[test]
fn json_every_documented_block_is_checked() {
    let docs = documented();
    let checked = [
        "build",
        "lab",
        "netboot",
        "inspect",
        "verify",
        "kickstart-lint",
        "kickstart-vars",
        "extract",
        "pack",
        "upload",
        "deploy",
        "deploy-destroy",
        "vcsp",
        "status",
        "serve-listening",
        "serve-request",
        "serve-stopped",
    ];
    let names: Vec<&str> = docs.keys().map(String::as_str).collect();
    let mut want = checked.to_vec();
    want.sort();
    assert_eq!(
        names, want,
        "docs/json.md blocks and the blocks tests check"
    );
}

/// build, inspect, verify, extract, kickstart lint, pack: one chain on the
/// fixture, each output checked, and a few values checked against what
/// the files are.
#[test]
fn json_iso_commands() {
    if !fixture::available() {
        return;
    }
    let docs = documented();
    let w = work_dir("json-iso");
    let d = w.path();
    let src = fixtures().plain.to_str().unwrap();
    let built = json_run(
        &docs,
        d,
        "build",
        &[
            "build",
            src,
            "-o",
            "lab.iso",
            "--json",
            "--report-to",
            "http://10.0.0.5:8080",
            "--secure-boot",
        ],
        0,
    );
    assert_eq!(built["output"], "lab.iso");
    // A warning's shape is checked too: %firstboot under Secure Boot.
    assert_eq!(built["warnings"][0]["code"], "firstboot-secure-boot");
    assert_eq!(
        built["size"],
        fs::metadata(d.join("lab.iso")).unwrap().len()
    );

    let inspected = json_run(&docs, d, "inspect", &["inspect", "lab.iso", "--json"], 0);
    assert_eq!(inspected["iso"], "lab.iso");
    assert_eq!(inspected["size"], built["size"]);
    json_run(&docs, d, "verify", &["verify", "lab.iso", "--json"], 0);

    let extracted = json_run(
        &docs,
        d,
        "extract",
        &["extract", "lab.iso", "tree", "--json"],
        0,
    );
    assert_eq!(extracted["record"], "tree/.esxi-iso.toml");
    assert!(d.join("tree/.esxi-iso.toml").is_file());

    // The built kickstart has report lines; a broken one has findings.
    fs::write(d.join("bad.cfg"), "vmaccepteula\nrootpw short\nbogus\n").unwrap();
    let linted = json_run(
        &docs,
        d,
        "kickstart-lint",
        &["kickstart", "lint", "tree/KS.CFG", "bad.cfg", "--json"],
        1,
    );
    assert_eq!(linted["ok"], false);
    assert_eq!(linted["files"][0]["ok"], true);
    assert_eq!(linted["files"][0]["reports"].as_array().unwrap().len(), 3);
    assert_eq!(linted["files"][1]["errors"], 2);
    assert!(
        !linted.to_string().contains("token="),
        "lint --json shows a token: {linted}"
    );

    let packed = json_run(
        &docs,
        d,
        "pack",
        &["pack", "tree", "-o", "packed.iso", "--json"],
        0,
    );
    assert_eq!(
        packed["size"],
        fs::metadata(d.join("packed.iso")).unwrap().len()
    );
}

#[test]
fn json_kickstart_vars() {
    let docs = documented();
    let w = work_dir("json-vars");
    let v = json_run(
        &docs,
        w.path(),
        "kickstart-vars",
        &["kickstart", "vars", "--json"],
        0,
    );
    let secret: Vec<&str> = v["variables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["secret"] == true)
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(secret, ["root_password"]);
    assert_eq!(v["template"], Value::Null);
    // A template file: what it reads, with lines.
    fs::write(
        w.path().join("own.ks.tera"),
        "vmaccepteula\n{{ install_args }}\n# {{ rack }}\n",
    )
    .unwrap();
    let v = json_run(
        &docs,
        w.path(),
        "kickstart-vars",
        &["kickstart", "vars", "own.ks.tera", "--json"],
        0,
    );
    assert_eq!(v["template"], "own.ks.tera");
    let rack = v["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "rack")
        .unwrap();
    assert_eq!(rack["line"], 3);
    assert_eq!(v["computed"][0]["name"], "install_args");
    assert_eq!(v["computed"][0]["line"], 2);
}

/// A lab, then what a lab folder is used with: vcsp, serve, status.
#[test]
fn json_lab_commands() {
    if !fixture::available() || !common::tools::require(&["curl"]) {
        return;
    }
    let docs = documented();
    let w = work_dir("json-lab");
    let d = w.path();
    fs::write(
        d.join("lab.toml"),
        "[defaults]\ndomain = \"lab.local\"\n\n[[host]]\nhostname = \"esx01\"\nsecure_boot = true\n\n\
         [[host]]\nhostname = \"esx02\"\noverlays = [\"ssh-keys\"]\n\
         ssh_authorized_keys = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA test\"]\n",
    )
    .unwrap();
    let src = fixtures().plain.to_str().unwrap();
    let m = json_run(
        &docs,
        d,
        "lab",
        &[
            "build",
            src,
            "--inventory",
            "lab.toml",
            "--out-dir",
            "lab",
            "--json",
        ],
        0,
    );
    assert_eq!(m["hosts"][1]["variables"]["root_password"], "<redacted>");
    assert_eq!(
        m["hosts"][0]["warnings"][0]["code"],
        "firstboot-secure-boot"
    );
    // The manifest file is the same document.
    let file: Value =
        serde_json::from_slice(&fs::read(d.join("lab/manifest.json")).unwrap()).unwrap();
    assert_eq!(file, m);

    json_run(&docs, d, "vcsp", &["vcsp", "lab", "--json"], 0);

    let mut server = Server::start(&d.join("lab"), &["--json"]);
    let (code, _, _) = common::server::curl(&[
        "-s",
        "-o",
        "/dev/null",
        &format!("{}/esx01.iso", server.url),
    ]);
    assert_eq!(code, 0);
    assert_eq!(server.stop(), Some(0));
    let lines = server.stdout();
    assert_eq!(lines.len(), 3, "{lines:?}\n{}", server.stderr());
    for (line, name) in lines
        .iter()
        .zip(["serve-listening", "serve-request", "serve-stopped"])
    {
        let v = matches_doc(&docs, name, line, "serve --json");
        assert_eq!(v["event"], name.trim_start_matches("serve-"));
    }
    let req: Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(
        (req["path"].as_str(), req["status"].as_u64()),
        (Some("/esx01.iso"), Some(200))
    );
    assert_eq!(server.stderr(), "", "serve --json logged on stderr");

    let status = json_run(&docs, d, "status", &["status", "lab", "--json"], 0);
    assert_eq!(status["hosts"][0]["state"], "fetched");
}

/// A lab made for network install: the manifest it prints and writes.
#[test]
fn json_netboot() {
    if !fixture::available() {
        return;
    }
    let docs = documented();
    let w = work_dir("json-netboot");
    let d = w.path();
    fs::write(
        d.join("lab.toml"),
        "[[host]]\nhostname = \"esx01\"\n\n[[host]]\nhostname = \"esx02\"\nmac = \"52:54:00:00:00:02\"\n",
    )
    .unwrap();
    let src = fixtures().plain.to_str().unwrap();
    let m = json_run(
        &docs,
        d,
        "netboot",
        &[
            "build",
            src,
            "--inventory",
            "lab.toml",
            "--out-dir",
            "lab",
            "--netboot",
            "http://10.0.0.5:8080",
            "--json",
        ],
        0,
    );
    assert_eq!(m["hosts"][1]["netboot"]["mac"], "52:54:00:00:00:02");
    assert_eq!(m["hosts"][0]["kernelopt"]["bios"], Value::Null);
    let file: Value =
        serde_json::from_slice(&fs::read(d.join("lab/manifest.json")).unwrap()).unwrap();
    assert_eq!(file, m);
}

/// Both upload targets, against the scripted servers of the publish tests.
#[test]
fn json_upload() {
    use publish_support::vapi_mock::{ApiOpts, ApiServer};
    use publish_support::{make_iso, sha256_file, FakeServer, Reply, USER};
    let docs = documented();
    let w = work_dir("json-upload");
    let d = w.path();
    make_iso(&d.join("lab.iso"), 300_000, 5);
    let env = [
        ("ESXI_ISO_USERNAME", USER),
        ("ESXI_ISO_PASSWORD", "Pw-json-1"),
    ];

    let api = ApiServer::start(USER, "Pw-json-1", &["isos"], ApiOpts::default());
    let args = [
        "upload",
        "lab.iso",
        "--server",
        &api.url,
        "--library",
        "isos",
        "--json",
    ];
    let run = run_in(d, &args, &env).ok();
    let v = matches_doc(&docs, "upload", &run.stdout(), &run.cmd);
    assert_eq!(
        v["uploads"][0]["sha256"],
        sha256_file(&d.join("lab.iso")).as_str()
    );
    assert_eq!(v["uploads"][0]["replaced"], false);

    // A datastore that already has the file: replaced with --force.
    let ds = FakeServer::start(|m, _| Reply::Status(if m == "HEAD" { 200 } else { 201 }));
    let args = [
        "upload",
        "lab.iso",
        "--server",
        &ds.url,
        "--datastore",
        "ds1",
        "--force",
        "--json",
    ];
    let run = run_in(d, &args, &env).ok();
    let v = matches_doc(&docs, "upload", &run.stdout(), &run.cmd);
    assert_eq!(v["uploads"][0]["replaced"], true);
    assert_eq!(v["uploads"][0]["path"], "[ds1] lab.iso");
    assert_eq!(v["uploads"][0]["library"], Value::Null);
}

/// deploy and deploy --destroy, against govmomi's simulator.
#[test]
fn json_deploy() {
    use deploy_support::{build_lab, deploy, py};
    use publish_support::{pyvmomi_available, vcsim_available, Vcsim, VcsimOpts};
    if !fixture::available() || !vcsim_available("json_deploy") || !pyvmomi_available("json_deploy")
    {
        return;
    }
    let docs = documented();
    let sim = Vcsim::start(VcsimOpts::default());
    let tp = sim.openssl_thumbprint();
    let w = work_dir("json-deploy");
    let d = w.path();
    py(&sim, "mac-learning", &["DC0_DVPG0"]);
    build_lab(
        d,
        "[lab]\nname = 'lab1'\n[defaults]\ntemplate = 'minimal'\n[defaults.vm]\n\
         cluster = 'DC0_C0'\ndatastore = 'LocalDS_0'\nnetworks = 'DC0_DVPG0'\nmemory_gb = 8\n\
         [[host]]\nhostname = 'esx01'\n",
        &fixtures().plain,
    );
    for extra in [&["--dry-run"][..], &[][..]] {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let run = deploy(d, &sim.url, &tp, &args);
        assert_eq!(run.out.status.code(), Some(0), "{}", run.stderr());
        let v = matches_doc(&docs, "deploy", &run.stdout(), "deploy --json");
        assert_eq!(v["dry_run"], !extra.is_empty());
        assert_eq!(v["hosts"][0]["action"], "create");
        assert_eq!(v["portgroups"][0]["kind"], "distributed");
        assert!(v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "memory-small"));
    }
    let run = deploy(d, &sim.url, &tp, &["--destroy", "--json"]);
    assert_eq!(run.out.status.code(), Some(0), "{}", run.stderr());
    let v = matches_doc(
        &docs,
        "deploy-destroy",
        &run.stdout(),
        "deploy --destroy --json",
    );
    assert_eq!(v["destroyed"][0]["host"], "esx01");
    assert_eq!(v["isos_deleted"][0], "[LocalDS_0] esxi-iso/lab1/esx01.iso");
}
