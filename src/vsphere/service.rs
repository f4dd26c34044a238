//! The service instance and the session: what `RetrieveServiceContent`
//! says about the server (`AboutInfo`) and where its managers are, and
//! `SessionManager.Login` / `Logout`, `ServiceInstance.CurrentTime` (the
//! cheap call that keeps a session from expiring while a long transfer
//! runs, as govmomi's keep-alive handler does).
//!
//! vim25 WSDL: `ServiceContent` (rootFolder, propertyCollector, about,
//! sessionManager, searchIndex, fileManager, licenseManager, ...), `AboutInfo` (name,
//! fullName, vendor, version, build, ..., apiType, apiVersion,
//! instanceUuid), `Login(_this, userName, password, locale?)`.

use anyhow::Result;

use super::soap::Vim;
use super::xml::{Element, Node};
use super::MoRef;

/// `AboutInfo`: every field as the server wrote it (versions are opaque
/// strings), None when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    pub name: Option<String>,
    pub full_name: Option<String>,
    pub version: Option<String>,
    pub build: Option<String>,
    /// `VirtualCenter` or `HostAgent`.
    pub api_type: Option<String>,
    pub api_version: Option<String>,
    pub instance_uuid: Option<String>,
}

impl About {
    /// A vCenter (`apiType` VirtualCenter), as opposed to a host.
    pub fn is_vcenter(&self) -> bool {
        self.api_type.as_deref() == Some("VirtualCenter")
    }

    /// A standalone ESXi host, or one reached directly (`HostAgent`).
    pub fn is_host(&self) -> bool {
        self.api_type.as_deref() == Some("HostAgent")
    }

    /// `VMware vCenter Server 8.0.2 build-22385739`, or what is known.
    pub fn describe(&self) -> String {
        self.full_name
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| "an unknown vSphere server".into())
    }
}

/// The parts of `ServiceContent` this client uses.
#[derive(Debug, Clone, Default)]
pub struct ServiceContent {
    pub about: About,
    pub root_folder: Option<MoRef>,
    pub property_collector: Option<MoRef>,
    pub session_manager: Option<MoRef>,
    pub search_index: Option<MoRef>,
    pub file_manager: Option<MoRef>,
    pub license_manager: Option<MoRef>,
}

impl ServiceContent {
    pub(super) fn read(e: &Element) -> ServiceContent {
        let moref = |n: &str| e.child(n).and_then(MoRef::from_element);
        let about = e.child("about");
        let text = |n: &str| {
            about
                .and_then(|a| a.child_text(n))
                .map(|t| t.trim().to_string())
        };
        ServiceContent {
            about: About {
                name: text("name"),
                full_name: text("fullName"),
                version: text("version"),
                build: text("build"),
                api_type: text("apiType"),
                api_version: text("apiVersion"),
                instance_uuid: text("instanceUuid"),
            },
            root_folder: moref("rootFolder"),
            property_collector: moref("propertyCollector"),
            session_manager: moref("sessionManager"),
            search_index: moref("searchIndex"),
            file_manager: moref("fileManager"),
            license_manager: moref("licenseManager"),
        }
    }
}

impl Vim<'_> {
    pub fn about(&self) -> &About {
        &self.content().about
    }

    /// A manager the service content names, or an error saying the server
    /// has none.
    pub(super) fn manager(&self, which: Option<&MoRef>, what: &str) -> Result<MoRef> {
        which.cloned().ok_or_else(|| {
            anyhow::anyhow!(
                "{} ({}) has no {what}",
                self.server().host,
                self.about().describe()
            )
        })
    }

    /// Logs in; the session cookie is kept for every later call. A wrong
    /// password is a [`super::Fault`] of kind `InvalidLogin`.
    pub fn login(&self, user: &str, password: &str) -> Result<()> {
        let sm = self.manager(self.content().session_manager.as_ref(), "session manager")?;
        self.call(
            "Login",
            &sm,
            vec![
                Node::text("userName", user),
                Node::text("password", password),
            ],
        )?;
        Ok(())
    }

    /// Best effort: the session expires on its own.
    pub fn logout(&self) {
        if let Some(sm) = self.content().session_manager.clone() {
            let _ = self.call("Logout", &sm, Vec::new());
        }
    }

    /// The server's clock; any call on the session also keeps it alive.
    pub fn current_time(&self) -> Result<String> {
        let si = MoRef::new("ServiceInstance", "ServiceInstance");
        let answer = self.call("CurrentTime", &si, Vec::new())?;
        Ok(answer
            .child_text("returnval")
            .unwrap_or_default()
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::xml::parse;

    #[test]
    fn service_content_is_read() {
        let doc = br#"<returnval xmlns="urn:vim25">
  <rootFolder type="Folder">group-d1</rootFolder>
  <propertyCollector type="PropertyCollector">propertyCollector</propertyCollector>
  <about><name>VMware vCenter Server</name><fullName>VMware vCenter Server 8.0.2 build-1</fullName>
    <version>8.0.2</version><build>1</build><apiType>VirtualCenter</apiType>
    <apiVersion>8.0.2.0</apiVersion><instanceUuid>u-1</instanceUuid></about>
  <sessionManager type="SessionManager">SessionManager</sessionManager>
  <fileManager type="FileManager">FileManager</fileManager>
</returnval>"#;
        let sc = ServiceContent::read(&parse(doc).unwrap());
        assert!(sc.about.is_vcenter() && !sc.about.is_host());
        assert_eq!(sc.about.api_version.as_deref(), Some("8.0.2.0"));
        assert_eq!(sc.about.describe(), "VMware vCenter Server 8.0.2 build-1");
        assert_eq!(sc.root_folder, Some(MoRef::new("Folder", "group-d1")));
        assert_eq!(sc.search_index, None);
        assert_eq!(
            sc.file_manager,
            Some(MoRef::new("FileManager", "FileManager"))
        );
    }
}
