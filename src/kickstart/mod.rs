//! Kickstart templates, rendering and lint.
//!
//! Built-in templates live in the repo's `kickstart/` folder and are
//! compiled into the binary. A kickstart given as a file is copied verbatim
//! unless its name ends in `.tera`, in which case it is rendered with the
//! same variables as the built-ins.

pub mod crypt;
pub mod guard;
pub mod known;
pub mod lint;
pub mod uses;
pub mod vars;

use std::collections::HashMap;
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use crate::failure::{self, Failure, Tag};
use crate::input;

pub use uses::Uses;
pub use vars::Vars;

/// Built-in templates: (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "nested-lab",
        include_str!("../../kickstart/nested-lab.ks.tera"),
    ),
    ("minimal", include_str!("../../kickstart/minimal.ks.tera")),
];

pub const DEFAULT_TEMPLATE: &str = "nested-lab";

/// Where a kickstart comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A built-in template by name.
    Builtin(&'static str),
    /// A `.tera` file rendered with the variables.
    TemplateFile(std::path::PathBuf),
    /// A file copied verbatim.
    Verbatim(std::path::PathBuf),
}

impl Source {
    /// `--template NAME|FILE` for `kickstart render`.
    pub fn from_template_arg(arg: &str) -> Result<Source> {
        if let Some((name, _)) = TEMPLATES.iter().find(|(n, _)| *n == arg) {
            return Ok(Source::Builtin(name));
        }
        let p = Path::new(arg);
        if p.exists() {
            return Ok(Source::TemplateFile(p.to_path_buf()));
        }
        let names: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
        // A path (a slash or the .tera ending) is a file that is not there.
        if arg.contains('/') || arg.ends_with(".tera") {
            return Err(crate::failure::error(
                crate::failure::Failure::Input,
                format!(
                    "template file {arg} does not exist (the built-in templates are {})",
                    names.join(", ")
                ),
            ));
        }
        let near = crate::diagnostic::nearest(arg, &names)
            .map(|n| format!(" (did you mean {n}?)"))
            .unwrap_or_default();
        bail!(
            "no template {arg:?}{near}: use one of {} or a path to a .tera file",
            names.join(", ")
        )
    }

    /// `--kickstart FILE` for `build` (None: the default template).
    pub fn from_kickstart_arg(arg: Option<&Path>) -> Source {
        match arg {
            None => Source::Builtin(DEFAULT_TEMPLATE),
            Some(p) if p.extension().is_some_and(|e| e == "tera") => {
                Source::TemplateFile(p.to_path_buf())
            }
            Some(p) => Source::Verbatim(p.to_path_buf()),
        }
    }

    pub fn label(&self) -> String {
        match self {
            Source::Builtin(n) => n.to_string(),
            Source::TemplateFile(p) | Source::Verbatim(p) => p.display().to_string(),
        }
    }

    pub fn is_template(&self) -> bool {
        !matches!(self, Source::Verbatim(_))
    }
}

/// A kickstart's source, read: a template's text, or a file to copy as
/// it is. Read once, then asked what it reads ([`Kickstart::uses`]) and
/// rendered for each host ([`Kickstart::produce`]).
#[derive(Debug, Clone)]
pub struct Kickstart {
    pub source: Source,
    text: String,
}

impl Kickstart {
    /// Reads the file of `source` (a built-in needs no reading).
    pub fn load(source: &Source) -> Result<Kickstart> {
        let text = match source {
            Source::Verbatim(p) => input::read_text_capped(p, input::KICKSTART_MAX, "kickstart")?,
            Source::Builtin(n) => builtin(n).to_string(),
            Source::TemplateFile(p) => input::read_text_capped(p, input::TEMPLATE_MAX, "template")?,
        };
        Ok(Kickstart {
            source: source.clone(),
            text,
        })
    }

    pub fn label(&self) -> String {
        self.source.label()
    }

    /// The variables a template reads, from Tera's parse of it; None for
    /// a file copied as it is.
    pub fn uses(&self) -> Result<Option<Uses>> {
        if !self.source.is_template() {
            return Ok(None);
        }
        template_uses(&self.label(), &self.text).map(Some)
    }

    /// The kickstart for `vars`: the template rendered, or the file.
    pub fn produce(&self, vars: &Vars) -> Result<String> {
        if !self.source.is_template() {
            return Ok(self.text.clone());
        }
        render(&self.label(), &self.text, vars)
    }
}

/// Renders or reads the kickstart.
pub fn produce(source: &Source, vars: &Vars) -> Result<String> {
    Kickstart::load(source)?.produce(vars)
}

/// What template `text` (named `name`) reads, from its parse under the
/// same limits as a render.
pub fn template_uses(name: &str, text: &str) -> Result<Uses> {
    let instrumented = guard::instrument(name, text).tag(Failure::Input)?;
    guard::on_render_thread(|| {
        let mut tera = tera::Tera::default();
        if guard::add_template(&mut tera, name, &instrumented.text).is_err() {
            guard::add_template(&mut tera, name, text).map_err(|e| tera_error(e, name))?;
            return Err(guard::steps_broke_it(name));
        }
        Ok(Uses::of(tera.get_template(name)?, text))
    })
    .map_err(|e| anyhow!("starting a thread to read template {name}: {e}"))?
    .unwrap_or_else(|panic| Err(tera_panicked(name, panic.as_ref())))
    .tag(Failure::Input)
}

pub fn builtin(name: &str) -> &'static str {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("built-in template exists")
}

/// Renders template `text` (named `name` in errors) with `vars`.
///
/// A variable that is missing or invalid is a usage error; a template
/// Tera refuses, or one over a limit, is an input error.
pub fn render(name: &str, text: &str, vars: &Vars) -> Result<String> {
    let ctx = vars.context().tag(Failure::Usage)?;
    let instrumented = guard::instrument(name, text).tag(Failure::Input)?;
    let has_password = vars.has_password();
    // Tera recurses as deep as a template nests: its own thread, with the
    // stack the guard's limits call for.
    guard::on_render_thread(|| render_guarded(name, text, &instrumented, &ctx, has_password))
        .map_err(|e| anyhow!("starting a thread to render template {name}: {e}"))?
        .unwrap_or_else(|panic| Err(tera_panicked(name, panic.as_ref())))
        .tag(Failure::Input)
}

/// The name of the thread templates are rendered on. Tera panics on some
/// templates (a macro call in arithmetic, for one); [`render`] turns the
/// panic into an error that quotes it, so a program may keep its panic
/// hook quiet for this thread.
pub const RENDER_THREAD: &str = "template";

fn tera_panicked(name: &str, panic: &(dyn std::any::Any + Send)) -> anyhow::Error {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    anyhow!(
        "template {name} made Tera fail (a bug in Tera: {what}); rewrite the expression it \
         names, for example by putting a macro's result in a variable with {{% set %}} first"
    )
}

/// Parses `text`, checks its macros, and renders its instrumented copy
/// under the step budget and the output cap. A template that reads
/// `root_password` without a guard needs one (`has_password`).
fn render_guarded(
    name: &str,
    text: &str,
    instrumented: &guard::Instrumented,
    ctx: &tera::Context,
    has_password: bool,
) -> Result<String> {
    let mut tera = tera::Tera::default();
    tera.autoescape_on(vec![]);
    if guard::add_template(&mut tera, name, &instrumented.text).is_err() {
        // Parsed again as written for the error, which then quotes the
        // template's own lines.
        guard::add_template(&mut tera, name, text).map_err(|e| tera_error(e, name))?;
        return Err(guard::steps_broke_it(name));
    }
    let template = tera.get_template(name)?;
    if !has_password
        && Uses::of(template, text)
            .required()
            .any(|(n, _)| n == "root_password")
    {
        return Err(failure::error(
            Failure::Usage,
            format!(
                "no root password for template {name}: pass --set root_password=... \
                 or set {} (a $6$ crypt hash is accepted as is)",
                vars::PASSWORD_ENV
            ),
        ));
    }
    guard::check_macros(name, template)?;
    guard::check_macro_math(name, template)?;
    guard::verify(name, template, instrumented.loops)?;
    let steps = guard::Steps::default();
    steps.register(&mut tera);
    let range_steps = steps.clone();
    tera.register_function("range", move |args: &HashMap<String, tera::Value>| {
        let list = bounded_range(args)?;
        range_steps.take(list.as_array().map_or(0, |a| a.len() as u64))?;
        Ok(list)
    });
    tera.register_function("get_env", refuse_get_env);
    let budget = guard::bound_memory(&mut tera, name, instrumented, &steps)?;
    // Rendered into a capped buffer, so a loop cannot grow it without end.
    let mut out = Capped {
        buf: Vec::new(),
        cap: input::KICKSTART_MAX as usize,
        exceeded: false,
    };
    if let Err(e) = tera.render_to(name, ctx, &mut out) {
        if out.exceeded {
            bail!(
                "template {name} renders to more than {}, the most a kickstart may have: \
                 check its loops and the variables for a value that does not belong there",
                input::size_label(input::KICKSTART_MAX)
            );
        }
        if steps.exceeded() {
            bail!(
                "template {name} takes more than {} steps (loop iterations and range items, \
                 together, and a step per {} bytes its tags and filters copy): check its \
                 nested loops and the variables they loop over",
                guard::STEPS_MAX,
                guard::BYTES_PER_STEP
            );
        }
        if let Some(over) = budget.exceeded(name) {
            return Err(over);
        }
        // Only when Tera stopped at a missing variable: any other error is
        // Tera's to tell, even if some variable read elsewhere is unset.
        if missed_a_variable(&e) {
            if let Some(missing) = missing_variables(&tera, name, text, ctx) {
                return Err(missing);
            }
        }
        return Err(tera_error(e, name));
    }
    String::from_utf8(out.buf).map_err(|_| anyhow!("template {name} rendered invalid UTF-8"))
}

/// After a render Tera stopped at a missing variable: every variable the
/// template reads without a guard that the context lacks, each with its
/// first line (Tera names only the first it stops at).
fn missing_variables(
    tera: &tera::Tera,
    name: &str,
    text: &str,
    ctx: &tera::Context,
) -> Option<anyhow::Error> {
    let uses = Uses::of(tera.get_template(name).ok()?, text);
    let missing: Vec<String> = uses
        .required()
        .filter(|(n, _)| !ctx.contains_key(n))
        .map(|(n, line)| format!("{n} (line {line})"))
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(failure::error(
        Failure::Usage,
        format!(
            "template {name} reads {} that {} not set: {}; set {} with --set KEY=VALUE or \
             in --vars FILE.toml (`esxi-iso kickstart vars {name}` lists what it reads)",
            if missing.len() == 1 {
                "a variable"
            } else {
                "variables"
            },
            if missing.len() == 1 { "is" } else { "are" },
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
        ),
    ))
}

/// Tera's `get_env` would copy any environment variable into the
/// kickstart, and the environment is where esxi-iso takes passwords from.
fn refuse_get_env(_: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    Err(tera::Error::msg(format!(
        "get_env is turned off in esxi-iso templates: the environment holds secrets \
         ({} and vCenter credentials) that must not reach the ISO in plain text; pass \
         values with --set KEY=VALUE or --vars FILE.toml",
        vars::PASSWORD_ENV
    )))
}

/// A rendering buffer that refuses to grow past `cap` bytes.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    exceeded: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + b.len() > self.cap {
            self.exceeded = true;
            return Err(std::io::Error::other("the kickstart is too large"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Most items a template's `range` may make. Tera's own builds the whole
/// list first, so `range(end=100000000)` in a 50-byte template took 4 GB.
const RANGE_MAX: u64 = 65_536;

/// Tera's `range(end, start=0, step_by=1)`, refusing more than
/// [`RANGE_MAX`] items.
fn bounded_range(args: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let num = |key: &str, default: Option<u64>| match (args.get(key), default) {
        (Some(v), _) => v
            .as_u64()
            .ok_or_else(|| tera::Error::msg(format!("range: {key}={v} is not a whole number"))),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(tera::Error::msg(format!("range: {key} is missing"))),
    };
    let (start, end, step) = (
        num("start", Some(0))?,
        num("end", None)?,
        num("step_by", Some(1))?,
    );
    if step == 0 {
        return Err(tera::Error::msg("range: step_by must be at least 1"));
    }
    if start > end {
        return Err(tera::Error::msg(format!(
            "range: start={start} is past end={end}"
        )));
    }
    let items = (end - start).div_ceil(step);
    if items > RANGE_MAX {
        return Err(tera::Error::msg(format!(
            "range(start={start}, end={end}, step_by={step}) makes {items} items; \
             a template's range may make at most {RANGE_MAX}"
        )));
    }
    Ok(tera::Value::Array(
        (start..end)
            .step_by(step as usize)
            .map(tera::Value::from)
            .collect(),
    ))
}

/// The messages of Tera's error and of its causes, outermost first.
fn error_chain(e: &tera::Error) -> Vec<String> {
    let mut cause: Option<&dyn std::error::Error> = Some(e);
    let mut parts = Vec::new();
    while let Some(c) = cause {
        parts.push(c.to_string());
        cause = c.source();
    }
    parts
}

/// Whether Tera stopped because the context lacks a variable: a lookup
/// (`Variable `a` not found in context ...`) or a test on it (`Tester
/// `string` was called on an undefined variable`).
fn missed_a_variable(e: &tera::Error) -> bool {
    error_chain(e).iter().any(|p| {
        p.contains("not found in context") || p.contains("was called on an undefined variable")
    })
}

fn tera_error(e: tera::Error, name: &str) -> anyhow::Error {
    if guard::out_of_parser_calls(&e) {
        return guard::too_complex(name);
    }
    let mut msg = format!("rendering template {name}");
    if let Some(last) = error_chain(&e).last() {
        msg.push_str(": ");
        msg.push_str(last);
    }
    if missed_a_variable(&e) {
        msg.push_str(" (define it with --set KEY=VALUE or in --vars FILE.toml)");
        return failure::error(Failure::Usage, msg);
    }
    anyhow::anyhow!(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_bounded() {
        let password = "$6$esxiisot$.5EMW.LHBGFWCVtjJlQeItJ/tYSOlfSuha6VPE5KAtGByezXqJ3XQ/k0hPLj46Y/2axNgak.1c0HA/1TZ9FvD.";
        let mut v = Vars::default();
        v.insert_str("root_password", password).unwrap();
        // (template, Ok output or a piece of the error)
        let cases: [(&str, Result<&str, &str>); 6] = [
            ("{% for i in range(end=3) %}{{ i }}{% endfor %}", Ok("012")),
            ("{% for i in range(start=2, end=9, step_by=3) %}{{ i }}{% endfor %}", Ok("258")),
            ("{% for i in range(end=65536) %}{% endfor %}", Ok("")),
            ("{% for i in range(end=100000000) %}{% endfor %}", Err("makes 100000000 items; a template's range may make at most 65536")),
            ("{% for i in range(end=3, step_by=0) %}{% endfor %}", Err("step_by must be at least 1")),
            ("{% for i in range(end=60000) %}{{ i }}{% for j in range(end=60) %}xx{% endfor %}{% endfor %}", Err("renders to more than 1 MiB")),
        ];
        for (text, want) in cases {
            match (render("t", text, &v), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, w, "{text}"),
                (Err(e), Err(w)) => assert!(format!("{e:#}").contains(w), "{text}: {e:#}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn undefined_variable_is_reported() {
        let v = Vars::default();
        let err = render("t", "x {{ nope }}", &v).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("--set"), "{err}");
    }

    /// A render Tera fails for another reason is reported as Tera says,
    /// even when a variable the template reads elsewhere is unset; one
    /// that stops at a missing variable names every missing one.
    #[test]
    fn missing_variables_named_only_when_tera_missed_one() {
        let none = Vars::default();
        let message = |text: &str| {
            let e = render("t", text, &none).unwrap_err();
            (format!("{e:#}"), failure::of(&e))
        };
        let (msg, kind) =
            message("{{ 'abc' | truncate(length='x') }}\n{% if false %}{{ rack }}{% endif %}\n");
        assert!(msg.contains("truncate") && !msg.contains("rack"), "{msg}");
        assert_eq!(kind, Some(Failure::Input), "{msg}");
        let missing = "reads variables that are not set: a (line 1), b (line 2)";
        for text in [
            "{{ a }}\n{{ b }}\n",
            "{% if a > 1 %}{% endif %}\n{{ b }}\n",
            "{% if a is string %}{% endif %}\n{{ b }}\n",
            "{{ a | upper }}\n{{ b }}\n",
        ] {
            let (msg, kind) = message(text);
            assert!(msg.contains(missing), "{text}: {msg}");
            assert_eq!(kind, Some(Failure::Usage), "{text}: {msg}");
        }
    }

    #[test]
    fn missing_password_says_how() {
        let err = render("nested-lab", builtin("nested-lab"), &Vars::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--set root_password=") && err.contains("ESXI_ISO_ROOT_PASSWORD"),
            "{err}"
        );
    }

    /// Only a read of the variable asks for a password: not the word in a
    /// script, nor a guarded read.
    #[test]
    fn password_asked_for_only_when_read() {
        let none = Vars::default();
        let asks = |t: &str| {
            render("t", t, &none).err().is_some_and(|e| {
                failure::of(&e) == Some(Failure::Usage)
                    && e.to_string().contains("no root password")
            })
        };
        assert!(asks("rootpw --iscrypted {{ root_password }}"));
        assert!(asks("{% if true %}{{ root_password | upper }}{% endif %}"));
        assert!(!asks("echo vcsa_root_password=$PW"));
        assert!(!asks(
            "{% if root_password is defined %}{{ root_password }}{% endif %}"
        ));
        // Tera reads a missing variable as false in a condition.
        assert!(!asks(
            "{% if root_password %}rootpw --iscrypted {{ root_password }}{% endif %}"
        ));
        assert!(asks(
            "{% if root_password == '' %}{% endif %}rootpw {{ root_password }}"
        ));
        assert_eq!(
            render("t", "echo ${VCSA_ROOT_PASSWORD} root_password", &none).unwrap(),
            "echo ${VCSA_ROOT_PASSWORD} root_password"
        );
    }
}
