//! Which variables a template reads, from Tera's own parse of it: the
//! names it takes from the context, each with the first line that names
//! it, and whether it only ever reads them under a guard, so that leaving
//! them unset is fine.
//!
//! The guards are those under which Tera renders a missing variable
//! without an error (its `renderer/processor.rs`, 1.20): `is defined` and
//! `is undefined`; `| default(...)`; `not NAME`, true when NAME is
//! missing; and a variable (with any filters) that Tera evaluates for its
//! truth, as an `if` or `elif` condition or a side of `and` or `or`, where
//! any failure to evaluate it reads as false. A condition that holds
//! guarantees its variables inside its body: `{% if a %}{{ a }}{% endif %}`
//! renders without `a`. A comparison, a test, math or `in` fails on a
//! missing variable wherever it is.
//!
//! Names a template binds itself are not context reads: `{% set %}`
//! targets from where they are set on, loop variables (and `loop`) in
//! their loop, macro arguments in their macro. A template that reads the
//! whole context (`__tera_context`) may read anything.
//!
//! [`Uses`] is what lets esxi-iso refuse a variable nothing reads (a
//! misspelled `--set hostnmae=`) and name every variable a render misses,
//! not only the first one Tera stops at.

use std::collections::{BTreeMap, BTreeSet};

use tera::ast::{Expr, ExprVal, LogicOperator, Node};

/// Tera's name for the whole context.
const WHOLE_CONTEXT: &str = "__tera_context";

/// The context variables a template reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uses {
    /// By name: the first line that names it (0 when not found in the
    /// text), and whether every read is guarded.
    pub vars: BTreeMap<String, Use>,
    /// The template reads `__tera_context`: any variable may be read.
    pub whole_context: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Use {
    pub line: usize,
    /// Every read is one Tera renders without the variable (see the
    /// module's header).
    pub guarded: bool,
}

impl Uses {
    /// Collects the context reads of a parsed template whose text is `text`
    /// (for line numbers; the instrumented text has the same lines).
    pub fn of(template: &tera::Template, text: &str) -> Uses {
        let mut walk = Walk::default();
        walk.nodes(&template.ast);
        // Macros live beside the AST. What their bodies read counts (a
        // conservative choice: Tera passes them only their arguments).
        let mut macros: Vec<_> = template.macros.values().collect();
        macros.sort_by(|a, b| a.name.cmp(&b.name));
        for m in macros {
            walk.scoped(m.args.keys().cloned(), |w| {
                for default in m.args.values().flatten() {
                    w.expr(default, false);
                }
                w.nodes(&m.body);
            });
        }
        let lines = first_lines(text);
        let vars = walk
            .reads
            .into_iter()
            .map(|(name, guarded)| {
                let line = lines.get(name.as_str()).copied().unwrap_or(0);
                (name, Use { line, guarded })
            })
            .collect();
        Uses {
            vars,
            whole_context: walk.whole_context,
        }
    }

    /// Whether `name` is read at all.
    pub fn reads(&self, name: &str) -> bool {
        self.whole_context || self.vars.contains_key(name)
    }

    /// Names read without a guard, with their first line.
    pub fn required(&self) -> impl Iterator<Item = (&str, usize)> {
        self.vars
            .iter()
            .filter(|(_, u)| !u.guarded)
            .map(|(n, u)| (n.as_str(), u.line))
    }
}

/// Walks a template in order, keeping the names bound in each scope.
#[derive(Default)]
struct Walk {
    /// Bound names, innermost scope last.
    scopes: Vec<BTreeSet<String>>,
    /// Context reads: name -> guarded so far.
    reads: BTreeMap<String, bool>,
    whole_context: bool,
    /// Names an enclosing `{% if %}` guarantees (`NAME is defined`, `NAME`).
    defined: Vec<BTreeSet<String>>,
    /// Inside a variable Tera evaluates for its truth: every failure
    /// there reads as false, so every read is guarded.
    lenient: usize,
}

impl Walk {
    fn bound(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.contains(name))
    }

    fn bind(&mut self, name: &str, global: bool) {
        let scope = if global {
            self.scopes.first_mut()
        } else {
            self.scopes.last_mut()
        };
        match scope {
            Some(s) => {
                s.insert(name.to_string());
            }
            None => self.scopes.push(BTreeSet::from([name.to_string()])),
        }
    }

    fn scoped(&mut self, names: impl IntoIterator<Item = String>, f: impl FnOnce(&mut Walk)) {
        self.scopes.push(names.into_iter().collect());
        f(self);
        self.scopes.pop();
    }

    fn read(&mut self, ident: &str, guarded: bool) {
        for root in roots(ident) {
            if root == WHOLE_CONTEXT {
                self.whole_context = true;
            } else if !self.bound(root) {
                let guarded =
                    guarded || self.lenient > 0 || self.defined.iter().any(|d| d.contains(root));
                let g = self.reads.entry(root.to_string()).or_insert(guarded);
                *g &= guarded;
            }
        }
    }

    fn nodes(&mut self, nodes: &[Node]) {
        if self.scopes.is_empty() {
            self.scopes.push(BTreeSet::new());
        }
        for n in nodes {
            match n {
                Node::VariableBlock(_, e) => self.expr(e, false),
                Node::Set(_, s) => {
                    self.expr(&s.value, false);
                    self.bind(&s.key, s.global);
                }
                Node::Forloop(_, f, _) => {
                    self.expr(&f.container, false);
                    let mut names = vec![f.value.clone(), "loop".to_string()];
                    names.extend(f.key.clone());
                    self.scoped(names, |w| w.nodes(&f.body));
                    if let Some(empty) = &f.empty_body {
                        self.nodes(empty);
                    }
                }
                Node::If(i, _) => {
                    for (_, cond, body) in &i.conditions {
                        self.condition(cond);
                        let mut sure = BTreeSet::new();
                        defined_by(cond, &mut sure);
                        self.defined.push(sure);
                        self.nodes(body);
                        self.defined.pop();
                    }
                    if let Some((_, body)) = &i.otherwise {
                        self.nodes(body);
                    }
                }
                Node::FilterSection(_, f, _) => {
                    self.call_args(&f.filter.args);
                    self.nodes(&f.body);
                }
                Node::Block(_, b, _) => self.nodes(&b.body),
                Node::MacroDefinition(_, m, _) => {
                    self.scoped(m.args.keys().cloned(), |w| w.nodes(&m.body));
                }
                Node::Super
                | Node::Text(_)
                | Node::Extends(..)
                | Node::Include(..)
                | Node::ImportMacro(..)
                | Node::Raw(..)
                | Node::Break(_)
                | Node::Continue(_)
                | Node::Comment(..) => {}
            }
        }
    }

    fn expr(&mut self, e: &Expr, guarded: bool) {
        // Tera gives a missing variable `default`'s value, and makes `not`
        // of one true before it runs any filter (whose arguments it then
        // does not read).
        let guarded =
            guarded || e.has_default_filter() || (e.negated && matches!(e.val, ExprVal::Ident(_)));
        self.val(&e.val, guarded);
        for f in &e.filters {
            self.call_args(&f.args);
        }
    }

    /// An expression Tera evaluates for its truth (its `eval_as_bool`): an
    /// `if` or `elif` condition, a side of `and` or `or`. A variable there
    /// is false when Tera fails to evaluate it, for whatever reason
    /// (missing, a missing index, a filter's error), so nothing it reads
    /// is required; anything else fails as it does elsewhere.
    fn condition(&mut self, e: &Expr) {
        if matches!(e.val, ExprVal::Ident(_)) {
            self.lenient += 1;
            self.expr(e, true);
            self.lenient -= 1;
        } else {
            self.expr(e, false);
        }
    }

    fn call_args(&mut self, args: &std::collections::HashMap<String, Expr>) {
        let mut args: Vec<_> = args.iter().collect();
        args.sort_by(|a, b| a.0.cmp(b.0));
        for (_, a) in args {
            self.expr(a, false);
        }
    }

    fn val(&mut self, v: &ExprVal, guarded: bool) {
        match v {
            ExprVal::Ident(i) => self.read(i, guarded),
            ExprVal::Math(m) => {
                self.expr(&m.lhs, false);
                self.expr(&m.rhs, false);
            }
            ExprVal::Logic(l) => match l.operator {
                LogicOperator::And | LogicOperator::Or => {
                    self.condition(&l.lhs);
                    self.condition(&l.rhs);
                }
                _ => {
                    self.expr(&l.lhs, false);
                    self.expr(&l.rhs, false);
                }
            },
            ExprVal::In(i) => {
                self.expr(&i.lhs, false);
                self.expr(&i.rhs, false);
            }
            ExprVal::Test(t) => {
                let is_defined_test = matches!(t.name.as_str(), "defined" | "undefined");
                self.read(&t.ident, is_defined_test);
                for a in &t.args {
                    self.expr(a, false);
                }
            }
            ExprVal::MacroCall(c) => self.call_args(&c.args),
            ExprVal::FunctionCall(c) => self.call_args(&c.args),
            ExprVal::Array(items) => {
                for i in items {
                    self.expr(i, false);
                }
            }
            ExprVal::StringConcat(c) => {
                for v in &c.values {
                    self.val(v, false);
                }
            }
            ExprVal::String(_) | ExprVal::Int(_) | ExprVal::Float(_) | ExprVal::Bool(_) => {}
        }
    }
}

/// The names a condition guarantees to be defined when it holds: those
/// of `NAME is defined` tests and of variables (whose lookup, indexes
/// included, must have worked for them to be true; not with `default`),
/// joined by `and`.
fn defined_by(cond: &Expr, out: &mut BTreeSet<String>) {
    if cond.negated {
        return;
    }
    match &cond.val {
        ExprVal::Test(t) if t.name == "defined" && !t.negated => {
            out.extend(roots(&t.ident).into_iter().take(1).map(str::to_string));
        }
        ExprVal::Ident(i) if !cond.has_default_filter() => {
            out.extend(roots(i).into_iter().map(str::to_string));
        }
        ExprVal::Logic(l) if l.operator == LogicOperator::And => {
            defined_by(&l.lhs, out);
            defined_by(&l.rhs, out);
        }
        _ => {}
    }
}

/// The context names a Tera identifier reads: its first segment, and any
/// identifier inside square brackets (`hosts[name].ip` reads `hosts` and
/// `name`; `overlay["a.txt"]` reads `overlay`).
fn roots(ident: &str) -> Vec<&str> {
    let b = ident.as_bytes();
    let mut out = Vec::new();
    let word_end = |from: usize| {
        from + b[from..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count()
    };
    let first = word_end(0);
    if first > 0 {
        out.push(&ident[..first]);
    }
    let mut i = first;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                i = b[i + 1..]
                    .iter()
                    .position(|&c| c == q)
                    .map_or(b.len(), |p| i + 1 + p + 1)
            }
            b'[' => {
                let start = i + 1;
                let end = word_end(start);
                if end > start && !b[start].is_ascii_digit() {
                    out.extend(roots(&ident[start..]).into_iter().take(1));
                }
                i = end.max(start);
            }
            _ => i += 1,
        }
    }
    out
}

/// The first line on which each word appears inside a tag (`{{ }}`,
/// `{% %}`) of `text`, outside strings; the second part of `a.b` does not
/// count as a word of its own.
fn first_lines(text: &str) -> BTreeMap<&str, usize> {
    let mut out = BTreeMap::new();
    for (at, word) in super::guard::tag_words(text) {
        out.entry(word).or_insert(at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uses(text: &str) -> Uses {
        let mut tera = tera::Tera::default();
        tera.add_raw_template("t", text).unwrap();
        Uses::of(tera.get_template("t").unwrap(), text)
    }

    fn names(u: &Uses) -> Vec<(&str, usize, bool)> {
        u.vars
            .iter()
            .map(|(n, u)| (n.as_str(), u.line, u.guarded))
            .collect()
    }

    #[test]
    fn reads_bindings_and_guards() {
        // (template, [(name, line, guarded)])
        type Case<'a> = (&'a str, &'a [(&'a str, usize, bool)]);
        let cases: &[Case] = &[
            ("{{ a }} {{ b.c }}", &[("a", 1, false), ("b", 1, false)]),
            ("{% set x = y %}\n{{ x }}", &[("y", 1, false)]),
            ("{{ x }}\n{% set x = 1 %}{{ x }}", &[("x", 1, false)]),
            (
                "{% for h in hosts %}{{ h.name }} {{ loop.index }} {{ z }}{% endfor %}\n{{ h }}",
                &[("h", 1, false), ("hosts", 1, false), ("z", 1, false)],
            ),
            (
                "{% if v is defined %}\n{{ w | default(value=u) }}\n{% endif %}",
                &[("u", 2, false), ("v", 1, true), ("w", 2, true)],
            ),
            (
                "{{ m[k] }} {{ o[\"x.y\"] }} {{ p[0] }}",
                &[
                    ("k", 1, false),
                    ("m", 1, false),
                    ("o", 1, false),
                    ("p", 1, false),
                ],
            ),
            (
                "{% macro f(a) %}{{ a }}{{ g }}{% endmacro f %}\n{{ self::f(a=q) }}",
                &[("g", 1, false), ("q", 2, false)],
            ),
            (
                "{# {{ nope }} #}{% raw %}{{ nope2 }}{% endraw %}{{ 'lit' ~ s }}",
                &[("s", 1, false)],
            ),
            // A bare `b` as a side of `and`: Tera reads it as false when
            // it is missing.
            (
                "{% if a is defined and b %}{{ a }}{% else %}{{ a }}{% endif %}",
                &[("a", 1, false), ("b", 1, true)],
            ),
            (
                "{% if a is defined and b > 1 %}\n{{ a.x }}{% endif %}",
                &[("a", 1, true), ("b", 1, false)],
            ),
            (
                "{% if not a is defined %}{{ a }}{% endif %}",
                &[("a", 1, false)],
            ),
            (
                "{% filter upper %}{{ t | replace(from=f1, to='x') }}{% endfilter %}",
                &[("f1", 1, false), ("t", 1, false)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(names(&uses(text)), *want, "{text}");
        }
        let all = uses("{{ __tera_context }}");
        assert!(all.whole_context && all.reads("anything"));
    }

    /// Tera is the oracle: a name is guarded exactly when the template,
    /// which renders with every name it reads set to the row's values,
    /// still renders with that one name left out.
    #[test]
    fn guarded_as_tera_renders() {
        // (template, the value of every name it reads, as JSON)
        let cases: &[(&str, &str)] = &[
            // A variable as a condition, alone, under `not`, `and`, `or`,
            // with filters: Tera reads a failed lookup (or filter) as false.
            ("{% if a %}x{% endif %}", r#"{"a": 1}"#),
            ("{% if a.b %}x{% endif %}", r#"{"a": {"b": 1}}"#),
            ("{% if not a %}x{% endif %}", r#"{"a": 1}"#),
            ("{% if a and b %}x{% endif %}", r#"{"a": 1, "b": 1}"#),
            ("{% if a or b %}x{% endif %}", r#"{"a": 0, "b": 1}"#),
            (
                "{% if not a and not b or c %}x{% endif %}",
                r#"{"a": 0, "b": 0, "c": 1}"#,
            ),
            ("{% if x %}{% elif a %}y{% endif %}", r#"{"x": 0, "a": 1}"#),
            ("{% if a | length %}x{% endif %}", r#"{"a": "abc"}"#),
            (
                "{% if a | replace(from=b, to='y') %}x{% endif %}",
                r#"{"a": "abc", "b": "b"}"#,
            ),
            ("{% if m[k] %}x{% endif %}", r#"{"m": {"q": 1}, "k": "q"}"#),
            // `and` and `or` are conditions wherever they are.
            ("{{ a or b }}", r#"{"a": 0, "b": 1}"#),
            ("{% set c = a and b %}{{ c }}", r#"{"a": 1, "b": 1}"#),
            // `not` on a variable is true when the variable is missing;
            // its filters run only when it is there.
            ("{{ not a }}", r#"{"a": 1}"#),
            (
                "{{ not a | replace(from=b, to='y') }}",
                r#"{"a": "abc", "b": "b"}"#,
            ),
            // Anything else in a condition fails on a missing variable.
            ("{% if a == 1 %}x{% endif %}", r#"{"a": 1}"#),
            ("{% if not a == 1 %}x{% endif %}", r#"{"a": 1}"#),
            ("{% if a | length > 0 %}x{% endif %}", r#"{"a": "abc"}"#),
            ("{% if a > 1 %}x{% endif %}", r#"{"a": 2}"#),
            ("{% if a + 1 %}x{% endif %}", r#"{"a": 1}"#),
            ("{% if a is string %}x{% endif %}", r#"{"a": "abc"}"#),
            ("{% if a in b %}x{% endif %}", r#"{"a": "b", "b": "abc"}"#),
            ("{% if 'x' ~ a %}x{% endif %}", r#"{"a": "b"}"#),
            ("{% if a and b == 1 %}x{% endif %}", r#"{"a": 1, "b": 1}"#),
            (
                "{% if a | default(value=b) %}x{% endif %}{{ b }}",
                r#"{"a": 1, "b": 1}"#,
            ),
            ("{{ a }}", r#"{"a": 1}"#),
            ("{% set c = a %}", r#"{"a": 1}"#),
            // What a condition guarantees in its body.
            ("{% if a %}{{ a }}{% endif %}", r#"{"a": 1}"#),
            ("{% if a.b %}{{ a }}{% endif %}", r#"{"a": {"b": 1}}"#),
            ("{% if a | length %}{{ a }}{% endif %}", r#"{"a": "abc"}"#),
            (
                "{% if a and b %}{{ a }}{{ b }}{% endif %}",
                r#"{"a": 1, "b": 1}"#,
            ),
            (
                "{% if m[k] %}{{ k }}{% endif %}",
                r#"{"m": {"q": 1}, "k": "q"}"#,
            ),
            (
                "{% if a %}{% for i in a %}{{ i }}{% endfor %}{% endif %}",
                r#"{"a": [1]}"#,
            ),
            (
                "{% if a is defined and b %}{{ a }}{% endif %}",
                r#"{"a": 1, "b": 1}"#,
            ),
            ("{% if a %}{% else %}{{ a }}{% endif %}", r#"{"a": 0}"#),
            (
                "{% if a %}{% elif b %}{{ a }}{% endif %}",
                r#"{"a": 0, "b": 1}"#,
            ),
            ("{% if not a %}{{ a }}{% endif %}", r#"{"a": 0}"#),
            ("{% if a or b %}{{ a }}{% endif %}", r#"{"a": 1, "b": 1}"#),
            ("{% if a == 1 %}{{ a }}{% endif %}", r#"{"a": 1}"#),
            (
                "{% if a | default(value=1) %}{{ a }}{% endif %}",
                r#"{"a": 1}"#,
            ),
        ];
        let render = |text: &str, values: &serde_json::Map<String, serde_json::Value>| {
            let ctx = tera::Context::from_value(values.clone().into()).unwrap();
            tera::Tera::one_off(text, &ctx, false)
        };
        let mut wrong = Vec::new();
        for (text, values) in cases {
            let values: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(values).unwrap();
            let u = uses(text);
            let read: Vec<&String> = u.vars.keys().collect();
            let given: Vec<&String> = values.keys().collect();
            assert_eq!(read, given, "{text}: the names it reads");
            if let Err(e) = render(text, &values) {
                panic!("{text}: Tera fails with every name set: {e:?}");
            }
            for (name, read) in &u.vars {
                let mut without = values.clone();
                without.remove(name);
                let tera_renders = render(text, &without).is_ok();
                if read.guarded != tera_renders {
                    wrong.push(format!(
                        "{text} without {name}: guarded is {}, Tera {}",
                        read.guarded,
                        if tera_renders { "renders" } else { "fails" }
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn identifier_roots() {
        assert_eq!(roots("a"), ["a"]);
        assert_eq!(roots("a.b.c"), ["a"]);
        assert_eq!(roots("a[b].c[\"d[e]\"][f_1]"), ["a", "b", "f_1"]);
        assert_eq!(roots("a[0]"), ["a"]);
    }
}
