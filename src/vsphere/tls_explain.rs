//! TLS failures as sentences a user can act on: which check refused the
//! server's certificate (unknown issuer, a CA certificate used as the
//! server's own, a name it does not list, expired, not yet valid, a bad
//! signature, the wrong purpose) or why the handshake failed, each with
//! what to do (`--thumbprint` with the certificate's thumbprint,
//! `--ca-cert`, renew the certificate, fix a clock). Never Rust's `Debug`
//! form of an error: webpki's errors are matched, not printed.

use rustls::CertificateError;

use super::tls::{Key, Seen, Trust, LEGACY_NEEDED};

/// A failed handshake as a sentence that says what to do. `host` is the
/// server as the user named it; `seen` what the handshake showed.
pub(crate) fn explain(err: &rustls::Error, host: &str, trust: &Trust, seen: &Seen) -> String {
    let tp = seen.thumbprint.as_ref();
    let pin_hint = match tp {
        Some(t) => format!(
            "; if that certificate is your host's (compare its thumbprint in the \
             vSphere Client or on the host's console), pin it with --thumbprint {t}"
        ),
        None => String::new(),
    };
    if let Trust::Pinned(want) = trust {
        if tp != Some(want) {
            return format!(
                "TLS certificate of {host} does not match --thumbprint {want}{}",
                match tp {
                    Some(t) => format!(
                        " (the server presented {t}); check the thumbprint in the \
                         vSphere Client or the host's console (DCUI), or whether \
                         something is intercepting the connection"
                    ),
                    None => String::new(),
                }
            );
        }
        let key = seen.key.map(|k| k.to_string()).unwrap_or("key".into());
        return match seen.key {
            Some(Key::Rsa(bits)) if bits < 1024 => format!(
                "the certificate of {host} matches --thumbprint, but its {key} is too \
                 small to verify the server's handshake signature with (esxi-iso \
                 verifies RSA keys of 1024 bits and more): renew the host's \
                 certificate (ESXi: /sbin/generate-certificates, then restart \
                 hostd), or use --insecure in a throwaway lab"
            ),
            _ => format!(
                "the certificate of {host} matches --thumbprint, but the server's \
                 handshake signature does not verify with that certificate's {key} \
                 ({}): the server may not hold the certificate's private key; check \
                 whether something is intercepting the connection",
                handshake_reason(err)
            ),
        };
    }
    let ca_hint = "or give the CA that signed it with --ca-cert FILE";
    match err {
        rustls::Error::InvalidCertificate(e) => match e {
            CertificateError::UnknownIssuer => format!(
                "TLS certificate of {host} is not trusted: it is self-signed or signed \
                 by a CA that {} does not include{pin_hint}; {ca_hint}; --insecure \
                 skips the check",
                match trust {
                    Trust::CaFile(_) => "--ca-cert",
                    _ => "the built-in Mozilla root list",
                }
            ),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "TLS certificate of {host} is not issued for that name{}: give \
                     --server a name the certificate lists{pin_hint}",
                    match e {
                        CertificateError::NotValidForNameContext { presented, .. }
                            if !presented.is_empty() =>
                        {
                            format!(" (it lists {})", presented.join(", "))
                        }
                        _ => String::new(),
                    }
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => format!(
                "TLS certificate of {host} has expired{}: renew it (vCenter: \
                 Certificate Management in the vSphere Client; ESXi: \
                 /sbin/generate-certificates, then restart hostd){pin_hint}",
                match e {
                    CertificateError::ExpiredContext { not_after, .. } => {
                        format!(" (on {})", date(not_after.as_secs()))
                    }
                    _ => String::new(),
                }
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!(
                    "TLS certificate of {host} is not valid yet{}: check the clocks of \
                     this machine and of the server (NTP){pin_hint}",
                    match e {
                        CertificateError::NotValidYetContext { not_before, .. } => {
                            format!(" (from {})", date(not_before.as_secs()))
                        }
                        _ => String::new(),
                    }
                )
            }
            CertificateError::BadSignature => format!(
                "TLS certificate of {host} carries a signature that does not verify{}: \
                 renew the certificate{pin_hint}",
                match seen.key {
                    Some(Key::Rsa(bits)) if bits < 2048 =>
                        format!(" (its key is {bits}-bit RSA; certificate checks need 2048 bits)"),
                    _ => String::new(),
                }
            ),
            CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                format!(
                    "TLS certificate of {host} is signed with an algorithm esxi-iso does \
                     not accept (such as SHA-1, or an RSA key under 2048 bits): renew the \
                     certificate{pin_hint}"
                )
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                format!(
                    "TLS certificate of {host} is not meant for a TLS server (its \
                     extended key usage lacks serverAuth): renew it{pin_hint}"
                )
            }
            CertificateError::Revoked => {
                format!("TLS certificate of {host} has been revoked: replace it{pin_hint}")
            }
            CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki::Error::CaUsedAsEndEntity) => format!(
                    "TLS certificate of {host} is a CA certificate used as the server's own \
                     (a self-signed certificate marked CA:TRUE), which certificate \
                     checks refuse{pin_hint}; or give the server a certificate signed by \
                     that CA"
                ),
                Some(webpki::Error::UnsupportedCertVersion) => format!(
                    "TLS certificate of {host} is an old X.509 v1 certificate, which \
                     certificate checks refuse: renew it{pin_hint}"
                ),
                _ => format!(
                    "TLS certificate of {host} was refused by the certificate check \
                     (a malformed or unusual certificate){pin_hint}; {ca_hint}"
                ),
            },
            _ => format!(
                "TLS certificate of {host} was refused by the certificate check{pin_hint}; \
                 {ca_hint}"
            ),
        },
        other => format!(
            "TLS handshake with {host} failed: {}",
            handshake_reason(other)
        ),
    }
}

/// Why a handshake failed, as a clause.
fn handshake_reason(err: &rustls::Error) -> String {
    use rustls::AlertDescription as A;
    match err {
        rustls::Error::AlertReceived(A::HandshakeFailure | A::ProtocolVersion) => {
            "the server refused the handshake: it accepts none of the TLS versions and \
             ciphers esxi-iso offers (TLS 1.2 and 1.3 with AES-GCM or ChaCha20); hosts \
             before ESXi 6.7 may need TLS 1.2 turned on"
                .into()
        }
        rustls::Error::AlertReceived(_) => {
            "the server ended the handshake with an alert; its logs say why".into()
        }
        rustls::Error::PeerIncompatible(_) => {
            "the server and esxi-iso share no TLS version or cipher (esxi-iso needs \
             TLS 1.2 or 1.3)"
                .into()
        }
        rustls::Error::InvalidMessage(_) => {
            "the server does not speak TLS on this port: if it serves plain HTTP, \
             give --server http://...; otherwise check the port"
                .into()
        }
        rustls::Error::NoCertificatesPresented => "the server presented no certificate".into(),
        rustls::Error::InvalidCertificate(_) => {
            "the handshake signature does not verify with the certificate's key".into()
        }
        rustls::Error::General(msg) if msg == LEGACY_NEEDED => {
            "its RSA key is too small for the signature scheme negotiated, and the \
             retry in TLS 1.2 failed too"
                .into()
        }
        _ => "a protocol error in the handshake".into(),
    }
}

/// A Unix time as HTTP writes dates (`Tue, 15 Nov 1994 08:12:31 GMT`).
fn date(secs: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::vsphere::tls::Thumbprint;

    #[test]
    fn dates_read_as_http_dates() {
        assert_eq!(date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    }

    #[test]
    fn messages_never_show_debug_text() {
        let seen = Seen {
            thumbprint: Some(Thumbprint::sha1_of(b"x")),
            key: Some(Key::Rsa(2048)),
        };
        let ca = CertificateError::Other(rustls::OtherError(Arc::new(
            webpki::Error::CaUsedAsEndEntity,
        )));
        let errors = [
            rustls::Error::InvalidCertificate(ca),
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            rustls::Error::InvalidCertificate(CertificateError::Expired),
            rustls::Error::InvalidCertificate(CertificateError::BadSignature),
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
            rustls::Error::General("x".into()),
        ];
        for err in &errors {
            for trust in [Trust::Roots, Trust::Pinned(Thumbprint::sha1_of(b"x"))] {
                let text = explain(err, "esx01", &trust, &seen);
                for debug in [
                    "CaUsedAsEndEntity",
                    "OtherError",
                    "Other(",
                    "HandshakeFailure",
                    "{",
                    "\"(",
                ] {
                    assert!(!text.contains(debug), "{text}");
                }
            }
        }
        let text = explain(&errors[0], "esx01", &Trust::Roots, &seen);
        assert!(
            text.contains("a CA certificate used as the server's own"),
            "{text}"
        );
        assert!(text.contains("--thumbprint SHA1:"), "{text}");
    }
}
