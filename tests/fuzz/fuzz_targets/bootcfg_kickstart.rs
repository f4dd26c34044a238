//! Fuzz target: the pure text parsers on arbitrary UTF-8: boot.cfg parsed
//! once (`BootCfg`) and read through get/value/modules/kernel/check,
//! option/edit/append_module, and the kickstart linter. The first line of
//! the input doubles as a kernel option edit, so edits are fuzzed too.
#![no_main]

use esxi_iso::esxi::bootcfg::{self, KernelOptEdits};
use esxi_iso::esxi::loader::BootCfg;
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
    let cfg = BootCfg::parse(text);
    assert_eq!(cfg.text(), text);
    for l in cfg.lines() {
        let _ = cfg.raw(l);
    }
    let _ = cfg.value("modules");
    let _ = cfg.get("build");
    for path in ["/BOOT.CFG", "/EFI/BOOT/BOOT.CFG"] {
        let _ = cfg.modules(path);
        let _ = cfg.kernel(path);
    }
    let _ = cfg.check();
    let _ = bootcfg::append_module(&cfg, "/OVERLAY.TGZ");
    if let Some(ko) = cfg.get("kernelopt") {
        let _ = bootcfg::option(ko, "ks");
        let _ = bootcfg::edit_kernelopt(ko, &edits);
    }
    if let Ok(edited) = bootcfg::edit(&cfg, &edits) {
        let out = BootCfg::parse(edited.text.as_str());
        // The reported value is what the loader reads from the output.
        assert_eq!(out.get("kernelopt"), Some(edited.kernelopt.as_str()));
        // Editing twice must be stable.
        let again = bootcfg::edit(&out, &edits).expect("re-editing an edited boot.cfg");
        assert_eq!(again.text, edited.text, "edit is not idempotent");
    }
    let diags = lint::lint(text);
    let _ = lint::has_errors(&diags);
});
