//! Making the lab real once the plan has passed: the ISOs uploaded (with
//! `publish`'s datastore upload, on deploy's own SOAP session), each
//! missing VM created, read back (vCenter may have replaced a manual MAC
//! without saying so), given its boot order (disk first, then the CD or
//! NIC 0) and powered on; each VM of the lab that is there adopted: what
//! differs from the inventory is reported and left alone, an unfinished
//! creation (no boot order yet) finished, a VM that is off powered on.
//! The state file is written after every step.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};

use super::local::LabIso;
use super::report::{HostReport, Stage, UploadReport};
use super::spec::{self, boot_disk_key, boot_order_is_set, differences, nics_of};
use super::state::{BootKind, HostState, Phase};
use super::target::Planned;
use super::Ctx;
use crate::failure::{self, Failure};
use crate::lab::vmplan::Boot;
use crate::publish::datastore::{upload_in_session, DatastoreTarget};
use crate::publish::report::Report;
use crate::publish::{interrupted, LocalIso, Skip, Target as UploadTarget, UploadPlan};
use crate::signals;
use crate::vsphere::vm::{boot_order_spec, Then};
use crate::vsphere::vminfo::VmInfo;
use crate::vsphere::MoRef;
use crate::warning::Warning;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The report line of a planned host, before anything is done.
pub fn host_report(p: &Planned) -> HostReport {
    let vm = &p.host.lab.vm;
    HostReport {
        host: p.host.name().to_string(),
        vm: vm.name.clone(),
        moref: p.existing.as_ref().map(|v| v.moref.value.clone()),
        action: if p.existing.is_some() {
            "adopt"
        } else {
            "create"
        },
        state: match &p.existing {
            None => Stage::Planned,
            Some(v) if v.power_state == "poweredOn" => Stage::PoweredOn,
            Some(_) => Stage::PoweredOff,
        },
        datacenter: p.place.datacenter.path.clone(),
        folder: p.place.folder_path.clone(),
        compute: p.place.compute.clone(),
        datastore: p.place.datastore.name.clone(),
        guest_id: p.host.guest_id.clone(),
        macs: vm.macs.iter().map(|m| m.to_string()).collect(),
        boot: match vm.boot {
            Boot::Cdrom { .. } => "cdrom",
            Boot::Http { .. } | Boot::Network { .. } => "http",
        },
        iso: p
            .place
            .iso
            .as_ref()
            .map(|i| i.path.clone())
            .or_else(|| p.place.boot_uri.clone())
            .unwrap_or_default(),
        detached: false,
        address: None,
        differences: Vec::new(),
    }
}

fn stop_if_cancelled(what: &str) -> Result<()> {
    if signals::cancelled() {
        return Err(interrupted(format!("deploy stopped {what}")));
    }
    Ok(())
}

/// An upload batch: datacenter path, datastore, folder, and whether the
/// state says the ISOs are there already.
type Batch = (String, String, String, bool);

/// Uploads the ISOs of the hosts to create, a batch per datastore folder;
/// an ISO this lab's state says was uploaded with the same SHA-256 is
/// left if its size matches, any other file of that name replaced.
pub fn upload(ctx: &mut Ctx, planned: &[Planned]) -> Result<Vec<UploadReport>> {
    let mut batches: BTreeMap<Batch, Vec<(&Planned, &LabIso)>> = BTreeMap::new();
    for p in planned.iter().filter(|p| p.existing.is_none()) {
        // A network-install host, or one booting its ISO over HTTP: nothing to send.
        let (Some(iso), Some(lab_iso)) = (&p.place.iso, p.host.iso()) else {
            continue;
        };
        let known = ctx.state.host(p.host.name()).is_some_and(|s| {
            s.iso.as_deref() == Some(iso.path.as_str())
                && s.iso_sha256.is_some()
                && s.iso_sha256 == lab_iso.sha256
        });
        batches
            .entry((
                p.place.datacenter.path.clone(),
                iso.datastore.clone(),
                iso.folder.clone(),
                known,
            ))
            .or_default()
            .push((p, lab_iso));
    }
    let mut out = Vec::new();
    for ((dc, datastore, folder, known), hosts) in batches {
        stop_if_cancelled("before uploading the ISOs; nothing was created")?;
        let dc_moref = hosts[0].0.place.datacenter.moref.clone();
        ctx.vim
            .make_directory(&format!("[{datastore}] {folder}"), &dc_moref)
            .with_context(|| format!("creating the ISO folder [{datastore}] {folder}"))?;
        let plan = UploadPlan {
            server: ctx.vim.server().clone(),
            trust: ctx.vim.client().trust().clone(),
            target: UploadTarget::Datastore(DatastoreTarget::new(
                &datastore,
                Some(&dc),
                Some(&folder),
            )?),
            isos: hosts
                .iter()
                .map(|(_, iso)| LocalIso {
                    path: iso.path.clone(),
                    name: iso.file.clone(),
                    size: iso.size,
                })
                .collect(),
            force: true,
            skip: if known { Skip::SameSize } else { Skip::Never },
            quiet: ctx.quiet,
            trace: ctx.vim.trace().clone(),
            json: true,
            warnings: Vec::new(),
        };
        let UploadTarget::Datastore(target) = &plan.target else {
            unreachable!("a datastore target")
        };
        let mut report = Report::new(&ctx.vim.server().host, true, &[]);
        upload_in_session(ctx.vim, ctx.creds, &plan, target, &mut report)
            .with_context(|| format!("uploading the lab's ISOs to [{datastore}] {folder}"))?;
        for up in report.uploads() {
            let Some((p, iso)) = hosts.iter().find(|(_, iso)| iso.file == up.file) else {
                continue;
            };
            let path = target.display(&up.file);
            ctx.out.say(
                p.host.name(),
                &if up.skipped {
                    format!("ISO {path} is there already")
                } else {
                    format!("uploaded {path} ({})", crate::publish::human_size(up.size))
                },
            );
            let sha = iso.sha256.clone().or_else(|| up.sha256.clone());
            ctx.state.update(p.host.name(), |s| {
                s.iso = Some(path.clone());
                s.iso_sha256 = sha;
            })?;
            out.push(UploadReport {
                host: p.host.name().to_string(),
                path,
                size: up.size,
                sha256: up.sha256.clone(),
                skipped: up.skipped,
                replaced: up.replaced,
            });
        }
    }
    Ok(out)
}

/// Creates a host's VM, reads it back, sets its boot order and powers it
/// on; each step is recorded.
pub fn create(ctx: &mut Ctx, p: &Planned, report: &mut HostReport) -> Result<VmInfo> {
    let name = p.host.name();
    stop_if_cancelled(&format!("before creating {name}'s VM"))?;
    let spec = spec::vm_spec(ctx.lab, p);
    let vm = ctx
        .vim
        .create_vm(
            &p.place.folder,
            &spec,
            &p.place.pool,
            p.place.host.as_ref(),
            &ctx.wait(),
        )
        .map_err(|e| explain(e, &format!("creating VM {} for {name}", spec.name)))?;
    let created = now();
    ctx.state.update(name, |s| {
        *s = HostState {
            vm: Some(vm.value.clone()),
            vm_name: spec.name.clone(),
            datacenter: p.place.datacenter.path.clone(),
            phase: Phase::Created,
            created: Some(created),
            iso: s.iso.take(),
            iso_sha256: s.iso_sha256.take(),
            boot: Some(spec::boot_kind(p)),
            boot_uri: p.place.boot_uri.clone(),
            ..HostState::default()
        }
    })?;
    report.moref = Some(vm.value.clone());
    report.state = Stage::Created;
    ctx.out.say(
        name,
        &format!(
            "created VM {} ({}) in {} on {}: {} vCPUs, {} GB, disks {} GB, {}",
            spec.name,
            vm.value,
            p.place.location(),
            p.place.compute,
            spec.cpus,
            spec.memory_mb / 1024,
            p.host
                .lab
                .vm
                .disks_gb
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" + "),
            p.host.guest_id
        ),
    );
    let info = read_back(ctx, p, &vm, report)?;
    finish(ctx, p, info, report)
}

/// Reads a new VM back and records the MACs the server set.
fn read_back(ctx: &mut Ctx, p: &Planned, vm: &MoRef, report: &mut HostReport) -> Result<VmInfo> {
    let name = p.host.name();
    let info = ctx
        .vim
        .vms(std::slice::from_ref(vm))?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow!("{name}: VM {vm} vanished right after it was created"))?;
    let got: Vec<String> = nics_of(&info).into_iter().map(|n| n.1).collect();
    let want: Vec<String> = p.host.lab.vm.macs.iter().map(|m| m.to_string()).collect();
    if got != want {
        ctx.warn(Warning::advice(
            "mac-replaced",
            format!(
                "{name}: the server gave the VM's NICs {} instead of {} (vCenter replaces a \
                 manual MAC another VM has): the recorded MACs are the server's",
                got.join(", "),
                want.join(", ")
            ),
        ));
    }
    report.macs = got.clone();
    ctx.state.update(name, |s| s.macs = got)?;
    Ok(info)
}

/// The steps after creation: boot order, power on.
fn finish(ctx: &mut Ctx, p: &Planned, mut info: VmInfo, report: &mut HostReport) -> Result<VmInfo> {
    let name = p.host.name();
    if !boot_order_is_set(&info) {
        stop_if_cancelled(&format!("before setting {name}'s boot order"))?;
        let disk = boot_disk_key(&info)
            .ok_or_else(|| anyhow!("{name}: VM {} has no disk to boot from", info.name))?;
        // The boot the VM was made for (a rerun may find the lab folder
        // changed since): the record, else the VM's own configuration.
        let made = ctx
            .state
            .host(name)
            .and_then(|s| s.boot)
            .or_else(|| spec::boot_of_vm(&info).map(|b| b.0))
            .unwrap_or_else(|| spec::boot_kind(p));
        let then = match made {
            BootKind::Cdrom => Then::Cdrom,
            BootKind::Http | BootKind::NetworkInstall => Then::Ethernet(
                nics_of(&info)
                    .first()
                    .map(|n| n.0)
                    .ok_or_else(|| anyhow!("{name}: VM {} has no NIC to boot from", info.name))?,
            ),
        };
        ctx.vim
            .reconfigure_vm(
                &info.moref,
                boot_order_spec(disk, then, p.host.lab.vm.secure_boot),
                &ctx.wait(),
            )
            .map_err(|e| explain(e, &format!("setting the boot order of {}", info.name)))?;
        ctx.state
            .update(name, |s| s.phase = s.phase.max(Phase::Configured))?;
        ctx.out.say(
            name,
            &format!(
                "boot order: disk, then {}",
                match made {
                    BootKind::Cdrom => "CD",
                    BootKind::Http | BootKind::NetworkInstall => "network (UEFI HTTP boot)",
                }
            ),
        );
    }
    if info.power_state != "poweredOn" {
        stop_if_cancelled(&format!("before powering on {name}'s VM"))?;
        ctx.vim
            .power_on(&info.moref, &ctx.wait())
            .map_err(|e| explain(e, &format!("powering on {}", info.name)))?;
        ctx.state.update(name, |s| s.phase = Phase::PoweredOn)?;
        ctx.out.say(name, "powered on");
        info.power_state = "poweredOn".into();
    }
    report.state = report.state.max(Stage::PoweredOn);
    Ok(info)
}

/// Adopts this lab's VM of a host: differences reported, an unfinished
/// creation finished, the VM powered on.
pub fn adopt(ctx: &mut Ctx, p: &Planned, report: &mut HostReport) -> Result<VmInfo> {
    let name = p.host.name();
    let info = p.existing.clone().expect("an adopted host has its VM");
    let known = ctx.state.host(name).cloned();
    let detached = known.as_ref().is_some_and(|s| s.detached)
        || matches!(
            info.cdrom(),
            Some(crate::vsphere::vminfo::Device::Cdrom { iso: None, .. })
        );
    report.differences = differences(p, &info, detached);
    report.detached = detached;
    report.macs = nics_of(&info).into_iter().map(|n| n.1).collect();
    for d in &report.differences {
        ctx.warn(Warning::advice(
            "vm-differs",
            format!("{name}: {d}; it is left as it is (destroy and deploy the host again to apply the inventory)"),
        ));
    }
    if let (Some(s), Some(iso)) = (&known, p.host.iso()) {
        let rebuilt = matches!((&s.iso_sha256, &iso.sha256), (Some(old), Some(now)) if old != now);
        if rebuilt && !detached {
            ctx.warn(Warning::advice(
                "iso-rebuilt",
                format!(
                    "{name}: {} was rebuilt after its VM was made, and the VM still has the \
                     old one: destroy the host (--destroy --host {name}) and deploy it again \
                     to install the new one",
                    iso.file
                ),
            ));
        }
    }
    let macs = report.macs.clone();
    let made = spec::boot_of_vm(&info);
    let phase = if info.power_state == "poweredOn" {
        Phase::PoweredOn
    } else {
        Phase::Created
    };
    ctx.state.update(name, |s| {
        s.vm = Some(info.moref.value.clone());
        s.vm_name = info.name.clone();
        s.datacenter = p.place.datacenter.path.clone();
        s.macs = macs;
        s.phase = s.phase.max(phase);
        s.detached |= detached;
        if s.boot.is_none() {
            if let Some((kind, uri)) = made {
                s.boot = Some(kind);
                s.boot_uri = uri;
            }
        }
    })?;
    finish(ctx, p, info, report)
}

/// A failed vSphere call, with what deploy was doing; faults keep their
/// sentence. Ctrl-C stays an interruption, other failures are the
/// server's (exit 5).
pub fn explain(err: anyhow::Error, doing: &str) -> anyhow::Error {
    if err.is::<signals::Interrupted>() {
        return err.context(doing.to_string());
    }
    failure::tagged(Failure::Network, err.context(doing.to_string()))
}
