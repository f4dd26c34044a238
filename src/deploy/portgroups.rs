//! The outer port groups a lab's VMs join: checked before anything is
//! created (every host of the VM's cluster that has a standard port group
//! is read, since DRS may place the VM on any of them), reported with the
//! fix when they would keep nested hosts' VMs from talking, and fixed
//! with `--fix-portgroups` ([`crate::vsphere::network`] has the rules and
//! the calls).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::vsphere::datacenter::{Contents, NetKind, Network};
use crate::vsphere::network::{
    distributed_fix_turns_on, distributed_security, standard_port_group, Security,
};
use crate::vsphere::task::Wait;
use crate::vsphere::xml::Element;
use crate::vsphere::{MoRef, Vim};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Standard,
    Distributed,
    /// An NSX segment: its switching profile is NSX Manager's business.
    Nsx,
}

/// A standard port group as one host has it.
#[derive(Debug, Clone)]
struct OnHost {
    host: String,
    network_system: MoRef,
    security: Security,
    spec: Element,
}

/// A port group some VM of the lab joins; as such in `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct PortGroup {
    pub name: String,
    pub datacenter: String,
    pub kind: Kind,
    /// Every host (standard) or the port group lets nested hosts talk.
    pub safe: bool,
    /// What is off, e.g. `promiscuous mode` (empty once fixed).
    pub missing: Vec<&'static str>,
    /// The hosts whose copy was read (standard).
    pub hosts: Vec<String>,
    /// `--fix-portgroups` changed it in this run.
    pub fixed: bool,
    #[serde(skip)]
    on_hosts: Vec<OnHost>,
    #[serde(skip)]
    distributed: Option<(MoRef, Element)>,
}

impl PortGroup {
    /// What is off, in words: `promiscuous mode is off`.
    fn off(&self) -> String {
        let verb = if self.missing.len() == 1 { "is" } else { "are" };
        format!("{} {verb} off", self.missing.join(" and "))
    }

    /// The hosts whose copy of a standard port group lets no nested host
    /// talk.
    fn unsafe_hosts(&self) -> Vec<&str> {
        self.on_hosts
            .iter()
            .filter(|h| !h.security.lets_nested_talk())
            .map(|h| h.host.as_str())
            .collect()
    }

    /// What `--fix-portgroups` would change in it (a dry run says so):
    /// `port group X on H (promiscuous mode is off): set ...`.
    pub fn change(&self) -> String {
        let off = self.off();
        match (self.kind, &self.distributed) {
            (Kind::Standard, _) => format!(
                "port group {} on {} ({off}): set promiscuous mode and forged transmits to \
                 Accept there",
                self.name,
                self.unsafe_hosts().join(", ")
            ),
            (Kind::Distributed, Some((_, config))) => format!(
                "distributed port group {} ({off}): turn on {}",
                self.name,
                distributed_fix_turns_on(config)
            ),
            (Kind::Distributed, None) => format!(
                "distributed port group {} ({off}): nothing, its settings could not be read; \
                 set them in the vSphere Client (Networking > {} > Configure > Policies > Edit)",
                self.name, self.name
            ),
            (Kind::Nsx, _) => self.problem(),
        }
    }

    /// The problem, with what to do, when it is not safe.
    pub fn problem(&self) -> String {
        let off = self.off();
        match self.kind {
            Kind::Standard => {
                let bad = self.unsafe_hosts();
                format!(
                    "port group {} (standard switch, on {}) keeps nested hosts' VMs from \
                     talking: {off}: pass --fix-portgroups, or set them to Accept \
                     (vSphere Client: host > Configure > Networking > Virtual switches > {} > \
                     Edit > Security, on each host)",
                    self.name,
                    bad.join(", "),
                    self.name
                )
            }
            Kind::Distributed => format!(
                "distributed port group {} keeps nested hosts' VMs from talking: {off}: \
                 pass --fix-portgroups (MAC learning and forged transmits on vSphere 6.7 \
                 and later, else promiscuous mode and forged transmits), or set them in the \
                 vSphere Client (Networking > {} > Configure > Policies > Edit)",
                self.name, self.name
            ),
            Kind::Nsx => format!(
                "NSX segment {}: not checked; nested hosts need MAC learning or promiscuous \
                 mode and forged transmits in its segment profiles (NSX Manager)",
                self.name
            ),
        }
    }
}

/// One network a VM uses, and the hosts it may run on.
pub struct Use<'a> {
    pub contents: &'a Contents,
    pub network: &'a Network,
    pub hosts: Vec<MoRef>,
}

/// Reads the security of every port group used (each once).
pub fn check(vim: &Vim, uses: &[Use]) -> Result<Vec<PortGroup>> {
    let mut out: BTreeMap<(String, String), PortGroup> = BTreeMap::new();
    let mut systems = Vec::new();
    for u in uses {
        if matches!(u.network.kind, NetKind::Standard) {
            for h in &u.hosts {
                if let Some(ns) = u.contents.host(h).and_then(|h| h.network_system.clone()) {
                    if !systems.contains(&ns) {
                        systems.push(ns);
                    }
                }
            }
        }
    }
    let infos = vim
        .network_infos(&systems)
        .context("reading the hosts' standard switches")?;
    for u in uses {
        let key = (
            u.contents.datacenter.path.clone(),
            u.network.moref.value.clone(),
        );
        if out.contains_key(&key) {
            continue;
        }
        let mut pg = PortGroup {
            name: u.network.name.clone(),
            datacenter: u.contents.datacenter.path.clone(),
            kind: Kind::Standard,
            safe: true,
            missing: Vec::new(),
            hosts: Vec::new(),
            fixed: false,
            on_hosts: Vec::new(),
            distributed: None,
        };
        match &u.network.kind {
            NetKind::Standard => {
                for h in u.hosts.iter().filter_map(|h| u.contents.host(h)) {
                    let Some(ns) = &h.network_system else {
                        continue;
                    };
                    let Some((_, info)) = infos.iter().find(|(m, _)| m == ns) else {
                        continue;
                    };
                    let Some(found) = standard_port_group(info, &u.network.name) else {
                        continue;
                    };
                    pg.hosts.push(h.name.clone());
                    pg.on_hosts.push(OnHost {
                        host: h.name.clone(),
                        network_system: ns.clone(),
                        security: found.security,
                        spec: found.spec,
                    });
                }
                for h in &pg.on_hosts {
                    for m in h.security.missing() {
                        if !pg.missing.contains(&m) {
                            pg.missing.push(m);
                        }
                    }
                }
            }
            NetKind::Distributed { switch, config, .. } => {
                pg.kind = Kind::Distributed;
                let switch_config = switch
                    .as_ref()
                    .and_then(|s| u.contents.switch(s))
                    .and_then(|s| s.config.as_ref());
                let sec = distributed_security(config.as_ref(), switch_config);
                pg.missing = sec.missing();
                if let Some(c) = config {
                    pg.distributed = Some((u.network.moref.clone(), c.clone()));
                }
            }
            NetKind::Opaque => pg.kind = Kind::Nsx,
        }
        pg.safe = pg.kind != Kind::Nsx && pg.missing.is_empty();
        out.insert(key, pg);
    }
    Ok(out.into_values().collect())
}

/// Applies the fix to every unsafe port group, then says which were
/// fixed (`fixed`); what the server refused is the error.
pub fn fix(vim: &Vim, pgs: &mut [PortGroup], wait: &Wait) -> Result<()> {
    for pg in pgs.iter_mut().filter(|p| !p.safe && p.kind != Kind::Nsx) {
        match pg.kind {
            Kind::Standard => {
                for h in pg
                    .on_hosts
                    .iter()
                    .filter(|h| !h.security.lets_nested_talk())
                {
                    vim.update_port_group(&h.network_system, &pg.name, &h.spec)
                        .with_context(|| {
                            format!(
                                "allowing promiscuous mode and forged transmits on port group \
                                 {} of {}",
                                pg.name, h.host
                            )
                        })?;
                }
            }
            Kind::Distributed => {
                let Some((moref, config)) = &pg.distributed else {
                    continue;
                };
                vim.reconfigure_dv_portgroup(moref, config, wait)
                    .with_context(|| format!("fixing distributed port group {}", pg.name))?;
            }
            Kind::Nsx => continue,
        }
        pg.fixed = true;
        pg.safe = true;
        pg.missing.clear();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;

    fn pg(kind: Kind, missing: Vec<&'static str>) -> PortGroup {
        PortGroup {
            name: "Trunk".into(),
            datacenter: "DC1".into(),
            kind,
            safe: false,
            missing,
            hosts: Vec::new(),
            fixed: false,
            on_hosts: Vec::new(),
            distributed: None,
        }
    }

    #[test]
    fn a_dry_run_says_what_the_fix_would_change() {
        let el = |t: &str| parse(t.as_bytes()).unwrap();
        let mut standard = pg(Kind::Standard, vec!["promiscuous mode"]);
        for (host, promiscuous) in [("esx-a", Some(false)), ("esx-b", Some(true))] {
            standard.on_hosts.push(OnHost {
                host: host.into(),
                network_system: MoRef::new("HostNetworkSystem", host),
                security: Security {
                    promiscuous,
                    forged_transmits: Some(true),
                    ..Security::default()
                },
                spec: el("<spec/>"),
            });
        }
        assert_eq!(
            standard.change(),
            "port group Trunk on esx-a (promiscuous mode is off): set promiscuous mode and \
             forged transmits to Accept there"
        );
        let mut dv = pg(
            Kind::Distributed,
            vec!["promiscuous mode", "forged transmits"],
        );
        let config = r#"<config xmlns="urn:vim25"><defaultPortConfig>
            <macManagementPolicy><forgedTransmits>false</forgedTransmits></macManagementPolicy>
            </defaultPortConfig></config>"#;
        dv.distributed = Some((
            MoRef::new("DistributedVirtualPortgroup", "pg-1"),
            el(config),
        ));
        assert_eq!(
            dv.change(),
            "distributed port group Trunk (promiscuous mode and forged transmits are off): \
             turn on MAC learning and forged transmits"
        );
        for p in [&standard, &dv] {
            assert!(!p.change().contains("--fix-portgroups"), "{}", p.change());
            assert!(
                p.problem().contains("pass --fix-portgroups"),
                "{}",
                p.problem()
            );
        }
    }
}
