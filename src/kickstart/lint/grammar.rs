//! The installer's command and option table, as data.
//!
//! Facts from weasel's `grammar.py` (`GrammarDefinition`: the command table
//! of `getScriptedInstallGrammar` and each `get*Grammar` option table),
//! Python 3 version. Options given there as a `valueRegex` or
//! `valueValidator` take a value, which must be written `--name=value`
//! (that version no longer joins `--name value`); the others are flags.
//! Where the grammar lists `invalids` as a plain string instead of a tuple
//! (`install --overwritevmfs`, `--preservevmfs`, `--novmfsondisk`), Python
//! iterates its characters and the rule never fires, so it is left out.
//!
//! Additions from VMware's documentation for releases newer than that
//! source (8.0 and 9.0): `install --forceunsupportedinstall`, `--systemdisk`,
//! `--repartitionsystemdisk` and `--dpupcislots`. The 7.x installer warns
//! that they are unknown arguments.

use super::values;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Detail {
    Supported,
    Deprecated,
    Unused,
}

/// How a value is checked, and what a failure is.
#[derive(Clone, Copy)]
pub enum Check {
    /// `.+`: anything non-empty.
    Any,
    /// A `valueRegex`; `error` is `onRegexMismatch='error'`.
    Regex {
        ok: fn(&str) -> bool,
        error: bool,
        /// The installer's `regexMsg`, with `{}` for the value.
        msg: Option<&'static str>,
    },
    /// A `valueValidator` (its problems are errors).
    Validator(fn(&str) -> Option<String>),
}

#[derive(Clone, Copy)]
pub struct Arg {
    pub name: &'static str,
    /// `None` for a flag.
    pub value: Option<Check>,
    pub deprecated: bool,
    pub required: bool,
    /// The other spelling of the same option (`--disk` / `--drive`).
    pub alias: Option<&'static str>,
    pub invalids: &'static [&'static str],
    pub dup_error: bool,
    /// What a bare flag means for options whose value is optional.
    pub none_value: Option<&'static str>,
}

const fn flag(name: &'static str) -> Arg {
    Arg {
        name,
        value: None,
        deprecated: false,
        required: false,
        alias: None,
        invalids: &[],
        dup_error: false,
        none_value: None,
    }
}

const fn valued(name: &'static str, check: Check) -> Arg {
    Arg {
        value: Some(check),
        ..flag(name)
    }
}

const fn deprecated(mut a: Arg) -> Arg {
    a.deprecated = true;
    a
}

const fn dup_error(mut a: Arg) -> Arg {
    a.dup_error = true;
    a
}

const fn invalids(mut a: Arg, with: &'static [&'static str]) -> Arg {
    a.invalids = with;
    a
}

const fn alias(mut a: Arg, other: &'static str) -> Arg {
    a.alias = Some(other);
    a
}

const fn none_value(mut a: Arg, v: &'static str) -> Arg {
    a.none_value = Some(v);
    a
}

/// A positional argument: `FRONT` takes the first leftover word, `BACK`
/// the last.
#[derive(Clone, Copy)]
pub struct Hanging {
    pub name: &'static str,
    pub front: bool,
    pub required: bool,
    pub check: Check,
}

#[derive(Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    /// The name the installer records it under (aliases share it).
    pub id: &'static str,
    pub detail: Detail,
    pub multiple: bool,
    pub dup_error: bool,
    pub multiline: bool,
    pub args: &'static [Arg],
    pub hanging: &'static [Hanging],
    /// Positional words the grammar marks deprecated (`install url`).
    pub deprecated_words: &'static [&'static str],
}

const fn command(name: &'static str, args: &'static [Arg]) -> Command {
    Command {
        name,
        id: name,
        detail: Detail::Supported,
        multiple: false,
        dup_error: false,
        multiline: false,
        args,
        hanging: &[],
        deprecated_words: &[],
    }
}

const fn old(name: &'static str) -> Command {
    Command {
        detail: Detail::Deprecated,
        ..command(name, &[])
    }
}

const fn unused(name: &'static str) -> Command {
    Command {
        detail: Detail::Unused,
        ..command(name, &[])
    }
}

const ANY: Check = Check::Any;

fn interpreter_ok(v: &str) -> bool {
    v == "python" || v == "busybox"
}

const INTERPRETER: Arg = valued(
    "--interpreter",
    Check::Regex {
        ok: interpreter_ok,
        error: true,
        msg: Some("interpreter \"{}\" not found."),
    },
);

const SCRIPT: &[Hanging] = &[Hanging {
    name: "script",
    front: false,
    required: true,
    check: Check::Validator(|_| None),
}];

const DISK: Arg = dup_error(invalids(
    alias(valued("--disk", ANY), "--drive"),
    &["--firstdisk"],
));
const DRIVE: Arg = dup_error(invalids(
    alias(valued("--drive", ANY), "--disk"),
    &["--firstdisk"],
));
const FIRSTDISK: Arg = dup_error(invalids(
    none_value(valued("--firstdisk", ANY), "local,remote,usb"),
    &["--disk", "--drive"],
));
const INSTALL_WORDS: &[&str] = &["cdrom", "usb", "nfs", "url"];

const INSTALL_ARGS: &[Arg] = &[
    DRIVE,
    DISK,
    FIRSTDISK,
    flag("--overwritevmfs"),
    flag("--preservevmfs"),
    flag("--overwritevsan"),
    flag("--novmfsondisk"),
    invalids(flag("--ignoressd"), &["--disk", "--drive"]),
    flag("--ignoreprereqwarnings"),
    flag("--ignoreprereqerrors"),
    deprecated(flag("--server")),
    deprecated(flag("--dir")),
    // Documented for 8.0 and later.
    flag("--forceunsupportedinstall"),
    valued("--systemdisk", ANY),
    valued("--systemDisk", ANY),
    flag("--repartitionsystemdisk"),
    valued("--dpupcislots", ANY),
];

const INSTALL_OR_UPGRADE_ARGS: &[Arg] = &[
    DRIVE,
    DISK,
    FIRSTDISK,
    flag("--overwritevmfs"),
    flag("--overwritevsan"),
    flag("--ignoreprereqwarnings"),
    flag("--ignoreprereqerrors"),
    flag("--forcemigrate"),
    deprecated(flag("--server")),
    deprecated(flag("--dir")),
    flag("--forceunsupportedinstall"),
    valued("--dpupcislots", ANY),
];

const UPGRADE_ARGS: &[Arg] = &[
    invalids(DRIVE, &["--firstdisk", "--diskBootedFrom"]),
    invalids(DISK, &["--firstdisk", "--diskBootedFrom"]),
    invalids(FIRSTDISK, &["--disk", "--drive", "--diskBootedFrom"]),
    invalids(
        flag("--diskBootedFrom"),
        &["--disk", "--drive", "--firstdisk"],
    ),
    flag("--overwritevmfs"),
    dup_error(valued("--savebootbank", ANY)),
    valued("--bootDiskMarker", ANY),
    flag("--deletecosvmdk"),
    flag("--ignoreprereqwarnings"),
    flag("--ignoreprereqerrors"),
    flag("--forcemigrate"),
    flag("--forceunsupportedinstall"),
    valued("--dpupcislots", ANY),
];

fn bootproto_ok(v: &str) -> bool {
    v == "static" || v == "dhcp"
}

fn zero_one_ok(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "0" | "1" | "true" | "false"
    )
}

fn true_false_ok(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "false")
}

fn digits_ok(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| c.is_ascii_digit())
}

fn mountpoint_ok(v: &str) -> bool {
    !v.is_empty() && (!v.contains('/') || (v.starts_with('/') && !v.contains("//")))
}

const NETWORK_ARGS: &[Arg] = &[
    valued(
        "--bootproto",
        Check::Regex {
            ok: bootproto_ok,
            error: false,
            msg: None,
        },
    ),
    valued("--device", ANY),
    valued("--ip", Check::Validator(values::ip_problem)),
    valued("--gateway", Check::Validator(values::ip_problem)),
    valued("--nameserver", Check::Validator(values::ips_problem)),
    flag("--nodns"),
    valued("--netmask", Check::Validator(values::netmask_problem)),
    valued("--hostname", Check::Validator(values::hostname_problem)),
    valued("--vlanid", Check::Validator(values::vlan_problem)),
    valued(
        "--addvmportgroup",
        Check::Regex {
            ok: zero_one_ok,
            error: false,
            msg: None,
        },
    ),
];

const CLEARPART_ARGS: &[Arg] = &[
    flag("--all"),
    invalids(flag("--alldrives"), &["--drives", "--firstdisk"]),
    dup_error(invalids(
        valued("--drives", ANY),
        &["--ignoredrives", "--alldrives", "--firstdisk"],
    )),
    dup_error(invalids(
        none_value(valued("--firstdisk", ANY), "local,remote"),
        &["--alldrives", "--drives", "--ignoredrives"],
    )),
    invalids(valued("--ignoredrives", ANY), &["--drives", "--firstdisk"]),
    deprecated(flag("--initlabel")),
    flag("--overwritevmfs"),
];

const PART_ARGS: &[Arg] = &[
    deprecated(valued("--size", Check::Validator(size_problem))),
    deprecated(flag("--grow")),
    deprecated(valued("--maxsize", Check::Validator(size_problem))),
    dup_error(invalids(
        alias(valued("--ondisk", ANY), "--ondrive"),
        &["--onfirstdisk"],
    )),
    dup_error(invalids(
        alias(valued("--ondrive", ANY), "--ondisk"),
        &["--onfirstdisk"],
    )),
    dup_error(invalids(
        none_value(valued("--onfirstdisk", ANY), "local,remote"),
        &["--ondisk"],
    )),
    deprecated(flag("--fstype")),
];

/// `validateSize`: a whole number above zero.
fn size_problem(v: &str) -> Option<String> {
    match values::py_int(v) {
        None => Some("is not a number".into()),
        Some(n) if n <= 0 => Some("must be a value greater than zero".into()),
        Some(_) => None,
    }
}

const PART_HANGING: &[Hanging] = &[Hanging {
    name: "mountpoint",
    front: true,
    required: true,
    check: Check::Regex {
        ok: mountpoint_ok,
        error: true,
        msg: None,
    },
}];

const PART: Command = Command {
    multiple: true,
    hanging: PART_HANGING,
    ..command("part", PART_ARGS)
};

const INCLUDE: Command = Command {
    id: "include",
    multiple: true,
    hanging: &[Hanging {
        name: "filename",
        front: false,
        required: true,
        check: ANY,
    }],
    ..command("include", &[])
};

const SERIAL: Command = Command {
    id: "vmserialnum",
    ..command(
        "vmserialnum",
        &[Arg {
            required: true,
            ..valued(
                "--esx",
                Check::Regex {
                    ok: values::serial_ok,
                    error: true,
                    msg: Some(
                        "serialnum / vmserialnum --esx value requires five five-character \
                         tuples separated by dashes",
                    ),
                },
            )
        }],
    )
};

const EULA: Command = command("vmaccepteula", &[]);

pub const COMMANDS: &[Command] = &[
    old("auth"),
    old("authconfig"),
    old("autopart"),
    old("autostep"),
    old("bootloader"),
    Command {
        multiple: true,
        ..command("clearpart", CLEARPART_ARGS)
    },
    old("cmdline"),
    old("device"),
    old("deviceprobe"),
    command("dryrun", &[]),
    old("esxlocation"),
    old("firewall"),
    old("firewallport"),
    old("firstboot"),
    old("harddrive"),
    old("ignoredisk"),
    Command {
        dup_error: true,
        deprecated_words: INSTALL_WORDS,
        ..command("install", INSTALL_ARGS)
    },
    Command {
        dup_error: true,
        deprecated_words: INSTALL_WORDS,
        ..command("installorupgrade", INSTALL_OR_UPGRADE_ARGS)
    },
    old("interactive"),
    Command {
        hanging: &[Hanging {
            name: "keyboardtype",
            front: false,
            required: true,
            check: ANY,
        }],
        ..command("keyboard", &[])
    },
    unused("lang"),
    unused("langsupport"),
    old("lilo"),
    old("lilocheck"),
    old("logvol"),
    old("mouse"),
    command("network", NETWORK_ARGS),
    PART,
    Command {
        name: "partition",
        id: "part",
        ..PART
    },
    command("paranoid", &[]),
    command("partitionembed", &[]),
    old("raid"),
    command("reboot", &[flag("--noeject")]),
    Command {
        hanging: &[Hanging {
            name: "password",
            front: false,
            required: true,
            check: Check::Regex {
                ok: |_| true,
                error: false,
                msg: None,
            },
        }],
        ..command("rootpw", &[flag("--iscrypted")])
    },
    old("skipx"),
    old("text"),
    old("timezone"),
    Command {
        dup_error: true,
        ..command("upgrade", UPGRADE_ARGS)
    },
    old("virtualdisk"),
    EULA,
    Command {
        name: "accepteula",
        id: "vmaccepteula",
        ..EULA
    },
    SERIAL,
    Command {
        name: "serialnum",
        ..SERIAL
    },
    old("vnc"),
    old("volgroup"),
    old("xconfig"),
    old("xdisplay"),
    old("vmlicense"),
    old("zerombr"),
    Command {
        name: "%include",
        ..INCLUDE
    },
    INCLUDE,
    old("%packages"),
    Command {
        multiple: true,
        multiline: true,
        hanging: SCRIPT,
        ..command("%pre", &[INTERPRETER])
    },
    Command {
        multiple: true,
        multiline: true,
        hanging: SCRIPT,
        ..command(
            "%post",
            &[
                INTERPRETER,
                valued(
                    "--timeout",
                    Check::Regex {
                        ok: digits_ok,
                        error: false,
                        msg: None,
                    },
                ),
                valued(
                    "--ignorefailure",
                    Check::Regex {
                        ok: true_false_ok,
                        error: false,
                        msg: None,
                    },
                ),
            ],
        )
    },
    Command {
        multiple: true,
        multiline: true,
        hanging: SCRIPT,
        ..command("%firstboot", &[INTERPRETER])
    },
    old("%vmlicense_text"),
];

pub fn find(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Commands `clearpart`, `part` and `partitionembed` require (`requires`).
pub const NEEDS_INSTALL: &[&str] = &["clearpart", "part", "partitionembed"];

/// Commands an upgrade turns off (`chooseUpgrade` marks them invalidated).
pub const INVALIDATED_BY_UPGRADE: &[&str] = &[
    "install",
    "rootpw",
    "network",
    "keyboard",
    "vmserialnum",
    "clearpart",
    "part",
];

/// The keyboard types VMware documents for the `keyboard` command.
pub const KEYBOARDS: &[&str] = &[
    "Belgian",
    "Brazilian",
    "Croatian",
    "Czechoslovakian",
    "Danish",
    "Estonian",
    "Finnish",
    "French",
    "German",
    "Greek",
    "Icelandic",
    "Italian",
    "Japanese",
    "Latin American",
    "Norwegian",
    "Polish",
    "Portuguese",
    "Russian",
    "Slovenian",
    "Spanish",
    "Swedish",
    "Swiss French",
    "Swiss German",
    "Turkish",
    "Ukrainian",
    "United Kingdom",
    "US Default",
    "US Dvorak",
];
