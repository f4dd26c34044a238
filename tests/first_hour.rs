//! The first hour of a new user, through the real binary: the README's
//! main paths (one ISO, a lab, serving it, the kickstart commands) with
//! the slips people make on the way. Each slip must stop at the keyboard
//! with a message that names what is wrong and what to do, and an exit
//! status a script can tell apart (1 verdict, 2 usage, 3 input, 4 output
//! exists, 5 network); none may pass in silence.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::cli::{run_in, Run};
use common::fixture::{self, fixtures, work_dir};
use common::server::Server;
use serde_json::Value;

const ISO: &str = "VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso";
const PW: (&str, &str) = ("ESXI_ISO_ROOT_PASSWORD", "VMware1!lab");

/// A work folder with the fixture under the name a user's ISO has.
fn desk(name: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    if !fixture::available() {
        return None;
    }
    let w = work_dir(name);
    fs::copy(&fixtures().plain, w.path().join(ISO)).unwrap();
    let d = w.path().to_path_buf();
    Some((w, d))
}

fn files(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Fails with `code`, every piece in the one error, nothing written.
fn slip(d: &Path, args: &[&str], code: i32, pieces: &[&str]) -> Run {
    let before = files(d);
    let run = run_in(d, args, &[PW]);
    let err = run.stderr();
    assert_eq!(run.code(), Some(code), "{}", run.describe());
    assert!(err.starts_with("esxi-iso: error: "), "{}", run.describe());
    for p in pieces {
        assert!(err.contains(p), "want {p:?}\n{}", run.describe());
    }
    assert!(
        !err.contains(".tmp"),
        "a temporary path shows\n{}",
        run.describe()
    );
    assert_eq!(files(d), before, "a failed run left files behind");
    run
}

#[test]
fn misspelled_and_unused_variables_stop_the_build() {
    let Some((_w, d)) = desk("first-vars") else {
        return;
    };
    let b = ["build", ISO, "-o", "esx01.iso"];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        b.iter().copied().chain(extra.iter().copied()).collect()
    };
    slip(
        &d,
        &with(&["--set", "hostnmae=esx01"]),
        2,
        &[
            "--set hostnmae",
            "did you mean hostname?",
            "kickstart vars nested-lab",
        ],
    );
    // The same key twice: one value would be dropped.
    slip(
        &d,
        &with(&["--set", "hostname=esx01", "--set", "hostname=esx02"]),
        2,
        &["--set hostname is given more than once: give it once"],
    );
    slip(
        &d,
        &with(&["--set", "nameserver=10.0.0.2"]),
        2,
        &["--set nameserver", "did you mean nameservers?"],
    );
    slip(
        &d,
        &with(&["--set", "fqdn=esx01.lab.local"]),
        2,
        &["fqdn is the host name with its domain", "set those instead"],
    );
    // A --vars file is checked the same way, naming the file.
    fs::write(d.join("site.toml"), "ntp_server = '10.0.0.9'\n").unwrap();
    slip(
        &d,
        &with(&["--vars", "site.toml"]),
        2,
        &["--vars site.toml ntp_server", "did you mean ntp_servers?"],
    );
    fs::remove_file(d.join("site.toml")).unwrap();
    // A kickstart copied as it is takes no variable.
    fs::write(d.join("ks.cfg"), "vmaccepteula\n").unwrap();
    slip(
        &d,
        &with(&["-k", "ks.cfg", "--set", "hostname=esx01"]),
        2,
        &["the kickstart ks.cfg is copied as it is", "*.tera"],
    );
    // The minimal template does not read what nested-lab does.
    slip(
        &d,
        &[
            "kickstart",
            "render",
            "--template",
            "minimal",
            "--set",
            "enable_ssh=true",
        ],
        2,
        &["template minimal reads no variable enable_ssh"],
    );
    fs::remove_file(d.join("ks.cfg")).unwrap();
}

#[test]
fn a_custom_template_lists_its_variables_and_names_all_it_misses() {
    let Some((_w, d)) = desk("first-template") else {
        return;
    };
    fs::write(
        d.join("site.ks.tera"),
        "vmaccepteula\ninstall {{ install_args }}\nrootpw --iscrypted {{ root_password }}\n\
         # rack {{ rack }}\n# owner {{ owner }}\nnetwork {{ network_args }}\n",
    )
    .unwrap();
    let vars = run_in(&d, &["kickstart", "vars", "site.ks.tera"], &[])
        .ok()
        .stdout();
    for want in [
        "rack",
        "owner",
        "must be set (line 4)",
        "(line 5)",
        "install_args",
    ] {
        assert!(vars.contains(want), "{want}:\n{vars}");
    }
    slip(
        &d,
        &["kickstart", "render", "--template", "site.ks.tera"],
        2,
        &["reads variables that are not set: owner (line 5), rack (line 4)"],
    );
    slip(
        &d,
        &[
            "kickstart",
            "render",
            "--template",
            "site.ks.tera",
            "--set",
            "rakc=A1",
        ],
        2,
        &["--set rakc", "did you mean rack?"],
    );
    let ok = run_in(
        &d,
        &[
            "kickstart",
            "render",
            "--template",
            "site.ks.tera",
            "--set",
            "rack=A1",
            "--set",
            "owner=me",
        ],
        &[PW],
    )
    .ok();
    assert!(ok.stdout().contains("# rack A1"), "{}", ok.stdout());
    // Linting the template itself would judge its {{ }}: refused, with
    // the pipeline that lints what it renders, which works.
    slip(
        &d,
        &["kickstart", "lint", "site.ks.tera"],
        2,
        &["site.ks.tera is a template", "| esxi-iso kickstart lint -"],
    );
    fs::write(d.join("rendered.cfg"), ok.stdout()).unwrap();
    let piped = std::process::Command::new(common::cli::BIN)
        .args(["kickstart", "lint", "-"])
        .current_dir(&d)
        .stdin(fs::File::open(d.join("rendered.cfg")).unwrap())
        .output()
        .unwrap();
    assert!(piped.status.success(), "{piped:?}");
}

#[test]
fn outputs_go_where_asked_or_the_run_stops_before_it_starts() {
    let Some((_w, d)) = desk("first-output") else {
        return;
    };
    fs::create_dir(d.join("isos")).unwrap();
    // A folder as -o: the ISO goes into it, named after the source.
    let run = run_in(&d, &["build", ISO, "-o", "isos", "-q"], &[PW]).ok();
    assert!(run.stderr().is_empty(), "{}", run.describe());
    assert!(d
        .join("isos/VMware-VMvisor-Installer-8.0U3-24022510.x86_64-ks.iso")
        .is_file());
    slip(
        &d,
        &["build", ISO, "-o", "out/lab.iso"],
        2,
        &[
            "-o out/lab.iso: the folder out does not exist",
            "mkdir -p out",
        ],
    );
    slip(
        &d,
        &["build", ISO, "-o", "new/"],
        2,
        &["-o new/: the folder new does not exist"],
    );
    // An existing output: exit 4, kept as it was.
    fs::write(d.join("lab.iso"), "mine").unwrap();
    slip(
        &d,
        &["build", ISO, "-o", "lab.iso"],
        4,
        &["lab.iso already exists", "--force"],
    );
    assert_eq!(fs::read_to_string(d.join("lab.iso")).unwrap(), "mine");
    // A source that is not there: exit 3.
    slip(
        &d,
        &["build", "VMware-VMvisor-Installer-8.0U2.iso", "-o", "x.iso"],
        3,
        &["VMware-VMvisor-Installer-8.0U2.iso", "No such file"],
    );
}

#[test]
fn warnings_are_printed_kept_coded_and_silenced_on_request() {
    let Some((_w, d)) = desk("first-warnings") else {
        return;
    };
    let run = run_in(
        &d,
        &[
            "build",
            ISO,
            "-o",
            "sb.iso",
            "--secure-boot",
            "--set",
            "enable_ssh=true",
            "--json",
        ],
        &[PW],
    )
    .ok();
    let err = run.stderr();
    assert!(
        err.contains("esxi-iso: warning (esxi-iso advice): /KS.CFG:")
            && err.contains("%firstboot will not run")
            && err.contains("vim-cmd hostsvc/enable_ssh")
            && err.contains("[firstboot-secure-boot]"),
        "{err}"
    );
    let j: Value = serde_json::from_str(&run.stdout()).unwrap();
    let codes: Vec<&str> = j["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    let printed = err.lines().filter(|l| l.contains("warning")).count();
    assert_eq!(
        codes.len(),
        printed,
        "stderr and --json disagree:\n{err}\n{j:#}"
    );
    assert!(codes.contains(&"firstboot-secure-boot"), "{codes:?}");
    // Silenced by its code, in both places.
    let quiet = run_in(
        &d,
        &[
            "build",
            ISO,
            "-o",
            "sb2.iso",
            "--secure-boot",
            "--json",
            "--allow",
            "firstboot-secure-boot",
        ],
        &[PW],
    )
    .ok();
    assert_eq!(quiet.stderr(), "", "{}", quiet.describe());
    let j: Value = serde_json::from_str(&quiet.stdout()).unwrap();
    assert_eq!(j["warnings"], serde_json::json!([]));
    slip(
        &d,
        &["build", ISO, "-o", "sb3.iso", "--allow", "firstboot-secure"],
        2,
        &[
            "--allow firstboot-secure: no warning has this code",
            "(did you mean firstboot-secure-boot?)",
        ],
    );

    // A lab keeps every warning of a host in manifest.json.
    fs::write(
        d.join("lab.toml"),
        "[[host]]\nhostname = 'esx01'\nsecure_boot = true\n\n[[host]]\nhostname = 'esx02'\n",
    )
    .unwrap();
    // A typo in --out-dir's parent: refused, not a new path of folders.
    slip(
        &d,
        &[
            "build",
            ISO,
            "--inventory",
            "lab.toml",
            "--out-dir",
            "labs/lab1",
        ],
        2,
        &["--out-dir labs/lab1: the folder labs does not exist: create it (mkdir -p labs)"],
    );
    let lab = run_in(
        &d,
        &[
            "build",
            ISO,
            "--inventory",
            "lab.toml",
            "--out-dir",
            "lab",
            "-q",
        ],
        &[PW],
    )
    .ok();
    assert!(
        lab.stderr()
            .contains("esxi-iso: warning (esxi-iso advice): esx01: /KS.CFG:"),
        "{}",
        lab.stderr()
    );
    let m: Value = serde_json::from_slice(&fs::read(d.join("lab/manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["hosts"][0]["warnings"][0]["code"],
        "firstboot-secure-boot"
    );
    assert_eq!(m["hosts"][1]["warnings"], serde_json::json!([]));
}

#[test]
fn an_inventory_with_slips_is_refused_whole() {
    let Some((_w, d)) = desk("first-inventory") else {
        return;
    };
    fs::write(
        d.join("lab.toml"),
        "[defaults]\ndomain = 'lab.local'\nntp_server = ['10.0.0.9']\n\n\
         [[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\ngateway = '10.0.0.1'\nnameserver = '10.0.0.2'\n\n\
         [[host]]\nhostname = 'esx02'\nip = '10.0.0.12/24'\ngateway = '10.0.0.1'\nvlanid = 20\n",
    )
    .unwrap();
    slip(
        &d,
        &["build", ISO, "--inventory", "lab.toml", "--out-dir", "lab"],
        2,
        &[
            "lab.toml has 3 problems; nothing was written",
            "[defaults] key ntp_server",
            "did you mean ntp_servers?",
            "esx01: key nameserver",
            "did you mean nameservers?",
            "esx02: key vlanid",
            "did you mean vlan_id?",
        ],
    );
    fs::write(
        d.join("lab.csv"),
        "hostname,ip,gateway,nameserver\nesx01,10.0.0.11/24,10.0.0.1,10.0.0.2\n",
    )
    .unwrap();
    slip(
        &d,
        &["build", ISO, "--inventory", "lab.csv", "--out-dir", "lab"],
        2,
        &["column nameserver", "did you mean nameservers?"],
    );
}

#[test]
fn reports_must_reach_the_server_and_the_server_says_when_they_cannot() {
    let Some((_w, d)) = desk("first-report") else {
        return;
    };
    for url in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://169.254.0.5:8080",
    ] {
        slip(
            &d,
            &["build", ISO, "-o", "r.iso", "--report-to", url],
            2,
            &[url, "--allow-local-report"],
        );
    }
    fs::create_dir(d.join("lab")).unwrap();
    run_in(
        &d,
        &[
            "build",
            ISO,
            "-o",
            "lab/esx01.iso",
            "-q",
            "--set",
            "hostname=esx01",
            "--report-to",
            "http://10.0.0.5:8080",
        ],
        &[PW],
    )
    .ok();
    // Served on loopback only: the text start-up says VMs cannot reach it.
    let mut text = Server::start(&d.join("lab"), &[]);
    text.stop();
    assert!(
        text.stdout()
            .iter()
            .any(|l| l.contains("loopback only: VMs cannot reach it")),
        "{:?}",
        text.stdout()
    );
    // The start-up warnings are on stderr in text mode too, not only in
    // --json's listening line.
    assert!(
        text.stderr()
            .contains("report to http://10.0.0.5:8080, but they use port 8080"),
        "{}",
        text.stderr()
    );
    assert!(
        text.stderr().contains("[report-address]"),
        "{}",
        text.stderr()
    );
    // Served on another port (and on loopback only): said at start-up, in
    // the listening line of --json too.
    let mut server = Server::start(&d.join("lab"), &["--json"]);
    server.stop();
    let listening: Value = serde_json::from_str(&server.stdout()[0]).unwrap();
    let w = &listening["warnings"][0];
    assert_eq!(w["code"], "report-address", "{listening:#}");
    let msg = w["message"].as_str().unwrap();
    for piece in [
        "report to http://10.0.0.5:8080",
        "this server listens on 127.0.0.1 only",
        "--listen 0.0.0.0:8080",
    ] {
        assert!(msg.contains(piece), "{piece}: {msg}");
    }
}

#[test]
fn exit_statuses_tell_the_failures_apart() {
    let Some((_w, d)) = desk("first-exit") else {
        return;
    };
    fs::write(d.join("bad.cfg"), "vmaccepteula\nrootpw short\n").unwrap();
    // A negative verdict.
    let lint = run_in(&d, &["kickstart", "lint", "bad.cfg"], &[]);
    assert_eq!(lint.code(), Some(1), "{}", lint.describe());
    // An input that cannot be read: no JSON, whatever the command.
    for args in [
        &["kickstart", "lint", "nope.cfg", "--json"][..],
        &["inspect", "nope.iso", "--json"],
        &["kickstart", "vars", "nope.ks.tera", "--json"],
    ] {
        let run = run_in(&d, args, &[]);
        assert!(
            matches!(run.code(), Some(2 | 3)),
            "{args:?}: {}",
            run.describe()
        );
        assert_eq!(run.stdout(), "", "{args:?} printed JSON");
    }
    // TLS options for a plain http:// server would do nothing.
    let up = run_in(
        &d,
        &[
            "upload",
            ISO,
            "--server",
            "http://esx01.lab",
            "--datastore",
            "ds1",
            "--insecure",
        ],
        &[("ESXI_ISO_USERNAME", "root"), ("ESXI_ISO_PASSWORD", "x")],
    );
    assert_eq!(up.code(), Some(2), "{}", up.describe());
    assert!(
        up.stderr().contains("--insecure is about TLS"),
        "{}",
        up.describe()
    );
    // A usage error from clap, and one of ours.
    assert_eq!(run_in(&d, &["build", ISO, "--bogus"], &[]).code(), Some(2));
    // A port alone for --listen: the form is shown, with that port.
    let listen = run_in(&d, &["serve", ".", "--listen", "9090"], &[]);
    assert_eq!(listen.code(), Some(2), "{}", listen.describe());
    assert!(
        listen
            .stderr()
            .contains("give an IP address and a port, such as 0.0.0.0:9090"),
        "{}",
        listen.describe()
    );
    assert_eq!(
        run_in(&d, &["status", ".", "--wait", "sideways"], &[]).code(),
        Some(2)
    );
    // A misspelled state gets the nearest, from every state status knows
    // (those of a network install too).
    let typo = run_in(&d, &["status", ".", "--wait", "kickstart-fetch"], &[]);
    assert_eq!(typo.code(), Some(2), "{}", typo.describe());
    assert!(
        typo.stderr().contains(
            "give one of fetched, loading, kickstart-fetched, installing, installed, booted \
             (did you mean kickstart-fetched?)"
        ),
        "{}",
        typo.describe()
    );
    // A port in use: the server names it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    fs::create_dir(d.join("lab")).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let serve = run_in(&d, &["serve", "lab", "--listen", &listen], &[]);
    assert_eq!(serve.code(), Some(5), "{}", serve.describe());
    assert!(
        serve
            .stderr()
            .contains(&format!("port {port} is in use on 127.0.0.1")),
        "{}",
        serve.describe()
    );
    // Every status is in the man page.
    let man = d.join("man");
    run_in(&d, &["man", man.to_str().unwrap()], &[]).ok();
    let page = fs::read_to_string(man.join("esxi-iso.1")).unwrap();
    for code in ["1", "2", "3", "4", "5", "6", "130"] {
        assert!(
            page.contains(&format!(".B {code}\n")) || page.contains(&format!("\\fB{code}\\fR")),
            "exit status {code} not in the man page"
        );
    }
}
