//! A scripted vim25 SOAP endpoint for what govmomi's simulator cannot do:
//! faults with their details (NoPermission with a privilege and object,
//! NotAuthenticated, NotSupported, ...), paged property answers, answers
//! that are not SOAP. It serves `POST /sdk` on 127.0.0.1 over plain HTTP,
//! finds the method name (the first element inside `Body`), asks a rule
//! for the answer, and records each request (method, SOAPAction, cookie,
//! body) for the test to inspect. Everything else gets 404.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// One request as the stand-in saw it.
#[derive(Debug, Clone)]
pub struct SoapSeen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// An answer: status, extra headers, body.
pub struct SoapReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl SoapReply {
    /// 200 with `<{method}Response>{inner}</...>` in an envelope.
    pub fn ok(method: &str, inner: &str) -> SoapReply {
        SoapReply {
            status: 200,
            headers: Vec::new(),
            body: envelope(&format!(
                "<{method}Response xmlns=\"urn:vim25\">{inner}</{method}Response>"
            )),
        }
    }

    /// 500 with a SOAP fault whose detail is `detail`.
    pub fn fault(faultstring: &str, detail: &str) -> SoapReply {
        SoapReply {
            status: 500,
            headers: Vec::new(),
            body: envelope(&format!(
                "<soapenv:Fault><faultcode>ServerFaultCode</faultcode>\
                 <faultstring>{faultstring}</faultstring><detail>{detail}</detail></soapenv:Fault>"
            )),
        }
    }

    pub fn raw(status: u16, body: &str) -> SoapReply {
        SoapReply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, k: &str, v: &str) -> SoapReply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

pub fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

/// The service content of a vCenter (`vcenter`) or a host, as the mock
/// answers RetrieveServiceContent.
pub fn service_content(vcenter: bool) -> String {
    let (api_type, name) = if vcenter {
        ("VirtualCenter", "VMware vCenter Server")
    } else {
        ("HostAgent", "VMware ESXi")
    };
    format!(
        "<returnval><rootFolder type=\"Folder\">group-d1</rootFolder>\
         <propertyCollector type=\"PropertyCollector\">propertyCollector</propertyCollector>\
         <about><name>{name}</name><fullName>{name} 8.0.3 build-1</fullName>\
         <version>8.0.3</version><build>1</build><apiType>{api_type}</apiType>\
         <apiVersion>8.0.3.0</apiVersion><instanceUuid>uuid-1</instanceUuid></about>\
         <sessionManager type=\"SessionManager\">SessionManager</sessionManager>\
         <searchIndex type=\"SearchIndex\">SearchIndex</searchIndex>\
         <fileManager type=\"FileManager\">FileManager</fileManager></returnval>"
    )
}

type Rule = dyn Fn(&str, &str) -> SoapReply + Send + Sync;

pub struct SoapServer {
    pub url: String,
    seen: Arc<Mutex<Vec<SoapSeen>>>,
}

impl SoapServer {
    /// `rule(method, request body)` answers each SOAP call.
    pub fn start(rule: impl Fn(&str, &str) -> SoapReply + Send + Sync + 'static) -> SoapServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let rule: Arc<Rule> = Arc::new(rule);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (rule, log) = (rule.clone(), log.clone());
                thread::spawn(move || {
                    let _ = serve(stream, &*rule, &log);
                });
            }
        });
        SoapServer { url, seen }
    }

    pub fn requests(&self) -> Vec<SoapSeen> {
        self.seen.lock().unwrap().clone()
    }

    /// The methods called, in order.
    pub fn methods(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.method).collect()
    }
}

/// The local name of the first element inside the SOAP Body.
pub fn method_of(body: &str) -> String {
    let after = body
        .find(":Body>")
        .map(|i| &body[i + 6..])
        .unwrap_or_default();
    let start = after.find('<').map(|i| i + 1).unwrap_or(0);
    after[start..]
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn serve(stream: TcpStream, rule: &Rule, log: &Mutex<Vec<SoapSeen>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let Ok((method, target, headers)) = super::read_head(&mut reader) else {
            return Ok(());
        };
        if method.is_empty() {
            return Ok(());
        }
        let body = super::read_body(&mut reader, &headers)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let reply = if method == "POST" && target == "/sdk" {
            let m = method_of(&body);
            log.lock().unwrap().push(SoapSeen {
                method: m.clone(),
                path: target.clone(),
                headers: headers.clone(),
                body: body.clone(),
            });
            rule(&m, &body)
        } else {
            log.lock().unwrap().push(SoapSeen {
                method: format!("{method} {target}"),
                path: target.clone(),
                headers: headers.clone(),
                body: String::new(),
            });
            SoapReply::raw(404, "")
        };
        let mut w = stream.try_clone()?;
        let mut head = format!(
            "HTTP/1.1 {} X\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        w.write_all(reply.body.as_bytes())?;
        w.flush()?;
    }
}
