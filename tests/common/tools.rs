//! Which external tools a test needs, and what to do when one is missing:
//! skip with a message on a developer machine, fail under CI (CI=true), where
//! a silently skipped boot test would hide a broken install script.

use std::path::Path;

/// Debian package providing each tool or file the tests look for.
const PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86_64", "qemu-system-x86"),
    ("/usr/share/OVMF/OVMF_CODE_4M.fd", "ovmf"),
    ("/usr/share/OVMF/OVMF_VARS_4M.fd", "ovmf"),
    ("genisoimage", "genisoimage"),
    ("xorriso", "xorriso"),
    ("isoinfo", "genisoimage"),
    ("openssl", "openssl"),
    ("/usr/bin/time", "time"),
    ("mkfs.fat", "dosfstools"),
    ("mmd", "mtools"),
    ("mcopy", "mtools"),
    ("grub-mkstandalone", "grub-common"),
    ("/usr/lib/grub/x86_64-efi/iso9660.mod", "grub-efi-amd64-bin"),
    ("/usr/lib/grub/x86_64-efi/http.mod", "grub-efi-amd64-bin"),
    ("sha256sum", "coreutils"),
    ("/usr/lib/ISOLINUX/isolinux.bin", "isolinux"),
    ("/usr/lib/syslinux/modules/bios/cat.c32", "syslinux-common"),
    ("curl", "curl"),
    ("mkfs.xfs", "xfsprogs"),
    ("mkfs.btrfs", "btrfs-progs"),
    ("filefrag", "e2fsprogs"),
    ("busybox", "busybox"),
    ("chromium", "chromium"),
    ("virt-fw-vars", "python3-pip; pip install virt-firmware"),
    ("zsh", "zsh"),
    ("fish", "fish"),
    ("elvish", "elvish"),
    ("groff", "groff-base"),
    ("man", "man-db"),
    ("lexgrog", "man-db"),
    ("script", "bsdutils"),
];

/// `tool` is a command on PATH, or (when it starts with `/`) a file.
pub fn have(tool: &str) -> bool {
    if tool.starts_with('/') {
        return Path::new(tool).exists();
    }
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let p = dir.join(tool);
        p.metadata()
            .map(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
            .unwrap_or(false)
    })
}

pub fn package_of(tool: &str) -> &str {
    PACKAGES
        .iter()
        .find(|(t, _)| *t == tool)
        .map(|(_, p)| *p)
        .unwrap_or(tool)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A test cannot run here: prints why (the test then returns), or panics
/// under CI.
pub fn unavailable(why: &str) {
    if in_ci() {
        panic!("{why}; CI=true, so this is a failure");
    }
    eprintln!("skipping: {why}");
}

/// True when every tool is present. Otherwise prints why the test is
/// skipped and returns false, or panics under CI.
pub fn require(tools: &[&str]) -> bool {
    for tool in tools {
        if !have(tool) {
            let msg = format!(
                "skipping: {tool} not installed (apt-get install {})",
                package_of(tool)
            );
            if in_ci() {
                panic!("{msg}; CI=true, so a missing tool is a failure");
            }
            eprintln!("{msg}");
            return false;
        }
    }
    true
}
