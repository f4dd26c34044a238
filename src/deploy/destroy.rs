//! Tearing a lab down (`deploy --destroy`): every VM on the server that
//! carries this lab's marker (of the hosts of `--host`, or all), wherever
//! it is, listed first; then each is powered off if it runs and destroyed
//! with its disks (`Destroy_Task` deletes the VM's folder), and the ISO
//! deploy uploaded for it is deleted. A VM without the lab's marker is
//! never touched, whatever its name. `--dry-run` lists and stops.
//!
//! Only the lab's name is taken from the inventory: `--host` names are
//! matched against the hosts the lab's VMs are marked for, so a host
//! since removed from the inventory can still be torn down, and a name no
//! marked VM has is an error with the nearest one that is there.

use anyhow::{Context, Result};

use super::apply::explain;
use super::report::{DestroyReport, Destroyed};
use super::target::marker;
use super::Ctx;
use crate::diagnostic::nearest;
use crate::failure::{self, Failure};
use crate::publish::interrupted;
use crate::signals;
use crate::vsphere::inventory::Datacenter;
use crate::vsphere::vminfo::VmInfo;
use crate::vsphere::{Fault, FaultKind};

/// The lab's VMs on the server: (host, VM, datacenter path), in host
/// order; those of the hosts of `only` (all when empty), each of which
/// must have one.
pub fn find(ctx: &Ctx, lab: &str, only: &[String]) -> Result<Vec<(String, VmInfo, String)>> {
    let mut out = Vec::new();
    for dc in ctx.vim.datacenters()? {
        let folder = ctx
            .vim
            .find_by_inventory_path(&format!("{}/vm", dc.path))?
            .with_context(|| format!("datacenter {} has no VM folder", dc.path))?;
        for v in ctx.vim.vms_below(&folder)? {
            let Some((l, host)) = marker(&v) else {
                continue;
            };
            if l == lab {
                out.push((host.to_string(), v, dc.path.clone()));
            }
        }
    }
    out.sort_by(|a, b| (a.0.to_lowercase(), &a.1.name).cmp(&(b.0.to_lowercase(), &b.1.name)));
    if only.is_empty() {
        return Ok(out);
    }
    let marked: Vec<&str> = out.iter().map(|(h, _, _)| h.as_str()).collect();
    hosts_marked(only, &marked, &ctx.vim.server().host, lab)?;
    out.retain(|(h, _, _)| only.iter().any(|o| o.eq_ignore_ascii_case(h)));
    Ok(out)
}

/// Each `--host` name is a host the lab's VMs on `server` are marked for
/// (`marked`, in order); else the error says the nearest one that is.
fn hosts_marked(only: &[String], marked: &[&str], server: &str, lab: &str) -> Result<()> {
    let mut marked = marked.to_vec();
    marked.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let missing: Vec<String> = only
        .iter()
        .filter(|o| !marked.iter().any(|m| m.eq_ignore_ascii_case(o)))
        .map(|o| match nearest(o, &marked) {
            _ if marked.is_empty() => format!(
                "--host {o}: no VM on {server} carries the marker of lab {lab}, for {o} or \
                 any other host: there is nothing of the lab to destroy"
            ),
            near => format!(
                "--host {o}: no VM on {server} carries the marker of lab {lab} for {o}: \
                 {}the lab's VMs there are marked for {}",
                near.map(|n| format!("did you mean {n}? "))
                    .unwrap_or_default(),
                marked.join(", ")
            ),
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(failure::error(
        Failure::Usage,
        format!("{}; nothing was destroyed", missing.join("; ")),
    ))
}

/// Powers off and destroys the lab's VMs, then deletes their ISOs.
pub fn destroy(ctx: &mut Ctx, lab: &str, only: &[String], dry_run: bool) -> Result<DestroyReport> {
    let found = find(ctx, lab, only)?;
    let mut report = DestroyReport {
        server: ctx.vim.server().host.clone(),
        lab: lab.to_string(),
        dry_run,
        destroyed: Vec::new(),
        isos_deleted: Vec::new(),
        warnings: Vec::new(),
    };
    if found.is_empty() {
        ctx.out.note(&format!(
            "no VM on {} carries the marker of lab {lab}: nothing to destroy",
            ctx.vim.server().host,
        ));
        return Ok(report);
    }
    let verb = if dry_run {
        "would destroy"
    } else {
        "to destroy"
    };
    for (host, vm, dc) in &found {
        ctx.out.say(
            host,
            &format!(
                "{verb} VM {} ({}) in {dc}, {}, and its disks",
                vm.name, vm.moref.value, vm.power_state
            ),
        );
    }
    // The datacenters, read once for every ISO to delete.
    let mut dcs = None;
    for (host, vm, dc) in found {
        let on = vm.power_state != "poweredOff";
        report.destroyed.push(Destroyed {
            host: host.clone(),
            vm: vm.name.clone(),
            moref: vm.moref.value.clone(),
            datacenter: dc,
            powered_off: on,
        });
        if dry_run {
            continue;
        }
        if signals::cancelled() {
            return Err(interrupted(format!(
                "destroy stopped before {host}'s VM {}; the VMs listed after it are still there",
                vm.name
            )));
        }
        if on {
            match ctx.vim.power_off(&vm.moref, &ctx.wait()) {
                Ok(()) => ctx.out.say(&host, "powered off"),
                // Off by now (someone else, or a guest shutdown).
                Err(e)
                    if matches!(
                        e.downcast_ref::<Fault>().map(|f| &f.kind),
                        Some(FaultKind::InvalidPowerState { .. })
                    ) => {}
                Err(e) => return Err(explain(e, &format!("powering off {}", vm.name))),
            }
        }
        ctx.vim
            .destroy(&vm.moref, &ctx.wait())
            .map_err(|e| explain(e, &format!("destroying {}", vm.name)))?;
        ctx.out
            .say(&host, &format!("destroyed VM {} and its disks", vm.name));
        let iso = ctx
            .state
            .host(&host)
            .and_then(|s| s.iso.clone().map(|i| (i, s.datacenter.clone())));
        ctx.state.remove(&host)?;
        if let Some((path, dc)) = iso {
            if delete_iso(ctx, &path, &dc, &mut dcs)? {
                ctx.out.say(&host, &format!("deleted {path}"));
                report.isos_deleted.push(path);
            }
        }
    }
    Ok(report)
}

/// Deletes an ISO deploy uploaded; false when it was gone already.
fn delete_iso(
    ctx: &Ctx,
    path: &str,
    dc_path: &str,
    dcs: &mut Option<Vec<Datacenter>>,
) -> Result<bool> {
    let dcs = match dcs {
        Some(d) => d,
        None => dcs.insert(ctx.vim.datacenters()?),
    };
    let dc = dcs
        .iter()
        .find(|d| d.path == dc_path)
        .map(|d| d.moref.clone());
    let Some(dc) = dc else {
        return Ok(false);
    };
    let deleted = ctx.vim.delete_datastore_file(path, &dc).and_then(|task| {
        ctx.vim
            .wait_task_result(&task, "DeleteDatastoreFile_Task", &ctx.wait())
    });
    match deleted {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.downcast_ref::<Fault>().map(|f| &f.kind),
                Some(FaultKind::FileNotFound { .. })
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(explain(e, &format!("deleting {path}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_the_marked_vms_hosts() {
        let only = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        let marked = ["esx01", "esx01", "esx09"];
        // A host no longer in the inventory is still one of the lab's.
        assert!(hosts_marked(&only(&["ESX09", "esx01"]), &marked, "vc", "lab1").is_ok());
        let err = hosts_marked(&only(&["esx9", "esx01", "zz"]), &marked, "vc", "lab1").unwrap_err();
        assert_eq!(failure::of(&err), Some(Failure::Usage));
        assert_eq!(
            format!("{err:#}"),
            "--host esx9: no VM on vc carries the marker of lab lab1 for esx9: did you mean \
             esx09? the lab's VMs there are marked for esx01, esx09; --host zz: no VM on vc \
             carries the marker of lab lab1 for zz: the lab's VMs there are marked for esx01, \
             esx09; nothing was destroyed"
        );
        let err = hosts_marked(&only(&["esx01"]), &[], "vc", "lab1").unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "--host esx01: no VM on vc carries the marker of lab lab1, for esx01 or any other \
             host: there is nothing of the lab to destroy; nothing was destroyed"
        );
    }
}
