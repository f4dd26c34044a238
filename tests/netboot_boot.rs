//! A network install booted for real: Debian's OVMF (UEFI HTTP boot, its
//! boot entry written by virt-firmware as vSphere's `networkBootUri`
//! would) loads `/MOUNT/efi/boot/bootx64.efi` from `esxi-iso serve`,
//! straight out of the stock ISO, over QEMU's user network. On the
//! fixture ISO that file is a GRUB network client standing in for
//! mboot.efi (tests/fixtures/INDEX.md): it asks what VMware's loader asks
//! (vmware/esx-boot `locate_config_file`: the boot directory's
//! `01-<MAC>/boot.cfg`, then its `boot.cfg`), then fetches, over its own
//! HTTP stack, every file the host's boot.cfg makes the loader load
//! (kernel and modules under `prefix=`, as the test reads them with the
//! loader's rules) and the kickstart at its `ks=` URL, and checks each
//! against the ISO's bytes as xorriso extracts them.
//!
//! A guest with the inventory's MAC gets its own boot.cfg, every module
//! and its kickstart, and `status` follows it; a guest with another MAC
//! gets 404 for both boot.cfg names and for modules under its own MAC.
//! (GRUB 2.06's http prints a 404's body rather than failing, so the
//! stand-in asks for both boot.cfg names and the test reads the log and
//! the server's access log.)

mod common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::cli::{iso_file, run_in};
use common::qemu::{self, BootLog, Firmware, OVMF_CODE, OVMF_VARS, QEMU};
use common::server::Server;
use common::{fixture, tools};
use sha2::{Digest, Sha256};

const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";
const MAC: &str = "52:54:00:12:34:01";

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The value of `key=` on the last line that sets it (the loader's rule).
fn value<'a>(cfg: &'a str, key: &str) -> &'a str {
    cfg.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .next_back()
        .unwrap_or_else(|| panic!("no {key}= in\n{cfg}"))
}

/// What the loader loads for `cfg` (esx-boot `parse_cmdlines`: kernel,
/// then each `---` item's first word, joined to `prefix=`), as
/// `hashsum --check` lines with GRUB's `(http,SERVER)` paths and the
/// ISO's checksums; plus the kickstart at `ks=`.
fn check_list(cfg: &str, iso: &Path, guest: &str, lab: &Path) -> (String, usize) {
    let prefix = value(cfg, "prefix");
    let mut files = vec![value(cfg, "kernel").to_string()];
    files.extend(
        value(cfg, "modules")
            .split("---")
            .map(|i| i.split_whitespace().next().unwrap().to_string()),
    );
    let server = guest.strip_prefix("http://").unwrap();
    let under = prefix.strip_prefix(guest).unwrap();
    let mut out = String::new();
    for f in &files {
        assert!(!f.starts_with('/'), "{f}: an absolute path ignores prefix=");
        let bytes = iso_file(iso, &format!("/{}", f.to_ascii_uppercase()));
        out.push_str(&format!("{}  (http,{server}){under}/{f}\n", sha(&bytes)));
    }
    let kernelopt = value(cfg, "kernelopt");
    let ks = kernelopt
        .split_whitespace()
        .find_map(|o| o.strip_prefix("ks="))
        .unwrap();
    let ks_file = fs::read(lab.join(".esxi-iso/kickstarts/esx01.cfg")).unwrap();
    out.push_str(&format!(
        "{}  (http,{server}){}\n",
        sha(&ks_file),
        ks.strip_prefix(guest).unwrap()
    ));
    (out, files.len() + 1)
}

fn boot(boot_url: &str, mac: &str, label: &str) -> BootLog {
    let vars = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = qemu::http_boot_command(boot_url, vars.path());
    cmd
        // The boot file DHCP hands out is how the GRUB stand-in learns the
        // URL it was loaded from; no iPXE option ROM.
        .args(["-netdev", &format!("user,id=n0,bootfile={boot_url}")])
        .args([
            "-device",
            &format!("virtio-net-pci,netdev=n0,romfile=,mac={mac}"),
        ]);
    qemu::watch(
        cmd,
        label,
        Firmware::Uefi,
        &["ESXI-ISO-NET-CLIENT", "==== NET END ===="],
        Duration::from_secs(300),
    )
}

#[test]
fn ovmf_boots_a_lab_host_from_the_stock_iso_by_its_mac() {
    if !fixture::available()
        || !tools::require(&[QEMU, OVMF_CODE, OVMF_VARS, "virt-fw-vars", "xorriso"])
    {
        return;
    }
    let fx = fixture::fixtures();
    let work = fixture::work_dir("netboot-boot");
    let lab = work.path().join("lab");
    fs::create_dir(&lab).unwrap();
    let server = Server::start(&lab, &[]);
    // The server as the guest sees it (QEMU's user network: 10.0.2.2 is
    // this machine's loopback).
    let guest = format!("http://10.0.2.2:{}", server.port);
    fs::write(
        work.path().join("lab.toml"),
        format!(
            "[lab]\nname = 'demo'\n[[host]]\nhostname = 'esx01'\ntemplate = 'minimal'\n\
             root_password = '{HASH}'\nmac = '{MAC}'\n"
        ),
    )
    .unwrap();
    let iso = fx.net.to_str().unwrap();
    let args = [
        "build",
        iso,
        "--inventory",
        "lab.toml",
        "--out-dir",
        "lab",
        "--netboot",
        &guest,
    ];
    run_in(work.path(), &args, &[]).ok();
    let cfg_rel = "esxi-net/efi/boot/01-52-54-00-12-34-01/boot.cfg";
    let cfg = fs::read_to_string(lab.join(cfg_rel)).unwrap();
    let (list, n) = check_list(&cfg, &fx.net, &guest, &lab);
    fs::write(lab.join("mboot-standin.sha256"), &list).unwrap();
    let boot_url = format!("{guest}/esxi-net/efi/boot/bootx64.efi");

    let log = boot(&boot_url, MAC, &boot_url);
    log.assert_passed();
    let text = log.text();
    let per_mac = text
        .split("==== NET per-MAC boot.cfg ====")
        .nth(1)
        .and_then(|t| t.split("==== NET fallback boot.cfg ====").next())
        .unwrap_or_default();
    assert!(
        per_mac.contains(&format!("prefix={guest}/esxi-net/01-52-54-00-12-34-01")),
        "{log}"
    );
    log.assert_lacks("FAILED");
    let ok = log
        .lines()
        .iter()
        .filter(|l| l.trim_end().ends_with(": OK"))
        .count();
    assert_eq!(ok, n, "{n} files to check\n{log}");

    // The server saw the firmware, the loader and the installer's fetch.
    let access = server.stderr();
    for line in [
        "GET /esxi-net/efi/boot/bootx64.efi 200",
        "GET /esxi-net/efi/boot/01-52-54-00-12-34-01/boot.cfg 200",
        "GET /esxi-net/01-52-54-00-12-34-01/b.b00 200",
        "GET /.esxi-iso/ks/<token>/esx01.cfg 200",
    ] {
        assert!(access.contains(line), "{line}\n{access}");
    }
    let st = run_in(&lab, &["status", ".", "--json"], &[]).ok();
    let v: serde_json::Value = serde_json::from_str(&st.stdout()).unwrap();
    assert_eq!(v["hosts"][0]["state"], "kickstart-fetched", "{v}");
    let events = fs::read_to_string(lab.join(".esxi-iso/events.jsonl")).unwrap();
    assert!(
        events.contains("\"event\":\"loading\",\"host\":\"esx01\""),
        "{events}"
    );

    // Another MAC: neither boot.cfg is there for it, and nothing loads
    // under its MAC.
    fs::write(
        lab.join("mboot-standin.sha256"),
        format!(
            "{}  (http,{})/esxi-net/01-52-54-00-12-34-99/b.b00\n",
            sha(&iso_file(&fx.net, "/B.B00")),
            guest.strip_prefix("http://").unwrap()
        ),
    )
    .unwrap();
    let log = boot(&boot_url, "52:54:00:12:34:99", "unknown MAC");
    log.assert_passed();
    log.assert_lacks("prefix=");
    log.assert_lacks(": OK");
    let access = server.stderr();
    for line in [
        "GET /esxi-net/efi/boot/01-52-54-00-12-34-99/boot.cfg 404",
        "GET /esxi-net/efi/boot/boot.cfg 404",
        "GET /esxi-net/01-52-54-00-12-34-99/b.b00 404",
    ] {
        assert!(access.contains(line), "{line}\n{access}");
    }
    // The kickstart was fetched once, by the known host only.
    assert_eq!(access.matches("/.esxi-iso/ks/").count(), 1, "{access}");
}
