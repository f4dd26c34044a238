//! `upload --datastore` against govmomi's simulator over SOAP: what is
//! checked before a byte is sent (issue 24: a vCenter without
//! --datacenter, a datacenter or datastore that is not there, a datastore
//! that is not accessible or too full, a wrong password), that a file is
//! sent under a temporary name and moved into place, that Ctrl-C in the
//! middle of an upload leaves no partial file under the ISO's name and
//! keeps the copy that was there (issue 28), and `--skip-existing`.
//!
//! Every result is read back through the server (`/folder` GET) or from
//! the simulated datastore's own disk, never from our client's report.

mod publish_support;

use std::fs;
use std::os::unix::process::ExitStatusExt;

use publish_support::*;
use serde_json::Value;

/// A simulated standalone host, its certificate's thumbprint and a work
/// folder; None when the simulator cannot run here.
fn esx(test: &str) -> Option<(Vcsim, String, tempfile::TempDir)> {
    if !vcsim_available(test) {
        return None;
    }
    let sim = Vcsim::start(VcsimOpts {
        esx: true,
        ..VcsimOpts::default()
    });
    let tp = sim.openssl_thumbprint();
    Some((sim, tp, work_dir("publish-ds-")))
}

fn upload_args<'a>(sim: &'a Vcsim, tp: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "upload",
        "lab.iso",
        "--server",
        &sim.url,
        "--thumbprint",
        tp,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn publish_datastore_diagnosed_before_sending() {
    if !vcsim_available("publish_datastore_diagnosed_before_sending") {
        return;
    }
    let sim = Vcsim::start(VcsimOpts {
        datacenters: 2,
        folders: 1,
        datastores: 2,
        inaccessible: Some("LocalDS_1".into()),
        ..VcsimOpts::default()
    });
    let tp = sim.openssl_thumbprint();
    let w = work_dir("publish-ds-");
    make_iso(&w.path().join("lab.iso"), 700_000, 3);
    let run = |extra: &[&str]| esxi_iso(w.path(), &upload_args(&sim, &tp, extra), &creds());
    let nothing_sent = || {
        for (dc, ds) in [("DC0", "LocalDS_0"), ("F0/DC1", "LocalDS_0")] {
            assert_eq!(sim.folder_get_in(dc, ds, "lab.iso").0, 404);
        }
    };

    // A vCenter without --datacenter (the 404 and "file in use"):
    // refused, naming the datacenters, and where the datastore is.
    run(&["--datastore", "LocalDS_0"])
        .failure(2)
        .stderr_has(&[
            "is a vCenter (VMware vCenter Server",
            "--datacenter",
            "its datacenters: DC0, F0/DC1",
        ])
        .stderr_lacks("in use");
    run(&["--datastore", "LocalDS_0", "--datacenter", "DC9"])
        .failure(2)
        .stderr_has(&[
            "datacenter DC9 not found on",
            "its datacenters: DC0, F0/DC1",
            "(did you mean DC0?)",
        ]);
    run(&["--datastore", "LocalDS_9", "--datacenter", "DC0"])
        .failure(2)
        .stderr_has(&[
            "datastore LocalDS_9 not found in datacenter DC0",
            "its datastores: LocalDS_0, LocalDS_1",
            "(did you mean LocalDS_0?)",
        ]);
    run(&["--datastore", "LocalDS_1", "--datacenter", "DC0"])
        .failure(5)
        .stderr_has(&["datastore LocalDS_1 on", "is not accessible"]);
    run(&[
        "--datastore",
        "LocalDS_0",
        "--datacenter",
        "DC0",
        "--folder",
        "no/such",
    ])
    .failure(2)
    .stderr_has(&["folder [LocalDS_0] no/such does not exist", "--folder"]);
    esxi_iso(
        w.path(),
        &upload_args(
            &sim,
            &tp,
            &["--datastore", "LocalDS_0", "--datacenter", "DC0"],
        ),
        &[
            ("ESXI_ISO_USERNAME", USER),
            ("ESXI_ISO_PASSWORD", "Wrong-7"),
        ],
    )
    .failure(5)
    .stderr_has(&[
        "refused the credentials of user (InvalidLogin)",
        "ESXI_ISO_PASSWORD",
    ])
    .never_shows("Wrong-7");
    nothing_sent();

    // The datacenter by its inventory path (in a folder) or by its name.
    let run_ok = run(&[
        "--datastore",
        "LocalDS_0",
        "--datacenter",
        "F0/DC1",
        "--verbose",
        "--json",
    ]);
    run_ok.success().stderr_has(&[
        "POST /sdk RetrieveServiceContent -> 200",
        "POST /sdk Login -> 200",
        "checking the datacenter and datastore over SOAP",
        "POST /sdk MoveDatastoreFile_Task -> 200",
        "PUT /folder/.lab.iso.",
        "dcPath=F0%2FDC1&dsName=LocalDS_0 -> 200",
    ]);
    let summary: Value = serde_json::from_str(&run_ok.stdout()).unwrap();
    assert_eq!(summary["uploads"][0]["path"], "[LocalDS_0] lab.iso");
    let want = sha256_file(&w.path().join("lab.iso"));
    let (status, bytes) = sim.folder_get_in("F0/DC1", "LocalDS_0", "lab.iso");
    assert_eq!((status, sha256(&bytes)), (200, want.clone()));
    assert!(sim.files_named("esxi-iso-partial").is_empty());
    run(&["--datastore", "LocalDS_0", "--datacenter", "DC1", "--force"]).success();

    // No room: refused before sending.
    drop(sim);
    let sim = Vcsim::start(VcsimOpts {
        free_space: Some(1000),
        esx: true,
        ..VcsimOpts::default()
    });
    let tp = sim.openssl_thumbprint();
    esxi_iso(
        w.path(),
        &upload_args(&sim, &tp, &["--datastore", &sim.datastore]),
        &creds(),
    )
    .failure(5)
    .stderr_has(&["has 1000 B free", "take 683.59 KiB"]);
    assert_eq!(
        sim.folder_get_in("ha-datacenter", &sim.datastore, "lab.iso")
            .0,
        404
    );
}

/// Ctrl-C in the middle of a `--force` upload over a good copy: exit 130,
/// the good copy untouched under its name, no partial file anywhere.
#[test]
fn publish_datastore_ctrl_c_keeps_the_old_copy() {
    let Some((sim, tp, w)) = esx("publish_datastore_ctrl_c_keeps_the_old_copy") else {
        return;
    };
    make_iso(&w.path().join("lab.iso"), 1_000_000, 1);
    esxi_iso(
        w.path(),
        &upload_args(&sim, &tp, &["--datastore", &sim.datastore]),
        &creds(),
    )
    .success();
    let good = sha256(&fs::read(sim.datastore_path.join("lab.iso")).unwrap());

    // A new, larger lab.iso through a proxy that holds the connection once
    // 4 MiB of it are on the way.
    make_iso(&w.path().join("lab.iso"), 24_000_000, 2);
    let proxy = HoldingProxy::start(sim.port, 4 << 20);
    let via = format!("https://127.0.0.1:{}", proxy.port);
    let child = spawn_esxi_iso(
        w.path(),
        &[
            "upload",
            "lab.iso",
            "--server",
            &via,
            "--thumbprint",
            &tp,
            "--datastore",
            &sim.datastore,
            "--force",
        ],
        &creds(),
    );
    proxy.wait_held();
    // The upload is under way under its temporary name, not the real one.
    let partial = sim.files_named(".esxi-iso-partial");
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(partial[0].starts_with(".lab.iso."), "{partial:?}");
    assert_eq!(
        sha256(&fs::read(sim.datastore_path.join("lab.iso")).unwrap()),
        good
    );
    // SAFETY: sending a signal to our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    proxy.release();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "signal {:?}, stderr: {stderr}",
        out.status.signal()
    );
    assert!(stderr.contains("stopped"), "{stderr}");
    // It says what it left; a build's "no output was written" would be
    // untrue of an upload.
    assert!(!stderr.contains("no output was written"), "{stderr}");
    assert!(
        stderr.contains("the partial upload was deleted; nothing is left on the datastore"),
        "{stderr}"
    );
    assert_eq!(
        sha256(&fs::read(sim.datastore_path.join("lab.iso")).unwrap()),
        good
    );
    assert!(sim.files_named("esxi-iso-partial").is_empty());
}

/// Re-running is idempotent with --skip-existing: files that hold the same
/// bytes are skipped, the rest uploaded; a file of the same size with
/// other bytes (a lab's ISOs all have one size) is not; without it, every
/// file in the way is reported at once, before any upload.
#[test]
fn publish_datastore_skip_existing() {
    let Some((sim, tp, w)) = esx("publish_datastore_skip_existing") else {
        return;
    };
    for (name, seed) in [("a.iso", 1), ("b.iso", 2), ("c.iso", 3)] {
        make_iso(&w.path().join(name), 100_000, seed);
    }
    let args = |extra: &[&str]| {
        let mut a = vec![
            "upload",
            "a.iso",
            "b.iso",
            "c.iso",
            "--server",
            &sim.url,
            "--thumbprint",
            &tp,
            "--datastore",
            &sim.datastore,
            "--json",
        ];
        a.extend_from_slice(extra);
        esxi_iso(w.path(), &a, &creds())
    };
    fs::copy(w.path().join("a.iso"), sim.datastore_path.join("a.iso")).unwrap();
    fs::copy(w.path().join("b.iso"), sim.datastore_path.join("b.iso")).unwrap();
    args(&[]).failure(4).stderr_has(&[
        "[LocalDS_0] a.iso, [LocalDS_0] b.iso already exist",
        "--force",
        "--skip-existing",
    ]);
    assert!(!sim.datastore_path.join("c.iso").exists());

    let run = args(&["--skip-existing"]);
    run.success();
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    let skipped: Vec<bool> = v["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["skipped"].as_bool().unwrap())
        .collect();
    assert_eq!(skipped, [true, true, false]);
    assert_eq!(v["uploads"][0]["sha256"], Value::Null);
    assert_eq!(
        sha256(&fs::read(sim.datastore_path.join("c.iso")).unwrap()),
        sha256_file(&w.path().join("c.iso"))
    );
    // A second run changes nothing.
    let v: Value = serde_json::from_str(&args(&["--skip-existing"]).stdout()).unwrap();
    assert!(v["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u["skipped"] == true));

    // A file of another size is in the way, even with --skip-existing...
    make_iso(&w.path().join("b.iso"), 120_000, 5);
    args(&["--skip-existing"])
        .failure(4)
        .stderr_has(&["[LocalDS_0] b.iso (100000 bytes, not 120000) already exists"]);
    // ...unless --force replaces it.
    let run = args(&["--skip-existing", "--force"]);
    run.success();
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v["uploads"][1]["skipped"], false);
    assert_eq!(v["uploads"][1]["replaced"], true);
    assert_eq!(
        sha256(&fs::read(sim.datastore_path.join("b.iso")).unwrap()),
        sha256_file(&w.path().join("b.iso"))
    );

    // The same size, other bytes (a rebuilt host): in the way, not
    // skipped...
    make_iso(&w.path().join("c.iso"), 100_000, 9);
    args(&["--skip-existing"])
        .failure(4)
        .stderr_has(&["[LocalDS_0] c.iso (the same size, other bytes) already exists"]);
    // ...and replaced with --force, while the unchanged ones are skipped.
    let run = args(&["--skip-existing", "--force"]);
    run.success();
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    let skipped: Vec<&Value> = v["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| &u["skipped"])
        .collect();
    assert_eq!(skipped, [true, true, false]);
    assert_eq!(v["uploads"][2]["replaced"], true);
    assert_eq!(
        sha256(&fs::read(sim.datastore_path.join("c.iso")).unwrap()),
        sha256_file(&w.path().join("c.iso"))
    );
}
