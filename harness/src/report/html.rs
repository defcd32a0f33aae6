//! index.html: the template is compiled into the binary and rendered from a
//! serializable context, so the page needs nothing but itself to open.

use minijinja::{context, Environment};

use super::charts::Chart;
use super::model::ReportModel;

const TEMPLATE: &str = include_str!("templates/index.html");

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
