//! Reading the inventory: `PropertyCollector.RetrievePropertiesEx` and
//! `ContinueRetrievePropertiesEx` (paged by the server's token) with
//! `PropertyFilterSpec`s built from [`ObjectSpec`], [`Selection`]
//! (`TraversalSpec`, `SelectionSpec`) and [`PropertySpec`], in WSDL order
//! (propSet, objectSet; type, all, pathSet; obj, skip, selectSet; name,
//! type, path, skip, selectSet); and `SearchIndex.FindByInventoryPath`.
//!
//! On top: the datacenters with their inventory paths (folders included,
//! as `/folder` URLs and `FindByInventoryPath` want them), and the
//! datastores of a datacenter with their summary (accessible, type,
//! capacity, free space). Whole `summary` objects are read rather than
//! single fields: govmomi 0.24's simulator can crash on a path to an unset
//! value, and RetrievePropertiesEx leaves unset values out.

use std::collections::HashMap;

use anyhow::{bail, Result};

use super::soap::Vim;
use super::xml::{Element, Node};
use super::MoRef;

/// Objects per page asked of the server.
const PAGE: u32 = 500;
/// More objects than this in one retrieval are refused.
const MAX_OBJECTS: usize = 200_000;

/// Which properties to read of objects of one type.
#[derive(Debug, Clone)]
pub struct PropertySpec {
    pub kind: String,
    pub paths: Vec<String>,
}

/// How to walk from an object to others.
#[derive(Debug, Clone)]
pub enum Selection {
    /// `TraversalSpec`: from objects of `kind`, follow property `path`.
    Traversal {
        name: String,
        kind: String,
        path: String,
        skip: bool,
        select: Vec<Selection>,
    },
    /// `SelectionSpec`: the traversal of that name again (recursion).
    Named(String),
}

#[derive(Debug, Clone)]
pub struct ObjectSpec {
    pub obj: MoRef,
    pub skip: bool,
    pub select: Vec<Selection>,
}

/// `PropertyFilterSpec`.
#[derive(Debug, Clone)]
pub struct FilterSpec {
    pub props: Vec<PropertySpec>,
    pub objects: Vec<ObjectSpec>,
}

/// One object of an answer and the properties that are set.
#[derive(Debug, Clone)]
pub struct ObjectContent {
    pub obj: MoRef,
    pub props: Vec<(String, Element)>,
}

impl ObjectContent {
    /// The `val` element of a property.
    pub fn prop(&self, name: &str) -> Option<&Element> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.prop(name).map(|v| v.text.as_str())
    }
}

impl PropertySpec {
    pub fn new(kind: &str, paths: &[&str]) -> PropertySpec {
        PropertySpec {
            kind: kind.into(),
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }
}

impl Selection {
    /// A named traversal, then the named ones in `select` from there.
    pub fn traverse(name: &str, kind: &str, path: &str, select: &[&str]) -> Selection {
        Selection::Traversal {
            name: name.into(),
            kind: kind.into(),
            path: path.into(),
            skip: false,
            select: select
                .iter()
                .map(|s| Selection::Named(s.to_string()))
                .collect(),
        }
    }

    fn node(&self) -> Node {
        match self {
            Selection::Named(name) => Node::new("selectSet").child(Node::text("name", name)),
            Selection::Traversal {
                name,
                kind,
                path,
                skip,
                select,
            } => Node::new("selectSet")
                .attr("xsi:type", "TraversalSpec")
                .child(Node::text("name", name))
                .child(Node::text("type", kind))
                .child(Node::text("path", path))
                .child(Node::text("skip", bool_text(*skip)))
                .children(select.iter().map(Selection::node)),
        }
    }
}

impl FilterSpec {
    /// `paths` of each of `objects` (all of type `kind`), no traversal.
    pub fn of_objects(kind: &str, paths: &[&str], objects: &[MoRef]) -> FilterSpec {
        FilterSpec {
            props: vec![PropertySpec::new(kind, paths)],
            objects: objects
                .iter()
                .map(|o| ObjectSpec {
                    obj: o.clone(),
                    skip: false,
                    select: Vec::new(),
                })
                .collect(),
        }
    }

    fn node(&self) -> Node {
        let props = self.props.iter().map(|p| {
            Node::new("propSet")
                .child(Node::text("type", &p.kind))
                .child(Node::text("all", "false"))
                .children(p.paths.iter().map(|path| Node::text("pathSet", path)))
        });
        let objects = self.objects.iter().map(|o| {
            Node::new("objectSet")
                .child(o.obj.node("obj"))
                .child(Node::text("skip", bool_text(o.skip)))
                .children(o.select.iter().map(Selection::node))
        });
        Node::new("specSet").children(props).children(objects)
    }
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// A datacenter and where it is in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datacenter {
    pub moref: MoRef,
    pub name: String,
    /// Folder names and the datacenter's, joined by `/` (the root folder
    /// left out): what `dcPath` and `FindByInventoryPath` take.
    pub path: String,
}

/// A datastore of a datacenter, from its `summary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datastore {
    pub moref: MoRef,
    pub name: String,
    pub accessible: bool,
    /// VMFS, NFS, NFS41, vsan, vvol, ...
    pub kind: String,
    pub capacity: Option<u64>,
    pub free_space: Option<u64>,
    /// `normal`, `enteringMaintenance`, `inMaintenance`, when given.
    pub maintenance: Option<String>,
}

impl Vim<'_> {
    /// RetrievePropertiesEx, then ContinueRetrievePropertiesEx while the
    /// server hands out a token.
    pub fn retrieve(&self, spec: &FilterSpec) -> Result<Vec<ObjectContent>> {
        let pc = self.manager(
            self.content().property_collector.as_ref(),
            "property collector",
        )?;
        let options = Node::new("options").child(Node::text("maxObjects", &PAGE.to_string()));
        let mut answer = self.call("RetrievePropertiesEx", &pc, vec![spec.node(), options])?;
        let mut out = Vec::new();
        loop {
            let Some(result) = answer.child("returnval") else {
                return Ok(out);
            };
            for o in result.children_named("objects") {
                let Some(obj) = o.child("obj").and_then(MoRef::from_element) else {
                    continue;
                };
                let props = o
                    .children_named("propSet")
                    .filter_map(|p| {
                        Some((p.child_text("name")?.to_string(), p.child("val")?.clone()))
                    })
                    .collect();
                out.push(ObjectContent { obj, props });
            }
            if out.len() > MAX_OBJECTS {
                bail!(
                    "{} answered with more than {MAX_OBJECTS} objects; refused",
                    self.server().host
                );
            }
            match result.child_text("token").filter(|t| !t.is_empty()) {
                Some(token) => {
                    answer = self.call(
                        "ContinueRetrievePropertiesEx",
                        &pc,
                        vec![Node::text("token", token)],
                    )?;
                }
                None => return Ok(out),
            }
        }
    }

    /// Every datacenter, with its inventory path.
    pub fn datacenters(&self) -> Result<Vec<Datacenter>> {
        let root = self.manager(self.content().root_folder.as_ref(), "root folder")?;
        let paths = vec!["name".to_string(), "parent".to_string()];
        let spec = FilterSpec {
            props: vec![
                PropertySpec {
                    kind: "Folder".into(),
                    paths: paths.clone(),
                },
                PropertySpec {
                    kind: "Datacenter".into(),
                    paths,
                },
            ],
            objects: vec![ObjectSpec {
                obj: root.clone(),
                skip: false,
                select: vec![Selection::Traversal {
                    name: "folders".into(),
                    kind: "Folder".into(),
                    path: "childEntity".into(),
                    skip: false,
                    select: vec![Selection::Named("folders".into())],
                }],
            }],
        };
        let objects = self.retrieve(&spec)?;
        let parents: HashMap<&MoRef, (Option<&str>, Option<MoRef>)> = objects
            .iter()
            .map(|o| {
                (
                    &o.obj,
                    (
                        o.text("name"),
                        o.prop("parent").and_then(MoRef::from_element),
                    ),
                )
            })
            .collect();
        let mut out = Vec::new();
        for o in objects.iter().filter(|o| o.obj.kind == "Datacenter") {
            let name = o.text("name").unwrap_or(&o.obj.value).to_string();
            let mut parts = vec![name.clone()];
            let mut at = o.prop("parent").and_then(MoRef::from_element);
            while let Some(p) = at.filter(|p| *p != root && parts.len() < 64) {
                let Some((pname, pparent)) = parents.get(&p) else {
                    break;
                };
                parts.push(pname.unwrap_or(&p.value).to_string());
                at = pparent.clone();
            }
            parts.reverse();
            out.push(Datacenter {
                moref: o.obj.clone(),
                name,
                path: parts.join("/"),
            });
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The datastores of a datacenter (`Datacenter.datastore`), by name.
    pub fn datastores(&self, datacenter: &MoRef) -> Result<Vec<Datastore>> {
        let spec = FilterSpec {
            props: vec![PropertySpec {
                kind: "Datastore".into(),
                paths: vec!["name".into(), "summary".into()],
            }],
            objects: vec![ObjectSpec {
                obj: datacenter.clone(),
                skip: true,
                select: vec![Selection::Traversal {
                    name: "datastores".into(),
                    kind: "Datacenter".into(),
                    path: "datastore".into(),
                    skip: false,
                    select: Vec::new(),
                }],
            }],
        };
        let mut out: Vec<Datastore> = self
            .retrieve(&spec)?
            .into_iter()
            .filter(|o| o.obj.kind == "Datastore")
            .map(|o| {
                let summary = o.prop("summary");
                let field = |n: &str| summary.and_then(|s| s.child_text(n)).map(str::trim);
                Datastore {
                    name: o
                        .text("name")
                        .or(field("name"))
                        .unwrap_or(&o.obj.value)
                        .to_string(),
                    accessible: field("accessible") == Some("true"),
                    kind: field("type").unwrap_or_default().to_string(),
                    capacity: field("capacity").and_then(|v| v.parse().ok()),
                    free_space: field("freeSpace").and_then(|v| v.parse().ok()),
                    maintenance: field("maintenanceMode").map(str::to_string),
                    moref: o.obj,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `SearchIndex.FindByInventoryPath`: the entity at a path such as
    /// `Lab/DC1` or `DC1/datastore/ds1`, or None.
    pub fn find_by_inventory_path(&self, path: &str) -> Result<Option<MoRef>> {
        let si = self.manager(self.content().search_index.as_ref(), "search index")?;
        let answer = self.call(
            "FindByInventoryPath",
            &si,
            vec![Node::text("inventoryPath", path)],
        )?;
        Ok(answer.child("returnval").and_then(MoRef::from_element))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_specs_follow_the_wsdl_order() {
        let spec = FilterSpec {
            props: vec![PropertySpec {
                kind: "Datastore".into(),
                paths: vec!["name".into(), "summary".into()],
            }],
            objects: vec![ObjectSpec {
                obj: MoRef::new("Folder", "group-d1"),
                skip: false,
                select: vec![Selection::Traversal {
                    name: "t".into(),
                    kind: "Folder".into(),
                    path: "childEntity".into(),
                    skip: false,
                    select: vec![Selection::Named("t".into())],
                }],
            }],
        };
        let mut out = String::new();
        spec.node().write(&mut out).unwrap();
        assert_eq!(
            out,
            "<specSet><propSet><type>Datastore</type><all>false</all><pathSet>name</pathSet>\
             <pathSet>summary</pathSet></propSet><objectSet><obj type=\"Folder\">group-d1</obj>\
             <skip>false</skip><selectSet xsi:type=\"TraversalSpec\"><name>t</name>\
             <type>Folder</type><path>childEntity</path><skip>false</skip>\
             <selectSet><name>t</name></selectSet></selectSet></objectSet></specSet>"
        );
    }
}
