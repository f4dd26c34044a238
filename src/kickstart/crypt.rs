//! SHA-512 crypt (`$6$`), as glibc's crypt(3) and ESXi's `rootpw
//! --iscrypted` read it (Ulrich Drepper, "Unix crypt using SHA-256 and
//! SHA-512", 2007), with the default 5000 rounds so no `rounds=` field.
//!
//! The salt never depends on the password: a salt derived from it would be
//! a fast, unslowed check of the password, letting anyone holding the ISO
//! test guesses at SHA-256 speed and skip the 5000 rounds. It is random
//! (the kernel's `getrandom`) unless the build is reproducible
//! (`SOURCE_DATE_EPOCH`), where it is derived from non-secret inputs only.
//! A `$6$`/`$1$` value passes through untouched.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256, Sha512};

const ROUNDS: usize = 5000;
const B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// True for values already hashed in a form ESXi accepts.
pub fn is_hashed(s: &str) -> bool {
    s.starts_with("$6$") || s.starts_with("$1$")
}

/// Where a `$6$` salt comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Salt {
    /// 96 random bits from the kernel: the default.
    #[default]
    Random,
    /// Reproducible builds: derived from these non-secret inputs and the
    /// host's name, so the same inputs give the same ISO.
    Derived(String),
}

impl Salt {
    /// Random, or derived from the epoch when `SOURCE_DATE_EPOCH` is set.
    pub fn for_epoch(source_date_epoch: Option<i64>) -> Salt {
        match source_date_epoch {
            Some(e) => Salt::Derived(format!("SOURCE_DATE_EPOCH={e}")),
            None => Salt::Random,
        }
    }

    /// The 16 salt characters for the host named `host` (its FQDN).
    fn characters(&self, host: &str) -> Result<String> {
        let mut bits = [0u8; 12];
        match self {
            Salt::Random => getrandom(&mut bits)?,
            Salt::Derived(inputs) => {
                let mut h = Sha256::new();
                h.update(b"esxi-iso rootpw salt v2\0");
                h.update(inputs.as_bytes());
                h.update([0]);
                h.update(host.as_bytes());
                bits.copy_from_slice(&h.finalize()[..12]);
            }
        }
        let mut out = String::with_capacity(16);
        for c in bits.chunks(3) {
            b64(&mut out, c[0], c[1], c[2], 4);
        }
        Ok(out)
    }
}

/// Hashes `password` for the host named `host`, with a salt from `salt`.
pub fn hash_password(password: &str, salt: &Salt, host: &str) -> Result<String> {
    let salt = salt.characters(host)?;
    Ok(sha512_crypt(password.as_bytes(), salt.as_bytes()))
}

/// Fills `buf` from the kernel's random source.
fn getrandom(buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        let rest = &mut buf[filled..];
        // SAFETY: the pointer and length describe `rest`, which we own.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("drawing a random salt for the root password (getrandom)");
        }
        filled += n as usize;
    }
    Ok(())
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

    fn salt_of(hash: &str) -> &str {
        hash.split('$').nth(2).expect("a $6$salt$hash value")
    }

    #[test]
    fn derived_salt_depends_on_inputs_and_host_never_on_the_password() {
        let epoch = Salt::for_epoch(Some(1_700_000_000));
        let a = hash_password("VMware1!", &epoch, "esx01").unwrap();
        assert_eq!(a, hash_password("VMware1!", &epoch, "esx01").unwrap());
        assert_ne!(a, hash_password("VMware1!", &epoch, "esx02").unwrap());
        let other = hash_password("Another#Secret9", &epoch, "esx01").unwrap();
        assert_eq!(
            salt_of(&a),
            salt_of(&other),
            "salt must not depend on the password"
        );
        assert_ne!(a, other);
        let later = Salt::for_epoch(Some(1_700_000_001));
        assert_ne!(
            salt_of(&a),
            salt_of(&hash_password("VMware1!", &later, "esx01").unwrap())
        );
        assert!(a.starts_with("$6$") && a.len() == 3 + 16 + 1 + 86, "{a}");
        assert!(!a.contains("VMware1!"));
        assert!(is_hashed(&a) && !is_hashed("VMware1!"));
    }

    #[test]
    fn random_salts_differ_and_use_the_crypt_alphabet() {
        let a = hash_password("VMware1!", &Salt::Random, "esx01").unwrap();
        let b = hash_password("VMware1!", &Salt::Random, "esx01").unwrap();
        assert_ne!(salt_of(&a), salt_of(&b));
        for h in [&a, &b] {
            let salt = salt_of(h);
            assert_eq!(salt.len(), 16, "{h}");
            assert!(salt.bytes().all(|c| B64.contains(&c)), "{h}");
            assert_eq!(*h, sha512_crypt(b"VMware1!", salt.as_bytes()));
        }
    }
}
