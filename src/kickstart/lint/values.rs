//! Value checks of the installer's kickstart grammar: addresses, netmasks,
//! host names, VLAN ids, crypted and plain root passwords.
//!
//! Each function states the rule the installer applies, as read in weasel's
//! `networking/utils.py` (`sanityCheck*`), `util/regexlocator.py` (the crypt
//! and serial number patterns), `users.py` (`sanityCheckPassword`) and the
//! passwdqc rules it calls through `pwqcheck`. Errors are returned as the
//! installer's own words (its messages are what a user finds in
//! `esxi_install.log`); callers add what to do about them.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Python's `int()` on a string: surrounding whitespace, one sign, digits
/// with single underscores between them. Returns `None` where Python raises
/// `ValueError`; saturates instead of growing without bound.
pub fn py_int(s: &str) -> Option<i64> {
    let t = s.trim_matches(|c: char| c.is_whitespace());
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut n: i64 = 0;
    for c in digits.chars() {
        match c {
            '_' => continue,
            '0'..='9' => {
                n = n
                    .saturating_mul(10)
                    .saturating_add(i64::from(c as u8 - b'0'))
            }
            _ => return None,
        }
    }
    Some(if neg { -n } else { n })
}

/// `sanityCheckIPString`: an IPv4 or (with a `:`) IPv6 unicast address.
/// The IPv4 loopback and multicast tests compare with 127.0.0.1 and a first
/// octet of 224 exactly, as the installer does.
pub fn ip_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("IP string can not be empty".into());
    }
    if s.contains(':') {
        let Ok(addr) = s.parse::<Ipv6Addr>() else {
            return Some(format!("IP address '{s}' is invalid"));
        };
        let first = addr.segments()[0];
        return if addr.is_loopback() {
            Some("IP address cannot be in the loopback network".into())
        } else if first >> 8 == 0xff {
            Some("IP address cannot be in the multicast network".into())
        } else if addr.is_unspecified() {
            Some("IP address cannot be all zeros (unspecified) network".into())
        } else if s.contains('.') {
            Some("IP address cannot be a mapped IPv4 in IPv6 address".into())
        } else if first & 0xffc0 == 0xfe80 {
            Some("IP address cannot be a scope local IPv6 address".into())
        } else {
            None
        };
    }
    let Ok(addr) = s.parse::<Ipv4Addr>() else {
        return Some(format!("IP address '{s}' is invalid"));
    };
    let o = addr.octets();
    if addr == Ipv4Addr::LOCALHOST {
        Some("IP address cannot be in the loopback network".into())
    } else if o[0] == 224 {
        Some("IP address cannot be in the multicast network".into())
    } else if addr.is_unspecified() {
        Some("IP address cannot be all zeros (unspecified) network".into())
    } else if addr.is_broadcast() {
        Some("IP address cannot be the broadcast network".into())
    } else if o[0] < 1 {
        Some("IP string contains an invalid first octet".into())
    } else {
        None
    }
}

/// `sanityCheckMultipleIPsString`: comma-separated addresses, each checked
/// as it is (a space after the comma makes the next one invalid).
pub fn ips_problem(s: &str) -> Option<String> {
    s.split(',').find_map(ip_problem)
}

/// `stringToOctets`: each dot-separated part through Python's `int()`.
fn octets(s: &str) -> Option<Vec<i64>> {
    s.split('.').map(py_int).collect()
}

/// `sanityCheckNetmaskString`: a dotted mask of contiguous one bits (only the
/// low eight bits of each part are examined), or a non-negative prefix
/// length.
pub fn netmask_problem(s: &str) -> Option<String> {
    if !s.contains('.') {
        return match py_int(s) {
            None => Some(format!("invalid literal for int() with base 10: '{s}'")),
            Some(v) if v < 0 => Some(format!("Netmask must be a positive value ({v})")),
            Some(_) => None,
        };
    }
    let Some(parts) = octets(s) else {
        return Some("IP string had non-numeric characters".into());
    };
    if parts.len() != 4 {
        return Some(format!("Netmask ({s}) did not contain four octets"));
    }
    if parts[0] == 0 {
        return Some("First octet was empty".into());
    }
    let mut zero = false;
    for part in parts {
        for bit in (0..8).rev() {
            let one = (part >> bit) & 1 == 1;
            if one && zero {
                return Some(format!("Netmask ({s}) is invalid"));
            }
            zero |= !one;
        }
    }
    None
}

/// `sanityCheckHostname` (RFC 1034 labels; a leading digit is allowed).
pub fn hostname_problem(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("Hostname must be at least one character".into());
    }
    if s.chars().count() > 255 {
        return Some("Hostname must be less than 256 characters".into());
    }
    for label in s.trim_end_matches('.').split('.') {
        let chars: Vec<char> = label.chars().collect();
        let (Some(&first), Some(&last)) = (chars.first(), chars.last()) else {
            return Some("Hostname labels must not be empty".into());
        };
        if chars.len() > 63 {
            return Some("Hostname labels must be less than 64 characters".into());
        }
        if !first.is_ascii_alphanumeric() {
            return Some("Hostname labels must begin with a letter".into());
        }
        if !last.is_ascii_alphanumeric() {
            return Some(format!(
                "Hostname labels must end with either a letter or digit, not a '{last}'"
            ));
        }
        if chars.len() > 2
            && !chars[1..chars.len() - 1]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == '-')
        {
            return Some("Hostname labels must only contain letters, digits, and hyphens".into());
        }
    }
    None
}

/// `sanityCheckVlanID`: Python `int()` of the value, 0 to 4095.
pub fn vlan_problem(s: &str) -> Option<String> {
    match py_int(s) {
        Some(0..=4095) => None,
        _ => Some("Vlan ID must be a number from 0 to 4095".into()),
    }
}

/// The IPv4 number of a dotted string, as `ipStringToNumber` reads it.
pub fn ipv4_number(s: &str) -> Result<u32, String> {
    if s.contains(':') {
        return Err("Expected IPv4, received an IPv6 address".into());
    }
    let parts = octets(s).ok_or("IP string had non-numeric characters")?;
    if parts.len() != 4 {
        return Err("IPv4 string is invalid".into());
    }
    Ok(parts
        .iter()
        .fold(0u32, |acc, p| acc.wrapping_shl(8) | (*p as u32 & 0xff)))
}

/// The classful netmask the installer picks when `--netmask` is missing
/// (`calculateNetmask`).
pub fn classful_netmask(ip: &str) -> &'static str {
    if ip.contains(':') {
        return "64";
    }
    match ip.split('.').next().and_then(py_int) {
        Some(n) if n < 128 => "255.0.0.0",
        Some(n) if n < 192 => "255.255.0.0",
        _ => "255.255.255.0",
    }
}

/// The gateway the installer picks when `--gateway` is missing: the last
/// address before the broadcast address (`calculateGateway`).
pub fn computed_gateway(ip: &str, netmask: &str) -> Result<String, String> {
    let ip = ipv4_number(ip)?;
    let nm = ipv4_number(netmask)?;
    let gw = ((ip & nm) | !nm).wrapping_sub(1);
    Ok(Ipv4Addr::from(gw).to_string())
}

/// `sanityCheckIPSettings` for an IPv4 address: the address and gateway are
/// neither the network nor the broadcast address (unless the mask is /32)
/// and share the network.
pub fn ip_settings_problem(ip: &str, netmask: &str, gateway: &str) -> Option<String> {
    if let Some(p) = netmask_problem(netmask).or_else(|| ip_problem(gateway)) {
        return Some(p);
    }
    if !ip.contains('.') {
        return None;
    }
    let numbers =
        ipv4_number(ip).and_then(|i| Ok((i, ipv4_number(netmask)?, ipv4_number(gateway)?)));
    let (i, nm, gw) = match numbers {
        Ok(n) => n,
        Err(e) => return Some(e),
    };
    if nm != u32::MAX {
        for (addr, what) in [(i, "IP"), (gw, "Gateway")] {
            if addr & nm == addr {
                return Some(format!("{what} address corresponds to the network address"));
            }
            if addr & !nm == !nm {
                return Some(format!(
                    "{what} address corresponds to the broadcast address"
                ));
            }
        }
    }
    if i & nm != gw & nm {
        return Some("IP and Gateway are not on the same network".into());
    }
    None
}

fn crypt_chars(s: &str, extra: &[char]) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/' || extra.contains(&c))
}

/// The installer's `--iscrypted` rule (`doRootpw` with `RegexLocator.md5`
/// and `.sha512`): `$1$` and 22 to 31 characters of `[a-zA-Z0-9./$]`;
/// `$6$`, a salt of at most 16 `[a-zA-Z0-9./]`, `$`, and exactly 86 more;
/// or any 13 characters not starting with `$1$` or `$6$` (DES). So
/// `$6$rounds=5000$...` is refused, and a `$1$` hash cut short can pass.
pub fn crypted_accepted(hash: &str) -> bool {
    if let Some(rest) = hash.strip_prefix("$1$") {
        let n = rest.chars().count();
        return (22..=31).contains(&n) && crypt_chars(rest, &['$']);
    }
    if let Some(rest) = hash.strip_prefix("$6$") {
        return match rest.split_once('$') {
            Some((salt, digest)) => {
                salt.chars().count() <= 16
                    && crypt_chars(salt, &[])
                    && digest.chars().count() == 86
                    && crypt_chars(digest, &[])
            }
            None => false,
        };
    }
    hash.chars().count() == 13
}

/// Whether an accepted `$1$` value has the shape MD5-crypt writes (a salt of
/// at most 8 characters, then 22): the installer's pattern also lets through
/// hashes cut short, which no password then matches.
pub fn md5_complete(hash: &str) -> bool {
    match hash.strip_prefix("$1$").and_then(|r| r.split_once('$')) {
        Some((salt, digest)) => {
            salt.chars().count() <= 8 && digest.chars().count() == 22 && !digest.contains('$')
        }
        None => !hash.starts_with("$1$"),
    }
}

/// passwdqc's `expected_different`: the expected number of different
/// characters in a random password of `length` from `charset` symbols, in
/// 15-bit fixed point and rounded down, as passwdqc computes it.
fn expected_different(charset: u64, length: u32) -> u64 {
    const BITS: u32 = 15;
    let x = ((charset - 1) << BITS) / charset;
    let mut y = x;
    for _ in 1..length {
        y = (y * x) >> BITS;
    }
    (charset * ((1 << BITS) - y)) >> BITS
}

/// `sanityCheckPassword(pwqcheck=True)` with ESXi's default passwdqc policy
/// `min=disabled,disabled,disabled,7,7`: 7 to 40 characters from ASCII
/// letters, digits, punctuation and space; at least three character classes
/// (an uppercase first character and a digit last character do not count
/// for their class); and enough different characters for the length.
/// passwdqc's dictionary and common-sequence checks are not modelled.
pub fn password_problem(pw: &str) -> Option<&'static str> {
    let len = pw.chars().count();
    if len < 7 {
        return Some("Password must be at least 7 characters long.");
    }
    if len > 40 {
        return Some("Password must be less than 41 characters long.");
    }
    if !pw.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Some("Password may only contain ASCII characters.");
    }
    let bytes = pw.as_bytes();
    let count = |f: fn(&u8) -> bool| bytes.iter().filter(|b| f(b)).count();
    let mut uppers = count(u8::is_ascii_uppercase);
    let mut digits = count(u8::is_ascii_digit);
    let lowers = count(u8::is_ascii_lowercase);
    let others = bytes.len() - uppers - digits - lowers;
    if bytes[0].is_ascii_uppercase() {
        uppers -= 1;
    }
    if bytes[bytes.len() - 1].is_ascii_digit() {
        digits -= 1;
    }
    let classes = [uppers, digits, lowers, others]
        .iter()
        .filter(|n| **n > 0)
        .count();
    let mut different: Vec<u8> = bytes.to_vec();
    different.sort_unstable();
    different.dedup();
    // Three classes are checked against a 62-symbol set, four against 95;
    // a four-class password that fails the latter is tried as three-class.
    let enough = classes >= 3 && different.len() as u64 + 1 >= expected_different(62, 7);
    if enough {
        None
    } else {
        Some("Password does not have enough character types.")
    }
}

/// `RegexLocator.serialnum`: five groups of five word characters.
pub fn serial_ok(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .all(|g| g.chars().count() == 5 && g.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int() {
        for (s, want) in [
            ("24", Some(24)),
            (" 7 ", Some(7)),
            ("+5", Some(5)),
            ("-0", Some(0)),
            ("1_0", Some(10)),
            ("1__0", None),
            ("_1", None),
            ("", None),
            ("0x10", None),
            ("ten", None),
            ("99999999999999999999999", Some(i64::MAX)),
        ] {
            assert_eq!(py_int(s), want, "{s:?}");
        }
    }

    #[test]
    fn passwdqc_numbers() {
        // passwdqc's own values for its defaults: 62 symbols at length 7
        // expect 6 different characters, 95 symbols also 6.
        assert_eq!(expected_different(62, 7), 6);
        assert_eq!(expected_different(95, 7), 6);
        assert_eq!(expected_different(10, 7), 5);
    }

    #[test]
    fn passwords() {
        for (pw, ok) in [
            ("VMware1!", true),
            ("rnfma1!", true),
            ("vm@re01", true),
            ("(Ding058yan)", true),
            ("minecraft.1520", true),
            ("Password1", false),
            ("vagrant", false),
            ("<PASSWORD>", false),
            ("aaaaA1!", false),
            ("abcA1!x", true),
            ("Ab1!", false),
        ] {
            assert_eq!(password_problem(pw).is_none(), ok, "{pw}");
        }
    }

    #[test]
    fn hashes() {
        let sha = "$6$4kQ9cXbq2Lr8Zt1w$HpcDpKWZmkVpGYepNoJBD4GamEyF8IIhFqYwx25MF/KrMvP72dLFujKXvXFNbYv168/rGbtE2cm9r4WYT7zEX0";
        assert!(crypted_accepted(sha));
        assert!(!crypted_accepted(&sha.replace("$6$", "$6$rounds=5000$")));
        assert!(crypted_accepted("$1$rkH/n0Aw$w1BC4WjBK940LWIqraJ4/"));
        assert!(!md5_complete("$1$rkH/n0Aw$w1BC4WjBK940LWIqraJ4/"));
        assert!(md5_complete("$1$DK/hzmaO$ZFEGEeAv3rNc8gqvhY2it1"));
        assert!(crypted_accepted("VMware1!abcde"));
        assert!(!crypted_accepted("1;Azerty!"));
    }

    #[test]
    fn addresses() {
        assert_eq!(ip_problem("127.0.0.2"), None);
        assert!(ip_problem("127.0.0.1").is_some());
        assert_eq!(ip_problem("225.0.0.1"), None);
        assert!(ip_problem("0.1.2.3").is_some());
        assert!(ip_problem("010.1.2.3").is_some());
        assert_eq!(ip_problem("2001:db8::1"), None);
        assert!(ip_problem("fe80::1").is_some());
        assert!(ips_problem("10.0.0.2, 10.0.0.3").is_some());
        assert_eq!(netmask_problem("24"), None);
        assert!(netmask_problem("255.0.255.0").is_some());
        assert_eq!(
            ip_settings_problem("10.0.0.5", "24", "10.0.0.1").as_deref(),
            Some("IPv4 string is invalid")
        );
        assert_eq!(
            computed_gateway("192.168.1.7", "255.255.255.0").unwrap(),
            "192.168.1.254"
        );
        assert!(hostname_problem("esx_01").is_some());
        assert_eq!(hostname_problem("1esx.lab."), None);
        assert!(serial_ok("XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"));
        assert!(!serial_ok("XXXX-XXXX-XXXX-XXXX-XXXX"));
    }
}
