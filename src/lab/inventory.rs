//! Lab inventory files (`build --inventory lab.toml|lab.csv`) as written:
//! `[defaults]` and `[[host]]` tables in TOML, or a header row and one host
//! per row in CSV. Only the shape is checked here; merging each host over
//! the defaults and the command line, and every other check, is
//! [`super::resolve`]'s.

use std::path::Path;

use anyhow::{bail, Context, Result};
use toml::{Table, Value};

use crate::failure::{self, Failure, Tag};

/// Most hosts one run builds. Each is a whole installer ISO (hundreds of
/// MB for real media) and a kickstart rendered and linted in memory.
pub const MAX_HOSTS: usize = 4096;

/// The inventory as written, before merging.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// `[lab]`: settings of the lab as a whole (its `name`).
    pub lab: Table,
    pub defaults: Table,
    pub hosts: Vec<Table>,
    /// Read from CSV: a host's keys are the header's columns.
    pub csv: bool,
}

impl Inventory {
    /// What messages call a key of a host entry: a `key` in TOML, a
    /// `column` in CSV.
    pub fn key_word(&self) -> &'static str {
        if self.csv {
            "column"
        } else {
            "key"
        }
    }
}

/// Reads an inventory, choosing the format by extension.
pub fn read(path: &Path) -> Result<Inventory> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let text = crate::input::read_text_capped(path, crate::input::INVENTORY_MAX, "inventory")?;
    let parsed = match ext.as_deref() {
        Some("toml") => parse_toml(&text),
        Some("csv") => parse_csv(&text),
        _ => {
            return Err(failure::error(
                Failure::Usage,
                format!(
                    "inventory {}: name it .toml or .csv so its format is known",
                    path.display()
                ),
            ))
        }
    };
    let inv = parsed
        .with_context(|| format!("parsing inventory {}", path.display()))
        .tag(Failure::Input)?;
    if inv.hosts.len() > MAX_HOSTS {
        return Err(failure::error(
            Failure::Usage,
            format!(
                "inventory {} lists {} hosts, more than the {MAX_HOSTS} one run builds: \
                 split it into several inventories",
                path.display(),
                inv.hosts.len()
            ),
        ));
    }
    Ok(inv)
}

/// `[lab]`, `[defaults]` and `[[host]]` tables; nothing else at the top
/// level.
pub fn parse_toml(text: &str) -> Result<Inventory> {
    let mut top: Table = text.parse()?;
    let lab = match top.remove("lab") {
        None => Table::new(),
        Some(Value::Table(t)) => t,
        Some(_) => bail!("lab must be a table: [lab]"),
    };
    let defaults = match top.remove("defaults") {
        None => Table::new(),
        Some(Value::Table(t)) => t,
        Some(_) => bail!("defaults must be a table: [defaults]"),
    };
    let hosts = match top.remove("host") {
        None => Vec::new(),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::Table(t) => Ok(t),
                _ => bail!("host must be an array of tables: [[host]]"),
            })
            .collect::<Result<_>>()?,
        Some(_) => bail!("host must be an array of tables: [[host]]"),
    };
    if let Some(k) = top.keys().next() {
        let near = crate::diagnostic::nearest(k, &["lab", "defaults", "host"])
            .map(|n| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        bail!(
            "unknown top-level key {k:?}{near}: an inventory has [lab], [defaults] and \
             [[host]] entries"
        );
    }
    Ok(Inventory {
        lab,
        defaults,
        hosts,
        csv: false,
    })
}

/// A header row naming the keys, then one host per row. Empty cells are
/// unset; list variables are comma-separated within a (quoted) cell,
/// `boot_opts` space-separated as on a kernelopt line; `vm.KEY` columns
/// make the host's `vm` table.
pub fn parse_csv(text: &str) -> Result<Inventory> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_bytes());
    let header: Vec<String> = rd
        .headers()
        .context("reading the header row")?
        .iter()
        .map(str::to_string)
        .collect();
    if !header.iter().any(|h| h == "hostname") {
        bail!("the header row has no hostname column");
    }
    let mut hosts = Vec::new();
    for rec in rd.records() {
        let rec = rec?;
        let mut t = Table::new();
        for (k, cell) in header.iter().zip(rec.iter()) {
            if cell.is_empty() || k.is_empty() {
                continue;
            }
            if let Some(vm_key) = k.strip_prefix("vm.") {
                // `vm.KEY` columns make the host's vm table, as
                // `vm.KEY = ...` keys do in TOML.
                if let Value::Table(vm) =
                    t.entry("vm").or_insert_with(|| Value::Table(Table::new()))
                {
                    vm.insert(vm_key.to_string(), Value::String(cell.to_string()));
                }
                continue;
            }
            let v = match k.as_str() {
                "boot_opts" => str_array(cell.split_whitespace()),
                "overlays" => str_array(cell.split(',').map(str::trim).filter(|s| !s.is_empty())),
                _ => Value::String(cell.to_string()),
            };
            t.insert(k.clone(), v);
        }
        hosts.push(t);
    }
    Ok(Inventory {
        lab: Table::new(),
        defaults: Table::new(),
        hosts,
        csv: true,
    })
}

fn str_array<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    Value::Array(items.map(|s| Value::String(s.into())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kickstart::Vars;

    #[test]
    fn csv_lists_and_empty_cells() {
        let inv = parse_csv(
            "hostname,ip,nameservers,vlan_id\nesx01,,\"10.0.0.2, 10.0.0.3\",\n# comment\nesx02,10.0.0.12/24,,20\n",
        )
        .unwrap();
        assert_eq!(inv.hosts.len(), 2);
        assert!(!inv.hosts[0].contains_key("ip"));
        assert_eq!(
            inv.hosts[0]["nameservers"].as_str(),
            Some("10.0.0.2, 10.0.0.3")
        );
        let mut v = Vars::default();
        v.insert("nameservers", inv.hosts[0]["nameservers"].clone())
            .unwrap();
        assert_eq!(v.values["nameservers"].as_array().unwrap().len(), 2);
        assert!(parse_csv("ip\n10.0.0.1/24\n")
            .unwrap_err()
            .to_string()
            .contains("no hostname column"));
    }

    #[test]
    fn toml_shape_errors() {
        for (text, want) in [
            (
                "hosts = []",
                "unknown top-level key \"hosts\" (did you mean host?)",
            ),
            ("lab = 1", "lab must be a table"),
            ("defaults = 1", "defaults must be a table"),
            ("host = 'x'", "host must be an array of tables"),
        ] {
            let e = parse_toml(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }
}
