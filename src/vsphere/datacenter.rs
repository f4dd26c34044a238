//! What a datacenter holds, read in one property-collector pass from the
//! datacenter down: its VM folders, compute resources (clusters and
//! standalone hosts) with their hosts and resource pools, and its
//! networks (standard port groups, distributed port groups with their
//! switch, NSX opaque networks). Each object gets its path below the
//! root it hangs from (`Labs/lab1` below the VM folder, `Cluster1` below
//! the host folder, `Nested` below a cluster's root pool `Resources`), so
//! the names a user writes can be matched and the ones that are there
//! listed.
//!
//! vim25: `Datacenter` (hostFolder, vmFolder, networkFolder),
//! `Folder.childEntity`, `ComputeResource` (host, resourcePool,
//! environmentBrowser; `ClusterComputeResource` is one),
//! `ResourcePool.resourcePool`, `HostSystem` (configManager, runtime,
//! summary: the ESXi version it runs),
//! `Network.host`, `DistributedVirtualPortgroup` (key, config),
//! `DistributedVirtualSwitch` (uuid, config). Whole objects are read
//! (`config`, `runtime`), not paths into them: govmomi 0.24's simulator
//! can crash on a path to an unset value.

use std::collections::HashMap;

use anyhow::{anyhow, Result};

use super::inventory::{
    Datacenter, FilterSpec, ObjectContent, ObjectSpec, PropertySpec, Selection,
};
use super::soap::Vim;
use super::xml::Element;
use super::MoRef;

/// A VM folder, by its path below the datacenter's VM folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub moref: MoRef,
    /// `Labs/lab1`; empty for the VM folder itself.
    pub path: String,
}

/// A cluster or a standalone host's compute resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compute {
    pub moref: MoRef,
    pub name: String,
    /// Below the host folder: `Cluster1`, `Site A/Cluster1`.
    pub path: String,
    pub cluster: bool,
    pub root_pool: Option<MoRef>,
    pub hosts: Vec<MoRef>,
    pub environment_browser: Option<MoRef>,
}

/// An ESXi host of the datacenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub moref: MoRef,
    pub name: String,
    /// Its compute resource.
    pub compute: Option<MoRef>,
    pub network_system: Option<MoRef>,
    /// `runtime.connectionState` is `connected`.
    pub connected: bool,
    pub maintenance: bool,
    /// The ESXi it runs (`summary.config.product.version`: `8.0.3`).
    pub version: Option<String>,
}

/// A resource pool below a compute resource's root pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub moref: MoRef,
    pub name: String,
    /// Below the root pool (`Nested`, `Labs/lab1`); empty for the root.
    pub path: String,
    pub compute: MoRef,
}

/// What kind of network a VM's NIC would join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetKind {
    /// A standard switch's port group (`Network`): each host has its own.
    Standard,
    /// A distributed port group: its key, its switch, and its `config`
    /// as read (`DVPortgroupConfigInfo`).
    Distributed {
        key: String,
        switch: Option<MoRef>,
        config: Option<Element>,
    },
    /// An NSX segment (`OpaqueNetwork`).
    Opaque,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub moref: MoRef,
    pub name: String,
    pub kind: NetKind,
    /// The hosts that have it.
    pub hosts: Vec<MoRef>,
}

/// A distributed switch: its uuid (what a NIC's backing names) and
/// `config` as read (`defaultPortConfig` is what port groups inherit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub moref: MoRef,
    pub name: String,
    pub uuid: String,
    pub config: Option<Element>,
}

/// A datacenter's contents.
#[derive(Debug, Clone)]
pub struct Contents {
    pub datacenter: Datacenter,
    pub vm_folder: MoRef,
    pub folders: Vec<Folder>,
    pub computes: Vec<Compute>,
    pub hosts: Vec<Host>,
    pub pools: Vec<Pool>,
    pub networks: Vec<Network>,
    pub switches: Vec<Switch>,
}

impl Contents {
    pub fn host(&self, moref: &MoRef) -> Option<&Host> {
        self.hosts.iter().find(|h| &h.moref == moref)
    }

    pub fn switch(&self, moref: &MoRef) -> Option<&Switch> {
        self.switches.iter().find(|s| &s.moref == moref)
    }
}

const FROM_FOLDER: &[&str] = &["folder", "compute-host", "compute-pool"];
const COMPUTE: &[&str] = &[
    "name",
    "parent",
    "resourcePool",
    "host",
    "environmentBrowser",
];
const SWITCH: &[&str] = &["name", "uuid", "config"];

impl Vim<'_> {
    /// Everything of `dc` a VM's placement and networks are chosen from.
    pub fn datacenter_contents(&self, dc: &Datacenter) -> Result<Contents> {
        let spec = FilterSpec {
            props: vec![
                PropertySpec::new("Datacenter", &["hostFolder", "vmFolder", "networkFolder"]),
                PropertySpec::new("Folder", &["name", "parent"]),
                PropertySpec::new("ComputeResource", COMPUTE),
                PropertySpec::new("ClusterComputeResource", COMPUTE),
                PropertySpec::new(
                    "HostSystem",
                    &["name", "parent", "configManager", "runtime", "summary"],
                ),
                PropertySpec::new("ResourcePool", &["name", "parent", "owner"]),
                PropertySpec::new("Network", &["name", "host"]),
                PropertySpec::new(
                    "DistributedVirtualPortgroup",
                    &["name", "host", "key", "config"],
                ),
                PropertySpec::new("OpaqueNetwork", &["name", "host"]),
                PropertySpec::new("DistributedVirtualSwitch", SWITCH),
                PropertySpec::new("VmwareDistributedVirtualSwitch", SWITCH),
            ],
            objects: vec![ObjectSpec {
                obj: dc.moref.clone(),
                skip: false,
                select: vec![
                    Selection::traverse("dc-host", "Datacenter", "hostFolder", FROM_FOLDER),
                    Selection::traverse("dc-vm", "Datacenter", "vmFolder", &["folder"]),
                    Selection::traverse("dc-network", "Datacenter", "networkFolder", &["folder"]),
                    Selection::traverse("folder", "Folder", "childEntity", FROM_FOLDER),
                    Selection::traverse("compute-host", "ComputeResource", "host", &[]),
                    Selection::traverse(
                        "compute-pool",
                        "ComputeResource",
                        "resourcePool",
                        &["pool"],
                    ),
                    Selection::traverse("pool", "ResourcePool", "resourcePool", &["pool"]),
                ],
            }],
        };
        let objects = self.retrieve(&spec)?;
        read_contents(dc, &objects).ok_or_else(|| {
            anyhow!(
                "{} did not describe datacenter {} (no VM or host folder)",
                self.server().host,
                dc.path
            )
        })
    }
}

fn morefs(e: Option<&Element>) -> Vec<MoRef> {
    e.map(|e| e.children.iter().filter_map(MoRef::from_element).collect())
        .unwrap_or_default()
}

fn moref(o: &ObjectContent, name: &str) -> Option<MoRef> {
    o.prop(name).and_then(MoRef::from_element)
}

/// The contents from the objects of one retrieval.
pub fn read_contents(dc: &Datacenter, objects: &[ObjectContent]) -> Option<Contents> {
    let by: HashMap<&MoRef, &ObjectContent> = objects.iter().map(|o| (&o.obj, o)).collect();
    let dco = by.get(&dc.moref)?;
    let vm_folder = moref(dco, "vmFolder")?;
    let host_folder = moref(dco, "hostFolder")?;
    let name_of = |o: &ObjectContent| o.text("name").unwrap_or(&o.obj.value).trim().to_string();
    // The path of an object below `root`, by its parents; None when it is
    // not below it.
    let path_below = |obj: &MoRef, root: &MoRef| -> Option<String> {
        let mut parts = Vec::new();
        let mut at = obj.clone();
        while &at != root {
            let o = by.get(&at)?;
            parts.push(name_of(o));
            at = moref(o, "parent")?;
            if parts.len() > 64 {
                return None;
            }
        }
        parts.reverse();
        Some(parts.join("/"))
    };
    let of_kind = |kinds: &'static [&'static str]| {
        objects
            .iter()
            .filter(move |o| kinds.contains(&o.obj.kind.as_str()))
    };
    let mut folders: Vec<Folder> = of_kind(&["Folder"])
        .filter_map(|o| {
            Some(Folder {
                path: path_below(&o.obj, &vm_folder)?,
                moref: o.obj.clone(),
            })
        })
        .collect();
    folders.sort_by(|a, b| a.path.cmp(&b.path));
    let mut computes: Vec<Compute> = of_kind(&["ComputeResource", "ClusterComputeResource"])
        .map(|o| Compute {
            moref: o.obj.clone(),
            name: name_of(o),
            path: path_below(&o.obj, &host_folder).unwrap_or_else(|| name_of(o)),
            cluster: o.obj.kind == "ClusterComputeResource",
            root_pool: moref(o, "resourcePool"),
            hosts: morefs(o.prop("host")),
            environment_browser: moref(o, "environmentBrowser"),
        })
        .collect();
    computes.sort_by(|a, b| a.path.cmp(&b.path));
    let hosts = of_kind(&["HostSystem"])
        .map(|o| {
            let runtime = o.prop("runtime");
            let field = |n: &str| runtime.and_then(|r| r.child_text(n)).map(str::trim);
            Host {
                moref: o.obj.clone(),
                name: name_of(o),
                compute: moref(o, "parent"),
                network_system: o
                    .prop("configManager")
                    .and_then(|c| c.child("networkSystem"))
                    .and_then(MoRef::from_element),
                connected: field("connectionState").is_none_or(|s| s == "connected"),
                maintenance: field("inMaintenanceMode") == Some("true"),
                version: o
                    .prop("summary")
                    .and_then(|s| s.child("config")?.child("product")?.child_text("version"))
                    .map(|v| v.trim().to_string()),
            }
        })
        .collect();
    let mut pools = Vec::new();
    for c in &computes {
        let Some(root) = &c.root_pool else { continue };
        pools.push(Pool {
            moref: root.clone(),
            name: by.get(root).map(|o| name_of(o)).unwrap_or_default(),
            path: String::new(),
            compute: c.moref.clone(),
        });
        for o in of_kind(&["ResourcePool", "VirtualApp"]).filter(|o| &o.obj != root) {
            if let Some(path) = path_below(&o.obj, root) {
                pools.push(Pool {
                    moref: o.obj.clone(),
                    name: name_of(o),
                    path,
                    compute: c.moref.clone(),
                });
            }
        }
    }
    let switches = of_kind(&["DistributedVirtualSwitch", "VmwareDistributedVirtualSwitch"])
        .map(|o| Switch {
            moref: o.obj.clone(),
            name: name_of(o),
            uuid: o.text("uuid").unwrap_or_default().trim().to_string(),
            config: o.prop("config").cloned(),
        })
        .collect();
    let mut networks: Vec<Network> =
        of_kind(&["Network", "DistributedVirtualPortgroup", "OpaqueNetwork"])
            .map(|o| {
                let kind = match o.obj.kind.as_str() {
                    "DistributedVirtualPortgroup" => {
                        let config = o.prop("config").cloned();
                        NetKind::Distributed {
                            key: o
                                .text("key")
                                .or_else(|| config.as_ref().and_then(|c| c.child_text("key")))
                                .unwrap_or(&o.obj.value)
                                .trim()
                                .to_string(),
                            switch: config
                                .as_ref()
                                .and_then(|c| c.child("distributedVirtualSwitch"))
                                .and_then(MoRef::from_element),
                            config,
                        }
                    }
                    "OpaqueNetwork" => NetKind::Opaque,
                    _ => NetKind::Standard,
                };
                Network {
                    moref: o.obj.clone(),
                    name: name_of(o),
                    kind,
                    hosts: morefs(o.prop("host")),
                }
            })
            .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    Some(Contents {
        datacenter: dc.clone(),
        vm_folder,
        folders,
        computes,
        hosts,
        pools,
        networks,
        switches,
    })
}
