//! MAC addresses of a lab's hosts: parsed as people write them, shown as
//! VMware and pxelinux do, and derived when the inventory gives none.
//!
//! A derived MAC is stable across runs (a hash of the lab's name, the
//! host's name and the NIC's number) and lies in VMware's range for
//! manually assigned MACs, 00:50:56:00:00:00 to 00:50:56:3F:FF:FF, the
//! only range vCenter and ESXi accept for a manual MAC (VMware KB 219,
//! "Setting a static MAC address for a virtual NIC").

use std::fmt;

use sha2::{Digest, Sha256};

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

/// VMware's OUI for MACs a user assigns by hand.
const VMWARE_OUI: [u8; 3] = [0x00, 0x50, 0x56];

impl Mac {
    /// `aa:bb:cc:dd:ee:ff`, `aa-bb-cc-dd-ee-ff` or `aabb.ccdd.eeff`, in
    /// either case.
    pub fn parse(s: &str) -> Result<Mac, String> {
        let hex: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ':' | '-' | '.'))
            .collect();
        let seps_ok = {
            let t = s.trim();
            let colon = t.split(':').count() == 6 && t.split(':').all(|p| p.len() == 2);
            let dash = t.split('-').count() == 6 && t.split('-').all(|p| p.len() == 2);
            let dot = t.split('.').count() == 3 && t.split('.').all(|p| p.len() == 4);
            colon || dash || dot
        };
        if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) || !seps_ok {
            return Err(format!(
                "{s:?} is not a MAC address: write six hex pairs, e.g. 00:50:56:01:02:03"
            ));
        }
        let mut b = [0u8; 6];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex");
        }
        let mac = Mac(b);
        if b[0] & 1 == 1 {
            return Err(format!(
                "{mac} is a multicast address (the lowest bit of its first byte is set): \
                 a NIC's MAC must be unicast"
            ));
        }
        if b == [0; 6] {
            return Err("00:00:00:00:00:00 is not a NIC's MAC".into());
        }
        Ok(mac)
    }

    /// The MAC of NIC `nic` (0 is the first, the boot NIC) of `host` in
    /// the lab named `lab`: stable, and in VMware's manual range.
    pub fn derived(lab: &str, host: &str, nic: u8) -> Mac {
        let mut h = Sha256::new();
        h.update(b"esxi-iso mac v1\0");
        h.update(lab.as_bytes());
        h.update([0]);
        h.update(host.to_ascii_lowercase().as_bytes());
        h.update([0, nic]);
        let d = h.finalize();
        Mac([
            VMWARE_OUI[0],
            VMWARE_OUI[1],
            VMWARE_OUI[2],
            d[0] & 0x3f,
            d[1],
            d[2],
        ])
    }

    /// In 00:50:56:00:00:00 - 00:50:56:3F:FF:FF, where vSphere accepts a
    /// manual MAC.
    pub fn is_vmware_manual(&self) -> bool {
        self.0[..3] == VMWARE_OUI && self.0[3] <= 0x3f
    }

    /// The folder name VMware's loader (as pxelinux) looks for first
    /// when booted over the network from this NIC: `01-aa-bb-cc-dd-ee-ff`
    /// (01 is Ethernet's hardware type).
    pub fn bootif(&self) -> String {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02x}")).collect();
        format!("01-{}", hex.join("-"))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let ok = [
            ("00:50:56:01:02:0A", "00:50:56:01:02:0a"),
            ("00-50-56-01-02-0a", "00:50:56:01:02:0a"),
            ("0050.5601.020a", "00:50:56:01:02:0a"),
            (" 52:54:00:12:34:56 ", "52:54:00:12:34:56"),
        ];
        for (input, want) in ok {
            assert_eq!(Mac::parse(input).unwrap().to_string(), want, "{input}");
        }
        for bad in [
            "00:50:56:01:02",
            "00:50:56:01:02:0g",
            "0050560102 0a",
            "005056:01:02:0a",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
        ] {
            assert!(Mac::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_macs_are_stable_manual_and_distinct() {
        let a = Mac::derived("lab", "esx01", 0);
        assert_eq!(a, Mac::derived("lab", "ESX01", 0));
        assert!(a.is_vmware_manual(), "{a}");
        assert_ne!(a, Mac::derived("lab", "esx01", 1));
        assert_ne!(a, Mac::derived("lab", "esx02", 0));
        assert_ne!(a, Mac::derived("lab2", "esx01", 0));
        // Fixed for good: a lab's VMs keep their MACs across versions.
        assert_eq!(
            Mac::derived("lab", "esx01", 0).to_string(),
            "00:50:56:08:3a:3d"
        );
        assert!(!Mac::parse("00:50:56:40:00:00").unwrap().is_vmware_manual());
        assert_eq!(
            Mac::parse("00:50:56:AA:BB:CC").unwrap().bootif(),
            "01-00-50-56-aa-bb-cc"
        );
    }
}
