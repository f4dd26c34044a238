//! Reading the target before anything is changed: where each host's VM
//! goes ([`super::place`]: datacenter, cluster or host, resource pool, VM
//! folder, datastore, the port group of each NIC), which VMs are there (this
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
use super::place::{place, Placement};
use super::portgroups::{self, PortGroup, Use};
use crate::failure::Failure;
use crate::lab::vmplan::Boot;
use crate::lab::Problem;
use crate::publish::locate::{find_datacenter, listing, nearest_hint};
use crate::vsphere::datacenter::{Contents, Host as EsxHost};
use crate::vsphere::inventory::Datastore;
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
        .any(|h| matches!(h.lab.vm.boot, Boot::Http { .. } | Boot::Network { .. }));
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
    if about.is_vcenter() {
        warnings.extend(host_versions(&planned, |dc| &contents[dc].0));
    }
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
/// ESXi 7.0 to 9 are what it is written for; UEFI HTTP boot of a VM
/// (`vm.boot = "http"`, and every network install) needs vSphere 7.0
/// Update 2 (7.0.2), the vCenter and the host the VM runs on (a vCenter's
/// hosts: [`host_versions`]). A warning, not a refusal: the version a
/// server reports is all deploy knows of it.
fn version_warning(about: &crate::vsphere::service::About, http: bool) -> Option<Warning> {
    let v = about.version.as_deref().and_then(version_of)?;
    let (least, what) = if about.is_vcenter() {
        ((6, 7, 0), "vCenter 6.7 to 9")
    } else {
        ((7, 0, 0), "ESXi 7.0 to 9")
    };
    let old = v < least;
    let no_http = http && v < (7, 0, 2);
    let http_needs = if about.is_vcenter() {
        "; UEFI HTTP boot (vm.boot = \"http\", network install) needs vCenter 7.0 Update 2 \
         or later: the VMs may not boot"
    } else {
        "; UEFI HTTP boot (vm.boot = \"http\", network install) needs ESXi 7.0 Update 2 or \
         later: the VMs may not boot"
    };
    (old || no_http).then(|| {
        Warning::advice(
            "server-version",
            format!(
                "the server is {}: deploy is made for {what}{}",
                about.describe(),
                if no_http { http_needs } else { "" }
            ),
        )
    })
}

/// UEFI HTTP boot needs ESXi 7.0 Update 2 on the host a VM runs on: for
/// each HTTP-booted VM, the ESXi hosts it may run on (its `vm.host`, else
/// every host of its cluster) that run an older release, one warning
/// (`host-version`) per set of such hosts. A host whose version is not
/// known is not named.
fn host_versions<'a>(
    planned: &'a [Planned],
    contents: impl Fn(&str) -> &'a Contents,
) -> Vec<Warning> {
    let vms = planned
        .iter()
        .filter(|p| matches!(p.host.lab.vm.boot, Boot::Http { .. } | Boot::Network { .. }))
        .map(|p| {
            let c = contents(&p.place.datacenter.path);
            let hosts = match &p.place.host {
                Some(h) => vec![h],
                None => p.place.compute_hosts.iter().collect(),
            };
            (
                p.host.name(),
                hosts.into_iter().filter_map(|m| c.host(m)).collect(),
            )
        });
    old_esxi(vms)
}

/// [`host_versions`] for (a lab host, the ESXi hosts its VM may run on).
fn old_esxi<'a>(vms: impl Iterator<Item = (&'a str, Vec<&'a EsxHost>)>) -> Vec<Warning> {
    // The old hosts ("esx-a (ESXi 7.0.1)"), whether they are all the VM
    // may run on, and the lab's hosts whose VMs that is.
    let mut groups: BTreeMap<(Vec<String>, bool), Vec<&str>> = BTreeMap::new();
    for (name, hosts) in vms {
        let old: Vec<String> = hosts
            .iter()
            .filter_map(|h| {
                let v = h.version.as_deref()?;
                (version_of(v)? < (7, 0, 2)).then(|| format!("{} (ESXi {v})", h.name))
            })
            .collect();
        if !old.is_empty() {
            let all = old.len() == hosts.len();
            groups.entry((old, all)).or_default().push(name);
        }
    }
    groups
        .into_iter()
        .map(|((old, all), vms)| {
            let (which, then) = if all {
                (
                    "every ESXi host it may run on is older",
                    "it will not boot from the network: place it on a host of 7.0U2 or later \
                     (vm.cluster or vm.host)",
                )
            } else {
                (
                    "some ESXi hosts it may run on are older",
                    "if it is placed there it will not boot from the network: name a host of \
                     7.0U2 or later with vm.host",
                )
            };
            Warning::advice(
                "host-version",
                format!(
                    "{}: UEFI HTTP boot (vm.boot = \"http\", network install) needs ESXi 7.0 \
                     Update 2 or later on the host a VM runs on, and {which}: {}; {then}",
                    vms.join(", "),
                    old.join(", ")
                ),
            )
        })
        .collect()
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
        if let (Some(iso), Some(lab_iso)) = (&p.place.iso, p.host.iso()) {
            let e = need
                .entry((dc, iso.datastore.clone()))
                .or_insert((0, iso.free_space));
            e.0 += lab_iso.size;
        }
    }
    need.into_iter()
        .filter_map(|((dc, ds), (bytes, free))| {
            let free = free?;
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
            (
                "VirtualCenter",
                "6.7.0",
                true,
                Some("needs vCenter 7.0 Update 2 or later"),
            ),
            ("VirtualCenter", "7.0.2", true, None),
            ("VirtualCenter", "6.7.0", false, None),
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

    fn esx(name: &str, version: Option<&str>) -> EsxHost {
        EsxHost {
            moref: MoRef::new("HostSystem", name),
            name: name.into(),
            compute: None,
            network_system: None,
            connected: true,
            maintenance: false,
            version: version.map(str::to_string),
        }
    }

    #[test]
    fn http_boot_needs_esxi_702_where_the_vm_runs() {
        let (a, b) = (esx("esx-a", Some("7.0.1")), esx("esx-b", Some("7.0.2")));
        let (c, d) = (esx("esx-c", Some("6.7.0")), esx("esx-d", None));
        // Some hosts of a cluster too old: a warning to pin the VM.
        let got = old_esxi([("n1", vec![&a, &b]), ("n2", vec![&a, &b])].into_iter());
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].code, "host-version");
        assert!(
            got[0].message.starts_with(
                "n1, n2: UEFI HTTP boot (vm.boot = \"http\", network install) needs ESXi 7.0 \
                 Update 2 or later on the host a VM runs on, and some ESXi hosts it may run on \
                 are older: esx-a (ESXi 7.0.1); if it is placed there"
            ),
            "{}",
            got[0].message
        );
        // Every host too old: it will not boot.
        let got = old_esxi([("n3", vec![&a, &c])].into_iter());
        assert!(
            got[0].message.contains(
                "every ESXi host it may run on is older: esx-a (ESXi 7.0.1), esx-c (ESXi \
                 6.7.0); it will not boot from the network"
            ),
            "{}",
            got[0].message
        );
        // New enough, or not known: nothing to say.
        assert!(old_esxi([("n4", vec![&b, &d]), ("n5", vec![])].into_iter()).is_empty());
    }

    #[test]
    fn room_counts_each_iso_on_the_datastore_it_goes_to() {
        use crate::deploy::spec::tests::{cdrom, planned};
        let mut p = planned(cdrom(), false);
        let iso = p.place.iso.as_mut().unwrap();
        iso.datastore = "isos".into();
        iso.free_space = Some(0);
        let problems = room(std::slice::from_ref(&p));
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0]
                .text
                .starts_with("datastore isos in DC has 0 B free"),
            "{}",
            problems[0].text
        );
        p.place.iso.as_mut().unwrap().free_space = Some(1 << 30);
        assert!(room(&[p]).is_empty());
    }
}
