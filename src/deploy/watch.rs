//! Following each host to the end, from two sources:
//!
//! - the lab folder's event log, which `esxi-iso serve` writes when a
//!   host built with `--report-to` reports (`installing` from `%pre`,
//!   `installed` from `%post`, `booted` from `%firstboot`), downloads its
//!   ISO (`fetched`), or, installing over the network, loads its first
//!   module (`loading`) and fetches its kickstart (`kickstart-fetched`);
//!   only events since the VM was created count, so an earlier install of
//!   a host of the same name is not taken for this one;
//! - what vSphere says of the VM: its power state, and VMware Tools (which
//!   every ESXi since 6.0 carries for running nested, William Lam,
//!   "VMware Tools for Nested ESXi"): tools running, an IP address and the
//!   host name the kickstart gave mean the installed host has booted.
//!   So a lab built without `--report-to` is followed too.
//!
//! Once a host is `installed`, its CD is emptied (the ISO taken out, the
//! drive kept): a host whose CD still holds the installer reinstalls if
//! its disk ever fails to boot. A host installed over the network has no
//! CD; its disk comes first in the boot order. `--wait STATE` polls every two seconds
//! until every host has reached STATE, or the time-out (a verdict, exit
//! 1, naming the hosts that did not).

use std::time::{Duration, Instant};

use anyhow::Result;

use super::apply::explain;
use super::report::{HostReport, Stage};
use super::target::Planned;
use super::Ctx;
use crate::failure::{self, Failure};
use crate::report::{state_dir, Event};
use crate::serve::events::{self, Record};
use crate::signals;
use crate::vsphere::vm::eject_spec;
use crate::vsphere::vminfo::{Device, VmInfo};
use crate::vsphere::MoRef;
use crate::warning::Warning;

/// How often the log and the VMs are read while waiting.
const POLL: Duration = Duration::from_secs(2);

/// What the event log says of a host since `since`: its stage and the
/// address it reported. `iso` is the host's ISO file (None for a network
/// install, which `serve` follows by `loading` and `kickstart-fetched`
/// instead). As `esxi-iso status` folds it, the last event counts, so a
/// reinstall starts over; the served events carry the address the host
/// had while installing (DHCP's), not its own, so only reports set it.
pub fn reported(
    records: &[Record],
    host: &str,
    iso: Option<&str>,
    since: u64,
) -> (Option<Stage>, Option<String>) {
    let mut stage = None;
    let mut address = None;
    for r in records.iter().filter(|r| r.time >= since) {
        if r.event == "fetched" {
            if iso.is_some() && r.file.as_deref() == iso && stage.is_none() {
                stage = Some(Stage::Fetched);
            }
            continue;
        }
        let Some(h) = &r.host else { continue };
        if !h.eq_ignore_ascii_case(host) {
            continue;
        }
        let e = match Event::parse(&r.event) {
            Some(e) => e,
            None => {
                match r.event.as_str() {
                    "loading" => stage = Some(Stage::Loading),
                    "kickstart-fetched" => stage = Some(Stage::KickstartFetched),
                    _ => {}
                }
                continue;
            }
        };
        stage = Some(match e {
            Event::Installing => Stage::Installing,
            Event::Installed => Stage::Installed,
            Event::Booted => Stage::Booted,
        });
        let reported = r
            .addr
            .as_deref()
            .filter(|a| a.parse::<std::net::IpAddr>().is_ok());
        address = Some(reported.unwrap_or(&r.peer).to_string());
    }
    (stage, address)
}

/// What vSphere says: off, on, or booted (VMware Tools running with an
/// address, under the host's own name).
pub fn seen(vm: &VmInfo, host: &str) -> Stage {
    if vm.power_state != "poweredOn" {
        return Stage::PoweredOff;
    }
    let g = &vm.guest;
    let named = g.host_name.as_deref().is_some_and(|n| {
        n.split('.')
            .next()
            .is_some_and(|first| first.eq_ignore_ascii_case(host.split('.').next().unwrap_or(host)))
    });
    if g.tools_running.as_deref() == Some("guestToolsRunning") && g.ip.is_some() && named {
        Stage::Booted
    } else {
        Stage::PoweredOn
    }
}

/// One host being followed.
struct Followed<'a> {
    planned: &'a Planned,
    vm: MoRef,
    since: u64,
}

/// Reads where every host stands, empties the CDs of installed hosts, and
/// with `until` waits until all reach it or `timeout` passes. Returns the
/// verdict when the time ran out.
pub fn watch(
    ctx: &mut Ctx,
    planned: &[Planned],
    reports: &mut [HostReport],
    until: Option<Stage>,
    timeout: Duration,
) -> Result<Option<anyhow::Error>> {
    let followed: Vec<Followed> = planned
        .iter()
        .zip(reports.iter())
        .filter_map(|(p, r)| {
            let vm = MoRef::new("VirtualMachine", r.moref.as_deref()?);
            let since = ctx
                .state
                .host(p.host.name())
                .and_then(|s| s.created)
                .unwrap_or(0);
            Some(Followed {
                planned: p,
                vm,
                since,
            })
        })
        .collect();
    let start = Instant::now();
    let mut warned_log = false;
    loop {
        let (records, bad) = events::read(&state_dir(ctx.lab_dir)).unwrap_or_default();
        if !bad.is_empty() && !warned_log {
            warned_log = true;
            for b in bad {
                ctx.warn(Warning::advice("event-log", b));
            }
        }
        let morefs: Vec<MoRef> = followed.iter().map(|f| f.vm.clone()).collect();
        let infos = ctx.vim.vms(&morefs)?;
        for f in &followed {
            let name = f.planned.host.name();
            let Some(report) = reports.iter_mut().find(|r| r.host == name) else {
                continue;
            };
            let Some(info) = infos.iter().find(|i| i.moref == f.vm) else {
                continue;
            };
            let iso = f.planned.host.iso().map(|i| i.file.as_str());
            let (board, address) = reported(&records, name, iso, f.since);
            let vsphere = seen(info, name);
            let stage = match (vsphere, board) {
                (Stage::PoweredOff, None) => Stage::PoweredOff,
                (v, Some(b)) => v.max(b),
                (v, None) => v,
            };
            let address = address.or_else(|| info.guest.ip.clone());
            if stage != report.state {
                let how = match (board == Some(stage), vsphere == stage) {
                    // What the server saw, not what the host said.
                    (true, _)
                        if matches!(
                            stage,
                            Stage::Fetched | Stage::Loading | Stage::KickstartFetched
                        ) =>
                    {
                        " (esxi-iso serve)".to_string()
                    }
                    (true, _) => " (reported)".to_string(),
                    (false, true) if stage == Stage::Booted => " (VMware Tools)".to_string(),
                    _ => String::new(),
                };
                let at = address
                    .as_deref()
                    .map(|a| format!(", {a}"))
                    .unwrap_or_default();
                ctx.out.say(name, &format!("{}{at}{how}", stage.name()));
                report.state = stage;
            }
            report.address = address;
            if stage >= Stage::Installed {
                if let Some(cd @ Device::Cdrom { iso: Some(_), .. }) = info.cdrom() {
                    detach(ctx, name, info, cd)?;
                    report.detached = true;
                }
            }
        }
        let Some(until) = until else {
            return Ok(None);
        };
        let behind: Vec<String> = reports
            .iter()
            .filter(|r| r.state < until)
            .map(|r| format!("{} ({})", r.host, r.state.name()))
            .collect();
        if behind.is_empty() {
            return Ok(None);
        }
        if start.elapsed() >= timeout {
            return Ok(Some(failure::error(
                Failure::Verdict,
                format!(
                    "timed out after {} s: {} of {} hosts did not reach {}: {}",
                    timeout.as_secs(),
                    behind.len(),
                    reports.len(),
                    until.name(),
                    behind.join(", ")
                ),
            )));
        }
        let pause = POLL.min(timeout.saturating_sub(start.elapsed()));
        let wake = Instant::now() + pause;
        while Instant::now() < wake {
            if signals::cancelled() {
                return Err(crate::publish::interrupted(
                    "stopped watching; the VMs go on, and deploy --wait watches them again".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Takes the installer out of a host's CD drive.
fn detach(ctx: &mut Ctx, name: &str, info: &VmInfo, cd: &Device) -> Result<()> {
    let Device::Cdrom { raw, iso, .. } = cd else {
        return Ok(());
    };
    let spec = eject_spec(raw)?;
    ctx.vim
        .reconfigure_vm(&info.moref, spec, &ctx.wait())
        .map_err(|e| {
            explain(
                e,
                &format!("taking the ISO out of {}'s CD drive", info.name),
            )
        })?;
    ctx.state.update(name, |s| s.detached = true)?;
    ctx.out.say(
        name,
        &format!(
            "ISO detached ({} taken out of the CD drive)",
            iso.as_deref().unwrap_or("the installer")
        ),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(time: u64, event: &str, host: Option<&str>, file: Option<&str>) -> Record {
        Record {
            time,
            event: event.into(),
            host: host.map(str::to_string),
            file: file.map(str::to_string),
            peer: "192.0.2.50".into(),
            addr: None,
        }
    }

    #[test]
    fn served_events_are_stages_between_power_on_and_installing() {
        let log = [
            rec(5, "loading", Some("esx01"), None),
            rec(10, "loading", Some("ESX01"), None),
            rec(11, "kickstart-fetched", Some("esx01"), None),
            rec(12, "loading", Some("esx02"), None),
            rec(13, "fetched", None, Some("esx01.iso")),
        ];
        // The served address is DHCP's, not the host's.
        assert_eq!(
            reported(&log, "esx01", None, 6),
            (Some(Stage::KickstartFetched), None)
        );
        assert_eq!(
            reported(&log[..2], "esx01", None, 6),
            (Some(Stage::Loading), None)
        );
        assert_eq!(reported(&log, "esx01", None, 12), (None, None));
        // An ISO host downloads its ISO; a network-install host has none.
        assert_eq!(
            reported(&log, "esx01", Some("esx01.iso"), 12),
            (Some(Stage::Fetched), None)
        );
        let mut later = log.to_vec();
        later.push(Record {
            addr: Some("10.0.0.11".into()),
            ..rec(20, "installing", Some("esx01"), None)
        });
        assert_eq!(
            reported(&later, "esx01", None, 6),
            (Some(Stage::Installing), Some("10.0.0.11".into()))
        );
        let order: Vec<&str> = Stage::WAITABLE.iter().map(|s| s.name()).collect();
        assert_eq!(
            order,
            [
                "powered-on",
                "fetched",
                "loading",
                "kickstart-fetched",
                "installing",
                "installed",
                "booted"
            ]
        );
        assert!(Stage::PoweredOn < Stage::Loading && Stage::KickstartFetched < Stage::Installing);
    }
}
