//! SHA-512 crypt (`$6$`), as glibc's crypt(3) and ESXi's `rootpw
//! --iscrypted` read it (Ulrich Drepper, "Unix crypt using SHA-256 and
//! SHA-512", 2007), with the default 5000 rounds so no `rounds=` field.
//! The algorithm is RustCrypto's `sha-crypt`; this module adds what ESXi
//! needs around it: that form of the string, and where the salt comes from.
//!
//! The salt never depends on the password: a salt derived from it would be
//! a fast, unslowed check of the password, letting anyone holding the ISO
//! test guesses at SHA-256 speed and skip the 5000 rounds. It is random
//! (the kernel's `getrandom`) unless the build is reproducible
//! (`SOURCE_DATE_EPOCH`), where it is derived from non-secret inputs only.
//! A `$6$`/`$1$` value passes through untouched.

use anyhow::{anyhow, ensure, Context, Result};
use sha2::{Digest, Sha256};
use sha_crypt::{CustomizedPasswordHasher, Params, ShaCrypt};

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

    /// The 12 salt bytes for the host named `host` (its FQDN); their crypt
    /// base64 is the 16 salt characters.
    fn bytes(&self, host: &str) -> Result<[u8; 12]> {
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
        // esxi-iso first encoded each 3-byte group most significant byte
        // first; crypt's base64 starts with the least significant one.
        // Reversing each group keeps every derived salt, and so every
        // reproducible build, as it was.
        for group in bits.chunks_mut(3) {
            group.reverse();
        }
        Ok(bits)
    }
}

/// Hashes `password` for the host named `host`, with a salt from `salt`.
pub fn hash_password(password: &str, salt: &Salt, host: &str) -> Result<String> {
    sha512_crypt(password.as_bytes(), &salt.bytes(host)?)
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

/// `$6$<salt>$<hash>` at the default 5000 rounds, the salt characters
/// being the crypt base64 of `salt` (at most 12 bytes).
pub fn sha512_crypt(pw: &[u8], salt: &[u8]) -> Result<String> {
    let hash = ShaCrypt::SHA512
        .hash_password_customized(pw, salt, None, None, Params::RECOMMENDED)
        .map_err(|e| anyhow!("hashing the root password: {e}"))?;
    // sha-crypt always writes `rounds=`; glibc and `openssl passwd -6` leave
    // it out at the default, and that is the form kept here.
    let mut fields = hash.as_password_hash_ref().fields();
    let (Some(rounds), Some(salt), Some(digest), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(anyhow!(
            "sha-crypt returned an unexpected form: {}",
            hash.as_str()
        ));
    };
    ensure!(
        rounds.as_str() == "rounds=5000",
        "sha-crypt used {} instead of the default rounds",
        rounds.as_str()
    );
    Ok(format!("$6${}${}", salt.as_str(), digest.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crypt(3) base64 alphabet.
    const B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    #[test]
    fn matches_reference_vectors() {
        use sha_crypt::PasswordVerifier;
        // From Drepper's specification (default rounds). Its salt is not the
        // base64 of whole bytes, so it cannot be produced from salt bytes:
        // the crate that hashes for us checks it.
        ShaCrypt::SHA512
            .verify_password(
                b"Hello world!",
                "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            )
            .unwrap();
        // Cross-checked with `openssl passwd -6 -salt saltsalt 'VMware1!'`;
        // these 6 bytes are what "saltsalt" decodes to.
        assert_eq!(
            sha512_crypt(b"VMware1!", &[0xb8, 0x19, 0xe7, 0xb8, 0x19, 0xe7]).unwrap(),
            "$6$saltsalt$b5.OgiN7s.5aanbDajYEOeqm4.ogSvtwn1qN/LqXCu2MI675qfvHFoZZyor4Ef2MSmkRmH9.sebhExB7wL.88/"
        );
        // A derived salt, computed outside esxi-iso (Python: the SHA-256 of
        // the salt inputs, crypt base64 of its first 12 bytes; then `openssl
        // passwd -6`): reproducible builds keep their bytes.
        assert_eq!(
            hash_password("VMware1!", &Salt::for_epoch(Some(1_700_000_000)), "esx01").unwrap(),
            "$6$4WHwXM0iC8sCkjNM$xWxYka7UNBWTzXs0mnEqp0HmB882ZQ96UyTsJ9VjfqsjGfey7Yuv5Ucb31teYPk3Pk0syeXKs/UyZy.8kzgUi1"
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
            sha_crypt::PasswordVerifier::verify_password(
                &ShaCrypt::SHA512,
                b"VMware1!",
                h.as_str(),
            )
            .unwrap();
        }
    }
}
