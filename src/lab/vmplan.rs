//! A host's VM, resolved from its merged `vm` settings
//! ([`super::vm::VmSettings`]) for `esxi-iso deploy`: [`plan_vm`] adds
//! what deploy needs to be there (a datastore, networks), the MACs (given,
//! or derived from the lab and host name in VMware's manual range; NIC 0
//! is the boot NIC and equals the host's `mac`), and the rules of the
//! settings together (Secure Boot and HTTP boot need EFI); [`read_lab`]
//! does it for every host of an inventory, with the checks across the lab
//! (VM names and MACs used twice).
//!
//! What the lab folder says of each host as it was built ([`Built`],
//! which deploy reads from manifest.json) comes first: a host built for
//! UEFI Secure Boot (`build --secure-boot`, or its `secure_boot`) gets a
//! VM with Secure Boot, and an inventory whose `secure_boot` now says
//! otherwise is a problem (an entry from an older build, which did not
//! record it, leaves it to the inventory). A host the lab folder holds
//! for network install ([`Netboot`]) boots mboot.efi over UEFI HTTP
//! ([`Boot::Network`]) whatever `vm.boot` defaults to: its NIC 0 must be
//! the MAC its boot.cfg was written for, and what asks for something else
//! (`vm.boot = "cdrom"`, a `vm.boot_url` other than the server it was
//! built for, an ISO folder, BIOS) is a problem, never ignored.
//!
//! Sizes: at least 2 vCPUs and 8 GB of memory ([`super::vm::MIN_CPUS`]);
//! what a release would rather have is deploy's to say, once it knows the
//! release.

use std::collections::BTreeMap;

use super::inventory::Inventory;
use super::mac::Mac;
use super::resolve::{bool_key, lab_name, string_key};
use super::vm::{
    vm_table, BootMode, DiskController, Firmware, VmSettings, DEFAULT_BOOT_DISK_GB, MAX_NICS,
    MIN_CPUS, MIN_MEMORY_GB,
};
use super::Problem;

/// How a host's VM boots its installer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// Its ISO, uploaded to `[datastore] folder/`, in a SATA CD drive.
    Cdrom { datastore: String, folder: String },
    /// UEFI HTTP boot of `URL/<its ISO>` from `esxi-iso serve`.
    Http { url: String },
    /// Network install (`build --netboot`): UEFI HTTP boot of mboot.efi
    /// at `uri`, which `esxi-iso serve` hands out of the stock ISO; the
    /// host has no ISO of its own.
    Network { uri: String },
}

/// What the lab folder's manifest.json says of a host as it was built:
/// what its VM must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Built {
    /// Built for UEFI Secure Boot (`build --secure-boot`, or the
    /// inventory's `secure_boot`); None in an entry of an older build,
    /// which did not record it (the inventory's `secure_boot` is taken).
    pub secure_boot: Option<bool>,
    /// Built for network install.
    pub netboot: Option<Netboot>,
    /// The command that builds it again, as it was.
    pub rebuild: String,
}

/// A host the lab folder holds for network install (`build --netboot`,
/// its manifest.json entry's `netboot`): what its VM must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Netboot {
    /// The MAC its boot.cfg was written for.
    pub mac: Mac,
    /// The URL its firmware boots (mboot.efi).
    pub boot_uri: String,
    /// The `--netboot URL` it was built with.
    pub server: String,
}

/// A host's VM, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmPlan {
    pub name: String,
    pub datacenter: Option<String>,
    pub cluster: Option<String>,
    pub host: Option<String>,
    pub resource_pool: Option<String>,
    pub folder: Option<String>,
    pub datastore: String,
    /// One port group per NIC.
    pub networks: Vec<String>,
    pub cpus: u32,
    pub memory_gb: u32,
    /// The boot disk first.
    pub disks_gb: Vec<u32>,
    pub controller: DiskController,
    pub thin: bool,
    /// One per NIC; NIC 0 boots.
    pub macs: Vec<Mac>,
    pub firmware: Firmware,
    pub secure_boot: bool,
    pub boot: Boot,
    pub mac_learn_filter: bool,
    pub guest_id: Option<String>,
    pub hardware_version: Option<String>,
}

/// `{hostname}` and `{lab}` in a VM name; any other `{...}` is a problem.
fn vm_name(template: &str, lab: &str, hostname: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let Some(j) = rest[i..].find('}') else {
            return Err(format!("vm.name: {template:?} has a {{ without }}"));
        };
        match &rest[i + 1..i + j] {
            "hostname" => out.push_str(hostname),
            "lab" => out.push_str(lab),
            other => {
                return Err(format!(
                    "vm.name: {{{other}}} is not a placeholder: use {{hostname}} and {{lab}}"
                ))
            }
        }
        rest = &rest[i + j + 1..];
    }
    out.push_str(rest);
    if out.trim().is_empty() || out.len() > 80 || out.contains(['/', '\\', '%']) {
        return Err(format!(
            "vm.name: {out:?} is not a usable VM name: 1 to 80 characters, no / \\ or %"
        ));
    }
    Ok(out)
}

/// A host's VM from its merged settings: everything deploy needs, or
/// every problem found. `secure_boot` is the build's when `built` records
/// it, else the inventory's.
pub fn plan_vm(
    s: &VmSettings,
    lab: &str,
    hostname: &str,
    host_mac: Option<Mac>,
    secure_boot: bool,
    built: Option<&Built>,
) -> Result<VmPlan, Vec<String>> {
    let mut problems = Vec::new();
    let netboot = built.and_then(|b| b.netboot.as_ref());
    let rebuild = built.map_or("", |b| b.rebuild.as_str());
    let name = vm_name(s.name.as_deref().unwrap_or("{hostname}"), lab, hostname)
        .map_err(|e| problems.push(e))
        .unwrap_or_default();
    if s.datastore.is_none() {
        problems.push("vm.datastore: missing: name the datastore the VM goes on".into());
    }
    let cpus = s.cpus.unwrap_or(4);
    if cpus < MIN_CPUS {
        problems.push(format!(
            "vm.cpus: {cpus} is too few: ESXi needs at least {MIN_CPUS} CPUs to install"
        ));
    }
    let memory_gb = s.memory_gb.unwrap_or(16);
    if memory_gb < MIN_MEMORY_GB {
        problems.push(format!(
            "vm.memory_gb: {memory_gb} GB is too little: ESXi needs at least {MIN_MEMORY_GB} GB to install"
        ));
    }
    let nics = s
        .nics
        .unwrap_or_else(|| s.networks.as_ref().map_or(1, |n| n.len() as u32));
    let networks = match &s.networks {
        None => {
            problems.push(
                "vm.networks: missing: name the port group of each NIC (one name serves them all)"
                    .into(),
            );
            Vec::new()
        }
        Some(n) if n.len() == 1 => vec![n[0].clone(); nics as usize],
        Some(n) if n.len() == nics as usize => n.clone(),
        Some(n) => {
            problems.push(format!(
                "vm.networks: {} port groups for {nics} NICs: give one for all, or one per NIC",
                n.len()
            ));
            Vec::new()
        }
    };
    if nics > MAX_NICS || networks.len() > MAX_NICS as usize {
        problems.push(format!("vm.networks: more than {MAX_NICS} NICs"));
    }
    let given = s.macs.clone().unwrap_or_default();
    if given.len() > nics as usize {
        problems.push(format!("vm.macs: {} MACs for {nics} NICs", given.len()));
    }
    for m in &given {
        if !m.is_vmware_manual() {
            problems.push(format!(
                "vm.macs: {m} is outside VMware's range for manual MACs, \
                 00:50:56:00:00:00 to 00:50:56:3f:ff:ff, which vSphere requires of a static MAC"
            ));
        }
    }
    if let Some(m) = host_mac {
        if !m.is_vmware_manual() {
            problems.push(format!(
                "mac: {m} is outside VMware's range for manual MACs, \
                 00:50:56:00:00:00 to 00:50:56:3f:ff:ff: a VM's boot NIC cannot have it"
            ));
        }
        if let Some(first) = given.first().filter(|g| **g != m) {
            problems.push(format!(
                "vm.macs: NIC 0 is the boot NIC, whose MAC is mac ({m}), not {first}"
            ));
        }
    }
    let macs: Vec<Mac> = (0..nics as u8)
        .map(|i| match (i, given.get(usize::from(i)), host_mac) {
            (_, Some(g), _) => *g,
            (0, None, Some(m)) => m,
            _ => Mac::derived(lab, hostname, i),
        })
        .collect();
    let firmware = s.firmware.unwrap_or(Firmware::Efi);
    if secure_boot && firmware == Firmware::Bios {
        problems.push(if built.is_some_and(|b| b.secure_boot.is_some()) {
            format!(
                "vm.firmware = \"bios\": {hostname} was built for Secure Boot (manifest.json: \
                 build --secure-boot, or its secure_boot), which needs vm.firmware = \"efi\": \
                 drop vm.firmware, or rebuild it without Secure Boot ({rebuild})"
            )
        } else {
            "secure_boot: Secure Boot needs vm.firmware = \"efi\"".into()
        });
    }
    let boot = match netboot {
        Some(nb) => {
            let how = match (host_mac, given.first()) {
                (Some(_), _) => "its mac",
                (None, Some(_)) => "vm.macs",
                (None, None) => "derived from the lab's and host's names",
            };
            let nic0 = macs.first().map(|m| (*m, how));
            network_boot(s, nb, rebuild, hostname, nic0, firmware).unwrap_or_else(|mut e| {
                problems.append(&mut e);
                Boot::Network {
                    uri: nb.boot_uri.clone(),
                }
            })
        }
        None => cd_or_http(s, lab, firmware, &mut problems),
    };
    if let Some(g) = &s.guest_id {
        if !g.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            problems.push(format!(
                "vm.guest_id: {g:?} is not a guest OS id (e.g. vmkernel8Guest)"
            ));
        }
    }
    if let Some(v) = &s.hardware_version {
        let ok = v
            .strip_prefix("vmx-")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            problems.push(format!(
                "vm.hardware_version: {v:?} is not a hardware version (e.g. vmx-19)"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(VmPlan {
        name,
        datacenter: s.datacenter.clone(),
        cluster: s.cluster.clone(),
        host: s.host.clone(),
        resource_pool: s.resource_pool.clone(),
        folder: s.folder.clone(),
        datastore: s.datastore.clone().unwrap_or_default(),
        networks,
        cpus,
        memory_gb,
        disks_gb: s
            .disks_gb
            .clone()
            .unwrap_or_else(|| vec![DEFAULT_BOOT_DISK_GB]),
        controller: s.disk_controller.unwrap_or(DiskController::Pvscsi),
        thin: s.thin.unwrap_or(true),
        macs,
        firmware,
        secure_boot,
        boot,
        mac_learn_filter: s.mac_learn_filter.unwrap_or(false),
        guest_id: s.guest_id.clone(),
        hardware_version: s.hardware_version.clone(),
    })
}

/// A host with an ISO of its own: its CD, or UEFI HTTP boot of the ISO.
fn cd_or_http(s: &VmSettings, lab: &str, firmware: Firmware, problems: &mut Vec<String>) -> Boot {
    match s.boot.unwrap_or(BootMode::Cdrom) {
        BootMode::Cdrom => {
            if s.boot_url.is_some() {
                problems.push("vm.boot_url: only for vm.boot = \"http\"".into());
            }
            Boot::Cdrom {
                datastore: s
                    .iso_datastore
                    .clone()
                    .or(s.datastore.clone())
                    .unwrap_or_default(),
                folder: s
                    .iso_folder
                    .clone()
                    .unwrap_or_else(|| format!("esxi-iso/{lab}")),
            }
        }
        BootMode::Http => {
            if firmware != Firmware::Efi {
                problems.push("vm.boot: UEFI HTTP boot needs vm.firmware = \"efi\"".into());
            }
            for (k, v) in [
                ("iso_datastore", &s.iso_datastore),
                ("iso_folder", &s.iso_folder),
            ] {
                if v.is_some() {
                    problems.push(format!(
                        "vm.{k}: only for vm.boot = \"cdrom\" (the ISO is served, not uploaded)"
                    ));
                }
            }
            let url = s.boot_url.clone().unwrap_or_default();
            match crate::report::parse_base_url(&url) {
                Ok(base) => Boot::Http { url: base },
                Err(_) if url.is_empty() => {
                    problems.push(
                        "vm.boot_url: missing: give the URL esxi-iso serve answers on, as the \
                         VMs see it (e.g. http://10.0.0.5:8080)"
                            .into(),
                    );
                    Boot::Http { url }
                }
                Err(e) => {
                    problems.push(format!("vm.boot_url: {e}"));
                    Boot::Http { url }
                }
            }
        }
    }
}

/// A host built for network install: UEFI HTTP boot of the URI its
/// manifest entry gives, with NIC 0 on the MAC its boot.cfg was written
/// for (`nic0`: the MAC and where it came from). Every setting that asks
/// for something else is a problem, never ignored.
fn network_boot(
    s: &VmSettings,
    nb: &Netboot,
    rebuild: &str,
    hostname: &str,
    nic0: Option<(Mac, &str)>,
    firmware: Firmware,
) -> Result<Boot, Vec<String>> {
    let mut problems = Vec::new();
    if s.boot == Some(BootMode::Cdrom) {
        let iso_build = rebuild
            .replace(&format!(" --netboot {}", nb.server), "")
            .replace(" --force", "");
        problems.push(format!(
            "vm.boot = \"cdrom\": {hostname} was built for network install (build --netboot), so \
             there is no ISO to put in its CD drive: drop vm.boot (it boots over UEFI HTTP \
             from esxi-iso serve), or build its ISO ({iso_build})"
        ));
    }
    if let Some(url) = &s.boot_url {
        match crate::report::parse_base_url(url) {
            Ok(base) if base == nb.server => {}
            Ok(base) => problems.push(format!(
                "vm.boot_url {base}: {hostname} was built for network install from {} \
                 (build --netboot), and its firmware boots {}: drop vm.boot_url, or rebuild \
                 it for {base} ({})",
                nb.server,
                nb.boot_uri,
                rebuild.replace(&nb.server, &base)
            )),
            Err(e) => problems.push(format!("vm.boot_url: {e}")),
        }
    }
    for (k, v) in [
        ("iso_datastore", &s.iso_datastore),
        ("iso_folder", &s.iso_folder),
    ] {
        if v.is_some() {
            problems.push(format!(
                "vm.{k}: only for a host that boots its own ISO; {hostname} was built for \
                 network install (build --netboot), so nothing is uploaded"
            ));
        }
    }
    if firmware != Firmware::Efi {
        problems.push(
            "vm.firmware: network install boots mboot.efi over UEFI HTTP boot, which needs \
             vm.firmware = \"efi\""
                .into(),
        );
    }
    match nic0 {
        Some((mac, _)) if mac == nb.mac => {}
        Some((mac, how)) => problems.push(format!(
            "NIC 0's MAC is {mac} ({how}), but its boot.cfg was written for {} (manifest.json, \
             build --netboot): its firmware would ask for a boot.cfg the server does not have; \
             rebuild it so the boot.cfg follows the inventory ({rebuild})",
            nb.mac
        )),
        None => problems.push("vm.networks: network install boots from NIC 0: give one".into()),
    }
    if problems.is_empty() {
        Ok(Boot::Network {
            uri: nb.boot_uri.clone(),
        })
    } else {
        Err(problems)
    }
}

/// A host of the lab and its VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabHost {
    pub hostname: String,
    pub vm: VmPlan,
}

/// The lab as deploy sees it: its name and the hosts asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabVms {
    pub name: String,
    pub hosts: Vec<LabHost>,
}

/// Every host's VM of an inventory, checked, or every problem; `stem` is
/// the inventory's file name without extension, `only` the hosts asked
/// for (all when empty; the whole inventory is checked), `built` what
/// the lab folder's manifest.json says of the hosts, by lower-case name.
pub fn read_lab(
    inv: &Inventory,
    stem: &str,
    only: &[String],
    built: &BTreeMap<String, Built>,
) -> Result<LabVms, Vec<Problem>> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut lab_problems = Vec::new();
    let name = lab_name(inv, stem, &mut lab_problems);
    problems.extend(lab_problems);
    if inv.hosts.is_empty() {
        problems.push(Problem::usage(
            "no hosts: add [[host]] entries (TOML) or rows (CSV)",
        ));
    }
    let mut shared = Vec::new();
    let defaults = VmSettings::parse(&vm_table(&inv.defaults, &mut shared), &mut shared);
    let default_secure_boot = bool_key(&inv.defaults, "secure_boot", &mut shared);
    problems.extend(
        shared
            .into_iter()
            .map(|p| Problem::usage(format!("[defaults] {p}"))),
    );
    let mut hosts = Vec::new();
    for (i, entry) in inv.hosts.iter().enumerate() {
        let mut p = Vec::new();
        let hostname = string_key(entry, "hostname", &mut p);
        let label = hostname
            .clone()
            .unwrap_or_else(|| format!("host #{}", i + 1));
        if hostname.is_none() && p.is_empty() {
            p.push("missing hostname".into());
        }
        let mac = string_key(entry, "mac", &mut p)
            .and_then(|m| Mac::parse(&m).map_err(|e| p.push(format!("mac: {e}"))).ok());
        let asked = bool_key(entry, "secure_boot", &mut p).or(default_secure_boot);
        let b = hostname
            .as_ref()
            .and_then(|h| built.get(&h.to_ascii_lowercase()));
        let secure_boot = match b.and_then(|b| b.secure_boot) {
            Some(was) => {
                if asked.is_some_and(|a| a != was) {
                    p.push(format!(
                        "secure_boot: the inventory says {}, but {label} was built {} Secure \
                         Boot (manifest.json): rebuild it so it follows the inventory ({})",
                        !was,
                        if was { "for" } else { "without" },
                        b.map_or("", |b| b.rebuild.as_str())
                    ));
                }
                was
            }
            None => asked.unwrap_or(false),
        };
        let own = VmSettings::parse(&vm_table(entry, &mut p), &mut p);
        let merged = own.over(&defaults);
        if let (Some(h), true) = (&hostname, p.is_empty()) {
            match plan_vm(&merged, &name, h, mac, secure_boot, b) {
                Ok(vm) => hosts.push(LabHost {
                    hostname: h.clone(),
                    vm,
                }),
                Err(e) => p.extend(e),
            }
        }
        problems.extend(
            p.into_iter()
                .map(|t| Problem::usage(format!("{label}: {t}"))),
        );
    }
    problems.extend(twice(&hosts).into_iter().map(Problem::usage));
    let names: Vec<&str> = hosts.iter().map(|h| h.hostname.as_str()).collect();
    problems.extend(super::resolve::unknown_hosts(&names, only));
    if !problems.is_empty() {
        return Err(problems);
    }
    if !only.is_empty() {
        hosts.retain(|h| only.iter().any(|o| o.eq_ignore_ascii_case(&h.hostname)));
    }
    Ok(LabVms { name, hosts })
}

/// VM names and MACs used twice in the lab.
fn twice(hosts: &[LabHost]) -> Vec<String> {
    let mut names: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut macs: BTreeMap<Mac, Vec<String>> = BTreeMap::new();
    for h in hosts {
        names
            .entry(h.vm.name.to_lowercase())
            .or_default()
            .push(&h.hostname);
        for (i, m) in h.vm.macs.iter().enumerate() {
            macs.entry(*m)
                .or_default()
                .push(format!("{} NIC {i}", h.hostname));
        }
    }
    let mut out: Vec<String> = names
        .into_iter()
        .filter(|(_, who)| who.len() > 1)
        .map(|(n, who)| {
            format!(
                "VM name {n} is used by {}: give each host its own (vm.name)",
                who.join(", ")
            )
        })
        .collect();
    out.extend(
        macs.into_iter()
            .filter(|(_, who)| who.len() > 1)
            .map(|(m, who)| {
                format!(
                    "MAC {m} is used by {}: each NIC needs its own",
                    who.join(", ")
                )
            }),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::inventory::{parse_csv, parse_toml};
    use super::*;

    fn problems_of(toml: &str) -> Vec<String> {
        read_lab(&parse_toml(toml).unwrap(), "lab", &[], &BTreeMap::new())
            .unwrap_err()
            .into_iter()
            .map(|p| p.text)
            .collect()
    }

    const BASE: &str = "[defaults.vm]\ndatastore = 'ds1'\nnetworks = ['Trunk']\n";

    #[test]
    fn defaults_and_hosts_merge_key_by_key() {
        let inv = parse_toml(&format!(
            "{BASE}cpus = 8\nmemory_gb = 24\n\
             [[host]]\nhostname = 'esx01'\nmac = '00:50:56:01:00:01'\n[host.vm]\nmemory_gb = 32\nnics = 2\n\
             [[host]]\nhostname = 'esx02'\nvm.name = '{{lab}}-{{hostname}}'\nvm.boot = 'http'\n\
             vm.boot_url = 'http://10.0.0.5:8080/'\n"
        ))
        .unwrap();
        let lab = read_lab(&inv, "lab", &[], &BTreeMap::new()).unwrap();
        let (a, b) = (&lab.hosts[0].vm, &lab.hosts[1].vm);
        assert_eq!((a.cpus, a.memory_gb), (8, 32));
        assert_eq!((b.cpus, b.memory_gb), (8, 24));
        assert_eq!(a.networks, ["Trunk", "Trunk"]);
        assert_eq!(a.macs[0].to_string(), "00:50:56:01:00:01");
        assert_eq!(a.macs[1], Mac::derived("lab", "esx01", 1));
        assert_eq!(a.disks_gb, [DEFAULT_BOOT_DISK_GB]);
        assert_eq!(
            a.boot,
            Boot::Cdrom {
                datastore: "ds1".into(),
                folder: "esxi-iso/lab".into()
            }
        );
        assert_eq!(b.name, "lab-esx02");
        assert_eq!(
            b.boot,
            Boot::Http {
                url: "http://10.0.0.5:8080".into()
            }
        );
        assert_eq!(
            (a.firmware, a.secure_boot, a.thin),
            (Firmware::Efi, false, true)
        );
        // --host keeps the others checked, and builds only those named.
        let one = read_lab(&inv, "lab", &["ESX02".into()], &BTreeMap::new()).unwrap();
        assert_eq!(one.hosts.len(), 1);
    }

    #[test]
    fn a_hosts_vm_host_replaces_the_defaults_cluster() {
        let inv = parse_toml(&format!(
            "{BASE}cluster = 'C1'\nresource_pool = 'Nested'\n\
             [[host]]\nhostname = 'esx01'\nvm.host = 'esx-a.lab.local'\n\
             [[host]]\nhostname = 'esx02'\n"
        ))
        .unwrap();
        let lab = read_lab(&inv, "lab", &[], &BTreeMap::new()).unwrap();
        let (a, b) = (&lab.hosts[0].vm, &lab.hosts[1].vm);
        assert_eq!(
            (a.cluster.as_deref(), a.host.as_deref()),
            (None, Some("esx-a.lab.local"))
        );
        assert_eq!(a.resource_pool.as_deref(), Some("Nested"));
        assert_eq!(
            (b.cluster.as_deref(), b.host.as_deref()),
            (Some("C1"), None)
        );
        // The defaults the other way round.
        let inv = parse_toml(&format!(
            "{BASE}host = 'esx-a'\n[[host]]\nhostname = 'esx01'\nvm.cluster = 'C1'\n"
        ))
        .unwrap();
        let vm = &read_lab(&inv, "lab", &[], &BTreeMap::new()).unwrap().hosts[0].vm;
        assert_eq!(
            (vm.cluster.as_deref(), vm.host.as_deref()),
            (Some("C1"), None)
        );
        // One table giving both is the problem, named once where it is.
        let p = problems_of(&format!(
            "{BASE}cluster = 'C1'\nhost = 'esx-a'\n[[host]]\nhostname = 'esx01'\n\
             [[host]]\nhostname = 'esx02'\nvm.cluster = 'C2'\nvm.host = 'esx-b'\n"
        ));
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(
            p[0].starts_with("[defaults] vm.cluster and vm.host: give one"),
            "{p:#?}"
        );
        assert!(
            p[1].starts_with("esx02: vm.cluster and vm.host: give one"),
            "{p:#?}"
        );
    }

    #[test]
    fn secure_boot_follows_the_build() {
        let built = |sb: Option<bool>| Built {
            secure_boot: sb,
            netboot: None,
            rebuild: "REBUILD".into(),
        };
        let folder = BTreeMap::from([
            ("esx01".to_string(), built(Some(true))),
            ("esx02".to_string(), built(None)),
            ("esx03".to_string(), built(Some(false))),
        ]);
        let hosts =
            "[[host]]\nhostname = 'ESX01'\n[[host]]\nhostname = 'esx02'\nsecure_boot = true\n\
                     [[host]]\nhostname = 'esx03'\n[[host]]\nhostname = 'esx04'\n";
        let inv = parse_toml(&format!("{BASE}{hosts}")).unwrap();
        let lab = read_lab(&inv, "lab", &[], &folder).unwrap();
        // Built with --secure-boot; an older build's entry and a host the
        // folder does not list take the inventory's.
        let on: Vec<bool> = lab.hosts.iter().map(|h| h.vm.secure_boot).collect();
        assert_eq!(on, [true, true, false, false]);
        // BIOS is refused for a host built for Secure Boot.
        let inv = parse_toml(&format!("{BASE}firmware = 'bios'\n{hosts}")).unwrap();
        let p: Vec<String> = read_lab(&inv, "lab", &[], &folder)
            .unwrap_err()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(
            p,
            [
                "ESX01: vm.firmware = \"bios\": ESX01 was built for Secure Boot (manifest.json: \
                 build --secure-boot, or its secure_boot), which needs vm.firmware = \"efi\": \
                 drop vm.firmware, or rebuild it without Secure Boot (REBUILD)",
                "esx02: secure_boot: Secure Boot needs vm.firmware = \"efi\"",
            ]
        );
        // An inventory that now says otherwise than the build.
        let inv = parse_toml(&format!(
            "[defaults]\nsecure_boot = true\n{BASE}[[host]]\nhostname = 'esx01'\nsecure_boot = false\n\
             [[host]]\nhostname = 'esx03'\n"
        ))
        .unwrap();
        let p: Vec<String> = read_lab(&inv, "lab", &[], &folder)
            .unwrap_err()
            .into_iter()
            .map(|p| p.text)
            .collect();
        assert_eq!(
            p,
            [
                "esx01: secure_boot: the inventory says false, but esx01 was built for Secure \
                 Boot (manifest.json): rebuild it so it follows the inventory (REBUILD)",
                "esx03: secure_boot: the inventory says true, but esx03 was built without \
                 Secure Boot (manifest.json): rebuild it so it follows the inventory (REBUILD)",
            ]
        );
    }

    #[test]
    fn csv_columns_are_vm_keys() {
        let inv = parse_csv(
            "hostname,vm.datastore,vm.networks,vm.cpus,vm.disks_gb,vm.macs\n\
             esx01,ds1,\"VM Network, B\",2,\"40 100\",00:50:56:00:00:0a\n",
        )
        .unwrap();
        let lab = read_lab(&inv, "lab", &[], &BTreeMap::new()).unwrap();
        let vm = &lab.hosts[0].vm;
        assert_eq!(vm.networks, ["VM Network", "B"]);
        assert_eq!(vm.disks_gb, [40, 100]);
        assert_eq!(vm.cpus, 2);
        assert_eq!(vm.macs[0].to_string(), "00:50:56:00:00:0a");
    }

    #[test]
    fn every_problem_is_named() {
        let p = problems_of(&format!(
            "{BASE}cpu = 4\n\
             [[host]]\nhostname = 'esx01'\nvm.cpus = 1\nvm.memory_gb = 4\n\
             [[host]]\nhostname = 'esx02'\nvm.firmware = 'bois'\nvm.disk_controller = 'sata'\n\
             [[host]]\nhostname = 'esx03'\nmac = '00:50:56:40:00:01'\n\
             [[host]]\nhostname = 'esx04'\nvm.macs = ['00:50:56:00:00:01', '00:50:56:00:00:02']\n\
             [[host]]\nhostname = 'esx05'\nvm.boot = 'http'\n\
             [[host]]\nhostname = 'esx06'\nvm.name = '{{hostname}}-{{site}}'\nvm.networks = ['a', 'b']\nvm.nics = 3\n\
             [[host]]\nhostname = 'esx07'\nsecure_boot = true\nvm.firmware = 'bios'\n"
        ));
        let want = [
            "[defaults] vm.cpu: not a VM setting (did you mean cpus?)",
            "esx01: vm.cpus: 1 is too few: ESXi needs at least 2 CPUs",
            "esx01: vm.memory_gb: 4 GB is too little",
            "esx02: vm.firmware: \"bois\" is not one of efi, bios (did you mean bios?)",
            "esx02: vm.disk_controller: \"sata\" is not one of pvscsi, nvme",
            "esx03: mac: 00:50:56:40:00:01 is outside VMware's range",
            "esx04: vm.macs: 2 MACs for 1 NICs",
            "esx05: vm.boot_url: missing",
            "esx06: vm.name: {site} is not a placeholder",
            "esx06: vm.networks: 2 port groups for 3 NICs",
            "esx07: secure_boot: Secure Boot needs vm.firmware = \"efi\"",
        ];
        for w in want {
            assert!(p.iter().any(|l| l.starts_with(w)), "{w}\n{p:#?}");
        }
        let p = problems_of(&format!(
            "{BASE}[[host]]\nhostname = 'esx01'\nvm.macs = '00:50:56:00:00:02'\n\
             [[host]]\nhostname = 'esx02'\nvm.name = 'ESX01'\nvm.nics = 2\nvm.macs = '00:50:56:00:00:01 00:50:56:00:00:02'\n"
        ));
        for w in [
            "VM name esx01 is used by esx01, esx02",
            "MAC 00:50:56:00:00:02 is used by esx01 NIC 0, esx02 NIC 1",
        ] {
            assert!(p.iter().any(|l| l.starts_with(w)), "{w}\n{p:#?}");
        }
        let p = problems_of("[[host]]\nhostname = 'esx01'\n");
        assert!(
            p.iter()
                .any(|l| l.starts_with("esx01: vm.datastore: missing")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|l| l.starts_with("esx01: vm.networks: missing")),
            "{p:?}"
        );
        let p = problems_of(&format!("{BASE}[[host]]\nhostname = 'esx01'\nvm = 3\n"));
        assert!(p[0].starts_with("esx01: vm: must be a table"), "{p:?}");
    }
}
