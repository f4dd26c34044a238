//! vSphere faults: what a SOAP fault (`soapenv:Fault` with a `detail`) or
//! a failed task (`TaskInfo.error`, a `LocalizedMethodFault`) says, as a
//! type callers can match on and a sentence for users.
//!
//! The fault's type is the `xsi:type` of the detail's element (or its
//! name without the `Fault` suffix), as in the vim25 WSDL: `InvalidLogin`,
//! `NoPermission` (`object`, `privilegeId`, and from 7.0 on
//! `missingPrivileges`), `NotAuthenticated`, `ManagedObjectNotFound`
//! (`obj`), `InvalidArgument` (`invalidProperty`), `NotSupported`, the
//! file faults (`FileNotFound`, `FileAlreadyExists`, `FileLocked`,
//! `CannotDeleteFile`: `file`), `InvalidDatastore` (`name`),
//! `DuplicateName` (`name`, `object`), `InvalidPowerState`
//! (`requestedState`, `existingState`), the `InsufficientResourcesFault`
//! family (`InsufficientMemoryResourcesFault`, `InsufficientCpuResourcesFault`,
//! ... and `InsufficientHostCapacityFault`), `RestrictedVersion` (a free
//! ESXi license, whose API is read-only), `MethodNotFound` (`method`: a
//! server that lacks a call). Anything else keeps its type name and the
//! server's message.

use std::fmt;

use super::xml::Element;
use super::MoRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Wrong user name or password.
    InvalidLogin,
    /// The session is gone (expired or logged out).
    NotAuthenticated,
    /// The user lacks a privilege, on an object when the fault says.
    NoPermission {
        object: Option<MoRef>,
        privileges: Vec<String>,
    },
    ManagedObjectNotFound {
        obj: Option<MoRef>,
    },
    InvalidArgument {
        property: Option<String>,
    },
    NotSupported,
    FileNotFound {
        file: String,
    },
    FileAlreadyExists {
        file: String,
    },
    /// The file is open elsewhere, e.g. a VM's CD drive.
    FileLocked {
        file: String,
    },
    InvalidDatastore {
        name: String,
    },
    /// An object of that name is there already (a VM in the folder).
    DuplicateName {
        name: String,
        object: Option<MoRef>,
    },
    /// The VM is not in a power state that allows the operation.
    InvalidPowerState {
        requested: String,
        existing: String,
    },
    /// Not enough memory, CPU or capacity where the VM is to run; the
    /// type name says which.
    InsufficientResources(String),
    /// The license (free ESXi) or version forbids the operation.
    RestrictedVersion,
    /// The server does not know the method.
    MethodNotFound {
        method: String,
    },
    /// Any other fault, by its type name.
    Other(String),
}

/// A fault from a call or a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Fault {
    pub kind: FaultKind,
    /// The server's own text (`faultstring` or `localizedMessage`).
    pub message: String,
    /// The method or task that failed.
    pub method: String,
}

impl Fault {
    /// The type name, as the WSDL spells it.
    pub fn type_name(&self) -> &str {
        match &self.kind {
            FaultKind::InvalidLogin => "InvalidLogin",
            FaultKind::NotAuthenticated => "NotAuthenticated",
            FaultKind::NoPermission { .. } => "NoPermission",
            FaultKind::ManagedObjectNotFound { .. } => "ManagedObjectNotFound",
            FaultKind::InvalidArgument { .. } => "InvalidArgument",
            FaultKind::NotSupported => "NotSupported",
            FaultKind::FileNotFound { .. } => "FileNotFound",
            FaultKind::FileAlreadyExists { .. } => "FileAlreadyExists",
            FaultKind::FileLocked { .. } => "FileLocked",
            FaultKind::InvalidDatastore { .. } => "InvalidDatastore",
            FaultKind::DuplicateName { .. } => "DuplicateName",
            FaultKind::InvalidPowerState { .. } => "InvalidPowerState",
            FaultKind::RestrictedVersion => "RestrictedVersion",
            FaultKind::MethodNotFound { .. } => "MethodNotFound",
            FaultKind::InsufficientResources(name) | FaultKind::Other(name) => name,
        }
    }

    /// Reads a fault from the element that carries it: the child of a
    /// SOAP `detail`, or `TaskInfo.error.fault`.
    pub fn from_detail(detail: Option<&Element>, message: &str, method: &str) -> Fault {
        let kind = match detail {
            None => FaultKind::Other(String::new()),
            Some(d) => kind_of(d),
        };
        Fault {
            kind,
            message: message.trim().to_string(),
            method: method.to_string(),
        }
    }
}

fn kind_of(d: &Element) -> FaultKind {
    let name = d
        .xsi_type()
        .map(str::to_string)
        .unwrap_or_else(|| d.name.strip_suffix("Fault").unwrap_or(&d.name).to_string());
    let text = |n: &str| d.child_text(n).unwrap_or_default().to_string();
    match name.as_str() {
        "InvalidLogin" => FaultKind::InvalidLogin,
        "NotAuthenticated" => FaultKind::NotAuthenticated,
        "NoPermission" => {
            let mut privileges: Vec<String> = d
                .children_named("privilegeId")
                .map(|p| p.text.clone())
                .collect();
            let mut object = d.child("object").and_then(MoRef::from_element);
            // 7.0 and later: missingPrivileges [{entity, privileges[]}]
            for m in d.children_named("missingPrivileges") {
                if object.is_none() {
                    object = m.child("entity").and_then(MoRef::from_element);
                }
                privileges.extend(m.children_named("privileges").map(|p| p.text.clone()));
            }
            privileges.retain(|p| !p.is_empty());
            privileges.dedup();
            FaultKind::NoPermission { object, privileges }
        }
        "ManagedObjectNotFound" => FaultKind::ManagedObjectNotFound {
            obj: d.child("obj").and_then(MoRef::from_element),
        },
        "InvalidArgument" => FaultKind::InvalidArgument {
            property: d.child_text("invalidProperty").map(str::to_string),
        },
        "NotSupported" => FaultKind::NotSupported,
        "FileNotFound" => FaultKind::FileNotFound { file: text("file") },
        "FileAlreadyExists" => FaultKind::FileAlreadyExists { file: text("file") },
        "FileLocked" => FaultKind::FileLocked { file: text("file") },
        "InvalidDatastore" | "InvalidDatastorePath" => {
            FaultKind::InvalidDatastore { name: text("name") }
        }
        "DuplicateName" => FaultKind::DuplicateName {
            name: text("name"),
            object: d.child("object").and_then(MoRef::from_element),
        },
        "InvalidPowerState" => FaultKind::InvalidPowerState {
            requested: text("requestedState"),
            existing: text("existingState"),
        },
        "RestrictedVersion" => FaultKind::RestrictedVersion,
        "MethodNotFound" => FaultKind::MethodNotFound {
            method: text("method"),
        },
        n if n.starts_with("Insufficient") => FaultKind::InsufficientResources(name),
        _ => FaultKind::Other(name),
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let said = if self.message.is_empty() {
            String::new()
        } else {
            format!(": {}", self.message)
        };
        match &self.kind {
            FaultKind::InvalidLogin => write!(
                f,
                "{} refused: wrong user name or password (InvalidLogin)",
                self.method
            ),
            FaultKind::NotAuthenticated => write!(
                f,
                "{} refused: the session has expired or was logged out (NotAuthenticated)",
                self.method
            ),
            FaultKind::NoPermission { object, privileges } => {
                write!(
                    f,
                    "{} refused: permission denied (NoPermission",
                    self.method
                )?;
                if !privileges.is_empty() {
                    write!(f, "; missing privilege {}", privileges.join(", "))?;
                }
                if let Some(o) = object {
                    write!(f, " on {o}")?;
                }
                f.write_str(")")
            }
            FaultKind::ManagedObjectNotFound { obj } => write!(
                f,
                "{} failed: {} no longer exists (ManagedObjectNotFound)",
                self.method,
                obj.as_ref()
                    .map_or("an object it names".to_string(), |o| o.to_string())
            ),
            FaultKind::InvalidArgument { property } => write!(
                f,
                "{} refused an argument{} (InvalidArgument){said}",
                self.method,
                property
                    .as_ref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            ),
            FaultKind::NotSupported => write!(
                f,
                "{} is not supported by this server (NotSupported){said}",
                self.method
            ),
            FaultKind::FileNotFound { file } => {
                write!(
                    f,
                    "{} failed: file {file} not found (FileNotFound)",
                    self.method
                )
            }
            FaultKind::FileAlreadyExists { file } => write!(
                f,
                "{} failed: file {file} already exists (FileAlreadyExists)",
                self.method
            ),
            FaultKind::FileLocked { file } => write!(
                f,
                "{} failed: file {file} is locked, in use by a VM or another host \
                 (FileLocked)",
                self.method
            ),
            FaultKind::InvalidDatastore { name } => write!(
                f,
                "{} failed: datastore {name} is not valid here (InvalidDatastore){said}",
                self.method
            ),
            FaultKind::DuplicateName { name, object } => write!(
                f,
                "{} failed: the name {name} is taken{} (DuplicateName)",
                self.method,
                object
                    .as_ref()
                    .map(|o| format!(" by {o}"))
                    .unwrap_or_default()
            ),
            FaultKind::InvalidPowerState {
                requested,
                existing,
            } => write!(
                f,
                "{} refused: the VM is {}{} (InvalidPowerState)",
                self.method,
                if existing.is_empty() {
                    "in another power state"
                } else {
                    existing
                },
                if requested.is_empty() {
                    String::new()
                } else {
                    format!(", and {requested} was asked")
                }
            ),
            FaultKind::InsufficientResources(name) => write!(
                f,
                "{} failed: not enough resources where the VM is to run ({name}){said}",
                self.method
            ),
            FaultKind::RestrictedVersion => write!(
                f,
                "{} refused: the server's license or version forbids it; a free ESXi \
                 license makes the API read-only (RestrictedVersion)",
                self.method
            ),
            FaultKind::MethodNotFound { method } => write!(
                f,
                "{} is not implemented by this server (MethodNotFound{})",
                self.method,
                if method.is_empty() || method == &self.method {
                    String::new()
                } else {
                    format!(": {method}")
                }
            ),
            FaultKind::Other(name) if name.is_empty() => {
                write!(f, "{} failed{said}", self.method)
            }
            FaultKind::Other(name) => write!(f, "{} failed ({name}){said}", self.method),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;

    fn fault(detail: &str, message: &str) -> Fault {
        let doc = format!(
            r#"<d xmlns="urn:vim25" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{detail}</d>"#
        );
        let root = parse(doc.as_bytes()).unwrap();
        Fault::from_detail(root.children.first(), message, "Login")
    }

    #[test]
    fn faults_are_read_from_their_detail() {
        let cases: Vec<(&str, FaultKind, &str)> = vec![
            (
                r#"<InvalidLoginFault xsi:type="InvalidLogin"/>"#,
                FaultKind::InvalidLogin,
                "Login refused: wrong user name or password (InvalidLogin)",
            ),
            (
                r#"<NoPermissionFault xsi:type="NoPermission"><object type="Folder">group-d1</object><privilegeId>System.View</privilegeId></NoPermissionFault>"#,
                FaultKind::NoPermission {
                    object: Some(MoRef::new("Folder", "group-d1")),
                    privileges: vec!["System.View".into()],
                },
                "Login refused: permission denied (NoPermission; missing privilege System.View on Folder group-d1)",
            ),
            (
                r#"<NoPermissionFault xsi:type="NoPermission"><missingPrivileges><entity type="Datastore">datastore-1</entity><privileges>Datastore.FileManagement</privileges></missingPrivileges></NoPermissionFault>"#,
                FaultKind::NoPermission {
                    object: Some(MoRef::new("Datastore", "datastore-1")),
                    privileges: vec!["Datastore.FileManagement".into()],
                },
                "missing privilege Datastore.FileManagement on Datastore datastore-1",
            ),
            (
                r#"<ManagedObjectNotFoundFault xsi:type="ManagedObjectNotFound"><obj type="Datacenter">dc-9</obj></ManagedObjectNotFoundFault>"#,
                FaultKind::ManagedObjectNotFound {
                    obj: Some(MoRef::new("Datacenter", "dc-9")),
                },
                "Datacenter dc-9 no longer exists",
            ),
            (
                r#"<InvalidArgumentFault xsi:type="InvalidArgument"><invalidProperty>dc</invalidProperty></InvalidArgumentFault>"#,
                FaultKind::InvalidArgument {
                    property: Some("dc".into()),
                },
                "refused an argument (dc) (InvalidArgument): bad",
            ),
            (
                r#"<NotSupportedFault xsi:type="NotSupported"/>"#,
                FaultKind::NotSupported,
                "not supported",
            ),
            // No xsi:type: the element name without "Fault".
            (
                r#"<FileLockedFault><file>[ds] a.iso</file></FileLockedFault>"#,
                FaultKind::FileLocked {
                    file: "[ds] a.iso".into(),
                },
                "file [ds] a.iso is locked",
            ),
            (
                r#"<DuplicateNameFault xsi:type="DuplicateName"><name>esx01</name><object type="VirtualMachine">vm-7</object></DuplicateNameFault>"#,
                FaultKind::DuplicateName {
                    name: "esx01".into(),
                    object: Some(MoRef::new("VirtualMachine", "vm-7")),
                },
                "the name esx01 is taken by VirtualMachine vm-7 (DuplicateName)",
            ),
            (
                r#"<InvalidPowerStateFault xsi:type="InvalidPowerState"><requestedState>poweredOn</requestedState><existingState>poweredOn</existingState></InvalidPowerStateFault>"#,
                FaultKind::InvalidPowerState {
                    requested: "poweredOn".into(),
                    existing: "poweredOn".into(),
                },
                "the VM is poweredOn, and poweredOn was asked (InvalidPowerState)",
            ),
            (
                r#"<InsufficientMemoryResourcesFaultFault xsi:type="InsufficientMemoryResourcesFault"><unreserved>1</unreserved><requested>2</requested></InsufficientMemoryResourcesFaultFault>"#,
                FaultKind::InsufficientResources("InsufficientMemoryResourcesFault".into()),
                "not enough resources where the VM is to run (InsufficientMemoryResourcesFault): bad",
            ),
            (
                r#"<RestrictedVersionFault xsi:type="RestrictedVersion"/>"#,
                FaultKind::RestrictedVersion,
                "free ESXi license makes the API read-only (RestrictedVersion)",
            ),
            (
                r#"<MethodNotFoundFault xsi:type="MethodNotFound"><receiver type="HostNetworkSystem">ns</receiver><method>UpdatePortGroup</method></MethodNotFoundFault>"#,
                FaultKind::MethodNotFound {
                    method: "UpdatePortGroup".into(),
                },
                "Login is not implemented by this server (MethodNotFound: UpdatePortGroup)",
            ),
            (
                r#"<SystemErrorFault xsi:type="SystemError"><reason>x</reason></SystemErrorFault>"#,
                FaultKind::Other("SystemError".into()),
                "Login failed (SystemError): bad",
            ),
        ];
        for (detail, kind, text) in cases {
            let f = fault(detail, "bad");
            assert_eq!(f.kind, kind, "{detail}");
            assert!(f.to_string().contains(text), "{f}");
        }
        let bare = Fault::from_detail(None, " oops ", "RetrieveServiceContent");
        assert_eq!(bare.to_string(), "RetrieveServiceContent failed: oops");
    }
}
