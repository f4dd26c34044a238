//! Regression tests for what the fuzz targets (tests/fuzz) found, each
//! crash or timeout rebuilt as the smallest input that reaches the same
//! code (from the plain fixture for images), and run through the binary:
//! exit 1 with an error, never a panic or a hang, nothing written.

mod common;

use std::fs;
use std::process::Command;

use esxi_iso::iso::format::VD_L_PATH_TABLE;
use esxi_iso::iso::IsoImage;

use common::fixture::{self, work_dir};
use common::scene::{run, KICKSTART};

/// build_patch, 2026-11-26: a PVD whose L path table LBA points past the
/// end of the image, and a build that adds a directory (a kickstart at
/// /KS/HOST.CFG), so the path tables are rebuilt in place of the old ones:
/// the patcher indexed its tail with that LBA and panicked. Readers never
/// look at path tables, so nothing had checked the location before.
#[test]
fn path_table_past_the_image_when_adding_a_directory() {
    if !fixture::available() {
        return;
    }
    let dir = work_dir("fuzz-path-table");
    let d = dir.path();
    let mut bytes = fs::read(&fixture::fixtures().plain).unwrap();
    let pvd = IsoImage::open(&fixture::fixtures().plain)
        .unwrap()
        .pvd()
        .lba as usize
        * 2048;
    let bogus: u32 = 0x00ff_fff0;
    bytes[pvd + VD_L_PATH_TABLE..pvd + VD_L_PATH_TABLE + 4].copy_from_slice(&bogus.to_le_bytes());
    fs::write(d.join("src.iso"), &bytes).unwrap();
    fs::write(d.join("ks.cfg"), KICKSTART).unwrap();
    let mut cmd = Command::new(common::scene::BIN);
    cmd.current_dir(d).args([
        "build",
        "-q",
        "src.iso",
        "-k",
        "ks.cfg",
        "--ks-path",
        "/KS/HOST.CFG",
        "-o",
        "out.iso",
    ]);
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&format!("path table at LBA {bogus}")),
        "{stderr}"
    );
    let mut left: Vec<String> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["ks.cfg", "src.iso"]);
}

/// template_render, 2026-11-26: a 184-byte template of calls and
/// parentheses nested without closing kept Tera's parser (pest)
/// backtracking for minutes (the fuzzer's 20 s timeout; over 2 minutes
/// in release). The parse now has a budget of calls per byte.
#[test]
fn template_that_makes_teras_parser_backtrack_for_minutes() {
    let dir = work_dir("fuzz-template-backtrack");
    let d = dir.path();
    let text: &[u8] = b" [ }5\n{{ (selflfifa(x=hostn%elf::a(x=hon (x=ifa(x=hostn%elf::a(x=hon (x=a(x=hon (x=ifa(x=hostn%elf::a(x=hon (x= (selfifa(x=ho (selfifa(x=hostn%elf::a(x=hon (x=H\x00\x00\x11\x00ostnam#}}Hostnam#}}\n";
    fs::write(d.join("slow.ks.tera"), text).unwrap();
    render_fails(
        d,
        "slow.ks.tera",
        "template slow.ks.tera is too complex for Tera's parser",
    );
}

/// `kickstart render --template FILE` in `dir` exits 1, without a panic,
/// with `want` in its error.
fn render_fails(dir: &std::path::Path, file: &str, want: &str) {
    let mut cmd = Command::new(common::scene::BIN);
    cmd.current_dir(dir)
        .args(["kickstart", "render", "--template", file])
        .env("ESXI_ISO_ROOT_PASSWORD", "VMware1!lab");
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(want), "{stderr}");
}

/// template_render, 2026-11-26: a macro call compared with a number
/// (`887 < f::b(...)`, mutated from a seed) made Tera 1.20 panic with
/// "unimplemented math expression". The guard refuses a macro call used
/// as a number, and a panic inside Tera would still end as an error.
#[test]
fn macro_call_used_as_a_number() {
    let dir = work_dir("fuzz-template-macro-math");
    let d = dir.path();
    fs::write(
        d.join("math.ks.tera"),
        "{% macro b(x) %}{{ x }}{% endmacro b %}vmaccepteula\n\
         {% if 887 < self::b(x=1) %}big{% endif %}\n",
    )
    .unwrap();
    render_fails(
        d,
        "math.ks.tera",
        "the macro call self::b() is used as a number",
    );
}
