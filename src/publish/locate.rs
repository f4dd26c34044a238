//! Before a byte is sent: what the vSphere SOAP API says about the target
//! of a datastore upload. On a vCenter (its `about.apiType`) without
//! `--datacenter`, the one datacenter that holds the datastore is taken
//! (more, or none: `--datacenter` is asked for); a host has one
//! datacenter (`ha-datacenter`); a
//! datacenter or datastore that is not there is named as such, with the
//! ones that are and the nearest name; a datastore that is not accessible,
//! in maintenance or too full is said so. The datacenter's inventory path
//! is what the `/folder` URL's `dcPath` then carries.
//!
//! Names the user typed that are not there are usage errors (exit 2);
//! a datastore that exists but cannot take the files is the server's
//! state (exit 5).

use anyhow::{bail, Result};

use super::datastore::DatastoreTarget;
use super::human_size;
use crate::diagnostic::nearest;
use crate::failure::{self, Failure};
use crate::vsphere::inventory::{Datacenter, Datastore};
use crate::vsphere::Vim;

/// Where the files go, as the server knows it.
#[derive(Debug, Clone)]
pub struct Located {
    pub datacenter: Datacenter,
    pub datastore: Datastore,
}

/// Most names listed in a message; the rest are counted.
const LISTED: usize = 20;

/// Finds the datacenter and datastore of `target`, or says what is wrong.
pub fn locate(vim: &Vim, target: &DatastoreTarget) -> Result<Located> {
    let host = &vim.server().host;
    let about = vim.about();
    let dcs = vim.datacenters()?;
    let paths: Vec<String> = dcs.iter().map(|d| d.path.clone()).collect();
    let datacenter = match target.datacenter.as_deref() {
        None if about.is_vcenter() => {
            let holders: Vec<&Datacenter> = dcs
                .iter()
                .take(LISTED)
                .filter(|dc| {
                    vim.datastores(&dc.moref)
                        .is_ok_and(|ds| ds.iter().any(|d| d.name == target.datastore))
                })
                .collect();
            if let [one] = holders.as_slice() {
                // The one datacenter that holds it: what the user meant.
                vim.trace().say(|| {
                    format!(
                        "datastore {} is in datacenter {} only: uploading there",
                        target.datastore, one.path
                    )
                });
                (*one).clone()
            } else {
                let hint = match holders.as_slice() {
                    [] => String::new(),
                    many => {
                        let paths: Vec<&str> = many.iter().map(|d| d.path.as_str()).collect();
                        format!(
                            "; datastore {} is in {}",
                            target.datastore,
                            paths.join(", ")
                        )
                    }
                };
                bail!(failure::error(
                    Failure::Usage,
                    format!(
                        "{host} is a vCenter ({}): name the datastore's datacenter with \
                         --datacenter; {}{hint}",
                        about.describe(),
                        listing("datacenter", &paths)
                    )
                ))
            }
        }
        None => match dcs.as_slice() {
            [one] => one.clone(),
            _ => bail!(failure::error(
                Failure::Usage,
                format!(
                    "{host} ({}) has {}: name one with --datacenter",
                    about.describe(),
                    listing("datacenter", &paths)
                )
            )),
        },
        Some(want) => find_datacenter(&dcs, want).ok_or_else(|| {
            failure::error(
                Failure::Usage,
                format!(
                    "datacenter {want} not found on {host}; {}{}",
                    listing("datacenter", &paths),
                    nearest_hint(want, &paths)
                ),
            )
        })?,
    };
    let stores = vim.datastores(&datacenter.moref)?;
    let names: Vec<String> = stores.iter().map(|d| d.name.clone()).collect();
    let Some(datastore) = stores.into_iter().find(|d| d.name == target.datastore) else {
        bail!(failure::error(
            Failure::Usage,
            format!(
                "datastore {} not found in datacenter {} on {host}; {}{}",
                target.datastore,
                datacenter.path,
                listing("datastore", &names),
                nearest_hint(&target.datastore, &names)
            )
        ));
    };
    if !datastore.accessible {
        bail!(
            "datastore {} on {host} is not accessible (its storage is unreachable or \
             its host is disconnected): check it in the vSphere Client (Storage > {})",
            datastore.name,
            datastore.name
        );
    }
    if datastore.maintenance.as_deref() == Some("inMaintenance") {
        bail!(
            "datastore {} on {host} is in maintenance mode: take it out of maintenance, \
             or upload to another datastore",
            datastore.name
        );
    }
    Ok(Located {
        datacenter,
        datastore,
    })
}

/// Refuses an upload of `need` bytes that the datastore has no room for.
pub fn check_room(located: &Located, need: u64, host: &str) -> Result<()> {
    let ds = &located.datastore;
    match ds.free_space {
        Some(free) if free < need => bail!(
            "datastore {} on {host} has {} free, and the ISOs to upload take {}: free \
             space there, or upload to another datastore",
            ds.name,
            human_size(free),
            human_size(need)
        ),
        _ => Ok(()),
    }
}

/// A datacenter by inventory path, else by name when only one has it.
pub(crate) fn find_datacenter(dcs: &[Datacenter], want: &str) -> Option<Datacenter> {
    let want = want.trim_matches('/');
    if let Some(dc) = dcs.iter().find(|d| d.path == want) {
        return Some(dc.clone());
    }
    let mut by_name = dcs.iter().filter(|d| d.name == want);
    match (by_name.next(), by_name.next()) {
        (Some(dc), None) => Some(dc.clone()),
        _ => None,
    }
}

/// `its datacenters: A, B` (or `it has no datacenter`).
pub(crate) fn listing(what: &str, names: &[String]) -> String {
    match names.len() {
        0 => format!("it has no {what}"),
        n if n <= LISTED => format!("its {what}s: {}", names.join(", ")),
        n => format!(
            "its {what}s: {} and {} more",
            names[..LISTED].join(", "),
            n - LISTED
        ),
    }
}

/// ` (did you mean X?)` for the nearest name: the same but for case, or
/// within a few edits.
pub(crate) fn nearest_hint(want: &str, names: &[String]) -> String {
    nearest(want, names)
        .map(|n| format!(" (did you mean {n}?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::MoRef;

    #[test]
    fn datacenters_match_by_path_or_unique_name() {
        let dc = |path: &str| Datacenter {
            moref: MoRef::new("Datacenter", path),
            name: path.rsplit('/').next().unwrap().to_string(),
            path: path.to_string(),
        };
        let dcs = [dc("DC0"), dc("F0/DC1"), dc("A/Lab"), dc("B/Lab")];
        let find = |w: &str| find_datacenter(&dcs, w).map(|d| d.path);
        assert_eq!(find("F0/DC1").as_deref(), Some("F0/DC1"));
        assert_eq!(find("/F0/DC1/").as_deref(), Some("F0/DC1"));
        assert_eq!(find("DC1").as_deref(), Some("F0/DC1"));
        assert_eq!(find("Lab"), None, "two datacenters are named Lab");
        assert_eq!(find("DC2"), None);
        let many: Vec<String> = (0..25).map(|i| format!("d{i}")).collect();
        assert!(listing("datastore", &many).ends_with("d19 and 5 more"));
        assert_eq!(listing("datastore", &[]), "it has no datastore");
    }
}
