//! The memory a render may hold, bounded.
//!
//! Tera has no memory limit: a 100-byte template that doubles a string
//! with `{% set_global s = s ~ s %}` in a loop held 2.1 GB after 27 turns,
//! and `replace` with a long `to`, `indent`, `join` and friends square a
//! size in one step. esxi-iso counts what a render holds, in bytes as
//! held in memory ([`footprint`]: a string's bytes plus the size of a
//! value for each value in it), and refuses a render whose count would
//! pass [`MEMORY_MAX`], naming the line, before the memory is taken.
//!
//! What is counted, by the checks [`super::rewrite`] puts in the parsed
//! template and by the wrappers [`install`] puts around Tera's filters
//! and functions:
//!
//! - every value a variable holds: each `set` and `set_global` charges its
//!   variable's slot in the frame Tera stores it in (the loop's, the
//!   macro's or the template's), replacing what the slot held before; a
//!   loop's slots are cleared at each turn, as Tera clears them;
//! - each use of a variable in a tag, before the tag runs: Tera copies a
//!   variable it looks up (and the arguments it passes), and a `~`
//!   concatenation or an array literal is no larger than its parts;
//! - each filter, before it runs: what it may allocate, input copy
//!   included, worked out from its input and arguments without allocating
//!   ([`super::sizes`]); after it runs, what its result added;
//! - each function's result (`range` makes at most 65,536 numbers), and
//!   what the `matching` test's regular expression takes to compile;
//! - the output of macros and filter sections, which Tera renders into
//!   buffers of its own, byte by byte as it is written.
//!
//! Copies made for a tag are released when the next tag of the same
//! scope (template, loop body, macro or filter section) starts, and those
//! of a loop, macro or filter section when its scope ends. The count is
//! an upper bound of what those hold; Tera's own bookkeeping (the parse
//! tree, its frames) is not counted, nor the 1 MiB the output may reach.
//!
//! Values nested deeper than [`VALUE_DEPTH_MAX`] are refused as well: Tera
//! copies, prints and frees values recursively, so an array wrapped in
//! itself a million times by a loop would overflow the stack.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anyhow::{anyhow, Result};
use tera::{Tera, Value};

use super::sizes::{self, footprint, measure, rendered_len, size};
use super::{rewrite, Instrumented, Steps};
use crate::input;

/// Most bytes a render may hold in values: far more than any kickstart
/// needs (the output itself may not pass 1 MiB), and far less than the
/// memory of the machines it runs on.
pub const MEMORY_MAX: u64 = 16 << 20;

/// Deepest nesting of arrays and objects a variable may hold.
pub const VALUE_DEPTH_MAX: usize = 128;

/// Called before each tag: `line`, `scope` (the scope the tag is in),
/// `sizes` (the footprint of each variable the tag uses), `loop` (for a
/// `for` tag: its loop).
pub(super) const TAG_FN: &str = "__esxi_iso_tag";
/// Called at the start of a loop body (`kind` 0), a macro body (1) or a
/// filter section (2): `scope`.
pub(super) const ENTER_FN: &str = "__esxi_iso_enter";
/// Called after text a macro or filter section renders: `bytes`, `to`
/// (the buffers it lands in), `line`, `what`.
pub(super) const TEXT_FN: &str = "__esxi_iso_text";
/// A value's footprint, as a number.
pub(super) const SIZE_FILTER: &str = "__esxi_iso_size";
/// The last filter of a `set` value: `name`, `tag` (`set` or
/// `set_global`), `frame` (the scope whose frame Tera stores it in),
/// `line`.
pub(super) const SET_FILTER: &str = "__esxi_iso_set";
/// The last filter of a `{{ }}` inside a macro or filter section: `to`,
/// `line`, `what`.
pub(super) const OUT_FILTER: &str = "__esxi_iso_out";
/// The last filter of a `for` container: `line`.
pub(super) const FOR_FILTER: &str = "__esxi_iso_for";
/// The line, added to the arguments of every filter and function call.
pub(super) const LINE_ARG: &str = "__esxi_iso_line";
/// For the filter of a filter section inside a macro or another section:
/// the buffers its result lands in.
pub(super) const TO_ARG: &str = "__esxi_iso_to";

/// Scope kinds, as [`ENTER_FN`] takes them.
pub(super) const LOOP: u64 = 0;
pub(super) const MACRO: u64 = 1;
pub(super) const SECTION: u64 = 2;

/// The id of a tag's entry; scopes have ids from 1, the template 0.
const TAG: u32 = u32::MAX;

/// Tera finds the n-th character of a string it loops over by walking
/// from the start, so a loop over n characters reads n²/2 of them; a step
/// (a loop turn) is counted for every this many.
const CHARS_PER_STEP: u64 = 64;

/// A step is also counted for every this many bytes the checks see
/// copied, made or written, so that the steps bound time as well when
/// each turn of a loop works on long values: a 1 MiB value copied at
/// each of four million turns would take hours; this way a render
/// copies at most 1 GiB.
pub const BYTES_PER_STEP: u64 = 256;

/// What a scope or a tag holds.
struct Entry {
    id: u32,
    /// Copies made for a tag; bytes written to a macro's or filter
    /// section's buffer.
    held: u64,
    /// The variables of a frame (loop, macro or template), by name.
    vars: HashMap<String, u64>,
}

impl Entry {
    fn new(id: u32, held: u64) -> Entry {
        Entry {
            id,
            held,
            vars: HashMap::new(),
        }
    }

    fn total(&self) -> u64 {
        self.held + self.vars.values().sum::<u64>()
    }
}

struct State {
    /// The template's scope first, then what is open, innermost last.
    stack: Vec<Entry>,
    total: u64,
    /// Loops whose next body start is their first turn.
    starting: HashSet<u32>,
    /// Why the render was refused: the line and what happened.
    over: Option<(usize, String)>,
    /// Bytes seen copied, made or written, for [`BYTES_PER_STEP`].
    work: u64,
    steps: Steps,
    /// The line of the tag started last, for the testers, whose
    /// arguments cannot carry it.
    line: usize,
}

impl State {
    /// The topmost entry of scope `id`.
    fn find(&self, id: u32) -> Option<usize> {
        self.stack.iter().rposition(|e| e.id == id)
    }

    /// Closes everything above position `at`.
    fn close_above(&mut self, at: usize) {
        let closed: u64 = self.stack.drain(at + 1..).map(|e| e.total()).sum();
        self.total -= closed;
    }

    /// Refuses if the count, with `more` bytes, passes the budget; `what`
    /// says what would take them.
    fn within(
        &mut self,
        more: u64,
        line: usize,
        what: impl FnOnce() -> String,
    ) -> tera::Result<()> {
        if self.total.saturating_add(more) <= MEMORY_MAX {
            return Ok(());
        }
        let mut why = format!(
            "{}, which would take what this render holds past its memory budget of {}",
            what(),
            input::size_label(MEMORY_MAX)
        );
        if self.total > 0 {
            why += &format!(" (it holds {} already)", size(self.total));
        }
        self.refuse(line, why)
    }

    /// Counts `bytes` of work, a step per [`BYTES_PER_STEP`].
    fn work(&mut self, bytes: u64) -> tera::Result<()> {
        let before = self.work / BYTES_PER_STEP;
        self.work = self.work.saturating_add(bytes);
        self.steps.take(self.work / BYTES_PER_STEP - before)
    }

    fn refuse(&mut self, line: usize, why: String) -> tera::Result<()> {
        self.over.get_or_insert((line, why));
        Err(tera::Error::msg("the template's memory budget is spent"))
    }

    /// Adds `bytes` to the entry at `at`, refusing past the budget.
    fn charge(
        &mut self,
        at: usize,
        bytes: u64,
        line: usize,
        what: impl FnOnce() -> String,
    ) -> tera::Result<()> {
        self.within(bytes, line, what)?;
        self.work(bytes)?;
        self.stack[at].held += bytes;
        self.total += bytes;
        Ok(())
    }
}

/// The count of one render, shared by the functions and filters that
/// keep it.
#[derive(Clone)]
pub struct Budget(Arc<Mutex<State>>);

impl Budget {
    fn new(steps: &Steps) -> Budget {
        Budget(Arc::new(Mutex::new(State {
            stack: vec![Entry::new(0, 0)],
            total: 0,
            starting: HashSet::new(),
            over: None,
            work: 0,
            steps: steps.clone(),
            line: 0,
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The error for a render the budget stopped, if it did.
    pub fn exceeded(&self, name: &str) -> Option<anyhow::Error> {
        let (line, why) = self.state().over.clone()?;
        Some(anyhow!(
            "template {name} line {line}: {why}; look for a value that grows in a loop \
             ({{% set_global s = s ~ s %}} doubles s at each turn) or a filter that \
             multiplies a long value (replace, indent, join)"
        ))
    }

    /// Starts a tag: closes the copies of the scope's previous tag and
    /// what it opened, and counts the variables this one uses.
    fn tag(&self, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let line = line(args, "line");
        let scope = int(args, "scope") as u32;
        let used: u64 = args
            .get("sizes")
            .and_then(Value::as_array)
            .map_or(0, |a| a.iter().filter_map(Value::as_u64).sum());
        let mut st = self.state();
        if let Some(at) = st.find(scope) {
            st.close_above(at);
        }
        if let Some(l) = args.get("loop").and_then(Value::as_u64) {
            st.starting.insert(l as u32);
        }
        st.within(used, line, || {
            format!(
                "the variables this tag uses take {} (Tera copies each one it reads)",
                size(used)
            )
        })?;
        st.work(used)?;
        st.line = line;
        st.stack.push(Entry::new(TAG, used));
        st.total += used;
        Ok(Value::from(""))
    }

    /// Opens a scope; at a loop's later turns, clears the turn before.
    fn enter(&self, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let scope = int(args, "scope") as u32;
        let mut st = self.state();
        let again = int(args, "kind") == LOOP && !st.starting.remove(&scope);
        match st.find(scope).filter(|_| again) {
            Some(at) => {
                st.close_above(at);
                let freed = st.stack[at].total();
                st.stack[at] = Entry::new(scope, 0);
                st.total -= freed;
            }
            None => st.stack.push(Entry::new(scope, 0)),
        }
        Ok(Value::from(""))
    }

    /// Counts `bytes` written into each buffer `to` names (the ids of the
    /// macros and filter sections whose buffers they land in).
    fn wrote(&self, bytes: u64, to: Option<&Value>, line: usize, what: &str) -> tera::Result<()> {
        let mut st = self.state();
        for id in to.and_then(Value::as_array).into_iter().flatten() {
            if let Some(at) = id.as_u64().and_then(|id| st.find(id as u32)) {
                let held = st.stack[at].held + bytes;
                st.charge(at, bytes, line, || format!("{what} reaches {}", size(held)))?;
            }
        }
        Ok(())
    }

    /// Stores the footprint of a variable's new value in its frame.
    fn set(&self, value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let line = line(args, "line");
        let name = args.get("name").and_then(Value::as_str).unwrap_or("?");
        let tag = args.get("tag").and_then(Value::as_str).unwrap_or("set");
        let (bytes, depth) = measure(value);
        let mut st = self.state();
        if depth > VALUE_DEPTH_MAX {
            st.refuse(
                line,
                format!(
                    "{tag} {name} makes a value nested more than {VALUE_DEPTH_MAX} deep (arrays \
                     in arrays), which Tera would copy and print recursively until its stack \
                     overflows"
                ),
            )?;
        }
        let at = st.find(int(args, "frame") as u32).unwrap_or(0);
        let old = st.stack[at].vars.get(name).copied().unwrap_or(0);
        st.within(bytes.saturating_sub(old), line, || {
            format!("{tag} {name} makes a value of {}", size(bytes))
        })?;
        st.work(bytes)?;
        st.stack[at].vars.insert(name.to_string(), bytes);
        st.total = st.total - old + bytes;
        Ok(value.clone())
    }

    /// Counts a copy made for the innermost tag.
    fn charge_top(
        &self,
        bytes: u64,
        line: usize,
        what: impl FnOnce() -> String,
    ) -> tera::Result<()> {
        let mut st = self.state();
        let at = st.stack.len() - 1;
        st.charge(at, bytes, line, what)
    }

    /// Refuses work that may take `bytes` more, past the budget, and
    /// counts the work.
    fn need(&self, bytes: u64, line: usize, what: impl FnOnce() -> String) -> tera::Result<()> {
        let mut st = self.state();
        st.within(bytes, line, what)?;
        st.work(bytes)
    }
}

/// Rewrites template `name` in `tera` with the budget's checks, wraps
/// Tera's filters, functions and tests (registered before: `range`
/// included) to count what they make, and registers esxi-iso's own. `steps` counts
/// the turns of loops over strings.
pub fn install(
    tera: &mut Tera,
    name: &str,
    instrumented: &Instrumented,
    steps: &Steps,
) -> Result<Budget> {
    let template = tera
        .templates
        .get_mut(name)
        .ok_or_else(|| anyhow!("template {name} is not loaded"))?;
    rewrite::rewrite(name, template, &instrumented.lines)?;
    tera.build_inheritance_chains()
        .map_err(|e| anyhow!("template {name}: {e}"))?;
    let budget = Budget::new(steps);
    wrap(tera, &budget);
    let b = budget.clone();
    tera.register_function(TAG_FN, move |args: &HashMap<String, Value>| b.tag(args));
    let b = budget.clone();
    tera.register_function(ENTER_FN, move |args: &HashMap<String, Value>| b.enter(args));
    let b = budget.clone();
    tera.register_function(TEXT_FN, move |args: &HashMap<String, Value>| {
        b.wrote(
            int(args, "bytes"),
            args.get("to"),
            line(args, "line"),
            what(args),
        )?;
        Ok(Value::from(""))
    });
    tera.register_filter(SIZE_FILTER, |v: &Value, _: &HashMap<String, Value>| {
        Ok(Value::from(footprint(v)))
    });
    let b = budget.clone();
    tera.register_filter(
        SET_FILTER,
        move |v: &Value, args: &HashMap<String, Value>| b.set(v, args),
    );
    let b = budget.clone();
    tera.register_filter(
        OUT_FILTER,
        move |v: &Value, args: &HashMap<String, Value>| {
            b.wrote(
                rendered_len(v),
                args.get("to"),
                line(args, "line"),
                what(args),
            )?;
            Ok(v.clone())
        },
    );
    let (b, s) = (budget.clone(), steps.clone());
    tera.register_filter(
        FOR_FILTER,
        move |v: &Value, args: &HashMap<String, Value>| {
            if let Value::String(text) = v {
                let n = text.chars().count() as u64;
                s.take(n.saturating_mul(n + 1) / 2 / CHARS_PER_STEP)?;
            }
            b.charge_top(footprint(v), line(args, LINE_ARG), || {
                format!("the copy of the loop's values takes {}", size(footprint(v)))
            })?;
            Ok(v.clone())
        },
    );
    Ok(budget)
}

/// Replaces every filter and function registered so far by one that
/// counts what it makes.
fn wrap(tera: &mut Tera, budget: &Budget) {
    let filters: Vec<_> = tera.filters.drain().collect();
    for (name, inner) in filters {
        let b = budget.clone();
        tera.register_filter(&name.clone(), Counted { name, inner, b });
    }
    let functions: Vec<_> = tera.functions.drain().collect();
    for (name, inner) in functions {
        let b = budget.clone();
        tera.register_function(&name.clone(), Counted { name, inner, b });
    }
    let testers: Vec<_> = tera.testers.drain().collect();
    for (name, inner) in testers {
        let b = budget.clone();
        tera.register_tester(&name.clone(), Counted { name, inner, b });
    }
}

/// A filter or function of Tera's whose results are counted.
struct Counted<T: ?Sized> {
    name: String,
    inner: Arc<T>,
    b: Budget,
}

impl tera::Filter for Counted<dyn tera::Filter> {
    fn filter(&self, value: &Value, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let line = line(args, LINE_ARG);
        let input = footprint(value);
        let peak = sizes::peak(&self.name, value, input, args);
        self.b.need(peak, line, || {
            format!("the {} filter may take {} here", self.name, size(peak))
        })?;
        let out = self.inner.filter(value, args)?;
        let grown = footprint(&out).saturating_sub(input);
        self.b.charge_top(grown, line, || {
            format!(
                "the {} filter made a value {} larger",
                self.name,
                size(grown)
            )
        })?;
        let section = "the output of a filter section";
        self.b
            .wrote(rendered_len(&out), args.get(TO_ARG), line, section)?;
        Ok(out)
    }

    fn is_safe(&self) -> bool {
        self.inner.is_safe()
    }
}

/// Bytes the regex crate takes to parse and compile a pattern, per byte
/// of it, at most (measured: about 100 for a 1 MiB pattern, which then
/// failed the crate's own 10 MiB limit on the compiled program).
const REGEX_BYTES_PER_BYTE: u64 = 128;

impl tera::Test for Counted<dyn tera::Test> {
    fn test(&self, value: Option<&Value>, args: &[Value]) -> tera::Result<bool> {
        if self.name == "matching" {
            let pattern = args.first().and_then(Value::as_str).map_or(0, str::len) as u64;
            let need = pattern.saturating_mul(REGEX_BYTES_PER_BYTE);
            let line = self.b.state().line;
            self.b.need(need, line, || {
                format!(
                    "the matching test may take {} to compile its {} pattern",
                    size(need),
                    size(pattern)
                )
            })?;
        }
        self.inner.test(value, args)
    }
}

impl tera::Function for Counted<dyn tera::Function> {
    fn call(&self, args: &HashMap<String, Value>) -> tera::Result<Value> {
        let out = self.inner.call(args)?;
        let made = footprint(&out);
        self.b.charge_top(made, line(args, LINE_ARG), || {
            format!("{}() made a value of {}", self.name, size(made))
        })?;
        Ok(out)
    }

    fn is_safe(&self) -> bool {
        self.inner.is_safe()
    }
}

fn int(args: &HashMap<String, Value>, key: &str) -> u64 {
    args.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn line(args: &HashMap<String, Value>, key: &str) -> usize {
    int(args, key) as usize
}

fn what(args: &HashMap<String, Value>) -> &str {
    args.get("what")
        .and_then(Value::as_str)
        .unwrap_or("the output")
}

#[cfg(test)]
mod tests {
    use crate::kickstart::{render, Vars};

    /// Template lines that leave `s` holding 2^n bytes of `x`.
    fn grown(n: u32) -> String {
        format!(
            "{{% set s = \"x\" %}}{{% for i in range(end={n}) %}}{{% set_global s = s ~ s %}}\
             {{% endfor %}}"
        )
    }

    fn tera_renders(text: &str) -> String {
        let ctx = Vars::default().context().unwrap();
        super::super::on_render_thread(|| tera::Tera::one_off(text, &ctx, false).unwrap())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn growth_is_refused_at_its_line_before_it_happens() {
        let repeat = |what: &str, n: usize, sep: &str| vec![what; n].join(sep);
        // (template, the line and what the refusal names)
        let cases = [
            (grown(30) + "\n{{ s | length }}", "line 1: set_global s makes a value of 8.0 MiB"),
            (
                grown(12) + "\n\n{{ s | replace(from=\"x\", to=s) | length }}",
                "line 3: the replace filter may take 16.0 MiB here",
            ),
            (
                grown(12) + "\n{% set l = s | replace(from=\"x\", to=\"\n\") %}\n{{ l | indent(prefix=s) }}",
                "line 4: the indent filter may take 32.0 MiB here",
            ),
            (
                grown(12) + "\n{% set a = s | split(pat=\"\") %}{{ a | join(sep=s) }}",
                "line 2: the join filter may take",
            ),
            (grown(19) + "\n{{ s | split(pat=\"\") | length }}", "line 2: the split filter may take 25.0 MiB"),
            (
                "{% set a = [1] %}\n{% for i in range(end=30) %}\n{% set_global a = a | concat(with=a) %}{% endfor %}".into(),
                "line 3: the concat filter may take",
            ),
            (
                grown(21) + "\n{{ s | replace(from=\"x\", to=\"/\") | escape | length }}",
                "line 2: the escape filter may take 26.0 MiB here",
            ),
            (
                grown(16) + &format!("\n{{{{ {} }}}}", repeat("s", 300, " ~ ")),
                "line 2: the variables this tag uses take 18.8 MiB",
            ),
            (
                grown(17) + &format!("\n{{% set a = [{}] %}}", repeat("s", 150, ", ")),
                "line 2: the variables this tag uses take 18.8 MiB",
            ),
            (
                grown(13) + "\n{% macro m(x) %}{% for i in range(end=9000) %}{{ x }}{% endfor %}{% endmacro m %}\n{{ self::m(x=s) | length }}",
                "line 2: the output of macro m reaches",
            ),
            (
                format!("{{% macro m() %}}\n{{% for i in range(end=65536) %}}{}{{% endfor %}}{{% endmacro m %}}\n{{% if self::m() %}}x{{% endif %}}", "y".repeat(1000)),
                "line 1: the output of macro m reaches",
            ),
            (
                format!("x\n{{% filter upper %}}{{% for i in range(end=65536) %}}{}{{% endfor %}}{{% endfilter %}}", "y".repeat(1000)),
                "line 2: the output of this filter section reaches",
            ),
            (
                grown(13) + "\n{% macro m(s) %}{% filter safe %}{% filter upper %}{% for i in range(end=9000) %}{{ s }}{% endfor %}{% endfilter %}{% endfilter %}{% endmacro m %}\n{{ self::m(s=s) | length }}",
                "line 2: the output of",
            ),
            (
                "{% set a = [] %}{% for i in range(end=200) %}\n{% set_global a = [a] %}{% endfor %}".into(),
                "line 2: set_global a makes a value nested more than 128 deep",
            ),
            (
                grown(20) + "\n{% if s is matching(s) %}x{% endif %}",
                "line 2: the matching test may take 128.0 MiB to compile its 1.0 MiB pattern",
            ),
            (
                // Tera pastes an index into the path, then rewrites it.
                grown(22) + "{% set m = [1] %}\n{{ m[s] | default(value=\"\") }}",
                "line 2: the variables this tag uses take 16.0 MiB",
            ),
        ];
        for (text, want) in cases {
            let err = match render("t", &text, &Vars::default()) {
                Ok(_) => panic!("rendered: {text}"),
                Err(e) => format!("{e:#}"),
            };
            assert!(err.contains(&format!("template t {want}")), "{text}\n{err}");
        }
    }

    #[test]
    fn templates_within_the_budget_render_as_tera_renders_them() {
        let cases = [
            grown(20) + "\n{{ s | length }}",
            grown(10) + "{{ s | replace(from=\"x\", to=s) | length }}",
            // Copies of a tag are released at the next tag, so a loop
            // may use a long value at every turn.
            grown(22) + "{% for i in range(end=20) %}{{ s | length }} {% endfor %}",
            // A loop's variables are cleared at each turn, a macro's when
            // it returns.
            grown(21) + "{% for i in range(end=8) %}{% set t = s ~ s %}{{ t | length }}{% endfor %}",
            grown(21) + "{% macro m(s) %}{% set t = s ~ s %}{{ t | length }}{% endmacro m %}{% for i in range(end=8) %}{{ self::m(s=s) }}{% endfor %}",
            // Everything the rewrite touches, in every scope.
            "{% macro row(k, v) %}{% set w = k ~ '=' ~ v %}{% filter upper %}{{ w }}{% endfilter %}\n{% endmacro row %}\
             {% set_global n = 0 %}{% for k in ['a', 'b', 'c'] %}{% if k == 'b' %}{% continue %}{% elif k is containing('c') %}{{ self::row(k=k, v=loop.index) }}{% else %}{% set_global n = n + 1 %}{{ self::row(k=k ~ n, v='x' | replace(from='x', to='yz')) }}{% endif %}{% endfor %}\
             {% set word = 'héllo' %}{% filter safe %}{% for c in word %}[{{ c }}]{% endfor %}{% endfilter %}{{ ['x', 1, 2.5, true] | join(sep=', ') }}{{ n is number }}"
                .into(),
            "{% set a = [1, 2] %}{% set b = [3] %}{% block b %}{% for x in [a, b] %}{{ x | length }}{% for y in x %}{{ y * 2 }}{% else %}none{% endfor %}{% endfor %}{% endblock b %}{{ 'a,b' | split(pat=',') | json_encode(pretty=true) }}".into(),
        ];
        for text in cases {
            let ours =
                render("t", &text, &Vars::default()).unwrap_or_else(|e| panic!("{text}\n{e:#}"));
            assert_eq!(ours, tera_renders(&text), "{text}");
        }
    }

    #[test]
    fn dumping_the_context_is_refused() {
        let err = format!(
            "{:#}",
            render("t", "x\n{{ __tera_context }}", &Vars::default()).unwrap_err()
        );
        assert!(
            err.contains("line 2: __tera_context is turned off"),
            "{err}"
        );
    }
}
