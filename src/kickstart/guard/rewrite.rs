//! The memory budget's checks, put into the template as Tera parsed it.
//!
//! The parse tree is Tera's own, so nothing here depends on reading the
//! text as Tera does; it has no lines, though, so the lines of the tags
//! come from [`super::scan`], in the order of the text, and are matched
//! to the tree's tags in the same order (a mismatch is refused, as a loop
//! the scan missed is).
//!
//! Each tag that evaluates something (`{{ }}`, `set`, `set_global`, `if`
//! with its `elif`s, `for`, `filter`) gets a call to
//! [`budget::TAG_FN`](super::budget::TAG_FN) before it, listing the
//! footprint of each variable it uses; every filter and function call
//! gets the tag's line as an extra argument; a `set` value gets
//! [`SET_FILTER`] last, a `for` container [`FOR_FILTER`]. The bodies of
//! loops, macros and filter sections start with [`ENTER_FN`]; inside a
//! macro or filter section, whose output Tera collects in a buffer, text
//! is followed by [`TEXT_FN`] and a `{{ }}` ends with [`OUT_FILTER`].
//! Everything added renders as nothing and leaves values as they were:
//! the output is Tera's, byte for byte.
//!
//! `include` and `import` are refused here: esxi-iso renders one
//! template, so they can only name the template itself, and Tera
//! includes or imports it again and again until its stack overflows.

use std::collections::HashMap;

use anyhow::{bail, Result};
use tera::ast::{Block, Expr, ExprVal, FunctionCall, Node, WS};
use tera::Template;

use super::budget::{
    ENTER_FN, FOR_FILTER, LINE_ARG, LOOP, MACRO, OUT_FILTER, SECTION, SET_FILTER, SIZE_FILTER,
    TAG_FN, TEXT_FN, TO_ARG,
};

/// Where a node is.
#[derive(Clone)]
struct Scope {
    /// The innermost loop body, macro or filter section (0: the template).
    id: u32,
    /// Whose frame a `set` stores into: the innermost loop or macro.
    frame: u32,
    /// Whose frame a `set_global` stores into: the innermost macro.
    home: u32,
    /// The buffers output lands in, innermost first: a filter section's,
    /// and through `filter safe` sections the ones around it, up to a
    /// macro's. Empty where output goes straight to the kickstart.
    to: Vec<u32>,
    /// What to call that output in a message, with the line it starts on.
    what: String,
    line: usize,
}

struct Rewriter<'a> {
    name: &'a str,
    lines: std::slice::Iter<'a, usize>,
    scopes: u32,
}

/// Puts the budget's checks into `template` (named `name`), whose tags
/// that hold expressions are on `lines`, and refreshes the copies of its
/// macros and blocks Tera renders from.
pub fn rewrite(name: &str, template: &mut Template, lines: &[usize]) -> Result<()> {
    let mut w = Rewriter {
        name,
        lines: lines.iter(),
        scopes: 0,
    };
    let top = Scope {
        id: 0,
        frame: 0,
        home: 0,
        to: Vec::new(),
        what: String::new(),
        line: 0,
    };
    let ast = std::mem::take(&mut template.ast);
    template.ast = w.body(ast, &top)?;
    if w.lines.next().is_some() {
        bail!(miscounted(name));
    }
    template.macros = template
        .ast
        .iter()
        .filter_map(|n| match n {
            Node::MacroDefinition(_, m, _) => Some((m.name.clone(), m.clone())),
            _ => None,
        })
        .collect();
    template.blocks = HashMap::new();
    blocks(&template.ast, &mut template.blocks);
    Ok(())
}

/// The blocks of `nodes` and of the blocks inside them, as Tera's
/// `Template::new` finds them.
fn blocks(nodes: &[Node], out: &mut HashMap<String, Block>) {
    for n in nodes {
        if let Node::Block(_, b, _) = n {
            out.insert(b.name.clone(), b.clone());
            blocks(&b.body, out);
        }
    }
}

fn miscounted(name: &str) -> String {
    format!(
        "template {name}: esxi-iso could not count this template's tags (its scan and Tera's \
         parser found different ones), so it cannot bound the memory they use; please report \
         the template"
    )
}

impl Rewriter<'_> {
    fn next_line(&mut self) -> Result<usize> {
        match self.lines.next() {
            Some(&l) => Ok(l),
            None => bail!(miscounted(self.name)),
        }
    }

    fn new_scope(&mut self) -> u32 {
        self.scopes += 1;
        self.scopes
    }

    fn body(&mut self, nodes: Vec<Node>, at: &Scope) -> Result<Vec<Node>> {
        self.body_after(Vec::new(), nodes, at)
    }

    /// `nodes` rewritten in scope `at`, after `first`.
    fn body_after(
        &mut self,
        mut first: Vec<Node>,
        nodes: impl IntoIterator<Item = Node>,
        at: &Scope,
    ) -> Result<Vec<Node>> {
        for n in nodes {
            self.node(n, at, &mut first)?;
        }
        Ok(first)
    }

    fn node(&mut self, n: Node, at: &Scope, out: &mut Vec<Node>) -> Result<()> {
        match n {
            Node::Text(ref s) | Node::Raw(_, ref s, _) => {
                let bytes = s.len();
                out.push(n);
                if !at.to.is_empty() && bytes > 0 {
                    out.push(call(TEXT_FN, text_args(bytes, at)));
                }
            }
            Node::VariableBlock(ws, e) => {
                let line = self.next_line()?;
                out.push(tag_check(line, at, &[&e], None)?);
                let mut e = with_line(e, line);
                if !at.to.is_empty() {
                    e.filters.push(fn_call(OUT_FILTER, output_args(line, at)));
                }
                out.push(Node::VariableBlock(ws, e));
            }
            Node::Set(ws, mut set) => {
                let line = self.next_line()?;
                out.push(tag_check(line, at, &[&set.value], None)?);
                set.value = with_line(set.value, line);
                let (tag, frame) = if set.global {
                    ("set_global", at.home)
                } else {
                    ("set", at.frame)
                };
                set.value.filters.push(fn_call(
                    SET_FILTER,
                    [
                        ("name", string(&set.key)),
                        ("tag", string(tag)),
                        ("frame", int(frame)),
                        ("line", int(line)),
                    ],
                ));
                out.push(Node::Set(ws, set));
            }
            Node::If(mut i, ws) => {
                let conditions: Vec<&Expr> = i.conditions.iter().map(|(_, e, _)| e).collect();
                let line = self.next_line()?;
                out.push(tag_check(line, at, &conditions, None)?);
                let mut first = Some(line);
                for (_, cond, body) in &mut i.conditions {
                    let line = match first.take() {
                        Some(l) => l,
                        None => self.next_line()?,
                    };
                    *cond = with_line(
                        std::mem::replace(cond, Expr::new(ExprVal::Bool(false))),
                        line,
                    );
                    *body = self.body(std::mem::take(body), at)?;
                }
                if let Some((_, body)) = &mut i.otherwise {
                    *body = self.body(std::mem::take(body), at)?;
                }
                out.push(Node::If(i, ws));
            }
            Node::Forloop(ws, mut f, ws2) => {
                let line = self.next_line()?;
                let id = self.new_scope();
                out.push(tag_check(line, at, &[&f.container], Some(id))?);
                f.container = with_line(f.container, line);
                f.container
                    .filters
                    .push(fn_call(FOR_FILTER, [(LINE_ARG, int(line))]));
                let inner = Scope {
                    id,
                    frame: id,
                    ..at.clone()
                };
                let mut body = std::mem::take(&mut f.body).into_iter();
                // The step guard::verify found first in every loop body.
                let first = body.next().into_iter().chain([enter(id, LOOP)]);
                f.body = self.body_after(first.collect(), body, &inner)?;
                if let Some(empty) = f.empty_body.take() {
                    f.empty_body = Some(self.body(empty, at)?);
                }
                out.push(Node::Forloop(ws, f, ws2));
            }
            Node::FilterSection(ws, mut s, ws2) => {
                let line = self.next_line()?;
                let id = self.new_scope();
                let args: Vec<&Expr> = s.filter.args.values().collect();
                out.push(tag_check(line, at, &args, None)?);
                s.filter = fn_with_line(s.filter, line);
                if !at.to.is_empty() {
                    s.filter.args.insert(TO_ARG.into(), ids(&at.to));
                }
                // `filter safe` is no filter: Tera writes the section's
                // buffer as it is into the one around it.
                let mut to = vec![id];
                if s.filter.name == "safe" {
                    to.extend(&at.to);
                }
                let inner = Scope {
                    id,
                    to,
                    what: "the output of this filter section".into(),
                    line,
                    ..at.clone()
                };
                s.body = self.body_after(vec![enter(id, SECTION)], s.body, &inner)?;
                out.push(Node::FilterSection(ws, s, ws2));
            }
            Node::MacroDefinition(ws, mut m, ws2) => {
                let line = self.next_line()?;
                let id = self.new_scope();
                let inner = Scope {
                    id,
                    frame: id,
                    home: id,
                    to: vec![id],
                    what: format!("the output of macro {}", m.name),
                    line,
                };
                m.body = self.body_after(vec![enter(id, MACRO)], m.body, &inner)?;
                out.push(Node::MacroDefinition(ws, m, ws2));
            }
            Node::Block(ws, mut b, ws2) => {
                b.body = self.body(std::mem::take(&mut b.body), at)?;
                out.push(Node::Block(ws, b, ws2));
            }
            Node::Include(..) | Node::ImportMacro(..) => bail!(
                "template {}: esxi-iso renders one template file, so {{% include %}} and \
                 {{% import %}} could only load the template itself, which Tera would do again \
                 and again until its stack overflows: put what you need in this file",
                self.name
            ),
            Node::Super
            | Node::Comment(..)
            | Node::Extends(..)
            | Node::Break(..)
            | Node::Continue(..) => out.push(n),
        }
        Ok(())
    }
}

/// The check before a tag at `line` in scope `at` that evaluates `exprs`;
/// `for_loop` for a `for` tag.
fn tag_check(line: usize, at: &Scope, exprs: &[&Expr], for_loop: Option<u32>) -> Result<Node> {
    let mut used = Vec::new();
    for e in exprs {
        variables(e, &mut used);
    }
    if used.iter().any(|v| v == MAGIC_DUMP) {
        bail!(
            "line {line}: {MAGIC_DUMP} is turned off in esxi-iso templates: it prints every \
             variable (copying them all, in a size that cannot be known in advance); name the \
             variables you need"
        );
    }
    let sizes = used
        .into_iter()
        .map(|v| Expr {
            val: ExprVal::Ident(v),
            negated: false,
            filters: vec![
                fn_call("default", [("value", string(""))]),
                fn_call(SIZE_FILTER, []),
            ],
        })
        .collect();
    let mut args = vec![
        ("line", int(line)),
        ("scope", int(at.id)),
        ("sizes", Expr::new(ExprVal::Array(sizes))),
    ];
    if let Some(id) = for_loop {
        args.push(("loop", int(id)));
    }
    Ok(call(TAG_FN, args))
}

/// Tera's name for a dump of every variable.
const MAGIC_DUMP: &str = "__tera_context";

/// Every variable `e` reads, once for each time it names it.
fn variables(e: &Expr, out: &mut Vec<String>) {
    super::expr_vals(e, &mut |v| match v {
        ExprVal::Ident(i) => read(i, out),
        ExprVal::Test(t) => read(&t.ident, out),
        _ => {}
    });
}

/// How many copies of a variable used as an index (`a[b]`) Tera makes:
/// it pastes the value into the path, which it then rewrites in several
/// passes, two strings alive at a time, and quotes in its error.
const INDEX_COPIES: usize = 4;

/// Variable `name`, and the variables it is indexed by, however deep
/// (each index's copies are made once, whatever its depth). An indexed
/// path counts as the variable it starts with, which holds what it
/// reaches: looking the path itself up would paste the indexes in, the
/// very copies being counted.
fn read(name: &str, out: &mut Vec<String>) {
    let base = |path: &str| path.split('[').next().unwrap_or(path).to_string();
    out.push(base(name));
    let mut todo = indexes(name);
    while let Some(sub) = todo.pop() {
        out.extend(std::iter::repeat_n(base(sub), INDEX_COPIES));
        todo.extend(indexes(sub));
    }
}

/// What Tera evaluates inside the square brackets of a path: not quoted
/// strings and not numbers (its `pull_out_square_bracket`).
fn indexes(path: &str) -> Vec<&str> {
    let b = path.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'[' || matches!(b.get(i + 1), Some(b'"' | b'\'') | None) {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut depth = 1;
        let mut j = start;
        while j < b.len() && depth > 0 {
            depth += usize::from(b[j] == b'[');
            depth -= usize::from(b[j] == b']');
            j += 1;
        }
        if depth > 0 {
            break;
        }
        let sub = &path[start..j - 1];
        if sub.parse::<usize>().is_err() {
            out.push(sub);
        }
        i = j;
    }
    out
}

/// `e` with `line` added to the arguments of every filter and function
/// call in it (not to `default` and `safe`, which Tera never calls).
fn with_line(mut e: Expr, line: usize) -> Expr {
    e.filters = e
        .filters
        .into_iter()
        .map(|f| match f.name.as_str() {
            "default" | "safe" => FunctionCall {
                args: args_with_line(f.args, line),
                ..f
            },
            _ => fn_with_line(f, line),
        })
        .collect();
    e.val = val_with_line(e.val, line);
    e
}

fn val_with_line(v: ExprVal, line: usize) -> ExprVal {
    let boxed = |e: Box<Expr>| Box::new(with_line(*e, line));
    match v {
        ExprVal::FunctionCall(c) => ExprVal::FunctionCall(fn_with_line(c, line)),
        ExprVal::MacroCall(mut c) => {
            c.args = args_with_line(c.args, line);
            ExprVal::MacroCall(c)
        }
        ExprVal::Test(mut t) => {
            t.args = t.args.into_iter().map(|a| with_line(a, line)).collect();
            ExprVal::Test(t)
        }
        ExprVal::Math(mut m) => {
            m.lhs = boxed(m.lhs);
            m.rhs = boxed(m.rhs);
            ExprVal::Math(m)
        }
        ExprVal::Logic(mut l) => {
            l.lhs = boxed(l.lhs);
            l.rhs = boxed(l.rhs);
            ExprVal::Logic(l)
        }
        ExprVal::In(mut i) => {
            i.lhs = boxed(i.lhs);
            i.rhs = boxed(i.rhs);
            ExprVal::In(i)
        }
        ExprVal::Array(items) => {
            ExprVal::Array(items.into_iter().map(|a| with_line(a, line)).collect())
        }
        ExprVal::StringConcat(mut s) => {
            s.values = s
                .values
                .into_iter()
                .map(|v| val_with_line(v, line))
                .collect();
            ExprVal::StringConcat(s)
        }
        v @ (ExprVal::Ident(_)
        | ExprVal::String(_)
        | ExprVal::Int(_)
        | ExprVal::Float(_)
        | ExprVal::Bool(_)) => v,
    }
}

/// A filter or function call with `line` among its arguments.
fn fn_with_line(mut f: FunctionCall, line: usize) -> FunctionCall {
    f.args = args_with_line(f.args, line);
    f.args.insert(LINE_ARG.into(), int(line));
    f
}

fn args_with_line(args: HashMap<String, Expr>, line: usize) -> HashMap<String, Expr> {
    args.into_iter()
        .map(|(k, a)| (k, with_line(a, line)))
        .collect()
}

fn text_args(bytes: usize, at: &Scope) -> Vec<(&'static str, Expr)> {
    let mut args = output_args(at.line, at);
    args.push(("bytes", int(bytes)));
    args
}

fn output_args(line: usize, at: &Scope) -> Vec<(&'static str, Expr)> {
    vec![
        ("to", ids(&at.to)),
        ("line", int(line)),
        ("what", string(&at.what)),
    ]
}

fn enter(id: u32, kind: u64) -> Node {
    call(ENTER_FN, [("scope", int(id)), ("kind", int(kind))])
}

/// `{{ name(args) }}`.
fn call<'a>(name: &str, args: impl IntoIterator<Item = (&'a str, Expr)>) -> Node {
    Node::VariableBlock(
        WS::default(),
        Expr::new(ExprVal::FunctionCall(fn_call(name, args))),
    )
}

fn fn_call<'a>(name: &str, args: impl IntoIterator<Item = (&'a str, Expr)>) -> FunctionCall {
    FunctionCall {
        name: name.into(),
        args: args.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    }
}

fn int(n: impl TryInto<i64>) -> Expr {
    Expr::new(ExprVal::Int(n.try_into().unwrap_or(i64::MAX)))
}

fn string(s: &str) -> Expr {
    Expr::new(ExprVal::String(s.into()))
}

fn ids(ids: &[u32]) -> Expr {
    Expr::new(ExprVal::Array(ids.iter().map(|&i| int(i)).collect()))
}
