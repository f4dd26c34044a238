//! Overlays end to end: the ramdisk module (checked with GNU tar), ISO
//! files (checked with isoinfo), both modules= lines, refusals, and a BIOS
//! boot through ISOLINUX that prints an overlay file.

mod common;

use std::fs;
use std::path::Path;

use common::cli::{listing, run_in, tool, tool_bytes};
use common::fixture::{self, fixtures, work_dir};
use common::qemu::{self, Firmware};

const PW: &str = "VMware1!lab";
/// A SHA-512 crypt of PW (`openssl passwd -6 -salt overlaysalt`).
const HASH: &str = "$6$overlaysalt$rjAjJKuq4ehr2H/fTPF/LcTyTCbqH236HvieRlRxWx1ZTqICHVqV4K7r.DcAbOlQF5gn/0diIy9q0zL87FzXz.";

fn ready() -> bool {
    fixture::available() && common::tools::require(&["isoinfo", "tar", "xorriso"])
}

fn write(path: &Path, data: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, data).unwrap();
}

fn make_overlay(dir: &Path) {
    write(&dir.join("ramdisk/etc/lab/site.conf"), "site=lab-a\n");
    write(
        &dir.join("ramdisk/authorized_keys"),
        "# lab key\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCDEFG lab@example\n",
    );
    write(&dir.join("ramdisk/bin/hello.sh"), "#!/bin/sh\necho hello\n");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(
        dir.join("ramdisk/bin/hello.sh"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    fs::set_permissions(
        dir.join("ramdisk/etc/lab/site.conf"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    write(&dir.join("iso/NOTE.TXT"), "ESXI-ISO-OVERLAY-NOTE 42\n");
    write(
        &dir.join("iso/LAB/CA.PEM"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
}

fn iso_file(iso: &Path, path: &str) -> Vec<u8> {
    tool_bytes("isoinfo", &["-i", iso.to_str().unwrap(), "-x", path])
}

fn build(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> common::cli::Run {
    let mut all = vec!["build", fixtures().plain.to_str().unwrap(), "-q"];
    all.extend_from_slice(args);
    let mut e = vec![("ESXI_ISO_ROOT_PASSWORD", PW)];
    e.extend_from_slice(env);
    run_in(dir, &all, &e)
}

#[test]
fn overlay_module_and_files_land_as_given() {
    if !ready() {
        return;
    }
    let work = work_dir("overlay");
    let w = work.path();
    make_overlay(&w.join("ov"));
    build(w, &["-o", "a.iso", "--overlay", "ov"], &[]).ok();
    let a = w.join("a.iso");

    // Both modules= lines gained exactly one entry at the end.
    for path in ["/BOOT.CFG;1", "/EFI/BOOT/BOOT.CFG;1"] {
        let src = String::from_utf8(iso_file(&fixtures().plain, path)).unwrap();
        let out = String::from_utf8(iso_file(&a, path)).unwrap();
        let m = |t: &str| {
            t.lines()
                .find(|l| l.starts_with("modules="))
                .unwrap()
                .to_string()
        };
        assert_eq!(m(&out), format!("{} --- /overlay.tgz", m(&src)), "{path}");
        assert_eq!(
            out.lines()
                .filter(|l| !l.starts_with("modules=") && !l.starts_with("kernelopt="))
                .collect::<Vec<_>>(),
            src.lines()
                .filter(|l| !l.starts_with("modules=") && !l.starts_with("kernelopt="))
                .collect::<Vec<_>>()
        );
    }

    // The module, as GNU tar lists it: exactly the overlay files, sorted,
    // root-owned, modes normalised, mtime 0.
    let module = iso_file(&a, "/OVERLAY.TGZ;1");
    fs::write(w.join("m.tgz"), &module).unwrap();
    let list = tool(
        "tar",
        &[
            "--numeric-owner",
            "--full-time",
            "-tvzf",
            w.join("m.tgz").to_str().unwrap(),
        ],
    );
    let rows: Vec<(String, String, String)> = list
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_string(),
                f[1].to_string(),
                format!("{} {} {}", f[3], f[4], f[5]),
            )
        })
        .collect();
    let want = [
        ("-rw-r--r--", "0/0", "1970-01-01 00:00:00 authorized_keys"),
        ("drwxr-xr-x", "0/0", "1970-01-01 00:00:00 bin/"),
        ("-rwxr-xr-x", "0/0", "1970-01-01 00:00:00 bin/hello.sh"),
        ("drwxr-xr-x", "0/0", "1970-01-01 00:00:00 etc/"),
        ("drwxr-xr-x", "0/0", "1970-01-01 00:00:00 etc/lab/"),
        ("-rw-r--r--", "0/0", "1970-01-01 00:00:00 etc/lab/site.conf"),
    ];
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got, want, "{list}");
    tool(
        "tar",
        &[
            "-xzf",
            w.join("m.tgz").to_str().unwrap(),
            "-C",
            w.to_str().unwrap(),
            "etc/lab/site.conf",
        ],
    );
    assert_eq!(
        fs::read_to_string(w.join("etc/lab/site.conf")).unwrap(),
        "site=lab-a\n"
    );

    // ISO files land byte-identical, at their 8.3 paths.
    assert_eq!(
        iso_file(&a, "/NOTE.TXT;1"),
        fs::read(w.join("ov/iso/NOTE.TXT")).unwrap()
    );
    assert_eq!(
        iso_file(&a, "/LAB/CA.PEM;1"),
        fs::read(w.join("ov/iso/LAB/CA.PEM")).unwrap()
    );

    // New directories exist in every tree of a Rock Ridge + Joliet source.
    run_in(
        w,
        &[
            "build",
            fixtures().rrj.to_str().unwrap(),
            "-o",
            "rrj.iso",
            "-q",
            "--overlay",
            "ov",
        ],
        &[("ESXI_ISO_ROOT_PASSWORD", PW)],
    )
    .ok();
    let rrj = w.join("rrj.iso");
    let o = rrj.to_str().unwrap();
    let ca = fs::read(w.join("ov/iso/LAB/CA.PEM")).unwrap();
    assert_eq!(tool_bytes("isoinfo", &["-i", o, "-x", "/LAB/CA.PEM;1"]), ca);
    assert_eq!(
        tool_bytes("isoinfo", &["-R", "-i", o, "-x", "/LAB/CA.PEM"]),
        ca
    );
    assert_eq!(
        tool_bytes("isoinfo", &["-J", "-i", o, "-x", "/LAB/CA.PEM"]),
        ca
    );
    let ls = tool("xorriso", &["-indev", o, "-lsl", "/LAB"]);
    assert!(ls.contains("'CA.PEM'"), "{ls}");

    // The template picked up the overlay's key.
    let ks = String::from_utf8(iso_file(&a, "/KS.CFG;1")).unwrap();
    assert!(ks.contains("echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCDEFG lab@example' >> /etc/ssh/keys-root/authorized_keys"), "{ks}");

    // Deterministic with a pre-hashed password (without SOURCE_DATE_EPOCH a
    // plain one gets a random salt), and with SOURCE_DATE_EPOCH.
    let hashed = [("ESXI_ISO_ROOT_PASSWORD", HASH)];
    build(w, &["-o", "b.iso", "--overlay", "ov"], &hashed).ok();
    build(w, &["-o", "b2.iso", "--overlay", "ov"], &hashed).ok();
    assert!(
        fs::read(w.join("b.iso")).unwrap() == fs::read(w.join("b2.iso")).unwrap(),
        "two overlay builds differ"
    );
    build(
        w,
        &["-o", "c.iso", "--overlay", "ov"],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    )
    .ok();
    build(
        w,
        &["-o", "d.iso", "--overlay", "ov"],
        &[("SOURCE_DATE_EPOCH", "1700000000")],
    )
    .ok();
    assert!(fs::read(w.join("c.iso")).unwrap() == fs::read(w.join("d.iso")).unwrap());
    fs::write(
        w.join("c.tgz"),
        iso_file(&w.join("c.iso"), "/OVERLAY.TGZ;1"),
    )
    .unwrap();
    let list = tool(
        "tar",
        &["--full-time", "-tvzf", w.join("c.tgz").to_str().unwrap()],
    );
    assert!(
        list.lines().all(|l| l.contains("2023-11-14 22:13:20")),
        "{list}"
    );
}

#[test]
fn overlay_ks_in_ramdisk_and_second_module() {
    if !ready() {
        return;
    }
    let work = work_dir("overlay-ram");
    let w = work.path();
    build(w, &["-o", "r.iso", "--ks-in-ramdisk"], &[]).ok();
    let r = w.join("r.iso");
    for path in ["/BOOT.CFG;1", "/EFI/BOOT/BOOT.CFG;1"] {
        let t = String::from_utf8(iso_file(&r, path)).unwrap();
        assert!(
            t.contains("kernelopt=runweasel cdromBoot ks=file:///ks.cfg\n"),
            "{t}"
        );
        assert!(
            t.lines()
                .any(|l| l.starts_with("modules=") && l.ends_with(" --- /overlay.tgz")),
            "{t}"
        );
    }
    let files = tool("isoinfo", &["-f", "-i", r.to_str().unwrap()]);
    assert!(
        !files.contains("/KS.CFG"),
        "the kickstart should be only in the ramdisk:\n{files}"
    );
    fs::write(w.join("r.tgz"), iso_file(&r, "/OVERLAY.TGZ;1")).unwrap();
    let ks = tool(
        "tar",
        &["-xOzf", w.join("r.tgz").to_str().unwrap(), "ks.cfg"],
    );
    assert!(ks.contains("vmaccepteula"), "{ks}");

    // Building again on top of that output gives a numbered second module.
    make_overlay(&w.join("ov"));
    run_in(
        w,
        &[
            "build",
            r.to_str().unwrap(),
            "-o",
            "r2.iso",
            "-q",
            "--overlay",
            "ov",
        ],
        &[("ESXI_ISO_ROOT_PASSWORD", PW)],
    )
    .ok();
    let t = String::from_utf8(iso_file(&w.join("r2.iso"), "/BOOT.CFG;1")).unwrap();
    let modules = t.lines().find(|l| l.starts_with("modules=")).unwrap();
    assert!(
        modules.ends_with(" --- /overlay.tgz --- /overlay2.tgz"),
        "{modules}"
    );
}

#[test]
fn overlay_bad_inputs_are_refused() {
    if !ready() {
        return;
    }
    let work = work_dir("overlay-bad");
    let w = work.path();
    write(&w.join("lower/iso/notes.txt"), "x");
    write(&w.join("long/iso/KICKSTART.CFG"), "x");
    write(&w.join("vendor/iso/BOOT.CFG"), "kernel=/b.b00\n");
    write(&w.join("link/ramdisk/real"), "x");
    std::os::unix::fs::symlink("real", w.join("link/ramdisk/alias")).unwrap();
    write(&w.join("fifo/ramdisk/x"), "x");
    tool("mkfifo", &[w.join("fifo/ramdisk/pipe").to_str().unwrap()]);
    fs::create_dir_all(w.join("empty")).unwrap();
    write(&w.join("dup1/iso/A.TXT"), "1");
    write(&w.join("dup2/iso/A.TXT"), "2");
    let cases: &[(&[&str], &str)] = &[
        (&["--overlay", "lower"], "file name \"notes.txt\" is not an uppercase 8.3 ISO9660 name the ESXi loader can read (try \"NOTES.TXT\")"),
        (&["--overlay", "long"], "(try \"KICKSTAR.CFG\")"),
        (&["--overlay", "vendor"], "would replace /BOOT.CFG from the source ISO: pass --replace-vendor-files"),
        (&["--overlay", "link"], "is a symbolic link"),
        (&["--overlay", "fifo"], "is a device, FIFO or socket"),
        (&["--overlay", "empty"], "has neither an iso/ nor a ramdisk/ folder"),
        (&["--overlay", "nonexistent"], "no such directory, and not a shipped overlay (shipped: ssh-keys)"),
        (&["--overlay", "dup1", "--overlay", "dup2"], "both provide A.TXT"),
    ];
    for (args, want) in cases {
        let before = listing(w);
        let mut a = vec!["-o", "out.iso"];
        a.extend_from_slice(args);
        build(w, &a, &[]).fails_with(2, want);
        assert_eq!(listing(w), before, "{args:?} left files behind");
    }
}

#[test]
fn overlay_shipped_ssh_keys_by_name() {
    if !ready() {
        return;
    }
    let work = work_dir("overlay-shipped");
    build(work.path(), &["-o", "s.iso", "--overlay", "ssh-keys"], &[]).ok();
    let s = work.path().join("s.iso");
    fs::write(work.path().join("s.tgz"), iso_file(&s, "/OVERLAY.TGZ;1")).unwrap();
    let list = tool(
        "tar",
        &["-tzf", work.path().join("s.tgz").to_str().unwrap()],
    );
    assert_eq!(list, "authorized_keys\n");
}

/// Replaces the fixture's ISOLINUX config (a vendor file, so with
/// --replace-vendor-files) by one that also prints an overlay file; real
/// SeaBIOS + ISOLINUX must find both on the built ISO.
#[test]
fn boot_overlay_file_printed_by_isolinux() {
    if !ready() || !common::tools::require(Firmware::Bios.tools()) {
        return;
    }
    let work = work_dir("boot-overlay");
    let w = work.path();
    write(&w.join("ov/iso/NOTE.TXT"), "ESXI-ISO-OVERLAY-NOTE 42\n");
    write(&w.join("ov/ramdisk/etc/lab.conf"), "x=1\n");
    let cfg = fs::read_to_string(fixtures().tree.join("isolinux.cfg")).unwrap();
    let cfg = cfg.replace(
        "APPEND /isolinux.cfg /BOOT.CFG /KS.CFG",
        "APPEND /isolinux.cfg /NOTE.TXT /BOOT.CFG /KS.CFG",
    );
    assert!(
        cfg.contains("/NOTE.TXT"),
        "fixture config changed shape:\n{cfg}"
    );
    write(&w.join("ov/iso/ISOLINUX.CFG"), &cfg);
    for (variant, src) in [("plain", &fixtures().plain), ("rrj", &fixtures().rrj)] {
        let out = format!("{variant}.iso");
        run_in(
            w,
            &[
                "build",
                src.to_str().unwrap(),
                "-o",
                &out,
                "-q",
                "--overlay",
                "ov",
                "--replace-vendor-files",
            ],
            &[("ESXI_ISO_ROOT_PASSWORD", PW)],
        )
        .ok();
        let log = qemu::boot(
            &w.join(&out),
            Firmware::Bios,
            &["ESXI-ISO-OVERLAY-NOTE 42", "vmaccepteula"],
            qemu::DEFAULT_TIMEOUT,
        );
        log.assert_passed();
        log.assert_line("ESXI-ISO-OVERLAY-NOTE 42");
        log.assert_contains("--- /overlay.tgz");
    }
}

/// The inventory's `overlays` key: defaults for every host, plus a host's
/// own; `--overlay` on the command line applies to all.
#[test]
fn overlay_per_host_from_inventory() {
    if !ready() {
        return;
    }
    let work = work_dir("overlay-inv");
    let w = work.path();
    write(&w.join("lab/shared/ramdisk/shared.txt"), "shared\n");
    write(&w.join("lab/extra/ramdisk/extra.txt"), "extra\n");
    write(&w.join("cli/iso/CLI.TXT"), "cli\n");
    write(
        &w.join("lab/lab.toml"),
        "[defaults]\noverlays = ['shared']\ngateway = '10.0.0.1'\n\
         [[host]]\nhostname = 'esx01'\nip = '10.0.0.11/24'\n\
         [[host]]\nhostname = 'esx02'\nip = '10.0.0.12/24'\noverlays = ['shared', 'extra']\n",
    );
    let src = fixtures().plain.to_str().unwrap().to_string();
    run_in(
        w,
        &[
            "build",
            &src,
            "--inventory",
            "lab/lab.toml",
            "--out-dir",
            "out",
            "--overlay",
            "cli",
            "-q",
        ],
        &[("ESXI_ISO_ROOT_PASSWORD", PW)],
    )
    .ok();
    for (host, want) in [
        ("esx01", "shared.txt\n"),
        ("esx02", "extra.txt\nshared.txt\n"),
    ] {
        let iso = w.join(format!("out/{host}.iso"));
        let tgz = w.join(format!("{host}.tgz"));
        fs::write(&tgz, iso_file(&iso, "/OVERLAY.TGZ;1")).unwrap();
        assert_eq!(
            tool("tar", &["-tzf", tgz.to_str().unwrap()]),
            want,
            "{host}"
        );
        assert_eq!(iso_file(&iso, "/CLI.TXT;1"), b"cli\n", "{host}");
    }
}
