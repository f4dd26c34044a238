//! `esxi-iso serve DIR`: an HTTP(S) server for a lab directory (what
//! `build --inventory` and `vcsp` write): the ISOs for firmware HTTP boot,
//! vCenter and download tools, a VCSP tree as is, install reports from the
//! hosts, and a status page.
//!
//! Stack and why: its own HTTP/1.1 connection loop (`conn`: firmware,
//! vCenter, curl and busybox speak HTTP/1.1; file bodies go out with
//! sendfile(2), which a library that owns the socket cannot do) on tokio, tokio-rustls with
//! ring (the provider the project already uses for its TLS clients) for
//! `--tls-cert`/`--tls-key`, `http-range-header` (the parser tower-http
//! uses) for Range, `httpdate` for dates. No router or file-serving crate:
//! tower-http's ServeDir has no ETag, If-None-Match or If-Range and serves
//! hidden files; the few routes here are a match.
//!
//! Limits that keep slow or broken clients from hurting others: at most
//! `max_connections` at once (more wait in the kernel's backlog), a header
//! read timeout and a 16 KiB header buffer (431 past it), an idle
//! timeout on every connection (`io::Idle`), a TLS handshake timeout,
//! request bodies never read. Ctrl-C or SIGTERM stops accepting, lets
//! running requests finish for a few seconds, then exits.
//!
//! Writes only into `DIR/.esxi-iso/` (the event log); reads the report
//! secret from there. The submodules: `files` (what may be served, and
//! how), `http` (routes), `events` (the log), `status` (rows per host),
//! `io` (idle timeout, file bodies).
//!
//! What it says goes to the command: the start-up ([`Listening`]) and the
//! stop through a callback, which prints them as text or JSON; the access
//! log ([`AccessLog`]) as text lines on stderr or JSON lines on stdout
//! (`serve --json`: one object per line, nothing else on stdout).

pub mod conn;
pub mod events;
pub mod files;
pub mod http;
pub mod installer;
pub mod io;
pub mod status;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::failure::{self, Failure, Tag};
use crate::report::{self, Secret};
use crate::warning::Warning;

/// How long running requests may go on after Ctrl-C.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub listen: SocketAddr,
    /// PEM certificate chain and private key.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_connections: usize,
    /// Header read timeout and idle timeout.
    pub timeout: Duration,
    pub access: AccessLog,
}

/// How requests (and failed TLS handshakes) are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLog {
    Off,
    /// `PEER METHOD PATH STATUS` on stderr.
    Text,
    /// `{"event": "request", ...}` lines on stdout.
    Json,
}

/// The server is up: where, and the URL of each host's ISO.
#[derive(Debug, Clone, Serialize)]
pub struct Listening {
    /// The served directory, canonical.
    pub dir: PathBuf,
    /// `http://ADDR:PORT/`, the status page.
    pub url: String,
    /// Bound to 0.0.0.0 or `[::]`: clients use this machine's own address.
    pub every_address: bool,
    /// Bound to a loopback address: no VM can reach it.
    #[serde(skip)]
    pub loopback: bool,
    pub hosts: Vec<HostUrl>,
    /// Reports are accepted only once `build --report-to` made a secret.
    pub report_secret: bool,
    /// What the user must know before the hosts boot (the lab's
    /// kickstarts report where this server does not listen).
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HostUrl {
    pub host: String,
    /// Its ISO, or (network install) the URL its firmware boots.
    pub url: String,
    /// The boot NIC's MAC of a network-install host, else null.
    pub mac: Option<String>,
}

impl Listening {
    /// The start-up lines as text.
    pub fn lines(&self) -> Vec<String> {
        let mut v = vec![format!(
            "serving {} on {} (status page at /)",
            self.dir.display(),
            self.url
        )];
        if self.every_address {
            v.push(
                "  listening on every address: VMs use this machine's address as they see it"
                    .into(),
            );
        } else if self.loopback {
            v.push(
                "  listening on this machine's loopback only: VMs cannot reach it; serve them \
                 with --listen 0.0.0.0:PORT"
                    .into(),
            );
        }
        for h in &self.hosts {
            match &h.mac {
                Some(mac) => v.push(format!(
                    "  {:<16} {} (network install, MAC {mac})",
                    h.host, h.url
                )),
                None => v.push(format!("  {:<16} {}", h.host, h.url)),
            }
        }
        if !self.report_secret {
            v.push(
                "  no report secret yet: reports are refused until `build --report-to` makes one"
                    .into(),
            );
        }
        v
    }
}

/// What the server tells its command: it is up, or it stopped.
#[derive(Debug, Clone)]
pub enum Notice<'a> {
    Listening(&'a Listening),
    Stopped,
}

/// A warning while serving: a `{"event": "warning", ...}` line with
/// `--json`, else on stderr.
pub fn warn(access: AccessLog, w: &Warning) {
    if access == AccessLog::Json {
        let mut v = serde_json::to_value(w).unwrap_or_default();
        v["event"] = json!("warning");
        json_line(&v);
    } else {
        eprintln!("esxi-iso: {}", w.render());
    }
}

/// Where the lab's kickstarts report ([`report::urls`]) that this server,
/// bound to `bound` with `scheme`, cannot receive: another port or
/// scheme, an address it does not listen on, or a loopback-only server.
pub fn report_address_warnings(urls: &[String], bound: SocketAddr, scheme: &str) -> Vec<Warning> {
    address_problems(
        urls,
        bound,
        scheme,
        (
            "the lab's kickstarts report to",
            "their reports will not arrive",
            "--report-to",
        ),
    )
    .into_iter()
    .map(|m| Warning::advice("report-address", m))
    .collect()
}

/// The same for the URLs network-install hosts boot from.
pub fn netboot_address_warnings(urls: &[String], bound: SocketAddr, scheme: &str) -> Vec<Warning> {
    address_problems(
        urls,
        bound,
        scheme,
        (
            "the lab's hosts boot from",
            "they cannot load their installer",
            "--netboot",
        ),
    )
    .into_iter()
    .map(|m| Warning::advice("netboot-address", m))
    .collect()
}

/// (what the hosts do, what follows, the build option).
type AddressUse<'a> = (&'a str, &'a str, &'a str);

/// Why hosts using `urls` cannot reach this server, one message each.
fn address_problems(
    urls: &[String],
    bound: SocketAddr,
    scheme: &str,
    (what, effect, option): AddressUse<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    for url in urls {
        let Some(parts) = crate::report::UrlParts::split(url) else {
            continue;
        };
        let Some(port) = parts.port_number() else {
            continue;
        };
        let (their_scheme, host) = (parts.scheme, parts.host);
        let mut why = Vec::new();
        if their_scheme != scheme {
            why.push(format!(
                "they use {their_scheme} and this server speaks {scheme}"
            ));
        }
        if port != bound.port() {
            why.push(format!(
                "they use port {port} and this server listens on {}",
                bound.port()
            ));
        }
        let path = parts.path.trim_end_matches('/');
        if !path.is_empty() {
            why.push(format!(
                "they use the path {path} and this server answers at / (right only behind a \
                 proxy that takes {path} away)"
            ));
        }
        let ip: Option<std::net::IpAddr> = host.parse().ok();
        if bound.ip().is_loopback() {
            why.push(format!(
                "this server listens on {} only, which no VM reaches",
                bound.ip()
            ));
        } else if !bound.ip().is_unspecified() && ip.is_some_and(|ip| ip != bound.ip()) {
            why.push(format!(
                "they use {host} and this server listens on {} only",
                bound.ip()
            ));
        }
        if !why.is_empty() {
            out.push(format!(
                "{what} {url}, but {}: {effect}; serve with --listen {} (or rebuild \
                 with the right {option})",
                why.join("; "),
                suggest_listen(host, port, bound)
            ));
        }
    }
    out
}

/// The `--listen` that receives reports sent to `host:port`.
fn suggest_listen(host: &str, port: u16, bound: SocketAddr) -> String {
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => format!("[::]:{port}"),
        Ok(_) => format!("0.0.0.0:{port}"),
        Err(_) if bound.is_ipv6() => format!("[::]:{port}"),
        Err(_) => format!("0.0.0.0:{port}"),
    }
}

/// One JSON line on stdout, flushed (the access log of `serve --json`).
pub fn json_line(v: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// Runs until Ctrl-C or SIGTERM. `say` gets the start-up and the stop.
pub fn run(cfg: &Config, say: &mut dyn FnMut(Notice<'_>)) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve(cfg, say))
}

async fn serve(cfg: &Config, say: &mut dyn FnMut(Notice<'_>)) -> Result<()> {
    let root = cfg
        .dir
        .canonicalize()
        .with_context(|| format!("opening {}", cfg.dir.display()))
        .tag(Failure::Input)?;
    if !root.is_dir() {
        return Err(failure::error(
            Failure::Input,
            format!("{} is not a directory", cfg.dir.display()),
        ));
    }
    let state = report::state_dir(&root);
    let secret = Secret::load(&state)?;
    let (installers, problems) = installer::Installers::open(&state);
    let (log, records, notes) = events::EventLog::open(&state)?;
    let mut warnings: Vec<Warning> = notes
        .into_iter()
        .map(|n| Warning::advice("event-log", n))
        .collect();
    let acceptor = match &cfg.tls {
        Some((cert, key)) => Some(tls_acceptor(cert, key).tag(Failure::Input)?),
        None => None,
    };
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| bind_error(cfg.listen, e))?;
    let bound = listener.local_addr()?;
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    warnings.extend(report_address_warnings(
        &report::urls(&state),
        bound,
        scheme,
    ));
    warnings.extend(
        problems
            .into_iter()
            .map(|p| Warning::advice("netboot-source", p)),
    );
    let (snap, _) = installers.snapshot();
    let mut netboot_urls: Vec<String> = snap.hosts.iter().map(|h| h.url.clone()).collect();
    netboot_urls.sort();
    netboot_urls.dedup();
    warnings.extend(netboot_address_warnings(&netboot_urls, bound, scheme));
    let listening = Listening {
        dir: root.clone(),
        url: format!("{scheme}://{bound}/"),
        every_address: bound.ip().is_unspecified(),
        loopback: bound.ip().is_loopback(),
        hosts: status::lab_hosts(&root)
            .unwrap_or_default()
            .into_iter()
            .map(|(host, file)| {
                match snap
                    .hosts
                    .iter()
                    .find(|h| h.hostname.eq_ignore_ascii_case(&host))
                    .filter(|_| !status::is_iso(&file))
                {
                    Some(h) => HostUrl {
                        url: format!("{}/{}/{}", h.url, h.mount, installer::LOADER),
                        mac: Some(h.mac.clone()),
                        host,
                    },
                    None => HostUrl {
                        url: format!("{scheme}://{bound}/{file}"),
                        mac: None,
                        host,
                    },
                }
            })
            .collect(),
        report_secret: secret.is_some(),
        warnings,
    };
    let stop = stop_signal()?;
    say(Notice::Listening(&listening));
    let app = Arc::new(http::App {
        root,
        secret: secret.map(std::sync::OnceLock::from).unwrap_or_default(),
        state_dir: state,
        log,
        records: Mutex::new(records),
        access: cfg.access,
        pending: Mutex::default(),
        installers,
        armed: Mutex::new(Default::default()),
    });

    let limit = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(stop);
    loop {
        while tasks.try_join_next().is_some() {}
        app.reap();
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => p.context("connection limit")?,
            _ = &mut stop => break,
        };
        let (tcp, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn(
                        cfg.access,
                        &Warning::advice("serve-failed", format!("accepting a connection: {e}")),
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let app = Arc::clone(&app);
        let acceptor = acceptor.clone();
        let stop_rx = stop_rx.clone();
        let timeout = cfg.timeout;
        tasks.spawn(async move {
            let _permit = permit;
            connection(tcp, peer, app, acceptor, timeout, stop_rx).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Running requests get GRACE to finish; then the events their
    // downloads produced are written, however long the disk takes.
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(GRACE, drain).await.is_err() {
        tasks.abort_all();
    }
    app.finish_records().await;
    say(Notice::Stopped);
    Ok(())
}

/// Serves one connection until it closes, times out or the server stops.
async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    app: Arc<http::App>,
    acceptor: Option<TlsAcceptor>,
    timeout: Duration,
    stop: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let io = io::Idle::new(tcp, timeout);
    match acceptor {
        None => conn::serve(io, peer, app, timeout, stop).await,
        Some(acc) => match tokio::time::timeout(timeout, acc.accept(io)).await {
            Ok(Ok(tls)) => conn::serve(tls, peer, app, timeout, stop).await,
            Ok(Err(e)) => match app.access {
                AccessLog::Off => {}
                AccessLog::Text => eprintln!("{} TLS handshake failed: {e}", peer.ip()),
                AccessLog::Json => json_line(&json!({
                    "event": "tls_handshake_failed",
                    "time": events::now(),
                    "peer": peer.ip().to_string(),
                    "error": e.to_string(),
                })),
            },
            _ => {}
        },
    }
}

/// Completes on SIGINT or SIGTERM.
/// Ctrl-C or SIGTERM, handled from now on (before the server says it
/// listens, so a signal right after that line stops it cleanly instead
/// of killing it).
fn stop_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| anyhow::anyhow!("reading certificate {}: {e}", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("reading private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Why `--listen ADDR` could not be had, and what to do.
fn bind_error(listen: SocketAddr, e: std::io::Error) -> anyhow::Error {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "port {} is in use on {}: another server (or another esxi-iso serve) \
             listens there; stop it, or pick another port with --listen {}:PORT",
            listen.port(),
            listen.ip(),
            listen.ip()
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine: give one of its own addresses, \
             or 0.0.0.0 for all of them",
            listen.ip()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "port {} needs privileges below 1024: pick a port of 1024 or more \
             (e.g. --listen {}:8080)",
            listen.port(),
            listen.ip()
        ),
        _ => format!("{e}"),
    };
    failure::error(Failure::Network, format!("listening on {listen}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_addresses_this_server_cannot_receive() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        let urls = |u: &[&str]| u.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // (report URLs, bound, scheme, pieces of the one warning or none)
        let cases: &[(&[&str], &str, &str, &[&str])] = &[
            (&["http://10.0.0.5:8080"], "0.0.0.0:8080", "http", &[]),
            (&["http://10.0.0.5:8080"], "10.0.0.5:8080", "http", &[]),
            (&["http://esx-admin.lab:8080"], "10.0.0.5:8080", "http", &[]),
            (
                &["http://10.0.0.5:8080"],
                "0.0.0.0:9090",
                "http",
                &[
                    "port 8080 and this server listens on 9090",
                    "--listen 0.0.0.0:8080",
                ],
            ),
            (
                &["http://10.0.0.5:8080"],
                "127.0.0.1:8080",
                "http",
                &["listens on 127.0.0.1 only, which no VM reaches"],
            ),
            (
                &["http://10.0.0.6:8080"],
                "10.0.0.5:8080",
                "http",
                &["they use 10.0.0.6 and this server listens on 10.0.0.5 only"],
            ),
            (
                &["http://10.0.0.5"],
                "0.0.0.0:8080",
                "http",
                &["they use port 80"],
            ),
            (
                &["https://10.0.0.5:8080"],
                "0.0.0.0:8080",
                "http",
                &["they use https and this server speaks http"],
            ),
            (
                &["http://[fd00::5]:8080"],
                "[::]:8081",
                "http",
                &["--listen [::]:8080"],
            ),
            (
                &["http://10.0.0.5:8080/esxi"],
                "0.0.0.0:8080",
                "http",
                &["they use the path /esxi and this server answers at /"],
            ),
            (&["http://10.0.0.5:8080/"], "0.0.0.0:8080", "http", &[]),
        ];
        for (u, bound, scheme, want) in cases {
            let w = report_address_warnings(&urls(u), at(bound), scheme);
            if want.is_empty() {
                assert!(w.is_empty(), "{u:?} {bound}: {w:?}");
                continue;
            }
            assert_eq!(w.len(), 1, "{u:?} {bound}: {w:?}");
            assert_eq!(w[0].code, "report-address");
            for piece in *want {
                assert!(w[0].message.contains(piece), "{piece}: {}", w[0].message);
            }
        }
    }
}
