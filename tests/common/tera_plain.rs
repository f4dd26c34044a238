//! Tera's own render of a template as written: the independent reader the
//! template guard is checked against (tests/template_mutation.rs and the
//! template_render fuzz target, which includes this file by path).

use esxi_iso::kickstart::guard;

/// `text` rendered by Tera with `ctx`, as written (None when Tera refuses
/// it). On the guard's render thread: the template is within the guard's
/// limits, not within a test thread's 2 MiB stack.
pub fn render(text: &str, ctx: &tera::Context) -> Option<String> {
    guard::on_render_thread(|| {
        let mut tera = tera::Tera::default();
        tera.autoescape_on(vec![]);
        tera.add_raw_template("t", text).ok()?;
        tera.render("t", ctx).ok()
    })
    .expect("starting a render thread")
    .expect("Tera panicked on a template the guard accepted")
}
