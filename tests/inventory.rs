//! `esxi-iso build --inventory`: a lab of per-host ISOs from one source.
//! Independent tools judge the outputs: isoinfo extracts each ISO's
//! KS.CFG and BOOT.CFGs, `sha256sum -c` checks SHA256SUMS.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fixture::{self, work_dir};
use common::tools;

/// A SHA-512 crypt hash (a hash in the inventory file is fine).
const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";
/// A plain password, only ever given through the environment.
const PLAIN: &str = "Lab-Secret-7391";

/// (hostname, ip, vlan) of the three test hosts.
const HOSTS: [(&str, &str, &str); 3] = [
    ("esx01", "10.0.0.11", "11"),
    ("esx02", "10.0.0.12", "12"),
    ("esx03", "10.0.0.13", "13"),
];

fn can_run() -> bool {
    fixture::available() && tools::require(&["isoinfo", "sha256sum"])
}

fn source() -> PathBuf {
    fixture::fixtures().plain.clone()
}

fn toml_lab() -> String {
    let mut s = format!(
        "[defaults]\n\
         template = 'minimal'\n\
         root_password = '{HASH}'\n\
         domain = 'lab.local'\n\
         gateway = '10.0.0.1'\n\
         nameservers = ['10.0.0.2', '10.0.0.3']\n\
         boot_opts = ['systemMediaSize=min']\n"
    );
    for (h, ip, vlan) in HOSTS {
        s.push_str(&format!(
            "\n[[host]]\nhostname = '{h}'\nip = '{ip}/24'\nvlan_id = {vlan}\n"
        ));
    }
    s
}

/// The same lab as CSV; what CSV has no [defaults] for comes from --vars.
fn csv_lab() -> (String, String) {
    let mut csv = "hostname,template,ip,vlan_id,nameservers,boot_opts\n".to_string();
    for (h, ip, vlan) in HOSTS {
        csv.push_str(&format!(
            "{h},minimal,{ip}/24,{vlan},\"10.0.0.2,10.0.0.3\",systemMediaSize=min\n"
        ));
    }
    let vars = format!("root_password = '{HASH}'\ndomain = 'lab.local'\ngateway = '10.0.0.1'\n");
    (csv, vars)
}

/// Runs esxi-iso in `dir` (see `common::cli::run_in`), printing the run
/// and the work dir's files so a failed assertion has them in its output.
fn esxi_iso(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let run = common::cli::run_in(dir, args, env);
    eprintln!(
        "{}\n--- {}:\n{}",
        run.describe(),
        dir.display(),
        listing(dir)
    );
    run.out
}

/// Every path under `dir`, one per line, for failure messages.
fn listing(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        let mut names: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            out.push_str(&format!("  {}\n", p.strip_prefix(dir).unwrap().display()));
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file of an ISO, read by isoinfo.
fn iso_file(iso: &Path, path: &str) -> String {
    let out = Command::new("isoinfo")
        .arg("-i")
        .arg(iso)
        .arg("-x")
        .arg(path)
        .output()
        .expect("running isoinfo");
    assert!(out.status.success(), "isoinfo -x {path}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn isos(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".iso"))
        .collect();
    v.sort();
    v
}

/// The three ISOs, their checksums, manifest and kickstarts.
fn check_lab(out: &Path) -> BTreeMap<String, String> {
    assert_eq!(isos(out), ["esx01.iso", "esx02.iso", "esx03.iso"]);
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(out)
        .output()
        .unwrap();
    assert!(check.status.success(), "sha256sum -c: {check:?}");
    assert_eq!(String::from_utf8_lossy(&check.stdout).lines().count(), 3);

    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let hosts = m["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    let mut sums = BTreeMap::new();
    for (h, (name, ip, _)) in hosts.iter().zip(HOSTS) {
        let file = format!("{name}.iso");
        assert_eq!(h["hostname"], name);
        assert_eq!(h["file"], file.as_str());
        assert_eq!(h["template"], "minimal");
        assert_eq!(h["variables"]["ip"], format!("{ip}/24"));
        assert_eq!(h["variables"]["root_password"], "<redacted>");
        assert_eq!(
            h["size"].as_u64().unwrap(),
            fs::metadata(out.join(&file)).unwrap().len()
        );
        for fw in ["bios", "efi"] {
            assert_eq!(
                h["kernelopt"][fw], "runweasel cdromBoot ks=cdrom:/KS.CFG systemMediaSize=min",
                "{name} {fw}"
            );
        }
        let iso = out.join(&file);
        for cfg in ["/BOOT.CFG;1", "/EFI/BOOT/BOOT.CFG;1"] {
            let text = iso_file(&iso, cfg);
            assert!(
                text.contains("kernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG systemMediaSize=min"),
                "{name} {cfg}:\n{text}"
            );
        }
        sums.insert(file, h["sha256"].as_str().unwrap().to_string());
    }

    // The kickstarts differ exactly in the host values: putting host 1's
    // values in place of another host's gives that host's kickstart.
    let ks: Vec<String> = HOSTS
        .iter()
        .map(|(h, _, _)| iso_file(&out.join(format!("{h}.iso")), "/KS.CFG;1"))
        .collect();
    assert!(ks[0].contains("--ip=10.0.0.11") && ks[0].contains("--hostname=esx01.lab.local"));
    assert!(ks[0].contains("--vlanid=11") && ks[0].contains(HASH));
    for i in 1..3 {
        assert_ne!(ks[0], ks[i]);
        let (h0, ip0, v0) = HOSTS[0];
        let (h, ip, v) = HOSTS[i];
        let swapped = ks[0]
            .replace(&format!("={h0}."), &format!("={h}."))
            .replace(&format!("={ip0} "), &format!("={ip} "))
            .replace(&format!("--vlanid={v0}"), &format!("--vlanid={v}"));
        assert_eq!(swapped, ks[i], "host {h}");
    }
    sums
}

#[test]
fn toml_and_csv_inventories_build_the_same_lab() {
    if !can_run() {
        return;
    }
    let dir = work_dir("inv-formats");
    let d = dir.path();
    fs::write(d.join("lab.toml"), toml_lab()).unwrap();
    let (csv, vars) = csv_lab();
    fs::write(d.join("lab.csv"), csv).unwrap();
    fs::write(d.join("common.toml"), vars).unwrap();
    let src = source();
    let src = src.to_str().unwrap();

    let o = esxi_iso(
        d,
        &[
            "build",
            src,
            "--inventory",
            "lab.toml",
            "--out-dir",
            "toml",
            "-q",
        ],
        &[],
    );
    assert!(o.status.success());
    let toml_sums = check_lab(&d.join("toml"));

    let o = esxi_iso(
        d,
        &[
            "build",
            src,
            "--inventory",
            "lab.csv",
            "--out-dir",
            "csv",
            "--vars",
            "common.toml",
            "-q",
        ],
        &[],
    );
    assert!(o.status.success());
    let csv_sums = check_lab(&d.join("csv"));
    assert_eq!(toml_sums, csv_sums, "TOML and CSV give the same ISOs");
}

#[test]
fn no_secret_in_manifest_output_or_isos() {
    if !can_run() {
        return;
    }
    let dir = work_dir("inv-secret");
    let d = dir.path();
    let lab = toml_lab().replace(&format!("root_password = '{HASH}'\n"), "");
    assert!(!lab.contains("root_password"));
    fs::write(d.join("lab.toml"), lab).unwrap();
    let src = source();
    let o = esxi_iso(
        d,
        &[
            "build",
            src.to_str().unwrap(),
            "--inventory",
            "lab.toml",
            "--out-dir",
            "out",
            "--json",
        ],
        &[("ESXI_ISO_ROOT_PASSWORD", PLAIN)],
    );
    assert!(o.status.success());
    let out = d.join("out");
    let manifest = fs::read_to_string(out.join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    for h in m["hosts"].as_array().unwrap() {
        assert_eq!(h["variables"]["root_password"], "<redacted>");
    }
    let stdout: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(stdout, m, "--json prints the manifest");
    let secret = PLAIN.as_bytes();
    let contains = |hay: &[u8]| hay.windows(secret.len()).any(|w| w == secret);
    assert!(!contains(manifest.as_bytes()));
    assert!(!contains(&o.stdout) && !contains(&o.stderr));
    for f in isos(&out) {
        let bytes = fs::read(out.join(&f)).unwrap();
        assert!(!contains(&bytes), "{f} holds the plain password");
        let ks = iso_file(&out.join(&f), "/KS.CFG;1");
        assert!(ks.contains("rootpw --iscrypted $6$"), "{ks}");
    }
}

#[test]
fn invalid_inventory_lists_every_problem_and_writes_nothing() {
    if !fixture::available() {
        return;
    }
    let dir = work_dir("inv-invalid");
    let d = dir.path();
    // Reads what the lab sets, but lacks vmaccepteula and rootpw: lint errors.
    fs::write(
        d.join("bad.tera"),
        "install --firstdisk\nnetwork {{ network_args }}\nreboot\n",
    )
    .unwrap();
    let lab = format!(
        "[defaults]\nroot_password = '{HASH}'\ngateway = '10.0.0.1'\n\
         [[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\n\
         [[host]]\nhostname = 'esx01'\nip = '10.0.0.12/24'\n\
         [[host]]\nhostname = 'esx03'\nip = '10.0.0.11/24'\n\
         [[host]]\nhostname = 'esx04'\nip = '10.0.1.14/24'\n\
         [[host]]\nip = '10.0.0.15/24'\n\
         [[host]]\nhostname = 'esx06'\nip = '10.0.0.16/24'\nroot_password = ''\n\
         [[host]]\nhostname = 'esx07'\nip = '10.0.0.17/24'\ntemplate = 'bad.tera'\n\
         [[host]]\nhostname = 'esx08'\nip = '10.0.0.18/24'\ntemplate = 'nope'\n\
         [[host]]\nhostname = 'esx09'\nip = '10.0.0.19/24'\nnameserver = '10.0.0.2'\n\
         [[host]]\nhostname = 'esx10'\nip = 10\nntp_servers = true\n\
         [[host]]\nhostname = 11\nip = '10.0.0.21/24'\n"
    );
    fs::write(d.join("lab.toml"), lab).unwrap();
    let src = source();
    let o = esxi_iso(
        d,
        &[
            "build",
            src.to_str().unwrap(),
            "--inventory",
            "lab.toml",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().map(str::trim).collect();
    let want = [
        "duplicate hostname esx01: hosts #1, #2",
        "duplicate ip 10.0.0.11: esx01, esx03",
        "esx04: gateway 10.0.0.1 is outside the subnet of ip 10.0.1.14/24",
        "host #5: missing hostname",
        "esx06: no root password",
        "esx07: /KS.CFG: error:",
        "esx08: unknown template \"nope\"",
        "esx09: key nameserver: template nested-lab reads no variable nameserver (did you mean nameservers?)",
        "esx10: ip: expected a string, got the integer 10: quote it",
        "esx10: ntp_servers: expected a list of strings or one comma-separated string, got the boolean true",
        "host #11: hostname: expected a string, got the integer 11: quote it",
    ];
    for w in want {
        assert!(
            lines.iter().any(|l| l.starts_with(w)),
            "missing {w:?} in:\n{err}"
        );
    }
    // Neither the value dropped for its type ("missing hostname", the
    // gateway without an ip) nor the host built as DHCP.
    for wrong in [
        "host #11: missing hostname",
        "esx10: gateway is set but ip is not",
    ] {
        assert!(!err.contains(wrong), "{wrong:?} in:\n{err}");
    }
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!d.join("out").exists(), "the out dir was created");

    // Wrong format, and the command-line rules.
    fs::write(d.join("lab.txt"), "").unwrap();
    let o = esxi_iso(
        d,
        &[
            "build",
            src.to_str().unwrap(),
            "--inventory",
            "lab.txt",
            "--out-dir",
            "out",
        ],
        &[],
    );
    assert!(stderr(&o).contains("name it .toml or .csv"));
    for args in [
        &["--inventory", "lab.toml", "--out-dir", "out", "-o", "x.iso"][..],
        &["--out-dir", "out"][..],
        &["--inventory", "lab.toml"][..],
        &["-o", "x.iso", "--jobs", "2"][..],
    ] {
        let mut a = vec!["build", src.to_str().unwrap()];
        a.extend_from_slice(args);
        assert_eq!(esxi_iso(d, &a, &[]).status.code(), Some(2), "{args:?}");
    }
    assert!(!d.join("out").exists() && !d.join("x.iso").exists());
}

#[test]
fn parallel_and_serial_builds_are_identical() {
    if !can_run() {
        return;
    }
    let dir = work_dir("inv-jobs");
    let d = dir.path();
    fs::write(d.join("lab.toml"), toml_lab()).unwrap();
    let src = source();
    for (jobs, out) in [("1", "serial"), ("3", "parallel")] {
        let o = esxi_iso(
            d,
            &[
                "build",
                src.to_str().unwrap(),
                "--inventory",
                "lab.toml",
                "--out-dir",
                out,
                "--jobs",
                jobs,
                "-q",
            ],
            &[("SOURCE_DATE_EPOCH", "1700000000")],
        );
        assert!(o.status.success());
        assert!(o.stdout.is_empty(), "--quiet prints nothing");
    }
    for f in [
        "esx01.iso",
        "esx02.iso",
        "esx03.iso",
        "SHA256SUMS",
        "manifest.json",
    ] {
        assert!(
            fs::read(d.join("serial").join(f)).unwrap()
                == fs::read(d.join("parallel").join(f)).unwrap(),
            "{f} differs between --jobs 1 and --jobs 3"
        );
    }
}

/// esx02 has an overlay that would replace a file of the source ISO
/// without --replace-vendor-files: that is only known once the ISO is
/// open, so it fails while building, after esx01 was written.
fn failing_lab(d: &Path) {
    fs::create_dir_all(d.join("vendor/iso")).unwrap();
    fs::write(d.join("vendor/iso/BOOT.CAT"), "not a catalog").unwrap();
    let lab = toml_lab().replace(
        "hostname = 'esx02'",
        "hostname = 'esx02'\noverlays = ['vendor']",
    );
    fs::write(d.join("lab.toml"), lab).unwrap();
}

#[test]
fn a_failure_stops_the_run_and_removes_its_outputs() {
    if !can_run() {
        return;
    }
    let dir = work_dir("inv-fail");
    let d = dir.path();
    failing_lab(d);
    let src = source();
    let src = src.to_str().unwrap();
    // A new out dir is removed again; an existing one keeps what it held.
    let o = esxi_iso(
        d,
        &[
            "build",
            src,
            "--inventory",
            "lab.toml",
            "--out-dir",
            "new",
            "--jobs",
            "1",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(6));
    let err = stderr(&o);
    assert!(
        err.contains("esx02: ") && err.contains("would replace /BOOT.CAT"),
        "{err}"
    );
    assert!(err.contains("--keep-going"), "{err}");
    assert!(
        !d.join("new").exists(),
        "half-built lab left:\n{}",
        listing(d)
    );

    fs::create_dir(d.join("old")).unwrap();
    fs::write(d.join("old/notes.txt"), "mine").unwrap();
    for jobs in ["1", "3"] {
        let o = esxi_iso(
            d,
            &[
                "build",
                src,
                "--inventory",
                "lab.toml",
                "--out-dir",
                "old",
                "--jobs",
                jobs,
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(6));
        let names: Vec<_> = fs::read_dir(d.join("old"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["notes.txt"], "--jobs {jobs}");
    }
}

#[test]
fn keep_going_builds_the_other_hosts() {
    if !can_run() {
        return;
    }
    let dir = work_dir("inv-keep");
    let d = dir.path();
    failing_lab(d);
    let src = source();
    let o = esxi_iso(
        d,
        &[
            "build",
            src.to_str().unwrap(),
            "--inventory",
            "lab.toml",
            "--out-dir",
            "out",
            "--keep-going",
            "--jobs",
            "2",
            "-q",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(6));
    let err = stderr(&o);
    assert!(
        err.contains("1 of 3 hosts failed") && err.contains("esx02: "),
        "{err}"
    );
    let out = d.join("out");
    assert_eq!(isos(&out), ["esx01.iso", "esx03.iso"]);
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(&out)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    let m: serde_json::Value =
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = m["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hostname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["esx01", "esx03"]);
}

#[test]
fn existing_outputs_are_kept_without_force() {
    if !can_run() {
        return;
    }
    let dir = work_dir("inv-force");
    let d = dir.path();
    fs::write(d.join("lab.toml"), toml_lab()).unwrap();
    let src = source();
    let args = [
        "build",
        src.to_str().unwrap(),
        "--inventory",
        "lab.toml",
        "--out-dir",
        "out",
        "-q",
    ];
    assert!(esxi_iso(d, &args, &[]).status.success());
    let out = d.join("out");
    fs::write(out.join("esx02.iso"), "keep me").unwrap();
    let o = esxi_iso(d, &args, &[]);
    assert_eq!(o.status.code(), Some(4));
    let err = stderr(&o);
    for f in ["esx01.iso", "esx02.iso", "esx03.iso.sha256"] {
        assert!(err.contains(&format!("{f} already exists")), "{f}: {err}");
    }
    // The index files are merged, never replaced: they need no --force.
    for f in ["SHA256SUMS", "manifest.json"] {
        assert!(!err.contains(&format!("{f} already exists")), "{f}: {err}");
    }
    assert_eq!(
        fs::read_to_string(out.join("esx02.iso")).unwrap(),
        "keep me"
    );
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(esxi_iso(d, &forced, &[]).status.success());
    check_lab(&out);
}

/// `--host` rebuilds only the hosts named, and no run drops another
/// host's entry from SHA256SUMS or manifest.json while its ISO is there
/// (`sha256sum -c` judges the checksums); an entry whose ISO is gone is
/// dropped with a warning.
#[test]
fn rebuilding_part_of_a_lab_keeps_the_index_whole() {
    if !can_run() {
        return;
    }
    let dir = work_dir("inv-partial");
    let d = dir.path();
    fs::write(d.join("lab.toml"), toml_lab()).unwrap();
    let src = source();
    let base = [
        "build",
        src.to_str().unwrap(),
        "--inventory",
        "lab.toml",
        "--out-dir",
        "out",
        "-q",
    ];
    assert!(esxi_iso(d, &base, &[]).status.success());
    let out = d.join("out");
    let before = sums_checked(&out, 3);
    let manifest = |out: &Path| -> serde_json::Value {
        serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap()
    };
    let m0 = manifest(&out);

    // esx02 gets another VLAN; only it is rebuilt.
    let changed = toml_lab().replace("vlan_id = 12", "vlan_id = 42");
    fs::write(d.join("lab.toml"), &changed).unwrap();
    let mut one = base.to_vec();
    one.extend(["--host", "esx02", "--force"]);
    let o = esxi_iso(d, &one, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let after = sums_checked(&out, 3);
    assert_eq!(after["esx01.iso"], before["esx01.iso"]);
    assert_eq!(after["esx03.iso"], before["esx03.iso"]);
    assert_ne!(after["esx02.iso"], before["esx02.iso"]);
    assert!(iso_file(&out.join("esx02.iso"), "/KS.CFG;1").contains("--vlanid=42"));
    let m1 = manifest(&out);
    assert_eq!(m1["hosts"][0], m0["hosts"][0], "esx01's entry changed");
    assert_eq!(m1["hosts"][2], m0["hosts"][2], "esx03's entry changed");
    assert_eq!(m1["hosts"][1]["variables"]["vlan_id"], "42");

    // The case from the field: a one-host inventory with --force into the
    // lab folder keeps the other hosts' entries.
    fs::write(
        d.join("one.toml"),
        changed
            .split("\n[[host]]")
            .take(2)
            .collect::<Vec<_>>()
            .join("\n[[host]]"),
    )
    .unwrap();
    let mut single = base.to_vec();
    single[3] = "one.toml";
    single.push("--force");
    let o = esxi_iso(d, &single, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let again = sums_checked(&out, 3);
    assert_eq!(again["esx02.iso"], after["esx02.iso"]);
    assert_eq!(again["esx03.iso"], after["esx03.iso"]);

    // An ISO that is gone is dropped from the index, with a warning.
    fs::remove_file(out.join("esx03.iso")).unwrap();
    let mut first = base.to_vec();
    first.extend(["--host", "esx01", "--force"]);
    let o = esxi_iso(d, &first, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("esx03 is no longer listed in SHA256SUMS and manifest.json: its ISO is gone from out [index-changed]"),
        "{}",
        stderr(&o)
    );
    sums_checked(&out, 2);
    let m = manifest(&out);
    assert_eq!(m["hosts"].as_array().unwrap().len(), 2);
    // The warning is in the manifest (and so in --json) too.
    assert_eq!(m["warnings"][0]["code"], "index-changed", "{m}");
    assert!(
        m["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("esx03 is no longer listed"),
        "{m}"
    );

    // A host that is not in the inventory, and an existing ISO without
    // --force.
    let mut wrong = base.to_vec();
    wrong.extend(["--host", "esx2"]);
    let o = esxi_iso(d, &wrong, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--host esx2: the inventory has no host esx2: did you mean esx02? its hosts are esx01, esx02, esx03"),
        "{}",
        stderr(&o)
    );
    let mut no_force = base.to_vec();
    no_force.extend(["--host", "esx01"]);
    let o = esxi_iso(d, &no_force, &[]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("esx01: out/esx01.iso already exists"),
        "{}",
        stderr(&o)
    );

    // A manifest that cannot be read stops the run before anything is built.
    fs::write(out.join("manifest.json"), "{ torn").unwrap();
    let o = esxi_iso(d, &first, &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("manifest.json: it is not JSON; remove it"),
        "{}",
        stderr(&o)
    );
}

/// SHA256SUMS of a lab folder, checked by coreutils: file -> checksum.
fn sums_checked(out: &Path, hosts: usize) -> BTreeMap<String, String> {
    let check = Command::new("sha256sum")
        .args(["-c", "--strict", "SHA256SUMS"])
        .current_dir(out)
        .output()
        .unwrap();
    assert!(check.status.success(), "sha256sum -c: {check:?}");
    let sums: BTreeMap<String, String> = fs::read_to_string(out.join("SHA256SUMS"))
        .unwrap()
        .lines()
        .map(|l| {
            let (s, f) = l.split_once("  ").unwrap();
            (f.to_string(), s.to_string())
        })
        .collect();
    assert_eq!(sums.len(), hosts, "{sums:?}");
    sums
}
