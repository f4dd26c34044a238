//! A host's VM in vSphere's terms: the [`VmSpec`] deploy creates (what
//! nested ESXi needs: its guest OS id, hardware virtualization exposed,
//! vmxnet3 NICs with manual MACs, a SATA CD, the lab's marker), the boot
//! order it sets once the VM exists, and what an existing VM of the lab
//! has that the inventory no longer says ([`differences`]), which is
//! reported and never changed.
//!
//! Extra config: the marker (`guestinfo.esxi-iso.lab`,
//! `guestinfo.esxi-iso.host`), UEFI HTTP boot (`networkBootProtocol =
//! httpv4`, `networkBootUri`, vSphere 7.0U2 and later) and, when asked,
//! the MAC learning dvFilter per NIC (`ethernetN.filter4.name =
//! dvfilter-maclearn`, `ethernetN.filter4.onFailure = failOpen`, the ESXi
//! MAC Learning dvFilter Fling's settings, for outer hosts that have it).

use super::local::Host;
use super::target::{Planned, MARK_HOST, MARK_LAB};
use crate::lab::vm::{DiskController, Firmware};
use crate::vsphere::vm::{Controller, NicBacking, VmSpec};
use crate::vsphere::vminfo::{Boot, Device, VmInfo};

const GIB_KB: u64 = 1 << 20;

pub fn controller(c: DiskController) -> Controller {
    match c {
        DiskController::Pvscsi => Controller::Pvscsi,
        DiskController::Nvme => Controller::Nvme,
    }
}

fn firmware(f: Firmware) -> &'static str {
    match f {
        Firmware::Efi => "efi",
        Firmware::Bios => "bios",
    }
}

/// The extra config deploy sets on a host's VM.
pub fn extra_config(lab: &str, p: &Planned) -> Vec<(String, String)> {
    let mut out = vec![
        (MARK_LAB.to_string(), lab.to_string()),
        (MARK_HOST.to_string(), p.host.name().to_string()),
    ];
    if let Some(uri) = &p.place.boot_uri {
        out.push(("networkBootProtocol".into(), "httpv4".into()));
        out.push(("networkBootUri".into(), uri.clone()));
    }
    if p.host.lab.vm.mac_learn_filter {
        for i in 0..p.host.lab.vm.macs.len() {
            out.push((
                format!("ethernet{i}.filter4.name"),
                "dvfilter-maclearn".into(),
            ));
            out.push((format!("ethernet{i}.filter4.onFailure"), "failOpen".into()));
        }
    }
    out
}

fn annotation(lab: &str, h: &Host) -> String {
    format!(
        "Nested {} host {} of lab {lab}, made by esxi-iso deploy from {}. \
         esxi-iso deploy --destroy removes it.",
        h.release,
        h.name(),
        h.iso.file
    )
}

/// The VM to create for a planned host.
pub fn vm_spec(lab: &str, p: &Planned) -> VmSpec {
    let vm = &p.host.lab.vm;
    VmSpec {
        name: vm.name.clone(),
        guest_id: p.host.guest_id.clone(),
        version: vm.hardware_version.clone(),
        annotation: annotation(lab, &p.host),
        datastore: p.place.datastore.name.clone(),
        cpus: vm.cpus,
        memory_mb: u64::from(vm.memory_gb) * 1024,
        controller: controller(vm.controller),
        disks_kb: vm.disks_gb.iter().map(|g| u64::from(*g) * GIB_KB).collect(),
        thin: vm.thin,
        nics: p.place.nics.clone(),
        cdrom: p.place.iso.as_ref().map(|i| i.path.clone()),
        extra_config: extra_config(lab, p),
        firmware: firmware(vm.firmware).into(),
        secure_boot: vm.secure_boot,
        nested_hv: true,
    }
}

/// The boot disk's key: the first disk on the VM's controller, unit 0.
pub fn boot_disk_key(vm: &VmInfo) -> Option<i32> {
    vm.disks()
        .filter_map(|d| match d {
            Device::Disk { key, unit, .. } => Some((*unit, *key)),
            _ => None,
        })
        .min()
        .map(|(_, key)| key)
}

/// The first NIC's key and MAC (NIC 0 is the one with the lowest key).
pub fn nics_of(vm: &VmInfo) -> Vec<(i32, String, String)> {
    let mut nics: Vec<(i32, String, String)> = vm
        .nics()
        .filter_map(|d| match d {
            Device::Nic {
                key, mac, network, ..
            } => Some((*key, mac.clone(), network.clone())),
            _ => None,
        })
        .collect();
    nics.sort();
    nics
}

/// Whether the boot order is the one deploy sets (disk, then CD or NIC 0).
pub fn boot_order_is_set(vm: &VmInfo) -> bool {
    matches!(vm.boot_order.first(), Some(Boot::Disk(k)) if Some(*k) == boot_disk_key(vm))
}

fn differ(out: &mut Vec<String>, what: &str, has: String, says: String) {
    if has != says {
        out.push(format!(
            "{what}: the VM has {has}, the inventory says {says}"
        ));
    }
}

/// What `vm`, this lab's VM for the host, has that the inventory does not
/// say: one line each.
pub fn differences(p: &Planned, vm: &VmInfo, detached: bool) -> Vec<String> {
    let want = &p.host.lab.vm;
    let mut out = Vec::new();
    differ(&mut out, "name", vm.name.clone(), want.name.clone());
    differ(
        &mut out,
        "vCPUs",
        vm.cpus.to_string(),
        want.cpus.to_string(),
    );
    differ(
        &mut out,
        "memory",
        format!("{} MB", vm.memory_mb),
        format!("{} MB", u64::from(want.memory_gb) * 1024),
    );
    differ(
        &mut out,
        "guest OS id",
        vm.guest_id.clone(),
        p.host.guest_id.clone(),
    );
    differ(
        &mut out,
        "firmware",
        vm.firmware.clone(),
        firmware(want.firmware).into(),
    );
    differ(
        &mut out,
        "Secure Boot",
        vm.secure_boot.to_string(),
        want.secure_boot.to_string(),
    );
    differ(
        &mut out,
        "hardware virtualization",
        vm.nested_hv.to_string(),
        "true".into(),
    );
    let disks: Vec<String> = {
        let mut d: Vec<(Option<i32>, u64)> = vm
            .disks()
            .filter_map(|d| match d {
                Device::Disk {
                    unit, capacity_kb, ..
                } => Some((*unit, *capacity_kb)),
                _ => None,
            })
            .collect();
        d.sort();
        d.iter()
            .map(|(_, kb)| format!("{} GB", kb / GIB_KB))
            .collect()
    };
    differ(
        &mut out,
        "disks",
        disks.join(", "),
        want.disks_gb
            .iter()
            .map(|g| format!("{g} GB"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let controllers: Vec<&str> = vm
        .disks()
        .filter_map(|d| match d {
            Device::Disk { controller_key, .. } => vm.controller_kind(*controller_key),
            _ => None,
        })
        .collect();
    if let Some(c) = controllers
        .iter()
        .find(|c| **c != controller(want.controller).type_name())
    {
        out.push(format!(
            "disk controller: the VM has {c}, the inventory says {}",
            controller(want.controller).type_name()
        ));
    }
    let nics = nics_of(vm);
    differ(
        &mut out,
        "MACs",
        nics.iter()
            .map(|n| n.1.clone())
            .collect::<Vec<_>>()
            .join(", "),
        want.macs
            .iter()
            .map(|m| m.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let networks: Vec<String> = p
        .place
        .nics
        .iter()
        .map(|n| match &n.backing {
            NicBacking::Network { name, .. } => name.clone(),
            NicBacking::Distributed { portgroup_key, .. } => portgroup_key.clone(),
        })
        .collect();
    differ(
        &mut out,
        "networks",
        nics.iter()
            .map(|n| n.2.clone())
            .collect::<Vec<_>>()
            .join(", "),
        networks.join(", "),
    );
    if let (Some(Device::Cdrom { iso, .. }), Some(place)) = (vm.cdrom(), &p.place.iso) {
        if !detached && iso.as_deref() != Some(place.path.as_str()) {
            out.push(format!(
                "CD: the VM has {}, the inventory says {}",
                iso.as_deref().unwrap_or("no ISO"),
                place.path
            ));
        }
    }
    if let Some(uri) = &p.place.boot_uri {
        differ(
            &mut out,
            "networkBootUri",
            vm.extra("networkBootUri").unwrap_or("none").to_string(),
            uri.clone(),
        );
    }
    out
}
