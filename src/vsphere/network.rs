//! Whether a port group lets nested ESXi hosts talk, and the fix.
//!
//! A nested host's VMs (and its own vmkernel ports past the first) send
//! and receive with MAC addresses the outer switch did not give the NIC.
//! The outer port group has to deliver frames for those addresses and
//! accept frames from them: promiscuous mode, or MAC learning (vSphere
//! 6.7 and later, distributed switches only), and forged transmits in
//! both cases (William Lam, "Native MAC Learning in vSphere 6.7 removes
//! the need for Promiscuous mode for Nested ESXi", 2018; the ESXi
//! Learnswitch Fling's requirements).
//!
//! - A standard switch's port group is per host: its effective policy is
//!   `HostPortGroup.computedPolicy.security` in the host's
//!   `HostNetworkSystem.networkInfo`, or, where a server leaves that out,
//!   the port group's own `spec.policy.security` over its switch's.
//!   The fix is `HostNetworkSystem.UpdatePortGroup` with the port group's
//!   spec as read (VLAN, switch, teaming, shaping and offload echoed) and
//!   promiscuous mode and forged transmits accepted.
//! - A distributed port group's `config.defaultPortConfig`
//!   (`VMwareDVSPortSetting`): `macManagementPolicy` (6.7 and later) or
//!   `securityPolicy`, each value inherited from the switch's
//!   `defaultPortConfig` when marked so; vSphere's defaults reject all.
//!   The fix is `ReconfigureDVPortgroup_Task` with the port group's
//!   `configVersion`: MAC learning and forged transmits where the port
//!   group has a MAC management policy, else promiscuous mode and forged
//!   transmits.

use anyhow::Result;

use super::inventory::FilterSpec;
use super::soap::Vim;
use super::task::{task_of, Wait};
use super::xml::{Element, Node};
use super::MoRef;

/// What a port group allows, as far as nested hosts care; None: not said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Security {
    pub promiscuous: Option<bool>,
    pub forged_transmits: Option<bool>,
    pub mac_changes: Option<bool>,
    /// MAC learning (distributed port groups, 6.7 and later).
    pub mac_learning: Option<bool>,
}

impl Security {
    /// Nested hosts' VMs can talk through it.
    pub fn lets_nested_talk(&self) -> bool {
        self.missing().is_empty()
    }

    /// What is off that nested hosts need, in words.
    pub fn missing(&self) -> Vec<&'static str> {
        let on = |b: Option<bool>| b == Some(true);
        let mut out = Vec::new();
        if !on(self.promiscuous) && !on(self.mac_learning) {
            out.push(if self.mac_learning.is_some() {
                "MAC learning (or promiscuous mode)"
            } else {
                "promiscuous mode"
            });
        }
        if !on(self.forged_transmits) {
            out.push("forged transmits");
        }
        out
    }
}

fn bool_of(e: Option<&Element>) -> Option<bool> {
    match e.map(|e| e.text.trim()) {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// A standard port group as one host has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardPortGroup {
    pub security: Security,
    /// Its `HostPortGroupSpec`, to echo in a fix.
    pub spec: Element,
}

/// The port group `name` in a host's `networkInfo`, with its effective
/// security; None when the host has no port group of that name.
pub fn standard_port_group(network_info: &Element, name: &str) -> Option<StandardPortGroup> {
    let pg = network_info.children_named("portgroup").find(|pg| {
        pg.path(&["spec", "name"])
            .is_some_and(|n| n.text.trim() == name)
    })?;
    let spec = pg.child("spec")?;
    let switch_name = spec.child_text("vswitchName").unwrap_or_default().trim();
    let switch_key = pg.child_text("vswitch").unwrap_or_default().trim();
    let switch = network_info.children_named("vswitch").find(|s| {
        s.child_text("name")
            .is_some_and(|n| n.trim() == switch_name)
            || (!switch_key.is_empty()
                && s.child_text("key").is_some_and(|k| k.trim() == switch_key))
    });
    let layers = [
        pg.path(&["computedPolicy", "security"]),
        spec.path(&["policy", "security"]),
        switch.and_then(|s| s.path(&["spec", "policy", "security"])),
    ];
    let pick = |field: &str| {
        layers
            .iter()
            .flatten()
            .find_map(|l| bool_of(l.child(field)))
    };
    Some(StandardPortGroup {
        security: Security {
            promiscuous: pick("allowPromiscuous"),
            forged_transmits: pick("forgedTransmits"),
            mac_changes: pick("macChanges"),
            mac_learning: None,
        },
        spec: spec.clone(),
    })
}

/// The effective security of a distributed port group whose
/// `config` is `pg` on the switch whose `config` is `switch`.
pub fn distributed_security(pg: Option<&Element>, switch: Option<&Element>) -> Security {
    let port = |c: Option<&Element>| c.and_then(|c| c.child("defaultPortConfig")).cloned();
    let (pg, sw) = (port(pg), port(switch));
    // A policy object, unless it says it inherits.
    let own = |setting: &Option<Element>, policy: &str| {
        setting
            .as_ref()
            .and_then(|s| s.child(policy))
            .filter(|p| bool_of(p.child("inherited")) != Some(true))
            .cloned()
    };
    let policy = |name: &str| own(&pg, name).or_else(|| own(&sw, name));
    // securityPolicy's values are BoolPolicy objects.
    let security = policy("securityPolicy");
    let from_security = |field: &str| {
        let layer = |s: &Option<Element>| {
            s.as_ref()
                .and_then(|s| s.child(field))
                .filter(|b| bool_of(b.child("inherited")) != Some(true))
                .and_then(|b| bool_of(b.child("value")))
        };
        layer(&security).or_else(|| layer(&own(&sw, "securityPolicy")))
    };
    let mac = policy("macManagementPolicy");
    let from_mac = |field: &str| mac.as_ref().and_then(|m| bool_of(m.child(field)));
    Security {
        promiscuous: from_mac("allowPromiscuous").or(from_security("allowPromiscuous")),
        forged_transmits: from_mac("forgedTransmits").or(from_security("forgedTransmits")),
        mac_changes: from_mac("macChanges").or(from_security("macChanges")),
        mac_learning: mac.as_ref().map(|m| {
            m.child("macLearningPolicy")
                .and_then(|l| bool_of(l.child("enabled")))
                .unwrap_or(false)
        }),
    }
}

fn bool_node(name: &str, value: bool) -> Node {
    Node::text(name, if value { "true" } else { "false" })
}

/// `BoolPolicy` set here (not inherited).
fn bool_policy(name: &str, value: bool) -> Node {
    Node::new(name)
        .child(bool_node("inherited", false))
        .child(bool_node("value", value))
}

/// The `portgrp` of UpdatePortGroup: the spec as read, with promiscuous
/// mode and forged transmits accepted (MAC changes as they were).
pub fn standard_fix(spec: &Element) -> Node {
    let policy = spec.child("policy");
    let old = policy.and_then(|p| p.child("security"));
    let mut security = Node::new("security")
        .attr("xsi:type", "HostNetworkSecurityPolicy")
        .child(bool_node("allowPromiscuous", true));
    if let Some(mc) = old.and_then(|s| bool_of(s.child("macChanges"))) {
        security = security.child(bool_node("macChanges", mc));
    }
    security = security.child(bool_node("forgedTransmits", true));
    let rest = policy
        .map(|p| {
            p.children
                .iter()
                .filter(|c| c.name != "security")
                .map(Node::from_element)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let text = |n: &str| spec.child_text(n).unwrap_or_default().trim().to_string();
    Node::new("portgrp")
        .child(Node::text("name", &text("name")))
        .child(Node::text(
            "vlanId",
            &Some(text("vlanId"))
                .filter(|v| !v.is_empty())
                .unwrap_or("0".into()),
        ))
        .child(Node::text("vswitchName", &text("vswitchName")))
        .child(Node::new("policy").child(security).children(rest))
}

/// What [`distributed_fix`] turns on for a port group whose `config` is
/// `config`, in words.
pub fn distributed_fix_turns_on(config: &Element) -> &'static str {
    match mac_management(config) {
        Some(_) => "MAC learning and forged transmits",
        None => "promiscuous mode and forged transmits",
    }
}

/// A distributed port group's MAC management policy (vSphere 6.7 and
/// later), when its `config` has one.
fn mac_management(config: &Element) -> Option<&Element> {
    config
        .child("defaultPortConfig")?
        .child("macManagementPolicy")
}

/// The `spec` of ReconfigureDVPortgroup_Task for a port group whose
/// `config` is `config`: MAC learning and forged transmits where it has a
/// MAC management policy (promiscuous mode and MAC changes kept), else
/// promiscuous mode and forged transmits.
pub fn distributed_fix(config: &Element) -> Node {
    let version = config
        .child_text("configVersion")
        .unwrap_or_default()
        .trim();
    let port = config.child("defaultPortConfig");
    let setting = match mac_management(config) {
        Some(m) => {
            let keep = |f: &str| bool_of(m.child(f)).unwrap_or(false);
            Node::new("macManagementPolicy")
                .child(bool_node("inherited", false))
                .child(bool_node("allowPromiscuous", keep("allowPromiscuous")))
                .child(bool_node("macChanges", keep("macChanges")))
                .child(bool_node("forgedTransmits", true))
                .child(
                    Node::new("macLearningPolicy")
                        .child(bool_node("inherited", false))
                        .child(bool_node("enabled", true))
                        .child(bool_node("allowUnicastFlooding", true))
                        .child(Node::text("limit", "4096"))
                        // DVSMacLimitPolicyType: "allow" or "drop" (vim25).
                        .child(Node::text("limitPolicy", "drop")),
                )
        }
        None => Node::new("securityPolicy")
            .child(bool_node("inherited", false))
            .child(bool_policy("allowPromiscuous", true))
            .children(
                port.and_then(|p| p.path(&["securityPolicy", "macChanges"]))
                    .and_then(|m| bool_of(m.child("value")))
                    .map(|v| bool_policy("macChanges", v)),
            )
            .child(bool_policy("forgedTransmits", true)),
    };
    Node::new("spec")
        .child(Node::text("configVersion", version))
        .child(
            Node::new("defaultPortConfig")
                .attr("xsi:type", "VMwareDVSPortSetting")
                .child(setting),
        )
}

impl Vim<'_> {
    /// `networkInfo` of each host network system.
    pub fn network_infos(&self, systems: &[MoRef]) -> Result<Vec<(MoRef, Element)>> {
        if systems.is_empty() {
            return Ok(Vec::new());
        }
        let spec = FilterSpec::of_objects("HostNetworkSystem", &["networkInfo"], systems);
        Ok(self
            .retrieve(&spec)?
            .into_iter()
            .filter_map(|o| {
                let info = o.prop("networkInfo")?.clone();
                Some((o.obj, info))
            })
            .collect())
    }

    /// Applies [`standard_fix`] to port group `name` of one host.
    pub fn update_port_group(
        &self,
        network_system: &MoRef,
        name: &str,
        spec: &Element,
    ) -> Result<()> {
        self.call(
            "UpdatePortGroup",
            network_system,
            vec![Node::text("pgName", name), standard_fix(spec)],
        )?;
        Ok(())
    }

    /// Applies [`distributed_fix`] to a distributed port group.
    pub fn reconfigure_dv_portgroup(
        &self,
        pg: &MoRef,
        config: &Element,
        wait: &Wait,
    ) -> Result<()> {
        let answer = self.call(
            "ReconfigureDVPortgroup_Task",
            pg,
            vec![distributed_fix(config)],
        )?;
        let task = task_of(&answer, "ReconfigureDVPortgroup_Task")?;
        self.wait_task_result(&task, "ReconfigureDVPortgroup_Task", wait)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;

    fn el(text: &str) -> Element {
        parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn nested_hosts_need_promiscuous_or_learning_and_forged_transmits() {
        let s = |p, f, l| Security {
            promiscuous: p,
            forged_transmits: f,
            mac_changes: None,
            mac_learning: l,
        };
        let cases = [
            (s(Some(true), Some(true), None), vec![]),
            (s(Some(false), Some(true), Some(true)), vec![]),
            (s(Some(false), Some(true), None), vec!["promiscuous mode"]),
            (
                s(Some(false), Some(true), Some(false)),
                vec!["MAC learning (or promiscuous mode)"],
            ),
            (s(Some(true), Some(false), None), vec!["forged transmits"]),
            (
                s(None, None, None),
                vec!["promiscuous mode", "forged transmits"],
            ),
        ];
        for (sec, want) in cases {
            assert_eq!(sec.missing(), want, "{sec:?}");
            assert_eq!(sec.lets_nested_talk(), want.is_empty());
        }
    }

    const INFO: &str = r#"<networkInfo xmlns="urn:vim25">
  <vswitch><name>vSwitch0</name><key>key-vim.host.VirtualSwitch-vSwitch0</key>
    <spec><policy><security><allowPromiscuous>false</allowPromiscuous>
      <macChanges>true</macChanges><forgedTransmits>true</forgedTransmits></security></policy></spec></vswitch>
  <portgroup><key>key-vim.host.PortGroup-VM Network</key><vswitch>key-vim.host.VirtualSwitch-vSwitch0</vswitch>
    <computedPolicy><security><allowPromiscuous>false</allowPromiscuous><macChanges>true</macChanges>
      <forgedTransmits>true</forgedTransmits></security></computedPolicy>
    <spec><name>VM Network</name><vlanId>0</vlanId><vswitchName>vSwitch0</vswitchName>
      <policy><security/><nicTeaming><policy>loadbalance_srcid</policy></nicTeaming></policy></spec></portgroup>
  <portgroup><key>key-vim.host.PortGroup-Nested</key><vswitch>key-vim.host.VirtualSwitch-vSwitch0</vswitch>
    <computedPolicy/>
    <spec><name>Nested</name><vlanId>12</vlanId><vswitchName>vSwitch0</vswitchName>
      <policy><security><allowPromiscuous>true</allowPromiscuous></security></policy></spec></portgroup>
</networkInfo>"#;

    #[test]
    fn standard_policy_is_computed_or_layered() {
        let info = el(INFO);
        let vm = standard_port_group(&info, "VM Network").unwrap();
        assert_eq!(vm.security.promiscuous, Some(false));
        assert_eq!(vm.security.missing(), vec!["promiscuous mode"]);
        // No computed policy: the port group's own over its switch's.
        let nested = standard_port_group(&info, "Nested").unwrap();
        assert!(nested.security.lets_nested_talk(), "{:?}", nested.security);
        assert_eq!(nested.security.mac_changes, Some(true));
        assert!(standard_port_group(&info, "Other").is_none());

        let mut out = String::new();
        standard_fix(&vm.spec).write(&mut out).unwrap();
        assert_eq!(
            out,
            "<portgrp><name>VM Network</name><vlanId>0</vlanId><vswitchName>vSwitch0</vswitchName>\
             <policy><security xsi:type=\"HostNetworkSecurityPolicy\"><allowPromiscuous>true</allowPromiscuous>\
             <forgedTransmits>true</forgedTransmits></security>\
             <nicTeaming><policy>loadbalance_srcid</policy></nicTeaming></policy></portgrp>"
        );
    }

    #[test]
    fn distributed_policy_inherits_from_the_switch() {
        let sw = el(
            r#"<config xmlns="urn:vim25"><defaultPortConfig><securityPolicy>
            <inherited>false</inherited>
            <allowPromiscuous><inherited>false</inherited><value>false</value></allowPromiscuous>
            <forgedTransmits><inherited>false</inherited><value>true</value></forgedTransmits>
            </securityPolicy></defaultPortConfig></config>"#,
        );
        let inherits = el(
            r#"<config xmlns="urn:vim25"><configVersion>3</configVersion><defaultPortConfig>
            <securityPolicy><inherited>true</inherited></securityPolicy></defaultPortConfig></config>"#,
        );
        let s = distributed_security(Some(&inherits), Some(&sw));
        assert_eq!(
            (s.promiscuous, s.forged_transmits),
            (Some(false), Some(true))
        );
        assert_eq!(s.missing(), vec!["promiscuous mode"]);
        let own = el(
            r#"<config xmlns="urn:vim25"><defaultPortConfig><securityPolicy>
            <inherited>false</inherited>
            <allowPromiscuous><inherited>false</inherited><value>true</value></allowPromiscuous>
            </securityPolicy></defaultPortConfig></config>"#,
        );
        assert!(distributed_security(Some(&own), Some(&sw)).lets_nested_talk());
        // Nothing said anywhere: vSphere's defaults reject.
        assert!(!distributed_security(None, None).lets_nested_talk());
        let learning = el(
            r#"<config xmlns="urn:vim25"><configVersion>7</configVersion><defaultPortConfig>
            <macManagementPolicy><inherited>false</inherited><allowPromiscuous>false</allowPromiscuous>
            <macChanges>false</macChanges><forgedTransmits>true</forgedTransmits>
            <macLearningPolicy><inherited>false</inherited><enabled>true</enabled></macLearningPolicy>
            </macManagementPolicy></defaultPortConfig></config>"#,
        );
        let s = distributed_security(Some(&learning), Some(&sw));
        assert_eq!(s.mac_learning, Some(true));
        assert!(s.lets_nested_talk());

        let mut out = String::new();
        distributed_fix(&inherits).write(&mut out).unwrap();
        assert_eq!(
            out,
            "<spec><configVersion>3</configVersion><defaultPortConfig xsi:type=\"VMwareDVSPortSetting\">\
             <securityPolicy><inherited>false</inherited>\
             <allowPromiscuous><inherited>false</inherited><value>true</value></allowPromiscuous>\
             <forgedTransmits><inherited>false</inherited><value>true</value></forgedTransmits>\
             </securityPolicy></defaultPortConfig></spec>"
        );
        assert_eq!(
            distributed_fix_turns_on(&inherits),
            "promiscuous mode and forged transmits"
        );
        assert_eq!(
            distributed_fix_turns_on(&learning),
            "MAC learning and forged transmits"
        );
        let mut out = String::new();
        distributed_fix(&learning).write(&mut out).unwrap();
        assert!(
            out.contains("<macLearningPolicy><inherited>false</inherited><enabled>true</enabled>"),
            "{out}"
        );
        assert!(out.contains("<allowPromiscuous>false</allowPromiscuous><macChanges>false</macChanges><forgedTransmits>true</forgedTransmits>"), "{out}");
        // A value of the DVSMacLimitPolicyType enumeration, as vim25 spells
        // it (govmomi's enum.go, pyVmomi's MacLimitPolicyType).
        assert!(
            out.contains("<limit>4096</limit><limitPolicy>drop</limitPolicy>"),
            "{out}"
        );
    }
}
