//! `esxi-iso deploy` meeting what govmomi's simulator never does, through
//! a scripted SOAP stand-in in front of it (tests/deploy_support/proxy.rs,
//! written from the vim25 WSDL's fault and TaskInfo types): a missing
//! privilege, a duplicate name, a task that fails for lack of memory, a
//! VM in the wrong power state, a free-license ESXi, tasks that run for a
//! while, Ctrl-C while a task runs (the state file left is adopted by the
//! next run), and a standard port group fixed through UpdatePortGroup
//! (which the simulator lacks). The rest of each run is the simulator's
//! own inventory and VMs, read back by pyvmomi.

mod common;
mod deploy_support;
mod publish_support;

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use common::fixture::{self, fixtures};
use deploy_support::proxy::{task_error, task_info, task_reply, Act, Proxy};
use deploy_support::*;
use esxi_iso::vsphere::xml;
use publish_support::soap_mock::SoapReply;
use publish_support::*;

fn setup(test: &str, esx: bool) -> Option<(Vcsim, String, tempfile::TempDir)> {
    if !vcsim_available(test) || !pyvmomi_available(test) || !fixture::available() {
        return None;
    }
    let sim = Vcsim::start(VcsimOpts {
        esx,
        ..VcsimOpts::default()
    });
    let tp = sim.openssl_thumbprint();
    Some((sim, tp, work_dir("deploy-faults-")))
}

/// One host booting over HTTP (no upload) on a port group with MAC
/// learning.
fn one_host(sim: &Vcsim, d: &std::path::Path) {
    py(sim, "mac-learning", &["DC0_DVPG0"]);
    build_lab(
        d,
        "[defaults]\ntemplate = 'minimal'\n[defaults.vm]\ncluster = 'DC0_C0'\n\
         datastore = 'LocalDS_0'\nnetworks = 'DC0_DVPG0'\nboot = 'http'\n\
         boot_url = 'http://10.0.0.5:8080'\n[[host]]\nhostname = 'esx01'\n",
        &fixtures().plain,
    );
}

/// A stand-in's rule: the answer to a call (method, body).
type Rule = dyn Fn(&str, &str) -> Act + Send + Sync;

/// The task a RetrievePropertiesEx asks about, if any.
fn asked_task(body: &str) -> Option<String> {
    let at = body.find("type=\"Task\">")? + "type=\"Task\">".len();
    Some(body[at..].split('<').next()?.to_string())
}

#[test]
fn deploy_faults_are_sentences_with_what_to_do() {
    let Some((sim, tp, w)) = setup("deploy_faults_are_sentences_with_what_to_do", false) else {
        return;
    };
    let d = w.path();
    one_host(&sim, d);
    let before = vms(&sim).len();
    deploy_as(d, &sim.url, &tp, "wrong", &[])
        .failure(5)
        .stderr_has(&["refused the credentials of user (InvalidLogin): check --username"]);

    let cases: Vec<(&str, Box<Rule>, &str)> = vec![
        (
            "NoPermission",
            Box::new(|m, _| {
                match m {
                "CreateVM_Task" => Act::Reply(SoapReply::fault(
                    "Permission to perform this operation was denied.",
                    "<NoPermissionFault xsi:type=\"NoPermission\"><object type=\"Folder\">group-v3</object>\
                     <privilegeId>VirtualMachine.Inventory.Create</privilegeId></NoPermissionFault>",
                )),
                _ => Act::Forward,
            }
            }),
            "creating VM esx01 for esx01: CreateVM_Task refused: permission denied (NoPermission; \
             missing privilege VirtualMachine.Inventory.Create on Folder group-v3)",
        ),
        (
            "DuplicateName",
            Box::new(|m, body| match m {
                "CreateVM_Task" => Act::Reply(task_reply(m, "task-dup")),
                "RetrievePropertiesEx" if asked_task(body).as_deref() == Some("task-dup") => {
                    Act::Reply(task_error(
                        "task-dup",
                        "The name 'esx01' already exists.",
                        "DuplicateName",
                        "<name>esx01</name><object type=\"VirtualMachine\">vm-99</object>",
                    ))
                }
                _ => Act::Forward,
            }),
            "CreateVM_Task failed: the name esx01 is taken by VirtualMachine vm-99 (DuplicateName)",
        ),
        (
            "RestrictedVersion",
            Box::new(|m, _| {
                match m {
                "CreateVM_Task" => Act::Reply(SoapReply::fault(
                    "Current license or ESXi version prohibits execution of the requested operation.",
                    "<RestrictedVersionFault xsi:type=\"RestrictedVersion\"/>",
                )),
                _ => Act::Forward,
            }
            }),
            "a free ESXi license makes the API read-only (RestrictedVersion)",
        ),
    ];
    for (what, rule, want) in cases {
        let proxy = Proxy::start(&sim.url, rule);
        deploy(d, &proxy.url, "", &[])
            .failure(5)
            .stderr_has(&[want]);
        assert_eq!(vms(&sim).len(), before, "{what}: a VM was left");
    }

    // A power-on that fails: the VM stays, recorded; the next run (on the
    // simulator itself) adopts it and powers it on.
    let proxy = Proxy::start(&sim.url, |m, body| match m {
        "PowerOnVM_Task" => Act::Reply(task_reply(m, "task-mem")),
        "RetrievePropertiesEx" if asked_task(body).as_deref() == Some("task-mem") => {
            Act::Reply(task_error(
                "task-mem",
                "Insufficient memory resources.",
                "InsufficientMemoryResourcesFault",
                "<unreserved>0</unreserved><requested>17179869184</requested>",
            ))
        }
        _ => Act::Forward,
    });
    deploy(d, &proxy.url, "", &[]).failure(5).stderr_has(&[
        "powering on esx01: PowerOnVM_Task failed: not enough resources where the VM is to run \
         (InsufficientMemoryResourcesFault): Insufficient memory resources.",
    ]);
    assert_eq!(state_host(d, "esx01")["phase"], "configured");
    assert_eq!(vm(&vms(&sim), "esx01")["power_state"], "poweredOff");
    let proxy = Proxy::start(&sim.url, |m, _| {
        match m {
        "PowerOnVM_Task" => Act::Reply(SoapReply::fault(
            "The attempted operation cannot be performed in the current state (Powered on).",
            "<InvalidPowerStateFault xsi:type=\"InvalidPowerState\"><requestedState>poweredOn</requestedState>\
             <existingState>poweredOn</existingState></InvalidPowerStateFault>",
        )),
        _ => Act::Forward,
    }
    });
    deploy(d, &proxy.url, "", &[]).failure(5).stderr_has(&[
        "powering on esx01: PowerOnVM_Task refused: the VM is poweredOn, and poweredOn was asked \
         (InvalidPowerState)",
    ]);
    let run = deploy(d, &sim.url, &tp, &[]);
    run.success();
    assert!(
        run.stdout().contains("esx01: to adopt this lab's VM esx01"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("esx01: powered on"),
        "{}",
        run.stdout()
    );
    assert_eq!(vms(&sim).len(), before + 1);
    assert_eq!(vm(&vms(&sim), "esx01")["power_state"], "poweredOn");
}

#[test]
fn deploy_knows_a_free_esxi_and_fixes_a_standard_port_group() {
    let Some((sim, _tp, w)) = setup(
        "deploy_knows_a_free_esxi_and_fixes_a_standard_port_group",
        true,
    ) else {
        return;
    };
    let d = w.path();
    build_lab(
        d,
        "[defaults]\ntemplate = 'minimal'\n[defaults.vm]\ndatastore = 'LocalDS_0'\n\
         networks = 'VM Network'\nboot = 'http'\nboot_url = 'http://10.0.0.5:8080'\n\
         [[host]]\nhostname = 'esx01'\n",
        &fixtures().plain,
    );
    let free = Proxy::start(&sim.url, |m, _| match m {
        "RetrievePropertiesEx" => Act::Edit(Box::new(|a| {
            a.replace(
                "<editionKey>eval</editionKey>",
                "<editionKey>esxBasic</editionKey>",
            )
            .replace("Evaluation Mode", "VMware vSphere 7 Hypervisor")
        })),
        _ => Act::Forward,
    });
    deploy(d, &free.url, "", &[]).failure(5).stderr_has(&[
        "runs under a free license (VMware vSphere 7 Hypervisor), whose API is read-only: no VM \
         can be created there",
    ]);
    assert!(
        !free.methods().iter().any(|m| m.ends_with("_Task")),
        "{:?}",
        free.methods()
    );

    // UpdatePortGroup, as a host answers it; the host's network info then
    // shows the change.
    let fixed = Arc::new(Mutex::new(false));
    let f = fixed.clone();
    let proxy = Proxy::start(&sim.url, move |m, body| match m {
        "UpdatePortGroup" => {
            *f.lock().unwrap() = true;
            Act::Reply(SoapReply::ok(m, ""))
        }
        "RetrievePropertiesEx"
            if body.contains("<pathSet>networkInfo</pathSet>") && *f.lock().unwrap() =>
        {
            Act::Edit(Box::new(|a| {
                a.replace(
                    "<allowPromiscuous>false</allowPromiscuous>",
                    "<allowPromiscuous>true</allowPromiscuous>",
                )
            }))
        }
        _ => Act::Forward,
    });
    let run = deploy(d, &proxy.url, "", &["--fix-portgroups"]);
    run.success();
    assert!(
        run.stdout().contains("fixed port group VM Network"),
        "{}",
        run.stdout()
    );
    let bodies = proxy.bodies("UpdatePortGroup");
    assert_eq!(bodies.len(), 1);
    let call = xml::parse(bodies[0].as_bytes()).unwrap();
    let call = call.path(&["Body", "UpdatePortGroup"]).unwrap();
    let order = |e: &xml::Element| {
        e.children
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(order(call), ["_this", "pgName", "portgrp"]);
    assert_eq!(call.child_text("pgName"), Some("VM Network"));
    let pg = call.child("portgrp").unwrap();
    // HostPortGroupSpec and HostNetworkPolicy in the WSDL's order; the
    // teaming and shaping the port group had are sent back as they were.
    assert_eq!(order(pg), ["name", "vlanId", "vswitchName", "policy"]);
    let policy = pg.child("policy").unwrap();
    assert_eq!(
        order(policy),
        ["security", "nicTeaming", "offloadPolicy", "shapingPolicy"]
    );
    let sec = policy.child("security").unwrap();
    assert_eq!(order(sec), ["allowPromiscuous", "forgedTransmits"]);
    assert_eq!(sec.child_text("allowPromiscuous"), Some("true"));
    assert_eq!(sec.child_text("forgedTransmits"), Some("true"));
    assert_eq!(vm(&vms(&sim), "esx01")["power_state"], "poweredOn");
}

#[test]
fn deploy_follows_tasks_that_take_a_while() {
    let Some((sim, _tp, w)) = setup("deploy_follows_tasks_that_take_a_while", false) else {
        return;
    };
    let d = w.path();
    one_host(&sim, d);
    // Each task reads "running" three times before the simulator's answer.
    let reads: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let r = reads.clone();
    let proxy = Proxy::start(&sim.url, move |m, body| match (m, asked_task(body)) {
        ("RetrievePropertiesEx", Some(task)) => {
            let mut reads = r.lock().unwrap();
            let n = reads.entry(task.clone()).or_default();
            *n += 1;
            if *n <= 3 {
                Act::Reply(task_info(&task, "running", "<progress>40</progress>"))
            } else {
                Act::Forward
            }
        }
        _ => Act::Forward,
    });
    deploy(d, &proxy.url, "", &[]).success();
    let reads = reads.lock().unwrap();
    // CreateVM, ReconfigVM (boot order), PowerOnVM.
    assert_eq!(reads.len(), 3, "{reads:?}");
    assert!(reads.values().all(|n| *n == 4), "{reads:?}");
    let all = vms(&sim);
    assert_eq!(vm(&all, "esx01")["power_state"], "poweredOn");
    assert_eq!(vm(&all, "esx01")["boot_order"][0]["type"], "disk");
}

#[test]
fn deploy_ctrl_c_leaves_a_state_the_next_run_adopts() {
    let Some((sim, tp, w)) = setup("deploy_ctrl_c_leaves_a_state_the_next_run_adopts", false)
    else {
        return;
    };
    let d = w.path();
    one_host(&sim, d);
    let before = vms(&sim).len();
    // The power-on task runs for ever, as far as deploy can tell.
    let running = Arc::new((Mutex::new(false), Condvar::new()));
    let power_task: Arc<Mutex<Option<String>>> = Arc::default();
    let (seen, task) = (running.clone(), power_task.clone());
    let proxy = Proxy::start(&sim.url, move |m, body| {
        let t = task.clone();
        match m {
            "PowerOnVM_Task" => Act::Edit(Box::new(move |a| {
                let id = a
                    .split("type=\"Task\">")
                    .nth(1)
                    .and_then(|r| r.split('<').next());
                *t.lock().unwrap() = id.map(str::to_string);
                a
            })),
            "RetrievePropertiesEx"
                if asked_task(body).is_some() && asked_task(body) == *t.lock().unwrap() =>
            {
                let (lock, cv) = &*seen;
                *lock.lock().unwrap() = true;
                cv.notify_all();
                Act::Reply(task_info(&asked_task(body).unwrap(), "running", ""))
            }
            _ => Act::Forward,
        }
    });
    let args = [
        "deploy",
        "lab.toml",
        "--lab-dir",
        "lab",
        "--server",
        &proxy.url,
    ];
    let child = spawn_esxi_iso(d, &args, &creds());
    {
        let (lock, cv) = &*running;
        let mut on = lock.lock().unwrap();
        while !*on {
            let (g, t) = cv
                .wait_timeout(on, std::time::Duration::from_secs(120))
                .unwrap();
            assert!(!t.timed_out(), "deploy never waited for the power-on task");
            on = g;
        }
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("stopped waiting for PowerOnVM_Task (Task task-")
            && err.contains("what was done is recorded in lab/.esxi-iso/deploy.json, and deploy run again goes on from there: interrupted by a signal"),
        "{err}"
    );
    let s = state_host(d, "esx01");
    assert_eq!(s["phase"], "configured");
    let moref = s["vm"].clone();
    // The next run adopts the VM the state names; nothing is made twice.
    let run = deploy(d, &sim.url, &tp, &[]);
    run.success();
    assert!(
        run.stdout().contains("esx01: to adopt this lab's VM esx01"),
        "{}",
        run.stdout()
    );
    let all = vms(&sim);
    assert_eq!(all.len(), before + 1);
    assert_eq!(vm(&all, "esx01")["moref"], moref);
    assert_eq!(state_host(d, "esx01")["phase"], "powered-on");
}
