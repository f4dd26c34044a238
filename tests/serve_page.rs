//! The status page in a real browser: Debian's headless Chromium loads
//! `/` from `esxi-iso serve`, runs the page's script (which fetches
//! `/.esxi-iso/status.json`), and its DOM must show each host's state
//! after reports; a screenshot is kept in the target folder
//! (`serve-page.png`) for a person to look at.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::server::{fetch, Server};
use common::tools;

fn chromium(user_dir: &Path, extra: &[&str], url: &str) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Lets the page's fetch and timers run before the DOM is read.
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", user_dir.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("running chromium")
}

/// The text of each cell of the row `<tr id="host-NAME">`, tags removed.
fn row(dom: &str, host: &str) -> Vec<String> {
    let start = dom
        .find(&format!("<tr id=\"host-{host}\">"))
        .unwrap_or_else(|| panic!("no row for {host} in\n{dom}"));
    let end = start + dom[start..].find("</tr>").unwrap();
    dom[start..end]
        .split("<td")
        .skip(1)
        .map(|cell| {
            let mut text = String::new();
            let mut in_tag = true;
            for c in cell.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text
        })
        .collect()
}

#[test]
fn status_page_shows_the_hosts_in_chromium() {
    if !tools::require(&["chromium", "curl"]) {
        return;
    }
    let work = common::fixture::work_dir("serve-page");
    let lab = work.path().join("lab");
    fs::create_dir(&lab).unwrap();
    let mut hosts = Vec::new();
    for h in ["esx01", "esx02", "esx03"] {
        fs::write(lab.join(format!("{h}.iso")), h).unwrap();
        hosts.push(format!("{{\"hostname\":\"{h}\",\"file\":\"{h}.iso\"}}"));
    }
    fs::write(
        lab.join("manifest.json"),
        format!("{{\"source\":\"x\",\"hosts\":[{}]}}", hosts.join(",")),
    )
    .unwrap();
    let secret = esxi_iso::report::Secret::generate().unwrap();
    secret.store(&lab.join(".esxi-iso")).unwrap();
    let s = Server::start(&lab, &["-q"]);
    let report = |host: &str, event: &str, addr: &str| {
        let url = format!(
            "{}/.esxi-iso/report?host={host}&event={event}&token={}&addr={addr}",
            s.url,
            secret.token(host)
        );
        assert_eq!(fetch(&[&url]).0, 200);
    };
    assert_eq!(fetch(&[&format!("{}/esx03.iso", s.url)]).0, 200);
    report("esx01", "installing", "");
    report("esx01", "installed", "");
    report("esx01", "booted", "10.0.0.11");
    report("esx02", "installing", "");

    let profile = work.path().join("chromium");
    let out = chromium(&profile, &["--dump-dom"], &format!("{}/", s.url));
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r1 = row(&dom, "esx01");
    assert_eq!(r1[0], "esx01");
    assert_eq!(r1[1], "booted");
    assert_eq!(r1[3], "10.0.0.11");
    assert!(r1[5].starts_with("booted 20"), "{r1:?}");
    let r2 = row(&dom, "esx02");
    assert_eq!(
        (r2[1].as_str(), r2[3].as_str()),
        ("installing", "127.0.0.1")
    );
    let r3 = row(&dom, "esx03");
    assert_eq!(r3[1], "fetched");
    assert!(r3[4].starts_with("20"), "{r3:?}");
    assert!(dom.contains("1 of 3 hosts booted"), "{dom}");
    assert!(dom.contains("<div id=\"error\"></div>"), "{dom}");

    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    let _ = fs::remove_file(&png);
    let out = chromium(
        &profile,
        &[
            "--window-size=1100,420",
            &format!("--screenshot={}", png.display()),
        ],
        &format!("{}/", s.url),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1100, 420));
    eprintln!("screenshot: {}", png.display());
}
