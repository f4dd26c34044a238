//! What the installer checks once a command's options are read: the
//! `do*` environment actions of weasel's `scriptedinstall.py` (Python 3
//! version), reduced to what can be known from the file alone. Checks that
//! need the target host (does the disk exist, does it hold VMFS, is the NIC
//! linked, is the licence key genuine) are left to the installer, except
//! where esxi-iso adds advice about them, marked as such.

use super::args::Branch;
use super::grammar::KEYBOARDS;
use super::values;
use super::Diags;

/// What commands leave for later ones (`installClaimedDisks`,
/// `partClaimedDisks`, `vmfsVolumes`).
#[derive(Default)]
pub struct State {
    pub install_disk: Option<String>,
    part_disks: Vec<(String, usize)>,
    part_names: Vec<(String, usize)>,
}

pub fn install(d: &mut Diags, line: usize, id: &str, b: &Branch) {
    let upgrade_style = id != "install";
    let has_target = ["--drive", "--disk", "--firstdisk"]
        .iter()
        .any(|o| b.has(o))
        || (upgrade_style && b.has("--diskBootedFrom"));
    if !has_target {
        let needs = if upgrade_style {
            "--drive, --disk, or --firstdisk"
        } else {
            "--disk or --firstdisk"
        };
        d.error(
            line,
            "install-no-disk",
            format!(
                "{id} requires {needs}: add --firstdisk (first local, then remote, then USB \
                 disk) or --disk=DISK"
            ),
        );
    }
    if upgrade_style && b.has("--diskBootedFrom") {
        if b.has("--bootDiskMarker") {
            d.error(
                line,
                "upgrade-bootdiskmarker",
                format!("{id} --bootDiskMarker option not implemented: remove it"),
            );
        } else if !b.has("--savebootbank") {
            d.error(
                line,
                "upgrade-savebootbank",
                format!(
                    "{id} --diskBootedFrom without --savebootbank=UUID: the installer fails \
                     looking it up; add it"
                ),
            );
        }
    }
    if id != "upgrade" && !b.has("--overwritevmfs") && !b.has("--preservevmfs") {
        let keep = if id == "install" {
            " (or --preservevmfs to keep the datastore)"
        } else {
            ""
        };
        d.advice(
            line,
            "install-vmfs",
            format!(
                "{id} without --overwritevmfs: the installer refuses a target disk that \
                 already holds VMFS (\"--overwritevmfs not specified but ... contains a VMFS \
                 partition\"); add --overwritevmfs{keep}"
            ),
        );
    }
}

pub fn claim_install_disk(state: &mut State, id: &str, b: &Branch) {
    if id == "install" || id == "installorupgrade" {
        state.install_disk = b.get("--drive").or(b.get("--disk")).map(str::to_string);
    }
}

pub fn clearpart(d: &mut Diags, line: usize, b: &Branch) {
    if !["--ignoredrives", "--drives", "--alldrives", "--firstdisk"]
        .iter()
        .any(|o| b.has(o))
    {
        d.error(
            line,
            "clearpart-no-drives",
            "clearpart requires one of the following arguments: --alldrives, --firstdisk, \
             --ignoredrives=, --drives= (add one)"
                .to_string(),
        );
    }
}

pub fn keyboard(d: &mut Diags, line: usize, b: &Branch) {
    if let Some(k) = b.hanging("keyboardtype") {
        if !KEYBOARDS.contains(&k) {
            d.warn(
                line,
                "keyboard-unknown",
                format!(
                    "invalid keyboard type \"{}\" was specified. Using default: use a \
                     documented type such as 'US Default' or German (quote names with spaces)",
                    k.escape_debug()
                ),
            );
        }
    }
}

pub fn part(d: &mut Diags, line: usize, b: &Branch, state: &mut State) {
    let disk = b.get("--ondisk").or(b.get("--ondrive"));
    if disk.is_none() && !b.has("--onfirstdisk") {
        d.error(
            line,
            "part-no-disk",
            "\"--ondisk\", \"--ondrive\", or \"--onfirstdisk\" required, but not found: add \
             --ondisk=DISK"
                .to_string(),
        );
        return;
    }
    if let Some(disk) = disk {
        if state.install_disk.as_deref() == Some(disk) {
            d.error(
                line,
                "part-install-disk",
                format!(
                    "The same disk has been chosen for part and install ({disk}): put the \
                     datastore on another disk"
                ),
            );
        }
        if let Some((_, first)) = state.part_disks.iter().find(|(n, _)| n == disk) {
            d.error(
                line,
                "part-same-disk",
                format!(
                    "The same disk has been chosen twice for part ({disk}, also on line \
                     {first}): one datastore per disk"
                ),
            );
        } else {
            state.part_disks.push((disk.to_string(), line));
        }
    }
    if let Some(name) = b.hanging("mountpoint") {
        if let Some((_, first)) = state.part_names.iter().find(|(n, _)| n == name) {
            d.error(
                line,
                "part-same-name",
                format!(
                    "VMFS volume ({name}) already exists (line {first}): give each datastore \
                     its own name"
                ),
            );
        } else {
            state.part_names.push((name.to_string(), line));
        }
    }
}

pub fn network(d: &mut Diags, line: usize, b: &Branch) {
    let bootproto = match b.get("--bootproto") {
        Some(v) => v,
        None => {
            d.warn(
                line,
                "network-no-bootproto",
                "no bootproto set. Defaulting to DHCP: add --bootproto=dhcp or \
                 --bootproto=static"
                    .to_string(),
            );
            "dhcp"
        }
    };
    if bootproto == "dhcp" {
        let set: Vec<&str> = ["--ip", "--netmask", "--gateway"]
            .into_iter()
            .filter(|o| b.has(o))
            .collect();
        for o in &set {
            d.error(
                line,
                "network-dhcp-static-option",
                format!(
                    "bootproto was set to DHCP but \"{o}=\" was set: remove it, or write \
                     --bootproto=static"
                ),
            );
        }
        if !set.is_empty() {
            return;
        }
        for (o, what) in [("--hostname", "Hostnames"), ("--nameserver", "Nameservers")] {
            if b.has(o) {
                d.warn(
                    line,
                    "network-dhcp-ignored",
                    format!(
                        "bootproto was set to DHCP but \"{o}=\" was set. {what} are ignored \
                         with DHCP: remove it, or use --bootproto=static"
                    ),
                );
            }
        }
        return;
    }
    let Some(ip) = b.get("--ip").map(str::trim) else {
        d.error(
            line,
            "network-static-no-ip",
            "bootproto was set to static but \"--ip=\" was not set: add --ip=ADDRESS".to_string(),
        );
        return;
    };
    if !b.has("--hostname") {
        d.warn(
            line,
            "network-static-no-hostname",
            "bootproto was set to static but \"--hostname=\" was not set. Hostname will be set \
             automatically (to localhost): add --hostname=FQDN"
                .to_string(),
        );
    }
    if !b.has("--nameserver") {
        d.warn(
            line,
            "network-static-no-nameserver",
            "bootproto was set to static but \"--nameserver=\" was not set. Not using a \
             nameserver: add --nameserver=ADDRESS"
                .to_string(),
        );
    }
    let netmask = match b.get("--netmask") {
        Some(nm) => nm.trim().to_string(),
        None => {
            let nm = values::classful_netmask(ip);
            d.warn(
                line,
                "network-static-no-netmask",
                format!(
                    "--bootproto was set to static but \"--netmask=\" was not set. Setting \
                     netmask to {nm} (by address class): add --netmask=MASK"
                ),
            );
            nm.to_string()
        }
    };
    let gateway = match b.get("--gateway") {
        Some(gw) => gw.trim().to_string(),
        None => match values::computed_gateway(ip, &netmask) {
            Ok(gw) => {
                d.warn(
                    line,
                    "network-static-no-gateway",
                    format!(
                        "bootproto was set to static but \"--gateway=\" was not set. Setting \
                         gateway to {gw} (the last address of the subnet): add \
                         --gateway=ADDRESS"
                    ),
                );
                gw
            }
            Err(e) => {
                d.error(
                    line,
                    "network-static-no-gateway",
                    format!(
                        "no --gateway, and the installer fails computing one ({e}): add \
                         --gateway=ADDRESS"
                    ),
                );
                return;
            }
        },
    };
    if let Some(p) = values::ip_settings_problem(ip, &netmask, &gateway) {
        d.error(
            line,
            "network-static-settings",
            format!(
                "{p} (--ip={ip}, netmask {netmask}, gateway {gateway}): the installer stops; \
                 fix the address, netmask or gateway"
            ),
        );
    }
}

pub fn rootpw(d: &mut Diags, line: usize, b: &Branch, words: &[String]) {
    let Some(pw) = b.hanging("password") else {
        // An empty password was dropped as "missing a value"; `doRootpw`
        // then looks it up and fails.
        d.error(
            line,
            "rootpw-empty",
            "rootpw has an empty password: the installer fails on it; give a password or \
             `--iscrypted HASH`"
                .to_string(),
        );
        return;
    };
    let password_words = words
        .iter()
        .filter(|w| w.split('=').next() != Some("--iscrypted"))
        .count();
    if password_words > 1 {
        d.advice(
            line,
            "rootpw-words",
            "rootpw has more than one password word: the installer takes only the last one as \
             the password; quote a password that contains spaces"
                .to_string(),
        );
    }
    if b.has("--iscrypted") {
        if !values::crypted_accepted(pw) {
            d.error(
                line,
                "rootpw-crypted-invalid",
                "crypted password is not valid: --iscrypted takes a $1$ (MD5) or $6$ \
                 (SHA-512, no rounds=) crypt hash or 13 DES characters; make one with \
                 `openssl passwd -6`"
                    .to_string(),
            );
        } else if !values::md5_complete(pw) {
            d.advice(
                line,
                "rootpw-md5-incomplete",
                "the installer accepts this $1$ value, but it is not a complete MD5 crypt hash \
                 ($SALT$ then 22 characters): no password will match it and root cannot log \
                 in; make a new one with `openssl passwd -6`"
                    .to_string(),
            );
        }
    } else if let Some(p) = values::password_problem(pw) {
        let fix = match p {
            "Password does not have enough character types." => {
                "ESXi wants three of lowercase, uppercase, digits and other characters (a \
                 leading capital and a trailing digit don't count) and at least 5 different \
                 characters"
            }
            _ => "use 7 to 40 printable ASCII characters",
        };
        d.error(
            line,
            "rootpw-weak",
            format!("{p} {fix}; or give a hash with --iscrypted"),
        );
    }
}
