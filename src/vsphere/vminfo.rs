//! Reading VMs back: the VMs of a datacenter (name, folder, extra config,
//! devices, power state), and one VM in full (its `config`, `runtime`
//! and `guest`), as plain values: devices by kind with their keys, MACs,
//! backings and controllers, the boot order, extra config as pairs.
//!
//! vim25: `VirtualMachine` (name, parent, config, runtime, guest),
//! `VirtualMachineConfigInfo` (guestId, version, hardware.numCPU,
//! hardware.memoryMB, hardware.device, extraConfig, bootOptions,
//! firmware, nestedHVEnabled, annotation), `GuestInfo` (toolsRunningStatus,
//! ipAddress, hostName). govmomi's simulator appends an extra config key
//! that is set twice, so the last value of a key is the one that counts.

use anyhow::Result;

use super::inventory::{FilterSpec, ObjectContent, ObjectSpec, PropertySpec, Selection};
use super::soap::Vim;
use super::xml::Element;
use super::MoRef;

/// A device of a VM, as far as deploy looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    Disk {
        key: i32,
        controller_key: i32,
        unit: Option<i32>,
        capacity_kb: u64,
        file: String,
        thin: Option<bool>,
    },
    Nic {
        key: i32,
        /// `VirtualVmxnet3`, `VirtualE1000e`, ...
        kind: String,
        mac: String,
        address_type: String,
        /// The port group's name (standard) or key (distributed).
        network: String,
    },
    Cdrom {
        key: i32,
        controller_key: i32,
        /// The ISO, when the backing is one.
        iso: Option<String>,
        start_connected: bool,
        /// The device as read, for an edit.
        raw: Element,
    },
    Controller {
        key: i32,
        kind: String,
    },
    Other,
}

/// One entry of the boot order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    Disk(i32),
    Cdrom,
    Ethernet(i32),
    Other(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Guest {
    /// `guestToolsRunning`, `guestToolsNotRunning`, ...
    pub tools_running: Option<String>,
    pub ip: Option<String>,
    pub host_name: Option<String>,
}

/// A VM, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmInfo {
    pub moref: MoRef,
    pub name: String,
    pub folder: Option<MoRef>,
    pub power_state: String,
    pub guest_id: String,
    pub version: String,
    pub cpus: u32,
    pub memory_mb: u64,
    pub firmware: String,
    pub secure_boot: bool,
    pub nested_hv: bool,
    pub annotation: String,
    pub devices: Vec<Device>,
    pub boot_order: Vec<Boot>,
    pub extra_config: Vec<(String, String)>,
    pub guest: Guest,
}

impl VmInfo {
    /// The last value of an extra config key.
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra_config
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn nics(&self) -> impl Iterator<Item = &Device> {
        self.devices
            .iter()
            .filter(|d| matches!(d, Device::Nic { .. }))
    }

    pub fn disks(&self) -> impl Iterator<Item = &Device> {
        self.devices
            .iter()
            .filter(|d| matches!(d, Device::Disk { .. }))
    }

    pub fn cdrom(&self) -> Option<&Device> {
        self.devices
            .iter()
            .find(|d| matches!(d, Device::Cdrom { .. }))
    }

    /// The kind of controller a device hangs from.
    pub fn controller_kind(&self, key: i32) -> Option<&str> {
        self.devices.iter().find_map(|d| match d {
            Device::Controller { key: k, kind } if *k == key => Some(kind.as_str()),
            _ => None,
        })
    }
}

fn int<T: std::str::FromStr>(e: &Element, name: &str) -> Option<T> {
    e.child_text(name).and_then(|t| t.trim().parse().ok())
}

fn text(e: &Element, name: &str) -> String {
    e.child_text(name).unwrap_or_default().trim().to_string()
}

/// A device element of `config.hardware.device`.
pub fn read_device(d: &Element) -> Device {
    let kind = d.xsi_type().unwrap_or_default().to_string();
    let key = int(d, "key").unwrap_or(0);
    let backing = d.child("backing");
    let btext = |n: &str| backing.map(|b| text(b, n)).unwrap_or_default();
    match kind.as_str() {
        "VirtualDisk" => Device::Disk {
            key,
            controller_key: int(d, "controllerKey").unwrap_or(0),
            unit: int(d, "unitNumber"),
            capacity_kb: int(d, "capacityInKB").unwrap_or(0),
            file: btext("fileName"),
            thin: backing
                .and_then(|b| b.child_text("thinProvisioned"))
                .map(|t| t.trim() == "true"),
        },
        "VirtualCdrom" => Device::Cdrom {
            key,
            controller_key: int(d, "controllerKey").unwrap_or(0),
            iso: backing
                .filter(|b| b.xsi_type() == Some("VirtualCdromIsoBackingInfo"))
                .map(|b| text(b, "fileName")),
            start_connected: d
                .path(&["connectable", "startConnected"])
                .is_some_and(|s| s.text.trim() == "true"),
            raw: d.clone(),
        },
        k if d.child("addressType").is_some()
            || d.child("macAddress").is_some()
            || k.starts_with("VirtualVmxnet")
            || k.starts_with("VirtualE1000") =>
        {
            let network = match backing {
                Some(b) if b.child("port").is_some() => b
                    .path(&["port", "portgroupKey"])
                    .map(|p| p.text.trim().to_string())
                    .unwrap_or_default(),
                Some(b) => text(b, "deviceName"),
                None => String::new(),
            };
            Device::Nic {
                key,
                kind,
                mac: text(d, "macAddress").to_ascii_lowercase(),
                address_type: text(d, "addressType"),
                network,
            }
        }
        k if k.ends_with("Controller") => Device::Controller { key, kind },
        _ => Device::Other,
    }
}

/// The VM of one property-collector object (its `config`, `runtime`,
/// `guest`, or their parts, whichever were read).
pub fn read_vm(o: &ObjectContent) -> VmInfo {
    let config = o.prop("config");
    let cfg = |path: &[&str]| config.and_then(|c| c.path(path));
    // A property read of a path gives the array (children named by
    // type); the whole config has one element per value.
    let devices: Vec<Device> = match o.prop("config.hardware.device") {
        Some(array) => array.children.iter().map(read_device).collect(),
        None => cfg(&["hardware"])
            .map(|h| h.children_named("device").map(read_device).collect())
            .unwrap_or_default(),
    };
    let extras: Vec<&Element> = match o.prop("config.extraConfig") {
        Some(array) => array.children.iter().collect(),
        None => config
            .map(|c| c.children_named("extraConfig").collect())
            .unwrap_or_default(),
    };
    let extra_config = extras
        .iter()
        .filter_map(|ov| Some((text(ov, "key"), ov.child_text("value")?.to_string())))
        .collect();
    let boot_order = cfg(&["bootOptions"])
        .map(|b| {
            b.children_named("bootOrder")
                .map(|d| match d.xsi_type().unwrap_or_default() {
                    "VirtualMachineBootOptionsBootableDiskDevice" => {
                        Boot::Disk(int(d, "deviceKey").unwrap_or(0))
                    }
                    "VirtualMachineBootOptionsBootableCdromDevice" => Boot::Cdrom,
                    "VirtualMachineBootOptionsBootableEthernetDevice" => {
                        Boot::Ethernet(int(d, "deviceKey").unwrap_or(0))
                    }
                    other => Boot::Other(other.to_string()),
                })
                .collect()
        })
        .unwrap_or_default();
    let guest = o.prop("guest").map(|g| Guest {
        tools_running: g
            .child_text("toolsRunningStatus")
            .map(|t| t.trim().to_string()),
        ip: g
            .child_text("ipAddress")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        host_name: g
            .child_text("hostName")
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
    });
    let power_state = o
        .prop("runtime")
        .and_then(|r| r.child_text("powerState"))
        .or(o.text("runtime.powerState"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let ctext = |path: &[&str]| {
        cfg(path)
            .map(|e| e.text.trim().to_string())
            .unwrap_or_default()
    };
    VmInfo {
        moref: o.obj.clone(),
        name: o.text("name").unwrap_or(&o.obj.value).trim().to_string(),
        folder: o.prop("parent").and_then(MoRef::from_element),
        power_state,
        guest_id: ctext(&["guestId"]),
        version: ctext(&["version"]),
        cpus: ctext(&["hardware", "numCPU"]).parse().unwrap_or(0),
        memory_mb: ctext(&["hardware", "memoryMB"]).parse().unwrap_or(0),
        firmware: ctext(&["firmware"]),
        secure_boot: ctext(&["bootOptions", "efiSecureBootEnabled"]) == "true",
        nested_hv: ctext(&["nestedHVEnabled"]) == "true",
        annotation: ctext(&["annotation"]),
        devices,
        boot_order,
        extra_config,
        guest: guest.unwrap_or_default(),
    }
}

impl Vim<'_> {
    /// Every VM below `root` (a datacenter's VM folder), with what tells
    /// whose it is and what MACs it uses: name, folder, extra config,
    /// devices, power state.
    pub fn vms_below(&self, root: &MoRef) -> Result<Vec<VmInfo>> {
        let spec = FilterSpec {
            props: vec![PropertySpec::new(
                "VirtualMachine",
                &[
                    "name",
                    "parent",
                    "config.extraConfig",
                    "config.hardware.device",
                    "runtime.powerState",
                ],
            )],
            objects: vec![ObjectSpec {
                obj: root.clone(),
                skip: true,
                select: vec![Selection::traverse(
                    "folder",
                    "Folder",
                    "childEntity",
                    &["folder"],
                )],
            }],
        };
        Ok(self
            .retrieve(&spec)?
            .iter()
            .filter(|o| o.obj.kind == "VirtualMachine")
            .map(read_vm)
            .collect())
    }

    /// VMs in full: config, runtime, guest.
    pub fn vms(&self, vms: &[MoRef]) -> Result<Vec<VmInfo>> {
        if vms.is_empty() {
            return Ok(Vec::new());
        }
        let spec = FilterSpec::of_objects(
            "VirtualMachine",
            &["name", "parent", "config", "runtime", "guest"],
            vms,
        );
        Ok(self.retrieve(&spec)?.iter().map(read_vm).collect())
    }
}
