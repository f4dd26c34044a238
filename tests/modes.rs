//! File modes of every output: what a normal file creation gives
//! (`0666 & ~umask`, as `cp`, xorriso and genisoimage create theirs), so a
//! web server running as another user can serve a VCSP folder and an NFS
//! export can share an ISO; a file replaced with `--force` keeps its mode.
//! The modes are read with `stat(1)`, not through our own code.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::cli::{run_in_umask, tool};
use common::fixture::{self, fixtures, work_dir};
use common::tools;

/// A SHA-512 crypt of "VMware1!lab" (`openssl passwd -6 -salt modesalt`).
const HASH: &str =
    "$6$modesalt$CLvXZ1VPXGjW.Ug8ubv9ju84Qpor/HAgMiLKZY02FR6E3NS5oWoaIxd/5fBCXGvJU6Aq73UM6Oc4hphM17jHA0";

fn ready() -> bool {
    fixture::available() && tools::require(&["stat"])
}

/// The permission bits as coreutils' stat prints them (octal).
fn mode(path: &Path) -> u32 {
    let out = tool("stat", &["-c", "%a", path.to_str().unwrap()]);
    u32::from_str_radix(out.trim(), 8).unwrap_or_else(|e| panic!("stat said {out:?}: {e}"))
}

fn assert_modes(dir: &Path, names: &[&str], want: u32) {
    for name in names {
        let p = dir.join(name);
        assert_eq!(
            mode(&p),
            want,
            "{} has mode {:o}, want {want:o}",
            p.display(),
            mode(&p)
        );
    }
}

/// Builds, packs, extracts, a lab and a VCSP folder under `umask`, and
/// checks every file and folder they create.
fn outputs_follow(umask: u32) {
    let file_mode = 0o666 & !umask;
    let dir_mode = 0o777 & !umask;
    let work = work_dir(&format!("modes-{umask:o}"));
    let w = work.path();
    let plain = fixtures().plain.to_str().unwrap();
    let env = [("ESXI_ISO_ROOT_PASSWORD", HASH)];
    let run = |args: &[&str]| run_in_umask(w, args, &env, umask).ok();

    run(&["build", plain, "-o", "one.iso", "-q"]);
    assert_modes(w, &["one.iso", "one.iso.sha256"], file_mode);

    run(&["extract", plain, "tree"]);
    assert_modes(w, &["tree", "tree/EFI", "tree/EFI/BOOT"], dir_mode);
    assert_modes(w, &["tree/BOOT.CFG", "tree/.esxi-iso.toml"], file_mode);
    run(&["pack", "tree", "-o", "packed.iso"]);
    assert_modes(w, &["packed.iso", "packed.iso.sha256"], file_mode);

    fs::write(
        w.join("lab.toml"),
        format!(
            "[defaults]\ntemplate = 'minimal'\nroot_password = '{HASH}'\n\n\
             [[host]]\nhostname = 'esx01'\n\n[[host]]\nhostname = 'esx02'\n"
        ),
    )
    .unwrap();
    run(&[
        "build",
        plain,
        "--inventory",
        "lab.toml",
        "--out-dir",
        "lab",
        "-q",
    ]);
    assert_modes(w, &["lab"], dir_mode);
    assert_modes(
        &w.join("lab"),
        &[
            "esx01.iso",
            "esx01.iso.sha256",
            "esx02.iso",
            "SHA256SUMS",
            "manifest.json",
        ],
        file_mode,
    );

    fs::create_dir(w.join("vcsp")).unwrap();
    fs::hard_link(w.join("one.iso"), w.join("vcsp/one.iso")).unwrap();
    run(&["vcsp", "vcsp", "--name", "Lab"]);
    assert_modes(&w.join("vcsp"), &["lib.json", "items.json"], file_mode);
    let item = fs::read_dir(w.join("vcsp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("an item folder");
    assert_eq!(mode(&item), dir_mode, "{}", item.display());
    assert_eq!(mode(&item.join("item.json")), file_mode);
}

#[test]
fn outputs_are_readable_by_others_under_umask_022() {
    if ready() {
        outputs_follow(0o022);
    }
}

#[test]
fn outputs_are_private_under_umask_077() {
    if ready() {
        outputs_follow(0o077);
    }
}

#[test]
fn force_keeps_the_mode_of_the_replaced_file() {
    if !ready() {
        return;
    }
    let work = work_dir("modes-force");
    let w = work.path();
    let plain = fixtures().plain.to_str().unwrap();
    let env = [("ESXI_ISO_ROOT_PASSWORD", HASH)];
    let args = ["build", plain, "-o", "one.iso", "-q", "--force"];
    run_in_umask(w, &args, &env, 0o022).ok();
    for (name, m) in [("one.iso", 0o640), ("one.iso.sha256", 0o604)] {
        fs::set_permissions(w.join(name), fs::Permissions::from_mode(m)).unwrap();
    }
    run_in_umask(w, &args, &env, 0o077).ok();
    assert_eq!(mode(&w.join("one.iso")), 0o640);
    assert_eq!(mode(&w.join("one.iso.sha256")), 0o604);
}
