//! Upload to a vCenter content library through the vSphere Automation API,
//! in the `/api` forms where the server has them and the `/rest` forms
//! otherwise (see [`super::vapi`]).
//!
//! Before anything: a server whose SOAP `about` says it is a host
//! (`HostAgent`) is refused, since libraries live on vCenter; a library
//! that is not there is named with the ones that are (exit 2). Every ISO
//! whose item exists is looked at first, and all that are in the way are
//! reported together; with `--skip-existing` an item that already holds a
//! file of that name and SHA-1 is left alone.
//!
//! Then per ISO: create an item of type `iso` (or, with `--force`, reuse
//! the one there), open an update session, add the file (PUSH, size,
//! SHA-1), mark every other file of a replaced item for removal (so the
//! item holds exactly the new file), PUT the bytes to the endpoint vCenter
//! returns (with the session header), complete, and wait for DONE. During
//! the PUT the update session (`keep-alive`) and the login session (a
//! session `get`) are kept alive, at a quarter of the lifetime the server
//! gives the update session (its `expiration_time` against its own `Date`),
//! at least every two minutes. A failure or Ctrl-C cancels and deletes the
//! session and removes an item this run created, so the library is left as
//! it was. The same steps in the same order for both forms.
//!
//! Not covered: OVF items.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use sha1::{Digest, Sha1};
use ureq::http::{header, Method, Request};
use ureq::SendBody;

use super::auth::Credentials;
use super::report::{Destination, Report, Uploaded};
use super::vapi::{FileSpec, Op, Session, SESSION_HEADER};
use super::{
    interrupted, progress_bar, stream_file, with_keepalive, LocalIso, ProgressReader, Sent, Skip,
    UploadPlan,
};
use crate::failure::{self, Failure};
use crate::signals;
use crate::vsphere::http::{body_snippet, Client};
use crate::vsphere::{NoSoap, Vim};

/// How long vCenter may take to move a completed upload into the library.
const COMPLETE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Keep-alives are sent at least this often...
const KEEPALIVE_MAX: Duration = Duration::from_secs(120);
/// ...and at most this often.
const KEEPALIVE_MIN: Duration = Duration::from_secs(1);

pub fn upload(
    client: &Client,
    creds: &Credentials,
    plan: &UploadPlan,
    library: &str,
    item: Option<&str>,
    report: &mut Report,
) -> Result<()> {
    refuse_a_host(client, plan)?;
    let session = Session::login(client, &plan.server, creds, &plan.trace)?;
    report.set_api(session.forms().label());
    let result = upload_all(&session, plan, library, item, report);
    session.logout();
    result
}

/// A host has no content library: say so before logging in to an API
/// that is not there.
fn refuse_a_host(client: &Client, plan: &UploadPlan) -> Result<()> {
    match Vim::connect(client, &plan.server, plan.trace.clone()) {
        Ok(vim) if vim.about().is_host() => Err(failure::error(
            Failure::Usage,
            format!(
                "{} is a standalone ESXi host ({}): content libraries live on vCenter; \
                 upload to one of the host's datastores with --datastore instead",
                plan.server.host,
                vim.about().describe()
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.is::<NoSoap>() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A file of an item, as the library lists it.
#[derive(Debug, Clone)]
struct ItemFile {
    name: String,
    sha1: Option<String>,
}

/// One ISO's plan: its item, and what is there.
struct Job<'a> {
    iso: &'a LocalIso,
    name: String,
    /// The item, when it exists, and its files.
    existing: Option<(String, Vec<ItemFile>)>,
    sha1: Option<String>,
    skip: bool,
}

fn upload_all(
    session: &Session,
    plan: &UploadPlan,
    library: &str,
    item: Option<&str>,
    report: &mut Report,
) -> Result<()> {
    let library_id = find_library(session, library)?;
    let mut jobs = Vec::new();
    let mut in_the_way = Vec::new();
    for iso in &plan.isos {
        let name = item.map_or_else(|| item_name(&iso.name), str::to_string);
        let mut job = Job {
            iso,
            name: name.clone(),
            existing: None,
            sha1: None,
            skip: false,
        };
        if let Some(id) = find_item(session, &library_id, &name)? {
            let files = list_files(session, &id)?;
            if plan.skip != Skip::Never {
                let sha1 = sha1_of(iso, plan)?;
                job.skip = files
                    .iter()
                    .any(|f| f.name == iso.name && f.sha1.as_deref() == Some(sha1.as_str()));
                job.sha1 = Some(sha1);
            }
            if !job.skip && !plan.force {
                in_the_way.push(name);
            }
            job.existing = Some((id, files));
        }
        jobs.push(job);
    }
    if !in_the_way.is_empty() {
        return Err(failure::error(
            Failure::OutputExists,
            format!(
                "library {library} already has item{} {}: pass --force to replace {} \
                 files{}",
                if in_the_way.len() == 1 { "" } else { "s" },
                in_the_way.join(", "),
                if in_the_way.len() == 1 {
                    "its"
                } else {
                    "their"
                },
                if plan.skip != Skip::Never {
                    " (they do not hold the same file)"
                } else {
                    ", or --skip-existing to keep items that hold the same file"
                }
            ),
        ));
    }
    for job in jobs {
        if signals::cancelled() {
            return Err(interrupted("upload stopped before the next ISO".into()));
        }
        let replaced = job.existing.is_some();
        let to = |item_id: String| Destination::Library {
            library: library.to_string(),
            item: job.name.clone(),
            item_id,
        };
        if job.skip {
            let id = job
                .existing
                .as_ref()
                .map(|e| e.0.clone())
                .unwrap_or_default();
            report.push(Uploaded {
                file: job.iso.name.clone(),
                size: job.iso.size,
                sha256: None,
                skipped: true,
                replaced: false,
                removed: Vec::new(),
                to: to(id),
            })?;
            continue;
        }
        let done = upload_one(session, plan, &library_id, &job).with_context(|| {
            format!(
                "uploading {} to library {library} as item {}",
                job.iso.name, job.name
            )
        })?;
        report.push(Uploaded {
            file: job.iso.name.clone(),
            size: job.iso.size,
            sha256: Some(done.sha256),
            skipped: false,
            replaced,
            removed: done.removed,
            to: to(done.item),
        })?;
    }
    Ok(())
}

/// Item name for an ISO: its file name without `.iso`.
pub fn item_name(file_name: &str) -> String {
    match file_name.len().checked_sub(4) {
        Some(i) if file_name.is_char_boundary(i) && file_name[i..].eq_ignore_ascii_case(".iso") => {
            file_name[..i].to_string()
        }
        _ => file_name.to_string(),
    }
}

fn find_library(session: &Session, name: &str) -> Result<String> {
    let ids = session.call(
        &Op::FindLibrary { name },
        &format!("looking up content library {name}"),
    )?;
    let ids = string_list(&ids);
    match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => {
            let names = library_names(session);
            Err(failure::error(
                Failure::Usage,
                format!(
                    "content library {name} not found on {}: {}check --library, or \
                     create it in the vSphere Client (Content Libraries > Create)",
                    session.server().host,
                    match names.as_slice() {
                        [] => String::new(),
                        names => format!(
                            "its libraries: {}{}; ",
                            names.join(", "),
                            crate::diagnostic::nearest(name, names)
                                .map(|n| format!(" (did you mean {n}?)"))
                                .unwrap_or_default()
                        ),
                    }
                ),
            ))
        }
        _ => bail!(
            "{} content libraries are named {name}; rename one",
            ids.len()
        ),
    }
}

/// The names of the libraries the user can see (best effort, for a
/// message; at most 50 are asked for).
fn library_names(session: &Session) -> Vec<String> {
    let Ok(ids) = session.call(&Op::ListLibraries, "listing the content libraries") else {
        return Vec::new();
    };
    let mut names: Vec<String> = string_list(&ids)
        .iter()
        .take(50)
        .filter_map(|id| {
            session
                .call(&Op::GetLibrary { library: id }, "reading a content library")
                .ok()
                .and_then(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
        })
        .collect();
    names.sort();
    names
}

fn find_item(session: &Session, library: &str, name: &str) -> Result<Option<String>> {
    let ids = session.call(
        &Op::FindItem { library, name },
        &format!("looking up library item {name}"),
    )?;
    Ok(string_list(&ids).into_iter().next())
}

fn list_files(session: &Session, item: &str) -> Result<Vec<ItemFile>> {
    let files = session.call(&Op::ListFiles { item }, "listing the item's files")?;
    Ok(files
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| {
                    let sha1 = f
                        .get("checksum_info")
                        .filter(|c| {
                            c.get("algorithm")
                                .and_then(Value::as_str)
                                .is_none_or(|a| a.eq_ignore_ascii_case("SHA1"))
                        })
                        .and_then(|c| c.get("checksum"))
                        .and_then(Value::as_str)
                        .map(str::to_ascii_lowercase);
                    Some(ItemFile {
                        name: f.get("name")?.as_str()?.to_string(),
                        sha1,
                    })
                })
                .collect()
        })
        .unwrap_or_default())
}

fn sha1_of(iso: &LocalIso, plan: &UploadPlan) -> Result<String> {
    let bar = progress_bar(iso.size, format!("sha1 {}", iso.name), plan.quiet);
    let mut sha1 = Sha1::new();
    stream_file(&iso.path, &bar, |chunk| sha1.update(chunk))?;
    bar.finish_and_clear();
    Ok(hex::encode(sha1.finalize()))
}

fn returned_id(v: &Value, what: &str) -> Result<String> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("vCenter returned no id for {what}"))
}

struct Done {
    item: String,
    sha256: String,
    removed: Vec<String>,
}

/// Uploads one ISO; on failure or Ctrl-C the session is cancelled and
/// deleted and an item created here removed.
fn upload_one(session: &Session, plan: &UploadPlan, library: &str, job: &Job) -> Result<Done> {
    let checksum = match &job.sha1 {
        Some(s) => s.clone(),
        None => sha1_of(job.iso, plan)?,
    };
    let name = &job.name;
    let item = match &job.existing {
        Some((id, _)) => id.clone(),
        None => returned_id(
            &session.call(
                &Op::CreateItem { library, name },
                &format!("creating library item {name}"),
            )?,
            &format!("the new item {name}"),
        )?,
    };
    let removed: Vec<String> = job
        .existing
        .iter()
        .flat_map(|(_, files)| files.iter())
        .map(|f| f.name.clone())
        .filter(|n| *n != job.iso.name)
        .collect();
    let result = session
        .call(
            &Op::CreateUpdateSession { item: &item },
            "opening an update session",
        )
        .and_then(|v| returned_id(&v, "the update session"))
        .and_then(|us| {
            let r = transfer(session, plan, &us, job.iso, &checksum, &removed);
            if r.is_err() {
                // Best effort: the session may already be gone.
                let _ = session.call(
                    &Op::CancelSession { session: &us },
                    "cancelling the update session",
                );
                let _ = session.call(
                    &Op::DeleteSession { session: &us },
                    "deleting the update session",
                );
            }
            r
        });
    let cleaned = match (&result, &job.existing) {
        (Err(_), None) => {
            let _ = session.call(
                &Op::DeleteItem { item: &item },
                "removing the unfinished item",
            );
            "the new item was removed"
        }
        _ => "the item is unchanged",
    };
    match result {
        Ok(sha256) => Ok(Done {
            item,
            sha256,
            removed,
        }),
        Err(_) if signals::cancelled() => Err(interrupted(format!(
            "uploading {} stopped; the update session was cancelled and {cleaned}",
            job.iso.name
        ))),
        Err(e) => Err(e),
    }
}

fn transfer(
    session: &Session,
    plan: &UploadPlan,
    us: &str,
    iso: &LocalIso,
    checksum: &str,
    remove: &[String],
) -> Result<String> {
    let file = FileSpec {
        name: &iso.name,
        size: iso.size,
        sha1: checksum,
    };
    let added = session.call(
        &Op::AddFile { session: us, file },
        "adding the file to the update session",
    )?;
    let uri = added
        .pointer("/upload_endpoint/uri")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("vCenter returned no upload_endpoint for {}", iso.name))?;
    for name in remove {
        session.call(
            &Op::RemoveFile { session: us, name },
            &format!("removing {name} from the item"),
        )?;
    }
    let interval = keepalive_interval(session, us);
    session.trace().say(|| {
        format!(
            "keeping the update session and the login alive every {} s during the upload",
            interval.as_secs()
        )
    });
    let bar = progress_bar(iso.size, iso.name.clone(), plan.quiet);
    let reader = ProgressReader::open(&iso.path, bar.clone())?;
    let sent = reader.digest();
    let last = AtomicU64::new(0);
    let tick = || {
        let percent = sent.bytes().saturating_mul(100) / iso.size.max(1);
        let progress = (percent > last.swap(percent, Ordering::Relaxed)).then_some(percent);
        for (op, what) in [
            (
                Op::KeepAlive {
                    session: us,
                    progress,
                },
                "keeping the update session alive",
            ),
            (Op::GetLogin, "keeping the login session alive"),
        ] {
            if let Err(e) = session.call(&op, what) {
                session.trace().say(|| format!("{what}: {e:#}"));
            }
        }
    };
    let put = with_keepalive(interval, tick, || {
        put_bytes(session, uri, iso, reader, &sent)
    });
    bar.finish_and_clear();
    let sha256 = put?;
    session.call(
        &Op::CompleteSession { session: us },
        "completing the update session",
    )?;
    wait_done(session, us)?;
    Ok(sha256)
}

/// A quarter of the update session's lifetime as the server tells it
/// (`expiration_time` against its `Date`), within [1 s, 2 min]; two
/// minutes when it does not say (vCenter's default lifetime is five).
fn keepalive_interval(session: &Session, us: &str) -> Duration {
    let info = session.call(
        &Op::GetSession { session: us },
        "reading the update session",
    );
    let expires = info
        .ok()
        .and_then(|v| v.get("expiration_time")?.as_str().and_then(parse_utc));
    match (expires, session.server_date()) {
        (Some(expires), Some(now)) => expires
            .duration_since(now)
            .map(|left| (left / 4).clamp(KEEPALIVE_MIN, KEEPALIVE_MAX))
            .unwrap_or(KEEPALIVE_MIN),
        _ => KEEPALIVE_MAX,
    }
}

/// `2024-05-01T12:34:56.789Z` (or `+00:00`) as a time; None for anything
/// else.
fn parse_utc(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':');
    let (hh, mm) = (
        t.next()?.parse::<u64>().ok()?,
        t.next()?.parse::<u64>().ok()?,
    );
    let secs: f64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 {
        return None;
    }
    // Days from civil (Howard Hinnant).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = u64::try_from(era * 146_097 + doe - 719_468).ok()?;
    let whole = days * 86_400 + hh * 3600 + mm * 60;
    Some(UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_secs_f64(secs.max(0.0)))
}

/// PUT of the file to the upload endpoint, with the session header (the
/// endpoint is on the same vCenter, `/cls/data/...` or
/// `/rest/com/vmware/cis/data/...`).
fn put_bytes(
    session: &Session,
    uri: &str,
    iso: &LocalIso,
    reader: ProgressReader,
    sent: &Sent,
) -> Result<String> {
    let request = Request::builder()
        .method(Method::PUT)
        .uri(uri)
        .header(SESSION_HEADER, session.id())
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, iso.size)
        .header(header::EXPECT, "100-continue")
        .body(SendBody::from_owned_reader(reader))?;
    let result = session.client().agent.run(request);
    if signals::cancelled() {
        bail!("stopped by a signal");
    }
    let mut resp = result.map_err(|e| anyhow!("sending the file: {}", session.explain(&e)))?;
    let status = resp.status().as_u16();
    // The path only: an endpoint's query could carry a token.
    let path = uri
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(uri);
    let path = path.split('?').next().unwrap_or(path);
    session.trace().say(|| format!("PUT {path} -> {status}"));
    if !(200..=299).contains(&status) {
        let body = body_snippet(&mut resp);
        bail!(
            "sending the file: {} answered HTTP {status}{body}{}",
            session.server().host,
            if status == 401 {
                "; the session expired during the upload"
            } else {
                ""
            }
        );
    }
    Ok(sent.sha256())
}

fn wait_done(session: &Session, us: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        let info = session.call(
            &Op::GetSession { session: us },
            "reading the update session state",
        )?;
        match info.get("state").and_then(Value::as_str).unwrap_or("") {
            "DONE" => return Ok(()),
            "ACTIVE" if start.elapsed() < COMPLETE_TIMEOUT => sleep(Duration::from_millis(500)),
            "ACTIVE" => bail!(
                "vCenter did not finish the upload within {} minutes; check the \
                 library item in the vSphere Client",
                COMPLETE_TIMEOUT.as_secs() / 60
            ),
            state => bail!(
                "the update session ended in state {state}{}",
                info.pointer("/error_message/default_message")
                    .and_then(Value::as_str)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        }
    }
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_names_drop_the_iso_extension() {
        let cases = [
            ("lab1.iso", "lab1"),
            ("ESXi-8.0U3.ISO", "ESXi-8.0U3"),
            ("notes.txt", "notes.txt"),
            (".iso", ""),
            ("é.iso", "é"),
        ];
        for (input, want) in cases {
            assert_eq!(item_name(input), want, "{input}");
        }
    }

    #[test]
    fn utc_times_parse() {
        let secs =
            |s: &str| parse_utc(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap().as_secs_f64());
        assert_eq!(secs("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(secs("2023-11-14T22:13:20.500Z"), Some(1_700_000_000.5));
        assert_eq!(secs("2000-02-29T00:00:00+00:00"), Some(951_782_400.0));
        for bad in ["2023-11-14T22:13:20", "2023-13-01T00:00:00Z", "x", ""] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }
}
