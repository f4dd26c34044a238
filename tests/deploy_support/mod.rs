//! Test support for `esxi-iso deploy`: a lab built from the ESXi-shaped
//! fixtures, the command run against govmomi's simulator (vcsim, from
//! `publish_support`), pyvmomi (`tests/vcsim/deploy_tool.py`) as the
//! independent client that reads back what deploy made and sets the
//! simulator up, and a SOAP stand-in in front of the simulator
//! ([`proxy`]) for what vcsim never does: faults, slow tasks, a held
//! call to interrupt.

#![allow(dead_code)]

pub mod proxy;

use std::fs;
use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::common::cli::run_in;
use crate::publish_support::{esxi_iso, python_json, Run, Vcsim, PASS, USER};

pub const ROOT_PW: &str = "VMware1!lab";

/// Writes `lab.toml` in `w` and builds the lab into `w/lab` from `source`.
pub fn build_lab(w: &Path, inventory: &str, source: &Path) {
    fs::write(w.join("lab.toml"), inventory).unwrap();
    build_lab_hosts(w, source, &[]);
}

/// Builds `w/lab.toml`'s lab into `w/lab` from `source`, with `extra`
/// (`--host NAME` rebuilds some hosts).
pub fn build_lab_hosts(w: &Path, source: &Path, extra: &[&str]) {
    let mut args = vec![
        "build",
        source.to_str().unwrap(),
        "--inventory",
        "lab.toml",
        "--out-dir",
        "lab",
    ];
    args.extend_from_slice(extra);
    run_in(w, &args, &[("ESXI_ISO_ROOT_PASSWORD", ROOT_PW)]).ok();
}

/// Writes `lab.toml` in `w` and builds the lab into `w/lab` for network
/// install from `source` (`--netboot URL`, then `extra`): a boot.cfg and
/// a kickstart per host, no ISO.
pub fn build_netboot_lab(w: &Path, inventory: &str, source: &Path, url: &str, extra: &[&str]) {
    fs::write(w.join("lab.toml"), inventory).unwrap();
    let mut args = vec!["--netboot", url];
    args.extend_from_slice(extra);
    build_lab_hosts(w, source, &args);
}

/// The lab's manifest.json entry of `host`.
pub fn manifest_host(w: &Path, host: &str) -> Value {
    let m: Value =
        serde_json::from_str(&fs::read_to_string(w.join("lab/manifest.json")).unwrap()).unwrap();
    m["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == host)
        .unwrap_or_else(|| panic!("manifest.json has no host {host}: {m:#}"))
        .clone()
}

/// Appends what `esxi-iso serve` records of a network install (`loading`,
/// `kickstart-fetched`: no reported address) to the lab's event log.
pub fn serve_event(w: &Path, host: &str, event: &str) {
    append_event(
        w,
        serde_json::json!({
            "time": now(), "event": event, "host": host, "peer": "192.0.2.50",
        }),
    );
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn append_event(w: &Path, line: Value) {
    let dir = w.join("lab/.esxi-iso");
    fs::create_dir_all(&dir).unwrap();
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("events.jsonl"))
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// `esxi-iso deploy lab.toml --lab-dir lab --server URL --thumbprint TP
/// EXTRA...` in `w`, with the simulator's credentials.
pub fn deploy(w: &Path, url: &str, thumbprint: &str, extra: &[&str]) -> Run {
    deploy_as(w, url, thumbprint, PASS, extra)
}

/// [`deploy`] with another password.
pub fn deploy_as(w: &Path, url: &str, thumbprint: &str, password: &str, extra: &[&str]) -> Run {
    let mut args = vec!["deploy", "lab.toml", "--lab-dir", "lab", "--server", url];
    if !thumbprint.is_empty() {
        args.extend(["--thumbprint", thumbprint]);
    }
    args.extend_from_slice(extra);
    esxi_iso(
        w,
        &args,
        &[("ESXI_ISO_USERNAME", USER), ("ESXI_ISO_PASSWORD", password)],
    )
}

/// pyvmomi's answer to `deploy_tool.py COMMAND ARGS` on `sim`.
pub fn py(sim: &Vcsim, command: &str, args: &[&str]) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vcsim/deploy_tool.py");
    let port = sim.port.to_string();
    let mut all = vec!["127.0.0.1", port.as_str(), USER, command];
    all.extend_from_slice(args);
    python_json(script, &all, &sim.password)
}

/// The VMs pyvmomi reads, by name.
pub fn vms(sim: &Vcsim) -> Vec<Value> {
    py(sim, "vms", &[]).as_array().unwrap().clone()
}

pub fn vm<'a>(vms: &'a [Value], name: &str) -> &'a Value {
    vms.iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no VM {name} among {:?}", names(vms)))
}

pub fn names(vms: &[Value]) -> Vec<String> {
    vms.iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

/// The devices of a VM read back, of one type.
pub fn devices<'a>(vm: &'a Value, kind: &str) -> Vec<&'a Value> {
    vm["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["type"] == kind)
        .collect()
}

/// The lab folder's deploy state.
pub fn state(w: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(w.join("lab/.esxi-iso/deploy.json")).unwrap()).unwrap()
}

/// A host's entry in the state (the only server's).
pub fn state_host(w: &Path, host: &str) -> Value {
    let s = state(w);
    let targets = s["targets"].as_object().unwrap();
    assert_eq!(targets.len(), 1, "{s:#}");
    targets.values().next().unwrap()["hosts"][host].clone()
}

/// Appends an install report to the lab's event log, as `esxi-iso serve`
/// writes them.
pub fn report_event(w: &Path, host: &str, event: &str, addr: &str) {
    append_event(
        w,
        serde_json::json!({
            "time": now(), "event": event, "host": host, "peer": "192.0.2.9", "addr": addr,
        }),
    );
}
