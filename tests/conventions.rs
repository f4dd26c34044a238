//! Command-line conventions, judged by the programs that consume them:
//! completion scripts loaded and run by bash, zsh, fish and elvish; man
//! pages rendered by groff and man-db (warnings are failures), indexed by
//! lexgrog and found by `man -w`; colour seen through a real terminal
//! (`script` allocates a pty) with and without NO_COLOR; and `--verbose`
//! runs searched for every secret they could leak.

mod common;
mod publish_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::CommandFactory;
use common::cli::{run_in, tool, BIN};
use common::fixture::{self, fixtures, work_dir};
use common::tools::require;

/// PATH with the binary's folder first: the scripts run `esxi-iso`.
fn path_with_bin() -> String {
    let dir = Path::new(BIN).parent().unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn sh(shell: &str, args: &[&str], cwd: &Path) -> Output {
    Command::new(shell)
        .args(args)
        .current_dir(cwd)
        .env("PATH", path_with_bin())
        .env_remove("ESXI_ISO_COMPLETE")
        .output()
        .unwrap_or_else(|e| panic!("running {shell}: {e}"))
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A folder with a template file and an overlay folder to complete.
fn completion_dir() -> tempfile::TempDir {
    let w = work_dir("completions");
    fs::write(w.path().join("my.tera"), "vmaccepteula\n").unwrap();
    fs::create_dir_all(w.path().join("ovl/iso")).unwrap();
    w
}

fn script(shell: &str, dir: &Path) -> PathBuf {
    let run = run_in(dir, &["completions", shell], &[]).ok();
    let path = dir.join(format!("esxi-iso.{shell}"));
    fs::write(&path, run.stdout()).unwrap();
    path
}

/// (command line words, candidates that must be offered, must not).
const CASES: &[(&str, &[&str], &[&str])] = &[
    (
        "esxi-iso ",
        &["build", "completions", "man", "kickstart"],
        &[],
    ),
    (
        "esxi-iso kickstart ",
        &["render", "lint", "vars"],
        &["build"],
    ),
    (
        "esxi-iso kickstart render --template ",
        &["nested-lab", "minimal", "my.tera"],
        &[],
    ),
    (
        "esxi-iso build x.iso --overlay ",
        &["ssh-keys", "ovl/"],
        &["my.tera"],
    ),
    (
        "esxi-iso build x.iso --set host",
        &["hostname="],
        &["domain="],
    ),
    (
        "esxi-iso status lab --wait ",
        &["booted", "installing"],
        &["waiting"],
    ),
    (
        "esxi-iso completions ",
        &["bash", "zsh", "fish", "powershell", "elvish"],
        &[],
    ),
    ("esxi-iso build x.iso --js", &["--json"], &["--quiet"]),
];

fn check_offers(shell: &str, line: &str, got: &[String], want: &[&str], not: &[&str]) {
    for w in want {
        assert!(
            got.iter().any(|g| g == w),
            "{shell}: {line:?} should offer {w}: {got:?}"
        );
    }
    for n in not {
        assert!(
            !got.iter().any(|g| g == n),
            "{shell}: {line:?} offers {n}: {got:?}"
        );
    }
}

#[test]
fn completions_bash_loads_and_completes() {
    if !require(&["bash"]) {
        return;
    }
    let w = completion_dir();
    let file = script("bash", w.path());
    let o = sh("bash", &["-n", file.to_str().unwrap()], w.path());
    assert!(o.status.success(), "bash -n: {:?}", text(&o));
    // Source it, check the registration, then call the completion function
    // as bash's programmable completion does (COMP_WORDS, COMP_CWORD).
    let mut prog = format!(
        "source {}\ncomplete -p esxi-iso\n\
         t() {{ COMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
         COMP_LINE=\"$*\"; COMP_POINT=${{#COMP_LINE}}; COMP_TYPE=9; \
         _clap_complete_esxi_iso esxi-iso \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"; echo '--'; }}\n",
        file.display()
    );
    for (line, ..) in CASES {
        let mut words: Vec<String> = line.split(' ').map(|w| format!("'{w}'")).collect();
        if words.len() == 1 {
            words.push("''".into());
        }
        prog.push_str(&format!("t {}\n", words.join(" ")));
    }
    let o = sh("bash", &["-c", &prog], w.path());
    let (out, err) = text(&o);
    assert!(o.status.success() && err.is_empty(), "{out}\n{err}");
    let mut blocks = out.split("--\n");
    let registration = blocks.next().unwrap();
    let first_line = registration.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with("complete ")
            && first_line.contains("-F _clap_complete_esxi_iso esxi-iso"),
        "complete -p: {first_line:?}"
    );
    // The first block holds `complete -p` and the first case's answers.
    let mut answers = vec![registration
        .lines()
        .skip(1)
        .map(String::from)
        .collect::<Vec<_>>()];
    answers.extend(blocks.map(|b| b.lines().map(String::from).collect()));
    for ((line, want, not), got) in CASES.iter().zip(&answers) {
        check_offers("bash", line, got, want, not);
    }
}

#[test]
fn completions_fish_completes() {
    if !require(&["fish"]) {
        return;
    }
    let w = completion_dir();
    let file = script("fish", w.path());
    let o = sh("fish", &["-n", file.to_str().unwrap()], w.path());
    assert!(o.status.success(), "fish -n: {:?}", text(&o));
    for (line, want, not) in CASES {
        // `complete -C LINE` is fish's own answer for a command line.
        let prog = format!("source {}; complete -C '{line}'", file.display());
        let o = sh("fish", &["--no-config", "-c", &prog], w.path());
        let (out, err) = text(&o);
        assert!(o.status.success() && err.is_empty(), "{line}: {out}\n{err}");
        let got: Vec<String> = out
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect();
        check_offers("fish", line, &got, want, not);
    }
}

#[test]
fn completions_zsh_loads() {
    if !require(&["zsh"]) {
        return;
    }
    let w = completion_dir();
    let file = script("zsh", w.path());
    let o = sh("zsh", &["-n", file.to_str().unwrap()], w.path());
    assert!(o.status.success(), "zsh -n: {:?}", text(&o));
    // Loaded after compinit, as the README says, it registers a completer.
    let prog = format!(
        "autoload -U compinit; compinit -u -D; source {}; print -r -- $_comps[esxi-iso]",
        file.display()
    );
    let o = sh("zsh", &["-f", "-c", &prog], w.path());
    let (out, err) = text(&o);
    assert_eq!(out.trim(), "_clap_dynamic_completer_esxi_iso", "{err}");
    // What the registered function asks the binary, answered as zsh reads
    // it (value:description per line).
    let o = Command::new(BIN)
        .args(["--", "esxi-iso", "kickstart", "render", "--template", ""])
        .current_dir(w.path())
        .env("ESXI_ISO_COMPLETE", "zsh")
        .env("_CLAP_COMPLETE_INDEX", "4")
        .env("_CLAP_IFS", "\n")
        .output()
        .unwrap();
    let (out, _) = text(&o);
    assert!(
        out.lines().any(|l| l == "nested-lab:built-in template"),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "my.tera"), "{out}");
}

#[test]
fn completions_elvish_runs() {
    if !require(&["elvish"]) {
        return;
    }
    let w = completion_dir();
    let file = script("elvish", w.path());
    // `edit:` exists only in an interactive elvish: bind the same closure
    // to a variable instead and call it the way the editor would.
    let body = fs::read_to_string(&file).unwrap();
    let needle = "set edit:completion:arg-completer[esxi-iso] =";
    assert!(body.contains(needle), "{body}");
    let prog = format!(
        "{}\n$complete-esxi-iso esxi-iso kickstart render --template ''\n",
        body.replace(needle, "var complete-esxi-iso =")
    );
    let o = sh("elvish", &["-norc", "-c", &prog], w.path());
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    let got: Vec<String> = out.lines().map(String::from).collect();
    check_offers(
        "elvish",
        "--template",
        &got,
        &["nested-lab", "minimal", "my.tera"],
        &[],
    );
}

#[test]
fn completions_powershell_script() {
    // No PowerShell on Debian: check the registration and the answers the
    // script asks for (value, tab, help).
    let w = completion_dir();
    let body = fs::read_to_string(script("powershell", w.path())).unwrap();
    assert!(body.contains("Register-ArgumentCompleter -Native -CommandName esxi-iso"));
    assert!(body.contains("$env:ESXI_ISO_COMPLETE = \"powershell\""));
    let o = Command::new(BIN)
        .args(["--", "esxi-iso", "build", "x.iso", "--overlay", ""])
        .current_dir(w.path())
        .env("ESXI_ISO_COMPLETE", "powershell")
        .output()
        .unwrap();
    let (out, _) = text(&o);
    assert!(
        out.lines().any(|l| l == "ssh-keys\tshipped overlay"),
        "{out}"
    );
    let unknown = run_in(w.path(), &["completions", "tcsh"], &[]);
    assert_eq!(unknown.code(), Some(2), "{}", unknown.describe());
}

/// The page names `esxi-iso man` must write: one per visible command.
fn expected_pages() -> Vec<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut Vec<String>) {
        let name = format!("{prefix}{}", cmd.get_name());
        out.push(format!("{name}.1"));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, &format!("{name}-"), out);
        }
    }
    let mut out = Vec::new();
    walk(&esxi_iso::cli::Cli::command(), "", &mut out);
    out.sort();
    out
}

#[test]
fn man_pages_render_without_warnings() {
    if !require(&["groff", "man", "lexgrog"]) {
        return;
    }
    let w = work_dir("man");
    let d = w.path();
    let run = run_in(d, &["man", "pages"], &[]).ok();
    let mut written: Vec<String> = common::cli::listing(&d.join("pages"));
    written.sort();
    assert_eq!(written, expected_pages(), "{}", run.describe());
    assert!(written.iter().any(|p| p == "esxi-iso-kickstart-lint.1"));
    for page in &written {
        let path = d.join("pages").join(page);
        let p = path.to_str().unwrap();
        // groff with every warning on: any output on stderr is a defect.
        let o = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z", p])
            .output()
            .unwrap();
        assert!(
            o.status.success() && o.stderr.is_empty(),
            "groff on {page}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // man-db renders it (passing -w to groff), and its whatis parser
        // reads the NAME section.
        let o = Command::new("man")
            .args(["--warnings", "-l", p])
            .env("MANWIDTH", "80")
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        let (out, err) = text(&o);
        assert!(o.status.success() && err.is_empty(), "man -l {page}: {err}");
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"] {
            assert!(out.contains(section), "{page} has no {section}:\n{out}");
        }
        let name = page.trim_end_matches(".1");
        let whatis = tool("lexgrog", &[p]);
        assert!(
            whatis.contains(&format!("\"{name} - ")),
            "lexgrog {page}: {whatis}"
        );
    }
    // The build page documents its options; the main page its environment.
    let build = tool(
        "man",
        &["-l", d.join("pages/esxi-iso-build.1").to_str().unwrap()],
    );
    assert!(
        build.contains("--verbose") && build.contains("--json"),
        "{build}"
    );
    let main = tool("man", &["-l", d.join("pages/esxi-iso.1").to_str().unwrap()]);
    for var in [
        "ESXI_ISO_ROOT_PASSWORD",
        "NO_COLOR",
        "EXIT STATUS",
        "esxi-iso-upload(1)",
    ] {
        assert!(main.contains(var), "esxi-iso(1) lacks {var}");
    }
}

#[test]
fn man_pages_install_and_refuse_overwrite() {
    if !require(&["man"]) {
        return;
    }
    let w = work_dir("man-install");
    let prefix = w.path();
    fs::create_dir_all(prefix.join("bin")).unwrap();
    let pages = prefix.join("share/man/man1");
    run_in(prefix, &["man", pages.to_str().unwrap()], &[]).ok();
    // The README's claim: with PREFIX/bin on PATH, man-db searches
    // PREFIX/share/man, so `man esxi-iso-build` finds the page.
    let o = Command::new("man")
        .args(["-w", "esxi-iso-build"])
        .env_remove("MANPATH")
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", prefix.join("bin").display()),
        )
        .output()
        .unwrap();
    let (out, err) = text(&o);
    assert_eq!(
        out.trim(),
        pages.join("esxi-iso-build.1").to_str().unwrap(),
        "{err}"
    );
    let before = fs::read(pages.join("esxi-iso.1")).unwrap();
    run_in(prefix, &["man", pages.to_str().unwrap()], &[])
        .fails_with(4, "esxi-iso.1 already exists: pass --force");
    run_in(prefix, &["man", pages.to_str().unwrap(), "--force"], &[]).ok();
    assert_eq!(fs::read(pages.join("esxi-iso.1")).unwrap(), before);
}

/// Runs `esxi-iso ARGS` on a pseudo-terminal (util-linux `script`): stdout
/// and stderr both land on it. Returns everything it printed.
fn on_tty(dir: &Path, args: &str, env: &[(&str, &str)]) -> String {
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("ESXI_ISO_ROOT_PASSWORD");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().expect("running script");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    if !require(&["script"]) {
        return;
    }
    let w = work_dir("colour");
    let d = w.path();
    const ESC: char = '\u{1b}';
    // On a terminal clap styles help and errors: the control that shows
    // this harness sees escape sequences at all.
    let help = on_tty(d, "build --help", &[]);
    assert!(help.contains(ESC), "no styling on a terminal:\n{help}");
    let usage = on_tty(d, "build --no-such-flag", &[]);
    assert!(
        usage.contains(ESC) && usage.contains("--no-such-flag"),
        "{usage}"
    );
    for (env, why) in [
        (&[("NO_COLOR", "1")][..], "NO_COLOR=1"),
        (&[("TERM", "dumb")][..], "TERM=dumb"),
    ] {
        for args in ["build --help", "build --no-such-flag", "--version"] {
            let out = on_tty(d, args, env);
            assert!(
                !out.contains(ESC),
                "{why}: escape codes in `{args}`:\n{out:?}"
            );
            assert!(!out.is_empty());
        }
    }
    // NO_COLOR set but empty means unset (no-color.org).
    assert!(on_tty(d, "build --help", &[("NO_COLOR", "")]).contains(ESC));
    // Not a terminal: nothing styled.
    for args in [&["build", "--help"][..], &["build", "--no-such-flag"][..]] {
        let run = run_in(d, args, &[]);
        assert!(
            !run.stdout().contains(ESC) && !run.stderr().contains(ESC),
            "{}",
            run.describe()
        );
    }
}

#[test]
fn no_progress_bar_off_a_terminal_or_with_quiet() {
    if !fixture::available() || !require(&["script"]) {
        return;
    }
    let w = work_dir("bars");
    let d = w.path();
    let src = fixtures().plain.to_str().unwrap();
    let pw = [("ESXI_ISO_ROOT_PASSWORD", "VMware1!lab")];
    // Pipes: no bar, no cursor movement, whatever the flags.
    let run = run_in(d, &["build", src, "-o", "a.iso"], &pw).ok();
    let err = run.stderr();
    assert!(!err.contains('\u{1b}') && !err.contains('\r'), "{err:?}");
    // A terminal with --quiet, or TERM=dumb: no escape sequences either.
    let quiet = on_tty(d, &format!("build {src} -o b.iso --quiet"), &pw);
    assert!(!quiet.contains('\u{1b}'), "{quiet:?}");
    let dumb = on_tty(
        d,
        &format!("build {src} -o c.iso"),
        &[pw[0], ("TERM", "dumb")],
    );
    assert!(!dumb.contains('\u{1b}'), "{dumb:?}");
    assert!(d.join("c.iso").is_file(), "{dumb}");
}

/// Everything a run printed.
fn all_output(run: &common::cli::Run) -> String {
    format!("{}\n{}", run.stdout(), run.stderr())
}

/// `--verbose` runs with known secrets: none of them, nor anything
/// derived from them (crypt hash, report secret, tokens), is printed.
#[test]
fn verbose_never_prints_a_secret() {
    if !fixture::available() || !require(&["isoinfo", "openssl"]) {
        return;
    }
    const PW: &str = "Verbose-Pw-5ecret!";
    let w = work_dir("verbose");
    let d = w.path();
    let src = fixtures().plain.to_str().unwrap();
    let env = [("ESXI_ISO_ROOT_PASSWORD", PW)];

    let single = run_in(
        d,
        &[
            "build",
            src,
            "-o",
            "one.iso",
            "--verbose",
            "--json",
            "--report-to",
            "http://10.0.0.5:8080",
        ],
        &env,
    )
    .ok();
    let out = all_output(&single);
    assert!(
        out.contains("layout:") && out.contains("plan:"),
        "not verbose: {out}"
    );

    // A lab whose inventory holds a crypt hash, with a plain password on
    // the command line for the other host.
    let hash = tool(
        "openssl",
        &["passwd", "-6", "-salt", "verb0seSalt12345", "Other-Pw-2"],
    );
    let hash = hash.trim();
    fs::write(
        d.join("lab.toml"),
        format!(
            "[[host]]\nhostname = \"esx01\"\nroot_password = \"{hash}\"\n\n\
             [[host]]\nhostname = \"esx02\"\n"
        ),
    )
    .unwrap();
    let lab = run_in(
        d,
        &[
            "build",
            src,
            "--inventory",
            "lab.toml",
            "--out-dir",
            "lab",
            "--verbose",
            "--report-to",
            "http://10.0.0.5:8080",
        ],
        &env,
    )
    .ok();
    let lab_out = all_output(&lab);
    assert!(lab_out.contains("esx01: template nested-lab"), "{lab_out}");

    // What could leak: the password, the crypt hashes and report tokens
    // each kickstart carries, and the report secrets of both folders.
    let mut secrets = vec![PW.to_string(), hash.to_string()];
    for iso in [
        d.join("one.iso"),
        d.join("lab/esx01.iso"),
        d.join("lab/esx02.iso"),
    ] {
        let ks = tool("isoinfo", &["-i", iso.to_str().unwrap(), "-x", "/KS.CFG;1"]);
        for word in ks.split_whitespace() {
            if word.starts_with("$6$") {
                secrets.push(word.to_string());
            }
            if let Some(t) = word.split("token=").nth(1) {
                secrets.push(t.trim_matches('"').to_string());
            }
        }
    }
    for dir in [d.to_path_buf(), d.join("lab")] {
        let s = fs::read_to_string(dir.join(".esxi-iso/secret")).unwrap();
        secrets.push(s.trim().to_string());
    }
    assert!(secrets.len() >= 9, "{secrets:?}");
    for s in &secrets {
        assert!(s.len() >= 16, "{s:?}");
        for (what, text) in [("build", &out), ("lab", &lab_out)] {
            assert!(
                !text.contains(s.as_str()),
                "{what} --verbose printed {s:?}:\n{text}"
            );
        }
    }

    // upload --verbose: the password and its basic-auth form never show.
    use publish_support::{make_iso, FakeServer, Reply};
    make_iso(&d.join("up.iso"), 100_000, 3);
    let server = FakeServer::start(|m, _| Reply::Status(if m == "HEAD" { 404 } else { 201 }));
    let up = run_in(
        d,
        &[
            "upload",
            "up.iso",
            "--server",
            &server.url,
            "--datastore",
            "ds",
            "--verbose",
        ],
        &[("ESXI_ISO_USERNAME", "root"), ("ESXI_ISO_PASSWORD", PW)],
    )
    .ok();
    let up_out = all_output(&up);
    assert!(up_out.contains("PUT /folder/up.iso"), "{up_out}");
    let auth = esxi_iso::vsphere::http::basic_auth("root", PW);
    let token = auth.trim_start_matches("Basic ");
    for s in [PW, token] {
        assert!(
            !up_out.contains(s),
            "upload --verbose printed {s:?}:\n{up_out}"
        );
    }
}

/// Every code a warning can carry is one `--allow` knows
/// (`esxi_iso::warning::codes`), and every code it knows is used: read
/// from the source, where the linters name their rules (`d.warn(line,
/// "code", ...)`, `d.advice(...)`, the loader's `push(Severity::Warning,
/// ..., "code", ...)` and `code: "..."`) and where esxi-iso warns
/// (`Warning::advice("code", ...)`).
#[test]
fn warning_codes_are_all_known_to_allow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let code_like = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.contains('-')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    // The string literals of `text`, outside its test module.
    let literals = |text: &str| -> Vec<(usize, String)> {
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let mut out = Vec::new();
        let mut rest = text;
        let mut at = 0;
        while let Some(i) = rest.find('"') {
            let after = &rest[i + 1..];
            let Some(j) = after.find('"') else { break };
            out.push((at + i, after[..j].to_string()));
            at += i + j + 2;
            rest = &after[j + 1..];
        }
        out
    };
    let known: Vec<&str> = esxi_iso::warning::codes().collect();
    let mut used = std::collections::BTreeSet::new();
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        let rel = f
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        let rule_file = rel.contains("kickstart/lint") || rel.contains("esxi/loader");
        for (at, lit) in literals(&text) {
            if !code_like(&lit) {
                continue;
            }
            let before = &text[at.saturating_sub(160)..at];
            let warning_call = before.trim_end().ends_with("Warning::advice(")
                || before.trim_end().ends_with("Warning::reader(");
            // In a rule file: the nearest marker before the code says
            // whether the rule warns.
            let nearest = |marks: &[&str]| marks.iter().filter_map(|m| before.rfind(m)).max();
            // (`missing(` and a `severity` variable: warning or error by case.)
            let warns = nearest(&[
                ".warn(",
                ".advice(",
                "Severity::Warning",
                "code:",
                "missing(",
                "severity,",
            ]);
            let errs = nearest(&[".error(", "Severity::Error"]);
            let rule = rule_file && warns.is_some() && warns > errs;
            if warning_call || rule {
                used.insert(lit.clone());
                assert!(
                    known.contains(&lit.as_str()),
                    "{rel}: warning code {lit:?} is not in esxi_iso::warning::codes() (OWN, or a RULES list of lint or the loader): \
                     add it, or --allow refuses it"
                );
            }
        }
    }
    // The rules' codes come from their RULES tables, which
    // tests/lint_rules.rs and the rule files' own checks hold to what
    // they give; esxi-iso's own codes are listed by hand.
    let unused: Vec<&str> = esxi_iso::warning::OWN
        .iter()
        .map(|(c, _)| *c)
        .filter(|k| !used.contains(*k))
        .collect();
    assert!(
        unused.is_empty(),
        "esxi_iso::warning::OWN lists codes no warning uses: {unused:?}"
    );
}

/// No import circle between the library's files (ARCHITECTURE.md: imports
/// go down the layers), apart from a folder's `mod.rs` and its own
/// children. Read from the source: every `crate::`, `super::` and
/// `self::` path (braced `use` lists expanded) is resolved to the module
/// file it names, and the graph of files is searched for cycles.
#[test]
fn no_import_cycles_between_files() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // Module path -> its file's text.
    let mut modules: BTreeMap<Vec<String>, String> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&src).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            match parts.last().map(String::as_str) {
                Some("main") => continue,
                Some("lib") | Some("mod") => {
                    parts.pop();
                }
                _ => {}
            }
            let text = fs::read_to_string(&p).unwrap();
            // What the module's tests use, and comments (doc links), do not
            // count.
            let text: String = text
                .split("#[cfg(test)]")
                .next()
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| format!("{l}\n"))
                .collect();
            modules.insert(parts, text);
        }
    }
    let is_mod_rs = |m: &Vec<String>| {
        let mut f = src.clone();
        f.extend(m);
        f.join("mod.rs").is_file() || m.is_empty()
    };
    // The longest module prefix of `path`.
    let resolve = |path: &[String]| -> Option<Vec<String>> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].to_vec())
            .find(|p| modules.contains_key(p))
    };
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (m, text) in &modules {
        // `super` of a mod.rs is its parent folder; of a file, its folder.
        let here: Vec<String> = if is_mod_rs(m) {
            m.clone()
        } else {
            m[..m.len() - 1].to_vec()
        };
        let mut paths: Vec<Vec<String>> = Vec::new();
        let b = text.as_bytes();
        for start in ["crate::", "super::", "self::"] {
            let mut at = 0;
            while let Some(i) = text[at..].find(start).map(|i| i + at) {
                at = i + start.len();
                if i > 0 && (ident(b[i - 1] as char) || b[i - 1] == b':') {
                    continue;
                }
                let base: Vec<String> = match start {
                    "crate::" => Vec::new(),
                    "super::" => here[..here.len().saturating_sub(1)].to_vec(),
                    _ => here.clone(),
                };
                // The rest of the path, and a braced list after it.
                let rest: String = text[at..]
                    .chars()
                    .take_while(|c| ident(*c) || *c == ':')
                    .collect();
                let mut segs = base.clone();
                segs.extend(rest.split("::").filter(|s| !s.is_empty()).map(String::from));
                let after = &text[at + rest.len()..];
                if rest.ends_with("::") && after.starts_with('{') {
                    let inner = &after[1..after.find('}').unwrap_or(after.len())];
                    for item in inner.split(',') {
                        let item = item.trim().split("::").next().unwrap_or_default();
                        let item = item.split_whitespace().next().unwrap_or_default();
                        if !item.is_empty() && item != "self" {
                            let mut p = segs.clone();
                            p.push(item.to_string());
                            paths.push(p);
                        }
                    }
                }
                paths.push(segs);
            }
        }
        for p in paths {
            if let Some(target) = resolve(&p) {
                let parent_child =
                    |a: &Vec<String>, b: &Vec<String>| b.len() == a.len() + 1 && b.starts_with(a);
                // A child using what its folder's mod.rs defines is the
                // layout of a Rust module, not a cycle.
                if &target != m && !parent_child(&target, m) {
                    edges.entry(m.clone()).or_default().insert(target);
                }
            }
        }
    }
    // Tarjan's strongly connected components.
    struct Tarjan<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on: BTreeSet<Vec<String>>,
        out: Vec<Vec<Vec<String>>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: &Vec<String>) {
            let i = self.index.len();
            self.index.insert(v.clone(), i);
            self.low.insert(v.clone(), i);
            self.stack.push(v.clone());
            self.on.insert(v.clone());
            for w in self.edges.get(v).cloned().unwrap_or_default() {
                if !self.index.contains_key(&w) {
                    self.visit(&w);
                    let l = self.low[v].min(self.low[&w]);
                    self.low.insert(v.clone(), l);
                } else if self.on.contains(&w) {
                    let l = self.low[v].min(self.index[&w]);
                    self.low.insert(v.clone(), l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(&w);
                    let done = &w == v;
                    scc.push(w);
                    if done {
                        break;
                    }
                }
                if scc.len() > 1 {
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for m in modules.keys() {
        if !t.index.contains_key(m) {
            t.visit(m);
        }
    }
    let cycles: Vec<String> = t
        .out
        .iter()
        .map(|scc| {
            scc.iter()
                .map(|m| format!("crate::{}", m.join("::")))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between files:\n  {}",
        cycles.join("\n  ")
    );
}

/// No doc comment starts with a line pasted from another item's: a block
/// of several `///` lines whose first is, whole, the one-line doc of
/// another item of the same file (`/// bootlib/string.c is_number.` left
/// above `RULES`) documents the wrong item.
#[test]
fn no_doc_line_left_above_the_wrong_item() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut strays = Vec::new();
    let mut stack = vec![src];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let text = fs::read_to_string(&p).unwrap();
            // (first line, number of lines) of each block of `///` lines.
            let mut blocks: Vec<(usize, &str, usize)> = Vec::new();
            let mut open = false;
            for (i, l) in text.lines().enumerate() {
                let l = l.trim();
                match (l.starts_with("///"), open, blocks.last_mut()) {
                    (true, true, Some(b)) => b.2 += 1,
                    (true, _, _) => blocks.push((i + 1, l, 1)),
                    _ => {}
                }
                open = l.starts_with("///");
            }
            for (line, first, len) in &blocks {
                let pasted = *len > 1
                    && blocks
                        .iter()
                        .any(|(at, other, n)| at != line && *n == 1 && other == first);
                if pasted {
                    strays.push(format!("{}:{line}: {first}", p.display()));
                }
            }
        }
    }
    assert!(
        strays.is_empty(),
        "doc lines that belong to another item:\n{}",
        strays.join("\n")
    );
}
