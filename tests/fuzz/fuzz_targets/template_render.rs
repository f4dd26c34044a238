//! Fuzz target: a `.tera` template as a user writes it, through
//! `kickstart::render` (the guard's scan, limits, macro checks and loop
//! steps, then Tera) with a fixed set of variables. Differential: when the
//! guarded render succeeds, Tera's own render of the text as written must
//! give the same bytes (the loop steps change nothing), and a refusal must
//! never be the guard reporting that its scan and Tera's parser counted
//! the loops differently. A stack overflow or a hang is a crash or a
//! timeout here.
#![no_main]

use std::sync::OnceLock;

use esxi_iso::kickstart::{self, Vars};
use libfuzzer_sys::fuzz_target;

#[path = "../../common/tera_plain.rs"]
mod tera_plain;

const HASH: &str = "$6$fuzzsalt$TMAdpzXePxLUFyzhbszyG7PEYcOkSrx8gK/JwqZ/qtZjsDmpAWbYDF41z.P3owQTu0fV.h8j3SLR5H1R0lr9n/";

fn vars() -> &'static (Vars, tera::Context) {
    static VARS: OnceLock<(Vars, tera::Context)> = OnceLock::new();
    VARS.get_or_init(|| {
        let mut v = Vars::default();
        for (k, val) in [
            ("root_password", HASH),
            ("hostname", "esx01"),
            ("domain", "lab.local"),
            ("ip", "10.0.0.11/24"),
            ("gateway", "10.0.0.1"),
            ("nameservers", "10.0.0.2,10.0.0.3"),
            ("ntp_servers", "pool.ntp.org,time.example"),
            ("enable_ssh", "true"),
        ] {
            v.insert_str(k, val).unwrap();
        }
        let ctx = v.context().unwrap();
        (v, ctx)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (vars, ctx) = vars();
    match kickstart::render("t", text, vars) {
        Ok(out) => assert_eq!(
            Some(&out),
            tera_plain::render(text, ctx).as_ref(),
            "the guarded render differs from Tera's"
        ),
        Err(e) => {
            let msg = format!("{e:#}");
            assert!(!msg.contains("could not count"), "{msg}");
        }
    }
});
