//! Warnings: what a run found that does not stop it but that the user
//! must know. Each has a stable code, says whether it is esxi-iso's own
//! advice or what the installer or VMware's loader will do, and where it
//! was found. Commands print them on stderr in one format
//! ([`Warning::render`]), put them in their `--json` output, and a lab
//! keeps them in manifest.json; `--allow CODE` silences one the user has
//! decided about ([`Allow`]).
//!
//! [`codes`] lists every code a warning can have, so that `--allow` can
//! refuse a misspelled one; `tests/conventions.rs` checks it against the
//! codes the source uses.

use std::collections::BTreeSet;

use anyhow::Result;
use serde::Serialize;

use crate::diagnostic::{nearest, Diagnostic, Severity};
use crate::failure::{self, Failure};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Stable name, e.g. `module-added` or a lint rule's code.
    pub code: &'static str,
    /// esxi-iso's own advice, not what the installer or loader reports.
    pub advice: bool,
    /// The file it is about (a kickstart or template label, `/BOOT.CFG`).
    pub file: Option<String>,
    /// 1-based line in that file.
    pub line: Option<usize>,
    pub message: String,
}

impl Warning {
    /// A warning of esxi-iso's own about the run as a whole.
    pub fn advice(code: &'static str, message: impl Into<String>) -> Warning {
        Warning {
            code,
            advice: true,
            file: None,
            line: None,
            message: message.into(),
        }
    }

    /// What a reader (the installer, the loader) will say, about a file.
    pub fn reader(code: &'static str, message: impl Into<String>) -> Warning {
        Warning {
            advice: false,
            ..Warning::advice(code, message)
        }
    }

    /// About `file` (and `line`, when not 0).
    pub fn at(mut self, file: &str, line: usize) -> Warning {
        self.file = Some(file.to_string());
        self.line = (line > 0).then_some(line);
        self
    }

    /// A linter's warning about `file`.
    pub fn from_diagnostic(d: &Diagnostic, file: &str) -> Warning {
        debug_assert_eq!(d.severity, Severity::Warning);
        Warning {
            code: d.code,
            advice: d.advice,
            file: Some(file.to_string()),
            line: (d.line > 0).then_some(d.line),
            message: d.message.clone(),
        }
    }

    /// `warning: FILE:LINE: MESSAGE [CODE]` (`warning (esxi-iso advice)`
    /// for advice), as commands print it after `esxi-iso: `.
    pub fn render(&self) -> String {
        self.render_for(None)
    }

    /// [`Warning::render`] for one host of a lab: `warning: HOST: ...`.
    pub fn render_for(&self, host: Option<&str>) -> String {
        let label = if self.advice {
            "warning (esxi-iso advice)"
        } else {
            "warning"
        };
        let at = match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l}: "),
            (Some(f), None) => format!("{f}: "),
            _ => String::new(),
        };
        let host = host.map(|h| format!("{h}: ")).unwrap_or_default();
        format!("{label}: {host}{at}{} [{}]", self.message, self.code)
    }
}

/// Warnings esxi-iso itself gives, with when.
pub const OWN: &[(&str, &str)] = &[
    ("module-added", "the build adds a boot module (a ramdisk overlay, --ks-in-ramdisk), which Secure Boot refuses"),
    ("module-list-changed", "an overlay's boot.cfg changes the source's list of boot modules, which Secure Boot refuses"),
    ("report-lines-missing", "--report-to was given, but the kickstart has no report lines"),
    ("firstboot-secure-boot", "a kickstart for hosts that boot with Secure Boot has a %firstboot section, which ESXi skips under Secure Boot"),
    ("legacy-cpu-verbatim", "allow_legacy_cpu with a kickstart copied as it is: only the installer gets allowLegacyCPU=true, not the installed host"),
    ("iso-oddity", "the source ISO has a harmless inconsistency (e.g. the two byte orders of a field differ)"),
    ("pack-tree", "pack found a problem with the tree's boot setup (an error with --strict)"),
    ("index-changed", "a lab's SHA256SUMS and manifest.json dropped a host whose ISO is gone"),
    ("cleanup-failed", "removing a file this run created failed"),
    ("event-log", "a line of the event log could not be read (torn by a crash)"),
    ("report-address", "the lab's kickstarts report to an address or port this server does not listen on"),
    ("tls-insecure", "upload or deploy --insecure: the server's certificate is not checked"),
    ("serve-failed", "serve could not accept a connection, record an event or read the report secret"),
    ("netboot-source", "a stock ISO the lab's network install is served from is missing, damaged or changed"),
    ("netboot-address", "the lab's hosts boot from an address or port this server does not listen on"),
    ("host-version", "deploy: a VM to boot over UEFI HTTP may run on an ESXi host older than 7.0U2, which cannot do it"),
    ("server-version", "deploy: the server is older than deploy is made for (vCenter 6.7, ESXi 7.0; HTTP boot and network install need 7.0U2)"),
    ("memory-small", "deploy: a host's VM has less memory than VMware asks of an ESXi 8 host that runs VMs (12 GB)"),
    ("boot-disk-small", "deploy: a host's boot disk is smaller than ESXi 7 and later want (32 GB)"),
    ("guest-id-unknown", "deploy: the target does not list the guest OS id of a host's release"),
    ("portgroup-unchecked", "deploy: an NSX segment's MAC settings cannot be checked through vSphere"),
    ("mac-replaced", "deploy: the server gave a new VM's NICs other MACs than asked (a duplicate manual MAC)"),
    ("vm-differs", "deploy: a lab VM that is there differs from the inventory; it is left as it is"),
    ("iso-rebuilt", "deploy: a host's ISO was rebuilt after its VM was made; the VM keeps the old one"),
];

/// Every code of the installer's and the loader's rules
/// ([`crate::kickstart::lint::RULES`], [`crate::esxi::loader::RULES`])
/// that can be a warning or advice. A rule that is always an error cannot
/// be allowed, and is not here.
pub fn rule_codes() -> impl Iterator<Item = &'static str> {
    crate::kickstart::lint::RULES
        .iter()
        .chain(crate::esxi::loader::RULES)
        .filter(|(_, kinds)| kinds.contains(['W', 'A']))
        .map(|(code, _)| *code)
}

/// Every warning code.
pub fn codes() -> impl Iterator<Item = &'static str> {
    OWN.iter().map(|(c, _)| *c).chain(rule_codes())
}

/// The codes `--allow` silences, each checked against [`codes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allow(BTreeSet<&'static str>);

impl Allow {
    /// `--allow CODE` values (each may hold several, comma-separated).
    pub fn parse(given: &[String]) -> Result<Allow> {
        let mut set = BTreeSet::new();
        for code in given.iter().flat_map(|g| g.split(',')).map(str::trim) {
            if code.is_empty() {
                continue;
            }
            match codes().find(|c| *c == code) {
                Some(c) => {
                    set.insert(c);
                }
                None => {
                    let all: Vec<&str> = codes().collect();
                    let near = nearest(code, &all)
                        .or_else(|| codes().find(|c| c.starts_with(code)))
                        .map(|c| format!(" (did you mean {c}?)"))
                        .unwrap_or_default();
                    return Err(failure::error(
                        Failure::Usage,
                        format!(
                            "--allow {code}: no warning has this code{near}; a warning's code \
                             is the word in brackets at the end of its line"
                        ),
                    ));
                }
            }
        }
        Ok(Allow(set))
    }

    pub fn allows(&self, w: &Warning) -> bool {
        self.0.contains(w.code)
    }

    /// `warnings` without the allowed ones.
    pub fn filter(&self, warnings: Vec<Warning>) -> Vec<Warning> {
        warnings.into_iter().filter(|w| !self.allows(w)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_one_format() {
        let w = Warning::reader("script-no-interpreter", "interpreter not defined").at("ks.cfg", 5);
        assert_eq!(
            w.render(),
            "warning: ks.cfg:5: interpreter not defined [script-no-interpreter]"
        );
        let w = Warning::advice("module-added", "adds /OVERLAY.TGZ");
        assert_eq!(
            w.render(),
            "warning (esxi-iso advice): adds /OVERLAY.TGZ [module-added]"
        );
        let w = Warning::advice("install-vmfs", "m").at("/KS.CFG", 2);
        assert_eq!(
            w.render_for(Some("esx01")),
            "warning (esxi-iso advice): esx01: /KS.CFG:2: m [install-vmfs]"
        );
    }

    #[test]
    fn allow_checks_codes() {
        let a = Allow::parse(&["module-added,install-vmfs".into(), "".into()]).unwrap();
        assert!(a.allows(&Warning::advice("module-added", "")));
        assert!(!a.allows(&Warning::advice("iso-oddity", "")));
        let e = Allow::parse(&["modul-added".into()]).unwrap_err();
        assert!(
            format!("{e}").contains("(did you mean module-added?)"),
            "{e}"
        );
        assert_eq!(failure::of(&e), Some(Failure::Usage));
        let mut all: Vec<_> = codes().collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a code is listed twice");
    }
}
