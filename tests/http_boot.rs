//! UEFI HTTP boot of a served per-host ISO, as a vSphere 8 VM with EFI
//! firmware does it (`networkBootProtocol`/`networkBootUri`): Debian's
//! OVMF (2022.11, built with its HTTP boot driver) gets a boot entry for
//! the ISO's URL written by virt-firmware's `virt-fw-vars --set-boot-uri`,
//! reaches `esxi-iso serve` over QEMU's user network (10.0.2.2 is the
//! host's loopback), downloads the ISO, mounts it as a RAM disk and boots
//! its El Torito UEFI image: the fixture's GRUB prints the ISO's KS.CFG,
//! with the report lines `--report-to` put there, on the serial port.
//! The server then lists the host as `fetched`.

mod common;

use std::fs;
use std::time::Duration;

use common::cli::run_in;
use common::qemu::{self, Firmware, OVMF_CODE, OVMF_VARS, QEMU};
use common::server::{self, Server};
use common::{fixture, tools};

const HASH: &str = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";

#[test]
fn ovmf_boots_the_served_iso_over_http() {
    if !fixture::available() || !tools::require(&[QEMU, OVMF_CODE, OVMF_VARS, "virt-fw-vars"]) {
        return;
    }
    let work = fixture::work_dir("http-boot");
    let lab = work.path().join("lab");
    fs::create_dir(&lab).unwrap();
    let server = Server::start(&lab, &[]);
    // The URL as the VM sees the server.
    let guest_url = format!("http://10.0.2.2:{}", server.port);
    let inv =
        format!("[[host]]\nhostname = 'esx01'\ntemplate = 'minimal'\nroot_password = '{HASH}'\n");
    server::build_lab(work.path(), &fixture::fixtures().plain, &inv, &guest_url);

    let vars = work.path().join("vars.fd");
    let iso_url = format!("{guest_url}/esx01.iso");
    let mut cmd = qemu::http_boot_command(&iso_url, &vars);
    cmd
        // No iPXE option ROM: the firmware's own HTTP boot is under test.
        .args([
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n0,romfile=",
        ]);
    let report_line = "/.esxi-iso/report?host=esx01&event=installing&token=";
    let log = qemu::watch(
        cmd,
        &iso_url,
        Firmware::Uefi,
        &[
            &format!("URI: {iso_url}"),
            "ESXI-ISO-UEFI-BOOT",
            "==== UEFI /KS.CFG ====",
            report_line,
            "==== UEFI END ====",
        ],
        Duration::from_secs(240),
    );
    log.assert_passed();
    log.assert_contains(&format!("{guest_url}{report_line}"));

    // The firmware fetched the whole ISO: the lab's status says so.
    let mut fetched = false;
    for _ in 0..50 {
        let r = run_in(&lab, &["status", ".", "--json"], &[]).ok();
        let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
        if v["hosts"][0]["state"] == "fetched" {
            fetched = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(fetched, "no fetch recorded\n{}", server.stderr());
    let access = server.stderr();
    assert!(access.contains("GET /esx01.iso 200"), "{access}");
}
