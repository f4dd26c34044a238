//! Fuzz target: the pure text parsers on arbitrary UTF-8: boot.cfg
//! get/modules/option/edit and the kickstart linter. The first line of the
//! input doubles as a kernel option edit, so edits are fuzzed too.
#![no_main]

use esxi_iso::esxi::bootcfg::{self, KernelOptEdits};
use esxi_iso::kickstart::lint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = text.lines().next().unwrap_or("");
    let mut edits = KernelOptEdits {
        set: vec![("ks".into(), Some("cdrom:/KS.CFG".into()))],
        remove: vec!["runweasel".into()],
    };
    if let Ok(opt) = KernelOptEdits::parse_opt(first) {
        edits.set.push(opt);
    }
    let _ = bootcfg::get(text, "kernelopt");
    let _ = bootcfg::modules(text);
    if let Some(ko) = bootcfg::get(text, "kernelopt") {
        let _ = bootcfg::option(ko, "ks");
        let _ = bootcfg::edit_kernelopt(ko, &edits);
    }
    if let Ok(edited) = bootcfg::edit(text, &edits) {
        // Editing twice must be stable.
        let again = bootcfg::edit(&edited.text, &edits).expect("re-editing an edited boot.cfg");
        assert_eq!(again.text, edited.text, "edit is not idempotent");
    }
    let diags = lint::lint(text);
    let _ = lint::has_errors(&diags);
});
