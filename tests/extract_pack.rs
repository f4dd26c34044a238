//! `esxi-iso extract` and `pack` (and `build DIR`), judged by independent
//! readers: xorriso (tree, El Torito report, extraction), isoinfo (plain,
//! Rock Ridge and Joliet listings), bsdtar and 7z listings, QEMU boots of
//! the packed image (ISOLINUX on BIOS, GRUB on UEFI), and a structural
//! check of the boot-info-table against xorriso's idea of the file.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::fixture::{self, work_dir};
use common::oracle::*;
use common::qemu::Firmware;
use common::tools;
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_esxi-iso");
const KS_MARKER: &str = "# ESXI-ISO-KS-MARKER 9b4e2d11";

fn can_read() -> bool {
    fixture::available() && tools::require(&["xorriso", "isoinfo"])
}

fn show(cmd: &Command, out: &Output, dir: &Path) -> String {
    format!(
        "{cmd:?} ({})\n--- stdout\n{}\n--- stderr\n{}\n--- work dir {}\n{:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        dir.display(),
        fs::read_dir(dir).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    )
}

/// Runs esxi-iso; returns its output; panics (with everything) unless the
/// exit status is as expected.
fn esxi_iso(args: &[&std::ffi::OsStr], work: &Path, ok: bool, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(work)
        .env_remove("SOURCE_DATE_EPOCH");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("running esxi-iso");
    assert_eq!(out.status.success(), ok, "{}", show(&cmd, &out, work));
    out
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

fn extract(iso: &Path, dir: &Path, work: &Path) {
    esxi_iso(
        &[os("extract"), iso.as_os_str(), dir.as_os_str(), os("-q")],
        work,
        true,
        &[],
    );
}

fn pack(dir: &Path, out: &Path, work: &Path, extra: &[&str]) -> Output {
    let mut args = vec![os("pack"), dir.as_os_str(), os("-o"), out.as_os_str()];
    args.extend(extra.iter().map(|s| os(s)));
    esxi_iso(&args, work, true, &[])
}

fn run(tool: &str, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// xorriso's extraction of an image (Rock Ridge names when present).
fn xorriso_extract(iso: &Path, dest: &Path) {
    run(
        "xorriso",
        &[
            os("-osirrox"),
            os("on"),
            os("-indev"),
            iso.as_os_str(),
            os("-extract"),
            os("/"),
            dest.as_os_str(),
        ],
    );
    run("chmod", &[os("-R"), os("u+w"), dest.as_os_str()]);
}

/// Every regular file under `dir`: relative path -> bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            assert!(!ft.is_symlink(), "symlink {}", p.display());
            if ft.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                out.insert(rel, fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The El Torito report of xorriso without LBAs and the catalog sector.
fn el_torito(iso: &Path) -> Vec<String> {
    let text = run(
        "xorriso",
        &[
            os("-indev"),
            iso.as_os_str(),
            os("-report_el_torito"),
            os("plain"),
        ],
    );
    text.lines()
        .filter(|l| l.starts_with("El Torito"))
        .filter(|l| !l.starts_with("El Torito catalog  :"))
        .map(|l| {
            if l.starts_with("El Torito boot img :") {
                // Drop the trailing LBA column.
                let mut w: Vec<&str> = l.split_whitespace().collect();
                w.pop();
                w.join(" ")
            } else {
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            }
        })
        .collect()
}

/// Files of the packed image equal the source image's, except the two
/// that carry LBAs: the catalog and the BIOS image's table (bytes 8..64).
fn assert_same_files(packed: &BTreeMap<String, Vec<u8>>, src: &BTreeMap<String, Vec<u8>>) {
    assert_eq!(
        packed.keys().collect::<Vec<_>>(),
        src.keys().collect::<Vec<_>>(),
        "same file names"
    );
    for (name, want) in src {
        let got = &packed[name];
        match name.to_ascii_uppercase().as_str() {
            "BOOT.CAT" => assert_eq!(got.len(), want.len(), "{name}"),
            "ISOLINUX.BIN" => {
                assert_eq!(got.len(), want.len(), "{name}");
                assert_eq!(got[..8], want[..8], "{name}");
                assert_eq!(got[64..], want[64..], "{name}");
            }
            _ => assert!(got == want, "{name} differs"),
        }
    }
}

fn round_trip(v: Variant) -> (tempfile::TempDir, PathBuf) {
    let work = work_dir(&format!("pack-{v:?}"));
    let dir = work.path().join("tree");
    let out = work.path().join("out.iso");
    extract(&source(v), &dir, work.path());
    pack(&dir, &out, work.path(), &["-q"]);
    (work, out)
}

#[test]
fn extract_plain_gives_the_images_files() {
    if !can_read() {
        return;
    }
    let work = work_dir("extract-plain");
    let dir = work.path().join("tree");
    extract(&source(Variant::Plain), &dir, work.path());
    let theirs = work.path().join("xorriso");
    xorriso_extract(&source(Variant::Plain), &theirs);
    let mut ours = files(&dir);
    let record = ours.remove(".esxi-iso.toml").expect("the extract record");
    assert_eq!(
        ours,
        files(&theirs),
        "extract equals xorriso's extraction byte for byte"
    );
    // The fixture's own tree, by loader (uppercase) names: every payload.
    let tree = files(&fixture::fixtures().tree);
    for (name, bytes) in &tree {
        let got = &ours[&name.to_ascii_uppercase()];
        if name == "ISOLINUX.BIN" {
            assert_eq!(got[64..], bytes[64..]);
        } else {
            assert!(got == bytes, "{name}");
        }
    }
    let record = String::from_utf8(record).unwrap();
    for want in [
        "volume_id = \"ESXI-8.0U3-24022510-STANDARD\"",
        "rock_ridge = false",
        "joliet = false",
        "catalog = \"/BOOT.CAT\"",
        "platform = \"bios\"\nimage = \"/ISOLINUX.BIN\"\nload_size = 4\nboot_info_table = true\nno_emulation = true",
        "platform = \"uefi\"\nimage = \"/EFIBOOT.IMG\"\nload_size = 2008\nboot_info_table = false\nno_emulation = true",
    ] {
        assert!(record.contains(want), "record lacks {want:?}:\n{record}");
    }
}

#[test]
fn pack_plain_round_trip() {
    if !can_read() {
        return;
    }
    let (work, out) = round_trip(Variant::Plain);
    let src = source(Variant::Plain);
    // Files, via xorriso on both images.
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    xorriso_extract(&out, &a);
    xorriso_extract(&src, &b);
    assert_same_files(&files(&a), &files(&b));
    // El Torito: same entries (platform, emulation, load size, paths, options).
    assert_eq!(el_torito(&out), el_torito(&src));
    check_boot_info_table(&out);
    // Plain ISO9660 as VMware ships it: uppercase 8.3 with ;1, nothing else.
    let d = run("isoinfo", &[os("-d"), os("-i"), out.as_os_str()]);
    assert!(d.contains("Volume id: ESXI-8.0U3-24022510-STANDARD"), "{d}");
    assert!(
        d.contains("NO Joliet present") && d.contains("NO Rock Ridge present"),
        "{d}"
    );
    let l = run("isoinfo", &[os("-l"), os("-i"), out.as_os_str()]);
    for name in [
        "ISOLINUX.BIN;1",
        "ISOLINUX.CFG;1",
        "EFIBOOT.IMG;1",
        "BOOT.CAT;1",
        "B.B00;1",
    ] {
        assert!(l.contains(name), "isoinfo -l lacks {name}:\n{l}");
    }
    // Every file one contiguous extent: xorriso reports one data extent
    // per file (the catalog aside), as many as for the source.
    let extents = |iso: &Path| -> Vec<String> {
        let t = run(
            "xorriso",
            &[
                os("-indev"),
                iso.as_os_str(),
                os("-find"),
                os("/"),
                os("-type"),
                os("f"),
                os("-exec"),
                os("report_lba"),
                os("--"),
            ],
        );
        let mut v: Vec<String> = t
            .lines()
            .filter(|l| l.starts_with("File data lba:"))
            .map(str::to_string)
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let (ours, theirs) = (extents(&out), extents(&src));
    assert_eq!(ours.len(), theirs.len(), "{ours:#?}\n{theirs:#?}");
    assert_eq!(ours.len(), files(&a).len() - 1, "all but BOOT.CAT");
    assert!(
        ours.iter()
            .all(|l| l["File data lba:".len()..].trim_start().starts_with("0 ,")),
        "single extents:\n{ours:#?}"
    );
    // Other readers list it.
    if tools::have("bsdtar") {
        let t = run("bsdtar", &[os("tf"), out.as_os_str()]);
        assert!(
            t.lines()
                .any(|l| l.trim_end_matches('/') == "EFI/BOOT/BOOTX64.EFI"),
            "{t}"
        );
    }
    if tools::have("7z") {
        let t = run("7z", &[os("l"), out.as_os_str()]);
        assert!(t.contains("EFIBOOT.IMG"), "{t}");
    }
}

#[test]
fn pack_rrj_round_trip() {
    if !can_read() {
        return;
    }
    let (work, out) = round_trip(Variant::Rrj);
    let src = source(Variant::Rrj);
    let (a, b) = (work.path().join("a"), work.path().join("b"));
    xorriso_extract(&out, &a);
    xorriso_extract(&src, &b);
    assert_same_files(&files(&a), &files(&b));
    // --plain drops the recorded trees, and then the lowercase names fail.
    let tree = work.path().join("tree");
    let plain = work.path().join("plain.iso");
    let res = esxi_iso(
        &[
            os("pack"),
            tree.as_os_str(),
            os("-o"),
            plain.as_os_str(),
            os("--plain"),
        ],
        work.path(),
        false,
        &[],
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains("/isolinux.cfg") && err.contains("\"ISOLINUX.CFG\""),
        "{err}"
    );
    // An earlier output inside the tree is not packed into the next one.
    let inside = tree.join("out.iso");
    for _ in 0..2 {
        pack(&tree, &inside, work.path(), &["-q", "--force"]);
    }
    assert!(!run("isoinfo", &[os("-l"), os("-i"), inside.as_os_str()]).contains("OUT.ISO"));
    assert!(
        files(&a).contains_key("isolinux.cfg"),
        "Rock Ridge keeps lowercase names"
    );
    assert_eq!(el_torito(&out), el_torito(&src));
    check_boot_info_table(&out);
    let d = run("isoinfo", &[os("-d"), os("-i"), out.as_os_str()]);
    assert!(d.contains("Joliet with UCS level 3 found"), "{d}");
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
    // Primary names stay uppercase 8.3; Rock Ridge and Joliet keep case.
    let l = run("isoinfo", &[os("-l"), os("-i"), out.as_os_str()]);
    assert!(
        l.contains("ISOLINUX.CFG;1") && !l.contains("isolinux.cfg"),
        "{l}"
    );
    let r = run("isoinfo", &[os("-R"), os("-l"), os("-i"), out.as_os_str()]);
    assert!(
        r.contains(" isolinux.cfg") && r.contains(" BOOT.CFG"),
        "{r}"
    );
    let j = run("isoinfo", &[os("-J"), os("-l"), os("-i"), out.as_os_str()]);
    assert!(
        j.contains("isolinux.cfg") && j.contains("BOOTX64.EFI"),
        "{j}"
    );
    // Same names in each tree as the genisoimage-made source.
    let names = |flag: &str, iso: &Path| -> Vec<String> {
        let t = run("isoinfo", &[os(flag), os("-f"), os("-i"), iso.as_os_str()]);
        let mut v: Vec<String> = t.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    assert_eq!(names("-R", &out), names("-R", &src));
    assert_eq!(names("-J", &out), names("-J", &src));
}

#[test]
fn pack_is_deterministic() {
    if !can_read() {
        return;
    }
    let work = work_dir("pack-determinism");
    let dir = work.path().join("tree");
    extract(&source(Variant::Rrj), &dir, work.path());
    let mut digests = Vec::new();
    for (i, env) in [
        &[][..],
        &[][..],
        &[("SOURCE_DATE_EPOCH", "1700000000")][..],
        &[("SOURCE_DATE_EPOCH", "1700000000")][..],
    ]
    .iter()
    .enumerate()
    {
        let out = work.path().join(format!("out{i}.iso"));
        esxi_iso(
            &[
                os("pack"),
                dir.as_os_str(),
                os("-o"),
                out.as_os_str(),
                os("-q"),
            ],
            work.path(),
            true,
            env,
        );
        let bytes = fs::read(&out).unwrap();
        let hex: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let side = fs::read_to_string(work.path().join(format!("out{i}.iso.sha256"))).unwrap();
        assert_eq!(
            side,
            format!("{hex}  out{i}.iso\n"),
            ".sha256 matches the bytes"
        );
        digests.push(hex);
    }
    assert_eq!(
        digests[0], digests[1],
        "two packs without SOURCE_DATE_EPOCH"
    );
    assert_eq!(digests[2], digests[3], "two packs with SOURCE_DATE_EPOCH");
    assert_ne!(
        digests[0], digests[2],
        "SOURCE_DATE_EPOCH changes the dates"
    );
    let d = run(
        "isoinfo",
        &[os("-d"), os("-i"), work.path().join("out2.iso").as_os_str()],
    );
    assert!(d.contains("Volume id: ESXI-8.0U3-24022510-STANDARD"), "{d}");
    let l = run(
        "isoinfo",
        &[os("-l"), os("-i"), work.path().join("out2.iso").as_os_str()],
    );
    assert!(
        l.contains("Nov 14 2023"),
        "dates from SOURCE_DATE_EPOCH:\n{l}"
    );
    let l = run(
        "isoinfo",
        &[os("-l"), os("-i"), work.path().join("out0.iso").as_os_str()],
    );
    assert!(l.contains("Jan  1 1980"), "default dates:\n{l}");
}

// --- refusals ---------------------------------------------------------

/// A Rock Ridge image (genisoimage -R) of `names` (file name -> text),
/// with `patch` applied to its bytes (from, to: same length).
fn crafted(work: &Path, names: &[&str], symlink: bool, patch: &[(&[u8], &[u8])]) -> PathBuf {
    let tree = work.join("craft");
    fs::create_dir_all(&tree).unwrap();
    for n in names {
        fs::write(tree.join(n), format!("data of {n}\n")).unwrap();
    }
    if symlink {
        std::os::unix::fs::symlink("/etc/passwd", tree.join("link")).unwrap();
    }
    let iso = work.join("crafted.iso");
    run(
        "genisoimage",
        &[
            os("-quiet"),
            os("-R"),
            os("-o"),
            iso.as_os_str(),
            tree.as_os_str(),
        ],
    );
    let mut bytes = fs::read(&iso).unwrap();
    for (from, to) in patch {
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|w| w == *from)
            .unwrap_or_else(|| panic!("{from:?} not in the crafted image"));
        bytes[at..at + to.len()].copy_from_slice(to);
    }
    fs::write(&iso, bytes).unwrap();
    iso
}

fn assert_extract_refused(iso: &Path, work: &Path, want: &str) {
    let dest = work.join("out");
    let out = esxi_iso(
        &[os("extract"), iso.as_os_str(), dest.as_os_str()],
        work,
        false,
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(want), "stderr lacks {want:?}: {err}");
    assert!(
        !dest.exists(),
        "nothing is written when an entry is refused"
    );
}

#[test]
fn extract_refuses_escaping_names() {
    if !(fixture::available() && tools::require(&["genisoimage"])) {
        return;
    }
    for (label, from, to, want) in [
        (
            "dotdot",
            &b"NM\x07\x01\x00zz"[..],
            &b"NM\x07\x01\x00.."[..],
            "\"..\"",
        ),
        ("slash", b"NM\x07\x01\x00zz", b"NM\x07\x01\x00z/", "\"z/\""),
        (
            "absolute",
            b"NM\x07\x01\x00zz",
            b"NM\x07\x01\x00/z",
            "\"/z\"",
        ),
        ("nul", b"NM\x07\x01\x00zz", b"NM\x07\x01\x00z\0", "\"z\\0\""),
    ] {
        let work = work_dir(&format!("extract-escape-{label}"));
        let iso = crafted(work.path(), &["aa", "zz"], false, &[(from, to)]);
        assert_extract_refused(&iso, work.path(), want);
        assert!(
            !work.path().join("z").exists() && !work.path().join("out").exists(),
            "{label}: nothing written outside"
        );
    }
    // Primary names without Rock Ridge: "ZZ." patched to "..." reads as "..".
    let work = work_dir("extract-escape-primary");
    let tree = work.path().join("craft");
    fs::create_dir_all(&tree).unwrap();
    fs::write(tree.join("ZZ"), b"x").unwrap();
    let iso = work.path().join("plain.iso");
    run(
        "genisoimage",
        &[os("-quiet"), os("-o"), iso.as_os_str(), tree.as_os_str()],
    );
    let mut bytes = fs::read(&iso).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b"ZZ.;1")
        .expect("ZZ.;1 in the image");
    bytes[at..at + 2].copy_from_slice(b"..");
    fs::write(&iso, bytes).unwrap();
    assert_extract_refused(&iso, work.path(), "would escape");
}

#[test]
fn extract_refuses_symlinks() {
    if !(fixture::available() && tools::require(&["genisoimage"])) {
        return;
    }
    let work = work_dir("extract-symlink");
    let iso = crafted(work.path(), &["aa"], true, &[]);
    assert_extract_refused(&iso, work.path(), "symbolic link");
}

#[test]
fn extract_refuses_a_non_empty_dir_without_force() {
    if !can_read() {
        return;
    }
    let work = work_dir("extract-nonempty");
    let dest = work.path().join("tree");
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("keep.txt"), b"x").unwrap();
    let iso = source(Variant::Plain);
    let out = esxi_iso(
        &[os("extract"), iso.as_os_str(), dest.as_os_str()],
        work.path(),
        false,
        &[],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(files(&dest).len(), 1, "nothing written");
    esxi_iso(
        &[
            os("extract"),
            iso.as_os_str(),
            dest.as_os_str(),
            os("--force"),
            os("-q"),
        ],
        work.path(),
        true,
        &[],
    );
    assert!(dest.join("EFI/BOOT/BOOT.CFG").is_file());
    // A symlink planted in DIR is not followed.
    fs::remove_file(dest.join("B.B00")).unwrap();
    let victim = work.path().join("victim");
    fs::write(&victim, b"safe").unwrap();
    std::os::unix::fs::symlink(&victim, dest.join("B.B00")).unwrap();
    esxi_iso(
        &[
            os("extract"),
            iso.as_os_str(),
            dest.as_os_str(),
            os("--force"),
            os("-q"),
        ],
        work.path(),
        false,
        &[],
    );
    assert_eq!(fs::read(&victim).unwrap(), b"safe");
}

fn esxi_tree(dir: &Path, ks: Option<&str>) {
    fs::create_dir_all(dir.join("EFI/BOOT")).unwrap();
    let cfg = match ks {
        Some(k) => format!("kernel=/b.b00\nkernelopt=runweasel ks=cdrom:/{k}\n"),
        None => "kernel=/b.b00\nkernelopt=runweasel\n".into(),
    };
    fs::write(dir.join("BOOT.CFG"), &cfg).unwrap();
    fs::write(dir.join("EFI/BOOT/BOOT.CFG"), &cfg).unwrap();
    fs::write(dir.join("B.B00"), b"kernel").unwrap();
}

#[test]
fn pack_refuses_names_the_loader_cannot_read() {
    if !can_read() {
        return;
    }
    let work = work_dir("pack-names");
    let dir = work.path().join("tree");
    esxi_tree(&dir, None);
    fs::write(dir.join("ks.cfg"), b"x").unwrap();
    fs::write(dir.join("KICKSTART.CFG"), b"x").unwrap();
    let out = work.path().join("o.iso");
    let args = [os("pack"), dir.as_os_str(), os("-o"), out.as_os_str()];
    let err = esxi_iso(&args, work.path(), false, &[]);
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(
        err.contains("/ks.cfg") && err.contains("\"KS.CFG\""),
        "{err}"
    );
    assert!(
        err.contains("/KICKSTART.CFG") && err.contains("\"KICKSTAR.CFG\""),
        "{err}"
    );
    assert!(!out.exists());
    // With Rock Ridge a lowercase name is fine (its primary name is KS.CFG),
    // a long one still isn't.
    let args = [
        os("pack"),
        dir.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--rock-ridge"),
    ];
    let err = esxi_iso(&args, work.path(), false, &[]);
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(
        !err.contains("/ks.cfg") && err.contains("KICKSTAR.CFG"),
        "{err}"
    );
    fs::remove_file(dir.join("KICKSTART.CFG")).unwrap();
    esxi_iso(&args, work.path(), true, &[]);
    let l = run("isoinfo", &[os("-l"), os("-i"), out.as_os_str()]);
    assert!(l.contains("KS.CFG;1"), "{l}");
    // A symlink in the tree is refused.
    std::os::unix::fs::symlink("/etc/passwd", dir.join("LINK")).unwrap();
    let args = [
        os("pack"),
        dir.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--force"),
    ];
    let err = esxi_iso(&args, work.path(), false, &[]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("symbolic link"));
}

#[test]
fn pack_checks_boot_cfg_and_warns_or_fails_with_strict() {
    if !can_read() {
        return;
    }
    let work = work_dir("pack-strict");
    let dir = work.path().join("tree");
    esxi_tree(&dir, Some("KS.CFG"));
    let out = work.path().join("o.iso");
    let res = pack(&dir, &out, work.path(), &["-q"]);
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        err.contains(
            "warning (esxi-iso advice): /BOOT.CFG boots with ks=cdrom:/KS.CFG, which is not a file"
        ),
        "{err}"
    );
    assert!(err.contains("no BIOS (ISOLINUX.BIN) boot image"), "{err}");
    let strict = work.path().join("s.iso");
    let args = [
        os("pack"),
        dir.as_os_str(),
        os("-o"),
        strict.as_os_str(),
        os("--strict"),
    ];
    let res = esxi_iso(&args, work.path(), false, &[]);
    assert!(String::from_utf8_lossy(&res.stderr).contains("--strict"));
    assert!(!strict.exists());
    let args = [
        os("pack"),
        dir.as_os_str(),
        os("-o"),
        out.as_os_str(),
        os("--volid"),
        os("esxi"),
    ];
    let res = esxi_iso(&args, work.path(), false, &[]);
    assert!(String::from_utf8_lossy(&res.stderr).contains("(try \"ESXI\")"));
}

/// `build DIR`: the tree is not modified; the output carries the kickstart
/// and both boot.cfg point at it.
fn build_dir(v: Variant, work: &Path) -> PathBuf {
    let dir = work.join("tree");
    extract(&source(v), &dir, work);
    let before = files(&dir);
    let ks = work.join("ks.cfg");
    fs::write(&ks, format!("{KS_MARKER}\nvmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted $6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.\nnetwork --bootproto=dhcp\nreboot\n")).unwrap();
    let out = work.join("built.iso");
    esxi_iso(
        &[
            os("build"),
            dir.as_os_str(),
            os("-o"),
            out.as_os_str(),
            os("--kickstart"),
            ks.as_os_str(),
            os("--quiet"),
        ],
        work,
        true,
        &[],
    );
    assert!(files(&dir) == before, "build DIR left the tree unchanged");
    out
}

#[test]
fn pack_build_from_dir() {
    if !can_read() {
        return;
    }
    for v in [Variant::Plain, Variant::Rrj] {
        let work = work_dir(&format!("pack-build-{v:?}"));
        let out = build_dir(v, work.path());
        let x = work.path().join("x");
        xorriso_extract(&out, &x);
        let f = files(&x);
        let ks = String::from_utf8(f["KS.CFG"].clone()).unwrap();
        assert!(ks.starts_with(KS_MARKER), "{ks}");
        for cfg in ["BOOT.CFG", "EFI/BOOT/BOOT.CFG"] {
            let text = String::from_utf8(f[cfg].clone()).unwrap();
            let ko: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with("kernelopt="))
                .collect();
            assert_eq!(
                ko,
                ["kernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG"],
                "{cfg}"
            );
        }
        check_boot_info_table(&out);
        assert_eq!(el_torito(&out), el_torito(&source(v)));
    }
}

// --- verify --source -------------------------------------------------

fn verify_source(iso: &Path, src: &Path, work: &Path, ok: bool) -> String {
    let out = esxi_iso(
        &[
            os("verify"),
            iso.as_os_str(),
            os("--source"),
            src.as_os_str(),
        ],
        work,
        ok,
        &[],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn report_line<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find(|l| l[5..].starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line:\n{report}"))
}

/// The workflow of README's "esxi-iso extract and pack": extract, add a
/// kickstart and point both BOOT.CFG at it, pack, and `verify --source`
/// against the stock image. A repack moves the catalog and rewrites the
/// boot-info-table, which verify reads for what they mean: it ends in ok
/// (xorriso sees the source's El Torito entries, and the table is right
/// by xorriso's LBAs). A change that matters still fails: a boot image
/// whose code differs, an entry dropped, another load size.
#[test]
fn extract_edit_pack_verifies_against_the_source() {
    if !can_read() {
        return;
    }
    for v in [Variant::Plain, Variant::Rrj] {
        let work = work_dir(&format!("pack-verify-{v:?}"));
        let w = work.path();
        let src = source(v);
        let dir = w.join("tree");
        extract(&src, &dir, w);
        fs::write(dir.join("KS.CFG"), format!("{KS_MARKER}\nvmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted $6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.\nnetwork --bootproto=dhcp\nreboot\n")).unwrap();
        // The README's edit, by sed.
        run(
            "sed",
            &[
                os("-i"),
                os("s|^kernelopt=.*|& ks=cdrom:/KS.CFG|"),
                dir.join("BOOT.CFG").as_os_str(),
                dir.join("EFI/BOOT/BOOT.CFG").as_os_str(),
            ],
        );
        for cfg in ["BOOT.CFG", "EFI/BOOT/BOOT.CFG"] {
            let text = fs::read_to_string(dir.join(cfg)).unwrap();
            assert!(
                text.contains("\nkernelopt=runweasel cdromBoot ks=cdrom:/KS.CFG\n"),
                "{cfg}: {text}"
            );
        }
        let out = w.join("lab.iso");
        pack(&dir, &out, w, &["-q"]);
        assert_eq!(el_torito(&out), el_torito(&src));
        check_boot_info_table(&out);
        let report = verify_source(&out, &src, w, true);
        assert!(report.lines().all(|l| l.starts_with("ok ")), "{report}");
        let boot = report_line(&report, "boot as source");
        assert!(
            boot.contains("BIOS /ISOLINUX.BIN (no emulation, load size 4): the same bytes apart from its boot-info-table, which is valid for this image")
                && boot.contains("UEFI /EFIBOOT.IMG (no emulation, load size 2008): the same bytes"),
            "{boot}"
        );
        assert!(
            report_line(&report, "kickstart").contains("/KS.CFG"),
            "{report}"
        );
        let j = esxi_iso(
            &[
                os("verify"),
                out.as_os_str(),
                os("--source"),
                src.as_os_str(),
                os("--json"),
            ],
            w,
            true,
            &[],
        );
        let j: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
        assert_eq!(j["ok"], true, "{j}");

        // The BIOS image's code changed (byte 100, past the table).
        let bin = dir.join("ISOLINUX.BIN");
        let orig = fs::read(&bin).unwrap();
        let mut code = orig.clone();
        code[100] ^= 0xff;
        fs::write(&bin, &code).unwrap();
        let bad = w.join("code.iso");
        pack(&dir, &bad, w, &["-q"]);
        fs::write(&bin, &orig).unwrap();
        let r = verify_source(&bad, &src, w, false);
        let l = report_line(&r, "boot as source");
        assert!(
            l.starts_with("FAIL")
                && l.contains("entry 1 (BIOS /ISOLINUX.BIN): /ISOLINUX.BIN differs from the source's from byte 100 (its code, not its boot-info-table)"),
            "{r}"
        );

        // The UEFI entry dropped, and another BIOS load size.
        let record = dir.join(".esxi-iso.toml");
        let toml = fs::read_to_string(&record).unwrap();
        let at = toml.rfind("[[entries]]").unwrap();
        fs::write(
            &record,
            toml[..at].replace("load_size = 4", "load_size = 8"),
        )
        .unwrap();
        let bad = w.join("entries.iso");
        pack(&dir, &bad, w, &["-q"]);
        fs::write(&record, &toml).unwrap();
        let r = verify_source(&bad, &src, w, false);
        let l = report_line(&r, "boot as source");
        assert!(
            l.starts_with("FAIL")
                && l.contains("the boot catalog has 1 entry (BIOS /ISOLINUX.BIN), the source's 2 entries (BIOS /ISOLINUX.BIN, UEFI /EFIBOOT.IMG)")
                && l.contains("entry 1 (BIOS /ISOLINUX.BIN): load size 8 sectors, the source's 4 sectors"),
            "{r}"
        );
    }
}

// --- boots ------------------------------------------------------------

const UEFI_CFG_LINE: &str = "# UEFI boot.cfg: EFI/BOOT/BOOT.CFG";

fn can_boot(fw: Firmware) -> bool {
    can_read() && tools::require(fw.tools())
}

fn boot_pack(v: Variant, fw: Firmware) {
    if !can_boot(fw) {
        return;
    }
    let (_work, out) = round_trip(v);
    let log = boot(&out, fw, &["kernelopt=runweasel cdromBoot"]);
    log.assert_passed();
    log.assert_line("kernel=/b.b00");
    match fw {
        Firmware::Bios => {
            log.assert_line("prefix=");
            log.assert_lacks(UEFI_CFG_LINE);
        }
        Firmware::Uefi => log.assert_line(UEFI_CFG_LINE),
    }
}

#[test]
fn boot_pack_plain_bios() {
    boot_pack(Variant::Plain, Firmware::Bios);
}

#[test]
fn boot_pack_plain_uefi() {
    boot_pack(Variant::Plain, Firmware::Uefi);
}

#[test]
fn boot_pack_rrj_bios() {
    boot_pack(Variant::Rrj, Firmware::Bios);
}

#[test]
fn boot_pack_rrj_uefi() {
    boot_pack(Variant::Rrj, Firmware::Uefi);
}

fn boot_pack_build(fw: Firmware) {
    if !can_boot(fw) {
        return;
    }
    let work = work_dir(&format!("boot-pack-build-{fw:?}"));
    let out = build_dir(Variant::Plain, work.path());
    let log = boot(&out, fw, &["ks=cdrom:/KS.CFG", KS_MARKER]);
    log.assert_passed();
    log.assert_line("vmaccepteula");
}

#[test]
fn boot_pack_build_dir_bios() {
    boot_pack_build(Firmware::Bios);
}

#[test]
fn boot_pack_build_dir_uefi() {
    boot_pack_build(Firmware::Uefi);
}
