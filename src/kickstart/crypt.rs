//! SHA-512 crypt (`$6$`), as glibc's crypt(3) and ESXi's `rootpw
//! --iscrypted` read it (Ulrich Drepper, "Unix crypt using SHA-256 and
//! SHA-512", 2007), with the default 5000 rounds so no `rounds=` field.
//!
//! The salt is derived from the inputs instead of drawn at random so that
//! the same inputs give a byte-identical ISO (see the README's Security
//! section for what that trades). A `$6$`/`$1$` value passes through.

use sha2::{Digest, Sha256, Sha512};

const ROUNDS: usize = 5000;
const B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// True for values already hashed in a form ESXi accepts.
pub fn is_hashed(s: &str) -> bool {
    s.starts_with("$6$") || s.starts_with("$1$")
}

/// Hashes `password` with a salt derived from `context` and the password.
pub fn hash_password(password: &str, context: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"esxi-iso rootpw salt v1\0");
    h.update(context.as_bytes());
    h.update([0]);
    h.update(password.as_bytes());
    let seed = h.finalize();
    let salt: String = seed[..16]
        .iter()
        .map(|b| B64[usize::from(b & 63)] as char)
        .collect();
    sha512_crypt(password.as_bytes(), salt.as_bytes())
}

/// `$6$<salt>$<hash>` for a salt of up to 16 characters.
pub fn sha512_crypt(pw: &[u8], salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(16)];
    let b = Sha512::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut a = Sha512::new().chain_update(pw).chain_update(salt);
    a.update(repeat(&b, pw.len()));
    let mut n = pw.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(b);
        } else {
            a.update(pw);
        }
        n >>= 1;
    }
    let a = a.finalize();
    let mut dp = Sha512::new();
    for _ in 0..pw.len() {
        dp.update(pw);
    }
    let p = repeat(&dp.finalize(), pw.len());
    let mut ds = Sha512::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(salt);
    }
    let s = repeat(&ds.finalize(), salt.len());
    let mut c = a;
    for i in 0..ROUNDS {
        let mut h = Sha512::new();
        if i % 2 == 1 {
            h.update(&p);
        } else {
            h.update(c);
        }
        if i % 3 != 0 {
            h.update(&s);
        }
        if i % 7 != 0 {
            h.update(&p);
        }
        if i % 2 == 1 {
            h.update(c);
        } else {
            h.update(&p);
        }
        c = h.finalize();
    }
    let mut out = format!("$6${}$", String::from_utf8_lossy(salt));
    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    for (x, y, z) in ORDER {
        b64(&mut out, c[x], c[y], c[z], 4);
    }
    b64(&mut out, 0, 0, c[63], 2);
    out
}

fn repeat(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

fn b64(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..n {
        out.push(B64[(w & 0x3f) as usize] as char);
        w >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_vectors() {
        // From Drepper's specification (default rounds).
        assert_eq!(
            sha512_crypt(b"Hello world!", b"saltstring"),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
        // Cross-checked with `openssl passwd -6 -salt saltsalt 'VMware1!'`.
        assert_eq!(
            sha512_crypt(b"VMware1!", b"saltsalt"),
            "$6$saltsalt$b5.OgiN7s.5aanbDajYEOeqm4.ogSvtwn1qN/LqXCu2MI675qfvHFoZZyor4Ef2MSmkRmH9.sebhExB7wL.88/"
        );
    }

    #[test]
    fn derived_salt_is_stable_and_context_bound() {
        let a = hash_password("VMware1!", "esx01");
        assert_eq!(a, hash_password("VMware1!", "esx01"));
        assert_ne!(a, hash_password("VMware1!", "esx02"));
        assert!(a.starts_with("$6$") && a.len() == 3 + 16 + 1 + 86, "{a}");
        assert!(!a.contains("VMware1!"));
        assert!(is_hashed(&a) && !is_hashed("VMware1!"));
    }
}
