//! Template variables: where they come from (`--vars FILE.toml`, then
//! `--set KEY=VALUE`, then ESXI_ISO_ROOT_PASSWORD for the password), how
//! they are checked, and the derived values templates get.
//!
//! Every value is validated before rendering: a known variable takes its
//! TOML type (a wrong one is refused, not dropped); no value may hold a
//! newline or control character, so no value can inject kickstart lines;
//! hostnames follow RFC 1123 and addresses must parse.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Context, Result};
use toml::Value;

use super::crypt;
use crate::failure::{Failure, Tag};

pub const PASSWORD_ENV: &str = "ESXI_ISO_ROOT_PASSWORD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Hostname,
    Domain,
    Ip,
    Ipv4,
    Netmask,
    Ipv4List,
    Vlan,
    Device,
    Secret,
    List,
    HostList,
    Disk,
    Vmfs,
    MediaSize,
    Bool,
}

pub struct Spec {
    pub name: &'static str,
    pub group: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    pub help: &'static str,
}

/// Every variable the built-in templates understand.
pub const SPECS: &[Spec] = &[
    Spec { name: "hostname", group: "identity", kind: Kind::Hostname, default: "", help: "host name, short or fully qualified (RFC 1123)" },
    Spec { name: "domain", group: "identity", kind: Kind::Domain, default: "", help: "DNS domain appended to a short hostname" },
    Spec { name: "ip", group: "network", kind: Kind::Ip, default: "", help: "static address a.b.c.d/prefix, or a.b.c.d with netmask; unset: DHCP" },
    Spec { name: "netmask", group: "network", kind: Kind::Netmask, default: "", help: "netmask when ip has no /prefix" },
    Spec { name: "gateway", group: "network", kind: Kind::Ipv4, default: "", help: "default gateway (inside the ip's subnet)" },
    Spec { name: "nameservers", group: "network", kind: Kind::Ipv4List, default: "", help: "DNS servers, comma-separated" },
    Spec { name: "vlan_id", group: "network", kind: Kind::Vlan, default: "", help: "VLAN id 0-4095 for the management network" },
    Spec { name: "device", group: "network", kind: Kind::Device, default: "", help: "management NIC: vmnicN or a MAC address" },
    Spec { name: "root_password", group: "access", kind: Kind::Secret, default: "", help: "root password, stored only as a SHA-512 crypt hash (or give a $6$ hash); also ESXI_ISO_ROOT_PASSWORD" },
    Spec { name: "ssh_authorized_keys", group: "access", kind: Kind::List, default: "", help: "SSH public keys for root, installed at first boot" },
    Spec { name: "ntp_servers", group: "access", kind: Kind::HostList, default: "", help: "NTP servers, comma-separated; configured and enabled at first boot" },
    Spec { name: "syslog", group: "access", kind: Kind::Text, default: "", help: "remote syslog target, e.g. udp://10.0.0.5:514" },
    Spec { name: "disk", group: "disk", kind: Kind::Disk, default: "firstdisk", help: "target: firstdisk, firstdisk=local,usb, or a device name" },
    Spec { name: "vmfs", group: "disk", kind: Kind::Vmfs, default: "overwrite", help: "existing VMFS on the disk: overwrite, preserve, or none (no VMFS on disk)" },
    Spec { name: "system_media_size", group: "disk", kind: Kind::MediaSize, default: "", help: "min, small, default or max: boot option systemMediaSize" },
    Spec { name: "create_datastore", group: "disk", kind: Kind::Bool, default: "false", help: "create a local datastore (off: --novmfsondisk, usual for nested hosts)" },
    Spec { name: "allow_legacy_cpu", group: "switches", kind: Kind::Bool, default: "false", help: "boot option allowLegacyCPU=true, on the ISO and the installed host" },
    Spec { name: "accept_unsupported_cpu", group: "switches", kind: Kind::Bool, default: "false", help: "install past CPU prerequisite checks (--forceunsupportedinstall, 8.0)" },
    Spec { name: "enable_ssh", group: "switches", kind: Kind::Bool, default: "false", help: "enable and start SSH at first boot" },
    Spec { name: "enable_shell", group: "switches", kind: Kind::Bool, default: "false", help: "enable and start the ESXi Shell at first boot" },
    Spec { name: "suppress_shell_warning", group: "switches", kind: Kind::Bool, default: "true", help: "set /UserVars/SuppressShellWarning 1" },
    Spec { name: "follow_hardware_mac", group: "switches", kind: Kind::Bool, default: "true", help: "set /Net/FollowHardwareMac 1 so vmk0 takes the VM's MAC" },
    Spec { name: "firstboot", group: "switches", kind: Kind::List, default: "", help: "extra %firstboot lines, one per list item" },
];

pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Variables as given, before derivation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vars {
    pub values: BTreeMap<String, Value>,
    /// Text files of the overlays' ramdisk part, by relative path: the
    /// `overlay` template variable.
    pub overlay: BTreeMap<String, String>,
    /// Where the root password's salt comes from: random unless the build
    /// is reproducible.
    pub salt: crypt::Salt,
    /// `--report-to`: the template variable `report` (lines per section).
    pub report: Option<crate::report::HostReport>,
    /// Where each value the user gave comes from, for messages
    /// (`--set`, `--vars lab.toml`, `[defaults]`, ...). Values the user
    /// did not name (the password from the environment) have none.
    pub origins: BTreeMap<String, String>,
}

impl Vars {
    /// Merges, in increasing priority: the TOML file, `--set`, then the
    /// password environment variable (only if no password was given).
    pub fn load(vars_file: Option<&Path>, set: &[String]) -> Result<Vars> {
        let mut v = Vars::default();
        if let Some(path) = vars_file {
            let text =
                crate::input::read_text_capped(path, crate::input::VARS_MAX, "variables file")?;
            let table: toml::Table = text
                .parse()
                .with_context(|| format!("parsing variables file {}", path.display()))
                .tag(Failure::Input)?;
            let origin = format!("--vars {}", path.display());
            for (k, val) in table {
                v.insert_from(&k, val, &origin)
                    .with_context(|| format!("in {}", path.display()))?;
            }
        }
        v.extend_set(set)?;
        if !v.values.contains_key("root_password") {
            if let Ok(pw) = std::env::var(PASSWORD_ENV) {
                if !pw.is_empty() {
                    v.insert_str("root_password", &pw)?;
                }
            }
        }
        Ok(v)
    }

    /// Adds `--set KEY=VALUE` items; a key given twice is an error (one
    /// of the two values would be dropped without a word).
    pub fn extend_set(&mut self, set: &[String]) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for item in set {
            let Some((k, val)) = item.split_once('=') else {
                bail!("--set {item:?}: expected KEY=VALUE");
            };
            let k = k.trim();
            // The values are not shown: one may be a secret.
            if !seen.insert(k) {
                bail!("--set {k} is given more than once: give it once");
            }
            self.insert_from(k, Value::String(val.into()), "--set")?;
        }
        Ok(())
    }

    /// Inserts a string as given on a command line or in CSV: lists split
    /// on commas, booleans parse.
    pub fn insert_str(&mut self, key: &str, raw: &str) -> Result<()> {
        self.insert(key, Value::String(raw.into()))
    }

    /// [`Vars::insert`], remembering where the value came from.
    pub fn insert_from(&mut self, key: &str, value: Value, origin: &str) -> Result<()> {
        self.insert(key, value)?;
        self.origins.insert(key.to_string(), origin.to_string());
        Ok(())
    }

    pub fn insert(&mut self, key: &str, value: Value) -> Result<()> {
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("variable name {key:?} must be letters, digits and _");
        }
        let value = match (spec(key).map(|s| s.kind), value) {
            (Some(Kind::Bool), Value::String(s)) => {
                Value::Boolean(parse_bool(&s).with_context(|| format!("variable {key}"))?)
            }
            (Some(Kind::Ipv4List | Kind::HostList), Value::String(s)) => Value::Array(
                s.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into()))
                    .collect(),
            ),
            (Some(Kind::List), Value::String(s)) => Value::Array(vec![Value::String(s)]),
            (Some(Kind::Vlan), Value::Integer(i)) => Value::String(i.to_string()),
            (_, v) => v,
        };
        self.values.insert(key.to_string(), value);
        Ok(())
    }

    /// Makes overlay files visible to templates: `overlay` maps ramdisk
    /// paths to text, and the key lines of any `authorized_keys` file join
    /// `ssh_authorized_keys`.
    pub fn set_overlay(&mut self, set: &crate::overlay::OverlaySet) {
        self.overlay = set.ramdisk_texts();
        let keys: Vec<Value> = self
            .overlay
            .iter()
            .filter(|(p, _)| p.rsplit('/').next() == Some("authorized_keys"))
            .flat_map(|(_, t)| {
                t.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(|l| Value::String(l.into()))
                    .collect::<Vec<_>>()
            })
            .collect();
        if !keys.is_empty() {
            let mut list: Vec<Value> = self
                .list("ssh_authorized_keys")
                .into_iter()
                .map(Value::String)
                .collect();
            list.extend(keys);
            self.values
                .insert("ssh_authorized_keys".into(), Value::Array(list));
        }
    }

    /// Later values win: used for inventory defaults then host entries.
    pub fn overlay(&self, other: &Vars) -> Vars {
        let mut v = self.clone();
        v.values.extend(other.values.clone());
        v.overlay.extend(other.overlay.clone());
        for k in other.values.keys() {
            match other.origins.get(k) {
                Some(o) => v.origins.insert(k.clone(), o.clone()),
                None => v.origins.remove(k),
            };
        }
        v
    }

    fn str(&self, key: &str) -> Option<&str> {
        match self.values.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    fn bool(&self, key: &str) -> bool {
        match self.values.get(key) {
            Some(Value::Boolean(b)) => *b,
            _ => spec(key).is_some_and(|s| s.default == "true"),
        }
    }

    fn list(&self, key: &str) -> Vec<String> {
        match self.values.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
            _ => Vec::new(),
        }
    }

    /// All problems with the values, one line each (empty when fine).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.values {
            check_value(k, v, &mut out);
        }
        // The network read with one of its values dropped for its type
        // would only add a false problem ("gateway is set but ip is not").
        let mistyped = |k: &str| {
            self.values
                .get(k)
                .zip(spec(k))
                .is_some_and(|(v, s)| type_problem(s.kind, v).is_some())
        };
        if !["ip", "netmask", "gateway"].into_iter().any(mistyped) {
            if let Err(e) = self.network() {
                out.push(e);
            }
        }
        out
    }

    /// The static network, if `ip` is set: (address, prefix length).
    pub fn network(&self) -> Result<Option<(Ipv4Addr, u8)>, String> {
        let Some(ip) = self.str("ip") else {
            for k in ["gateway", "netmask"] {
                if self.str(k).is_some() {
                    return Err(format!("{k} is set but ip is not: set ip=a.b.c.d/prefix for static networking, or drop {k} for DHCP"));
                }
            }
            return Ok(None);
        };
        let (addr, prefix) = match ip.split_once('/') {
            Some((a, p)) => {
                let a: Ipv4Addr = a
                    .parse()
                    .map_err(|_| format!("ip {ip:?} is not an IPv4 address"))?;
                let p: u8 = p
                    .parse()
                    .ok()
                    .filter(|p| (1..=32).contains(p))
                    .ok_or_else(|| format!("ip {ip:?} has an invalid prefix length (1-32)"))?;
                if self
                    .str("netmask")
                    .is_some_and(|m| parse_netmask(m) != Some(p))
                {
                    return Err(format!(
                        "netmask {} disagrees with ip {ip}",
                        self.str("netmask").unwrap_or_default()
                    ));
                }
                (a, p)
            }
            None => {
                let a: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| format!("ip {ip:?} is not an IPv4 address"))?;
                let m = self.str("netmask").ok_or_else(|| {
                    format!("ip {ip} has no prefix: write ip={ip}/24 or set netmask")
                })?;
                (
                    a,
                    parse_netmask(m)
                        .ok_or_else(|| format!("netmask {m:?} is not a valid IPv4 netmask"))?,
                )
            }
        };
        if let Some(gw) = self.str("gateway") {
            let gw: Ipv4Addr = gw
                .parse()
                .map_err(|_| format!("gateway {gw:?} is not an IPv4 address"))?;
            if !same_subnet(addr, gw, prefix) {
                return Err(format!(
                    "gateway {gw} is outside the subnet of ip {addr}/{prefix}"
                ));
            }
        }
        Ok(Some((addr, prefix)))
    }

    /// Boot options implied by the variables (added to both BOOT.CFG).
    pub fn boot_opts(&self) -> Vec<(String, Option<String>)> {
        let mut out = Vec::new();
        if let Some(s) = self.str("system_media_size") {
            out.push(("systemMediaSize".into(), Some(s.into())));
        }
        if self.bool("allow_legacy_cpu") {
            out.push(("allowLegacyCPU".into(), Some("true".into())));
        }
        out
    }

    pub fn has_password(&self) -> bool {
        self.str("root_password").is_some()
    }

    /// Values safe to show or store: secrets replaced by a marker.
    pub fn redacted(&self) -> BTreeMap<String, Value> {
        self.values
            .iter()
            .map(|(k, v)| {
                if spec(k).is_some_and(|s| s.kind == Kind::Secret) || looks_secret(k) {
                    (k.clone(), Value::String("<redacted>".into()))
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    }

    /// The Tera context: every known variable (with its default), user
    /// extras, the hashed password and derived values.
    pub fn context(&self) -> Result<tera::Context> {
        let problems = self.problems();
        if !problems.is_empty() {
            bail!("invalid template variables:\n  {}", problems.join("\n  "));
        }
        let mut ctx = tera::Context::new();
        for s in SPECS {
            match s.kind {
                Kind::Bool => ctx.insert(s.name, &self.bool(s.name)),
                Kind::List | Kind::Ipv4List | Kind::HostList => {
                    ctx.insert(s.name, &self.list(s.name))
                }
                _ => ctx.insert(s.name, self.str(s.name).unwrap_or(s.default)),
            }
        }
        for (k, v) in &self.values {
            if spec(k).is_none() {
                ctx.insert(k, v);
            }
        }
        ctx.insert("overlay", &self.overlay);
        ctx.insert("report", &self.report.as_ref().map(|r| r.lines()));
        let hostname = self.str("hostname").unwrap_or_default();
        let fqdn = match (hostname, self.str("domain")) {
            ("", _) => String::new(),
            (h, Some(d)) if !h.contains('.') => format!("{h}.{d}"),
            (h, _) => h.to_string(),
        };
        if let Some(pw) = self.str("root_password") {
            let hash = if crypt::is_hashed(pw) {
                pw.to_string()
            } else {
                crypt::hash_password(pw, &self.salt, &fqdn)?
            };
            ctx.insert("root_password", &hash);
        }
        let net = self.network().map_err(anyhow::Error::msg)?;
        ctx.insert("fqdn", &fqdn);
        ctx.insert("network_args", &self.network_args(net, &fqdn));
        // The installer ignores --hostname with DHCP (and warns), so a DHCP
        // host gets its name on first boot instead.
        let dhcp_hostname = if net.is_some() || fqdn.is_empty() {
            String::new()
        } else if fqdn.contains('.') {
            format!("--fqdn={fqdn}")
        } else {
            format!("--host={fqdn}")
        };
        ctx.insert("dhcp_hostname", &dhcp_hostname);
        ctx.insert("install_args", &self.install_args());
        if let Some((addr, prefix)) = net {
            ctx.insert("ip_address", &addr.to_string());
            ctx.insert("netmask", &netmask(prefix).to_string());
        } else {
            ctx.insert("ip_address", "");
        }
        Ok(ctx)
    }

    fn network_args(&self, net: Option<(Ipv4Addr, u8)>, fqdn: &str) -> String {
        let mut a = Vec::new();
        match net {
            Some((addr, prefix)) => {
                a.push("--bootproto=static".to_string());
                a.push(format!("--ip={addr}"));
                a.push(format!("--netmask={}", netmask(prefix)));
                if let Some(gw) = self.str("gateway") {
                    a.push(format!("--gateway={gw}"));
                }
                let ns = self.list("nameservers");
                if !ns.is_empty() {
                    a.push(format!("--nameserver={}", ns.join(",")));
                }
            }
            None => a.push("--bootproto=dhcp".to_string()),
        }
        if net.is_some() && !fqdn.is_empty() {
            a.push(format!("--hostname={fqdn}"));
        }
        if let Some(v) = self.str("vlan_id") {
            a.push(format!("--vlanid={v}"));
        }
        if let Some(d) = self.str("device") {
            a.push(format!("--device={d}"));
        }
        a.join(" ")
    }

    fn install_args(&self) -> String {
        let mut a = Vec::new();
        let disk = self.str("disk").unwrap_or("firstdisk");
        let disk = disk.trim_start_matches("--");
        if disk == "firstdisk" || disk.starts_with("firstdisk=") {
            a.push(format!("--{disk}"));
        } else {
            a.push(format!("--disk={disk}"));
        }
        match self.str("vmfs").unwrap_or("overwrite") {
            "preserve" => a.push("--preservevmfs".into()),
            "none" => a.push("--novmfsondisk".into()),
            _ => {
                a.push("--overwritevmfs".into());
                if !self.bool("create_datastore") {
                    a.push("--novmfsondisk".into());
                }
            }
        }
        if self.bool("accept_unsupported_cpu") {
            a.extend(
                [
                    "--ignoreprereqwarnings",
                    "--ignoreprereqerrors",
                    "--forceunsupportedinstall",
                ]
                .map(String::from),
            );
        }
        a.join(" ")
    }
}

fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "passwd"]
        .iter()
        .any(|s| k.contains(s))
}

fn parse_bool(s: &str) -> Result<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" | "" => Ok(false),
        _ => bail!("{s:?} is not a boolean (use true or false)"),
    }
}

pub fn parse_netmask(s: &str) -> Option<u8> {
    let m: Ipv4Addr = s.parse().ok()?;
    let bits = u32::from(m);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0 && ones > 0).then_some(ones as u8)
}

pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0))
}

pub fn same_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix: u8) -> bool {
    let m = u32::from(netmask(prefix));
    u32::from(a) & m == u32::from(b) & m
}

/// RFC 1123 host name: labels of 1-63 letters, digits, '-', not starting
/// or ending with '-'; 253 characters at most.
pub fn valid_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What a TOML value is, for a message ("the integer 5"); a secret's
/// value is not shown ("an integer").
fn describe(v: &Value, secret: bool) -> String {
    let (a, the, shown) = match v {
        Value::String(s) => ("a string", "the string", format!("{s:?}")),
        Value::Integer(i) => ("an integer", "the integer", i.to_string()),
        Value::Float(f) => ("a float", "the float", f.to_string()),
        Value::Boolean(b) => ("a boolean", "the boolean", b.to_string()),
        Value::Datetime(d) => ("a date", "the date", d.to_string()),
        Value::Array(_) => return "a list".into(),
        Value::Table(_) => return "a table".into(),
    };
    if secret {
        a.to_string()
    } else {
        format!("{the} {shown}")
    }
}

/// A value of the wrong TOML type for a known variable: (what it takes,
/// how to write it). Everything the context would otherwise drop (a
/// number for `ip` made the host DHCP) is refused.
fn type_problem(kind: Kind, v: &Value) -> Option<(&'static str, &'static str)> {
    let scalar = !matches!(v, Value::Array(_) | Value::Table(_));
    match kind {
        Kind::Bool => (!v.is_bool()).then_some(("true or false", "write true or false")),
        Kind::Vlan => (!(v.is_str() || v.is_integer()))
            .then_some(("a VLAN id 0-4095", "write a whole number, like 20")),
        Kind::Ipv4List | Kind::HostList => (!(v.is_str() || v.is_array())).then_some((
            "a list of strings or one comma-separated string",
            "quote each item, in a list: [\"a\", \"b\"]",
        )),
        Kind::List => (!(v.is_str() || v.is_array())).then_some((
            "a list of strings or a string",
            "quote each item, in a list: [\"a\", \"b\"]",
        )),
        Kind::Text
        | Kind::Hostname
        | Kind::Domain
        | Kind::Ip
        | Kind::Ipv4
        | Kind::Netmask
        | Kind::Device
        | Kind::Secret
        | Kind::Disk
        | Kind::Vmfs
        | Kind::MediaSize => (!v.is_str()).then_some((
            "a string",
            if scalar {
                "quote it"
            } else {
                "give one value, in quotes"
            },
        )),
    }
}

fn check_value(key: &str, v: &Value, out: &mut Vec<String>) {
    let secret = spec(key).is_some_and(|s| s.kind == Kind::Secret);
    if let Some(spec) = spec(key) {
        if let Some((wants, fix)) = type_problem(spec.kind, v) {
            out.push(format!(
                "{key}: expected {wants}, got {}: {fix}",
                describe(v, secret)
            ));
            return;
        }
        if let Value::Array(items) = v {
            if let Some(item) = items.iter().find(|x| !x.is_str()) {
                out.push(format!(
                    "{key}: expected a list of strings, got {} in it: quote each item",
                    describe(item, secret)
                ));
                return;
            }
        }
    }
    let strings: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => {
            if a.iter().any(|x| !x.is_str()) {
                out.push(format!("{key}: list items must be strings"));
            }
            a.iter().filter_map(Value::as_str).collect()
        }
        Value::Boolean(_) | Value::Integer(_) | Value::Float(_) => vec![],
        _ => {
            out.push(format!(
                "{key}: must be a string, number, boolean or list of strings"
            ));
            return;
        }
    };
    for s in &strings {
        if s.chars().any(|c| c.is_control()) {
            let shown = if secret {
                "<secret>".to_string()
            } else {
                format!("{s:?}")
            };
            out.push(format!("{key}: value {shown} contains a newline or control character (values cannot add kickstart lines)"));
            return;
        }
    }
    let Some(spec) = spec(key) else { return };
    let one = strings.first().copied().unwrap_or("");
    let bad = |out: &mut Vec<String>, why: String| out.push(format!("{key}: {why}"));
    match spec.kind {
        Kind::Hostname if !one.is_empty() && !valid_hostname(one) => {
            bad(out, format!("{one:?} is not a valid RFC 1123 host name (letters, digits, '-', dot-separated labels)"))
        }
        Kind::Domain if !one.is_empty() && !valid_hostname(one) => bad(out, format!("{one:?} is not a valid DNS domain")),
        Kind::Ipv4 if !one.is_empty() && one.parse::<Ipv4Addr>().is_err() => bad(out, format!("{one:?} is not an IPv4 address")),
        Kind::Netmask if !one.is_empty() && parse_netmask(one).is_none() => bad(out, format!("{one:?} is not a valid IPv4 netmask")),
        Kind::Ipv4List => {
            for s in &strings {
                if s.parse::<Ipv4Addr>().is_err() {
                    bad(out, format!("{s:?} is not an IPv4 address"));
                }
            }
        }
        Kind::HostList => {
            for s in &strings {
                if s.parse::<Ipv4Addr>().is_err() && !valid_hostname(s) {
                    bad(out, format!("{s:?} is neither an IPv4 address nor a host name"));
                }
            }
        }
        Kind::Vlan if !one.is_empty() && one.parse::<u16>().ok().filter(|v| *v <= 4095).is_none() => {
            bad(out, format!("{one:?} is not a VLAN id 0-4095"))
        }
        Kind::Device if !(one.is_empty() || is_mac(one) || one.strip_prefix("vmnic").is_some_and(|n| n.parse::<u32>().is_ok())) => {
            bad(out, format!("{one:?} is neither vmnicN nor a MAC address like 00:50:56:aa:bb:cc"))
        }
        Kind::Disk if one.chars().any(|c| c.is_whitespace()) => bad(out, format!("{one:?} must not contain spaces")),
        Kind::Vmfs if !one.is_empty() && !["overwrite", "preserve", "none"].contains(&one) => {
            bad(out, format!("{one:?} must be overwrite, preserve or none"))
        }
        Kind::MediaSize if !one.is_empty() && !["min", "small", "default", "max"].contains(&one) => {
            bad(out, format!("{one:?} must be min, small, default or max"))
        }
        Kind::List if key == "ssh_authorized_keys" => {
            for s in &strings {
                let ok = ["ssh-", "ecdsa-", "sk-"].iter().any(|p| s.starts_with(p)) && !s.contains('\'');
                if !ok {
                    bad(out, format!("{s:?} is not an OpenSSH public key line (ssh-ed25519 AAAA... comment, no quotes)"));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[&str]) -> Vars {
        let mut v = Vars::default();
        for p in pairs {
            let (k, val) = p.split_once('=').unwrap();
            v.insert_str(k, val).unwrap();
        }
        v
    }

    #[test]
    fn problems_table() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["hostname=esx_01"],
                "hostname: \"esx_01\" is not a valid RFC 1123 host name",
            ),
            (&["hostname=-esx"], "is not a valid RFC 1123"),
            (
                &["ip=10.0.0.300/24"],
                "ip \"10.0.0.300/24\" is not an IPv4 address",
            ),
            (&["ip=10.0.0.3/33"], "invalid prefix length"),
            (
                &["ip=10.0.0.3"],
                "has no prefix: write ip=10.0.0.3/24 or set netmask",
            ),
            (
                &["ip=10.0.0.3", "netmask=255.0.255.0"],
                "netmask: \"255.0.255.0\" is not a valid IPv4 netmask",
            ),
            (
                &["ip=10.0.0.3/24", "gateway=10.0.1.1"],
                "gateway 10.0.1.1 is outside the subnet of ip 10.0.0.3/24",
            ),
            (&["gateway=10.0.0.1"], "gateway is set but ip is not"),
            (
                &["vlan_id=4096"],
                "vlan_id: \"4096\" is not a VLAN id 0-4095",
            ),
            (&["device=eth0"], "neither vmnicN nor a MAC"),
            (
                &["nameservers=10.0.0.1,dns"],
                "\"dns\" is not an IPv4 address",
            ),
            (
                &["hostname=esx01\nreboot"],
                "contains a newline or control character",
            ),
            (&["root_password=a\nb"], "value <secret> contains a newline"),
            (&["vmfs=wipe"], "must be overwrite, preserve or none"),
            (
                &["system_media_size=huge"],
                "must be min, small, default or max",
            ),
        ];
        for (input, want) in cases {
            let p = vars(input).problems();
            assert!(p.iter().any(|m| m.contains(want)), "{input:?}: {p:?}");
        }
        assert!(vars(&[
            "hostname=esx01",
            "domain=lab.local",
            "ip=10.0.0.11/24",
            "gateway=10.0.0.1",
            "vlan_id=0",
            "device=00:50:56:aa:bb:cc"
        ])
        .problems()
        .is_empty());
        assert!(parse_bool("maybe").is_err());
    }

    /// A value of the wrong TOML type (from --vars or an inventory) is
    /// refused by name, not dropped: the context takes only the type each
    /// kind has, so `ip = 10` made a static host DHCP.
    #[test]
    fn wrong_types_are_refused_by_name() {
        let toml = |text: &str| {
            let mut v = Vars::default();
            for (k, val) in text.parse::<toml::Table>().unwrap() {
                v.insert(&k, val).unwrap();
            }
            v
        };
        let list = "quote each item, in a list: [\"a\", \"b\"]";
        let cases: &[(&str, String)] = &[
            ("hostname = 5", "hostname: expected a string, got the integer 5: quote it".into()),
            ("ip = 10", "ip: expected a string, got the integer 10: quote it".into()),
            ("gateway = 5", "gateway: expected a string, got the integer 5: quote it".into()),
            ("domain = 1.5", "domain: expected a string, got the float 1.5: quote it".into()),
            ("disk = 1979-05-27", "disk: expected a string, got the date 1979-05-27: quote it".into()),
            ("device = false", "device: expected a string, got the boolean false: quote it".into()),
            (
                "hostname = ['esx01']",
                "hostname: expected a string, got a list: give one value, in quotes".into(),
            ),
            (
                "syslog = { host = 'x' }",
                "syslog: expected a string, got a table: give one value, in quotes".into(),
            ),
            (
                "root_password = 12345",
                "root_password: expected a string, got an integer: quote it".into(),
            ),
            (
                "ntp_servers = true",
                format!("ntp_servers: expected a list of strings or one comma-separated string, got the boolean true: {list}"),
            ),
            (
                "nameservers = 10",
                format!("nameservers: expected a list of strings or one comma-separated string, got the integer 10: {list}"),
            ),
            (
                "firstboot = 3",
                format!("firstboot: expected a list of strings or a string, got the integer 3: {list}"),
            ),
            (
                "nameservers = ['10.0.0.1', 2]",
                "nameservers: expected a list of strings, got the integer 2 in it: quote each item".into(),
            ),
            (
                "vlan_id = true",
                "vlan_id: expected a VLAN id 0-4095, got the boolean true: write a whole number, like 20".into(),
            ),
            (
                "vlan_id = 1.5",
                "vlan_id: expected a VLAN id 0-4095, got the float 1.5: write a whole number, like 20".into(),
            ),
            (
                "enable_ssh = 1",
                "enable_ssh: expected true or false, got the integer 1: write true or false".into(),
            ),
            // The network is not read without the value dropped: no
            // "gateway is set but ip is not".
            (
                "ip = 10\ngateway = '10.0.0.1'",
                "ip: expected a string, got the integer 10: quote it".into(),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(toml(text).problems(), std::slice::from_ref(want), "{text}");
        }
        // What each kind took before, and the template's own variables,
        // of any TOML type but a table or a date.
        for text in [
            "vlan_id = 20",
            "vlan_id = '20'",
            "enable_ssh = true",
            "enable_ssh = 'yes'",
            "nameservers = '10.0.0.1, 10.0.0.2'",
            "nameservers = ['10.0.0.1']",
            "firstboot = 'echo'",
            "firstboot = ['echo', 'true']",
            "hostname = 'esx01'\nip = '10.0.0.11/24'\ngateway = '10.0.0.1'",
            "rack = 5\nrow = true\nheight = 1.5\ntags = ['a']",
        ] {
            assert_eq!(toml(text).problems(), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn derived_args() {
        let v = vars(&[
            "hostname=esx01",
            "domain=lab.local",
            "ip=10.0.0.11",
            "netmask=255.255.255.0",
            "gateway=10.0.0.1",
            "nameservers=10.0.0.2, 10.0.0.3",
            "vlan_id=20",
        ]);
        let ctx = v.context().unwrap().into_json();
        assert_eq!(ctx["network_args"], "--bootproto=static --ip=10.0.0.11 --netmask=255.255.255.0 --gateway=10.0.0.1 --nameserver=10.0.0.2,10.0.0.3 --hostname=esx01.lab.local --vlanid=20");
        assert_eq!(
            ctx["install_args"],
            "--firstdisk --overwritevmfs --novmfsondisk"
        );
        let v = vars(&[
            "disk=mpx.vmhba0:C0:T0:L0",
            "vmfs=preserve",
            "accept_unsupported_cpu=true",
        ]);
        let ctx = v.context().unwrap().into_json();
        assert_eq!(ctx["network_args"], "--bootproto=dhcp");
        assert_eq!(ctx["install_args"], "--disk=mpx.vmhba0:C0:T0:L0 --preservevmfs --ignoreprereqwarnings --ignoreprereqerrors --forceunsupportedinstall");
        let v = vars(&["disk=firstdisk=local,usb", "create_datastore=yes"]);
        assert_eq!(
            v.context().unwrap().into_json()["install_args"],
            "--firstdisk=local,usb --overwritevmfs"
        );
    }

    #[test]
    fn password_is_hashed_and_redacted() {
        let v = vars(&["root_password=VMware1!", "hostname=esx01"]);
        let ctx = v.context().unwrap().into_json();
        let h = ctx["root_password"].as_str().unwrap();
        assert!(h.starts_with("$6$") && !h.contains("VMware1!"));
        assert_eq!(v.redacted()["root_password"].as_str(), Some("<redacted>"));
        let pre = "$6$abc$def";
        let v = vars(&[&format!("root_password={pre}")]);
        assert_eq!(v.context().unwrap().into_json()["root_password"], pre);
    }

    #[test]
    fn netmasks() {
        assert_eq!(parse_netmask("255.255.255.0"), Some(24));
        assert_eq!(parse_netmask("255.255.255.255"), Some(32));
        assert_eq!(parse_netmask("0.0.0.0"), None);
        assert_eq!(parse_netmask("255.0.255.0"), None);
        assert_eq!(netmask(20).to_string(), "255.255.240.0");
        assert!(same_subnet(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.254".parse().unwrap(),
            24
        ));
    }
}
