//! The VM each host of a lab runs in, for `esxi-iso deploy`: the `vm`
//! table of `[defaults]` and of each host (`[defaults.vm]`, `[host.vm]`
//! or `vm.KEY = ...` in TOML; `vm.KEY` columns in CSV), merged key by key
//! (a host's key replaces the defaults' one, the rest stay), except
//! `cluster` and `host`: they are one choice, where the VM runs, so a
//! table that gives one of them replaces both of the defaults' (a host's
//! `vm.host` pins its VM even when `[defaults.vm]` names a cluster), and
//! one table giving both is a problem.
//!
//! [`VmSettings::parse`] checks what is written (unknown keys with the
//! nearest name, types, ranges, enumerations), for `build` and `deploy`
//! alike; [`super::vmplan`] turns a host's merged settings into what
//! deploy makes.

use toml::{Table, Value};

use super::mac::Mac;
use super::resolve::bool_key;
use crate::diagnostic::nearest;

/// Keys of a `vm` table.
pub const VM_KEYS: &[&str] = &[
    "name",
    "datacenter",
    "cluster",
    "host",
    "resource_pool",
    "folder",
    "datastore",
    "networks",
    "nics",
    "cpus",
    "memory_gb",
    "disks_gb",
    "disk_controller",
    "thin",
    "macs",
    "firmware",
    "boot",
    "boot_url",
    "iso_datastore",
    "iso_folder",
    "mac_learn_filter",
    "guest_id",
    "hardware_version",
];

/// Fewest vCPUs and GB of memory ESXi installs with: ESXi 7.0 and 8.0
/// require two CPU cores and 8 GB (VMware's "ESXi Hardware
/// Requirements" of each release).
pub const MIN_CPUS: u32 = 2;
pub const MIN_MEMORY_GB: u32 = 8;
/// Most NICs a VM has (vSphere's limit).
pub const MAX_NICS: u32 = 10;
/// Most disks, all on one controller.
pub const MAX_DISKS: usize = 15;
/// The boot disk when none is given, in GB: what ESXi 7 and later want of
/// a boot device that also holds ESX-OSData.
pub const DEFAULT_BOOT_DISK_GB: u32 = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskController {
    Pvscsi,
    Nvme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firmware {
    Efi,
    Bios,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootMode {
    /// The host's ISO in a SATA CD drive.
    Cdrom,
    /// UEFI HTTP boot from `esxi-iso serve` (vSphere 7.0U2 and later).
    Http,
}

/// A `vm` table as written: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmSettings {
    pub name: Option<String>,
    pub datacenter: Option<String>,
    pub cluster: Option<String>,
    pub host: Option<String>,
    pub resource_pool: Option<String>,
    pub folder: Option<String>,
    pub datastore: Option<String>,
    pub networks: Option<Vec<String>>,
    pub nics: Option<u32>,
    pub cpus: Option<u32>,
    pub memory_gb: Option<u32>,
    pub disks_gb: Option<Vec<u32>>,
    pub disk_controller: Option<DiskController>,
    pub thin: Option<bool>,
    pub macs: Option<Vec<Mac>>,
    pub firmware: Option<Firmware>,
    pub boot: Option<BootMode>,
    pub boot_url: Option<String>,
    pub iso_datastore: Option<String>,
    pub iso_folder: Option<String>,
    pub mac_learn_filter: Option<bool>,
    pub guest_id: Option<String>,
    pub hardware_version: Option<String>,
}

/// One of a few words; an unknown one gets the nearest.
fn word<T: Copy>(
    key: &str,
    v: &str,
    choices: &[(&'static str, T)],
    problems: &mut Vec<String>,
) -> Option<T> {
    let lower = v.trim().to_ascii_lowercase();
    if let Some((_, t)) = choices.iter().find(|(w, _)| *w == lower) {
        return Some(*t);
    }
    let names: Vec<&str> = choices.iter().map(|(w, _)| *w).collect();
    let near = nearest(&lower, &names)
        .map(|n| format!(" (did you mean {n}?)"))
        .unwrap_or_default();
    problems.push(format!(
        "{key}: {v:?} is not one of {}{near}",
        names.join(", ")
    ));
    None
}

/// A whole number in `lo..=hi` (CSV cells are strings).
fn number(
    key: &str,
    v: &Value,
    lo: u32,
    hi: u32,
    unit: &str,
    problems: &mut Vec<String>,
) -> Option<u32> {
    let n = match v {
        Value::Integer(i) => Some(*i),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= i64::from(lo) && n <= i64::from(hi) => Some(n as u32),
        Some(n) => {
            problems.push(format!(
                "{key}: {n}{unit} is out of range: give {lo} to {hi}{unit}"
            ));
            None
        }
        None => {
            problems.push(format!(
                "{key}: must be a whole number ({lo} to {hi}{unit})"
            ));
            None
        }
    }
}

/// A list: an array, or one string of items split on commas (and on
/// spaces too when `words`: sizes and MACs, not names, which may have
/// spaces).
fn list(key: &str, v: &Value, words: bool, problems: &mut Vec<String>) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) => Some(a.clone()),
        Value::String(s) => Some(
            s.split(|c: char| c == ',' || (words && c.is_whitespace()))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_string()))
                .collect(),
        ),
        Value::Integer(_) => Some(vec![v.clone()]),
        _ => {
            problems.push(format!("{key}: must be a list"));
            None
        }
    }
}

fn text(key: &str, v: &Value, problems: &mut Vec<String>) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() && !s.chars().any(char::is_control) => {
            Some(s.trim().to_string())
        }
        Value::String(_) => {
            problems.push(format!(
                "{key}: must be a non-empty name without control characters"
            ));
            None
        }
        _ => {
            problems.push(format!("{key}: must be a string"));
            None
        }
    }
}

impl VmSettings {
    /// Reads a `vm` table; each problem is pushed as `vm.KEY: ...`.
    pub fn parse(t: &Table, problems: &mut Vec<String>) -> VmSettings {
        let mut s = VmSettings::default();
        let mut own = Vec::new();
        for (k, v) in t {
            let key = k.as_str();
            let p = &mut own;
            match key {
                "name" => s.name = text(key, v, p),
                "datacenter" => s.datacenter = text(key, v, p),
                "cluster" => s.cluster = text(key, v, p),
                "host" => s.host = text(key, v, p),
                "resource_pool" => s.resource_pool = text(key, v, p),
                "folder" => s.folder = text(key, v, p).map(|f| f.trim_matches('/').to_string()),
                "datastore" => s.datastore = text(key, v, p),
                "iso_datastore" => s.iso_datastore = text(key, v, p),
                "iso_folder" => s.iso_folder = text(key, v, p).map(|f| f.trim_matches('/').to_string()),
                "guest_id" => s.guest_id = text(key, v, p),
                "hardware_version" => s.hardware_version = text(key, v, p),
                "boot_url" => s.boot_url = text(key, v, p),
                "networks" => {
                    s.networks = list(key, v, false, p).and_then(|items| {
                        let names: Option<Vec<String>> = items.iter().map(|i| text(key, i, p)).collect();
                        names.filter(|n| {
                            if n.is_empty() {
                                p.push(format!("{key}: give at least one port group"));
                            }
                            !n.is_empty()
                        })
                    })
                }
                "nics" => s.nics = number(key, v, 1, MAX_NICS, "", p),
                "cpus" => s.cpus = number(key, v, 1, 768, "", p),
                "memory_gb" => s.memory_gb = number(key, v, 1, 24_576, " GB", p),
                "disks_gb" => {
                    s.disks_gb = list(key, v, true, p).and_then(|items| {
                        if items.is_empty() || items.len() > MAX_DISKS {
                            p.push(format!(
                                "{key}: give 1 to {MAX_DISKS} sizes (the boot disk first, then disks for vSAN)"
                            ));
                            return None;
                        }
                        items.iter().map(|i| number(key, i, 1, 63_488, " GB", p)).collect()
                    })
                }
                "disk_controller" => {
                    s.disk_controller = match v {
                        Value::String(w) => word(key, w, &[("pvscsi", DiskController::Pvscsi), ("nvme", DiskController::Nvme)], p),
                        _ => {
                            p.push(format!("{key}: must be pvscsi or nvme"));
                            None
                        }
                    }
                }
                "firmware" => {
                    s.firmware = match v {
                        Value::String(w) => word(key, w, &[("efi", Firmware::Efi), ("bios", Firmware::Bios)], p),
                        _ => {
                            p.push(format!("{key}: must be efi or bios"));
                            None
                        }
                    }
                }
                "boot" => {
                    s.boot = match v {
                        Value::String(w) => word(key, w, &[("cdrom", BootMode::Cdrom), ("http", BootMode::Http)], p),
                        _ => {
                            p.push(format!("{key}: must be cdrom or http"));
                            None
                        }
                    }
                }
                "thin" | "mac_learn_filter" => {
                    let mut one = Table::new();
                    one.insert(key.to_string(), v.clone());
                    let b = bool_key(&one, key, p);
                    if key == "thin" {
                        s.thin = b;
                    } else {
                        s.mac_learn_filter = b;
                    }
                }
                "macs" => {
                    s.macs = list(key, v, true, p).and_then(|items| {
                        items
                            .iter()
                            .map(|i| {
                                let t = text(key, i, p)?;
                                Mac::parse(&t).map_err(|e| p.push(format!("{key}: {e}"))).ok()
                            })
                            .collect()
                    })
                }
                _ => {
                    p.push(match nearest(key, VM_KEYS) {
                        Some(n) => format!("{key}: not a VM setting (did you mean {n}?)"),
                        None => format!(
                            "{key}: not a VM setting; a vm table takes {}",
                            VM_KEYS.join(", ")
                        ),
                    });
                }
            }
        }
        problems.extend(own.into_iter().map(|p| format!("vm.{p}")));
        if s.cluster.is_some() && s.host.is_some() {
            problems.push(
                "vm.cluster and vm.host: give one (vm.cluster lets the cluster choose the host, \
                 vm.host pins the VM to that host, in its cluster if it has one)"
                    .into(),
            );
        }
        s
    }

    /// These settings over `defaults`: each key given here wins, and
    /// `cluster` or `host` given here replaces both of the defaults' (they
    /// are one choice: where the VM runs).
    pub fn over(self, defaults: &VmSettings) -> VmSettings {
        let d = defaults.clone();
        let (cluster, host) = if self.cluster.is_some() || self.host.is_some() {
            (self.cluster, self.host)
        } else {
            (d.cluster, d.host)
        };
        VmSettings {
            name: self.name.or(d.name),
            datacenter: self.datacenter.or(d.datacenter),
            cluster,
            host,
            resource_pool: self.resource_pool.or(d.resource_pool),
            folder: self.folder.or(d.folder),
            datastore: self.datastore.or(d.datastore),
            networks: self.networks.or(d.networks),
            nics: self.nics.or(d.nics),
            cpus: self.cpus.or(d.cpus),
            memory_gb: self.memory_gb.or(d.memory_gb),
            disks_gb: self.disks_gb.or(d.disks_gb),
            disk_controller: self.disk_controller.or(d.disk_controller),
            thin: self.thin.or(d.thin),
            macs: self.macs.or(d.macs),
            firmware: self.firmware.or(d.firmware),
            boot: self.boot.or(d.boot),
            boot_url: self.boot_url.or(d.boot_url),
            iso_datastore: self.iso_datastore.or(d.iso_datastore),
            iso_folder: self.iso_folder.or(d.iso_folder),
            mac_learn_filter: self.mac_learn_filter.or(d.mac_learn_filter),
            guest_id: self.guest_id.or(d.guest_id),
            hardware_version: self.hardware_version.or(d.hardware_version),
        }
    }
}

/// The `vm` table of an inventory entry: `[host.vm]` in TOML, `vm.KEY`
/// columns in CSV (which the CSV reader gathers into one).
pub fn vm_table(entry: &Table, problems: &mut Vec<String>) -> Table {
    match entry.get("vm") {
        None => Table::new(),
        Some(Value::Table(t)) => t.clone(),
        Some(_) => {
            problems.push("vm: must be a table ([host.vm], or vm.KEY = ... keys)".into());
            Table::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (VmSettings, Vec<String>) {
        let t: Table = text.parse().unwrap();
        let mut p = Vec::new();
        (VmSettings::parse(&t, &mut p), p)
    }

    #[test]
    fn values_are_read_and_checked() {
        let (s, p) = parse(
            "cpus = '6'\nnetworks = 'VM Network, Trunk'\ndisks_gb = '40 100'\n\
             disk_controller = 'NVMe'\nthin = 'no'\nfirmware = 'bios'\nboot = 'http'\nfolder = '/Labs/'\n",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(s.cpus, Some(6));
        assert_eq!(
            s.networks.as_deref(),
            Some(&["VM Network".to_string(), "Trunk".into()][..])
        );
        assert_eq!(s.disks_gb.as_deref(), Some(&[40, 100][..]));
        assert_eq!(s.disk_controller, Some(DiskController::Nvme));
        assert_eq!(
            (s.thin, s.firmware, s.boot),
            (Some(false), Some(Firmware::Bios), Some(BootMode::Http))
        );
        assert_eq!(s.folder.as_deref(), Some("Labs"));
        let cases = [
            ("cpus = 0", "vm.cpus: 0 is out of range: give 1 to 768"),
            ("cpus = 'many'", "vm.cpus: must be a whole number"),
            ("memory_gb = 2.5", "vm.memory_gb: must be a whole number"),
            ("disks_gb = []", "vm.disks_gb: give 1 to 15 sizes"),
            ("networks = []", "vm.networks: give at least one port group"),
            ("networks = [1]", "vm.networks: must be a string"),
            ("boot = 'pxe'", "vm.boot: \"pxe\" is not one of cdrom, http"),
            ("firmware = 1", "vm.firmware: must be efi or bios"),
            (
                "macs = ['00:50:56']",
                "vm.macs: \"00:50:56\" is not a MAC address",
            ),
            ("datastore = ''", "vm.datastore: must be a non-empty name"),
            (
                "mac_learn_filtr = true",
                "vm.mac_learn_filtr: not a VM setting (did you mean mac_learn_filter?)",
            ),
        ];
        for (text, want) in cases {
            let (_, p) = parse(text);
            assert!(p.len() == 1 && p[0].starts_with(want), "{text}: {p:?}");
        }
        // A host's key wins; the others come from the defaults.
        let (host, _) = parse("cpus = 8");
        let (defaults, _) = parse("cpus = 2\nmemory_gb = 12");
        let merged = host.over(&defaults);
        assert_eq!((merged.cpus, merged.memory_gb), (Some(8), Some(12)));
    }

    #[test]
    fn cluster_and_host_are_one_choice() {
        let merged = |host: &str, defaults: &str| {
            let (h, p) = parse(host);
            let (d, q) = parse(defaults);
            assert!(p.is_empty() && q.is_empty(), "{p:?} {q:?}");
            let m = h.over(&d);
            (m.cluster, m.host)
        };
        let some = |s: &str| Some(s.to_string());
        // A host's vm.host replaces the defaults' vm.cluster, and the
        // other way round; a table that names neither keeps the defaults'.
        assert_eq!(
            merged("host = 'esx-a'", "cluster = 'C1'"),
            (None, some("esx-a"))
        );
        assert_eq!(
            merged("cluster = 'C2'", "host = 'esx-a'"),
            (some("C2"), None)
        );
        assert_eq!(
            merged("host = 'esx-b'", "host = 'esx-a'"),
            (None, some("esx-b"))
        );
        assert_eq!(merged("cpus = 4", "cluster = 'C1'"), (some("C1"), None));
        // Only one table giving both is a problem.
        let (_, p) = parse("cluster = 'C1'\nhost = 'esx-a'");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("vm.cluster and vm.host: give one (vm.cluster lets the cluster"),
            "{p:?}"
        );
    }
}
