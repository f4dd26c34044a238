//! A scripted SOAP stand-in in front of govmomi's simulator: plain HTTP on
//! 127.0.0.1, every request forwarded to the simulator (HTTPS) unless a
//! rule says otherwise for its vim25 method: answer with a scripted
//! reply (a fault, a task that fails, a task still running), change the
//! simulator's answer, or hold the request until the test releases it.
//! So the faults and slow tasks vcsim never produces are met on top of a
//! real inventory. Every SOAP call is recorded (method and body).

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use esxi_iso::vsphere::http::{Client, Trust};

use crate::publish_support::soap_mock::{method_of, SoapReply};
use crate::publish_support::{read_body, read_head};

/// What the stand-in does with one call.
pub enum Act {
    Forward,
    /// Answer this instead of the simulator.
    Reply(SoapReply),
    /// Forward, then change the simulator's answer.
    Edit(Box<dyn Fn(String) -> String + Send>),
    /// Hold the request until [`Proxy::release`], then forward it.
    Hold,
}

type Rule = dyn Fn(&str, &str) -> Act + Send + Sync;

#[derive(Default)]
struct Gate {
    held: Mutex<usize>,
    released: Mutex<bool>,
    cv: Condvar,
}

pub struct Proxy {
    pub url: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    gate: Arc<Gate>,
}

impl Proxy {
    /// Forwards to `upstream` (`https://127.0.0.1:PORT`); `rule(method,
    /// body)` decides each SOAP call.
    pub fn start(
        upstream: &str,
        rule: impl Fn(&str, &str) -> Act + Send + Sync + 'static,
    ) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Gate::default());
        let rule: Arc<Rule> = Arc::new(rule);
        let upstream = upstream.to_string();
        let (log, g) = (seen.clone(), gate.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (rule, log, g, up) = (rule.clone(), log.clone(), g.clone(), upstream.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &*rule, &log, &g, &up);
                });
            }
        });
        Proxy { url, seen, gate }
    }

    /// The SOAP methods called, in order.
    pub fn methods(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// The bodies of the calls of `method`.
    pub fn bodies(&self, method: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Waits (at most two minutes) until a request is held.
    pub fn wait_held(&self) {
        let mut held = self.gate.held.lock().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while *held == 0 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(!left.is_zero(), "no request was held");
            held = self.gate.cv.wait_timeout(held, left).unwrap().0;
        }
    }

    pub fn release(&self) {
        *self.gate.released.lock().unwrap() = true;
        self.gate.cv.notify_all();
    }
}

fn serve(
    stream: TcpStream,
    rule: &Rule,
    log: &Mutex<Vec<(String, String)>>,
    gate: &Gate,
    upstream: &str,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let client = Client::new(Trust::Insecure).unwrap();
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let Ok((method, target, headers)) = read_head(&mut reader) else {
            return Ok(());
        };
        if method.is_empty() {
            return Ok(());
        }
        if headers
            .get("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            let mut w = stream.try_clone()?;
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            w.flush()?;
        }
        let body = read_body(&mut reader, &headers)?;
        let text = String::from_utf8_lossy(&body).into_owned();
        let act = if method == "POST" && target == "/sdk" {
            let m = method_of(&text);
            log.lock().unwrap().push((m.clone(), text.clone()));
            rule(&m, &text)
        } else {
            Act::Forward
        };
        let (status, set_cookie, answer) = match act {
            Act::Reply(r) => (r.status, None, r.body.into_bytes()),
            Act::Forward | Act::Edit(_) | Act::Hold => {
                if matches!(act, Act::Hold) {
                    *gate.held.lock().unwrap() += 1;
                    gate.cv.notify_all();
                    let mut released = gate.released.lock().unwrap();
                    while !*released {
                        released = gate.cv.wait(released).unwrap();
                    }
                }
                let mut req = ureq::http::Request::builder()
                    .method(method.as_str())
                    .uri(format!("{upstream}{target}"));
                for h in ["content-type", "soapaction", "cookie"] {
                    if let Some(v) = headers.get(h) {
                        req = req.header(h, v);
                    }
                }
                let mut resp = client.agent.run(req.body(body).unwrap()).unwrap();
                let status = resp.status().as_u16();
                let cookie = resp
                    .headers()
                    .get("set-cookie")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut resp.body_mut().as_reader(), &mut bytes)?;
                if let Act::Edit(edit) = act {
                    bytes = edit(String::from_utf8_lossy(&bytes).into_owned()).into_bytes();
                }
                (status, cookie, bytes)
            }
        };
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n",
            answer.len()
        );
        if let Some(c) = set_cookie {
            head.push_str(&format!("Set-Cookie: {c}\r\n"));
        }
        head.push_str("\r\n");
        let mut w = stream.try_clone()?;
        w.write_all(head.as_bytes())?;
        w.write_all(&answer)?;
        w.flush()?;
    }
}

/// A task reference in a `*_Task` answer.
pub fn task_reply(method: &str, task: &str) -> SoapReply {
    SoapReply::ok(
        method,
        &format!("<returnval type=\"Task\">{task}</returnval>"),
    )
}

/// The RetrievePropertiesEx answer for a task's `info`.
pub fn task_info(task: &str, state: &str, inner: &str) -> SoapReply {
    SoapReply::ok(
        "RetrievePropertiesEx",
        &format!(
            "<returnval><objects><obj type=\"Task\">{task}</obj><propSet><name>info</name>\
             <val xsi:type=\"TaskInfo\"><key>{task}</key><task type=\"Task\">{task}</task>\
             <state>{state}</state>{inner}</val></propSet></objects></returnval>"
        ),
    )
}

/// A task that failed with a fault of type `fault` (its fields `inner`).
pub fn task_error(task: &str, message: &str, fault: &str, inner: &str) -> SoapReply {
    task_info(
        task,
        "error",
        &format!(
            "<error><fault xsi:type=\"{fault}\">{inner}</fault>\
             <localizedMessage>{message}</localizedMessage></error>"
        ),
    )
}
