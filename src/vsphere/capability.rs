//! What a server lets a client do, asked before anything is changed:
//!
//! - its licenses (`LicenseManager.licenses`: editionKey and name; the
//!   key itself is never kept). A free ESXi host ("vSphere Hypervisor",
//!   editionKey `esxBasic`, and `esx.hypervisor.free` or `esx.free` in
//!   later releases) serves a read-only API: every change fails with
//!   `RestrictedVersion` (virtuallyGhetto, "The dreaded
//!   faultRestrictedVersionSummary", 2011; VMware's Perl SDK samples
//!   check editionKey `esxBasic` the same way).
//! - the guest OS identifiers a compute resource knows
//!   (`EnvironmentBrowser.QueryConfigOptionEx` with
//!   `EnvironmentBrowserConfigOptionQuerySpec.guestId`: the answer's
//!   `guestOSDescriptor` list is filtered to the ids asked for, or is the
//!   whole list when none matches).

use anyhow::Result;

use super::inventory::FilterSpec;
use super::soap::Vim;
use super::xml::Node;
use super::MoRef;

/// A license of the server, without its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub edition: String,
    pub name: String,
}

impl License {
    /// The free vSphere Hypervisor edition, whose API is read-only.
    pub fn is_free(&self) -> bool {
        let e = self.edition.to_ascii_lowercase();
        e == "esxbasic" || e.ends_with(".free") || e.starts_with("esx.hypervisor")
    }
}

impl Vim<'_> {
    /// The server's licenses; empty when it has no license manager.
    pub fn licenses(&self) -> Result<Vec<License>> {
        let Some(lm) = self.content().license_manager.clone() else {
            return Ok(Vec::new());
        };
        let spec = FilterSpec::of_objects("LicenseManager", &["licenses"], &[lm]);
        let objects = self.retrieve(&spec)?;
        Ok(objects
            .first()
            .and_then(|o| o.prop("licenses"))
            .map(|array| {
                array
                    .children
                    .iter()
                    .map(|l| License {
                        edition: l
                            .child_text("editionKey")
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                        name: l.child_text("name").unwrap_or_default().trim().to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The guest OS ids of `environment_browser` among `wanted` (and, when
    /// none of them is known, every id it knows).
    pub fn guest_ids(&self, environment_browser: &MoRef, wanted: &[&str]) -> Result<Vec<String>> {
        let spec = Node::new("spec").children(wanted.iter().map(|g| Node::text("guestId", g)));
        let answer = self.call("QueryConfigOptionEx", environment_browser, vec![spec])?;
        Ok(answer
            .child("returnval")
            .map(|r| {
                r.children_named("guestOSDescriptor")
                    .filter_map(|d| d.child_text("id").map(|t| t.trim().to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_editions() {
        let lic = |e: &str| License {
            edition: e.into(),
            name: String::new(),
        };
        for free in ["esxBasic", "esx.hypervisor.free", "esx.free"] {
            assert!(lic(free).is_free(), "{free}");
        }
        for paid in [
            "eval",
            "esx.enterprisePlus.cpuPackage",
            "esx.standard",
            "vc.standard",
        ] {
            assert!(!lic(paid).is_free(), "{paid}");
        }
    }
}
