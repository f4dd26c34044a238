//! Reading the target before anything is changed: where each host's VM
//! goes (datacenter, cluster or host, resource pool, VM folder,
//! datastore, the port group of each NIC), which VMs are there (this
//! lab's, by their marker, to adopt; others whose name or MAC a new VM
//! would take), whether the server can take changes at all (a free ESXi
//! license), whether the datastores have room, and which guest OS ids the
//! compute resources know. Every problem of every host is collected: a
//! name that is not there is named with the ones that are and the
//! nearest (exit 2); a server that cannot do it (free license, a
//! datastore that is full or not accessible) is exit 5.

use std::collections::BTreeMap;

use anyhow::Result;

use super::local::{Host, Local};
use super::portgroups::{self, PortGroup, Use};
use crate::failure::Failure;
use crate::lab::vm::{Boot, VmPlan};
use crate::lab::Problem;
use crate::publish::locate::{find_datacenter, listing, nearest_hint};
use crate::vsphere::datacenter::{Compute, Contents, NetKind};
use crate::vsphere::inventory::{Datacenter, Datastore};
use crate::vsphere::vm::{NicBacking, NicSpec};
use crate::vsphere::vminfo::{Device, VmInfo};
use crate::vsphere::{MoRef, Vim};
use crate::warning::Warning;

/// The extra config keys that mark a VM as a lab's host.
pub const MARK_LAB: &str = "guestinfo.esxi-iso.lab";
pub const MARK_HOST: &str = "guestinfo.esxi-iso.host";

/// The lab and host a VM's marker names.
pub fn marker(vm: &VmInfo) -> Option<(&str, &str)> {
    Some((vm.extra(MARK_LAB)?, vm.extra(MARK_HOST)?))
}

/// Where an uploaded ISO goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoPlace {
    pub datastore: String,
    pub folder: String,
    /// `[datastore] folder/esx01.iso`
    pub path: String,
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
    /// HTTP boot: the URI its firmware fetches.
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

/// A host of the lab on the target.
#[derive(Debug, Clone)]
pub struct Planned {
    pub host: Host,
    pub place: Placement,
    /// This lab's VM for the host, when there is one.
    pub existing: Option<VmInfo>,
}

/// What the target holds for the lab.
pub struct Target {
    pub planned: Vec<Planned>,
    pub portgroups: Vec<PortGroup>,
    pub warnings: Vec<Warning>,
    /// Problems that stop the run (all of them).
    pub problems: Vec<Problem>,
    /// Every VM of the datacenters read, with this lab's marker (for
    /// hosts not asked for too).
    pub lab_vms: Vec<VmInfo>,
}

fn usage(text: String) -> Problem {
    Problem::usage(text)
}

fn server_state(text: String) -> Problem {
    Problem {
        failure: Failure::Network,
        text,
    }
}

/// Reads the target for `local`'s hosts.
pub fn read(vim: &Vim, local: &Local) -> Result<Target> {
    let host = &vim.server().host;
    let about = vim.about();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if about.is_host() {
        let free: Vec<String> = vim
            .licenses()?
            .into_iter()
            .filter(|l| l.is_free())
            .map(|l| l.name)
            .collect();
        if !free.is_empty() {
            problems.push(server_state(format!(
                "{host} runs under a free license ({}), whose API is read-only: no VM can be \
                 created there; assign an evaluation or paid license, or deploy through a \
                 vCenter that manages the host",
                free.join(", ")
            )));
            return Ok(Target {
                planned: Vec::new(),
                portgroups: Vec::new(),
                warnings,
                problems,
                lab_vms: Vec::new(),
            });
        }
    }
    let http = local
        .hosts
        .iter()
        .any(|h| matches!(h.lab.vm.boot, Boot::Http { .. }));
    warnings.extend(version_warning(about, http));
    let dcs = vim.datacenters()?;
    let paths: Vec<String> = dcs.iter().map(|d| d.path.clone()).collect();
    let mut contents: BTreeMap<String, (Contents, Vec<Datastore>, Vec<VmInfo>)> = BTreeMap::new();
    let mut chosen = Vec::new();
    for h in &local.hosts {
        let vm = &h.lab.vm;
        let dc = match (&vm.datacenter, dcs.as_slice()) {
            (Some(want), _) => find_datacenter(&dcs, want).ok_or_else(|| {
                format!(
                    "{}: vm.datacenter {want} not found on {host}; {}{}",
                    h.name(),
                    listing("datacenter", &paths),
                    nearest_hint(want, &paths)
                )
            }),
            (None, [one]) => Ok(one.clone()),
            (None, _) => Err(format!(
                "{}: {host} has {}: name one with vm.datacenter",
                h.name(),
                listing("datacenter", &paths)
            )),
        };
        match dc {
            Ok(dc) => {
                if !contents.contains_key(&dc.path) {
                    let c = vim.datacenter_contents(&dc)?;
                    let stores = vim.datastores(&dc.moref)?;
                    let vms = vim.vms_below(&c.vm_folder)?;
                    contents.insert(dc.path.clone(), (c, stores, vms));
                }
                chosen.push(Some(dc.path));
            }
            Err(e) => {
                problems.push(usage(e));
                chosen.push(None);
            }
        }
    }
    let lab_vms: Vec<VmInfo> = contents
        .values()
        .flat_map(|(_, _, vms)| vms)
        .filter(|v| marker(v).is_some_and(|(lab, _)| lab == local.lab))
        .cloned()
        .collect();
    let mut planned = Vec::new();
    for (h, dc) in local.hosts.iter().zip(&chosen) {
        let Some((c, stores, vms)) = dc.as_ref().and_then(|d| contents.get(d)) else {
            continue;
        };
        let mut own = Vec::new();
        let place = place(c, stores, h, &mut own);
        let existing = existing(&local.lab, h, vms, &mut own);
        problems.extend(own);
        if let Some(place) = place {
            planned.push(Planned {
                host: h.clone(),
                place,
                existing,
            });
        }
    }
    // The VMs to adopt, in full (config, runtime, guest).
    let ours: Vec<MoRef> = planned
        .iter()
        .filter_map(|p| Some(p.existing.as_ref()?.moref.clone()))
        .collect();
    for full in vim.vms(&ours)? {
        if let Some(p) = planned
            .iter_mut()
            .find(|p| p.existing.as_ref().is_some_and(|e| e.moref == full.moref))
        {
            p.existing = Some(full);
        }
    }
    problems.extend(room(&planned));
    warnings.extend(guest_ids(vim, &planned));
    let uses: Vec<Use> = planned
        .iter()
        .flat_map(|p| {
            let (c, _, _) = &contents[&p.place.datacenter.path];
            p.host.lab.vm.networks.iter().filter_map(move |n| {
                let network = c.networks.iter().find(|x| &x.name == n)?;
                Some(Use {
                    contents: c,
                    network,
                    hosts: p.place.compute_hosts.clone(),
                })
            })
        })
        .collect();
    let portgroups = portgroups::check(vim, &uses)?;
    Ok(Target {
        planned,
        portgroups,
        warnings,
        problems,
        lab_vms,
    })
}

/// `6.7.0` as (6, 7, 0).
fn version_of(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.split('.').map(|p| p.trim().parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
        parts.next().flatten().unwrap_or(0),
    ))
}

/// What the server's version means for deploy: vCenter 6.7 to 9 and
/// ESXi 7.0 to 9 are what it is written for; UEFI HTTP boot needs ESXi
/// 7.0 Update 2 (7.0.2).
fn version_warning(about: &crate::vsphere::service::About, http: bool) -> Option<Warning> {
    let v = about.version.as_deref().and_then(version_of)?;
    let (least, what) = if about.is_vcenter() {
        ((6, 7, 0), "vCenter 6.7 to 9")
    } else {
        ((7, 0, 0), "ESXi 7.0 to 9")
    };
    let old = v < least;
    let no_http = http && about.is_host() && v < (7, 0, 2);
    (old || no_http).then(|| {
        Warning::advice(
            "server-version",
            format!(
                "the server is {}: deploy is made for {what}{}",
                about.describe(),
                if no_http {
                    "; UEFI HTTP boot (vm.boot = \"http\") needs ESXi 7.0 Update 2 or later"
                } else {
                    ""
                }
            ),
        )
    })
}

/// Finds each object the host's VM needs; None (and problems) when one
/// is not there.
fn place(
    c: &Contents,
    stores: &[Datastore],
    h: &Host,
    problems: &mut Vec<Problem>,
) -> Option<Placement> {
    let vm = &h.lab.vm;
    let name = h.name();
    let dc = &c.datacenter.path;
    let mut say = |t: String| problems.push(usage(format!("{name}: {t}")));
    let (compute, host) = match pick_compute(c, vm) {
        Ok(x) => x,
        Err(e) => {
            say(e);
            return None;
        }
    };
    let pools: Vec<&crate::vsphere::datacenter::Pool> = c
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
    let iso = match &vm.boot {
        Boot::Cdrom { datastore, folder } => {
            if datastore != &vm.datastore {
                find_store(datastore, "vm.iso_datastore", &mut say);
            }
            Some(IsoPlace {
                datastore: datastore.clone(),
                folder: folder.clone(),
                path: format!("[{datastore}] {folder}/{}", h.iso.file),
            })
        }
        Boot::Http { .. } => None,
    };
    let boot_uri = match &vm.boot {
        Boot::Http { url } => Some(format!(
            "{url}/{}",
            crate::vsphere::http::quote(&h.iso.file)
        )),
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

/// This lab's VM for `h`; VMs in the way (same name, not this host's;
/// a MAC a new NIC would take) are problems.
fn existing(lab: &str, h: &Host, vms: &[VmInfo], problems: &mut Vec<Problem>) -> Option<VmInfo> {
    let name = h.name();
    let ours = |v: &&VmInfo| {
        marker(v).is_some_and(|(l, host)| l == lab && host.eq_ignore_ascii_case(name))
    };
    let mine: Vec<&VmInfo> = vms.iter().filter(ours).collect();
    if mine.len() > 1 {
        let list: Vec<String> = mine
            .iter()
            .map(|v| format!("{} ({})", v.name, v.moref.value))
            .collect();
        problems.push(usage(format!(
            "{name}: {} VMs carry this lab's marker for {name}: {}: remove all but one \
             (esxi-iso deploy --destroy --host {name} removes them all)",
            mine.len(),
            list.join(", ")
        )));
        return None;
    }
    for v in vms.iter().filter(|v| !ours(v)) {
        if mine.is_empty() && v.name.eq_ignore_ascii_case(&h.lab.vm.name) {
            let whose = match marker(v) {
                Some((l, other)) => format!("it is host {other} of lab {l}"),
                None => "it has no esxi-iso marker".into(),
            };
            problems.push(usage(format!(
                "{name}: a VM named {} is there already ({}) and is not this lab's ({whose}): \
                 it is left alone; rename it, or give this host another vm.name",
                v.name, v.moref.value
            )));
        }
        for d in v.nics() {
            let Device::Nic { mac, .. } = d else { continue };
            if let Some(i) = h.lab.vm.macs.iter().position(|m| m.to_string() == *mac) {
                problems.push(usage(format!(
                    "{name}: NIC {i}'s MAC {mac} is used by VM {} ({}): vCenter would give one \
                     of them another MAC; set vm.macs, or a [lab] name of its own",
                    v.name, v.moref.value
                )));
            }
        }
    }
    mine.first().map(|v| (*v).clone())
}

/// Datastores without room for the new VMs' thick disks and ISOs.
fn room(planned: &[Planned]) -> Vec<Problem> {
    let mut need: BTreeMap<(String, String), (u64, Option<u64>)> = BTreeMap::new();
    for p in planned.iter().filter(|p| p.existing.is_none()) {
        let vm = &p.host.lab.vm;
        let dc = p.place.datacenter.path.clone();
        if !vm.thin {
            let e = need
                .entry((dc.clone(), p.place.datastore.name.clone()))
                .or_insert((0, p.place.datastore.free_space));
            e.0 += vm.disks_gb.iter().map(|g| u64::from(*g) << 30).sum::<u64>();
        }
        if let Some(iso) = &p.place.iso {
            let e = need.entry((dc, iso.datastore.clone())).or_insert((0, None));
            e.0 += p.host.iso.size;
        }
    }
    need.into_iter()
        .filter_map(|((dc, ds), (bytes, free))| {
            let free = free.or_else(|| {
                planned
                    .iter()
                    .find(|p| p.place.datastore.name == ds)
                    .and_then(|p| p.place.datastore.free_space)
            })?;
            (free < bytes).then(|| {
                server_state(format!(
                    "datastore {ds} in {dc} has {} free, and the new VMs' thick disks and ISOs \
                     take {}: free space, use thin disks (vm.thin), or another datastore",
                    crate::publish::human_size(free),
                    crate::publish::human_size(bytes)
                ))
            })
        })
        .collect()
}

/// Guest ids the target's compute resources do not list.
fn guest_ids(vim: &Vim, planned: &[Planned]) -> Vec<Warning> {
    let mut asked: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for p in planned.iter().filter(|p| p.existing.is_none()) {
        if let Some(env) = &p.place.environment_browser {
            asked
                .entry((env.value.clone(), p.host.guest_id.clone()))
                .or_default()
                .push(p.host.name().to_string());
        }
    }
    let mut out = Vec::new();
    for ((env, id), hosts) in asked {
        let env = MoRef::new("EnvironmentBrowser", &env);
        match vim.guest_ids(&env, &[id.as_str()]) {
            Ok(ids) if ids.contains(&id) => {}
            Ok(ids) => {
                let known: Vec<&String> =
                    ids.iter().filter(|i| i.starts_with("vmkernel")).collect();
                out.push(Warning::advice(
                    "guest-id-unknown",
                    format!(
                        "{}: the target does not list guest OS id {id} (its hosts may predate \
                         that release; it knows {}); the VM is created with it, and if the \
                         server refuses it, set vm.guest_id to one it knows",
                        hosts.join(", "),
                        if known.is_empty() {
                            "no vmkernel id".to_string()
                        } else {
                            known
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                ))
            }
            Err(e) => out.push(Warning::advice(
                "guest-id-unknown",
                format!(
                    "{}: could not ask the target which guest OS ids it knows ({e:#}); the VM \
                     is created with {id}",
                    hosts.join(", ")
                ),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::service::About;

    #[test]
    fn server_versions() {
        let about = |kind: &str, v: &str| About {
            api_type: Some(kind.into()),
            version: Some(v.into()),
            full_name: Some(format!("{kind} {v}")),
            ..About::default()
        };
        let cases = [
            (
                "VirtualCenter",
                "6.5.0",
                false,
                Some("made for vCenter 6.7 to 9"),
            ),
            ("VirtualCenter", "6.7.0", true, None),
            ("VirtualCenter", "9.0.0", false, None),
            ("HostAgent", "6.7.0", false, Some("made for ESXi 7.0 to 9")),
            ("HostAgent", "7.0.1", false, None),
            (
                "HostAgent",
                "7.0.1",
                true,
                Some("needs ESXi 7.0 Update 2 or later"),
            ),
            ("HostAgent", "8.0.3", true, None),
            ("HostAgent", "garbage", true, None),
        ];
        for (kind, v, http, want) in cases {
            let got = version_warning(&about(kind, v), http).map(|w| w.message);
            match (got, want) {
                (None, None) => {}
                (Some(m), Some(w)) => assert!(m.contains(w), "{kind} {v}: {m}"),
                (got, want) => panic!("{kind} {v} {http}: {got:?}, want {want:?}"),
            }
        }
    }
}
