//! Deterministic mutation test of the template guard (`kickstart::guard`)
//! against Tera's own parser and renderer, the independent reader here: a
//! few thousand seeded edits of the built-in templates, of a template
//! using every construct the guard's scan must read as Tera does (loops
//! with and without whitespace trimming, strings holding tag ends,
//! comments, raw blocks, macros, filter sections, for-else), and of one
//! using every place the memory budget puts a check (variables set in
//! loops and macros, filters with arguments, macro output, filter
//! sections inside macros, `filter safe`).
//!
//! For every case: rendering returns (no panic, no stack overflow, which
//! would abort this binary); the guard never reports that its scan and
//! Tera's parser counted the loops or tags differently; and when the
//! guarded render succeeds, its output is byte for byte what Tera renders
//! from the template as written, so the loop steps and budget checks
//! change nothing. A failure names the seed:
//! `MUTATION_SEED=<seed> cargo test --test template_mutation`.

mod common;

use common::rng::{seeds, Rng};
use common::tera_plain;
use esxi_iso::kickstart::{self, Vars};

const CASES: u64 = 3000;

/// Tera fragments the edits insert: tag starts and ends with and without
/// trimming, quotes, comment and raw markers, whole tags.
const PIECES: &[&str] = &[
    "{% for x in xs %}",
    "{%- for k, v in m -%}",
    "{% for y in xs -%}",
    "{%for y in [1,2]%}",
    "{% endfor %}",
    "{%- endfor -%}",
    "{% else %}",
    "{% if a %}",
    "{% endif %}",
    "{% raw %}",
    "{% endraw %}",
    "{%- raw -%}",
    "{# ",
    " #}",
    "{{ ",
    " }}",
    "{{ x }}",
    "{%",
    "%}",
    "-%}",
    "{%-",
    "\"",
    "'",
    "`",
    "\"%}\"",
    "'{% for'",
    "{% macro m(a) %}{% for i in a %}{{ i }}{% endfor %}{% endmacro m %}",
    "{{ self::m(a=xs) }}",
    "{% filter upper %}",
    "{% endfilter %}",
    "{% set s = \"{% for\" %}",
    "{% set_global s = xs | join(sep=\"-\") %}",
    "{% set_global s = s ~ s %}",
    "{{ s | replace(from=\"1\", to=s) }}",
    "{% filter safe %}",
    "{{ self::w(x=s) }}",
    " ~ hostname",
    " | upper",
    "\n",
    " ",
    "-",
    "{",
    "}",
];

/// A template that uses what the scan must get right.
const KITCHEN: &str = r#"# {{ "{% for" }} {{ '%}' }} {{ `}}` }}
{# a comment with {% for x in xs %} inside #}
{% raw %}{% for x in xs %}{{ not rendered }}{% endraw %}
{%- raw -%} {% endraw {% endfor %} {%- endraw %}
{% macro m(a) %}{% for i in a -%}
  [{{ i }}]
{%- endfor %}{% endmacro m %}
{%- for x in xs -%}
  {{ x }}{% if m is defined %}{% for k, v in m %}{{ k }}={{ v }} {% endfor %}{% endif %}
{% endfor %}
{%for y in ["%}", '{{', `#}`]%}<{{ y }}>{%endfor%}
{% for z in [] %}never{% else %}empty{% endfor %}
{% filter upper %}{% for x in xs %}{{ x }}{% endfor %}{% endfilter %}
{{ self::m(a=xs) }}
{% if a %}{% for x in xs %}{% if x == "2" %}{% break %}{% endif %}{{ x }}{% endfor %}{% endif %}
"#;

/// One or two edits of `text`: insert a piece, delete a span, or repeat
/// a span.
fn mutate(text: &str, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut t = text.to_string();
    for _ in 0..1 + rng.below(2) {
        let at = rng.boundary(&t);
        match rng.below(4) {
            0 | 1 => t.insert_str(at, PIECES[rng.below(PIECES.len())]),
            2 => {
                let end = rng.boundary(&t[at..]) + at;
                let end = end.min(at + 40);
                let end = (end..=t.len()).find(|&e| t.is_char_boundary(e)).unwrap();
                t.replace_range(at..end, "");
            }
            _ => {
                let end = (at + 1 + rng.below(30)).min(t.len());
                let end = (end..=t.len()).find(|&e| t.is_char_boundary(e)).unwrap();
                let span = t[at..end].to_string();
                t.insert_str(end, &span);
            }
        }
    }
    t
}

fn vars() -> Vars {
    let mut v = Vars::default();
    v.insert_str("root_password", "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.").unwrap();
    v.insert_str("hostname", "esx01").unwrap();
    v.insert_str("a", "yes").unwrap();
    let xs = ["1", "2", "3"].map(toml::Value::from).to_vec();
    v.insert("xs", toml::Value::Array(xs)).unwrap();
    v
}

#[test]
fn mutated_templates_are_bounded_and_rendered_as_tera_renders_them() {
    let vars = vars();
    let ctx = vars.context().unwrap();
    let bases: Vec<&str> = kickstart::TEMPLATES
        .iter()
        .map(|(_, t)| *t)
        .chain([LOOPS, KITCHEN, BUDGET])
        .collect();
    // Unedited, each renders as Tera renders it.
    for base in &bases {
        let ours = kickstart::render("t", base, &vars).unwrap_or_else(|e| panic!("{e:#}\n{base}"));
        assert_eq!(Some(ours), tera_plain::render(base, &ctx), "{base}");
    }
    let (mut rendered, mut refused) = (0, 0);
    for seed in seeds(0..CASES) {
        let base = bases[(seed % bases.len() as u64) as usize];
        let text = mutate(base, seed);
        let ours = kickstart::render("t", &text, &vars);
        match &ours {
            Ok(out) => {
                rendered += 1;
                let theirs = tera_plain::render(&text, &ctx);
                assert_eq!(
                    Some(out),
                    theirs.as_ref(),
                    "seed {seed}: the guarded render differs from Tera's; replay with \
                     MUTATION_SEED={seed}\n--- template\n{text}"
                );
            }
            Err(e) => {
                refused += 1;
                let msg = format!("{e:#}");
                assert!(
                    !msg.contains("could not count"),
                    "seed {seed}: the guard's scan and Tera's parser disagree; replay with \
                     MUTATION_SEED={seed}: {msg}\n--- template\n{text}"
                );
            }
        }
    }
    eprintln!("{rendered} rendered, {refused} refused");
    // The edits must leave many templates valid, or the comparison proves
    // little.
    let total = seeds(0..CASES).count();
    assert!(
        total < 100 || rendered * 10 > total,
        "{rendered} of {total} rendered"
    );
}

/// A small template of loops, so that edits often land in one.
const LOOPS: &str = "vmaccepteula\n{% for x in xs -%}\n  {{ x }}\n{%- endfor %}\n{%for x in xs%}{% for y in xs -%} {{x}}{{y}}{%endfor%}{%endfor%}\n";

/// A template using every place the budget checks: variables set in
/// loops and macros, `set_global`, filters with arguments inside
/// arguments, macro output in loops, filter sections inside macros and
/// inside `filter safe`, loops over strings and objects, tests, `~`.
const BUDGET: &str = r#"{% macro w(x) %}{% for i in xs %}{{ x }}-{{ i }}{% endfor %}{% endmacro w %}
{% macro box(x) %}{% set inner = x ~ "|" %}{% filter safe %}[{% filter upper %}{{ inner }}{% endfilter %}]{% endfilter %}
{% set_global count = 1 %}{% endmacro box %}
{% set s = hostname %}{% set m = nothing | default(value=xs) %}
{% for x in xs -%}
  {% set t = x ~ s %}{% set_global s = s ~ x | replace(from="1", to=t) %}
  {{ self::box(x=t | upper) }}{{ self::w(x=loop.index) | length }}
{%- endfor %}
{% for c in hostname %}{{ c }}{% if c is containing("x") %}!{% elif c in s %}?{% endif %}{% endfor %}
{{ s }} {{ xs | join(sep=s) }} {{ [s, hostname] | json_encode() }} {{ s | split(pat="e") | length }}
"#;
