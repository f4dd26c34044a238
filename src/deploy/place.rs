//! Where a host's VM goes, found by the names the inventory gives: the
//! datacenter's cluster or host (`vm.cluster`, `vm.host`, or its only
//! one), resource pool (a path below the compute resource's root pool, or
//! a unique name), VM folder (a path below the VM folder, or a unique
//! name), datastores, and each NIC's port group, which must be on a host
//! of that cluster. A name that is not there is named with the ones that
//! are and the nearest.

use super::local::Host;
use crate::lab::vmplan::{Boot, VmPlan};
use crate::lab::Problem;
use crate::publish::locate::{listing, nearest_hint};
use crate::vsphere::datacenter::{Compute, Contents, NetKind, Pool};
use crate::vsphere::inventory::{Datacenter, Datastore};
use crate::vsphere::vm::{NicBacking, NicSpec};
use crate::vsphere::MoRef;

/// Where an uploaded ISO goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoPlace {
    pub datastore: String,
    pub folder: String,
    /// `[datastore] folder/esx01.iso`
    pub path: String,
    /// The datastore's free space, as the server said it.
    pub free_space: Option<u64>,
}

/// Where a host's VM goes, as the server knows it.
#[derive(Debug, Clone)]
pub struct Placement {
    pub datacenter: Datacenter,
    pub folder: MoRef,
    /// Below the VM folder; empty for the VM folder itself.
    pub folder_path: String,
    /// The cluster or host, as listed.
    pub compute: String,
    pub compute_hosts: Vec<MoRef>,
    pub environment_browser: Option<MoRef>,
    pub pool: MoRef,
    pub host: Option<MoRef>,
    pub datastore: Datastore,
    pub nics: Vec<NicSpec>,
    /// Cdrom boot: where its ISO goes.
    pub iso: Option<IsoPlace>,
    /// HTTP boot (of its ISO, or network install): the URI its firmware
    /// fetches.
    pub boot_uri: Option<String>,
}

impl Placement {
    /// `DC0/Labs/lab1`: the datacenter and the VM folder below it.
    pub fn location(&self) -> String {
        if self.folder_path.is_empty() {
            self.datacenter.path.clone()
        } else {
            format!("{}/{}", self.datacenter.path, self.folder_path)
        }
    }
}

/// Finds each object the host's VM needs; None (and problems) when one
/// is not there.
pub fn place(
    c: &Contents,
    stores: &[Datastore],
    h: &Host,
    problems: &mut Vec<Problem>,
) -> Option<Placement> {
    let vm = &h.lab.vm;
    let name = h.name();
    let dc = &c.datacenter.path;
    let mut say = |t: String| problems.push(Problem::usage(format!("{name}: {t}")));
    let (compute, host) = match pick_compute(c, vm) {
        Ok(x) => x,
        Err(e) => {
            say(e);
            return None;
        }
    };
    let pools: Vec<&Pool> = c
        .pools
        .iter()
        .filter(|p| p.compute == compute.moref)
        .collect();
    let pool = match &vm.resource_pool {
        None => compute.root_pool.clone(),
        Some(want) => {
            let want = want.trim_matches('/');
            let found = pools
                .iter()
                .find(|p| p.path == want)
                .or_else(|| unique(pools.iter().filter(|p| p.name == want)));
            if found.is_none() {
                let names: Vec<String> = pools
                    .iter()
                    .filter(|p| !p.path.is_empty())
                    .map(|p| p.path.clone())
                    .collect();
                say(format!(
                    "vm.resource_pool {want} not found in {}; {}{}",
                    compute.path,
                    listing("resource pool", &names),
                    nearest_hint(want, &names)
                ));
            }
            found.map(|p| p.moref.clone())
        }
    };
    let folder = match &vm.folder {
        None => Some((c.vm_folder.clone(), String::new())),
        Some(want) => {
            let found = c.folders.iter().find(|f| &f.path == want).or_else(|| {
                unique(
                    c.folders
                        .iter()
                        .filter(|f| f.path.rsplit('/').next() == Some(want)),
                )
            });
            if found.is_none() {
                let names: Vec<String> = c
                    .folders
                    .iter()
                    .filter(|f| !f.path.is_empty())
                    .map(|f| f.path.clone())
                    .collect();
                let there = if names.is_empty() {
                    "it has no VM folder yet".to_string()
                } else {
                    format!(
                        "{}{}",
                        listing("VM folder", &names),
                        nearest_hint(want, &names)
                    )
                };
                say(format!(
                    "vm.folder {want} not found in datacenter {dc}: create it (vSphere Client: \
                     VMs and Templates > {dc} > New Folder); {there}"
                ));
            }
            found.map(|f| (f.moref.clone(), f.path.clone()))
        }
    };
    let names: Vec<String> = stores.iter().map(|d| d.name.clone()).collect();
    let find_store = |want: &str, key: &str, say: &mut dyn FnMut(String)| {
        let found = stores.iter().find(|d| d.name == want).cloned();
        match &found {
            None => say(format!(
                "{key} {want} not found in datacenter {dc}; {}{}",
                listing("datastore", &names),
                nearest_hint(want, &names)
            )),
            Some(d) if !d.accessible => say(format!(
                "{key} {want} is not accessible (its storage is unreachable or its host is \
                 disconnected)"
            )),
            Some(d) if d.maintenance.as_deref() == Some("inMaintenance") => {
                say(format!("{key} {want} is in maintenance mode"))
            }
            Some(_) => return found,
        }
        None
    };
    let datastore = find_store(&vm.datastore, "vm.datastore", &mut say);
    let vm_store = datastore.clone();
    let iso = match &vm.boot {
        Boot::Cdrom { datastore, folder } => {
            let store = if datastore == &vm.datastore {
                vm_store.clone()
            } else {
                find_store(datastore, "vm.iso_datastore", &mut say)
            };
            h.iso().map(|iso| IsoPlace {
                datastore: datastore.clone(),
                folder: folder.clone(),
                path: format!("[{datastore}] {folder}/{}", iso.file),
                free_space: store.and_then(|s| s.free_space),
            })
        }
        Boot::Http { .. } | Boot::Network { .. } => None,
    };
    let boot_uri = match &vm.boot {
        Boot::Http { url } => h
            .iso()
            .map(|iso| format!("{url}/{}", crate::vsphere::http::quote(&iso.file))),
        Boot::Network { uri } => Some(uri.clone()),
        Boot::Cdrom { .. } => None,
    };
    let mut nics = Vec::new();
    for (i, (net, mac)) in vm.networks.iter().zip(&vm.macs).enumerate() {
        match backing(c, compute, net) {
            Ok(backing) => nics.push(NicSpec {
                mac: mac.to_string(),
                backing,
            }),
            Err(e) => say(format!("NIC {i}: {e}")),
        }
    }
    let (Some(pool), Some((folder, folder_path)), Some(datastore)) = (pool, folder, datastore)
    else {
        return None;
    };
    if nics.len() != vm.networks.len() {
        return None;
    }
    Some(Placement {
        datacenter: c.datacenter.clone(),
        folder,
        folder_path,
        compute: compute.path.clone(),
        compute_hosts: match &host {
            Some(h) => vec![h.clone()],
            None => compute.hosts.clone(),
        },
        environment_browser: compute.environment_browser.clone(),
        pool,
        host,
        datastore,
        nics,
        iso,
        boot_uri,
    })
}

fn unique<T>(mut it: impl Iterator<Item = T>) -> Option<T> {
    match (it.next(), it.next()) {
        (Some(x), None) => Some(x),
        _ => None,
    }
}

/// The compute resource (and host) of `vm.host`, `vm.cluster`, or the
/// datacenter's only one.
fn pick_compute<'a>(c: &'a Contents, vm: &VmPlan) -> Result<(&'a Compute, Option<MoRef>), String> {
    let dc = &c.datacenter.path;
    if let Some(want) = &vm.host {
        let names: Vec<String> = c.hosts.iter().map(|h| h.name.clone()).collect();
        let found = c
            .hosts
            .iter()
            .find(|h| &h.name == want)
            .or_else(|| unique(c.hosts.iter().filter(|h| h.name.eq_ignore_ascii_case(want))))
            .or_else(|| {
                unique(c.hosts.iter().filter(|h| {
                    h.name
                        .split('.')
                        .next()
                        .is_some_and(|n| n.eq_ignore_ascii_case(want))
                }))
            });
        let Some(h) = found else {
            return Err(format!(
                "vm.host {want} not found in datacenter {dc}; {}{}",
                listing("host", &names),
                nearest_hint(want, &names)
            ));
        };
        if !h.connected {
            return Err(format!("vm.host {}: the host is not connected", h.name));
        }
        if h.maintenance {
            return Err(format!(
                "vm.host {}: the host is in maintenance mode",
                h.name
            ));
        }
        let compute = h
            .compute
            .as_ref()
            .and_then(|m| c.computes.iter().find(|x| &x.moref == m))
            .ok_or_else(|| {
                format!(
                    "vm.host {}: its cluster or compute resource was not found",
                    h.name
                )
            })?;
        return Ok((compute, Some(h.moref.clone())));
    }
    let names: Vec<String> = c
        .computes
        .iter()
        .map(|x| {
            format!(
                "{} ({})",
                x.path,
                if x.cluster { "cluster" } else { "host" }
            )
        })
        .collect();
    match &vm.cluster {
        Some(want) => {
            let want = want.trim_matches('/');
            c.computes
                .iter()
                .find(|x| x.path == want)
                .or_else(|| unique(c.computes.iter().filter(|x| x.name == want)))
                .map(|x| (x, None))
                .ok_or_else(|| {
                    let plain: Vec<String> = c.computes.iter().map(|x| x.path.clone()).collect();
                    format!(
                        "vm.cluster {want} not found in datacenter {dc}; {}{}",
                        computes_listing(&names),
                        nearest_hint(want, &plain)
                    )
                })
        }
        None => match c.computes.as_slice() {
            [one] => Ok((one, None)),
            _ => Err(format!(
                "datacenter {dc} has {}: name one with vm.cluster or vm.host",
                computes_listing(&names)
            )),
        },
    }
}

/// `its clusters and standalone hosts: A (cluster), B (host)`.
fn computes_listing(names: &[String]) -> String {
    if names.is_empty() {
        return "no cluster or host".into();
    }
    listing("cluster and standalone host", names).replace(
        "cluster and standalone hosts",
        "clusters and standalone hosts",
    )
}

/// The backing of a NIC on port group `name`, which the compute
/// resource's hosts must have.
fn backing(c: &Contents, compute: &Compute, name: &str) -> Result<NicBacking, String> {
    let dc = &c.datacenter.path;
    let same: Vec<_> = c.networks.iter().filter(|n| n.name == name).collect();
    let names: Vec<String> = {
        let mut v: Vec<String> = c.networks.iter().map(|n| n.name.clone()).collect();
        v.dedup();
        v
    };
    let net = match same.as_slice() {
        [] => {
            return Err(format!(
                "port group {name} not found in datacenter {dc}; {}{}",
                listing("network", &names),
                nearest_hint(name, &names)
            ))
        }
        [one] => *one,
        _ => {
            return Err(format!(
                "{} networks in datacenter {dc} are named {name} (a standard and a \
                 distributed port group?): rename one",
                same.len()
            ))
        }
    };
    if !net.hosts.is_empty() && !net.hosts.iter().any(|h| compute.hosts.contains(h)) {
        return Err(format!(
            "port group {name} is on no host of {}: add it there, or choose another",
            compute.path
        ));
    }
    match &net.kind {
        NetKind::Standard => Ok(NicBacking::Network {
            name: net.name.clone(),
            moref: net.moref.clone(),
        }),
        NetKind::Distributed { key, switch, .. } => {
            let uuid = switch
                .as_ref()
                .and_then(|s| c.switch(s))
                .map(|s| s.uuid.clone())
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    format!("distributed port group {name}: its switch was not found")
                })?;
            Ok(NicBacking::Distributed {
                switch_uuid: uuid,
                portgroup_key: key.clone(),
            })
        }
        NetKind::Opaque => Err(format!(
            "{name} is an NSX segment, which deploy does not attach VMs to: use a \
             standard or distributed port group"
        )),
    }
}
