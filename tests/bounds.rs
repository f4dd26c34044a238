//! Everything a user can hand esxi-iso is bounded: a kickstart, template
//! or variables file of hundreds of megabytes (and one that reports no
//! size, /dev/zero), an inventory of 100,000 hosts or with a 10 MB line, a
//! template that renders megabytes, loops for weeks or nests deep enough
//! to overflow Tera's stack, a tree too large or too deep for
//! `pack`, deeply nested or oversized overlays. Each ends in an error that
//! names the file and the limit, or finishes; none panics or hangs, and the
//! child's peak memory (its own rusage from wait4) stays under a bound.
//!
//! The huge inputs are generated here (sparse where the size alone must
//! be refused), never committed. Bounds are fixed, with the reason next to
//! each; peaks are measured by GNU time (Debian's `time`).

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::fixture::work_dir;
use common::scene::{BIN, LIMIT};

/// What a run printed, how it ended, and its peak resident set in KiB.
struct Measured {
    code: Option<i32>,
    stderr: String,
    max_rss_kib: i64,
}

impl Measured {
    /// Exit `code` with `want` in an `esxi-iso: error:` message, no
    /// panic, under `max_mib` of memory.
    fn fails_with(&self, code: i32, want: &str, max_mib: i64) {
        let ctx = format!(
            "code {:?}, peak {} KiB\nstderr: {}",
            self.code, self.max_rss_kib, self.stderr
        );
        assert_eq!(self.code, Some(code), "{ctx}");
        assert!(
            self.stderr
                .lines()
                .any(|l| l.starts_with("esxi-iso: error:")),
            "{ctx}"
        );
        assert!(!self.stderr.contains("panicked"), "{ctx}");
        assert!(self.stderr.contains(want), "want {want:?}\n{ctx}");
        self.under(max_mib);
    }

    fn under(&self, max_mib: i64) {
        assert!(
            self.max_rss_kib < max_mib << 10,
            "peak memory {} KiB, bound {max_mib} MiB\nstderr: {}",
            self.max_rss_kib,
            self.stderr
        );
    }
}

/// Runs esxi-iso with `args` in `cwd` under GNU time, which reports the
/// child's own peak resident set. (The test's own wait4 or getrusage would
/// not do: Linux folds the forking process's peak into the child's at
/// exec, so they would report this test binary's memory.)
fn measure(cwd: &Path, args: &[&str], nofile: Option<u64>) -> Measured {
    let rss_file = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "%M", "-o"])
        .arg(rss_file.path())
        .arg(BIN)
        .args(args)
        .current_dir(cwd)
        .env_remove("ESXI_ISO_ROOT_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(n) = nofile {
        // SAFETY: only async-signal-safe setrlimit between fork and exec;
        // esxi-iso inherits the limit from time.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // A hang guard, not a timing assertion.
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > LIMIT {
            // SAFETY: killing the process group we created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            panic!("esxi-iso {args:?} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let report = fs::read_to_string(rss_file.path()).unwrap();
    let max_rss_kib = report
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no peak memory in time's report: {report:?}"));
    eprintln!("esxi-iso {args:?}: peak {max_rss_kib} KiB");
    Measured {
        code: status.code(),
        stderr: reader.join().unwrap(),
        max_rss_kib,
    }
}

/// GNU time is there to measure with (skip, or fail under CI, if not).
fn can_measure() -> bool {
    common::tools::require(&["/usr/bin/time"])
}

/// Peak for a refusal before anything large is read: the binary and its
/// libraries (about 10 MiB for a debug build) and a 1 MiB read buffer.
const BARE: i64 = 32;

const HASH: &str = "root_password=$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";

/// A sparse file of `len` bytes: its size is refused before a byte is read.
fn sparse(path: &Path, len: u64) {
    fs::File::create(path).unwrap().set_len(len).unwrap();
}

#[test]
fn huge_kickstarts_templates_and_variables_files_are_refused_unread() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-files");
    let d = dir.path();
    sparse(&d.join("big.cfg"), 300 << 20);
    sparse(&d.join("big.ks.tera"), 300 << 20);
    sparse(&d.join("big.toml"), 300 << 20);
    // The source is never opened: every input is read and checked first.
    let src = "never-read.iso";
    // (args, message), each refused before anything large is read.
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["build", src, "-k", "big.cfg", "-o", "o.iso"],
            "kickstart big.cfg is larger than 1 MiB",
        ),
        (
            vec!["build", src, "-k", "/dev/zero", "-o", "o.iso"],
            "kickstart /dev/zero is larger than 1 MiB",
        ),
        (
            vec!["build", src, "-k", "big.ks.tera", "-o", "o.iso"],
            "template big.ks.tera is larger than 1 MiB",
        ),
        (
            vec!["build", src, "--vars", "big.toml", "-o", "o.iso"],
            "variables file big.toml is larger than 1 MiB",
        ),
        (
            vec!["kickstart", "lint", "big.cfg"],
            "kickstart big.cfg is larger than 1 MiB",
        ),
        (
            vec![
                "kickstart",
                "render",
                "--template",
                "big.ks.tera",
                "--set",
                HASH,
            ],
            "template big.ks.tera is larger than 1 MiB",
        ),
    ];
    for (args, want) in cases {
        measure(d, &args, None).fails_with(3, want, BARE);
    }
}

#[test]
fn kickstarts_just_under_the_cap_are_linted() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-lint");
    let d = dir.path();
    // Shapes that stress a line-based parser: one 1 MB line, 80,000
    // commands, 100,000 continued lines, one command with 80,000 options.
    let cases = [
        (
            "line.cfg",
            format!("network --bootproto=dhcp {}\n", "x".repeat(1_000_000)),
        ),
        ("lines.cfg", "vmaccepteula\n".repeat(80_000)),
        ("continued.cfg", "network \\\n".repeat(100_000)),
        (
            "options.cfg",
            format!("install {}\n", "--firstdisk ".repeat(80_000)),
        ),
    ];
    for (name, text) in cases {
        assert!(
            text.len() as u64 <= esxi_iso::input::KICKSTART_MAX,
            "{name}"
        );
        fs::write(d.join(name), text).unwrap();
        let m = measure(d, &["kickstart", "lint", name], None);
        assert!(matches!(m.code, Some(0 | 1)), "{name}: {}", m.stderr);
        assert!(!m.stderr.contains("panicked"), "{name}: {}", m.stderr);
        // Bound: the linter keeps a few copies of the text and per-line
        // records (measured: at most 60 MiB, for the continued lines).
        m.under(128);
    }
}

#[test]
fn a_template_rendering_megabytes_is_refused() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-render");
    let d = dir.path();
    // 3 MB from a 70-byte template.
    fs::write(
        d.join("loop.ks.tera"),
        "{% for i in range(end=30000) %}{{ i }}{% for j in range(end=10) %}0123456789{% endfor %}{% endfor %}\n",
    )
    .unwrap();
    fs::write(
        d.join("bomb.ks.tera"),
        "{% for i in range(end=100000000) %}{% endfor %}x\n",
    )
    .unwrap();
    let m = measure(
        d,
        &[
            "build",
            "never-read.iso",
            "-k",
            "loop.ks.tera",
            "-o",
            "o.iso",
        ],
        None,
    );
    // Bound: the 1 MiB the output may reach, and Tera's range of 30,000
    // values.
    m.fails_with(3, "template loop.ks.tera renders to more than 1 MiB", BARE);
    // A 50-byte template asking Tera for a list of 10^8 numbers (4 GB).
    let m = measure(
        d,
        &[
            "build",
            "never-read.iso",
            "-k",
            "bomb.ks.tera",
            "-o",
            "o.iso",
        ],
        None,
    );
    m.fails_with(3, "a template's range may make at most 65536", BARE);
}

/// Templates that would make Tera run for weeks or overflow its stack
/// (which aborts the process, with no message): each is refused with the
/// limit it broke, quickly and in little memory. The template at all the
/// limits at once renders.
#[test]
fn templates_cannot_hang_or_overflow_the_stack() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-template-work");
    let d = dir.path();
    let cases: [(&str, String, &str); 8] = [
        (
            // 2.8 * 10^14 empty iterations: weeks.
            "loops.ks.tera",
            "{% for i in range(end=65536) %}{% for j in range(end=65536) %}\
             {% for k in range(end=65536) %}{% endfor %}{% endfor %}{% endfor %}\n"
                .into(),
            "takes more than 4194304 steps (loop iterations and range items, together",
        ),
        (
            "recursive.ks.tera",
            "{% macro f(n) %}{{ self::f(n=n+1) }}{% endmacro f %}{{ self::f(n=0) }}\n".into(),
            "macro f calls itself (f -> f)",
        ),
        (
            // 40 KB.
            "parens.ks.tera",
            format!("{{{{ {}1{} }}}}\n", "(".repeat(20_000), ")".repeat(20_000)),
            "line 1: a tag of more than 1024 words and symbols",
        ),
        (
            // 400 KB of one flat sum: Tera's parser recurses per operator.
            "sum.ks.tera",
            format!("x\n{{{{ 1{} }}}}\n", " + 1".repeat(100_000)),
            "line 2: a tag of more than 1024 words and symbols",
        ),
        (
            "nested.ks.tera",
            "{% if true %}".repeat(20_000) + &"{% endif %}".repeat(20_000),
            "blocks (for, if, macro, filter, block) nested more than 64 deep",
        ),
        (
            // Rendered as itself: the template includes itself forever.
            "include.ks.tera",
            "x\n{% include \"include.ks.tera\" %}\n".into(),
            "{% include %} and {% import %} could only load the template itself",
        ),
        (
            "import.ks.tera",
            "{% import \"import.ks.tera\" as m %}{% macro f() %}{{ m::f() }}{% endmacro f %}\
             {{ m::f() }}\n"
                .into(),
            "{% include %} and {% import %} could only load the template itself",
        ),
        ("worst.ks.tera", at_the_limits(), ""),
    ];
    for (file, text, want) in &cases {
        fs::write(d.join(file), text).unwrap();
        let m = measure(d, &["kickstart", "render", "--template", file], None);
        if want.is_empty() {
            assert_eq!(m.code, Some(0), "{file}: {}", m.stderr);
            // Bound: the binary, the template and its parse trees.
            m.under(96);
        } else {
            m.fails_with(3, want, BARE);
        }
    }
}

/// Template lines that leave `s` holding 2^n bytes of `x`, by doubling.
fn doubled(n: u32) -> String {
    format!(
        "{{% set s = \"x\" %}}{{% for i in range(end={n}) %}}{{% set_global s = s ~ s %}}\
         {{% endfor %}}\n"
    )
}

/// Templates written to grow a value until the machine runs out of
/// memory: each is refused within the memory budget, at the line that
/// grows, in a fraction of a second (the `kickstart render` runs one after
/// another; each took a few hundred milliseconds in a debug build).
#[test]
fn templates_cannot_exhaust_memory() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-template-memory");
    let d = dir.path();
    let kib = |n: usize| "y".repeat(n << 10);
    let refs = |sep: &str, n: usize| vec!["s"; n].join(sep);
    let cases: Vec<(&str, String, &str)> = vec![
        (
            // The template: 2.1 GB in 4.8 s before the budget; 30
            // turns would have taken 17 GB.
            "double27.ks.tera",
            "{% set s = \"ab\" %}{% for i in range(end=27) %}\n{% set_global s = s ~ s %}\
             {% endfor %}{{ s | length }}\n"
                .into(),
            "line 2: set_global s makes a value of 8.0 MiB",
        ),
        (
            "double30.ks.tera",
            "{% set s = \"ab\" %}{% for i in range(end=30) %}\n{% set_global s = s ~ s %}\
             {% endfor %}{{ s | length }}\n"
                .into(),
            "line 2: set_global s makes a value of 8.0 MiB",
        ),
        (
            // 8 KiB with every byte replaced by those 8 KiB: 64 MiB.
            "replace.ks.tera",
            doubled(13) + "{{ s | replace(from=\"x\", to=s) }}\n",
            "line 2: the replace filter may take 64.0 MiB here",
        ),
        (
            "indent.ks.tera",
            doubled(12) + "{% set l = s | replace(from=\"x\", to=\"\n\") %}\n{{ l | indent(prefix=s) }}\n",
            "line 4: the indent filter may take 32.0 MiB here",
        ),
        (
            "join.ks.tera",
            doubled(12) + "{% set a = s | split(pat=\"\") %}\n{{ a | join(sep=s) }}\n",
            "line 3: the join filter may take 16.2 MiB here",
        ),
        (
            "split.ks.tera",
            doubled(19) + "{{ s | split(pat=\"\") | length }}\n",
            "line 2: the split filter may take 25.0 MiB here",
        ),
        (
            "concat.ks.tera",
            "{% set a = [1] %}{% for i in range(end=30) %}\n{% set_global a = a | concat(with=a) %}\
             {% endfor %}\n"
                .into(),
            "line 2: the concat filter may take",
        ),
        (
            "escape.ks.tera",
            doubled(21) + "{{ s | replace(from=\"x\", to=\"/\") | escape | length }}\n",
            "line 2: the escape filter may take 26.0 MiB here",
        ),
        (
            "tilde.ks.tera",
            doubled(16) + &format!("{{{{ {} }}}}\n", refs(" ~ ", 300)),
            "line 2: the variables this tag uses take 18.8 MiB",
        ),
        (
            "array.ks.tera",
            doubled(17) + &format!("{{% set a = [{}] %}}\n", refs(", ", 150)),
            "line 2: the variables this tag uses take 18.8 MiB",
        ),
        (
            "macro.ks.tera",
            doubled(13)
                + "{% macro m(x) %}{% for i in range(end=65536) %}{{ x }}{% endfor %}{% endmacro m %}\n\
                   {{ self::m(x=s) | length }}\n",
            "line 2: the output of macro m reaches",
        ),
        (
            "section.ks.tera",
            format!(
                "{{% filter upper %}}{{% for i in range(end=65536) %}}{}{{% endfor %}}{{% endfilter %}}\n",
                kib(1)
            ),
            "line 1: the output of this filter section reaches",
        ),
        (
            "deep.ks.tera",
            "{% set a = [] %}{% for i in range(end=65536) %}\n{% set_global a = [a] %}{% endfor %}\n"
                .into(),
            "line 2: set_global a makes a value nested more than 128 deep",
        ),
        (
            // A 1 MiB regular expression: the regex crate took 100 MiB to
            // find it too large.
            "regex.ks.tera",
            doubled(20) + "{% if s is matching(s) %}x{% endif %}\n",
            "line 2: the matching test may take 128.0 MiB",
        ),
        (
            // Tera pastes an index's value into the path, then rewrites
            // the path in several passes.
            "index.ks.tera",
            doubled(22) + "{% set m = [1] %}{{ m[s] | default(value=\"\") }}\n",
            "line 2: the variables this tag uses take 16.0 MiB",
        ),
        (
            // 1 MiB looped over by character: Tera walks from the start
            // for each one, 5 * 10^11 characters read.
            "chars.ks.tera",
            doubled(20) + "{% for c in s %}{% endfor %}\n",
            "takes more than 4194304 steps",
        ),
        (
            // 2 MiB copied at each of 65,536 turns: 128 GiB of work, counted
            // as steps.
            "work.ks.tera",
            doubled(21) + "{% for i in range(end=65536) %}{{ s | length }}{% endfor %}\n",
            "takes more than 4194304 steps",
        ),
    ];
    for (file, text, want) in &cases {
        fs::write(d.join(file), text).unwrap();
        let m = measure(d, &["kickstart", "render", "--template", file], None);
        // Bound: the 16 MiB budget, the copies Tera holds while a filter
        // runs (it copies its input first), and the binary (measured: 34
        // to 44 MiB in a debug build).
        m.fails_with(3, want, 64);
    }
}

/// Templates that need no budget are rendered as before: the 30 field
/// kickstarts (tests/field/kickstarts), made templates, come out byte for
/// byte as they went in, and the built-in template renders in little
/// memory (its output is compared exactly by tests/kickstart.rs).
#[test]
fn valid_templates_render_unchanged_in_little_memory() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-template-valid");
    let d = dir.path();
    let field = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/field/kickstarts");
    let mut files: Vec<_> = fs::read_dir(&field)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 30);
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        let name = format!("{}.tera", path.file_name().unwrap().to_string_lossy());
        fs::write(d.join(&name), &text).unwrap();
        // They read no variable, so a --set would be refused.
        let args = ["kickstart", "render", "--template", &name];
        let got = common::cli::run_in(d, &args, &[]).ok().stdout();
        assert_eq!(got, text, "{name}");
    }
    let m = measure(
        d,
        &[
            "kickstart",
            "render",
            "--set",
            HASH,
            "--set",
            "hostname=esx01.lab.local",
            "--set",
            "ntp_servers=pool.ntp.org,10.0.0.2",
            "--set",
            "firstboot=esxcli system hostname get",
        ],
        None,
    );
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    m.under(BARE);
}

/// A template at every limit at once: 16 macros calling each other, each
/// with 63 blocks open and a 1,020-token expression inside.
fn at_the_limits() -> String {
    let expr = "(".repeat(509) + "1" + &")".repeat(509);
    let mut text = String::new();
    for i in 0..16 {
        let call = if i < 15 {
            format!("{{{{ self::m{}() }}}}", i + 1)
        } else {
            String::new()
        };
        text += &format!(
            "{{% macro m{i}() %}}{}{{% for x in [1] %}}{{{{ {expr} }}}}{call}{{% endfor %}}{}{{% endmacro m{i} %}}",
            "{% if true %}".repeat(62),
            "{% endif %}".repeat(62)
        );
    }
    text + "\n"
        + &"{% if true %}".repeat(63)
        + "{{ self::m0() }}"
        + &"{% endif %}".repeat(63)
        + "\n"
}

#[test]
fn huge_inventories_are_refused() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-inventory");
    let d = dir.path();
    let mut csv = String::from("hostname\n");
    for i in 0..100_000 {
        csv.push_str(&format!("esx{i:06}\n"));
    }
    fs::write(d.join("hosts.csv"), csv).unwrap();
    let line = "x".repeat(10 << 20);
    fs::write(
        d.join("line.csv"),
        format!("hostname,syslog\nesx01,{line}\n"),
    )
    .unwrap();
    fs::write(
        d.join("line.toml"),
        format!("[[host]]\nhostname = \"esx01\"\nsyslog = \"{line}\"\n"),
    )
    .unwrap();
    sparse(&d.join("big.toml"), 300 << 20);
    let lab = |inv: &'static str| {
        vec![
            "build",
            "never-read.iso",
            "--inventory",
            inv,
            "--out-dir",
            "out",
            "--set",
            HASH,
        ]
    };
    // 100,000 hosts (1 MB of CSV): refused after parsing, before any
    // kickstart is rendered. Bound: the parsed tables, under 1 KB a host
    // (measured: 85 MiB).
    measure(d, &lab("hosts.csv"), None).fails_with(
        2,
        "inventory hosts.csv lists 100000 hosts, more than the 4096 one run builds",
        128,
    );
    // A 10 MB value goes into the kickstart, which may not exceed 1 MiB.
    // Bound: the line held by the parser, the variables and the render, a
    // few copies of 10 MB each (measured: 88 MiB).
    for inv in ["line.csv", "line.toml"] {
        measure(d, &lab(inv), None).fails_with(3, "renders to more than 1 MiB", 192);
    }
    measure(d, &lab("big.toml"), None).fails_with(
        3,
        "inventory big.toml is larger than 16 MiB",
        BARE,
    );
}

/// `n` empty files (or folders) named F000000... in `dir`.
fn many(dir: &Path, n: usize, folders: bool) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let p = dir.join(format!("F{i:06}"));
        if folders {
            fs::create_dir(p).unwrap();
        } else {
            fs::File::create(p).unwrap();
        }
    }
}

/// The fixture's tree, copied (small: about 4 MB).
fn esxi_tree(to: &Path) -> bool {
    if !common::fixture::available() {
        return false;
    }
    let st = Command::new("cp")
        .arg("-a")
        .arg(&common::fixture::fixtures().tree)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
    true
}

#[test]
fn pack_bounds_its_trees() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-pack");
    let d = dir.path();
    // Thousands of files under an open-file limit of 256: each file is
    // opened only while it is copied. xorriso counts what was packed.
    if !esxi_tree(&d.join("wide")) {
        return;
    }
    many(&d.join("wide/MANY"), 3000, false);
    let m = measure(
        d,
        &["pack", "-q", "--rock-ridge", "wide", "-o", "wide.iso"],
        Some(256),
    );
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    // Bound: ~1 KB of tree and records per file (measured: 17 MiB).
    m.under(48);
    if common::tools::require(&["xorriso"]) {
        let listed = common::cli::tool(
            "xorriso",
            &[
                "-indev",
                &d.join("wide.iso").display().to_string(),
                "-find",
                "/MANY",
                "-type",
                "f",
            ],
        );
        assert_eq!(
            listed.lines().filter(|l| l.contains("/MANY/")).count(),
            3000
        );
    }
    // More entries than pack takes: refused while scanning, so a tree of a
    // million files ends the same way, at its 100,001st entry (measured:
    // 25 MiB; creating a million files would take minutes and inodes).
    many(&d.join("huge"), 100_001, false);
    measure(d, &["pack", "-q", "huge", "-o", "huge.iso"], None).fails_with(
        3,
        "huge holds more than 100000 files and folders",
        64,
    );
    // More folders than ISO9660 path tables can number (measured: 50 MiB).
    many(&d.join("dirs"), 65_536, true);
    measure(d, &["pack", "-q", "dirs", "-o", "dirs.iso"], None).fails_with(
        3,
        "more than 65535 directories",
        128,
    );
    // A deep tree: refused at the ninth level, not walked to its bottom.
    let mut deep = d.join("deep");
    for _ in 0..500 {
        deep = deep.join("D");
    }
    fs::create_dir_all(&deep).unwrap();
    measure(d, &["pack", "-q", "deep", "-o", "deep.iso"], None).fails_with(
        3,
        "directories nest deeper than ISO9660's 8 levels",
        BARE,
    );
    for out in ["huge.iso", "dirs.iso", "deep.iso"] {
        assert!(!d.join(out).exists(), "{out}");
    }
}

#[test]
fn overlays_are_bounded() {
    if !can_measure() {
        return;
    }
    let dir = work_dir("bounds-overlay");
    let d = dir.path();
    let mut deep = d.join("deep/ramdisk");
    for _ in 0..100 {
        deep = deep.join("d");
    }
    fs::create_dir_all(&deep).unwrap();
    fs::write(deep.join("f"), b"x").unwrap();
    fs::create_dir_all(d.join("huge/ramdisk")).unwrap();
    sparse(&d.join("huge/ramdisk/blob"), 300 << 20);
    let build = |overlay: &'static str| {
        vec![
            "build",
            "never-read.iso",
            "--overlay",
            overlay,
            "-o",
            "o.iso",
            "--set",
            HASH,
        ]
    };
    measure(d, &build("deep"), None).fails_with(2, "is nested more than 64 levels deep", BARE);
    // A lab: each host holds its own copy of a 200 MB overlay until it is
    // built, so six of them pass the 1 GiB a run may hold. Bound: that
    // limit plus one host's overlay (measured: 1.19 GiB).
    fs::create_dir_all(d.join("big/ramdisk")).unwrap();
    sparse(&d.join("big/ramdisk/blob"), 200 << 20);
    let hosts: String = (1..=6).map(|i| format!("esx{i:02}\n")).collect();
    fs::write(d.join("lab.csv"), format!("hostname\n{hosts}")).unwrap();
    let lab = [
        "build",
        "never-read.iso",
        "--inventory",
        "lab.csv",
        "--out-dir",
        "out",
        "--overlay",
        "big",
        "--set",
        HASH,
    ];
    measure(d, &lab, None).fails_with(
        2,
        "the overlays of the first 6 hosts hold more than 1024 MiB",
        1400,
    );
    // Refused by its size, before it is read: the bound is far below 300 MB.
    measure(d, &build("huge"), None).fails_with(2, "overlays hold more than 256 MiB", BARE);
}
