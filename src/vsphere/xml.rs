//! The XML of the SOAP calls: a small element tree to build requests from
//! (every text and attribute escaped when written) and one to read
//! answers into (namespace-aware, with quick-xml, bounded in depth and
//! element count on top of the caller's byte limit).
//!
//! Names are compared by namespace URI and local name, never by prefix:
//! servers choose their own prefixes. `xsi:type` values keep whatever
//! prefix the server wrote; [`Element::xsi_type`] gives the local part.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

pub const NS_SOAPENV: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Deeper answers are refused: vSphere's are a dozen levels at most.
const MAX_DEPTH: usize = 64;
/// More elements than this in one answer are refused.
const MAX_ELEMENTS: usize = 1_000_000;

/// An element to send. Children are written in the order they were added,
/// which must be the WSDL's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    name: String,
    attrs: Vec<(String, String)>,
    content: Vec<Content>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Node(Node),
    Text(String),
}

impl Node {
    pub fn new(name: &str) -> Node {
        Node {
            name: name.to_string(),
            attrs: Vec::new(),
            content: Vec::new(),
        }
    }

    /// `<name>text</name>`
    pub fn text(name: &str, text: &str) -> Node {
        Node::new(name).with_text(text)
    }

    pub fn attr(mut self, name: &str, value: &str) -> Node {
        self.attrs.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_text(mut self, text: &str) -> Node {
        self.content.push(Content::Text(text.to_string()));
        self
    }

    pub fn child(mut self, node: Node) -> Node {
        self.content.push(Content::Node(node));
        self
    }

    pub fn children(mut self, nodes: impl IntoIterator<Item = Node>) -> Node {
        self.content.extend(nodes.into_iter().map(Content::Node));
        self
    }

    /// An answer's element sent back as it was read (a policy echoed in an
    /// update, so the parts not changed stay as they are): names, text,
    /// children, and `xsi:type` (XML Schema types keep the `xsd:` prefix,
    /// vim25 types go unprefixed, in the method's default namespace).
    pub fn from_element(e: &Element) -> Node {
        let mut node = Node::new(&e.name);
        for (ns, local, value) in &e.attrs {
            if ns == NS_XSI && local == "type" {
                let (prefix, name) = value.split_once(':').unwrap_or(("", value));
                let typed = if matches!(prefix, "xsd" | "xs") {
                    format!("xsd:{name}")
                } else {
                    name.to_string()
                };
                node = node.attr("xsi:type", &typed);
            } else if ns.is_empty() {
                node = node.attr(local, value);
            }
        }
        if e.children.is_empty() {
            if !e.text.is_empty() {
                node = node.with_text(&e.text);
            }
            return node;
        }
        node.children(e.children.iter().map(Node::from_element))
    }

    /// Appends the element to `out`, escaped. Text XML cannot carry (NUL
    /// and the other C0 controls but tab, newline and carriage return) is
    /// refused, naming the element.
    pub fn write(&self, out: &mut String) -> Result<()> {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            let _ = write!(out, " {k}=\"");
            escape(v, &self.name, out)?;
            out.push('"');
        }
        if self.content.is_empty() {
            out.push_str("/>");
            return Ok(());
        }
        out.push('>');
        for c in &self.content {
            match c {
                Content::Node(n) => n.write(out)?,
                Content::Text(t) => escape(t, &self.name, out)?,
            }
        }
        let _ = write!(out, "</{}>", self.name);
        Ok(())
    }
}

fn escape(text: &str, element: &str, out: &mut String) -> Result<()> {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept as character references: a literal CR or tab in an
            // attribute would be normalised away by the reader.
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                bail!(
                    "the value of {element} contains a control character (U+{:04X}), \
                     which XML cannot carry",
                    c as u32
                )
            }
            c => out.push(c),
        }
    }
    Ok(())
}

/// A parsed element of an answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI, empty when none.
    pub ns: String,
    pub name: String,
    /// (namespace URI, local name, value)
    pub attrs: Vec<(String, String, String)>,
    pub children: Vec<Element>,
    /// The element's own text (concatenated, unescaped).
    pub text: String,
}

impl Element {
    /// The first child of that local name (any namespace: vSphere's answer
    /// bodies put every child in `urn:vim25`).
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The text of a child, if present.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Follows a path of child names.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, n, _)| ns.is_empty() && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// The local part of `xsi:type`, e.g. `InvalidLogin` or `string`.
    pub fn xsi_type(&self) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, n, _)| ns == NS_XSI && n == "type")
            .map(|(_, _, v)| v.rsplit(':').next().unwrap_or(v))
    }
}

/// Parses a document into its root element.
pub fn parse(bytes: &[u8]) -> Result<Element> {
    let mut reader = NsReader::from_reader(bytes);
    reader.config_mut().expand_empty_elements = false;
    let mut buf = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut count = 0usize;
    let mut root = None;
    loop {
        let (ns, event) = match reader.read_resolved_event_into(&mut buf) {
            Ok((ns, event)) => (namespace(ns), event),
            Err(e) => bail!("malformed XML at byte {}: {e}", reader.buffer_position()),
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if stack.len() >= MAX_DEPTH || count > MAX_ELEMENTS {
                    bail!("the XML answer is nested too deep or has too many elements");
                }
                if root.is_some() {
                    bail!("malformed XML: content after the root element");
                }
                let el = element(&reader, ns?, e)?;
                if matches!(event, Event::Start(_)) {
                    stack.push(el);
                } else {
                    close(&mut stack, &mut root, el);
                }
            }
            Event::End(_) => match stack.pop() {
                Some(el) => close(&mut stack, &mut root, el),
                None => bail!("malformed XML: an end tag without a start"),
            },
            Event::Text(t) => {
                let text = t
                    .unescape()
                    .map_err(|e| anyhow::anyhow!("malformed XML text: {e}"))?;
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&text);
                } else if !text.trim().is_empty() {
                    bail!("malformed XML: text outside the root element");
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c.into_inner()));
                }
            }
            Event::DocType(_) => bail!("XML answers with a DOCTYPE are refused"),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
        buf.clear();
    }
    if !stack.is_empty() {
        bail!("malformed XML: the document ends inside an element");
    }
    root.ok_or_else(|| anyhow::anyhow!("the answer is not XML (no root element)"))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

fn namespace(ns: ResolveResult) -> Result<String> {
    match ns {
        ResolveResult::Bound(n) => Ok(String::from_utf8_lossy(n.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => bail!(
            "malformed XML: undeclared namespace prefix {}",
            String::from_utf8_lossy(&p)
        ),
    }
}

fn element(reader: &NsReader<&[u8]>, ns: String, e: &BytesStart) -> Result<Element> {
    let mut el = Element {
        ns,
        name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
        ..Element::default()
    };
    for a in e.attributes() {
        let a = a.map_err(|e| anyhow::anyhow!("malformed XML attribute: {e}"))?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        let (ans, local) = reader.resolve_attribute(a.key);
        let value = a
            .unescape_value()
            .map_err(|e| anyhow::anyhow!("malformed XML attribute: {e}"))?;
        el.attrs.push((
            namespace(ans)?,
            String::from_utf8_lossy(local.as_ref()).into_owned(),
            value.into_owned(),
        ));
    }
    Ok(el)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let node = Node::new("Login")
            .child(
                Node::new("_this")
                    .attr("type", "Session\"Manager")
                    .with_text("x"),
            )
            .child(Node::text("userName", "a&b<c>'d\"\te\r\n"))
            .child(Node::new("empty"));
        let mut out = String::new();
        node.write(&mut out).unwrap();
        assert_eq!(
            out,
            "<Login><_this type=\"Session&quot;Manager\">x</_this>\
             <userName>a&amp;b&lt;c&gt;&apos;d&quot;&#9;e&#13;&#10;</userName><empty/></Login>"
        );
        // What we write reads back as it was.
        let back = parse(out.as_bytes()).unwrap();
        assert_eq!(back.child_text("userName"), Some("a&b<c>'d\"\te\r\n"));
        assert_eq!(
            back.child("_this").unwrap().attr("type"),
            Some("Session\"Manager")
        );
        let err = Node::text("password", "a\u{0}b")
            .write(&mut String::new())
            .unwrap_err();
        assert!(err.to_string().contains("password"), "{err}");
        assert!(!err.to_string().contains("a\u{0}b"));
    }

    #[test]
    fn names_resolve_by_namespace_not_prefix() {
        let doc = br#"<?xml version="1.0"?>
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"
  xmlns:x="http://www.w3.org/2001/XMLSchema-instance">
 <e:Body><R xmlns="urn:vim25"><returnval x:type="xsd:string">v &amp; w</returnval>
 <obj type="Folder">group-d1</obj></R></e:Body></e:Envelope>"#;
        let root = parse(doc).unwrap();
        assert_eq!(
            (root.ns.as_str(), root.name.as_str()),
            (NS_SOAPENV, "Envelope")
        );
        let r = root.path(&["Body", "R"]).unwrap();
        assert_eq!(r.ns, "urn:vim25");
        let v = r.child("returnval").unwrap();
        assert_eq!(v.text, "v & w");
        assert_eq!(v.xsi_type(), Some("string"));
        assert_eq!(r.child("obj").unwrap().attr("type"), Some("Folder"));
    }

    #[test]
    fn bad_documents_are_errors() {
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        let cases: &[&[u8]] = &[
            b"",
            b"not xml",
            b"<a><b></a>",
            b"<a>",
            b"<x:a/>",
            b"<!DOCTYPE a [<!ENTITY e 'x'>]><a>&e;</a>",
            b"<a>&unknown;</a>",
            b"<a/><b/>",
            deep.as_bytes(),
        ];
        for doc in cases {
            assert!(parse(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        }
    }
}
