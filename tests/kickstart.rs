//! Kickstart templates: golden renders for several variable sets (compared
//! exactly), each of which must also pass lint; `kickstart vars` and the
//! README document every variable.
//!
//! Regenerate the golden files after an intended template change with
//! `UPDATE_GOLDEN=1 cargo test --test kickstart`, and review the diff.

mod common;

use std::fs;
use std::path::PathBuf;

use common::cli::run_in;

/// A SHA-512 crypt of "VMware1!lab" (openssl passwd -6 -salt goldensalt).
const HASH: &str = "$6$goldensalt$BvQ9qEQIw/ZuClFXZnDdv6tWX3EBAkm8.36aO91OP8uUHZemm.pcWlxCPTJRDpnLpXU8ePgmgx77ku4i9nrEL1";

const SETS: &[(&str, &[&str])] = &[
    ("dhcp", &["hostname=esx01"]),
    (
        "static",
        &[
            "hostname=esx02",
            "domain=lab.local",
            "ip=192.168.10.12/24",
            "gateway=192.168.10.1",
            "nameservers=192.168.10.2,192.168.10.3",
            "vlan_id=20",
            "device=vmnic0",
        ],
    ),
    (
        "everything",
        &[
            "hostname=esx03.lab.local",
            "ip=10.0.0.13",
            "netmask=255.255.255.0",
            "gateway=10.0.0.1",
            "nameservers=10.0.0.2",
            "device=00:50:56:aa:bb:cc",
            "ssh_authorized_keys=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGolden lab@example",
            "ntp_servers=pool.ntp.org,10.0.0.2",
            "syslog=udp://10.0.0.5:514",
            "disk=mpx.vmhba0:C0:T0:L0",
            "create_datastore=true",
            "system_media_size=min",
            "allow_legacy_cpu=true",
            "accept_unsupported_cpu=true",
            "enable_ssh=true",
            "enable_shell=true",
            "suppress_shell_warning=false",
            "follow_hardware_mac=false",
            "firstboot=esxcli system hostname get",
        ],
    ),
    ("preserve", &["hostname=esx04", "vmfs=preserve"]),
];

/// Variables of nested-lab that minimal does not read: setting one for
/// minimal is refused, not silently dropped.
const NOT_IN_MINIMAL: &[&str] = &[
    "ssh_authorized_keys",
    "ntp_servers",
    "syslog",
    "enable_ssh",
    "enable_shell",
    "suppress_shell_warning",
    "follow_hardware_mac",
    "firstboot",
];

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

#[test]
fn kickstart_templates_match_golden_renders_and_lint_clean() {
    let work = common::fixture::work_dir("golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut mismatches = Vec::new();
    for template in ["nested-lab", "minimal"] {
        for (set_name, vars) in SETS {
            let pw = format!("root_password={HASH}");
            let mut args = vec!["kickstart", "render", "--template", template, "--set", &pw];
            let mut unread = Vec::new();
            for v in *vars {
                let key = v.split('=').next().unwrap();
                if template == "minimal" && NOT_IN_MINIMAL.contains(&key) {
                    unread.push(key);
                    continue;
                }
                args.push("--set");
                args.push(v);
            }
            let text = run_in(work.path(), &args, &[]).ok().stdout();
            // ... and each of those is refused by name.
            for key in unread {
                let mut refused = args.clone();
                let set = vars
                    .iter()
                    .find(|v| v.starts_with(&format!("{key}=")))
                    .unwrap();
                refused.extend(["--set", set]);
                run_in(work.path(), &refused, &[]).fails_with(
                    2,
                    &format!("--set {key}: template minimal reads no variable {key}"),
                );
            }
            let name = format!("{template}-{set_name}.ks");
            let path = golden_dir().join(&name);
            if update {
                fs::write(&path, &text).unwrap();
            } else {
                let want = fs::read_to_string(&path).unwrap_or_else(|e| {
                    panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display())
                });
                if want != text {
                    mismatches.push(format!("{name}:\n--- want\n{want}\n--- got\n{text}"));
                }
            }
            // Every documented variable set lints clean: no errors and no
            // warnings.
            let file = work.path().join(&name);
            fs::write(&file, &text).unwrap();
            let lint = run_in(
                work.path(),
                &["kickstart", "lint", file.to_str().unwrap()],
                &[],
            )
            .ok();
            assert_eq!(lint.stdout(), "", "{name} does not lint clean");
        }
    }
    assert!(
        mismatches.is_empty(),
        "golden renders differ:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn kickstart_render_rejects_bad_values_and_unknown_templates() {
    let work = common::fixture::work_dir("render-bad");
    let w = work.path();
    let pw = format!("root_password={HASH}");
    run_in(
        w,
        &[
            "kickstart",
            "render",
            "--set",
            &pw,
            "--set",
            "hostname=esx01\nreboot",
        ],
        &[],
    )
    .fails_with(
        2,
        "hostname: value \"esx01\\nreboot\" contains a newline or control character",
    );
    run_in(
        w,
        &["kickstart", "render", "--template", "nope", "--set", &pw],
        &[],
    )
    .fails_with(
        2,
        "no template \"nope\": use one of nested-lab, minimal or a path to a .tera file",
    );
    // A template file that is not there is an input error naming it; a
    // misspelled built-in gets the nearest.
    run_in(w, &["kickstart", "vars", "site.ks.tera"], &[]).fails_with(
        3,
        "template file site.ks.tera does not exist (the built-in templates are nested-lab, \
         minimal)",
    );
    run_in(w, &["kickstart", "vars", "nested-lb"], &[])
        .fails_with(2, "no template \"nested-lb\" (did you mean nested-lab?)");
    run_in(w, &["kickstart", "render"], &[])
        .fails_with(2, "no root password for template nested-lab");
    run_in(
        w,
        &[
            "kickstart",
            "render",
            "--set",
            &pw,
            "--set",
            "ssh_authorized_keys=it's mine",
        ],
        &[],
    )
    .fails_with(2, "is not an OpenSSH public key line");
    // The environment variable is a source too, and is hashed.
    let out = run_in(
        w,
        &["kickstart", "render", "--template", "minimal"],
        &[("ESXI_ISO_ROOT_PASSWORD", "VMware1!lab")],
    )
    .ok()
    .stdout();
    assert!(
        out.contains("rootpw --iscrypted $6$") && !out.contains("VMware1!lab"),
        "{out}"
    );
}

/// A variable a template reads only as a bare condition (`{% if rack %}`,
/// under `not`, `and`, `or`), or inside the `if` that tests it, may stay
/// unset: Tera renders it as false. Neither `vars`, nor the render, nor
/// the root password asks for it.
#[test]
fn a_variable_read_as_a_condition_may_stay_unset() {
    let work = common::fixture::work_dir("render-condition");
    let w = work.path();
    fs::write(
        w.join("c.ks.tera"),
        "vmaccepteula\n\
         {% if root_password %}rootpw --iscrypted {{ root_password }}\n{% endif %}\
         {% if rack and not retired %}# rack {{ rack }}\n{% endif %}\
         # owner {{ owner }}\n",
    )
    .unwrap();
    let vars = run_in(w, &["kickstart", "vars", "c.ks.tera"], &[])
        .ok()
        .stdout();
    for want in [
        "rack                    may be left unset (read only under if, is defined, default) (line 3)",
        "retired                 may be left unset",
        "owner                   must be set (line 4)",
    ] {
        assert!(vars.contains(want), "{want}:\n{vars}");
    }
    let render = ["kickstart", "render", "--template", "c.ks.tera"];
    run_in(w, &render, &[]).fails_with(
        2,
        "template c.ks.tera reads a variable that is not set: owner (line 4);",
    );
    let out = run_in(w, &[&render[..], &["--set", "owner=ops"]].concat(), &[])
        .ok()
        .stdout();
    assert_eq!(out, "vmaccepteula\n# owner ops\n");
    let pw = format!("root_password={HASH}");
    let set = ["--set", "owner=ops", "--set", "rack=r1", "--set", &pw];
    let out = run_in(w, &[&render[..], &set].concat(), &[]).ok().stdout();
    assert_eq!(
        out,
        format!("vmaccepteula\nrootpw --iscrypted {HASH}\n# rack r1\n# owner ops\n")
    );
}

/// A render Tera fails for a reason other than a missing variable gets
/// Tera's own error (an input error), not a list of unset variables that
/// the render never reached.
#[test]
fn a_failed_render_is_blamed_on_what_failed() {
    let work = common::fixture::work_dir("render-blame");
    let w = work.path();
    fs::write(
        w.join("f.ks.tera"),
        "{% if rack %}x{% endif %}\n{{ \"abc\" | truncate(length=\"x\") }}\n\
         {% if false %}{{ row }}{% endif %}\n",
    )
    .unwrap();
    let run = run_in(w, &["kickstart", "render", "--template", "f.ks.tera"], &[]).fails_with(
        3,
        "rendering template f.ks.tera: Filter `truncate` received an incorrect type for arg \
         `length`",
    );
    assert!(!run.stderr().contains("not set"), "{}", run.describe());
}

/// A `--vars` value of the wrong TOML type is refused by name, with the
/// other problems, not rendered as if unset (`ip = 10` made a static host
/// DHCP); quoted, the same values render.
#[test]
fn wrongly_typed_vars_are_refused_by_name() {
    let work = common::fixture::work_dir("render-types");
    let w = work.path();
    let pw = format!("root_password={HASH}");
    fs::write(
        w.join("bad.toml"),
        "hostname = 5\nip = 10\ngateway = '10.0.0.1'\nntp_servers = true\nvlan_id = 20\n",
    )
    .unwrap();
    let render = ["kickstart", "render", "--set", &pw, "--vars"];
    let run = run_in(w, &[&render[..], &["bad.toml"]].concat(), &[])
        .fails_with(2, "invalid template variables:");
    let err = run.stderr();
    for want in [
        "\n  hostname: expected a string, got the integer 5: quote it\n",
        "\n  ip: expected a string, got the integer 10: quote it\n",
        "\n  ntp_servers: expected a list of strings or one comma-separated string, got the \
         boolean true: quote each item, in a list: [\"a\", \"b\"]\n",
    ] {
        assert!(err.contains(want), "{want:?}\n{}", run.describe());
    }
    assert!(!err.contains("gateway is set"), "{}", run.describe());
    fs::write(
        w.join("good.toml"),
        "hostname = '5'\nip = '10.0.0.15/24'\ngateway = '10.0.0.1'\n\
         ntp_servers = ['pool.ntp.org']\nvlan_id = 20\n",
    )
    .unwrap();
    let out = run_in(w, &[&render[..], &["good.toml"]].concat(), &[])
        .ok()
        .stdout();
    for want in [
        "network --bootproto=static --ip=10.0.0.15 --netmask=255.255.255.0 --gateway=10.0.0.1 \
         --hostname=5 --vlanid=20",
        "--server=pool.ntp.org",
    ] {
        assert!(out.contains(want), "{want}\n{out}");
    }
}

/// Tera's `get_env` would copy the root password from the environment,
/// where esxi-iso reads it, into the kickstart in plain text.
#[test]
fn templates_cannot_read_the_environment() {
    let work = common::fixture::work_dir("render-env");
    let w = work.path();
    fs::write(
        w.join("env.ks.tera"),
        "vmaccepteula\n# {{ get_env(name=\"ESXI_ISO_ROOT_PASSWORD\") }}\n",
    )
    .unwrap();
    let run = run_in(
        w,
        &["kickstart", "render", "--template", "env.ks.tera"],
        &[("ESXI_ISO_ROOT_PASSWORD", "VMware1!lab")],
    )
    .fails_with(3, "get_env is turned off in esxi-iso templates");
    assert!(
        !run.describe().contains("VMware1!lab"),
        "{}",
        run.describe()
    );
}

#[test]
fn kickstart_vars_are_listed_and_documented() {
    let work = common::fixture::work_dir("vars");
    let listed = run_in(work.path(), &["kickstart", "vars"], &[])
        .ok()
        .stdout();
    let readme =
        fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/kickstart.md"))
            .unwrap();
    let names: Vec<&str> = listed
        .lines()
        .take_while(|l| !l.starts_with("computed by esxi-iso"))
        .filter(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(names.len() >= 20, "{listed}");
    for n in &names {
        assert!(
            readme.contains(&format!("| `{n}` |")),
            "docs/kickstart.md's variable table lacks {n}"
        );
    }
    // Everything the templates reference is either listed or derived.
    let derived = [
        "root_password",
        "fqdn",
        "ip_address",
        "netmask",
        "install_args",
        "network_args",
        "dhcp_hostname",
        "overlay",
        "key",
        "s",
        "line",
    ];
    for t in ["nested-lab", "minimal"] {
        let src = fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("kickstart/{t}.ks.tera")),
        )
        .unwrap();
        for word in src.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            let is_var = src.contains(&format!("{{{{ {word} "))
                || src.contains(&format!("{{% if {word} %}}"));
            if is_var && !word.is_empty() {
                assert!(
                    names.contains(&word) || derived.contains(&word),
                    "{t} uses {word}, which is not listed"
                );
            }
        }
    }
}
