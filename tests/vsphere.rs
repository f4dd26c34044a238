//! The vim25 SOAP client (`esxi_iso::vsphere`) against real peers:
//! govmomi's simulator in vCenter mode (two datacenters, one in a folder)
//! and in standalone-ESXi mode, with pyvmomi (VMware's Python SDK) as the
//! independent reader of the same inventory; and a scripted SOAP endpoint
//! (tests/publish_support/soap_mock.rs) for the faults, pages and non-SOAP
//! answers the simulator never gives.

mod publish_support;

use std::fs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use esxi_iso::progress::Trace;
use esxi_iso::vsphere::http::{Client, Server, Trust};
use esxi_iso::vsphere::{Fault, FaultKind, MoRef, NoSoap, Vim};
use publish_support::soap_mock::{service_content, SoapReply, SoapServer};
use publish_support::*;
use serde_json::Value;

fn traced() -> (Trace, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    (
        Trace::to(move |l| sink.lock().unwrap().push(l.to_string())),
        lines,
    )
}

fn fault_of(err: &anyhow::Error) -> &Fault {
    err.downcast_ref::<Fault>()
        .unwrap_or_else(|| panic!("not a fault: {err:#}"))
}

/// What pyvmomi reads from the simulator.
fn pyvmomi_inventory(sim: &Vcsim) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vcsim/inventory.py");
    python_json(script, &["127.0.0.1", &sim.port.to_string(), USER], PASS)
}

/// Our reading of the same inventory, in pyvmomi's shape.
fn our_inventory(vim: &Vim) -> Value {
    let about = vim.about();
    let mut dcs = Vec::new();
    for dc in vim.datacenters().unwrap() {
        let stores: Vec<Value> = vim
            .datastores(&dc.moref)
            .unwrap()
            .into_iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name, "accessible": d.accessible, "type": d.kind,
                    "capacity": d.capacity.unwrap(), "free_space": d.free_space.unwrap(),
                })
            })
            .collect();
        dcs.push(serde_json::json!({
            "moref": dc.moref.value, "name": dc.name, "path": dc.path, "datastores": stores,
        }));
    }
    serde_json::json!({
        "api_type": about.api_type, "api_version": about.api_version,
        "full_name": about.full_name, "instance_uuid": about.instance_uuid,
        "datacenters": dcs,
    })
}

#[test]
fn vsphere_vcenter_inventory_matches_pyvmomi() {
    if !vcsim_available("vsphere_vcenter_inventory_matches_pyvmomi") {
        return;
    }
    let sim = Vcsim::start(VcsimOpts {
        datacenters: 2,
        folders: 1,
        inaccessible: Some("LocalDS_0".into()),
        ..VcsimOpts::default()
    });
    let client = Client::new(Trust::Insecure).unwrap();
    let server = Server::parse(&sim.url).unwrap();
    let (trace, lines) = traced();
    let vim = Vim::connect(&client, &server, trace).unwrap();
    assert!(vim.about().is_vcenter(), "{:?}", vim.about());

    // Wrong password: InvalidLogin, and the password never traced.
    let err = vim.login(USER, "Wrong-Pw-31").unwrap_err();
    assert_eq!(fault_of(&err).kind, FaultKind::InvalidLogin);
    vim.login(USER, PASS).unwrap();
    let cookie = vim.session_cookie().expect("the session cookie");
    assert!(cookie.starts_with("vmware_soap_session="), "{cookie}");

    let dcs = vim.datacenters().unwrap();
    let paths: Vec<&str> = dcs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["DC0", "F0/DC1"]);
    assert_eq!(
        vim.find_by_inventory_path("F0/DC1").unwrap(),
        Some(dcs[1].moref.clone())
    );
    assert_eq!(vim.find_by_inventory_path("F0/DC9").unwrap(), None);
    let stores = vim.datastores(&dcs[0].moref).unwrap();
    assert_eq!(stores[0].name, "LocalDS_0");
    assert!(!stores[0].accessible);

    if pyvmomi_available("vsphere_vcenter_inventory_matches_pyvmomi") {
        assert_eq!(our_inventory(&vim), pyvmomi_inventory(&sim));
    }
    vim.logout();

    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.contains(&"POST /sdk Login -> 500".to_string()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"POST /sdk Login -> 200".to_string()),
        "{lines:?}"
    );
    for l in &lines {
        assert!(!l.contains(PASS) && !l.contains("Wrong-Pw") && !l.contains(&cookie));
    }
}

#[test]
fn vsphere_standalone_host_and_datastore_files() {
    if !vcsim_available("vsphere_standalone_host_and_datastore_files") {
        return;
    }
    let sim = Vcsim::start(VcsimOpts {
        esx: true,
        ..VcsimOpts::default()
    });
    let client = Client::new(Trust::Insecure).unwrap();
    let server = Server::parse(&sim.url).unwrap();
    let vim = Vim::connect(&client, &server, Trace::default()).unwrap();
    assert!(vim.about().is_host(), "{:?}", vim.about());
    vim.login(USER, PASS).unwrap();
    let dcs = vim.datacenters().unwrap();
    assert_eq!(dcs.len(), 1);
    assert_eq!(dcs[0].path, "ha-datacenter");
    let dc = &dcs[0].moref;
    let stores = vim.datastores(dc).unwrap();
    assert_eq!(stores[0].name, sim.datastore);
    assert!(stores[0].accessible);
    if pyvmomi_available("vsphere_standalone_host_and_datastore_files") {
        assert_eq!(our_inventory(&vim), pyvmomi_inventory(&sim));
    }

    // Move and delete through FileManager tasks; checked on the disk
    // behind the simulated datastore.
    let disk = &sim.datastore_path;
    fs::write(disk.join("a.iso"), b"first").unwrap();
    fs::write(disk.join("b.iso"), b"second").unwrap();
    let ds = |f: &str| format!("[{}] {f}", sim.datastore);
    let wait = |task: MoRef, m: &str| vim.wait_task(&task, m, Duration::from_secs(60));
    // Without force, an existing destination is a fault.
    let task = vim
        .move_datastore_file(&ds("a.iso"), &ds("b.iso"), dc, false)
        .unwrap();
    let err = wait(task, "MoveDatastoreFile_Task").unwrap_err();
    assert!(
        matches!(fault_of(&err).kind, FaultKind::FileAlreadyExists { .. }),
        "{err:#}"
    );
    assert_eq!(fs::read(disk.join("b.iso")).unwrap(), b"second");
    let task = vim
        .move_datastore_file(&ds("a.iso"), &ds("b.iso"), dc, true)
        .unwrap();
    wait(task, "MoveDatastoreFile_Task").unwrap();
    assert_eq!(fs::read(disk.join("b.iso")).unwrap(), b"first");
    assert!(!disk.join("a.iso").exists());
    let task = vim.delete_datastore_file(&ds("b.iso"), dc).unwrap();
    wait(task, "DeleteDatastoreFile_Task").unwrap();
    assert!(!disk.join("b.iso").exists());
    let task = vim.delete_datastore_file(&ds("b.iso"), dc).unwrap();
    let err = wait(task, "DeleteDatastoreFile_Task").unwrap_err();
    assert!(
        matches!(fault_of(&err).kind, FaultKind::FileNotFound { .. }),
        "{err:#}"
    );
}

/// Faults vcsim never sends, each read into its kind with its details.
#[test]
fn vsphere_faults_from_a_scripted_server() {
    let server = SoapServer::start(|method, body| match method {
        "RetrieveServiceContent" => SoapReply::ok(method, &service_content(true)).with_header(
            "Set-Cookie",
            "vmware_soap_session=\"sess-42\"; Path=/; HttpOnly",
        ),
        "Login" if body.contains("<password>right &amp; &lt;pw&gt;</password>") => {
            SoapReply::ok(method, "<returnval><key>k</key></returnval>")
        }
        "Login" => SoapReply::fault(
            "Cannot complete login due to an incorrect user name or password.",
            "<InvalidLoginFault xmlns=\"urn:vim25\" xsi:type=\"InvalidLogin\"/>",
        ),
        "FindByInventoryPath" if body.contains(">gone<") => SoapReply::fault(
            "The object has already been deleted",
            "<ManagedObjectNotFoundFault xmlns=\"urn:vim25\" xsi:type=\"ManagedObjectNotFound\">\
             <obj type=\"Datacenter\">datacenter-7</obj></ManagedObjectNotFoundFault>",
        ),
        "FindByInventoryPath" if body.contains(">arg<") => SoapReply::fault(
            "A specified parameter was not correct: inventoryPath",
            "<InvalidArgumentFault xmlns=\"urn:vim25\" xsi:type=\"InvalidArgument\">\
             <invalidProperty>inventoryPath</invalidProperty></InvalidArgumentFault>",
        ),
        "FindByInventoryPath" if body.contains(">unsupported<") => SoapReply::fault(
            "The operation is not supported on the object.",
            "<NotSupportedFault xmlns=\"urn:vim25\" xsi:type=\"NotSupported\"/>",
        ),
        "FindByInventoryPath" if body.contains(">odd<") => SoapReply::fault(
            "A general system error occurred: boom",
            "<SystemErrorFault xmlns=\"urn:vim25\" xsi:type=\"SystemError\"><reason>boom</reason>\
             </SystemErrorFault>",
        ),
        "FindByInventoryPath" if body.contains(">html<") => {
            SoapReply::raw(502, "<html><body>Bad gateway</body></html>")
        }
        "FindByInventoryPath" => SoapReply::ok(
            method,
            "<returnval type=\"Datacenter\">datacenter-2</returnval>",
        ),
        // Two pages: a token, then the rest.
        "RetrievePropertiesEx" => SoapReply::ok(
            method,
            "<returnval><token>page-2</token><objects><obj type=\"Datacenter\">datacenter-2</obj>\
             <propSet><name>name</name><val xsi:type=\"xsd:string\">DC0</val></propSet>\
             <propSet><name>parent</name><val type=\"Folder\">group-d1</val></propSet></objects>\
             </returnval>",
        ),
        "ContinueRetrievePropertiesEx" if body.contains("<token>page-2</token>") => SoapReply::ok(
            method,
            "<returnval><objects><obj type=\"Folder\">group-d9</obj>\
             <propSet><name>name</name><val>Lab &amp; Test</val></propSet>\
             <propSet><name>parent</name><val type=\"Folder\">group-d1</val></propSet></objects>\
             <objects><obj type=\"Datacenter\">datacenter-9</obj>\
             <propSet><name>name</name><val>DC9</val></propSet>\
             <propSet><name>parent</name><val type=\"Folder\">group-d9</val></propSet></objects>\
             </returnval>",
        ),
        "CurrentTime" => SoapReply::fault(
            "Permission to perform this operation was denied.",
            "<NoPermissionFault xmlns=\"urn:vim25\" xsi:type=\"NoPermission\">\
             <object type=\"Folder\">group-d1</object><privilegeId>System.View</privilegeId>\
             </NoPermissionFault>",
        ),
        _ => SoapReply::fault("unexpected", ""),
    });
    let client = Client::new(Trust::Roots).unwrap();
    let host = Server::parse(&server.url).unwrap();
    let (trace, lines) = traced();
    let vim = Vim::connect(&client, &host, trace).unwrap();
    assert_eq!(vim.about().api_version.as_deref(), Some("8.0.3.0"));

    let err = vim.login("root", "wrong").unwrap_err();
    assert_eq!(fault_of(&err).kind, FaultKind::InvalidLogin);
    vim.login("root", "right & <pw>").unwrap();

    let err = vim.current_time().unwrap_err();
    assert_eq!(
        fault_of(&err).kind,
        FaultKind::NoPermission {
            object: Some(MoRef::new("Folder", "group-d1")),
            privileges: vec!["System.View".into()],
        }
    );
    assert!(
        err.to_string()
            .contains("missing privilege System.View on Folder group-d1"),
        "{err}"
    );
    let kinds = [
        (
            "gone",
            FaultKind::ManagedObjectNotFound {
                obj: Some(MoRef::new("Datacenter", "datacenter-7")),
            },
        ),
        (
            "arg",
            FaultKind::InvalidArgument {
                property: Some("inventoryPath".into()),
            },
        ),
        ("unsupported", FaultKind::NotSupported),
        ("odd", FaultKind::Other("SystemError".into())),
    ];
    for (path, kind) in kinds {
        let err = vim.find_by_inventory_path(path).unwrap_err();
        assert_eq!(fault_of(&err).kind, kind, "{path}");
    }
    let odd = vim.find_by_inventory_path("odd").unwrap_err().to_string();
    assert!(
        odd.contains("A general system error occurred: boom"),
        "{odd}"
    );
    let html = vim.find_by_inventory_path("html").unwrap_err();
    assert!(html.is::<NoSoap>(), "{html:#}");

    // Paging: the second page comes from ContinueRetrievePropertiesEx, and
    // the folder's name (escaped in the answer) is part of the path.
    let dcs = vim.datacenters().unwrap();
    let paths: Vec<&str> = dcs.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["DC0", "Lab & Test/DC9"]);

    let seen = server.requests();
    assert_eq!(seen[0].headers["soapaction"], "\"urn:vim25/6.0\"");
    assert!(!seen[0].headers.contains_key("cookie"));
    for r in &seen[1..] {
        assert_eq!(
            r.headers["soapaction"], "\"urn:vim25/8.0.3.0\"",
            "{}",
            r.method
        );
        assert_eq!(r.headers["cookie"], "vmware_soap_session=\"sess-42\"");
    }
    // WSDL order: _this, userName, password.
    let login = &seen[1].body;
    let (t, u, p) = (
        login.find("<_this").unwrap(),
        login.find("<userName>").unwrap(),
        login.find("<password>").unwrap(),
    );
    assert!(t < u && u < p, "{login}");
    for l in lines.lock().unwrap().iter() {
        assert!(!l.contains("right") && !l.contains("sess-42"), "{l}");
    }
}

/// `/sdk` that is not there, or not SOAP: NoSoap, so a caller can fall
/// back; a connection refused is not NoSoap.
#[test]
fn vsphere_no_soap_is_told_apart() {
    let client = Client::new(Trust::Roots).unwrap();
    for rule in [
        |_: &str, _: &str| Reply::Status(404),
        |_: &str, _: &str| Reply::Json(200, "{\"value\": 1}".into()),
    ] {
        let server = FakeServer::start(rule);
        let host = Server::parse(&server.url).unwrap();
        let err = Vim::connect(&client, &host, Trace::default())
            .err()
            .expect("no SOAP");
        assert!(err.is::<NoSoap>(), "{err:#}");
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let host = Server::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = Vim::connect(&client, &host, Trace::default())
        .err()
        .expect("refused");
    assert!(!err.is::<NoSoap>());
    assert!(err.to_string().contains("connection refused"), "{err:#}");
}
