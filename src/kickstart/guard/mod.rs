//! What a template may make Tera do, bounded.
//!
//! Tera has no limits of its own. Its parser and renderer recurse once per
//! nested block, bracket and binary operator, so a 40 KB template of
//! nested parentheses or a macro that calls itself overflows the stack and
//! aborts the process; three nested loops over `range(end=65536)` run for
//! weeks; and a string doubled in a loop takes all the memory there is.
//! Before Tera sees a template, [`instrument`] (`scan.rs`) checks the text
//! against the limits below (in one pass over its bytes, following Tera's
//! grammar: tags, strings, comments and raw blocks) and puts a call to
//! [`STEP_FN`] at the start of every loop body, which counts iterations
//! against [`STEPS_MAX`]. [`check_macros`] refuses recursive and deeply
//! chained macros from the parsed template ([`check_macro_math`], a macro
//! call Tera would panic on), and [`verify`] confirms on the parsed
//! instrumented template that every loop, and nothing else, got its step.
//! [`add_template`] gives each parse a budget of parser calls, since
//! Tera's parser backtracks exponentially on some malformed nesting.
//! [`bound_memory`] (`budget.rs`, `rewrite.rs`, `sizes.rs`) puts checks
//! into the parsed template and around Tera's filters that hold what a
//! render keeps to [`MEMORY_MAX`], and count the work on long values as
//! steps too. The renderer runs on a thread with a [`STACK`] large enough
//! for everything the limits allow.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{bail, Result};
use tera::ast::{Expr, ExprVal, LogicOperator, Node};

mod budget;
mod rewrite;
mod scan;
mod sizes;

pub use budget::{install as bound_memory, Budget, BYTES_PER_STEP, MEMORY_MAX, VALUE_DEPTH_MAX};
pub use scan::{instrument, tag_words, Instrumented};

/// What the names of esxi-iso's own template functions and filters start
/// with; a template that uses such a name is refused.
pub const RESERVED: &str = "__esxi_iso_";

/// The function called at the start of every loop body.
pub const STEP_FN: &str = "__esxi_iso_loop_step";

/// Most steps in one render: loop iterations, `range` items, and a step
/// per [`BYTES_PER_STEP`] copied or made on the way. Real
/// kickstart templates loop over a few disks, NICs or port groups.
pub const STEPS_MAX: u64 = 1 << 22;

/// Most words, numbers, strings and symbols in one tag. Tera parses and
/// evaluates an expression recursively, one level per operator or
/// bracket, so a 400 KB `{{ 1 + 1 + ... }}` overflowed the stack.
const TAG_TOKENS_MAX: usize = 1024;

/// Most blocks (`for`, `if`, `macro`, `filter`, `block`) open at once.
const NESTING_MAX: usize = 64;

/// Longest chain of macros calling macros.
const MACRO_DEPTH_MAX: usize = 16;

/// Parser calls allowed per byte of template, and at least. Tera's parser
/// (pest) backtracks, exponentially on some malformed nesting: a 184-byte
/// template the fuzzer found kept it busy for minutes. Valid templates of
/// 1 MB measured 5 to 31 calls per byte (plain text the fewest, dense
/// `if`/`elif` tags the most).
const PARSE_CALLS_PER_BYTE: usize = 64;
const PARSE_CALLS_MIN: usize = 100_000;

/// What pest reports when a parse runs out of calls.
const CALL_LIMIT_REACHED: &str = "call limit reached";

/// Stack of the thread that parses and renders. At the limits above, the
/// deepest template measured about 3.4 KiB of stack per level of an
/// expression and 7.3 KiB per nested block: 16 macros deep, each with 64
/// nested blocks and a 1024-token expression at the bottom, stays under
/// 40 MiB. Only the pages touched are ever resident.
pub const STACK: usize = 64 << 20;

/// Runs `f` on its own thread, named [`super::RENDER_THREAD`], with
/// [`STACK`]: what Tera needs for a template within the limits. The outer
/// error is the thread not starting; the inner one, `f` panicking.
pub fn on_render_thread<T: Send>(
    f: impl FnOnce() -> T + Send,
) -> std::io::Result<std::thread::Result<T>> {
    std::thread::scope(|s| {
        Ok(std::thread::Builder::new()
            .name(super::RENDER_THREAD.into())
            .stack_size(STACK)
            .spawn_scoped(s, f)?
            .join())
    })
}

/// The steps one render has taken: loop iterations (through [`STEP_FN`])
/// and `range` items, shared by the functions that take them.
#[derive(Clone, Default)]
pub struct Steps(Arc<AtomicU64>);

impl Steps {
    /// Counts `n` more steps; an error once past [`STEPS_MAX`].
    pub fn take(&self, n: u64) -> tera::Result<()> {
        if self.0.fetch_add(n, Ordering::Relaxed).saturating_add(n) > STEPS_MAX {
            return Err(tera::Error::msg(format!("more than {STEPS_MAX} steps")));
        }
        Ok(())
    }

    pub fn exceeded(&self) -> bool {
        self.0.load(Ordering::Relaxed) > STEPS_MAX
    }

    /// Registers [`STEP_FN`] with `tera`: one step per call.
    pub fn register(&self, tera: &mut tera::Tera) {
        let steps = self.clone();
        tera.register_function(STEP_FN, move |_: &HashMap<String, tera::Value>| {
            steps.take(1)?;
            Ok(tera::Value::from(""))
        });
    }
}

/// Adds `text` to `tera` as template `name`, its parse held to
/// `PARSE_CALLS_PER_BYTE`. pest's call limit is one setting for the whole
/// process, so parses take turns setting it; they are short.
pub fn add_template(tera: &mut tera::Tera, name: &str, text: &str) -> tera::Result<()> {
    static PARSING: Mutex<()> = Mutex::new(());
    let _turn = PARSING.lock().unwrap_or_else(PoisonError::into_inner);
    let calls = PARSE_CALLS_PER_BYTE
        .saturating_mul(text.len())
        .max(PARSE_CALLS_MIN);
    pest::set_call_limit(NonZeroUsize::new(calls));
    tera.add_raw_template(name, text)
}

/// Whether a parse error is pest running out of calls.
pub fn out_of_parser_calls(e: &tera::Error) -> bool {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    while let Some(c) = cause {
        if c.to_string().contains(CALL_LIMIT_REACHED) {
            return true;
        }
        cause = c.source();
    }
    false
}

/// The error for a template whose parse ran out of calls.
pub fn too_complex(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "template {name} is too complex for Tera's parser (more than {PARSE_CALLS_PER_BYTE} \
         parser steps per byte), which backtracks on unclosed parentheses and calls nested \
         in each other: check the template's brackets"
    )
}

/// Refuses macros that call themselves, directly or through others, and
/// chains of calls deeper than `MACRO_DEPTH_MAX`: Tera renders both
/// recursively, until the stack overflows.
pub fn check_macros(name: &str, template: &tera::Template) -> Result<()> {
    let calls: HashMap<&str, Vec<&str>> = template
        .macros
        .iter()
        .map(|(m, def)| {
            let mut out = Vec::new();
            nodes_calls(&def.body, &mut out);
            (m.as_str(), out)
        })
        .collect();
    let mut height = HashMap::new();
    let mut roots: Vec<&str> = calls.keys().copied().collect();
    roots.sort_unstable();
    for m in roots {
        chain(name, m, &calls, &mut Vec::new(), &mut height)?;
    }
    Ok(())
}

/// Depth of the deepest chain of calls from macro `m`; `path` is the
/// chain that led here, `height` remembers macros already measured.
fn chain<'a>(
    name: &str,
    m: &'a str,
    calls: &HashMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    height: &mut HashMap<&'a str, usize>,
) -> Result<usize> {
    if let Some(&h) = height.get(m) {
        return Ok(h);
    }
    path.push(m);
    if let Some(at) = path[..path.len() - 1].iter().position(|p| *p == m) {
        bail!(
            "template {name}: macro {m} calls itself ({}); Tera would recurse until the stack \
             overflows, so esxi-iso refuses recursive macros",
            path[at..].join(" -> ")
        );
    }
    if path.len() > MACRO_DEPTH_MAX {
        bail!(
            "template {name}: macros call each other more than {MACRO_DEPTH_MAX} deep ({})",
            path.join(" -> ")
        );
    }
    let mut h = 1;
    for callee in calls.get(m).into_iter().flatten() {
        if calls.contains_key(callee) {
            h = h.max(1 + chain(name, callee, calls, path, height)?);
        }
    }
    path.pop();
    height.insert(m, h);
    Ok(h)
}

/// Calls to this template's own macros (`self::name(...)`) in `nodes`
/// and the bodies below them.
fn nodes_calls<'a>(nodes: &'a [Node], out: &mut Vec<&'a str>) {
    each_val(nodes, &mut |v| {
        if let ExprVal::MacroCall(c) = v {
            if c.namespace == "self" {
                out.push(c.name.as_str());
            }
        }
    });
}

/// Refuses a macro call used as a number (in arithmetic or an ordering
/// comparison): Tera 1.20 panics on it ("unimplemented math expression"),
/// which the template_render fuzzer found.
pub fn check_macro_math(name: &str, template: &tera::Template) -> Result<()> {
    let mut found = None;
    each_val(&template.ast, &mut |v| {
        let (lhs, rhs) = match v {
            ExprVal::Math(m) => (&m.lhs, &m.rhs),
            ExprVal::Logic(l)
                if matches!(
                    l.operator,
                    LogicOperator::Gt | LogicOperator::Gte | LogicOperator::Lt | LogicOperator::Lte
                ) =>
            {
                (&l.lhs, &l.rhs)
            }
            _ => return,
        };
        for side in [lhs, rhs] {
            if let ExprVal::MacroCall(c) = &side.val {
                found.get_or_insert(format!("{}::{}", c.namespace, c.name));
            }
        }
    });
    if let Some(call) = found {
        bail!(
            "template {name}: the macro call {call}() is used as a number, which Tera cannot \
             do (it fails with an internal error): put its result in a variable with \
             {{% set %}} and use that"
        );
    }
    Ok(())
}

/// Every expression value in `nodes` and in the bodies below them, with
/// the values inside it (operands, arguments, array items, filter
/// arguments), outer first.
fn each_val<'a>(nodes: &'a [Node], f: &mut dyn FnMut(&'a ExprVal)) {
    walk(nodes, &mut |n| {
        for e in exprs(n) {
            expr_vals(e, f);
        }
    });
}

/// Every value in `e`, with the values inside it, outer first.
fn expr_vals<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a ExprVal)) {
    for filter in &e.filters {
        filter.args.values().for_each(|a| expr_vals(a, f));
    }
    val_vals(&e.val, f);
}

fn val_vals<'a>(v: &'a ExprVal, f: &mut dyn FnMut(&'a ExprVal)) {
    f(v);
    match v {
        ExprVal::MacroCall(c) => c.args.values().for_each(|a| expr_vals(a, f)),
        ExprVal::FunctionCall(c) => c.args.values().for_each(|a| expr_vals(a, f)),
        ExprVal::Math(m) => {
            expr_vals(&m.lhs, f);
            expr_vals(&m.rhs, f);
        }
        ExprVal::Logic(l) => {
            expr_vals(&l.lhs, f);
            expr_vals(&l.rhs, f);
        }
        ExprVal::In(i) => {
            expr_vals(&i.lhs, f);
            expr_vals(&i.rhs, f);
        }
        ExprVal::Test(t) => t.args.iter().for_each(|a| expr_vals(a, f)),
        ExprVal::Array(items) => items.iter().for_each(|a| expr_vals(a, f)),
        ExprVal::StringConcat(s) => s.values.iter().for_each(|v| val_vals(v, f)),
        ExprVal::String(_)
        | ExprVal::Int(_)
        | ExprVal::Float(_)
        | ExprVal::Bool(_)
        | ExprVal::Ident(_) => {}
    }
}

/// Every node of `nodes` and of the bodies below them, parents first.
fn walk<'a>(nodes: &'a [Node], f: &mut dyn FnMut(&'a Node)) {
    for n in nodes {
        f(n);
        match n {
            Node::MacroDefinition(_, m, _) => walk(&m.body, f),
            Node::FilterSection(_, s, _) => walk(&s.body, f),
            Node::Block(_, b, _) => walk(&b.body, f),
            Node::Forloop(_, l, _) => {
                walk(&l.body, f);
                walk(l.empty_body.as_deref().unwrap_or_default(), f);
            }
            Node::If(i, _) => {
                for (_, _, body) in &i.conditions {
                    walk(body, f);
                }
                if let Some((_, body)) = &i.otherwise {
                    walk(body, f);
                }
            }
            _ => {}
        }
    }
}

/// The expressions a node holds itself (not those of its bodies).
fn exprs(n: &Node) -> Vec<&Expr> {
    match n {
        Node::VariableBlock(_, e) => vec![e],
        Node::Set(_, s) => vec![&s.value],
        Node::Forloop(_, l, _) => vec![&l.container],
        Node::If(i, _) => i.conditions.iter().map(|(_, e, _)| e).collect(),
        Node::FilterSection(_, s, _) => s.filter.args.values().collect(),
        Node::MacroDefinition(_, m, _) => m.args.values().flatten().collect(),
        _ => Vec::new(),
    }
}

/// Whether `n` is the step call [`instrument`] put at a loop body's start,
/// trimming as the loop's `for` tag does.
fn is_step(n: Option<&Node>, trim: bool) -> bool {
    matches!(n, Some(Node::VariableBlock(ws, e))
        if ws.right == trim && e.filters.is_empty()
            && matches!(&e.val, ExprVal::FunctionCall(f) if f.name == STEP_FN && f.args.is_empty()))
}

/// Confirms on the parsed instrumented template that it has `loops` loops
/// and that each starts with its step, so every iteration is counted.
/// A mismatch means the scan in [`instrument`] read the template
/// differently from Tera's parser; it is refused rather than rendered
/// unbounded.
pub fn verify(name: &str, template: &tera::Template, loops: usize) -> Result<()> {
    let (mut found, mut stepped) = (0, 0);
    walk(&template.ast, &mut |n| {
        if let Node::Forloop(start, l, _) = n {
            found += 1;
            stepped += usize::from(is_step(l.body.first(), start.right));
        }
    });
    if found != loops || stepped != loops {
        bail!(
            "template {name}: esxi-iso could not count this template's loops (its scan found \
             {loops}, Tera's parser {found}), so it cannot bound them; please report the \
             template"
        );
    }
    Ok(())
}

/// The error for a template Tera parses as written but not with the loop
/// steps [`instrument`] added: the scan misread it.
pub fn steps_broke_it(name: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "template {name}: esxi-iso could not count this template's loops (Tera parses it as \
         written, not with the steps esxi-iso adds to count them), so it cannot bound them; \
         please report the template"
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in super::super) fn parsed(text: &str) -> tera::Template {
        tera::Template::new("t", None, text).unwrap()
    }

    #[test]
    fn parses_have_a_call_budget_that_valid_templates_stay_within() {
        // The densest valid template measured: 31 parser calls per byte.
        let dense = "{% if a and not b or c == \"x\" %}{{ a ~ \"-\" ~ b }}{% elif d %}y{% else %}z{% endif %}\n"
            .repeat(2000);
        add_template(&mut tera::Tera::default(), "t", &dense).unwrap();
        // Reduced from what the fuzzer found: calls and parentheses nested
        // without closing. Unbounded, four levels took Tera's parser 3 s,
        // and these six over 2 minutes.
        let nested =
            "{{ (a0(x=b0 (x=(a1(x=b1 (x=(a2(x=b2 (x=(a3(x=b3 (x=(a4(x=b4 (x=(a5(x=b5 (x=m }}";
        let err = add_template(&mut tera::Tera::default(), "t", nested).unwrap_err();
        assert!(out_of_parser_calls(&err), "{err:?}");
    }

    #[test]
    fn recursive_and_deep_macros_are_refused() {
        let cases = [
            ("{% macro f(n) %}{{ self::f(n=n) }}{% endmacro f %}", Some("macro f calls itself (f -> f)")),
            (
                "{% macro a() %}{% if x %}{% set y = self::b() %}{% endif %}{% endmacro a %}\
                 {% macro b() %}{% for i in [1] %}{{ self::c() }}{% endfor %}{% endmacro b %}\
                 {% macro c() %}{{ x | default(value=self::a()) }}{% endmacro c %}",
                Some("(a -> b -> c -> a)"),
            ),
            ("{% macro a() %}{{ self::b() }}{{ self::b() }}{% endmacro a %}{% macro b() %}x{% endmacro b %}", None),
        ];
        for (text, want) in cases {
            match (check_macros("t", &parsed(text)), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().contains(w), "{text}: {e}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
        let chain = |n: usize| {
            (0..n)
                .map(|i| {
                    format!(
                        "{{% macro m{i}() %}}{{{{ self::m{}() }}}}{{% endmacro m{i} %}}",
                        i + 1
                    )
                })
                .collect::<String>()
                + &format!("{{% macro m{n}() %}}x{{% endmacro m{n} %}}")
        };
        check_macros("t", &parsed(&chain(15))).unwrap();
        let err = check_macros("t", &parsed(&chain(16)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than 16 deep (m0 -> m1"), "{err}");
    }

    #[test]
    fn macro_calls_used_as_numbers_are_refused() {
        let m = "{% macro b() %}1{% endmacro b %}";
        for (text, refused) in [
            ("{% if 887 < self::b() %}x{% endif %}", true),
            ("{{ [1, self::b() * 2] | length }}", true),
            ("{{ x | default(value=1 + self::b()) }}", true),
            (
                "{% if self::b() == \"1\" and self::b() %}x{% endif %}",
                false,
            ),
            ("{% set n = self::b() %}{{ n }}", false),
        ] {
            let got = check_macro_math("t", &parsed(&format!("{m}{text}")));
            assert_eq!(got.is_err(), refused, "{text}: {got:?}");
        }
    }

    #[test]
    fn a_loop_the_scan_missed_is_caught() {
        let t = parsed("{% for i in xs %}{% endfor %}");
        let err = verify("t", &t, 0).unwrap_err().to_string();
        assert!(err.contains("could not count"), "{err}");
        let t = parsed(
            &instrument("t", "{% for i in xs %}{% endfor %}")
                .unwrap()
                .text,
        );
        assert!(verify("t", &t, 2).is_err());
    }
}
