//! Install reports end to end: `build --inventory --report-to` writes
//! per-host ISOs; isoinfo reads each KS.CFG back; Debian's busybox runs
//! the exact `%pre`, `%post` and `%firstboot` bodies (as the installer's
//! busybox interpreter would) against `esxi-iso serve`; `esxi-iso status`
//! reads where each host stands. Also: a token used for another host or
//! changed is refused, a server that is down or never answers does not
//! make a script fail (or hang), the secret stays off the ISOs and the
//! manifest, and lint knows the lines.

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::cli::run_in;
use common::fixture;
use common::server::{self, fetch, Server};
use common::tools;

const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";

fn can_run() -> bool {
    fixture::available() && tools::require(&["isoinfo", "busybox", "curl"])
}

/// A two-host lab (one per built-in template) built with reports to
/// `url`, into `work/lab`.
fn build_lab(work: &Path, url: &str) -> PathBuf {
    let inv = format!(
        "[defaults]\nroot_password = '{HASH}'\n\n\
         [[host]]\nhostname = 'esx01'\ntemplate = 'nested-lab'\nip = '10.0.0.11/24'\n\
         gateway = '10.0.0.1'\nnameservers = '10.0.0.1'\n\n\
         [[host]]\nhostname = 'esx02'\ntemplate = 'minimal'\n"
    );
    let r = server::build_lab(work, &fixture::fixtures().plain, &inv, url);
    assert!(!r.stderr().contains("warning"), "{}", r.describe());
    work.join("lab")
}

fn ks_of(iso: &Path) -> String {
    common::cli::tool("isoinfo", &["-i", iso.to_str().unwrap(), "-x", "/KS.CFG;1"])
}

/// The body of the first `section` of a kickstart (lines up to the next
/// line starting with `%`).
fn body(ks: &str, section: &str) -> String {
    let mut lines = ks.lines().skip_while(|l| !l.starts_with(section));
    assert!(lines.next().is_some(), "no {section} in\n{ks}");
    let mut out: String = lines
        .take_while(|l| !l.starts_with('%'))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str("echo script-ran\n");
    out
}

/// A PATH folder that makes `wget`, `awk` and `sleep` busybox's (not
/// GNU tools the machine may have), with stand-ins for ESXi's `esxcli`
/// and `vim-cmd`. The esxcli stand-in prints vmk0's row as
/// `esxcli network ip interface ipv4 get` does (address second, as field
/// kickstarts read it with awk).
fn esxi_path() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-esxi-bin");
    if !dir.join("esxcli").exists() {
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        for applet in ["wget", "awk", "sleep"] {
            std::os::unix::fs::symlink("/bin/busybox", tmp.join(applet)).unwrap();
        }
        let esxcli = concat!(
            "#!/bin/sh\n",
            "if [ \"$1 $2 $3 $4 $5\" = 'network ip interface ipv4 get' ]; then\n",
            "echo 'Name  IPv4 Address  IPv4 Netmask   IPv4 Broadcast  Address Type  Gateway   DHCP DNS'\n",
            "echo '----  ------------  -------------  --------------  ------------  --------  --------'\n",
            "echo 'vmk0  10.0.0.11     255.255.255.0  10.0.0.255      STATIC        10.0.0.1  false'\n",
            "fi\nexit 0\n",
        );
        for (name, text) in [("esxcli", esxcli), ("vim-cmd", "#!/bin/sh\nexit 0\n")] {
            fs::write(tmp.join(name), text).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(tmp.join(name), fs::Permissions::from_mode(0o755)).unwrap();
        }
        // Another test binary may have won the race: either copy is fine.
        let _ = fs::rename(&tmp, &dir);
        let _ = fs::remove_dir_all(&tmp);
    }
    dir
}

/// Runs a script body with Debian's busybox sh, `-e` as strict as any
/// caller could be; returns (exit code, stdout).
fn busybox(script: &str) -> (i32, String) {
    let path = format!("{}:/usr/bin:/bin", esxi_path().display());
    let out = Command::new("busybox")
        .args(["sh", "-e", "-c", script])
        .env("PATH", path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn state(lab: &Path, host: &str) -> String {
    let r = run_in(lab, &["status", ".", "--json"], &[]).ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == host)
        .map(|h| h["state"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("{host} not in {v}"))
}

#[test]
fn kickstart_reports_reach_the_server_through_busybox_wget() {
    if !can_run() {
        return;
    }
    let work = fixture::work_dir("report");
    // The server starts on the empty lab folder first, as a user would
    // before building, so its port is known for --report-to.
    let lab_dir = work.path().join("lab");
    fs::create_dir(&lab_dir).unwrap();
    let mut server = Server::start(&lab_dir, &[]);
    let lab = build_lab(work.path(), &server.url);

    // The secret: private, and nowhere on the ISOs or in the manifest.
    let state_dir = lab.join(".esxi-iso");
    let secret = fs::read_to_string(state_dir.join("secret")).unwrap();
    let secret = secret.trim();
    assert_eq!(secret.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        (mode(&state_dir), mode(&state_dir.join("secret"))),
        (0o700, 0o600)
    );
    for f in ["esx01.iso", "esx02.iso", "manifest.json", "SHA256SUMS"] {
        let bytes = fs::read(lab.join(f)).unwrap();
        assert!(
            !bytes.windows(64).any(|w| w == secret.as_bytes()),
            "the secret is in {f}"
        );
    }

    let ks1 = ks_of(&lab.join("esx01.iso"));
    let ks2 = ks_of(&lab.join("esx02.iso"));
    for (ks, host) in [(&ks1, "esx01"), (&ks2, "esx02")] {
        // Lint: clean, and it says where each line reports.
        let path = work.path().join(format!("{host}.cfg"));
        fs::write(&path, ks).unwrap();
        let r = run_in(
            work.path(),
            &["kickstart", "lint", path.to_str().unwrap()],
            &[],
        )
        .ok();
        let out = r.stdout();
        for (section, event) in [
            ("%pre", "installing"),
            ("%post", "installed"),
            ("%firstboot", "booted"),
        ] {
            let want = format!(
                "note: {section} reports \"{event}\" for host {host} to {}",
                server.url
            );
            assert!(out.contains(&want), "{want:?} not in\n{out}");
        }
        assert!(!out.contains("warning") && !out.contains("error"), "{out}");
    }

    // esx01 runs its three sections in install order.
    assert_eq!(state(&lab, "esx01"), "waiting");
    for (section, want) in [
        ("%pre", "installing"),
        ("%post", "installed"),
        ("%firstboot", "booted"),
    ] {
        let (code, out) = busybox(&body(&ks1, section));
        assert_eq!((code, out.trim()), (0, "script-ran"), "{section}");
        assert_eq!(state(&lab, "esx01"), want, "after {section}");
    }
    assert_eq!(
        state(&lab, "esx02"),
        "waiting",
        "one host cannot move another"
    );

    // esx01's token for esx02, and a changed token: refused, and the
    // script still succeeds.
    let token1 = token_in(&ks1);
    let token2 = token_in(&ks2);
    assert_ne!(token1, token2);
    let forged = body(&ks1, "%pre").replace("host=esx01", "host=esx02");
    assert_eq!(busybox(&forged).0, 0);
    let tampered = body(&ks2, "%pre").replace(&token2, &"0".repeat(64));
    assert_eq!(busybox(&tampered).0, 0);
    assert_eq!(state(&lab, "esx02"), "waiting");
    // busybox wget itself sees the refusal.
    let url = format!(
        "{}/.esxi-iso/report?host=esx02&event=installing&token={token1}",
        server.url
    );
    let (code, _) = busybox(&format!("wget -q -O /dev/null '{url}'"));
    assert_ne!(code, 0, "a forged report was accepted");
    assert_eq!(fetch(&[&url]).0, 403);

    // esx02 (minimal template) reports too; `status --wait` is satisfied.
    for section in ["%pre", "%post", "%firstboot"] {
        assert_eq!(busybox(&body(&ks2, section)).0, 0, "{section}");
    }
    run_in(
        &lab,
        &["status", ".", "--wait", "booted", "--timeout", "5"],
        &[],
    )
    .ok();

    // The server down: every section still exits 0.
    assert_eq!(server.stop(), Some(0));
    for section in ["%pre", "%post", "%firstboot"] {
        let (code, out) = busybox(&body(&ks1, section));
        assert_eq!(
            (code, out.trim()),
            (0, "script-ran"),
            "{section} with the server down"
        );
    }

    // A server that accepts and never answers: the watchdog ends wget.
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_url = format!("http://127.0.0.1:{}", hole.local_addr().unwrap().port());
    let script = body(&ks1, "%post").replace(&server.url, &hole_url);
    assert!(script.contains(&hole_url));
    let (code, out) = busybox(&script);
    assert_eq!(
        (code, out.trim()),
        (0, "script-ran"),
        "against a black hole"
    );
    drop(hole);

    // Events were logged with the peer address; tokens never were.
    let log = fs::read_to_string(state_dir.join("events.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 6, "{log}");
    assert!(log.contains("\"peer\":\"127.0.0.1\""), "{log}");
    assert!(
        log.contains("\"addr\":\"10.0.0.11\""),
        "vmk0's address: {log}"
    );
    assert!(!log.contains(&token1) && !log.contains(&token2));
}

fn token_in(ks: &str) -> String {
    let at = ks.find("token=").expect("a token") + 6;
    ks[at..at + 64].to_string()
}

#[test]
fn report_to_checks_its_url_and_warns_without_report_lines() {
    if !can_run() {
        return;
    }
    let work = fixture::work_dir("report-args");
    let src = fixture::fixtures().plain.to_str().unwrap().to_string();
    let pw = ("ESXI_ISO_ROOT_PASSWORD", "Lab-Secret-7391");
    for (url, want) in [
        ("ftp://10.0.0.5", "must start with http"),
        ("http://10.0.0.5/$(reboot)", "contains '$'"),
        ("http://10.0.0.5:99999", "invalid port"),
    ] {
        run_in(
            work.path(),
            &[
                "build",
                &src,
                "-o",
                "a.iso",
                "--set",
                "hostname=esx09",
                "--report-to",
                url,
            ],
            &[pw],
        )
        .fails_with(2, want);
    }
    assert!(
        !work.path().join(".esxi-iso").exists(),
        "nothing written on a bad URL"
    );

    // A verbatim kickstart gets no lines: built, with a warning.
    let ks = work.path().join("ks.cfg");
    fs::write(
        &ks,
        format!("vmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted {HASH}\nnetwork --bootproto=dhcp\nreboot\n"),
    )
    .unwrap();
    let r = run_in(
        work.path(),
        &[
            "build",
            &src,
            "-o",
            "v.iso",
            "-k",
            "ks.cfg",
            "--report-to",
            "http://10.0.0.5:8080",
            "-q",
        ],
        &[],
    )
    .ok();
    assert!(
        r.stderr()
            .contains("has no effect: the kickstart has no report lines"),
        "{}",
        r.describe()
    );

    // A single build: the secret lands next to the output, and the host
    // reports under its hostname.
    fs::create_dir(work.path().join("out")).unwrap();
    let r = run_in(
        work.path(),
        &[
            "build",
            &src,
            "-o",
            "out/one.iso",
            "--set",
            "hostname=esx07",
            "--report-to",
            "http://10.0.0.5:8080/",
            "-q",
        ],
        &[pw],
    )
    .ok();
    assert!(r.stderr().is_empty(), "{}", r.describe());
    let secret = work.path().join("out/.esxi-iso/secret");
    assert!(secret.is_file());
    let ks = ks_of(&work.path().join("out/one.iso"));
    assert!(
        ks.contains("http://10.0.0.5:8080/.esxi-iso/report?host=esx07&event=installing&token="),
        "{ks}"
    );
    // A second build in the same folder keeps the secret (and so the
    // first ISO's token).
    let before = fs::read(&secret).unwrap();
    run_in(
        work.path(),
        &[
            "build",
            &src,
            "-o",
            "out/two.iso",
            "--set",
            "hostname=esx08",
            "--report-to",
            "http://10.0.0.5:8080",
            "-q",
        ],
        &[pw],
    )
    .ok();
    assert_eq!(fs::read(&secret).unwrap(), before);
}
