//! index.html: the template is compiled into the binary and rendered from a
//! serializable context, so the page needs nothing but itself to open.

use minijinja::{context, Environment};

use super::charts::Chart;
use super::model::ReportModel;

const TEMPLATE: &str = include_str!("templates/index.html");

/// Markdown (as `compare` prints it) as a small self-contained page.
pub fn render_markdown_page(title: &str, markdown: &str) -> Result<String, minijinja::Error> {
    let mut body = String::new();
    let parser = pulldown_cmark::Parser::new_ext(markdown, pulldown_cmark::Options::ENABLE_TABLES);
    pulldown_cmark::html::push_html(&mut body, parser);
    let mut env = Environment::new();
    env.add_template(
        "page.html",
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{{ title }}</title>\
         <style>body{font:15px/1.5 system-ui,sans-serif;margin:1.5rem auto;max-width:1200px}\
         table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:.25rem .55rem}\
         th{background:#f6f8fa}</style></head><body>{{ body | safe }}</body></html>",
    )?;
    env.get_template("page.html")?
        .render(context! { title => title, body => body })
}

/// Renders the page.
pub fn render(model: &ReportModel, charts: &[Chart]) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("index.html", TEMPLATE)?;
    env.get_template("index.html")?.render(context! {
        m => model,
        charts => charts,
        generated_at => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}
