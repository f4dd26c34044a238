//! Network install (`build --inventory --netboot URL`, then `serve`):
//! what the run writes (only a boot.cfg and a kickstart per host, read
//! back by independent readers: xorriso for the ISO's own boot.cfg,
//! sha256sum for the index, `kickstart lint`), what it refuses before
//! writing (malformed and duplicate MACs, ISO-only inputs), and what the
//! server answers over HTTP, judged by curl and Debian's busybox wget:
//! per-MAC lookups, the fallback, 404s for unknown MACs, ISO bytes
//! compared with xorriso's extraction, ranges and validators, kickstart
//! tokens, hidden state, and the status events.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::cli::{iso_file, run_in};
use common::server::{curl, fetch, header, Server};
use common::{fixture, tools};

const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";
/// What the VMs would use (QEMU's user network); unused by curl.
const URL: &str = "http://10.0.2.2:8080";

fn can_run() -> bool {
    fixture::available() && tools::require(&["xorriso", "curl", "busybox", "sha256sum"])
}

fn inventory(hosts: &str) -> String {
    format!(
        "[lab]\nname = 'demo'\n[defaults]\ntemplate = 'minimal'\nroot_password = '{HASH}'\n{hosts}"
    )
}

/// `build ISO --inventory lab.toml --out-dir lab --netboot URL EXTRA`.
fn netboot(work: &Path, iso: &Path, inv: &str, extra: &[&str]) -> common::cli::Run {
    fs::write(work.join("lab.toml"), inv).unwrap();
    let iso = iso.to_str().unwrap();
    let mut args = vec![
        "build",
        iso,
        "--inventory",
        "lab.toml",
        "--out-dir",
        "lab",
        "--netboot",
    ];
    args.extend_from_slice(extra);
    if !extra.iter().any(|a| a.starts_with("http")) {
        args.insert(7, URL);
    }
    run_in(work, &args, &[])
}

fn manifest(lab: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(lab.join("manifest.json")).unwrap()).unwrap()
}

/// (hostname, mac, boot.cfg path) of the manifest's hosts.
fn hosts(lab: &Path) -> Vec<(String, String, String)> {
    manifest(lab)["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hostname"].as_str().unwrap().to_string(),
                h["netboot"]["mac"].as_str().unwrap().to_string(),
                h["file"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn token_of(boot_cfg: &str) -> String {
    let at = boot_cfg.find("/.esxi-iso/ks/").unwrap() + "/.esxi-iso/ks/".len();
    boot_cfg[at..at + 64].to_string()
}

#[test]
fn a_lab_is_two_small_files_per_host_read_back_as_the_loader_reads_them() {
    if !can_run() {
        return;
    }
    let fx = fixture::fixtures();
    let work = fixture::work_dir("netboot-make");
    let inv = inventory(
        "[[host]]\nhostname = 'esx01'\n\
         [[host]]\nhostname = 'esx02'\nmac = '52:54:00:AB:CD:EF'\n\
         [[host]]\nhostname = 'esx03'\nboot_opts = ['systemMediaSize=min']\n",
    );
    let r = netboot(work.path(), &fx.plain, &inv, &[]).ok();
    let lab = work.path().join("lab");
    let out = r.stdout();
    assert!(
        out.contains(&format!("boot URL   {URL}/esxi-plain/efi/boot/bootx64.efi")),
        "{out}"
    );
    // Nothing of the installer was copied: no ISO, a few KiB in all.
    let mut bytes = 0;
    for e in walk(&lab) {
        assert!(!e.ends_with(".iso"), "{e}");
        bytes += fs::metadata(lab.join(&e)).unwrap().len();
    }
    assert!(bytes < 64 << 10, "{bytes} bytes");

    let stock = String::from_utf8(iso_file(&fx.plain, "/EFI/BOOT/BOOT.CFG")).unwrap();
    let hs = hosts(&lab);
    assert_eq!(hs.len(), 3);
    assert_eq!(hs[1].1, "52:54:00:ab:cd:ef");
    assert_eq!(hs[1].2, "esxi-plain/efi/boot/01-52-54-00-ab-cd-ef/boot.cfg");
    assert!(hs[0].1.starts_with("00:50:56:"), "derived: {}", hs[0].1);
    for (name, mac, rel) in &hs {
        let cfg = fs::read_to_string(lab.join(rel)).unwrap();
        let bootif = format!("01-{}", mac.replace(':', "-"));
        let prefix = format!("prefix={URL}/esxi-plain/{bootif}");
        // Every line of the stock file is there as it was, except the
        // three the network needs.
        let mut mine = cfg.lines().filter(|l| !l.starts_with("prefix="));
        for stock_line in stock.lines() {
            let got = mine.next().unwrap();
            if stock_line.starts_with("kernel=") {
                assert_eq!(got, stock_line.replace("=/", "="));
            } else if stock_line.starts_with("modules=") {
                assert_eq!(got, stock_line.replace("=/", "=").replace("--- /", "--- "));
            } else if stock_line.starts_with("kernelopt=") {
                let want = format!("{stock_line} ks={URL}/.esxi-iso/ks/");
                assert!(got.starts_with(&want), "{got}");
                assert!(got.contains(&format!("/{name}.cfg")), "{got}");
            } else {
                assert_eq!(got, stock_line);
            }
        }
        assert!(cfg.lines().any(|l| l == prefix), "{cfg}");
        // The kickstart is the host's, and lints as the installer reads it.
        let ks = lab.join(format!(".esxi-iso/kickstarts/{name}.cfg"));
        assert!(fs::read_to_string(&ks)
            .unwrap()
            .contains(&format!("--host={name}")));
        run_in(
            work.path(),
            &["kickstart", "lint", ks.to_str().unwrap()],
            &[],
        )
        .ok();
    }
    let cfg3 = fs::read_to_string(lab.join(&hs[2].2)).unwrap();
    assert!(cfg3.contains(" systemMediaSize=min"), "{cfg3}");
    // The index: sha256sum checks it; the manifest hides the tokens.
    let sums = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&lab)
        .output()
        .unwrap();
    assert!(sums.status.success(), "{sums:?}");
    let m = fs::read_to_string(lab.join("manifest.json")).unwrap();
    let tok = token_of(&fs::read_to_string(lab.join(&hs[0].2)).unwrap());
    assert!(!m.contains(&tok), "token in manifest.json");
    assert!(m.contains("/.esxi-iso/ks/<token>/esx01.cfg"), "{m}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out
}

#[test]
fn bad_macs_and_iso_only_inputs_are_refused_before_anything_is_written() {
    if !fixture::available() {
        return;
    }
    let fx = fixture::fixtures();
    let work = fixture::work_dir("netboot-refuse");
    let lab = work.path().join("lab");
    let cases: &[(&str, &[&str], i32, &str)] = &[
        (
            "[[host]]\nhostname = 'esx01'\nmac = '00:50:56:01:02'\n",
            &[],
            2,
            "is not a MAC address",
        ),
        (
            "[[host]]\nhostname = 'esx01'\nmac = '00:50:56:01:02:03'\n\
             [[host]]\nhostname = 'esx02'\nmac = '00-50-56-01-02-03'\n",
            &[],
            2,
            "duplicate mac 00:50:56:01:02:03",
        ),
        (
            // esx02's given MAC is the one esx01 gets without one.
            "[[host]]\nhostname = 'esx01'\n\
             [[host]]\nhostname = 'esx02'\nmac = '00:50:56:34:d2:ec'\n",
            &[],
            2,
            "duplicate mac 00:50:56:34:d2:ec: esx01 (derived), esx02",
        ),
        (
            "[[host]]\nhostname = 'esx01'\n",
            &["http://127.0.0.1:8080"],
            2,
            "127.0.0.1 is a loopback address",
        ),
        (
            "[[host]]\nhostname = 'esx01'\noverlays = ['ssh-keys']\n",
            &[],
            2,
            "overlays put files on an ISO",
        ),
    ];
    for (hosts, extra, code, want) in cases {
        netboot(work.path(), &fx.plain, &inventory(hosts), extra).fails_with(*code, want);
        assert!(
            !lab.exists(),
            "{hosts}: wrote {:?}",
            common::cli::listing(&lab)
        );
    }
    // clap refuses the ISO-only options themselves.
    let r = netboot(
        work.path(),
        &fx.plain,
        &inventory("[[host]]\nhostname = 'esx01'\n"),
        &[URL, "--overlay", "ssh-keys"],
    );
    assert_eq!(r.code(), Some(2));
    assert!(r.stderr().contains("cannot be used with"), "{}", r.stderr());
    assert!(!lab.exists());
    // A folder is not a stock ISO.
    netboot(
        work.path(),
        &fx.tree,
        &inventory("[[host]]\nhostname = 'esx01'\n"),
        &[],
    )
    .fails_with(2, "give the ISO");
    assert!(!lab.exists());
}

#[test]
fn a_rerun_needs_force_and_a_new_mac_moves_the_host() {
    if !fixture::available() {
        return;
    }
    let fx = fixture::fixtures();
    let work = fixture::work_dir("netboot-rerun");
    let lab = work.path().join("lab");
    let one = "[[host]]\nhostname = 'esx01'\nmac = '00:50:56:00:00:01'\n\
               [[host]]\nhostname = 'esx02'\nmac = '00:50:56:00:00:02'\n";
    netboot(work.path(), &fx.plain, &inventory(one), &[]).ok();
    netboot(work.path(), &fx.plain, &inventory(one), &[])
        .fails_with(4, "already exists: pass --force to overwrite it");
    let old = lab.join("esxi-plain/efi/boot/01-00-50-56-00-00-02/boot.cfg");
    assert!(old.is_file());
    let two = one.replace("00:50:56:00:00:02", "00:50:56:00:00:22");
    let r = netboot(
        work.path(),
        &fx.plain,
        &inventory(&two),
        &[URL, "--host", "esx02", "--force"],
    )
    .ok();
    assert!(r.stdout().contains("removed "), "{}", r.stdout());
    assert!(!old.exists());
    assert!(lab
        .join("esxi-plain/efi/boot/01-00-50-56-00-00-22/boot.cfg")
        .is_file());
    // esx01 was kept, in the manifest and the record.
    let names: Vec<String> = hosts(&lab).into_iter().map(|h| h.0).collect();
    assert_eq!(names, ["esx01", "esx02"]);
    // A host no longer in the inventory keeps its MAC: esx02 may not take
    // esx01's while the folder still serves esx01.
    let three = "[[host]]\nhostname = 'esx02'\nmac = '00:50:56:00:00:01'\n";
    netboot(work.path(), &fx.plain, &inventory(three), &[URL, "--force"]).fails_with(
        2,
        "duplicate mac 00:50:56:00:00:01: esx02, esx01 (already served from this folder)",
    );

    // The stock ISO moved: a rebuild from its new place re-points the
    // folder (the same media), for the kept host too.
    let moved = work.path().join("media/esxi-plain.iso");
    fs::create_dir(work.path().join("media")).unwrap();
    fs::copy(&fx.plain, &moved).unwrap();
    netboot(
        work.path(),
        &moved,
        &inventory(&two),
        &[URL, "--host", "esx02", "--force"],
    )
    .ok();
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(lab.join(".esxi-iso/netboot.json")).unwrap()).unwrap();
    let isos: Vec<&str> = record["installers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["iso"].as_str().unwrap())
        .collect();
    assert_eq!(isos, [moved.canonicalize().unwrap().to_str().unwrap()]);
    // Other media under the same name is still refused.
    let other = work.path().join("other/esxi-plain.iso");
    fs::create_dir(work.path().join("other")).unwrap();
    fs::copy(&fx.v91, &other).unwrap();
    netboot(
        work.path(),
        &other,
        &inventory(&two),
        &[URL, "--host", "esx02", "--force"],
    )
    .fails_with(2, "has the same name: rename one of the two ISOs");
}

/// A stock ISO missing when serve starts: said at start-up, its files are
/// 404, and once it is back it serves without a restart.
#[test]
fn a_stock_iso_put_back_serves_without_a_restart() {
    if !can_run() {
        return;
    }
    let fx = fixture::fixtures();
    let work = fixture::work_dir("netboot-back");
    let media = work.path().join("media");
    fs::create_dir(&media).unwrap();
    let iso = media.join("esxi-plain.iso");
    fs::copy(&fx.plain, &iso).unwrap();
    let one = "[[host]]\nhostname = 'esx01'\nmac = '00:50:56:00:00:01'\n";
    netboot(work.path(), &iso, &inventory(one), &[]).ok();
    let away = work.path().join("esxi-plain.iso.away");
    fs::rename(&iso, &away).unwrap();
    let mut s = Server::start(&work.path().join("lab"), &[]);
    let efi = format!("{}/esxi-plain/efi/boot/bootx64.efi", s.url);
    assert_eq!(get(&efi).0, 404);
    fs::rename(&away, &iso).unwrap();
    // Tried again every 2 s; a bound, not a timing assertion.
    let back = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        get(&efi).0 == 200
    });
    let served = get(&efi).1;
    s.stop();
    assert!(
        back,
        "still not served once the ISO was back\n{}",
        s.stderr()
    );
    assert_eq!(served, iso_file(&fx.plain, "/EFI/BOOT/BOOTX64.EFI"));
    let err = s.stderr();
    assert!(
        err.contains("its hosts cannot boot until it is back") && err.contains("[netboot-source]"),
        "{err}"
    );
}

fn get(url: &str) -> (u16, Vec<u8>) {
    let (st, _, body) = fetch(&[url]);
    (st, body)
}

#[test]
fn serve_hands_out_the_installer_by_mac_and_kickstarts_by_token() {
    if !can_run() {
        return;
    }
    let fx = fixture::fixtures();
    let work = fixture::work_dir("netboot-serve");
    let lab = work.path().join("lab");
    fs::create_dir(&lab).unwrap();
    let s = Server::start(&lab, &[]);
    let inv = inventory(
        "[[host]]\nhostname = 'esx01'\nmac = '00:50:56:00:00:01'\n\
         [[host]]\nhostname = 'esx02'\nmac = '00:50:56:00:00:02'\n",
    );
    // The prefix fixture: relative names under prefix=/esxi.
    let base = s.url.clone();
    netboot(
        work.path(),
        &fx.prefix,
        &inv,
        &[&base, "--report-to", &base, "--allow-local-report"],
    )
    .ok();
    let m = format!("{base}/esxi-prefix");
    // mboot.efi, looked up as the loader does, byte for byte.
    let efi = iso_file(&fx.prefix, "/EFI/BOOT/BOOTX64.EFI");
    for p in [
        "efi/boot/bootx64.efi",
        "EFI/BOOT/BOOTX64.EFI",
        "Efi/Boot/BootX64.efi",
    ] {
        let (st, body) = get(&format!("{m}/{p}"));
        assert!(st == 200 && body == efi, "{p}: {st}, {} bytes", body.len());
    }
    // Per-MAC boot.cfg, in any case; unknown MACs and the fallback: 404.
    let cfg1 = fs::read(lab.join("esxi-prefix/efi/boot/01-00-50-56-00-00-01/boot.cfg")).unwrap();
    for p in [
        "efi/boot/01-00-50-56-00-00-01/boot.cfg",
        "EFI/BOOT/01-00-50-56-00-00-01/BOOT.CFG",
    ] {
        let (st, body) = get(&format!("{m}/{p}"));
        assert!(st == 200 && body == cfg1, "{p}: {st}");
    }
    for p in [
        "efi/boot/01-00-50-56-00-00-09/boot.cfg",
        "efi/boot/boot.cfg",
        "boot.cfg",
        "BOOT.CFG;1",
        "EFI/BOOT/BOOT.CFG;1",
        "01-00-50-56-00-00-09/esxi/b.b00",
        "01-00-50-56-00-00-01/efi/boot/boot.cfg",
        "01-00-50-56-00-00-01/BOOT.CFG",
        "nothing.gz",
        "esxi",
    ] {
        assert_eq!(get(&format!("{m}/{p}")).0, 404, "{p}");
    }
    // Modules through the host's prefix are the ISO's bytes (xorriso).
    let cfg = String::from_utf8(cfg1).unwrap();
    let prefix = cfg.lines().find_map(|l| l.strip_prefix("prefix=")).unwrap();
    assert_eq!(prefix, format!("{m}/01-00-50-56-00-00-01"));
    let modules = cfg
        .lines()
        .find_map(|l| l.strip_prefix("modules="))
        .unwrap();
    let first: Vec<&str> = modules.split(" --- ").take(4).collect();
    for rel in &first {
        assert!(rel.starts_with("esxi/"), "{rel}");
        let want = iso_file(&fx.prefix, &format!("/{}", rel.to_ascii_uppercase()));
        let (st, body) = get(&format!("{prefix}/{rel}"));
        assert!(
            st == 200 && body == want,
            "{rel}: {st}, {} bytes",
            body.len()
        );
    }
    // Ranges and validators, as for other files.
    let k = format!("{prefix}/esxi/k.b00");
    let whole = iso_file(&fx.prefix, "/ESXI/K.B00");
    let (st, h, body) = fetch(&["-r", "100-199", &k]);
    assert!(st == 206 && body == whole[100..200], "{st}");
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 100-199/{}", whole.len()).as_str())
    );
    let (_, h, _) = fetch(&["-I", &k]);
    let etag = header(&h, "etag").unwrap().to_string();
    let (st, _, _) = fetch(&["-H", &format!("If-None-Match: {etag}"), &k]);
    assert_eq!(st, 304);
    // Hidden state is never served, however asked.
    for p in [
        "/.esxi-iso/netboot.json",
        "/.esxi-iso/secret",
        "/.esxi-iso/kickstarts/esx01.cfg",
        "/esxi-prefix/../.esxi-iso/secret",
        "/esxi-prefix/%2e%2e/.esxi-iso/secret",
    ] {
        let (code, out, _) = curl(&[
            "--path-as-is",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{base}{p}"),
        ]);
        assert_eq!(code, 0);
        assert_eq!(String::from_utf8_lossy(&out), "404", "{p}");
    }
    // Kickstarts: only with the host's own token; busybox wget as the
    // installer's busybox would fetch it.
    let tok = token_of(&cfg);
    let ks_url = format!("{base}/.esxi-iso/ks/{tok}/esx01.cfg");
    let ks = fs::read(lab.join(".esxi-iso/kickstarts/esx01.cfg")).unwrap();
    let wget = |url: &str| {
        Command::new("busybox")
            .args(["wget", "-q", "-O", "-", url])
            .output()
            .unwrap()
    };
    let ok = wget(&ks_url);
    assert!(ok.status.success() && ok.stdout == ks, "{ok:?}");
    for bad in [
        format!("{base}/.esxi-iso/ks/esx01.cfg"),
        format!("{base}/.esxi-iso/ks/{tok}/esx02.cfg"),
        format!("{base}/.esxi-iso/ks/{}/esx01.cfg", "0".repeat(64)),
    ] {
        let r = wget(&bad);
        assert!(!r.status.success(), "{bad}: {r:?}");
        assert_eq!(get(&bad).0, 403, "{bad}");
    }
    // status: esx01 loaded its modules, then fetched its kickstart; the
    // access log never shows the token.
    let st = run_in(&lab, &["status", ".", "--json"], &[]).ok();
    let v: serde_json::Value = serde_json::from_str(&st.stdout()).unwrap();
    assert_eq!(v["hosts"][0]["host"], "esx01");
    assert_eq!(v["hosts"][0]["state"], "kickstart-fetched");
    // The kickstart's report lines work as on an ISO: its %pre line's URL,
    // fetched by busybox wget, moves the host on.
    let text = String::from_utf8(ks).unwrap();
    let pre = text
        .lines()
        .find(|l| l.contains("event=installing"))
        .expect("a report line");
    let url = pre.split('"').nth(1).unwrap();
    assert!(url.contains(&format!("token={tok}")), "{url}");
    assert!(wget(url).status.success());
    let st = run_in(&lab, &["status", ".", "--json"], &[]).ok();
    let v: serde_json::Value = serde_json::from_str(&st.stdout()).unwrap();
    assert_eq!(v["hosts"][0]["state"], "installing");
    assert_eq!(v["hosts"][0]["iso"], serde_json::Value::Null);
    assert_eq!(v["hosts"][1]["state"], "waiting");
    let events = fs::read_to_string(lab.join(".esxi-iso/events.jsonl")).unwrap();
    let loading = events.find("\"loading\"").unwrap();
    assert!(
        loading < events.find("kickstart-fetched").unwrap(),
        "{events}"
    );
    assert!(!s.stderr().contains(&tok), "token in the access log");
    assert!(
        s.stderr()
            .contains("GET /.esxi-iso/ks/<token>/esx01.cfg 200"),
        "{}",
        s.stderr()
    );
}

#[test]
fn interactive_fallback_boots_unknown_macs_without_a_kickstart() {
    if !can_run() {
        return;
    }
    let fx = fixture::fixtures();
    let work = fixture::work_dir("netboot-fallback");
    let lab = work.path().join("lab");
    let inv = inventory("[[host]]\nhostname = 'esx01'\n");
    let r = netboot(
        work.path(),
        &fx.plain,
        &inv,
        &[URL, "--netboot-interactive"],
    )
    .ok();
    assert!(r
        .stdout()
        .contains("unknown MACs boot the installer without a kickstart"));
    let s = Server::start(&lab, &[]);
    let (st, body) = get(&format!("{}/esxi-plain/efi/boot/boot.cfg", s.url));
    assert_eq!(st, 200);
    let cfg = String::from_utf8(body).unwrap();
    assert!(cfg.contains(&format!("prefix={URL}/esxi-plain\n")), "{cfg}");
    assert!(cfg.contains("kernelopt=runweasel cdromBoot\n"), "{cfg}");
    assert!(!cfg.contains("ks="), "{cfg}");
    // Its modules load from the mount itself.
    let want = iso_file(&fx.plain, "/B.B00");
    let (st, body) = get(&format!("{}/esxi-plain/b.b00", s.url));
    assert!(st == 200 && body == want, "{st}");
    // A run without the flag takes the fallback away again.
    netboot(work.path(), &fx.plain, &inv, &[URL, "--force"]).ok();
    assert!(!lab.join("esxi-plain/efi/boot/boot.cfg").exists());
    assert_eq!(
        get(&format!("{}/esxi-plain/efi/boot/boot.cfg", s.url)).0,
        404
    );
}
