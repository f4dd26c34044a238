//! Lint against the installer, rule by rule: a table of kickstart snippets,
//! each with what the ESXi installer (weasel, Python 3 version) says about
//! it, as (kind, line, rule code): `E` an error (the installer refuses or
//! stops), `W` a warning (it warns and goes on), `A` esxi-iso's own advice
//! (the installer says nothing, or what it does depends on the host).
//! Each row names the weasel file and function the expectation is read
//! from, or `esxi-iso` for advice; the codes are lint's names for those
//! rules. Every code and kind lint's `RULES` lists has a row.

use esxi_iso::kickstart::lint::{kind, lint, Severity, RULES};

/// Lines 1-3: everything required except `network`.
macro_rules! base {
    () => {
        "vmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw --iscrypted $6$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0\n"
    };
}
/// Lines 1-4: a clean kickstart; the line under test is line 5.
macro_rules! full {
    () => {
        concat!(base!(), "network --bootproto=dhcp\n")
    };
}
/// Lines 1-3 without rootpw and network, for rootpw rows (line 4).
macro_rules! norootpw {
    () => {
        "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork --bootproto=dhcp\n"
    };
}
/// Everything but `install`, for install rows (line 4).
macro_rules! noinstall {
    () => {
        "vmaccepteula\nrootpw --iscrypted $6$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0\nnetwork --bootproto=dhcp\n"
    };
}

type Want = &'static [(char, usize, &'static str)];

struct Row {
    rule: &'static str,
    ks: &'static str,
    want: Want,
}

const ROWS: &[Row] = &[
    // --- How lines become words (kickstartfile.py KickstartFile,
    // scriptedinstall.py tokenizeLine: shlex.split(line, comments=True)).
    Row { rule: "tokenizeLine: a # after the arguments is a comment", ks: concat!(norootpw!(), "rootpw --iscrypted $1$1K0mLlK/$IaFKhssy6EEhoAn7K9848.  # openssl passwd -1\n"), want: &[] },
    Row { rule: "tokenizeLine: # inside a word starts a comment too", ks: concat!(norootpw!(), "rootpw VMware1#x\n"), want: &[('E', 4, "rootpw-weak")] },
    Row { rule: "tokenizeLine: an unclosed quote fails the line", ks: concat!(full!(), "keyboard \"US Default\n"), want: &[('E', 5, "syntax")] },
    Row { rule: "tokenizeLine: a backslash at the very end fails", ks: concat!(full!(), "reboot \\"), want: &[('E', 5, "syntax")] },
    Row { rule: "tokenizeLine: a backslash does not continue a line", ks: concat!(base!(), "network --bootproto=static \\\n  --ip=10.0.0.5 --netmask=255.255.255.0\n"), want: &[('W', 4, "arg-unknown"), ('E', 4, "network-static-no-ip"), ('W', 5, "unknown-command")] },
    Row { rule: "KickstartFile: \\r\\n is read as \\n", ks: "vmaccepteula\r\ninstall --firstdisk --overwritevmfs\r\nrootpw VMware1!\r\nnetwork --bootproto=dhcp\r\n", want: &[] },
    Row { rule: "singlePass: a byte-order mark is part of the first word", ks: "\u{feff}vmaccepteula\ninstall --firstdisk --overwritevmfs\nrootpw VMware1!\nnetwork --bootproto=dhcp\n", want: &[('E', 0, "missing-vmaccepteula"), ('W', 1, "non-ascii"), ('W', 1, "unknown-command")] },
    Row { rule: "singlePass: non-ASCII warns on command lines only", ks: concat!(full!(), "# caf\u{e9}\nreboot # caf\u{e9}\n%firstboot --interpreter=busybox\necho \u{201c}hi\u{201d}\n"), want: &[('W', 6, "non-ascii")] },
    Row { rule: "singlePass: unknown commands warn once per name", ks: concat!(full!(), "foo --bar\nfoo\nReboot\n"), want: &[('W', 5, "unknown-command"), ('W', 7, "unknown-command")] },
    Row { rule: "getLinesUntilNextKeyword: only unindented keywords end a script", ks: concat!(full!(), "%firstboot --interpreter=busybox\necho\n  %post --interpreter=busybox\n"), want: &[] },
    Row { rule: "getLinesUntilNextKeyword: a line starting with include ends a script", ks: concat!(full!(), "%firstboot --interpreter=busybox\necho\nincludes.sh\nreboot\n"), want: &[('W', 7, "unknown-command")] },
    Row { rule: "getLinesUntilNextKeyword: %end stays in the script", ks: concat!(full!(), "%firstboot --interpreter=busybox\necho hi\n%end\nreboot\n"), want: &[('A', 7, "script-end")] },
    Row { rule: "doPreSection: %end last in a busybox %pre exits 127", ks: concat!(full!(), "%pre --interpreter=busybox\necho hi\n%end\n\n"), want: &[('E', 7, "script-end-fails-pre")] },
    Row { rule: "doPreSection: %end in a python %pre is a syntax error", ks: concat!(full!(), "%pre --interpreter=python\n%end\nprint(1)\n"), want: &[('E', 6, "script-end-fails-pre")] },
    Row { rule: "getLinesUntilNextKeyword: commands after %end belong to the script", ks: "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork --bootproto=dhcp\n%firstboot --interpreter=busybox\necho\n%end\nrootpw VMware1!\n", want: &[('E', 0, "missing-rootpw"), ('A', 6, "script-end")] },
    Row { rule: "preParseLine: %end outside a script is an unknown command", ks: concat!("%end\n", full!()), want: &[('W', 1, "unknown-command")] },
    Row { rule: "getLinesUntilNextKeyword: a keyword on the last line after a script is lost", ks: concat!(full!(), "%post --interpreter=busybox\necho\n%firstboot --interpreter=busybox\n"), want: &[('A', 7, "keyword-lost")] },
    // --- The command table (grammar.py getScriptedInstallGrammar).
    Row { rule: "preParseCommandTokens: deprecated commands warn", ks: concat!(full!(), "autopart --firstdisk\ntimezone UTC\n%packages\n"), want: &[('W', 5, "command-deprecated"), ('W', 6, "command-deprecated"), ('W', 7, "command-deprecated")] },
    Row { rule: "preParseCommandTokens: unused commands warn", ks: concat!(full!(), "lang en_US\n"), want: &[('W', 5, "command-unused")] },
    Row { rule: "addBranch: a repeated command warns, the last wins", ks: concat!(full!(), "keyboard German\nkeyboard French\naccepteula\n"), want: &[('W', 6, "command-duplicate"), ('W', 7, "command-duplicate")] },
    Row { rule: "addBranch: install is onDuplicate=error", ks: concat!(full!(), "install --firstdisk --overwritevmfs\n"), want: &[('E', 5, "command-duplicate")] },
    Row { rule: "postValidate: only one of install, upgrade, installorupgrade", ks: concat!(full!(), "installorupgrade --firstdisk --overwritevmfs\n"), want: &[('E', 0, "install-conflict")] },
    Row { rule: "validate: clearpart requires install (not installorupgrade)", ks: concat!(noinstall!(), "installorupgrade --firstdisk --overwritevmfs\nclearpart --alldrives\n"), want: &[('E', 5, "requires-install")] },
    Row { rule: "postValidate: vmaccepteula is required", ks: "install --firstdisk --overwritevmfs\nrootpw VMware1!\nnetwork --bootproto=dhcp\n", want: &[('E', 0, "missing-vmaccepteula")] },
    Row { rule: "validate: rootpw is required", ks: "vmaccepteula\ninstall --firstdisk --overwritevmfs\nnetwork --bootproto=dhcp\n", want: &[('E', 0, "missing-rootpw")] },
    Row { rule: "postValidate: no network warns and uses DHCP", ks: base!(), want: &[('W', 0, "missing-network")] },
    Row { rule: "applychoices.doit: no install or upgrade stops with \"Install method not set.\" (the parser itself accepts it)", ks: noinstall!(), want: &[('E', 0, "missing-install")] },
    Row { rule: "Scui._execute: a dryrun never reaches applychoices, so it needs no install", ks: concat!(noinstall!(), "dryrun\n"), want: &[('A', 4, "dryrun")] },
    Row { rule: "doInclude: an included file may provide required commands (esxi-iso advice)", ks: "%include /tmp/ks-part.cfg\n", want: &[('A', 0, "missing-install"), ('A', 0, "missing-rootpw"), ('A', 0, "missing-vmaccepteula")] },
    Row { rule: "chooseUpgrade: an upgrade needs no rootpw or network", ks: "vmaccepteula\nupgrade --firstdisk\n", want: &[] },
    Row { rule: "chooseUpgrade invalidates rootpw, network, keyboard...; preParseCommandTokens loses the warning (esxi-iso advice)", ks: "vmaccepteula\nupgrade --firstdisk\nrootpw VMware1!\nnetwork --bootproto=dhcp\n", want: &[('A', 3, "command-invalidated"), ('A', 4, "command-invalidated")] },
    Row { rule: "chooseUpgrade: an invalidated command is still read and checked", ks: "vmaccepteula\nupgrade --firstdisk\nrootpw VMware1\n", want: &[('A', 3, "command-invalidated"), ('E', 3, "rootpw-weak")] },
    Row { rule: "postValidate: an upgrade needs no vmaccepteula", ks: "upgrade --firstdisk\n", want: &[] },
    Row { rule: "validate, postValidate: installorupgrade requires rootpw and the EULA only when it installs (esxi-iso advice)", ks: "installorupgrade --firstdisk --overwritevmfs\nnetwork --bootproto=dhcp\n", want: &[('A', 0, "missing-rootpw"), ('A', 0, "missing-vmaccepteula")] },
    Row { rule: "postValidate: installorupgrade without network warns only when it installs (esxi-iso advice)", ks: "vmaccepteula\ninstallorupgrade --firstdisk --overwritevmfs\nrootpw VMware1!\n", want: &[('A', 0, "missing-network")] },
    Row { rule: "preParse: paranoid turns warnings into an error", ks: concat!(full!(), "paranoid\nkeyboard Klingon\n"), want: &[('E', 5, "paranoid"), ('W', 6, "keyboard-unknown")] },
    Row { rule: "preParse: paranoid without warnings is fine", ks: concat!(full!(), "paranoid\n"), want: &[] },
    Row { rule: "doDryrun: esxi-iso warns that nothing is installed", ks: concat!(full!(), "dryrun\n"), want: &[('A', 5, "dryrun")] },
    Row { rule: "include: the filename is required", ks: concat!(full!(), "include\n"), want: &[('E', 5, "arg-missing")] },
    // --- Reading options (scriptedinstall.py buildBranch, validate).
    Row { rule: "buildBranch: --name value is not joined (Python 3 version)", ks: concat!(base!(), "network --bootproto static\n"), want: &[('W', 4, "arg-unknown"), ('W', 4, "arg-no-value"), ('W', 4, "network-no-bootproto")] },
    Row { rule: "buildBranch: a flag given a value is dropped", ks: concat!(full!(), "reboot --noeject=true\n"), want: &[('W', 5, "arg-takes-no-value")] },
    Row { rule: "buildBranch: unknown options warn", ks: concat!(full!(), "reboot --eject\n"), want: &[('W', 5, "arg-unknown")] },
    Row { rule: "buildBranch: a repeated flag warns", ks: concat!(full!(), "reboot --noeject --noeject\n"), want: &[('W', 5, "arg-duplicate")] },
    Row { rule: "buildBranch: --disk and --drive are one option, onDuplicate=error", ks: concat!(noinstall!(), "install --disk=a --drive=b --overwritevmfs\n"), want: &[('E', 4, "arg-duplicate")] },
    Row { rule: "validate: --firstdisk is invalid with --disk", ks: concat!(noinstall!(), "install --firstdisk --disk=a --overwritevmfs\n"), want: &[('E', 4, "arg-conflict")] },
    Row { rule: "grammar: install's string invalids never fire", ks: concat!(noinstall!(), "install --firstdisk --overwritevmfs --preservevmfs --novmfsondisk\n"), want: &[] },
    Row { rule: "buildBranch: installorupgrade --ignoressd is an error", ks: concat!(noinstall!(), "installorupgrade --firstdisk --overwritevmfs --ignoressd\n"), want: &[('E', 4, "arg-unknown")] },
    Row { rule: "grammar: installorupgrade has no --preservevmfs", ks: concat!(noinstall!(), "installorupgrade --firstdisk --preservevmfs\n"), want: &[('W', 4, "arg-unknown"), ('A', 4, "install-vmfs")] },
    Row { rule: "collectHangingArgs: install url is deprecated", ks: concat!(noinstall!(), "install url http://x/ --firstdisk --overwritevmfs\n"), want: &[('W', 4, "arg-deprecated"), ('W', 4, "arg-unknown")] },
    Row { rule: "validate: deprecated options warn", ks: concat!(noinstall!(), "install --firstdisk --overwritevmfs --dir\n"), want: &[('W', 4, "arg-deprecated")] },
    Row { rule: "buildBranch: --firstdisk= with no value is dropped", ks: concat!(noinstall!(), "install --firstdisk= --overwritevmfs\n"), want: &[('W', 4, "arg-no-value"), ('E', 4, "install-no-disk")] },
    Row { rule: "validateInstallArgs: install needs a disk", ks: concat!(noinstall!(), "install --overwritevmfs\n"), want: &[('E', 4, "install-no-disk")] },
    Row { rule: "chooseInstall: esxi-iso warns about a disk holding VMFS", ks: concat!(noinstall!(), "install --firstdisk\n"), want: &[('A', 4, "install-vmfs")] },
    Row { rule: "documented for 8.0 and later", ks: concat!(noinstall!(), "install --firstdisk --overwritevmfs --forceunsupportedinstall --systemdisk=mpx.vmhba1:C0:T0:L0 --repartitionsystemdisk --dpupcislots=1\n"), want: &[] },
    Row { rule: "validateUpgradeArgs: upgrade needs a disk", ks: "vmaccepteula\nupgrade\n", want: &[('E', 2, "install-no-disk")] },
    Row { rule: "validateUpgradeArgs: --diskBootedFrom needs --savebootbank", ks: "vmaccepteula\nupgrade --diskBootedFrom\n", want: &[('E', 2, "upgrade-savebootbank")] },
    Row { rule: "validateUpgradeArgs: --bootDiskMarker is not implemented", ks: "vmaccepteula\nupgrade --diskBootedFrom --bootDiskMarker=x\n", want: &[('E', 2, "upgrade-bootdiskmarker")] },
    // --- clearpart, part (doClearpart, doPartition).
    Row { rule: "doClearpart: one of the drive options is required", ks: concat!(full!(), "clearpart --all --overwritevmfs\n"), want: &[('E', 5, "clearpart-no-drives")] },
    Row { rule: "validate: clearpart --alldrives and --drives exclude each other", ks: concat!(full!(), "clearpart --alldrives --drives=a\n"), want: &[('E', 5, "arg-conflict")] },
    Row { rule: "doPartition: a disk option is required", ks: concat!(full!(), "part datastore2\n"), want: &[('E', 5, "part-no-disk")] },
    Row { rule: "doPartition: not the install disk", ks: concat!(noinstall!(), "install --disk=mpx.vmhba0:C0:T0:L0 --overwritevmfs\npartition ds --ondisk=mpx.vmhba0:C0:T0:L0\n"), want: &[('E', 5, "part-install-disk")] },
    Row { rule: "doPartition: one datastore per disk, one disk per name", ks: concat!(full!(), "part ds1 --ondisk=a\npart ds1 --ondisk=a\n"), want: &[('E', 6, "part-same-disk"), ('E', 6, "part-same-name")] },
    Row { rule: "collectHangingArgs: the datastore name comes first", ks: concat!(full!(), "part --ondisk=a ds1\n"), want: &[('W', 5, "arg-position")] },
    Row { rule: "buildBranch: the mountpoint pattern is onRegexMismatch=error", ks: concat!(full!(), "part a/b --ondisk=x\n"), want: &[('E', 5, "arg-invalid")] },
    Row { rule: "validateSize: --size must be above zero", ks: concat!(full!(), "part ds --ondisk=x --size=0\n"), want: &[('E', 5, "arg-invalid")] },
    Row { rule: "validate: part --fstype is deprecated", ks: concat!(full!(), "part ds --ondisk=x --fstype\n"), want: &[('W', 5, "arg-deprecated")] },
    // --- keyboard, serialnum (doKeyboard, doVMSerialNum, RegexLocator.serialnum).
    Row { rule: "doKeyboard: an unknown type warns and uses the default", ks: concat!(full!(), "keyboard US Default\n"), want: &[('W', 5, "arg-unknown"), ('W', 5, "keyboard-unknown")] },
    Row { rule: "doKeyboard: documented types", ks: concat!(full!(), "keyboard 'US Default'\nkeyboard German\n"), want: &[('W', 6, "command-duplicate")] },
    Row { rule: "grammar: keyboard needs a type", ks: concat!(full!(), "keyboard\n"), want: &[('E', 5, "arg-missing")] },
    Row { rule: "RegexLocator.serialnum: five groups of five", ks: concat!(full!(), "serialnum --esx=XXXX-XXXX-XXXX-XXXX-XXXX\n"), want: &[('E', 5, "arg-invalid")] },
    Row { rule: "validate: vmserialnum --esx is required", ks: concat!(full!(), "vmserialnum\n"), want: &[('E', 5, "arg-required")] },
    Row { rule: "RegexLocator.serialnum: a well-formed key", ks: concat!(full!(), "vmserialnum --esx=AAAAA-BBBBB-CCCCC-DDDDD-EEEEE\n"), want: &[] },
    // --- Scripts (doMultilineCommand, doFirstBootSection, pre/post/firstboot grammars).
    Row { rule: "doMultilineCommand: no --interpreter warns", ks: concat!(full!(), "%pre\necho\n"), want: &[('W', 5, "script-no-interpreter")] },
    Row { rule: "RegexLocator.preInterpreter: python or busybox, else error", ks: concat!(full!(), "%firstboot --interpreter=bash\necho\n"), want: &[('E', 5, "arg-invalid")] },
    Row { rule: "buildBranch: --interpreter without a value is dropped", ks: concat!(full!(), "%post --interpreter\necho\n"), want: &[('W', 5, "arg-no-value"), ('W', 5, "script-no-interpreter")] },
    Row { rule: "getPostSectionGrammar: --timeout digits, --ignorefailure true/false", ks: concat!(full!(), "%post --interpreter=busybox --timeout=10s --ignorefailure=yes\necho\n"), want: &[('W', 5, "arg-invalid"), ('W', 5, "arg-invalid")] },
    Row { rule: "getPreSectionGrammar: %pre has no --ignorefailure", ks: concat!(full!(), "%pre --interpreter=busybox --ignorefailure=true\necho\n"), want: &[('W', 5, "arg-unknown")] },
    Row { rule: "doFirstBootSection: an empty %firstboot fails", ks: concat!(full!(), "%firstboot --interpreter=busybox\n%post --interpreter=busybox\necho\n"), want: &[('W', 5, "arg-no-value"), ('E', 5, "firstboot-empty")] },
    Row { rule: "doMultilineCommand: an empty %post only warns", ks: concat!(full!(), "%post --interpreter=busybox\n%firstboot --interpreter=busybox\necho\n"), want: &[('W', 5, "arg-no-value")] },
    // --- Install report lines (`build --report-to`): the installer does not read
    // script bodies, so all of it is esxi-iso's advice.
    Row { rule: "esxi-iso: a report with no time limit, last in %pre, fails it when the server is down", ks: concat!(full!(), "%pre --interpreter=busybox\nwget \"http://a/.esxi-iso/report?host=h&token=t&event=installing\"\n"), want: &[('A', 6, "report-unbounded"), ('A', 6, "report-fails-pre")] },
    Row { rule: "esxi-iso: a report that can fail, not last", ks: concat!(full!(), "%pre --interpreter=busybox\nwget -T 5 \"http://a/.esxi-iso/report?host=h&token=t&event=installing\"\necho done\n"), want: &[('A', 6, "report-can-fail")] },
    Row { rule: "esxi-iso: a report in the wrong section", ks: concat!(full!(), "%post --interpreter=busybox\nwget -T 5 \"http://a/.esxi-iso/report?host=h&token=t&event=installing\" || true\n"), want: &[('A', 6, "report-section")] },
    Row { rule: "esxi-iso: a report with no token, or an unknown event", ks: concat!(full!(), "%firstboot --interpreter=busybox\nwget -T 5 \"http://a/.esxi-iso/report?event=booted\" || true\nwget -T 5 \"http://a/.esxi-iso/report?host=h&token=t&event=up\" || true\n"), want: &[('A', 6, "report-no-token"), ('A', 7, "report-event")] },
    // --- network (doNetwork, networking/utils.py).
    Row { rule: "doNetwork: no --bootproto warns and uses DHCP", ks: concat!(base!(), "network --device=vmnic0\n"), want: &[('W', 4, "network-no-bootproto")] },
    Row { rule: "RegexLocator.networkproto is case-sensitive", ks: concat!(base!(), "network --bootproto=DHCP\n"), want: &[('W', 4, "arg-invalid"), ('W', 4, "network-no-bootproto")] },
    Row { rule: "doNetwork: STATIC falls back to DHCP, which refuses --ip", ks: concat!(base!(), "network --bootproto=STATIC --ip=10.0.0.5 --netmask=255.255.255.0 --gateway=10.0.0.1\n"), want: &[('W', 4, "arg-invalid"), ('W', 4, "network-no-bootproto"), ('E', 4, "network-dhcp-static-option"), ('E', 4, "network-dhcp-static-option"), ('E', 4, "network-dhcp-static-option")] },
    Row { rule: "doNetwork: DHCP ignores --hostname and --nameserver", ks: concat!(base!(), "network --bootproto=dhcp --hostname=esx01 --nameserver=10.0.0.2\n"), want: &[('W', 4, "network-dhcp-ignored"), ('W', 4, "network-dhcp-ignored")] },
    Row { rule: "doNetwork: static needs --ip", ks: concat!(base!(), "network --bootproto=static --netmask=255.255.255.0\n"), want: &[('E', 4, "network-static-no-ip")] },
    Row { rule: "doNetwork: static computes netmask and gateway, with warnings", ks: concat!(base!(), "network --bootproto=static --ip=192.168.1.10\n"), want: &[('W', 4, "network-static-no-hostname"), ('W', 4, "network-static-no-nameserver"), ('W', 4, "network-static-no-netmask"), ('W', 4, "network-static-no-gateway")] },
    Row { rule: "doNetwork: a complete static line", ks: concat!(base!(), "network --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.0 --gateway=10.0.0.1 --nameserver=10.0.0.2,10.0.0.3 --hostname=esx01.lab --vlanid=20 --addvmportgroup=0 --device=vmnic0\n"), want: &[] },
    Row { rule: "sanityCheckIPSettings: gateway on another network", ks: concat!(base!(), "network --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.0 --gateway=10.0.1.1 --nameserver=10.0.0.2 --hostname=h\n"), want: &[('E', 4, "network-static-settings")] },
    Row { rule: "sanityCheckIPandNetmask: not the network address", ks: concat!(base!(), "network --bootproto=static --ip=10.0.0.0 --netmask=255.255.255.0 --gateway=10.0.0.1 --nameserver=10.0.0.2 --hostname=h\n"), want: &[('E', 4, "network-static-settings")] },
    Row { rule: "ipStringToNumber: a prefix length is not a mask for IPv4", ks: concat!(base!(), "network --bootproto=static --ip=10.0.0.5 --netmask=24 --gateway=10.0.0.1 --nameserver=10.0.0.2 --hostname=h\n"), want: &[('E', 4, "network-static-settings")] },
    Row { rule: "calculateGateway: a /32 without gateway is off-network", ks: concat!(base!(), "network --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.255 --nameserver=10.0.0.2 --hostname=h\n"), want: &[('W', 4, "network-static-no-gateway"), ('E', 4, "network-static-settings")] },
    Row { rule: "calculateGateway: IPv6 without a gateway fails", ks: concat!(base!(), "network --bootproto=static --ip=2001:db8::5 --nameserver=2001:db8::1 --hostname=h\n"), want: &[('W', 4, "network-static-no-netmask"), ('E', 4, "network-static-no-gateway")] },
    Row { rule: "sanityCheckIPString: IPv6 with a gateway", ks: concat!(base!(), "network --bootproto=static --ip=2001:db8::5 --netmask=64 --gateway=2001:db8::1 --nameserver=2001:db8::1 --hostname=h\n"), want: &[] },
    Row { rule: "sanityCheckIPString and friends: validator errors", ks: concat!(base!(), "network --bootproto=static --ip=10.0.0.256 --netmask=255.0.255.0 --gateway=127.0.0.1 --nameserver=10.0.0.2,foo --hostname=esx_01 --vlanid=4096\n"), want: &[('E', 4, "arg-invalid"), ('E', 4, "arg-invalid"), ('E', 4, "arg-invalid"), ('E', 4, "arg-invalid"), ('E', 4, "arg-invalid"), ('E', 4, "arg-invalid")] },
    Row { rule: "sanityCheckMultipleIPsString: no spaces after commas", ks: concat!(base!(), "network --bootproto=static --ip=10.0.0.5 --netmask=255.255.255.0 --gateway=10.0.0.1 --nameserver=\"10.0.0.2, 10.0.0.3\" --hostname=h\n"), want: &[('E', 4, "arg-invalid")] },
    Row { rule: "sanityCheckVlanID: Python int()", ks: concat!(base!(), "network --bootproto=dhcp --vlanid=\" 1_0\"\n"), want: &[] },
    Row { rule: "getNetworkGrammar: --addvmportgroup is 0, 1, true or false", ks: concat!(base!(), "network --bootproto=dhcp --addvmportgroup=yes\n"), want: &[('W', 4, "arg-invalid")] },
    Row { rule: "addBranch: a second network command warns", ks: concat!(full!(), "network --bootproto=dhcp --device=vmnic1\n"), want: &[('W', 5, "command-duplicate")] },
    // --- rootpw (doRootpw, users.py sanityCheckPassword, passwdqc).
    Row { rule: "doRootpw: a password is required", ks: concat!(norootpw!(), "rootpw --iscrypted\n"), want: &[('E', 4, "arg-missing")] },
    Row { rule: "doRootpw: an empty password fails", ks: concat!(norootpw!(), "rootpw \"\"\n"), want: &[('W', 4, "arg-no-value"), ('E', 4, "rootpw-empty")] },
    Row { rule: "collectHangingArgs: only the last word is the password", ks: concat!(norootpw!(), "rootpw my Pass 1A!\n"), want: &[('W', 4, "arg-unknown"), ('W', 4, "arg-unknown"), ('A', 4, "rootpw-words"), ('E', 4, "rootpw-weak")] },
    Row { rule: "sanityCheckPassword: 7 to 40 characters", ks: concat!(norootpw!(), "rootpw Ab1!\n"), want: &[('E', 4, "rootpw-weak")] },
    Row { rule: "sanityCheckPassword: ASCII only", ks: concat!(norootpw!(), "rootpw Passw\u{f6}rd1!\n"), want: &[('W', 4, "non-ascii"), ('E', 4, "rootpw-weak")] },
    Row { rule: "pwqcheck: three classes; a leading capital and trailing digit don't count", ks: concat!(norootpw!(), "rootpw Password1\n"), want: &[('E', 4, "rootpw-weak")] },
    Row { rule: "pwqcheck: enough different characters", ks: concat!(norootpw!(), "rootpw aaaaA1!\n"), want: &[('E', 4, "rootpw-weak")] },
    Row { rule: "pwqcheck: a strong plain password", ks: concat!(norootpw!(), "rootpw \"my Pass 1A!\"\n"), want: &[] },
    Row { rule: "RegexLocator.sha512: $6$, salt up to 16, 86 characters", ks: concat!(norootpw!(), "rootpw --iscrypted $6$$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0\n"), want: &[] },
    Row { rule: "RegexLocator.sha512: no rounds=", ks: concat!(norootpw!(), "rootpw --iscrypted $6$rounds=5000$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0\n"), want: &[('E', 4, "rootpw-crypted-invalid")] },
    Row { rule: "doRootpw: $5$ and $y$ are not accepted", ks: concat!(norootpw!(), "rootpw --iscrypted $5$salt$abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\n"), want: &[('E', 4, "rootpw-crypted-invalid")] },
    Row { rule: "doRootpw: any 13 characters pass as DES", ks: concat!(norootpw!(), "rootpw --iscrypted abJnggxhB/yW!\n"), want: &[] },
    Row { rule: "RegexLocator.md5: a $1$ cut short passes the installer", ks: concat!(norootpw!(), "rootpw --iscrypted $1$rkH/n0Aw$w1BC4WjBK940LWIqraJ4/\n"), want: &[('A', 4, "rootpw-md5-incomplete")] },
    Row { rule: "buildBranch: --iscrypted=true is dropped, the hash checked as plain", ks: concat!(norootpw!(), "rootpw --iscrypted=true $6$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0\n"), want: &[('W', 4, "arg-takes-no-value"), ('E', 4, "rootpw-weak")] },
];

#[test]
fn lint_says_what_the_installer_says() {
    let mut failures = String::new();
    for row in ROWS {
        let mut got: Vec<(char, usize, &str)> = lint(row.ks)
            .iter()
            .map(|d| (kind(d), d.line, d.code))
            .collect();
        let mut want = row.want.to_vec();
        got.sort();
        want.sort();
        if got != want {
            failures.push_str(&format!(
                "--- {}\n{}\n    got:  {got:?}\n    want: {want:?}\n",
                row.rule, row.ks
            ));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[test]
fn command_limit_counts_known_commands_only() {
    let head = concat!(full!(), "foo\n");
    // 4 + 252 known = 256: fine; unknown commands and script lines do not count.
    let at_limit = format!("{head}{}", "part x --ondisk=d\n".repeat(252));
    let diags = lint(&at_limit);
    assert!(!diags.iter().any(|d| d.code == "too-many-commands"));
    // Deprecated commands count.
    let over = format!("{at_limit}autopart\n");
    let diags = lint(&over);
    let limit: Vec<_> = diags
        .iter()
        .filter(|d| d.code == "too-many-commands")
        .collect();
    assert_eq!(limit.len(), 1);
    assert_eq!(limit[0].line, 258);
    assert_eq!(limit[0].severity, Severity::Error);
}

/// Every code lint's `RULES` lists, in every kind it may take, has a row
/// above (or, for the command limit, the test below), and no row gives a
/// code a kind `RULES` does not allow: the installer's verdict and
/// esxi-iso's advice are never mixed up.
#[test]
fn every_rule_has_a_row_for_each_kind_it_takes() {
    let mut seen: Vec<(char, &str)> = ROWS
        .iter()
        .flat_map(|r| r.want.iter().map(|(k, _, c)| (*k, *c)))
        .collect();
    seen.push(('E', "too-many-commands"));
    let mut missing = Vec::new();
    for (code, kinds) in RULES {
        for k in kinds.chars() {
            if !seen.contains(&(k, code)) {
                missing.push(format!("{k} {code}"));
            }
        }
    }
    assert!(missing.is_empty(), "no row for: {missing:?}");
    for (k, code) in &seen {
        let allowed = RULES.iter().find(|(c, _)| c == code).map(|(_, k)| *k);
        assert!(
            allowed.is_some_and(|a| a.contains(*k)),
            "a row gives {code} the kind {k}, RULES {allowed:?}"
        );
    }
}
