//! Talking to vSphere: the HTTPS client every request goes through
//! ([`http`], with the trust settings of [`tls`] and its failures as
//! sentences, `tls_explain`) and a
//! small vSphere Web Services (vim25 SOAP) client ([`soap::Vim`]): the
//! service content and `about` ([`service`]), login and logout, the
//! property collector and inventory paths ([`inventory`]), a datacenter's
//! folders, clusters, hosts, pools and networks ([`datacenter`]),
//! datastore files ([`files`]), tasks ([`task`]), VMs created, changed and
//! read back ([`vm`], [`vminfo`]), port group security and its fix
//! ([`network`]), licenses and guest OS ids ([`capability`]), faults as
//! types ([`fault`]).
//!
//! It knows nothing of `upload` or `deploy`: `publish` uses it for the
//! datastore and content library uploads, `deploy` for a lab's VMs, and
//! other commands can build on it (a new
//! call is a function that builds its arguments as [`xml::Node`]s in WSDL
//! order and reads its answer's [`xml::Element`]).
//!
//! References: the vim25 WSDL and govmomi's types and simulator (Debian's
//! golang-github-vmware-govmomi-dev), pyvmomi, the vSphere Web Services
//! API reference. Not covered: SAML token login, the `/sdk` version
//! negotiation through `vimServiceVersions.xml` (the server's own
//! `apiVersion` is used), property collector filters and `WaitForUpdates`
//! (tasks and VMs are polled).

pub mod capability;
pub mod datacenter;
pub mod fault;
pub mod files;
pub mod http;
pub mod inventory;
pub mod network;
pub mod service;
pub mod soap;
pub mod task;
pub mod tls;
mod tls_explain;
pub mod vm;
pub mod vminfo;
pub mod xml;

use std::fmt;

pub use fault::{Fault, FaultKind};
pub use soap::{NoSoap, Vim};

/// A managed object reference: a type and an opaque id (`Folder`,
/// `group-d1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MoRef {
    pub kind: String,
    pub value: String,
}

impl MoRef {
    pub fn new(kind: &str, value: &str) -> MoRef {
        MoRef {
            kind: kind.to_string(),
            value: value.to_string(),
        }
    }

    /// `<name type="Kind">value</name>` as in an answer.
    pub fn from_element(e: &xml::Element) -> Option<MoRef> {
        let kind = e.attr("type")?;
        let value = e.text.trim();
        if kind.is_empty() || value.is_empty() {
            return None;
        }
        Some(MoRef::new(kind, value))
    }

    /// The same, to send.
    pub fn node(&self, name: &str) -> xml::Node {
        xml::Node::new(name)
            .attr("type", &self.kind)
            .with_text(&self.value)
    }
}

impl fmt::Display for MoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.value)
    }
}
