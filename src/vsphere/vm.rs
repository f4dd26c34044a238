//! Creating and changing VMs: a [`VmSpec`] (what a VM is to be, in plain
//! terms) as the `VirtualMachineConfigSpec` of `Folder.CreateVM_Task`,
//! the specs of the later `ReconfigVM_Task` calls (boot order, a CD's ISO
//! taken out), and `PowerOnVM_Task`, `PowerOffVM_Task`, `Destroy_Task`.
//!
//! Every data object is written in the WSDL's order (govmomi's
//! `vim25/types`, pyvmomi agree): `VirtualMachineConfigSpec` (name,
//! version, guestId, annotation, files, numCPUs, memoryMB, deviceChange,
//! extraConfig, bootOptions, firmware, nestedHVEnabled),
//! `VirtualDeviceConfigSpec` (operation, fileOperation, device),
//! `VirtualDevice` (key, deviceInfo, backing, connectable, controllerKey,
//! unitNumber) and its subtypes' own fields after it. New devices carry
//! negative keys, which the server replaces; a disk or CD names its new
//! controller by that key in the same spec. The boot order refers to
//! device keys the server chose, so it is set by a second call once the
//! VM exists ([`boot_order_spec`]).
//!
//! Not covered: vApp options, storage policies, encryption, CPU or memory
//! reservations.

use anyhow::{bail, Result};

use super::soap::Vim;
use super::task::{task_of, Wait};
use super::xml::{Element, Node};
use super::MoRef;

/// The disk controller every disk hangs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// `ParaVirtualSCSIController` (unit 7 is the controller's own).
    Pvscsi,
    /// `VirtualNVMEController` (vSAN ESA wants NVMe devices).
    Nvme,
}

impl Controller {
    pub fn type_name(self) -> &'static str {
        match self {
            Controller::Pvscsi => "ParaVirtualSCSIController",
            Controller::Nvme => "VirtualNVMEController",
        }
    }

    /// The unit numbers of the first `n` disks.
    pub fn units(self, n: usize) -> Vec<i32> {
        match self {
            Controller::Pvscsi => (0..16).filter(|u| *u != 7).take(n).collect(),
            Controller::Nvme => (0..15).take(n).collect(),
        }
    }

    /// Most disks on one controller.
    pub fn max_disks(self) -> usize {
        15
    }
}

/// What a NIC is plugged into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicBacking {
    /// A standard port group (or any `Network`), by name and reference.
    Network { name: String, moref: MoRef },
    /// A distributed port group: its switch's uuid and its key.
    Distributed {
        switch_uuid: String,
        portgroup_key: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    /// `00:50:56:..`, set as a manual (static) address.
    pub mac: String,
    pub backing: NicBacking,
}

/// A new VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmSpec {
    pub name: String,
    pub guest_id: String,
    /// `vmx-19`; None: the server's default for the compute resource.
    pub version: Option<String>,
    pub annotation: String,
    /// Where the VM's folder goes: `[datastore]`.
    pub datastore: String,
    pub cpus: u32,
    pub memory_mb: u64,
    pub controller: Controller,
    /// Sizes in KiB, the boot disk first; thin or thick (lazy zeroed).
    pub disks_kb: Vec<u64>,
    pub thin: bool,
    pub nics: Vec<NicSpec>,
    /// An ISO on a SATA CD drive, connected at power-on:
    /// `[datastore] folder/file.iso`.
    pub cdrom: Option<String>,
    pub extra_config: Vec<(String, String)>,
    /// `efi` or `bios`.
    pub firmware: String,
    pub secure_boot: bool,
    pub nested_hv: bool,
}

fn bool_node(name: &str, value: bool) -> Node {
    Node::text(name, if value { "true" } else { "false" })
}

fn num(name: &str, value: impl ToString) -> Node {
    Node::text(name, &value.to_string())
}

fn add(device: Node, create_file: bool) -> Node {
    let mut spec = Node::new("deviceChange").child(Node::text("operation", "add"));
    if create_file {
        spec = spec.child(Node::text("fileOperation", "create"));
    }
    spec.child(device)
}

fn connectable(start_connected: bool) -> Node {
    Node::new("connectable")
        .child(bool_node("startConnected", start_connected))
        .child(bool_node("allowGuestControl", true))
        .child(bool_node("connected", false))
}

const CONTROLLER_KEY: i32 = -100;
const SATA_KEY: i32 = -101;

/// The `config` of CreateVM_Task.
pub fn config_spec(spec: &VmSpec) -> Node {
    let mut changes = Vec::new();
    let mut next_key = -200;
    let mut key = || {
        next_key -= 1;
        next_key
    };
    let mut controller = Node::new("device")
        .attr("xsi:type", spec.controller.type_name())
        .child(num("key", CONTROLLER_KEY))
        .child(num("busNumber", 0));
    if spec.controller == Controller::Pvscsi {
        controller = controller
            .child(bool_node("hotAddRemove", true))
            .child(Node::text("sharedBus", "noSharing"));
    }
    changes.push(add(controller, false));
    for (size, unit) in spec
        .disks_kb
        .iter()
        .zip(spec.controller.units(spec.disks_kb.len()))
    {
        let backing = Node::new("backing")
            .attr("xsi:type", "VirtualDiskFlatVer2BackingInfo")
            .child(Node::text("fileName", ""))
            .child(Node::text("diskMode", "persistent"))
            .child(bool_node("thinProvisioned", spec.thin));
        let disk = Node::new("device")
            .attr("xsi:type", "VirtualDisk")
            .child(num("key", key()))
            .child(backing)
            .child(num("controllerKey", CONTROLLER_KEY))
            .child(num("unitNumber", unit))
            .child(num("capacityInKB", size));
        changes.push(add(disk, true));
    }
    for nic in &spec.nics {
        let backing = match &nic.backing {
            NicBacking::Network { name, moref } => Node::new("backing")
                .attr("xsi:type", "VirtualEthernetCardNetworkBackingInfo")
                .child(Node::text("deviceName", name))
                .child(moref.node("network")),
            NicBacking::Distributed {
                switch_uuid,
                portgroup_key,
            } => Node::new("backing")
                .attr(
                    "xsi:type",
                    "VirtualEthernetCardDistributedVirtualPortBackingInfo",
                )
                .child(
                    Node::new("port")
                        .child(Node::text("switchUuid", switch_uuid))
                        .child(Node::text("portgroupKey", portgroup_key)),
                ),
        };
        let card = Node::new("device")
            .attr("xsi:type", "VirtualVmxnet3")
            .child(num("key", key()))
            .child(backing)
            .child(connectable(true))
            .child(Node::text("addressType", "manual"))
            .child(Node::text("macAddress", &nic.mac));
        changes.push(add(card, false));
    }
    if let Some(iso) = &spec.cdrom {
        let sata = Node::new("device")
            .attr("xsi:type", "VirtualAHCIController")
            .child(num("key", SATA_KEY))
            .child(num("busNumber", 0));
        changes.push(add(sata, false));
        let cd = Node::new("device")
            .attr("xsi:type", "VirtualCdrom")
            .child(num("key", key()))
            .child(
                Node::new("backing")
                    .attr("xsi:type", "VirtualCdromIsoBackingInfo")
                    .child(Node::text("fileName", iso)),
            )
            .child(connectable(true))
            .child(num("controllerKey", SATA_KEY))
            .child(num("unitNumber", 0));
        changes.push(add(cd, false));
    }
    let mut config = Node::new("config").child(Node::text("name", &spec.name));
    if let Some(v) = &spec.version {
        config = config.child(Node::text("version", v));
    }
    config
        .child(Node::text("guestId", &spec.guest_id))
        .child(Node::text("annotation", &spec.annotation))
        .child(Node::new("files").child(Node::text("vmPathName", &format!("[{}]", spec.datastore))))
        .child(num("numCPUs", spec.cpus))
        .child(num("memoryMB", spec.memory_mb))
        .children(changes)
        .children(spec.extra_config.iter().map(|(k, v)| option_value(k, v)))
        .child(Node::new("bootOptions").child(bool_node("efiSecureBootEnabled", spec.secure_boot)))
        .child(Node::text("firmware", &spec.firmware))
        .child(bool_node("nestedHVEnabled", spec.nested_hv))
}

/// One `extraConfig` entry (`OptionValue`, a string value).
pub fn option_value(key: &str, value: &str) -> Node {
    Node::new("extraConfig")
        .attr("xsi:type", "OptionValue")
        .child(Node::text("key", key))
        .child(Node::text("value", value).attr("xsi:type", "xsd:string"))
}

/// What the VM boots after its disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    Cdrom,
    /// The NIC of that key (UEFI HTTP boot, or PXE).
    Ethernet(i32),
}

/// A ReconfigVM_Task spec that sets the boot order: the disk of
/// `disk_key`, then the CD or a NIC. An empty disk falls through to the
/// next device; an installed one boots.
pub fn boot_order_spec(disk_key: i32, then: Then, secure_boot: bool) -> Node {
    let second = match then {
        Then::Cdrom => {
            Node::new("bootOrder").attr("xsi:type", "VirtualMachineBootOptionsBootableCdromDevice")
        }
        Then::Ethernet(key) => Node::new("bootOrder")
            .attr(
                "xsi:type",
                "VirtualMachineBootOptionsBootableEthernetDevice",
            )
            .child(num("deviceKey", key)),
    };
    Node::new("spec").child(
        Node::new("bootOptions")
            .child(bool_node("efiSecureBootEnabled", secure_boot))
            .child(
                Node::new("bootOrder")
                    .attr("xsi:type", "VirtualMachineBootOptionsBootableDiskDevice")
                    .child(num("deviceKey", disk_key)),
            )
            .child(second),
    )
}

/// A ReconfigVM_Task spec that takes the ISO out of the CD drive `cdrom`
/// (the device as read back): the drive stays, with no media, and does
/// not connect at power-on.
pub fn eject_spec(cdrom: &Element) -> Result<Node> {
    let text = |n: &str| cdrom.child_text(n).map(|t| t.trim().to_string());
    let (Some(key), Some(controller)) = (text("key"), text("controllerKey")) else {
        bail!("the CD drive as read has no key or controller");
    };
    let mut device = Node::new("device")
        .attr("xsi:type", "VirtualCdrom")
        .child(Node::text("key", &key));
    let info = cdrom.child("deviceInfo");
    let label = info
        .and_then(|i| i.child_text("label"))
        .unwrap_or("CD/DVD drive 1");
    device = device
        .child(
            Node::new("deviceInfo")
                .child(Node::text("label", label.trim()))
                .child(Node::text("summary", "Remote device")),
        )
        .child(
            Node::new("backing")
                .attr("xsi:type", "VirtualCdromRemotePassthroughBackingInfo")
                .child(Node::text("deviceName", ""))
                .child(bool_node("useAutoDetect", false))
                .child(bool_node("exclusive", false)),
        )
        .child(connectable(false))
        .child(Node::text("controllerKey", &controller));
    if let Some(unit) = text("unitNumber") {
        device = device.child(Node::text("unitNumber", &unit));
    }
    Ok(Node::new("spec").child(
        Node::new("deviceChange")
            .child(Node::text("operation", "edit"))
            .child(device),
    ))
}

impl Vim<'_> {
    /// Folder.CreateVM_Task: the new VM's reference once the task ends.
    pub fn create_vm(
        &self,
        folder: &MoRef,
        spec: &VmSpec,
        pool: &MoRef,
        host: Option<&MoRef>,
        wait: &Wait,
    ) -> Result<MoRef> {
        let mut args = vec![config_spec(spec), pool.node("pool")];
        args.extend(host.map(|h| h.node("host")));
        let answer = self.call("CreateVM_Task", folder, args)?;
        let task = task_of(&answer, "CreateVM_Task")?;
        let result = self.wait_task_result(&task, "CreateVM_Task", wait)?;
        match result.as_ref().and_then(MoRef::from_element) {
            Some(vm) => Ok(vm),
            None => bail!(
                "CreateVM_Task on {} succeeded without naming the new VM",
                self.server().host
            ),
        }
    }

    /// ReconfigVM_Task with `spec` (a `<spec>` node).
    pub fn reconfigure_vm(&self, vm: &MoRef, spec: Node, wait: &Wait) -> Result<()> {
        self.vm_task("ReconfigVM_Task", vm, vec![spec], wait)
    }

    pub fn power_on(&self, vm: &MoRef, wait: &Wait) -> Result<()> {
        self.vm_task("PowerOnVM_Task", vm, Vec::new(), wait)
    }

    pub fn power_off(&self, vm: &MoRef, wait: &Wait) -> Result<()> {
        self.vm_task("PowerOffVM_Task", vm, Vec::new(), wait)
    }

    /// Destroy_Task: the VM and every file in its folder (its disks).
    pub fn destroy(&self, vm: &MoRef, wait: &Wait) -> Result<()> {
        self.vm_task("Destroy_Task", vm, Vec::new(), wait)
    }

    fn vm_task(&self, method: &str, vm: &MoRef, args: Vec<Node>, wait: &Wait) -> Result<()> {
        let answer = self.call(method, vm, args)?;
        let task = task_of(&answer, method)?;
        self.wait_task_result(&task, method, wait)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;

    fn spec() -> VmSpec {
        VmSpec {
            name: "esx01".into(),
            guest_id: "vmkernel8Guest".into(),
            version: None,
            annotation: "lab".into(),
            datastore: "ds1".into(),
            cpus: 4,
            memory_mb: 16384,
            controller: Controller::Pvscsi,
            disks_kb: vec![33554432, 104857600],
            thin: true,
            nics: vec![NicSpec {
                mac: "00:50:56:08:3a:3d".into(),
                backing: NicBacking::Network {
                    name: "VM Network".into(),
                    moref: MoRef::new("Network", "network-7"),
                },
            }],
            cdrom: Some("[ds1] isos/esx01.iso".into()),
            extra_config: vec![("guestinfo.esxi-iso.lab".into(), "lab".into())],
            firmware: "efi".into(),
            secure_boot: false,
            nested_hv: true,
        }
    }

    /// The element names of `node`'s children, in order.
    fn order(node: &Node) -> Vec<String> {
        let mut out = String::from(
            "<r xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">",
        );
        node.write(&mut out).unwrap();
        out.push_str("</r>");
        parse(out.as_bytes()).unwrap().children[0]
            .children
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    #[test]
    fn the_config_spec_follows_the_wsdl_order() {
        let s = spec();
        let config = config_spec(&s);
        let names = order(&config);
        let want = [
            "name",
            "guestId",
            "annotation",
            "files",
            "numCPUs",
            "memoryMB",
            "deviceChange",
            "deviceChange",
            "deviceChange",
            "deviceChange",
            "deviceChange",
            "deviceChange",
            "extraConfig",
            "bootOptions",
            "firmware",
            "nestedHVEnabled",
        ];
        assert_eq!(names, want);
        let mut out = String::new();
        config.write(&mut out).unwrap();
        // Disks on the controller by its temporary key, units 0 and 1.
        assert!(out.contains(
            "<controllerKey>-100</controllerKey><unitNumber>1</unitNumber><capacityInKB>104857600</capacityInKB>"
        ), "{out}");
        assert!(out.contains(
            "<addressType>manual</addressType><macAddress>00:50:56:08:3a:3d</macAddress>"
        ));
        assert!(out.contains("<fileName>[ds1] isos/esx01.iso</fileName>"));
        assert!(out.contains("<value xsi:type=\"xsd:string\">lab</value>"));
        let mut nvme = s.clone();
        nvme.controller = Controller::Nvme;
        nvme.cdrom = None;
        nvme.version = Some("vmx-19".into());
        let names = order(&config_spec(&nvme));
        assert_eq!(&names[..3], ["name", "version", "guestId"]);
        assert_eq!(names.iter().filter(|n| *n == "deviceChange").count(), 4);
    }

    #[test]
    fn pvscsi_skips_its_own_unit() {
        assert_eq!(Controller::Pvscsi.units(9), [0, 1, 2, 3, 4, 5, 6, 8, 9]);
        assert_eq!(Controller::Nvme.units(3), [0, 1, 2]);
        assert_eq!(
            Controller::Pvscsi.units(20).len(),
            Controller::Pvscsi.max_disks()
        );
    }

    #[test]
    fn boot_order_and_eject() {
        let mut out = String::new();
        boot_order_spec(2000, Then::Cdrom, false)
            .write(&mut out)
            .unwrap();
        assert_eq!(
            out,
            "<spec><bootOptions><efiSecureBootEnabled>false</efiSecureBootEnabled>\
             <bootOrder xsi:type=\"VirtualMachineBootOptionsBootableDiskDevice\"><deviceKey>2000</deviceKey></bootOrder>\
             <bootOrder xsi:type=\"VirtualMachineBootOptionsBootableCdromDevice\"/></bootOptions></spec>"
        );
        let cd = parse(
            br#"<device xmlns="urn:vim25"><key>16000</key><deviceInfo><label>CD/DVD drive 1</label>
            <summary>ISO [ds1] esx01.iso</summary></deviceInfo><controllerKey>15000</controllerKey>
            <unitNumber>0</unitNumber></device>"#,
        )
        .unwrap();
        let mut out = String::new();
        eject_spec(&cd).unwrap().write(&mut out).unwrap();
        assert!(out.starts_with("<spec><deviceChange><operation>edit</operation><device xsi:type=\"VirtualCdrom\"><key>16000</key><deviceInfo>"), "{out}");
        assert!(out.contains("VirtualCdromRemotePassthroughBackingInfo"));
        assert!(out.ends_with("<controllerKey>15000</controllerKey><unitNumber>0</unitNumber></device></deviceChange></spec>"), "{out}");
        assert!(eject_spec(&parse(b"<device/>").unwrap()).is_err());
    }
}
