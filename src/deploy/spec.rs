//! A host's VM in vSphere's terms: the [`VmSpec`] deploy creates (what
//! nested ESXi needs: its guest OS id, hardware virtualization exposed,
//! vmxnet3 NICs with manual MACs, a SATA CD unless it boots over UEFI
//! HTTP, the lab's marker), how a VM boots its installer ([`boot_kind`],
//! [`boot_of_vm`]), the boot order it sets once the VM exists, and what an existing VM of the lab
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
use super::state::BootKind;
use super::target::{Planned, MARK_HOST, MARK_LAB};
use crate::lab::vm::{DiskController, Firmware};
use crate::lab::vmplan::Boot as LabBoot;
use crate::serve::installer::LOADER;
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
        h.installer()
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
    let want = boot_kind(p);
    match boot_of_vm(vm) {
        Some((has, _)) if has != want => out.push(format!(
            "boot: the VM has {}, the inventory says {}",
            describe_vm_boot(vm),
            describe_boot(want, p)
        )),
        None if want == BootKind::Cdrom => out.push(format!(
            "boot: the VM has {}, the inventory says {}",
            describe_vm_boot(vm),
            describe_boot(want, p)
        )),
        _ => {}
    }
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
        if boot_of_vm(vm).is_none_or(|(has, _)| has == want) {
            differ(
                &mut out,
                "networkBootUri",
                vm.extra("networkBootUri").unwrap_or("none").to_string(),
                uri.clone(),
            );
        }
    }
    out
}

/// How a planned host's VM boots its installer.
pub fn boot_kind(p: &Planned) -> BootKind {
    match p.host.lab.vm.boot {
        LabBoot::Cdrom { .. } => BootKind::Cdrom,
        LabBoot::Http { .. } => BootKind::Http,
        LabBoot::Network { .. } => BootKind::NetworkInstall,
    }
}

/// How a VM boots its installer, as its configuration says: UEFI HTTP
/// boot (of mboot.efi, a network install, or of an ISO) with its URI, or
/// a CD drive; None for neither.
pub fn boot_of_vm(vm: &VmInfo) -> Option<(BootKind, Option<String>)> {
    if vm.extra("networkBootProtocol").is_some() {
        let uri = vm.extra("networkBootUri").map(str::to_string);
        let kind = if uri
            .as_deref()
            .is_some_and(|u| u.to_ascii_lowercase().ends_with(&format!("/{LOADER}")))
        {
            BootKind::NetworkInstall
        } else {
            BootKind::Http
        };
        return Some((kind, uri));
    }
    vm.cdrom().map(|_| (BootKind::Cdrom, None))
}

fn describe_vm_boot(vm: &VmInfo) -> String {
    match boot_of_vm(vm) {
        Some((BootKind::Cdrom, _)) => "a CD drive".into(),
        Some((kind, uri)) => describe_uri(kind, uri.as_deref().unwrap_or("no URI")),
        None => "neither a CD drive nor UEFI HTTP boot".into(),
    }
}

fn describe_boot(kind: BootKind, p: &Planned) -> String {
    match (&p.place.iso, &p.place.boot_uri) {
        (Some(iso), _) => format!("its ISO in a CD drive ({})", iso.path),
        (None, Some(uri)) => describe_uri(kind, uri),
        (None, None) => "no boot source".into(),
    }
}

fn describe_uri(kind: BootKind, uri: &str) -> String {
    match kind {
        BootKind::NetworkInstall => format!("network install (UEFI HTTP boot of {uri})"),
        _ => format!("UEFI HTTP boot of {uri}"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::deploy::local::LabIso;
    use crate::deploy::local::Media;
    use crate::deploy::place::{IsoPlace, Placement};
    use crate::lab::mac::Mac;
    use crate::lab::vmplan::{LabHost, VmPlan};
    use crate::vsphere::inventory::{Datacenter, Datastore};
    use crate::vsphere::MoRef;

    pub(crate) fn planned(boot: LabBoot, mac_learn: bool) -> Planned {
        let macs = vec![
            Mac::derived("lab", "esx01", 0),
            Mac::derived("lab", "esx01", 1),
        ];
        let vm = VmPlan {
            name: "esx01".into(),
            datacenter: None,
            cluster: None,
            host: None,
            resource_pool: None,
            folder: None,
            datastore: "ds1".into(),
            networks: vec!["Trunk".into(), "Trunk".into()],
            cpus: 4,
            memory_gb: 16,
            disks_gb: vec![32, 100],
            controller: DiskController::Nvme,
            thin: true,
            macs: macs.clone(),
            firmware: Firmware::Efi,
            secure_boot: false,
            boot: boot.clone(),
            mac_learn_filter: mac_learn,
            guest_id: None,
            hardware_version: None,
        };
        let net = MoRef::new("Network", "network-1");
        Planned {
            host: Host {
                lab: LabHost {
                    hostname: "esx01".into(),
                    vm,
                },
                media: Media::Iso(LabIso {
                    path: "lab/esx01.iso".into(),
                    file: "esx01.iso".into(),
                    size: 1,
                    sha256: None,
                }),
                release: "ESXi 8.0.3".into(),
                guest_id: "vmkernel8Guest".into(),
            },
            place: Placement {
                datacenter: Datacenter {
                    moref: MoRef::new("Datacenter", "dc-1"),
                    name: "DC".into(),
                    path: "DC".into(),
                },
                folder: MoRef::new("Folder", "f"),
                folder_path: String::new(),
                compute: "C".into(),
                compute_hosts: Vec::new(),
                environment_browser: None,
                pool: MoRef::new("ResourcePool", "p"),
                host: None,
                datastore: Datastore {
                    moref: MoRef::new("Datastore", "d"),
                    name: "ds1".into(),
                    accessible: true,
                    kind: "VMFS".into(),
                    capacity: None,
                    free_space: None,
                    maintenance: None,
                },
                nics: macs
                    .iter()
                    .map(|m| crate::vsphere::vm::NicSpec {
                        mac: m.to_string(),
                        backing: NicBacking::Network {
                            name: "Trunk".into(),
                            moref: net.clone(),
                        },
                    })
                    .collect(),
                iso: match &boot {
                    LabBoot::Cdrom { .. } => Some(IsoPlace {
                        datastore: "ds1".into(),
                        folder: "esxi-iso/lab".into(),
                        path: "[ds1] esxi-iso/lab/esx01.iso".into(),
                        free_space: None,
                    }),
                    LabBoot::Http { .. } | LabBoot::Network { .. } => None,
                },
                boot_uri: match &boot {
                    LabBoot::Http { url } => Some(format!("{url}/esx01.iso")),
                    LabBoot::Network { uri } => Some(uri.clone()),
                    LabBoot::Cdrom { .. } => None,
                },
            },
            existing: None,
        }
    }

    pub(crate) fn cdrom() -> LabBoot {
        LabBoot::Cdrom {
            datastore: "ds1".into(),
            folder: "esxi-iso/lab".into(),
        }
    }

    #[test]
    fn extra_config_marks_and_boots() {
        let keys = |p: &Planned| -> Vec<String> {
            extra_config("lab", p)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        };
        assert_eq!(
            keys(&planned(cdrom(), false)),
            [
                "guestinfo.esxi-iso.lab=lab",
                "guestinfo.esxi-iso.host=esx01"
            ]
        );
        let http = planned(
            LabBoot::Http {
                url: "http://10.0.0.5:8080".into(),
            },
            true,
        );
        let k = keys(&http);
        assert!(
            k.contains(&"networkBootProtocol=httpv4".to_string()),
            "{k:?}"
        );
        assert!(
            k.contains(&"networkBootUri=http://10.0.0.5:8080/esx01.iso".to_string()),
            "{k:?}"
        );
        assert!(
            k.contains(&"ethernet1.filter4.name=dvfilter-maclearn".to_string()),
            "{k:?}"
        );
        assert!(
            k.contains(&"ethernet0.filter4.onFailure=failOpen".to_string()),
            "{k:?}"
        );
        let spec = vm_spec("lab", &http);
        assert_eq!(spec.disks_kb, [32 << 20, 100 << 20]);
        assert_eq!((spec.memory_mb, spec.cdrom.clone()), (16384, None));
        assert!(spec.nested_hv && spec.controller == Controller::Nvme);
    }

    /// A VM as deploy would have made `p`, read back.
    fn made(p: &Planned) -> VmInfo {
        let mut devices = vec![Device::Controller {
            key: 1000,
            kind: "VirtualNVMEController".into(),
        }];
        for (i, gb) in p.host.lab.vm.disks_gb.iter().enumerate() {
            devices.push(Device::Disk {
                key: 2000 + i as i32,
                controller_key: 1000,
                unit: Some(i as i32),
                capacity_kb: u64::from(*gb) << 20,
                file: String::new(),
                thin: Some(true),
            });
        }
        for (i, m) in p.host.lab.vm.macs.iter().enumerate() {
            devices.push(Device::Nic {
                key: 4000 + i as i32,
                kind: "VirtualVmxnet3".into(),
                mac: m.to_string(),
                address_type: "manual".into(),
                network: "Trunk".into(),
            });
        }
        VmInfo {
            moref: MoRef::new("VirtualMachine", "vm-1"),
            name: "esx01".into(),
            folder: None,
            power_state: "poweredOn".into(),
            guest_id: "vmkernel8Guest".into(),
            version: "vmx-19".into(),
            cpus: 4,
            memory_mb: 16384,
            firmware: "efi".into(),
            secure_boot: false,
            nested_hv: true,
            annotation: String::new(),
            devices,
            boot_order: vec![Boot::Disk(2000), Boot::Ethernet(4000)],
            extra_config: extra_config("lab", p),
            guest: Default::default(),
        }
    }

    #[test]
    fn differences_name_what_the_inventory_no_longer_says() {
        let p = planned(
            LabBoot::Http {
                url: "http://10.0.0.5:8080".into(),
            },
            false,
        );
        let vm = made(&p);
        assert_eq!(differences(&p, &vm, false), Vec::<String>::new());
        assert!(boot_order_is_set(&vm));
        assert_eq!(boot_disk_key(&vm), Some(2000));
        let mut other = vm.clone();
        other.memory_mb = 8192;
        other
            .devices
            .retain(|d| !matches!(d, Device::Nic { key: 4001, .. }));
        other.boot_order.clear();
        let d = differences(&p, &other, false);
        assert_eq!(d.len(), 3, "{d:#?}");
        assert_eq!(
            d[0],
            "memory: the VM has 8192 MB, the inventory says 16384 MB"
        );
        assert!(d[1].starts_with("MACs: the VM has 00:50:56:"), "{d:#?}");
        assert!(d[2].starts_with("networks: the VM has Trunk, the inventory says Trunk, Trunk"));
        assert!(!boot_order_is_set(&other));
        // A CD emptied after the install is not a difference.
        let p = planned(cdrom(), false);
        let mut vm = made(&p);
        vm.devices.push(Device::Cdrom {
            key: 3000,
            controller_key: 15000,
            iso: None,
            start_connected: false,
            raw: Default::default(),
        });
        assert_eq!(differences(&p, &vm, true), Vec::<String>::new());
        assert_eq!(
            differences(&p, &vm, false),
            ["CD: the VM has no ISO, the inventory says [ds1] esxi-iso/lab/esx01.iso"]
        );
        // A VM made for network install, and the lab folder now says
        // otherwise: another boot URI, or an ISO in a CD drive.
        let uri = "http://10.0.0.5:8080/ESXi-8/efi/boot/bootx64.efi";
        let net = planned(LabBoot::Network { uri: uri.into() }, false);
        let vm = made(&net);
        assert_eq!(
            boot_of_vm(&vm),
            Some((BootKind::NetworkInstall, Some(uri.to_string())))
        );
        assert_eq!(differences(&net, &vm, false), Vec::<String>::new());
        let moved = planned(
            LabBoot::Network {
                uri: uri.replace("10.0.0.5", "10.0.0.6"),
            },
            false,
        );
        assert_eq!(
            differences(&moved, &vm, false),
            [format!(
                "networkBootUri: the VM has {uri}, the inventory says {}",
                uri.replace("10.0.0.5", "10.0.0.6")
            )]
        );
        assert_eq!(
            differences(&p, &vm, false),
            [format!(
                "boot: the VM has network install (UEFI HTTP boot of {uri}), the inventory \
                 says its ISO in a CD drive ([ds1] esxi-iso/lab/esx01.iso)"
            )]
        );
        let http = planned(
            LabBoot::Http {
                url: "http://10.0.0.5:8080".into(),
            },
            false,
        );
        assert_eq!(
            differences(&http, &vm, false),
            [format!(
                "boot: the VM has network install (UEFI HTTP boot of {uri}), the inventory \
                 says UEFI HTTP boot of http://10.0.0.5:8080/esx01.iso"
            )]
        );
    }
}
