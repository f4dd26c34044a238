//! Which variables a build does something with, so that one it would
//! drop without a word (`--set hostnmae=esx01`, `nameserver=` for
//! `nameservers=`, any `--set` next to a kickstart copied as it is) is an
//! error that names it, suggests the variable meant and lists the others.
//!
//! A variable counts when the kickstart reads it: directly (from Tera's
//! parse of the template, [`Uses`]), or through a value esxi-iso derives
//! for templates ([`DERIVED`]: `network_args` reads `ip`, `gateway`...).
//! Two variables are boot options as well ([`BOOT_OPTIONS`]) and count
//! whatever the kickstart is. Derived values themselves cannot be set.

use std::collections::BTreeSet;

use super::uses::Uses;
use super::vars::{self, Vars};
use crate::diagnostic::nearest;

/// Values esxi-iso computes for templates: (name, the variables it is
/// computed from, what it is).
pub const DERIVED: &[(&str, &[&str], &str)] = &[
    (
        "fqdn",
        &["hostname", "domain"],
        "the host name with its domain",
    ),
    (
        "network_args",
        &[
            "ip",
            "netmask",
            "gateway",
            "nameservers",
            "hostname",
            "domain",
            "vlan_id",
            "device",
        ],
        "the options of the network command",
    ),
    (
        "install_args",
        &["disk", "vmfs", "create_datastore", "accept_unsupported_cpu"],
        "the options of the install command",
    ),
    (
        "dhcp_hostname",
        &["hostname", "domain", "ip"],
        "the esxcli option that names a DHCP host at first boot",
    ),
    (
        "ip_address",
        &["ip"],
        "the address of ip, without its prefix",
    ),
    (
        "netmask",
        &["ip", "netmask"],
        "the netmask of ip, from its prefix or netmask",
    ),
    (
        "overlay",
        &[],
        "the text files of the overlays' ramdisk/ part",
    ),
    ("report", &[], "the report lines of --report-to"),
];

/// Variables that set boot options on the ISO, whatever the kickstart.
pub const BOOT_OPTIONS: &[&str] = &["system_media_size", "allow_legacy_cpu"];

/// The derived value `name`: (inputs, meaning).
pub fn derived(name: &str) -> Option<(&'static [&'static str], &'static str)> {
    DERIVED
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, from, what)| (*from, *what))
}

/// What a kickstart (labelled `label`) does something with.
#[derive(Debug, Clone)]
pub struct Known {
    label: String,
    /// None: a kickstart copied as it is.
    uses: Option<Uses>,
    /// Every name a user may set for it.
    names: BTreeSet<String>,
}

impl Known {
    /// `uses`: what the template reads (None for a file copied as it is);
    /// `also`: names the caller itself uses (a lab's `hostname` names the
    /// host's ISO).
    pub fn new(label: &str, uses: Option<&Uses>, also: &[&str]) -> Known {
        let mut names: BTreeSet<String> = BOOT_OPTIONS.iter().map(|s| s.to_string()).collect();
        names.extend(also.iter().map(|s| s.to_string()));
        for (name, _) in uses.iter().flat_map(|u| u.vars.iter()) {
            match derived(name) {
                Some((from, _)) => names.extend(from.iter().map(|s| s.to_string())),
                None => {
                    names.insert(name.clone());
                }
            }
        }
        Known {
            label: label.to_string(),
            uses: uses.cloned(),
            names,
        }
    }

    pub fn accepts(&self, name: &str) -> bool {
        self.names.contains(name)
            || self
                .uses
                .as_ref()
                .is_some_and(|u| u.whole_context && derived(name).is_none())
    }

    /// The variables of `vars` that the user named (they have an origin)
    /// and nothing will use: (name, why and what to do).
    pub fn unknown(&self, vars: &Vars) -> Vec<(String, String)> {
        vars.values
            .keys()
            .filter(|k| vars.origins.contains_key(*k) && !self.accepts(k))
            .map(|k| (k.clone(), self.why_not(k)))
            .collect()
    }

    /// [`Known::unknown`], one line each: `ORIGIN NAME: why`.
    pub fn unknown_lines(&self, vars: &Vars) -> Vec<String> {
        self.unknown(vars)
            .into_iter()
            .map(|(k, why)| format!("{} {k}: {why}", vars.origins[&k]))
            .collect()
    }

    /// Why `name` does nothing here, and what to do instead.
    pub fn why_not(&self, name: &str) -> String {
        if let Some((from, what)) = derived(name) {
            return if from.is_empty() {
                format!("{name} is {what}, which esxi-iso fills in; it cannot be set")
            } else {
                format!(
                    "{name} is {what}, which esxi-iso computes from {}: set {} instead",
                    from.join(", "),
                    if from.len() == 1 { "that" } else { "those" }
                )
            };
        }
        if self.uses.is_none() {
            let boot = BOOT_OPTIONS.join(" and ");
            return format!(
                "the kickstart {} is copied as it is, so no variable reaches it (only {boot}, \
                 which set boot options, apply); to fill it in, make it a Tera template named \
                 *.tera, or remove this variable",
                self.label
            );
        }
        let listed: Vec<&str> = self.names.iter().map(String::as_str).collect();
        let builtin: Vec<&str> = vars::SPECS.iter().map(|s| s.name).collect();
        let hint = match (nearest(name, &listed), nearest(name, &builtin)) {
            _ if builtin.contains(&name) => {
                " (a variable of the built-in nested-lab template, which this one does not \
                 read)"
                    .to_string()
            }
            (Some(near), _) => format!(" (did you mean {near}?)"),
            (None, Some(near)) => format!(
                " ({near}, the nearest name, is a variable of the built-in templates, but \
                 this template does not read it either)"
            ),
            (None, None) => String::new(),
        };
        if let Some(near) = nearest(name, &listed) {
            // The name meant is enough; the list would only bury it.
            return format!(
                "template {} reads no variable {name} (did you mean {near}?); `esxi-iso \
                 kickstart vars {}` lists what it reads",
                self.label, self.label
            );
        }
        format!(
            "template {} reads no variable {name}{hint}; it uses {} (`esxi-iso kickstart \
             vars {}` explains each)",
            self.label,
            listed.join(", "),
            self.label
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(template: &str) -> Known {
        let uses = super::super::template_uses("t", template).unwrap();
        Known::new("t", Some(&uses), &[])
    }

    #[test]
    fn unknown_names_get_the_nearest_and_the_list() {
        let k = known("{{ network_args }} {{ rack }} {{ enable_ssh }}");
        for ok in [
            "ip",
            "gateway",
            "nameservers",
            "rack",
            "enable_ssh",
            "system_media_size",
        ] {
            assert!(k.accepts(ok), "{ok}");
        }
        let mut v = Vars::default();
        v.extend_set(&[
            "nameserver=10.0.0.2".into(),
            "rakc=a".into(),
            "fqdn=x".into(),
            "overlay=y".into(),
            "ip=10.0.0.1/24".into(),
        ])
        .unwrap();
        v.insert_str("root_password", "from-the-environment")
            .unwrap();
        let msgs = k.unknown_lines(&v);
        assert_eq!(msgs.len(), 4, "{msgs:#?}");
        assert!(msgs[0].starts_with("--set fqdn: fqdn is the host name with its domain, which esxi-iso computes from hostname, domain: set those instead"), "{}", msgs[0]);
        assert!(
            msgs[1].contains(
                "nameserver: template t reads no variable nameserver (did you mean nameservers?)"
            ),
            "{}",
            msgs[1]
        );
        assert!(
            msgs[1].contains("; `esxi-iso kickstart vars t` lists what it reads"),
            "{}",
            msgs[1]
        );
        assert!(msgs[2].contains("overlay is the text files"), "{}", msgs[2]);
        assert!(
            msgs[3].contains("rakc: template t reads no variable rakc (did you mean rack?)"),
            "{}",
            msgs[3]
        );
    }

    #[test]
    fn a_builtin_name_the_template_does_not_read_is_named_as_such() {
        let k = known("{{ hostname }}");
        assert!(k.why_not("ntp_server").contains(
            "(ntp_servers, the nearest name, is a variable of the built-in templates, but this \
             template does not read it either"
        ));
    }

    #[test]
    fn verbatim_kickstarts_take_only_boot_options() {
        let k = Known::new("ks.cfg", None, &["hostname"]);
        assert!(k.accepts("hostname") && k.accepts("system_media_size"));
        assert!(!k.accepts("ip"));
        assert!(k.why_not("ip").contains("ks.cfg is copied as it is"));
    }

    #[test]
    fn whole_context_templates_take_anything_but_derived_names() {
        let k = known("{{ __tera_context }}");
        assert!(k.accepts("anything"));
        assert!(!k.accepts("fqdn"));
    }

    #[test]
    fn nearest_names() {
        let known = ["hostname", "nameservers", "ntp_servers", "vlan_id"];
        assert_eq!(nearest("hostnmae", &known), Some("hostname"));
        assert_eq!(nearest("ntp_server", &known), Some("ntp_servers"));
        assert_eq!(nearest("vlanid", &known), Some("vlan_id"));
        assert_eq!(nearest("zzz", &known), None);
    }
}
