//! The vim25 SOAP transport: one POST to `/sdk` per call, with
//! `SOAPAction: "urn:vim25/<version>"`, the `vmware_soap_session` cookie
//! the server set, and a body in SOAP 1.1 (`soapenv:Envelope`, the method
//! element in `urn:vim25` with `_this` first and the arguments in WSDL
//! order). Answers are read up to [`MAX_ANSWER`] bytes, parsed
//! namespace-aware, and turned into the method's response element or a
//! [`Fault`].
//!
//! [`Vim::connect`] asks `RetrieveServiceContent` (no login needed) in the
//! oldest version this client speaks, then uses the server's own
//! `apiVersion` (an opaque string) for every later call. A server whose
//! `/sdk` does not answer in SOAP gets [`NoSoap`], which callers can tell
//! from other failures (an HTTP server that is not vSphere, a proxy).
//!
//! `--verbose` traces name the method and the status, never a header or
//! a body (the password is in `Login`'s body, the session in a cookie).

use std::io::Read;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Result};
use ureq::http::{header, Method, Request};

use super::fault::Fault;
use super::http::{Client, Server};
use super::service::ServiceContent;
use super::xml::{self, Element, Node, NS_SOAPENV};
use super::MoRef;
use crate::progress::Trace;

/// The version of the first call, before the server's own is known: every
/// vSphere from 6.0 on answers it.
const FIRST_VERSION: &str = "6.0";
/// Answers longer than this are refused (a page of properties is far
/// smaller).
pub const MAX_ANSWER: u64 = 32 << 20;
const SESSION_COOKIE: &str = "vmware_soap_session";

/// `/sdk` did not answer in SOAP: no vSphere API there.
#[derive(Debug, thiserror::Error)]
#[error("{host} has no vSphere SOAP API at /sdk ({why})")]
pub struct NoSoap {
    pub host: String,
    pub why: String,
}

/// A SOAP connection to one ESXi host or vCenter.
pub struct Vim<'a> {
    client: &'a Client,
    server: Server,
    trace: Trace,
    cookie: Mutex<Option<String>>,
    version: String,
    content: ServiceContent,
}

impl<'a> Vim<'a> {
    /// Reads the service content (no login), which tells what the server
    /// is (`about`) and where its managers are.
    pub fn connect(client: &'a Client, server: &Server, trace: Trace) -> Result<Vim<'a>> {
        let mut vim = Vim {
            client,
            server: server.clone(),
            trace,
            cookie: Mutex::new(None),
            version: FIRST_VERSION.to_string(),
            content: ServiceContent::default(),
        };
        let this = MoRef::new("ServiceInstance", "ServiceInstance");
        let answer = vim.call("RetrieveServiceContent", &this, Vec::new())?;
        let content = answer
            .child("returnval")
            .ok_or_else(|| anyhow!("{} sent an empty service content", server.host))?;
        vim.content = ServiceContent::read(content);
        if let Some(v) = vim.content.about.api_version.as_deref() {
            if !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
            {
                vim.version = v.to_string();
            }
        }
        Ok(vim)
    }

    pub fn content(&self) -> &ServiceContent {
        &self.content
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    pub fn client(&self) -> &Client {
        self.client
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// `name=value` of the session cookie, for HTTP requests outside SOAP
    /// (the datastore file API takes it as authentication). Never log it.
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie.lock().ok().and_then(|c| c.clone())
    }

    /// One call: `method` on `this` with `args` (in WSDL order). Returns
    /// the `<methodResponse>` element, or the fault as a [`Fault`] error.
    pub fn call(&self, method: &str, this: &MoRef, args: Vec<Node>) -> Result<Element> {
        let body = Node::new(method)
            .attr("xmlns", "urn:vim25")
            .child(this.node("_this"))
            .children(args);
        let mut envelope = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>",
        );
        body.write(&mut envelope)
            .map_err(|e| anyhow!("{method}: {e}"))?;
        envelope.push_str("</soapenv:Body></soapenv:Envelope>");

        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(self.server.url("/sdk"))
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header("SOAPAction", format!("\"urn:vim25/{}\"", self.version));
        if let Some(cookie) = self.session_cookie() {
            builder = builder.header(header::COOKIE, cookie);
        }
        let mut resp = self
            .client
            .agent
            .run(builder.body(envelope)?)
            .map_err(|e| anyhow!("{method}: {}", self.client.explain(&e, &self.server)))?;
        let status = resp.status().as_u16();
        self.trace.say(|| format!("POST /sdk {method} -> {status}"));
        self.keep_cookie(resp.headers());
        let mut bytes = Vec::new();
        resp.body_mut()
            .as_reader()
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| anyhow!("{method}: reading the answer of {}: {e}", self.server.host))?;
        if bytes.len() as u64 > MAX_ANSWER {
            bail!(
                "{method}: the answer of {} is larger than {} MiB; refused",
                self.server.host,
                MAX_ANSWER >> 20
            );
        }
        let no_soap = |why: String| NoSoap {
            host: self.server.host.clone(),
            why,
        };
        let root = match xml::parse(&bytes) {
            Ok(root) if root.ns == NS_SOAPENV && root.name == "Envelope" => root,
            _ => return Err(no_soap(format!("HTTP {status}, and the answer is not SOAP")).into()),
        };
        let Some(body) = root.child("Body").filter(|b| b.ns == NS_SOAPENV) else {
            return Err(no_soap(format!("HTTP {status}, a SOAP envelope without a body")).into());
        };
        if let Some(fault) = body.child("Fault") {
            let message = fault.child_text("faultstring").unwrap_or_default();
            let detail = fault.child("detail").and_then(|d| d.children.first());
            return Err(Fault::from_detail(detail, message, method).into());
        }
        if !(200..=299).contains(&status) {
            bail!("{method}: {} answered HTTP {status}", self.server.host);
        }
        let want = format!("{method}Response");
        body.children
            .iter()
            .find(|c| c.name == want)
            .cloned()
            .ok_or_else(|| anyhow!("{method}: {} answered without {want}", self.server.host))
    }

    fn keep_cookie(&self, headers: &ureq::http::HeaderMap) {
        for value in headers.get_all(header::SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or("").trim();
            if pair
                .split_once('=')
                .is_some_and(|(name, v)| name.trim() == SESSION_COOKIE && !v.is_empty())
            {
                if let Ok(mut c) = self.cookie.lock() {
                    *c = Some(pair.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vsphere::tls::Trust;

    #[test]
    fn only_the_session_cookie_is_kept() {
        let client = Client::new(Trust::Insecure).unwrap();
        let vim = Vim {
            client: &client,
            server: Server::parse("esx01").unwrap(),
            trace: Trace::default(),
            cookie: Mutex::new(None),
            version: FIRST_VERSION.into(),
            content: ServiceContent::default(),
        };
        let mut headers = ureq::http::HeaderMap::new();
        headers.append(header::SET_COOKIE, "other=1; Path=/".parse().unwrap());
        vim.keep_cookie(&headers);
        assert_eq!(vim.session_cookie(), None);
        headers.append(
            header::SET_COOKIE,
            "vmware_soap_session=\"52a1\"; Path=/; HttpOnly; Secure;"
                .parse()
                .unwrap(),
        );
        vim.keep_cookie(&headers);
        assert_eq!(
            vim.session_cookie().as_deref(),
            Some("vmware_soap_session=\"52a1\"")
        );
    }
}
