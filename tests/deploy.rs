//! `esxi-iso deploy` against govmomi's simulator (vcsim, govmomi 0.24 from
//! Debian), a fresh one per test, in vCenter mode and in standalone-ESXi
//! mode; every VM deploy makes is read back by pyvmomi (VMware's Python
//! SDK, `tests/vcsim/deploy_tool.py`), never by our own client: the
//! placement (folder, resource pool, cluster, datastore), the guest OS id
//! from the ISO's release, vCPUs, memory, EFI and Secure Boot, exposed
//! hardware virtualization, disks on PVSCSI or NVMe, vmxnet3 NICs with
//! manual MACs on their port groups, the SATA CD with the host's ISO (and
//! the ISO's bytes on the datastore), the boot order, the marker and the
//! HTTP boot and MAC-learning keys. Then: a rerun adopts and creates
//! nothing, a VM that is not the lab's is never touched, names that are
//! not there are named with the nearest, port groups are checked and
//! fixed, the watch follows reports and VMware Tools and empties the CD,
//! and --destroy removes exactly the lab's VMs.
//!
//! vcsim validates almost nothing (the checks deploy makes itself are unit
//! tests in src/lab/vm.rs and src/deploy), finishes tasks before it
//! answers (slow tasks, faults and Ctrl-C are tests/deploy_faults.rs), and
//! lacks HostNetworkSystem.UpdatePortGroup.

mod common;
mod deploy_support;
mod publish_support;

use std::fs;

use common::fixture::{self, fixtures};
use deploy_support::*;
use esxi_iso::lab::mac::Mac;
use publish_support::*;
use serde_json::Value;

/// A simulator (vCenter unless `esx`), its thumbprint and a work folder;
/// None when the tools are missing here (a skip outside CI).
fn setup(test: &str, opts: VcsimOpts) -> Option<(Vcsim, String, tempfile::TempDir)> {
    if !vcsim_available(test) || !pyvmomi_available(test) || !fixture::available() {
        return None;
    }
    let sim = Vcsim::start(opts);
    let tp = sim.openssl_thumbprint();
    Some((sim, tp, work_dir("deploy-")))
}

const VCENTER_LAB: &str = r#"[lab]
name = "lab1"

[defaults]
template = "minimal"

[defaults.vm]
datacenter = "DC0"
cluster = "DC0_C0"
resource_pool = "Nested"
folder = "Labs/lab1"
datastore = "LocalDS_0"
networks = ["DC0_DVPG0"]
cpus = 4
memory_gb = 16

[[host]]
hostname = "esx01"
mac = "00:50:56:01:00:01"

[[host]]
hostname = "esx02"
[host.vm]
nics = 2
disks_gb = [32, 40, 60]
disk_controller = "nvme"
thin = false
mac_learn_filter = true
"#;

/// The vCenter scene: a folder and a pool to place into, the distributed
/// port group with MAC learning (so it lets nested hosts talk).
fn vcenter_scene(sim: &Vcsim, w: &std::path::Path) {
    py(sim, "folder", &["Labs/lab1"]);
    py(sim, "pool", &["Nested"]);
    py(sim, "mac-learning", &["DC0_DVPG0"]);
    build_lab(w, VCENTER_LAB, &fixtures().plain);
}

#[test]
fn deploy_vcenter_makes_every_setting_and_a_rerun_adopts() {
    let password = "Deploy-Secret-Pw-1234";
    let Some((sim, tp, w)) = setup(
        "deploy_vcenter_makes_every_setting_and_a_rerun_adopts",
        VcsimOpts {
            password: Some(password.into()),
            ..VcsimOpts::default()
        },
    ) else {
        return;
    };
    let d = w.path();
    vcenter_scene(&sim, d);
    let before = vms(&sim).len();
    let run = deploy_as(d, &sim.url, &tp, password, &["--verbose"]);
    run.success()
        .never_shows(password)
        .stderr_has(&["POST /sdk CreateVM_Task -> 200", "[guest-id-unknown]"]);
    let out = run.stdout();
    for want in [
        "esx01: to create VM esx01 in DC0/Labs/lab1 on DC0_C0, datastore LocalDS_0",
        "esx01: uploaded [LocalDS_0] esxi-iso/lab1/esx01.iso",
        "esx01: created VM esx01 (vm-",
        "esx01: boot order: disk, then CD",
        "esx01: powered on",
        "esx02: created VM esx02",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }

    let all = vms(&sim);
    assert_eq!(all.len(), before + 2, "{:?}", names(&all));
    let a = vm(&all, "esx01");
    assert_eq!(a["folder"], "vm/Labs/lab1");
    assert_eq!(a["resource_pool"], "Nested");
    assert!(a["host"].as_str().unwrap().starts_with("DC0_C0_H"), "{a:#}");
    assert_eq!(a["datastores"], serde_json::json!(["LocalDS_0"]));
    assert_eq!(a["guest_id"], "vmkernel8Guest");
    assert_eq!(
        (a["cpus"].as_u64(), a["memory_mb"].as_u64()),
        (Some(4), Some(16384))
    );
    assert_eq!(a["firmware"], "efi");
    assert_eq!(a["secure_boot"], false);
    assert_eq!(a["nested_hv"], true);
    assert_eq!(a["power_state"], "poweredOn");
    assert_eq!(a["extra_config"]["guestinfo.esxi-iso.lab"], "lab1");
    assert_eq!(a["extra_config"]["guestinfo.esxi-iso.host"], "esx01");
    assert!(a["annotation"].as_str().unwrap().contains("esx01"), "{a:#}");
    let disks = devices(a, "VirtualDisk");
    assert_eq!(disks.len(), 1);
    assert_eq!(disks[0]["controller"], "ParaVirtualSCSIController");
    assert_eq!(disks[0]["unit"], 0);
    assert_eq!(disks[0]["capacity_kb"], 32 << 20);
    assert_eq!(disks[0]["thin"], true);
    let nics = devices(a, "VirtualVmxnet3");
    assert_eq!(nics.len(), 1);
    assert_eq!(nics[0]["mac"], "00:50:56:01:00:01");
    assert_eq!(nics[0]["address_type"], "manual");
    assert!(
        nics[0]["portgroup_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{a:#}"
    );
    assert!(
        nics[0]["switch_uuid"]
            .as_str()
            .is_some_and(|k| !k.is_empty()),
        "{a:#}"
    );
    let cds = devices(a, "VirtualCdrom");
    assert_eq!(cds.len(), 1);
    assert_eq!(cds[0]["controller"], "VirtualAHCIController");
    assert_eq!(cds[0]["iso"], "[LocalDS_0] esxi-iso/lab1/esx01.iso");
    assert_eq!(cds[0]["start_connected"], true);
    assert_eq!(
        a["boot_order"],
        serde_json::json!([{"type": "disk", "key": disks[0]["key"]}, {"type": "cdrom", "key": null}])
    );
    // The ISO on the datastore is the lab's, byte for byte.
    let on_ds = sim.datastore_path.join("esxi-iso/lab1/esx01.iso");
    assert_eq!(sha256_file(&on_ds), sha256_file(&d.join("lab/esx01.iso")));

    let b = vm(&all, "esx02");
    let disks = devices(b, "VirtualDisk");
    let mut sizes: Vec<(u64, u64)> = disks
        .iter()
        .map(|d| {
            (
                d["unit"].as_u64().unwrap(),
                d["capacity_kb"].as_u64().unwrap() >> 20,
            )
        })
        .collect();
    sizes.sort();
    assert_eq!(sizes, [(0, 32), (1, 40), (2, 60)]);
    assert!(disks
        .iter()
        .all(|d| d["controller"] == "VirtualNVMEController" && d["thin"] == false));
    let macs: Vec<&str> = devices(b, "VirtualVmxnet3")
        .iter()
        .map(|n| n["mac"].as_str().unwrap())
        .collect();
    let derived = [
        Mac::derived("lab1", "esx02", 0).to_string(),
        Mac::derived("lab1", "esx02", 1).to_string(),
    ];
    assert_eq!(macs, derived);
    for i in 0..2 {
        assert_eq!(
            b["extra_config"][format!("ethernet{i}.filter4.name")],
            "dvfilter-maclearn"
        );
        assert_eq!(
            b["extra_config"][format!("ethernet{i}.filter4.onFailure")],
            "failOpen"
        );
    }
    let s = state_host(d, "esx02");
    assert_eq!(s["phase"], "powered-on");
    assert_eq!(s["macs"], serde_json::json!(derived));
    assert_eq!(s["vm"], b["moref"]);

    // A second run finds both, creates nothing, uploads nothing.
    let again = deploy_as(d, &sim.url, &tp, password, &[]);
    again.success();
    let out = again.stdout();
    assert!(
        out.contains("esx01: to adopt this lab's VM esx01 (vm-"),
        "{out}"
    );
    assert!(
        !out.contains("created") && !out.contains("uploaded"),
        "{out}"
    );
    assert_eq!(vms(&sim).len(), before + 2);
}

#[test]
fn deploy_standalone_esx_boots_over_http() {
    let Some((sim, tp, w)) = setup(
        "deploy_standalone_esx_boots_over_http",
        VcsimOpts {
            esx: true,
            ..VcsimOpts::default()
        },
    ) else {
        return;
    };
    let d = w.path();
    py(&sim, "add-portgroup", &["Nested"]);
    build_lab(
        d,
        "[defaults]\ntemplate = 'minimal'\n[defaults.vm]\ndatastore = 'LocalDS_0'\n\
         networks = 'Nested'\nmemory_gb = 12\nboot = 'http'\nboot_url = 'http://10.0.0.5:8080/'\n\
         [[host]]\nhostname = 'esx01'\nsecure_boot = true\n",
        &fixtures().v91,
    );
    deploy(d, &sim.url, &tp, &[]).success();
    let all = vms(&sim);
    let a = vm(&all, "esx01");
    assert_eq!(a["guest_id"], "vmkernel9Guest");
    assert_eq!(a["secure_boot"], true);
    assert_eq!(a["firmware"], "efi");
    assert!(devices(a, "VirtualCdrom").is_empty(), "{a:#}");
    assert_eq!(a["extra_config"]["networkBootProtocol"], "httpv4");
    assert_eq!(
        a["extra_config"]["networkBootUri"],
        "http://10.0.0.5:8080/esx01.iso"
    );
    let disk = devices(a, "VirtualDisk")[0]["key"].clone();
    let nic = devices(a, "VirtualVmxnet3")[0];
    assert_eq!(nic["network"], "Nested");
    assert_eq!(
        a["boot_order"],
        serde_json::json!([{"type": "disk", "key": disk}, {"type": "ethernet", "key": nic["key"]}])
    );
    assert_eq!(state_host(d, "esx01")["datacenter"], "ha-datacenter");
    // Nothing was uploaded: the ISO is served.
    assert!(!sim.datastore_path.join("esxi-iso").exists());

    // The host's own VM Network lets no nested host talk; the simulator
    // has no UpdatePortGroup, and the fix's refusal is said as such.
    fs::write(
        d.join("lab.toml"),
        fs::read_to_string(d.join("lab.toml"))
            .unwrap()
            .replace("networks = 'Nested'", "networks = 'VM Network'"),
    )
    .unwrap();
    deploy(d, &sim.url, &tp, &[]).failure(2).stderr_has(&[
        "port group VM Network (standard switch, on localhost.localdomain) keeps nested hosts' \
         VMs from talking: promiscuous mode is off: pass --fix-portgroups",
    ]);
    deploy(d, &sim.url, &tp, &["--fix-portgroups"])
        .failure(5)
        .stderr_has(&["UpdatePortGroup is not implemented by this server (MethodNotFound)"]);
}

#[test]
fn deploy_refuses_what_is_not_there_or_not_the_labs() {
    let Some((sim, tp, w)) = setup(
        "deploy_refuses_what_is_not_there_or_not_the_labs",
        VcsimOpts::default(),
    ) else {
        return;
    };
    let d = w.path();
    py(&sim, "foreign", &["esx01"]);
    let taken = Mac::derived("lab1", "esx02", 0).to_string();
    py(&sim, "foreign", &["other", &taken]);
    build_lab(
        d,
        "[lab]\nname = 'lab1'\n[defaults]\ntemplate = 'minimal'\n[defaults.vm]\n\
         cluster = 'DC0_C0'\ndatastore = 'LocalDS_0'\nnetworks = 'VM Network'\n\
         [[host]]\nhostname = 'esx01'\n[[host]]\nhostname = 'esx02'\n\
         [[host]]\nhostname = 'esx03'\nvm.cluster = 'DC0_CO'\n\
         [[host]]\nhostname = 'esx04'\nvm.datastore = 'LocalDS_9'\n\
         [[host]]\nhostname = 'esx05'\nvm.folder = 'Labz'\nvm.networks = 'VM Netwrk'\n",
        &fixtures().plain,
    );
    let before = vms(&sim);
    for extra in [&[][..], &["--dry-run"][..]] {
        let run = deploy(d, &sim.url, &tp, extra);
        run.failure(2).stderr_has(&[
            "the target 127.0.0.1:",
            "has 7 problems; nothing was changed",
            "esx01: a VM named esx01 is there already (vm-",
            "and is not this lab's (it has no esxi-iso marker): it is left alone",
            &format!("esx02: NIC 0's MAC {taken} is used by VM other (vm-"),
            "esx03: vm.cluster DC0_CO not found in datacenter DC0; its clusters and standalone \
             hosts: DC0_C0 (cluster), DC0_H0 (host) (did you mean DC0_C0?)",
            "esx04: vm.datastore LocalDS_9 not found in datacenter DC0; its datastores: \
             LocalDS_0 (did you mean LocalDS_0?)",
            "esx05: vm.folder Labz not found in datacenter DC0",
            "esx05: NIC 0: port group VM Netwrk not found in datacenter DC0; its networks: \
             DC0_DVPG0, DVS0-DVUplinks-",
            "(did you mean VM Network?)",
            "port group VM Network (standard switch, on DC0_C0_H0, DC0_C0_H1, DC0_C0_H2) keeps \
             nested hosts' VMs from talking: promiscuous mode is off: pass --fix-portgroups",
        ]);
    }
    let after = vms(&sim);
    assert_eq!(names(&after), names(&before));
    assert_eq!(
        vm(&after, "esx01"),
        vm(&before, "esx01"),
        "the foreign VM was touched"
    );
    assert!(!d.join("lab/.esxi-iso/deploy.json").exists());
    assert!(!sim.datastore_path.join("esxi-iso").exists());
    // Names the inventory does not have, before connecting.
    deploy(d, &sim.url, &tp, &["--host", "esx9"])
        .failure(2)
        .stderr_has(&["--host esx9: the inventory has no host esx9: did you mean esx01?"]);
    deploy(d, &sim.url, &tp, &["--wait", "up"])
        .failure(2)
        .stderr_has(&[
            "--wait \"up\": give one of powered-on, fetched, loading, kickstart-fetched, \
             installing, installed, booted",
        ]);
    deploy(d, &sim.url, &tp, &["--dry-run", "--wait"])
        .failure(2)
        .stderr_has(&["--dry-run changes nothing, so there is nothing to wait for"]);
    deploy(d, &sim.url, &tp, &["--destroy", "--wait"])
        .failure(2)
        .stderr_has(&["--wait and --fix-portgroups do not go with it"]);
}

#[test]
fn deploy_fixes_a_distributed_port_group() {
    let Some((sim, tp, w)) = setup(
        "deploy_fixes_a_distributed_port_group",
        VcsimOpts::default(),
    ) else {
        return;
    };
    let d = w.path();
    build_lab(
        d,
        "[defaults]\ntemplate = 'minimal'\n[defaults.vm]\ncluster = 'DC0_C0'\n\
         datastore = 'LocalDS_0'\nnetworks = 'DC0_DVPG0'\n[[host]]\nhostname = 'esx01'\n",
        &fixtures().plain,
    );
    let problem = "distributed port group DC0_DVPG0 keeps nested hosts' VMs from talking: \
                   promiscuous mode and forged transmits are off: pass --fix-portgroups";
    deploy(d, &sim.url, &tp, &[])
        .failure(2)
        .stderr_has(&[problem]);
    let dry = deploy(d, &sim.url, &tp, &["--fix-portgroups", "--dry-run"]);
    dry.success();
    assert!(
        dry.stdout().contains(
            "would fix distributed port group DC0_DVPG0 (promiscuous mode and forged \
             transmits are off): turn on promiscuous mode and forged transmits"
        ),
        "{}",
        dry.stdout()
    );
    assert!(
        !dry.stdout().contains("pass --fix-portgroups"),
        "{}",
        dry.stdout()
    );
    assert_eq!(
        py(&sim, "portgroup", &["DC0_DVPG0"])["promiscuous"],
        Value::Null
    );
    let run = deploy(d, &sim.url, &tp, &["--fix-portgroups"]);
    run.success();
    assert!(
        run.stdout().contains("fixed port group DC0_DVPG0"),
        "{}",
        run.stdout()
    );
    let pg = py(&sim, "portgroup", &["DC0_DVPG0"]);
    assert_eq!(
        (pg["promiscuous"].clone(), pg["forged_transmits"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_eq!(vm(&vms(&sim), "esx01")["power_state"], "poweredOn");
}

const TWO_HOSTS: &str = "[lab]\nname = 'lab1'\n[defaults]\ntemplate = 'minimal'\n[defaults.vm]\n\
    cluster = 'DC0_C0'\ndatastore = 'LocalDS_0'\nnetworks = 'DC0_DVPG0'\n\
    [[host]]\nhostname = 'esx01'\n[[host]]\nhostname = 'esx02'\n";

#[test]
fn deploy_watches_detaches_and_destroys_only_the_labs_vms() {
    let Some((sim, tp, w)) = setup(
        "deploy_watches_detaches_and_destroys_only_the_labs_vms",
        VcsimOpts::default(),
    ) else {
        return;
    };
    let d = w.path();
    py(&sim, "mac-learning", &["DC0_DVPG0"]);
    build_lab(d, TWO_HOSTS, &fixtures().plain);
    deploy(d, &sim.url, &tp, &[]).success();
    // esx01 reports (built with --report-to, as serve records it); esx02
    // only shows in vSphere: VMware Tools with its name and an address.
    report_event(d, "esx01", "installing", "10.0.0.11");
    report_event(d, "esx01", "installed", "10.0.0.11");
    report_event(d, "esx01", "booted", "10.0.0.11");
    py(&sim, "guest", &["esx02", "10.0.0.12", "esx02.lab.local"]);
    let run = deploy(d, &sim.url, &tp, &["--wait", "--timeout", "600"]);
    run.success();
    let out = run.stdout();
    for want in [
        "esx01: booted, 10.0.0.11 (reported)",
        "esx01: ISO detached ([LocalDS_0] esxi-iso/lab1/esx01.iso taken out of the CD drive)",
        "esx02: booted, 10.0.0.12 (VMware Tools)",
        "esx02: ISO detached",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    let all = vms(&sim);
    for name in ["esx01", "esx02"] {
        let cd = devices(vm(&all, name), "VirtualCdrom")[0];
        assert_eq!(
            (cd["iso"].clone(), cd["start_connected"].clone()),
            (Value::Null, Value::Bool(false)),
            "{name}"
        );
        assert_eq!(state_host(d, name)["detached"], true);
    }

    py(&sim, "foreign", &["esx-foreign"]);
    let before = names(&vms(&sim));
    let dry = deploy(d, &sim.url, &tp, &["--destroy", "--dry-run"]);
    dry.success();
    assert!(
        dry.stdout().contains("esx01: would destroy VM esx01 (vm-"),
        "{}",
        dry.stdout()
    );
    assert_eq!(names(&vms(&sim)), before);
    let one = deploy(d, &sim.url, &tp, &["--destroy", "--host", "esx01"]);
    one.success();
    for want in [
        "esx01: powered off",
        "esx01: destroyed VM esx01 and its disks",
        "esx01: deleted [LocalDS_0] esxi-iso/lab1/esx01.iso",
    ] {
        assert!(one.stdout().contains(want), "{want}\n{}", one.stdout());
    }
    let left = names(&vms(&sim));
    assert!(
        !left.contains(&"esx01".to_string()) && left.contains(&"esx02".to_string()),
        "{left:?}"
    );
    assert!(!sim.datastore_path.join("esxi-iso/lab1/esx01.iso").exists());
    assert!(sim.datastore_path.join("esxi-iso/lab1/esx02.iso").exists());
    deploy(d, &sim.url, &tp, &["--destroy"]).success();
    let left = names(&vms(&sim));
    let mut want = before.clone();
    want.retain(|n| n != "esx01" && n != "esx02");
    assert_eq!(left, want, "only the lab's VMs go");
    assert!(left.contains(&"esx-foreign".to_string()));
    assert_eq!(
        state(d)["targets"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["hosts"],
        serde_json::json!({})
    );
    let none = deploy(d, &sim.url, &tp, &["--destroy"]);
    none.success();
    assert!(
        none.stdout().contains("no VM on 127.0.0.1:"),
        "{}",
        none.stdout()
    );
}

/// A host's `vm.host` pins its VM to that host though `[defaults.vm]`
/// names a cluster (the host's own): the VM goes into that cluster's root
/// resource pool, on that host; the other host's VM is placed by the
/// cluster.
#[test]
fn deploy_pins_a_vm_to_a_host_of_the_defaults_cluster() {
    let Some((sim, tp, w)) = setup(
        "deploy_pins_a_vm_to_a_host_of_the_defaults_cluster",
        VcsimOpts::default(),
    ) else {
        return;
    };
    let d = w.path();
    py(&sim, "mac-learning", &["DC0_DVPG0"]);
    build_lab(
        d,
        &format!("{TWO_HOSTS}vm.host = 'DC0_C0_H1'\n"),
        &fixtures().plain,
    );
    let run = deploy(d, &sim.url, &tp, &[]);
    run.success();
    let out = run.stdout();
    for want in [
        "esx01: created VM esx01 (vm-",
        "esx02: created VM esx02 (vm-",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
    let all = vms(&sim);
    let b = vm(&all, "esx02");
    assert_eq!(b["host"], "DC0_C0_H1", "{b:#}");
    assert_eq!(b["resource_pool"], "Resources", "{b:#}");
    let a = vm(&all, "esx01");
    assert!(a["host"].as_str().unwrap().starts_with("DC0_C0_H"), "{a:#}");
    assert_eq!(a["resource_pool"], "Resources", "{a:#}");
}

/// `--destroy` takes only the lab's name from the inventory: an inventory
/// that could not be deployed (no vm.networks) still tears the lab down,
/// and `--host` names a host the lab's VMs are marked for, also one since
/// removed from the inventory; a name no marked VM has is an error with
/// the nearest.
#[test]
fn deploy_destroy_needs_only_the_labs_name() {
    let Some((sim, tp, w)) = setup(
        "deploy_destroy_needs_only_the_labs_name",
        VcsimOpts::default(),
    ) else {
        return;
    };
    let d = w.path();
    py(&sim, "mac-learning", &["DC0_DVPG0"]);
    build_lab(
        d,
        &format!("{TWO_HOSTS}[[host]]\nhostname = 'esx09'\n"),
        &fixtures().plain,
    );
    deploy(d, &sim.url, &tp, &[]).success();
    let before = names(&vms(&sim));

    // No vm.networks: the inventory cannot be deployed, but torn down.
    fs::write(
        d.join("lab.toml"),
        format!("{TWO_HOSTS}[[host]]\nhostname = 'esx09'\n")
            .replace("networks = 'DC0_DVPG0'\n", ""),
    )
    .unwrap();
    deploy(d, &sim.url, &tp, &["--dry-run"])
        .failure(2)
        .stderr_has(&["esx01: vm.networks: missing"]);
    let dry = deploy(d, &sim.url, &tp, &["--destroy", "-n"]);
    dry.success();
    for h in ["esx01", "esx02", "esx09"] {
        let want = format!("{h}: would destroy VM {h} (vm-");
        assert!(dry.stdout().contains(&want), "{want}\n{}", dry.stdout());
    }
    assert_eq!(names(&vms(&sim)), before);

    // esx09 is gone from the inventory; its VM is still the lab's.
    fs::write(d.join("lab.toml"), TWO_HOSTS).unwrap();
    deploy(d, &sim.url, &tp, &["--destroy", "--host", "esx9"])
        .failure(2)
        .stderr_has(&[
            "--host esx9: no VM on 127.0.0.1:",
            "carries the marker of lab lab1 for esx9: did you mean esx09? the lab's VMs there \
             are marked for esx01, esx02, esx09; nothing was destroyed",
        ]);
    assert_eq!(names(&vms(&sim)), before);
    let run = deploy(d, &sim.url, &tp, &["--destroy", "--host", "esx09"]);
    run.success();
    assert!(
        run.stdout()
            .contains("esx09: destroyed VM esx09 and its disks"),
        "{}",
        run.stdout()
    );
    let left = names(&vms(&sim));
    assert!(
        !left.contains(&"esx09".to_string())
            && left.contains(&"esx01".to_string())
            && left.contains(&"esx02".to_string()),
        "{left:?}"
    );
    assert!(!sim.datastore_path.join("esxi-iso/lab1/esx09.iso").exists());
    assert!(sim.datastore_path.join("esxi-iso/lab1/esx01.iso").exists());
}

/// A lab built with `build --secure-boot` (its inventory says nothing of
/// Secure Boot): manifest.json records it, deploy gives the VMs Secure
/// Boot, and refuses BIOS for them.
#[test]
fn deploy_gives_a_lab_built_for_secure_boot_secure_boot() {
    let Some((sim, tp, w)) = setup(
        "deploy_gives_a_lab_built_for_secure_boot_secure_boot",
        VcsimOpts::default(),
    ) else {
        return;
    };
    let d = w.path();
    py(&sim, "mac-learning", &["DC0_DVPG0"]);
    fs::write(d.join("lab.toml"), TWO_HOSTS).unwrap();
    build_lab_hosts(d, &fixtures().plain, &["--secure-boot"]);
    for h in ["esx01", "esx02"] {
        assert_eq!(manifest_host(d, h)["secure_boot"], true, "{h}");
    }
    deploy(d, &sim.url, &tp, &[]).success();
    let all = vms(&sim);
    for h in ["esx01", "esx02"] {
        let v = vm(&all, h);
        assert_eq!(
            (v["firmware"].as_str(), v["secure_boot"].as_bool()),
            (Some("efi"), Some(true)),
            "{h}: {v:#}"
        );
    }
    fs::write(
        d.join("lab.toml"),
        format!("{TWO_HOSTS}vm.firmware = 'bios'\n"),
    )
    .unwrap();
    deploy(d, &sim.url, &tp, &["--dry-run"])
        .failure(2)
        .stderr_has(&[
            "esx02: vm.firmware = \"bios\": esx02 was built for Secure Boot (manifest.json: \
             build --secure-boot, or its secure_boot), which needs vm.firmware = \"efi\": drop \
             vm.firmware, or rebuild it without Secure Boot (esxi-iso build ",
        ]);
}

#[test]
fn deploy_reports_differences_and_a_wait_that_times_out() {
    let Some((sim, tp, w)) = setup(
        "deploy_reports_differences_and_a_wait_that_times_out",
        VcsimOpts::default(),
    ) else {
        return;
    };
    let d = w.path();
    py(&sim, "mac-learning", &["DC0_DVPG0"]);
    build_lab(d, TWO_HOSTS, &fixtures().plain);
    deploy(d, &sim.url, &tp, &["--host", "esx01"]).success();
    let toml = fs::read_to_string(d.join("lab.toml")).unwrap();
    fs::write(
        d.join("lab.toml"),
        toml.replace(
            "networks = 'DC0_DVPG0'\n",
            "networks = 'DC0_DVPG0'\nmemory_gb = 24\n",
        ),
    )
    .unwrap();
    let run = deploy(d, &sim.url, &tp, &["--host", "esx01"]);
    run.success().stderr_has(&[
        "esx01: memory: the VM has 16384 MB, the inventory says 24576 MB; it is left as it is",
        "[vm-differs]",
    ]);
    assert_eq!(vm(&vms(&sim), "esx01")["memory_mb"], 16384);
    // esx02 is created by this run; neither boots in the simulator.
    let run = deploy(
        d,
        &sim.url,
        &tp,
        &["--wait", "booted", "--timeout", "1", "--json"],
    );
    run.failure(1).stderr_has(&[
        "timed out after 1 s: 2 of 2 hosts did not reach booted: esx01 (powered-on), esx02 (powered-on)",
    ]);
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["hosts"][0]["action"], "adopt");
    assert_eq!(doc["hosts"][1]["action"], "create");
    assert_eq!(doc["hosts"][0]["differences"].as_array().unwrap().len(), 1);
}

const NETBOOT_URL: &str = "http://10.0.0.5:8080";

const NETBOOT_LAB: &str = "[lab]\nname = 'lab1'\n[defaults]\ntemplate = 'minimal'\n\
    [defaults.vm]\ncluster = 'DC0_C0'\ndatastore = 'LocalDS_0'\nnetworks = 'DC0_DVPG0'\n\
    [[host]]\nhostname = 'esx01'\nmac = '00:50:56:01:00:01'\n\
    [[host]]\nhostname = 'esx02'\nvm.nics = 2\n\
    [[host]]\nhostname = 'esx03'\n";

/// A lab built for network install (`build --netboot`), with esx03
/// rebuilt as an ISO (`--host`): deploy takes each host as the folder
/// holds it. The network-install hosts get no ISO, no upload and no CD:
/// UEFI HTTP boot of the manifest's boot URI, NIC 0 on the MAC their
/// boot.cfg was written for, disk then NIC 0; a rerun adopts them as
/// they are, the served events are followed, and --destroy deletes the
/// VMs and only the ISO that was uploaded.
#[test]
fn deploy_a_network_install_lab() {
    let Some((sim, tp, w)) = setup("deploy_a_network_install_lab", VcsimOpts::default()) else {
        return;
    };
    let d = w.path();
    py(&sim, "mac-learning", &["DC0_DVPG0"]);
    let iso = &fixtures().plain;
    build_netboot_lab(d, NETBOOT_LAB, iso, NETBOOT_URL, &[]);
    build_lab_hosts(d, iso, &["--host", "esx03"]);
    for h in ["esx01", "esx02"] {
        assert!(!manifest_host(d, h)["netboot"].is_null(), "{h}");
        assert!(!d.join(format!("lab/{h}.iso")).exists());
    }
    assert!(manifest_host(d, "esx03")["netboot"].is_null());
    assert!(d.join("lab/esx03.iso").exists());

    let before = vms(&sim).len();
    let run = deploy(d, &sim.url, &tp, &["--json"]);
    run.success().stderr_has(&[
        "[server-version]",
        "UEFI HTTP boot (vm.boot = \"http\", network install) needs vCenter 7.0 Update 2 \
         or later",
        "[host-version]",
        "esx01, esx02: UEFI HTTP boot (vm.boot = \"http\", network install) needs ESXi 7.0 \
         Update 2 or later on the host a VM runs on, and every ESXi host it may run on is \
         older: DC0_C0_H0 (ESXi 6.5.0), DC0_C0_H1 (ESXi 6.5.0), DC0_C0_H2 (ESXi 6.5.0)",
    ]);
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    let all = vms(&sim);
    assert_eq!(all.len(), before + 3, "{:?}", names(&all));
    for (i, name) in ["esx01", "esx02"].into_iter().enumerate() {
        let nb = manifest_host(d, name)["netboot"].clone();
        let uri = nb["boot_uri"].as_str().unwrap();
        assert_eq!(
            uri,
            format!(
                "{NETBOOT_URL}/{}/efi/boot/bootx64.efi",
                iso.file_stem().unwrap().to_str().unwrap()
            )
        );
        let v = vm(&all, name);
        assert_eq!(v["firmware"], "efi", "{name}");
        assert_eq!(v["guest_id"], "vmkernel8Guest", "{name}");
        assert_eq!(v["extra_config"]["networkBootProtocol"], "httpv4", "{name}");
        assert_eq!(v["extra_config"]["networkBootUri"], uri, "{name}");
        assert!(devices(v, "VirtualCdrom").is_empty(), "{name}: {v:#}");
        assert!(
            v["annotation"]
                .as_str()
                .unwrap()
                .contains("esxi-plain.iso (network install)"),
            "{v:#}"
        );
        let nics = devices(v, "VirtualVmxnet3");
        assert_eq!(nics[0]["mac"], nb["mac"], "{name}");
        let disk = devices(v, "VirtualDisk")[0]["key"].clone();
        assert_eq!(
            v["boot_order"],
            serde_json::json!([{"type": "disk", "key": disk}, {"type": "ethernet", "key": nics[0]["key"]}]),
            "{name}"
        );
        let h = &doc["hosts"][i];
        assert_eq!(
            (h["host"].as_str(), h["boot"].as_str()),
            (Some(name), Some("http"))
        );
        assert_eq!(h["iso"], uri);
        let s = state_host(d, name);
        assert_eq!(
            (s["boot"].as_str(), s["boot_uri"].as_str(), s["iso"].clone()),
            (Some("network-install"), Some(uri), Value::Null)
        );
    }
    assert_eq!(
        manifest_host(d, "esx01")["netboot"]["mac"],
        "00:50:56:01:00:01"
    );
    assert_eq!(
        devices(vm(&all, "esx02"), "VirtualVmxnet3")[1]["mac"],
        Mac::derived("lab1", "esx02", 1).to_string()
    );
    // esx03 is an ISO host: uploaded, in its CD drive.
    let c = vm(&all, "esx03");
    assert_eq!(
        devices(c, "VirtualCdrom")[0]["iso"],
        "[LocalDS_0] esxi-iso/lab1/esx03.iso"
    );
    assert!(c["extra_config"].get("networkBootUri").is_none(), "{c:#}");
    assert_eq!(doc["hosts"][2]["boot"], "cdrom");
    let uploads: Vec<&str> = doc["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["host"].as_str().unwrap())
        .collect();
    assert_eq!(uploads, ["esx03"]);
    let mut on_ds: Vec<String> = fs::read_dir(sim.datastore_path.join("esxi-iso/lab1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_ds.sort();
    assert_eq!(on_ds, ["esx03.iso"]);

    // A rerun adopts all three as they are.
    let again = deploy(d, &sim.url, &tp, &[]);
    again.success().stderr_lacks("vm-differs");
    let out = again.stdout();
    for h in ["esx01", "esx02", "esx03"] {
        assert!(
            out.contains(&format!("{h}: to adopt this lab's VM {h} (vm-")),
            "{out}"
        );
    }
    assert!(
        !out.contains("created") && !out.contains("uploaded") && !out.contains("boot order"),
        "{out}"
    );
    assert_eq!(vms(&sim).len(), before + 3);

    // What esxi-iso serve records of a network install, followed for the
    // two network-install hosts.
    let watch = |wait: &str, timeout: &str, json: bool| {
        let mut args = vec![
            "--host",
            "esx01",
            "--host",
            "esx02",
            "--wait",
            wait,
            "--timeout",
            timeout,
        ];
        if json {
            args.push("--json");
        }
        deploy(d, &sim.url, &tp, &args)
    };
    for h in ["esx01", "esx02"] {
        serve_event(d, h, "loading");
    }
    let run = watch("loading", "600", false);
    run.success();
    for h in ["esx01", "esx02"] {
        let want = format!("{h}: loading (esxi-iso serve)");
        assert!(run.stdout().contains(&want), "{want}\n{}", run.stdout());
    }
    serve_event(d, "esx01", "kickstart-fetched");
    let run = watch("kickstart-fetched", "1", false);
    run.failure(1).stderr_has(&[
        "timed out after 1 s: 1 of 2 hosts did not reach kickstart-fetched: esx02 (loading)",
    ]);
    let want = "esx01: kickstart-fetched (esxi-iso serve)";
    assert!(run.stdout().contains(want), "{want}\n{}", run.stdout());
    serve_event(d, "esx02", "kickstart-fetched");
    let run = watch("kickstart-fetched", "600", true);
    run.success();
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    for h in doc["hosts"].as_array().unwrap() {
        assert_eq!(h["state"], "kickstart-fetched", "{doc:#}");
        assert_eq!(h["detached"], false, "{doc:#}");
    }

    // The inventory changed after the build: NIC 0 would not be the MAC
    // esx01's boot.cfg was written for.
    let toml = fs::read_to_string(d.join("lab.toml")).unwrap();
    fs::write(
        d.join("lab.toml"),
        toml.replace("00:50:56:01:00:01", "00:50:56:01:00:09"),
    )
    .unwrap();
    deploy(d, &sim.url, &tp, &["--dry-run"])
        .failure(2)
        .stderr_has(&[
            "esx01: NIC 0's MAC is 00:50:56:01:00:09 (its mac), but its boot.cfg was written for \
         00:50:56:01:00:01 (manifest.json, build --netboot)",
            "--netboot http://10.0.0.5:8080 --host esx01 --force)",
        ]);
    fs::write(d.join("lab.toml"), &toml).unwrap();

    // --destroy: the VMs, and the one ISO deploy uploaded.
    let run = deploy(d, &sim.url, &tp, &["--destroy", "--json"]);
    run.success();
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    let gone: Vec<&str> = doc["destroyed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["host"].as_str().unwrap())
        .collect();
    assert_eq!(gone, ["esx01", "esx02", "esx03"]);
    assert_eq!(
        doc["isos_deleted"],
        serde_json::json!(["[LocalDS_0] esxi-iso/lab1/esx03.iso"])
    );
    assert_eq!(vms(&sim).len(), before);
    // The lab folder is untouched: its boot.cfg files stay for serve.
    for h in ["esx01", "esx02"] {
        let cfg = manifest_host(d, h)["netboot"]["boot_cfg"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(d.join("lab").join(cfg).is_file(), "{h}");
    }
}
