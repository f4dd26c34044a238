//! `esxi-iso build` and `inspect` end to end, judged by independent readers
//! (xorriso, isoinfo, bsdtar, sha256sum, openssl) rather than our own.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::cli::{listing, run_in, tool, tool_bytes};
use common::fixture::{self, fixtures, work_dir};

const PW: &str = "VMware1!lab";

fn ready() -> bool {
    fixture::available()
        && common::tools::require(&["xorriso", "isoinfo", "bsdtar", "sha256sum", "openssl"])
}

fn build(dir: &Path, src: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let mut args = vec!["build", src.to_str().unwrap(), "-o", out, "--quiet"];
    args.extend_from_slice(extra);
    run_in(dir, &args, &[("ESXI_ISO_ROOT_PASSWORD", PW)]).ok();
    dir.join(out)
}

fn iso_file(iso: &Path, path: &str) -> Vec<u8> {
    tool_bytes("isoinfo", &["-i", iso.to_str().unwrap(), "-x", path])
}

/// Every regular file of an ISO as bsdtar (libarchive) reads it.
fn extract_all(iso: &Path, into: &Path) {
    fs::create_dir_all(into).unwrap();
    tool(
        "bsdtar",
        &[
            "-x",
            "-f",
            iso.to_str().unwrap(),
            "-C",
            into.to_str().unwrap(),
        ],
    );
}

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn el_torito(iso: &Path) -> String {
    tool(
        "xorriso",
        &[
            "-indev",
            iso.to_str().unwrap(),
            "-report_el_torito",
            "plain",
        ],
    )
}

/// The lines of `xorriso -report_el_torito plain` that describe the boot
/// entries (images, paths, options), without catalog-independent noise.
fn boot_lines(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|l| l.starts_with("El Torito"))
        .map(str::to_string)
        .collect()
}

fn check_output(src: &Path, out: &Path, work: &Path, ks_marker: &str) {
    // Both El Torito entries, as xorriso reads them, are unchanged.
    let (before, after) = (el_torito(src), el_torito(out));
    assert_eq!(boot_lines(&before), boot_lines(&after), "El Torito changed");
    assert!(
        after.contains("El Torito boot img :   1  BIOS  y   none  0x0000  0x00      4"),
        "{after}"
    );
    assert!(
        after
            .lines()
            .any(|l| l.starts_with("El Torito boot img :   2  UEFI  y   none")),
        "{after}"
    );
    assert!(
        after.contains("El Torito img opts :   1  boot-info-table"),
        "{after}"
    );
    assert!(
        after.contains("El Torito img path :   2  /EFIBOOT.IMG"),
        "{after}"
    );

    // Same volume id.
    let vid = |p: &Path| {
        tool("isoinfo", &["-d", "-i", p.to_str().unwrap()])
            .lines()
            .find(|l| l.starts_with("Volume id:"))
            .map(str::to_string)
    };
    assert_eq!(vid(src), vid(out));

    // Both boot.cfg files: only the kernelopt line changed, by ks= added.
    for path in ["/BOOT.CFG;1", "/EFI/BOOT/BOOT.CFG;1"] {
        let a = String::from_utf8(iso_file(src, path)).unwrap();
        let b = String::from_utf8(iso_file(out, path)).unwrap();
        let want = a.replace(
            "kernelopt=runweasel cdromBoot\n",
            "kernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG\n",
        );
        assert_ne!(a, want, "fixture {path} lacks the expected kernelopt line");
        assert_eq!(b, want, "{path}");
    }
    let ks = String::from_utf8(iso_file(out, "/KS.CFG;1")).unwrap();
    assert!(ks.contains(ks_marker), "{ks}");

    // Every other file is byte-identical, as an independent reader sees it.
    let (a, b) = (work.join("src-tree"), work.join("out-tree"));
    extract_all(src, &a);
    extract_all(out, &b);
    let (fa, fb) = (files_under(&a), files_under(&b));
    let mut expected = fa.clone();
    expected.push(PathBuf::from(if fb.contains(&PathBuf::from("KS.CFG")) {
        "KS.CFG"
    } else {
        "ks.cfg"
    }));
    expected.sort();
    assert_eq!(fb, expected, "file list");
    for f in &fa {
        let name = f.to_string_lossy().to_ascii_uppercase();
        if name == "BOOT.CFG" || name == "EFI/BOOT/BOOT.CFG" {
            continue;
        }
        assert!(
            fs::read(a.join(f)).unwrap() == fs::read(b.join(f)).unwrap(),
            "{} differs",
            f.display()
        );
    }
}

#[test]
fn build_plain_fixture_keeps_everything_but_the_edits() {
    if !ready() {
        return;
    }
    let work = work_dir("build-plain");
    let out = build(work.path(), &fixtures().plain, "out.iso", &[]);
    check_output(&fixtures().plain, &out, work.path(), "vmaccepteula");
}

#[test]
fn build_rock_ridge_joliet_fixture_stays_consistent() {
    if !ready() {
        return;
    }
    let work = work_dir("build-rrj");
    let out = build(work.path(), &fixtures().rrj, "out.iso", &[]);
    check_output(&fixtures().rrj, &out, work.path(), "vmaccepteula");
    let o = out.to_str().unwrap();
    // The kickstart is reachable in all three trees, with its uppercase name.
    let rr = tool("isoinfo", &["-R", "-l", "-i", o]);
    assert!(
        rr.lines().any(|l| l.ends_with(" KS.CFG ")),
        "Rock Ridge listing:\n{rr}"
    );
    let joliet = tool("isoinfo", &["-J", "-l", "-i", o]);
    assert!(
        joliet.lines().any(|l| l.ends_with(" KS.CFG ")),
        "Joliet listing:\n{joliet}"
    );
    let plain = tool("isoinfo", &["-l", "-i", o]);
    assert!(
        plain.lines().any(|l| l.ends_with(" KS.CFG;1 ")),
        "ISO9660 listing:\n{plain}"
    );
    let j = tool_bytes("isoinfo", &["-J", "-i", o, "-x", "/KS.CFG"]);
    assert_eq!(j, iso_file(&out, "/KS.CFG;1"));
    // xorriso (libisofs) reads the Rock Ridge tree without complaint.
    let ls = tool("xorriso", &["-indev", o, "-lsl", "/"]);
    assert!(ls.contains("'KS.CFG'"), "{ls}");
}

/// The `rootpw --iscrypted` hash of an output's /KS.CFG.
fn rootpw_hash(iso: &Path) -> String {
    let ks = String::from_utf8(iso_file(iso, "/KS.CFG;1")).unwrap();
    let line = ks.lines().find(|l| l.starts_with("rootpw ")).unwrap();
    line.strip_prefix("rootpw --iscrypted ")
        .expect(line)
        .to_string()
}

fn salt_of(hash: &str) -> &str {
    hash.split('$').nth(2).unwrap()
}

fn build_with_env(dir: &Path, out: &str, env: &[(&str, &str)]) -> PathBuf {
    let args = [
        "build",
        fixtures().plain.to_str().unwrap(),
        "-o",
        out,
        "-q",
        "--set",
        "hostname=esx01",
    ];
    run_in(dir, &args, env).ok();
    dir.join(out)
}

#[test]
fn build_is_deterministic_and_checksummed() {
    if !ready() {
        return;
    }
    let work = work_dir("build-det");
    // SOURCE_DATE_EPOCH: byte-identical outputs, new records dated by it.
    let epoch = ("SOURCE_DATE_EPOCH", "1700000000");
    let c = build_with_env(
        work.path(),
        "c.iso",
        &[("ESXI_ISO_ROOT_PASSWORD", PW), epoch],
    );
    let d = build_with_env(
        work.path(),
        "d.iso",
        &[("ESXI_ISO_ROOT_PASSWORD", PW), epoch],
    );
    assert!(
        fs::read(&c).unwrap() == fs::read(&d).unwrap(),
        "two reproducible builds differ"
    );
    let l = tool("isoinfo", &["-l", "-i", c.to_str().unwrap()]);
    assert!(
        l.lines()
            .any(|x| x.contains("Nov 14 2023") && x.contains("KS.CFG;1")),
        "{l}"
    );
    // The .sha256 files verify with coreutils.
    let sums = tool("sha256sum", &[c.to_str().unwrap()]);
    let ours = fs::read_to_string(work.path().join("c.iso.sha256")).unwrap();
    assert_eq!(
        ours.split_whitespace().next(),
        sums.split_whitespace().next()
    );
    let check = std::process::Command::new("sha256sum")
        .args(["-c", "c.iso.sha256", "d.iso.sha256"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    // The reproducible salt comes from non-secret inputs only: another
    // password gets the same salt (and another hash).
    let other_pw = "Other#Secret9";
    let e = build_with_env(
        work.path(),
        "e.iso",
        &[("ESXI_ISO_ROOT_PASSWORD", other_pw), epoch],
    );
    let (hc, he) = (rootpw_hash(&c), rootpw_hash(&e));
    assert_eq!(
        salt_of(&hc),
        salt_of(&he),
        "the salt depends on the password"
    );
    assert_ne!(hc, he);
    let want = tool(
        "openssl",
        &["passwd", "-6", "-salt", salt_of(&he), other_pw],
    );
    assert_eq!(he, want.trim());
    // Without SOURCE_DATE_EPOCH the salt is random: two builds differ in it
    // and in nothing else of the kickstart.
    let a = build_with_env(work.path(), "a.iso", &[("ESXI_ISO_ROOT_PASSWORD", PW)]);
    let b = build_with_env(work.path(), "b.iso", &[("ESXI_ISO_ROOT_PASSWORD", PW)]);
    let (ha, hb) = (rootpw_hash(&a), rootpw_hash(&b));
    assert_ne!(salt_of(&ha), salt_of(&hb), "two random salts are equal");
    for (iso, hash) in [(&a, &ha), (&b, &hb)] {
        let want = tool("openssl", &["passwd", "-6", "-salt", salt_of(hash), PW]);
        assert_eq!(*hash, want.trim());
        let ks = String::from_utf8(iso_file(iso, "/KS.CFG;1")).unwrap();
        let ka = String::from_utf8(iso_file(&a, "/KS.CFG;1")).unwrap();
        assert_eq!(
            ks.replace(hash.as_str(), "HASH"),
            ka.replace(ha.as_str(), "HASH")
        );
    }
}

#[test]
fn build_password_is_stored_only_as_sha512_crypt() {
    if !ready() {
        return;
    }
    let work = work_dir("build-pw");
    let out = build(work.path(), &fixtures().plain, "out.iso", &[]);
    let bytes = fs::read(&out).unwrap();
    assert!(
        !bytes.windows(PW.len()).any(|w| w == PW.as_bytes()),
        "plaintext password on the ISO"
    );
    let hash = rootpw_hash(&out);
    // openssl computes the same crypt for that salt: the hash is genuine.
    let want = tool("openssl", &["passwd", "-6", "-salt", salt_of(&hash), PW]);
    assert_eq!(hash, want.trim());
}

#[test]
fn build_edits_options_and_custom_ks_path() {
    if !ready() {
        return;
    }
    let work = work_dir("build-edit");
    let out = build(
        work.path(),
        &fixtures().plain,
        "out.iso",
        &[
            "--boot-opt",
            "allowLegacyCPU=true",
            "--boot-opt",
            "systemMediaSize=min",
            "--remove-boot-opt",
            "cdromBoot",
            "--ks-path",
            "/KS/LAB01/HOST.CFG",
        ],
    );
    for path in ["/BOOT.CFG;1", "/EFI/BOOT/BOOT.CFG;1"] {
        let text = String::from_utf8(iso_file(&out, path)).unwrap();
        let ko = text.lines().find(|l| l.starts_with("kernelopt=")).unwrap();
        assert_eq!(ko, "kernelopt=runweasel ks=cdrom:/KS/LAB01/HOST.CFG allowLegacyCPU=true systemMediaSize=min", "{path}");
    }
    // The two new directories are in the path table as well.
    let p = tool("isoinfo", &["-p", "-i", out.to_str().unwrap()]);
    assert!(p.contains(" KS\n") && p.contains(" LAB01\n"), "{p}");
    let ks = String::from_utf8(iso_file(&out, "/KS/LAB01/HOST.CFG;1")).unwrap();
    assert!(ks.starts_with("# ESXi Kickstart"), "{ks}");

    // Template variables that are boot options reach both BOOT.CFG files,
    // and allow_legacy_cpu also reaches the installed host's boot.cfg.
    let out = build(
        work.path(),
        &fixtures().plain,
        "vars.iso",
        &[
            "--set",
            "system_media_size=small",
            "--set",
            "allow_legacy_cpu=true",
        ],
    );
    for path in ["/BOOT.CFG;1", "/EFI/BOOT/BOOT.CFG;1"] {
        let text = String::from_utf8(iso_file(&out, path)).unwrap();
        let ko = text.lines().find(|l| l.starts_with("kernelopt=")).unwrap();
        assert_eq!(
            ko,
            "kernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG systemMediaSize=small allowLegacyCPU=true",
            "{path}"
        );
    }
    let ks = String::from_utf8(iso_file(&out, "/KS.CFG;1")).unwrap();
    assert!(
        ks.contains("/bootbank/boot.cfg /altbootbank/boot.cfg"),
        "{ks}"
    );
}

#[test]
fn build_kickstart_verbatim_and_template_files() {
    if !ready() {
        return;
    }
    let work = work_dir("build-ks");
    let w = work.path();
    let verbatim = "vmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted $6$saltsalt$b5.OgiN7s.5aanbDajYEOeqm4.ogSvtwn1qN/LqXCu2MI675qfvHFoZZyor4Ef2MSmkRmH9.sebhExB7wL.88/\nnetwork --bootproto=dhcp\nreboot\n# marker {{ not_rendered }}\n";
    fs::write(w.join("my.ks"), verbatim).unwrap();
    let out = build(w, &fixtures().plain, "v.iso", &["--kickstart", "my.ks"]);
    assert_eq!(iso_file(&out, "/KS.CFG;1"), verbatim.as_bytes());

    let tpl = "vmaccepteula\ninstall {{ install_args }}\nrootpw --iscrypted {{ root_password }}\nnetwork {{ network_args }}\nreboot\n# site={{ site }} host={{ hostname }}\n";
    fs::write(w.join("my.ks.tera"), tpl).unwrap();
    fs::write(
        w.join("vars.toml"),
        "site = \"lab-a\"\nhostname = \"from-file\"\nnameservers = [\"10.0.0.2\"]\n",
    )
    .unwrap();
    let out = build(
        w,
        &fixtures().plain,
        "t.iso",
        &[
            "-k",
            "my.ks.tera",
            "--vars",
            "vars.toml",
            "--set",
            "hostname=esx07",
            "--set",
            "ip=10.0.0.7/24",
        ],
    );
    let ks = String::from_utf8(iso_file(&out, "/KS.CFG;1")).unwrap();
    assert!(ks.contains("# site=lab-a host=esx07\n"), "{ks}");
    assert!(ks.contains("network --bootproto=static --ip=10.0.0.7 --netmask=255.255.255.0 --nameserver=10.0.0.2 --hostname=esx07\n"), "{ks}");
}

#[test]
fn build_json_summary_and_default_output_name() {
    if !ready() {
        return;
    }
    let work = work_dir("build-json");
    let src = work.path().join("VMware-VMvisor-Installer-8.0U3.iso");
    fs::copy(&fixtures().plain, &src).unwrap();
    let run = run_in(
        work.path(),
        &["build", src.to_str().unwrap(), "--json"],
        &[("ESXI_ISO_ROOT_PASSWORD", PW)],
    )
    .ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let out = work.path().join("VMware-VMvisor-Installer-8.0U3-ks.iso");
    assert_eq!(v["output"], "VMware-VMvisor-Installer-8.0U3-ks.iso");
    assert_eq!(v["size"], fs::metadata(&out).unwrap().len());
    assert_eq!(
        v["sha256"].as_str().unwrap(),
        tool("sha256sum", &[out.to_str().unwrap()])
            .split_whitespace()
            .next()
            .unwrap()
    );
    assert_eq!(v["ks_path"], "/KS.CFG");
    assert_eq!(
        v["kernelopt"]["bios"],
        "runweasel cdromBoot ks=cdrom:/KS.CFG"
    );
    assert_eq!(
        v["kernelopt"]["efi"],
        "runweasel cdromBoot ks=cdrom:/KS.CFG"
    );
}

#[test]
fn build_grows_a_full_root_directory() {
    if !ready() {
        return;
    }
    // Trees whose root directory fills its last sector to varying degrees:
    // some must move the root to fit KS.CFG. Every output must still read
    // the same in xorriso and isoinfo, path tables included.
    let work = work_dir("build-grow");
    let w = work.path();
    let tree = w.join("tree");
    fs::create_dir_all(tree.join("EFI/BOOT")).unwrap();
    let cfg = "kernel=/b.b00\nkernelopt=runweasel cdromBoot\nmodules=/b.b00\n";
    fs::write(tree.join("BOOT.CFG"), cfg).unwrap();
    fs::write(tree.join("EFI/BOOT/BOOT.CFG"), cfg).unwrap();
    fs::copy(
        fixtures().tree.join("ISOLINUX.BIN"),
        tree.join("ISOLINUX.BIN"),
    )
    .unwrap();
    fs::copy(
        fixtures().tree.join("EFIBOOT.IMG"),
        tree.join("EFIBOOT.IMG"),
    )
    .unwrap();
    let mut moved = 0;
    // With these names a root sector holds 37 of the 48-byte records after
    // the first six entries, so 36 files fill it and KS.CFG can't fit.
    for n in 0..40 {
        let name = format!("F{:07}.V00", n);
        fs::write(tree.join(&name), name.as_bytes()).unwrap();
        if n < 33 {
            continue;
        }
        let src = w.join(format!("src{n}.iso"));
        tool(
            "genisoimage",
            &[
                "-quiet",
                "-o",
                src.to_str().unwrap(),
                "-b",
                "ISOLINUX.BIN",
                "-c",
                "BOOT.CAT",
                "-no-emul-boot",
                "-boot-load-size",
                "4",
                "-eltorito-alt-boot",
                "-e",
                "EFIBOOT.IMG",
                "-no-emul-boot",
                tree.to_str().unwrap(),
            ],
        );
        let out = build(w, &src, &format!("out{n}.iso"), &["--no-lint"]);
        let root_extent = |p: &Path| {
            tool("isoinfo", &["-l", "-i", p.to_str().unwrap()])
                .lines()
                .nth(2)
                .unwrap_or_default()
                .to_string()
        };
        if root_extent(&src).split('[').nth(1) != root_extent(&out).split('[').nth(1) {
            moved += 1;
        }
        // The path table, the root's `.`, and its children's `..` agree.
        let o = out.to_str().unwrap();
        let p = tool("isoinfo", &["-p", "-i", o]);
        let pt_root = u32::from_str_radix(
            p.lines().nth(1).unwrap().split_whitespace().nth(2).unwrap(),
            16,
        )
        .unwrap();
        let l = tool("isoinfo", &["-l", "-i", o]);
        let extents: Vec<(String, u32)> = l
            .lines()
            .filter(|x| x.contains('['))
            .map(|x| {
                let ext = x
                    .split('[')
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                (x.split(']').nth(1).unwrap().trim().to_string(), ext)
            })
            .collect();
        let root_dot = extents[0].1;
        assert_eq!(pt_root, root_dot, "n={n}: path table root vs `.`\n{p}\n{l}");
        let efi_parent = l
            .split("Directory listing of /EFI/")
            .nth(1)
            .unwrap()
            .lines()
            .nth(2)
            .unwrap();
        assert!(
            efi_parent.contains(&format!("[ {root_dot:>6} 02]  .. ")),
            "n={n}: /EFI/.. is {efi_parent}"
        );
        let listing = tool(
            "xorriso",
            &[
                "-indev",
                o,
                "-find",
                "/",
                "-name",
                "KS.CFG",
                "-exec",
                "report_lba",
                "--",
            ],
        );
        assert!(listing.contains("/KS.CFG"), "n={n}: {listing}");
        let ks = iso_file(&out, "/KS.CFG;1");
        assert!(String::from_utf8_lossy(&ks).contains("vmaccepteula"));
        let names = tool("isoinfo", &["-f", "-i", out.to_str().unwrap()]);
        assert_eq!(
            names.lines().filter(|l| l.starts_with("/F")).count(),
            n + 1,
            "n={n}"
        );
    }
    assert!(
        moved > 0,
        "no case moved the root directory: the test does not cover relocation"
    );
}

#[test]
fn inspect_reports_boot_setup_and_kickstart() {
    if !ready() {
        return;
    }
    let work = work_dir("inspect");
    let src = fixtures().plain.to_str().unwrap().to_string();
    let before = run_in(work.path(), &["inspect", &src], &[]).ok().stdout();
    assert!(
        before.contains("volume id   ESXI-8.0U3-24022510-STANDARD"),
        "{before}"
    );
    assert!(
        before.contains("release     ESXi 8.0.3 (from build=8.0.3-0.0.24022510)")
            && before.contains("build       8.0.3-0.0.24022510"),
        "{before}"
    );
    assert!(
        before.contains("boot        BIOS /ISOLINUX.BIN")
            && before.contains("boot-info-table valid"),
        "{before}"
    );
    assert!(before.contains("boot        UEFI /EFIBOOT.IMG"), "{before}");
    assert!(before.contains("modules     85"), "{before}");
    assert!(before.contains("kickstart   none"), "{before}");
    let out = build(work.path(), &fixtures().plain, "out.iso", &[]);
    let j = run_in(
        work.path(),
        &["inspect", out.to_str().unwrap(), "--json"],
        &[],
    )
    .ok()
    .stdout();
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(v["kickstart"]["location"], "cdrom:/KS.CFG");
    assert_eq!(v["version"]["product"], "ESXi");
    assert_eq!(v["version"]["release"], "8.0.3");
    assert_eq!(v["kickstart"]["present"], true);
    assert_eq!(
        v["kickstart"]["size"].as_u64().unwrap() as usize,
        iso_file(&out, "/KS.CFG;1").len()
    );
    assert_eq!(v["boot"][0]["boot_info_table_valid"], true);
    assert_eq!(v["boot"][1]["platform"], "UEFI");
    assert_eq!(
        v["kernelopt"]["efi"],
        "runweasel cdromBoot ks=cdrom:/KS.CFG"
    );
}

/// Asserts a failing build left no output and no temporary behind.
fn fails_cleanly(dir: &Path, code: i32, args: &[&str], env: &[(&str, &str)], want: &str) {
    let before = listing(dir);
    run_in(dir, args, env).fails_with(code, want);
    assert_eq!(listing(dir), before, "a failed build left files behind");
}

#[test]
fn build_bad_inputs_fail_cleanly() {
    if !ready() {
        return;
    }
    let work = work_dir("build-errors");
    let w = work.path();
    let pw = [("ESXI_ISO_ROOT_PASSWORD", PW)];
    let plain = fixtures().plain.to_str().unwrap().to_string();

    fs::write(w.join("random.iso"), vec![7u8; 100_000]).unwrap();
    fs::write(w.join("empty.iso"), b"").unwrap();
    let full = fs::read(&fixtures().plain).unwrap();
    fs::write(w.join("truncated.iso"), &full[..full.len() / 2]).unwrap();
    // A directory record pointing past the end of the file: the root
    // record in the PVD gets an extent far away.
    let mut bad = full.clone();
    let root = 16 * 2048 + 156;
    bad[root + 2..root + 6].copy_from_slice(&0x00ff_0000u32.to_le_bytes());
    bad[root + 6..root + 10].copy_from_slice(&0x00ff_0000u32.to_be_bytes());
    fs::write(w.join("badrecord.iso"), &bad).unwrap();
    // Valid ISOs that aren't ESXi installers.
    let t = w.join("t");
    fs::create_dir_all(&t).unwrap();
    fs::write(t.join("README.TXT"), "hello").unwrap();
    tool(
        "genisoimage",
        &[
            "-quiet",
            "-o",
            w.join("data.iso").to_str().unwrap(),
            t.to_str().unwrap(),
        ],
    );
    fs::copy(fixtures().tree.join("ISOLINUX.BIN"), t.join("ISOLINUX.BIN")).unwrap();
    tool(
        "genisoimage",
        &[
            "-quiet",
            "-o",
            w.join("other.iso").to_str().unwrap(),
            "-b",
            "ISOLINUX.BIN",
            "-no-emul-boot",
            t.to_str().unwrap(),
        ],
    );
    fs::remove_dir_all(&t).unwrap();
    let src_hash = tool("sha256sum", &[&plain]);

    let cases: &[(i32, &[&str], &str)] = &[
        (
            3,
            &["build", "random.iso", "-o", "o.iso"],
            "not an ISO9660 image: no ISO9660 volume descriptor (CD001) at LBA 16",
        ),
        (
            3,
            &["build", "empty.iso", "-o", "o.iso"],
            "not an ISO9660 image: the file is empty",
        ),
        (
            3,
            &["build", "truncated.iso", "-o", "o.iso"],
            "the file is truncated",
        ),
        (
            3,
            &["build", "badrecord.iso", "-o", "o.iso"],
            "runs past the end of the file",
        ),
        (
            3,
            &["build", "data.iso", "-o", "o.iso"],
            "not an ESXi installer ISO: it has no El Torito boot catalog",
        ),
        (
            3,
            &["build", "other.iso", "-o", "o.iso"],
            "not an ESXi installer ISO: /BOOT.CFG is missing",
        ),
        (
            3,
            &["build", "missing.iso", "-o", "o.iso"],
            "reading missing.iso: opening the image: No such file or directory",
        ),
        (
            3,
            &["build", &plain, "-o", "o.iso", "-k", "nope.ks"],
            "reading kickstart nope.ks",
        ),
        (
            2,
            &["build", &plain, "-o", "o.iso", "--ks-path", "/ks.cfg"],
            "invalid --ks-path: /ks.cfg: file name \"ks.cfg\" is not an uppercase 8.3",
        ),
        (
            2,
            &[
                "build",
                &plain,
                "-o",
                "o.iso",
                "--ks-path",
                "/EFI/BOOT/BOOT.CFG",
            ],
            "would overwrite a boot.cfg",
        ),
        (
            2,
            &["build", &plain, "-o", "o.iso", "--boot-opt", "a b"],
            "invalid --boot-opt",
        ),
        (
            2,
            &[
                "build",
                &plain,
                "-o",
                "o.iso",
                "--remove-boot-opt",
                "runweasel",
            ],
            "--remove-boot-opt runweasel would stop the installer from starting",
        ),
        (
            2,
            &["build", &plain, "-o", "o.iso", "--set", "hostname=bad_name"],
            "hostname: \"bad_name\" is not a valid RFC 1123 host name",
        ),
        (
            2,
            &[
                "build",
                &plain,
                "-o",
                "o.iso",
                "--set",
                "hostname=a\nreboot",
            ],
            "contains a newline or control character",
        ),
        (
            2,
            &["build", &plain, "-o", &plain, "--force"],
            "is the source ISO itself",
        ),
    ];
    for (code, args, want) in cases {
        fails_cleanly(w, *code, args, &pw, want);
    }
    // No password at all: says how to give one.
    fails_cleanly(w, 2, &["build", &plain, "-o", "o.iso"], &[], "no root password for template nested-lab: pass --set root_password=... or set ESXI_ISO_ROOT_PASSWORD");
    // An undefined template variable.
    fs::write(w.join("u.ks.tera"), "vmaccepteula {{ undefined_thing }}\n").unwrap();
    fails_cleanly(
        w,
        2,
        &["build", &plain, "-o", "o.iso", "-k", "u.ks.tera"],
        &pw,
        "undefined_thing",
    );
    // An existing output is kept without --force.
    fs::write(w.join("o.iso"), b"previous").unwrap();
    fails_cleanly(
        w,
        4,
        &["build", &plain, "-o", "o.iso"],
        &pw,
        "o.iso already exists: pass --force to overwrite it",
    );
    assert_eq!(fs::read(w.join("o.iso")).unwrap(), b"previous");
    // Same file through a symlink and a hard link.
    std::os::unix::fs::symlink(&plain, w.join("link.iso")).unwrap();
    fails_cleanly(
        w,
        2,
        &["build", &plain, "-o", "link.iso", "--force"],
        &pw,
        "is the source ISO itself",
    );
    assert_eq!(tool("sha256sum", &[&plain]), src_hash, "the source changed");
}

/// An ISO remastered with `xorriso -as mkisofs -J -R` (VMware's documented
/// remaster flags, with xorriso in place of mkisofs, as many people do):
/// xorriso 1.5 writes Joliet `..` records that point at their own
/// directory. Readers don't follow them, so the build goes through, and
/// isoinfo reads the kickstart in every tree.
#[test]
fn build_accepts_a_source_remastered_by_xorriso() {
    if !ready() {
        return;
    }
    let work = work_dir("build-xorriso-src");
    let w = work.path();
    let tree = w.join("tree");
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(&fixtures().tree)
        .arg(&tree)
        .status()
        .unwrap();
    assert!(copy.success());
    let src = w.join("xorriso.iso");
    let mut args = vec![
        "-as",
        "mkisofs",
        "-relaxed-filenames",
        "-J",
        "-R",
        "-V",
        "ESXI-8.0U3-24022510-STANDARD",
        "-o",
        src.to_str().unwrap(),
    ];
    args.extend(fixture::ESXI_BOOT_ARGS);
    args.push(tree.to_str().unwrap());
    tool("xorriso", &args);
    let out = build(w, &src, "out.iso", &[]);
    assert!(out.exists(), "{:?}", listing(w));
    for tree_flag in [&[][..], &["-J"][..], &["-R"][..]] {
        let mut args = vec!["-i", out.to_str().unwrap(), "-x"];
        args.push(if tree_flag.is_empty() {
            "/KS.CFG;1"
        } else {
            "/KS.CFG"
        });
        args.extend_from_slice(tree_flag);
        let ks = String::from_utf8(tool_bytes("isoinfo", &args)).unwrap();
        assert!(ks.contains("vmaccepteula"), "isoinfo {tree_flag:?}: {ks:?}");
    }
    let v = run_in(w, &["verify", "out.iso", "--source", "xorriso.iso"], &[]).ok();
    let text = v.stdout();
    assert!(
        text.lines()
            .any(|l| l.starts_with("warn directories") && l.contains("xorriso")),
        "{text}"
    );
}
