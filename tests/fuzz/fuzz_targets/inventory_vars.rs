//! Fuzz target: what a user hands `build --inventory` and `--vars`/`--set`:
//! the TOML and CSV inventory parsers, resolving every host (merging,
//! variable checks, rendering a built-in template, linting), and the
//! template-variable layer (a `--vars` TOML file, `--set KEY=VALUE`
//! lines, the derived values and the Tera context).
//!
//! The first byte picks the parser (TOML inventory, CSV inventory, or a
//! variables file whose lines after a `---` line are `--set` items); the
//! rest is the text. Keys that name files (`overlays`, and a `template`
//! that is not built in) are dropped before resolving, so the fuzzer never
//! reads the machine's files; only the first hosts are resolved, each one
//! costing a render and a lint.
#![no_main]

mod common;

use std::path::PathBuf;

use esxi_iso::esxi::bootcfg::KernelOptEdits;
use esxi_iso::kickstart::{self, crypt::Salt, Source, Vars, TEMPLATES};
use esxi_iso::lab::inventory::{self, Inventory};
use esxi_iso::lab::resolve::{self, Common};
use esxi_iso::warning::Allow;
use libfuzzer_sys::fuzz_target;

const MAX_HOSTS: usize = 3;
/// A `$6$` hash, accepted as is: hashing a plain password costs 5000
/// SHA-512 rounds per host, which would dominate every run.
const HASH: &str = "$6$fuzzsalt$TMAdpzXePxLUFyzhbszyG7PEYcOkSrx8gK/JwqZ/qtZjsDmpAWbYDF41z.P3owQTu0fV.h8j3SLR5H1R0lr9n/";

fn common(set: Vars) -> Common {
    let mut base = Vars::default();
    base.insert_str("root_password", HASH).unwrap();
    base.salt = Salt::for_epoch(Some(0));
    Common {
        report: None,
        base,
        set,
        source: Source::Builtin("nested-lab"),
        ks_path: "KS.CFG".into(),
        boot_opts: KernelOptEdits::default(),
        lint: true,
        force: false,
        overlays: Vec::new(),
        ks_in_ramdisk: false,
        replace_vendor_files: false,
        secure_boot: false,
        out_dir: PathBuf::from("/nonexistent/esxi-iso-fuzz/out"),
        base_dir: PathBuf::from("/nonexistent/esxi-iso-fuzz"),
        stem: "lab".into(),
        allow: Allow::default(),
        only: Vec::new(),
        netboot: false,
    }
}

fn sanitize(inv: &mut Inventory) {
    inv.hosts.truncate(MAX_HOSTS);
    for t in std::iter::once(&mut inv.defaults).chain(inv.hosts.iter_mut()) {
        t.remove("overlays");
        let builtin = t
            .get("template")
            .and_then(|v| v.as_str())
            .is_some_and(|n| TEMPLATES.iter().any(|(b, _)| *b == n));
        if !builtin {
            t.remove("template");
        }
    }
}

fn resolve(mut inv: Inventory) {
    sanitize(&mut inv);
    let Ok(plan) = resolve::resolve(&inv, &common(Vars::default())) else {
        return;
    };
    for h in &plan.hosts {
        // A resolved host always has a kickstart, and values cannot add
        // lines that did not come from the template.
        assert!(!h.build.kickstart.is_empty());
        assert!(h.build.output.starts_with(&plan.out_dir));
        let redacted = h.vars.redacted();
        if let Some(v) = redacted.get("root_password") {
            assert_eq!(v.as_str(), Some("<redacted>"));
        }
    }
}

fn vars(text: &str) {
    let (file_part, set_part) = text.split_once("\n---\n").unwrap_or((text, ""));
    let set: Vec<String> = set_part.lines().map(str::to_string).collect();
    // `--vars FILE` goes through a real path: a memfd's.
    let (_keep, path) = common::memfd(file_part.as_bytes());
    let Ok(mut v) = Vars::load(Some(&path), &set) else {
        return;
    };
    if !v.has_password() {
        v.insert_str("root_password", HASH).unwrap();
    }
    v.salt = Salt::for_epoch(Some(0));
    let _ = v.problems();
    let _ = v.network();
    let _ = v.boot_opts();
    let _ = v.redacted();
    if v.context().is_err() {
        return;
    }
    for (name, text) in TEMPLATES {
        if let Ok(ks) = kickstart::render(name, text, &v) {
            // Every value is checked for control characters, so none can
            // end a line early and inject a kickstart command.
            for val in v.values.values() {
                if let Some(s) = val.as_str() {
                    assert!(!s.contains('\n'), "a value with a newline was accepted");
                }
            }
            assert!(!ks.is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(inv) = inventory::parse_toml(text) {
                resolve(inv);
            }
        }
        1 => {
            if let Ok(inv) = inventory::parse_csv(text) {
                resolve(inv);
            }
        }
        _ => vars(text),
    }
});
