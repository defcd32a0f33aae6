//! A real browser looks at the report: headless Chromium renders index.html,
//! the rendered page is checked for every chart and table and for console
//! errors, and a screenshot is kept beside the report (`screenshot.png`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What the browser saw.
#[derive(Debug)]
pub struct Seen {
    /// The screenshot.
    pub screenshot: PathBuf,
    /// Charts rendered (figures holding an SVG).
    pub charts: usize,
    /// Tables rendered.
    pub tables: usize,
}

/// A Chromium on PATH, if any.
pub fn find() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| crate::targets::spawn::resolve(Path::new(name)))
}

/// Flags for a quiet headless browser on a machine without network: no
/// sandbox (root), no GPU, and nothing that reaches out.
fn headless(browser: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(browser);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// Renders `report_dir/index.html` in `browser`, checks it, and writes
/// `report_dir/screenshot.png`. The error says what was missing or wrong.
pub fn check(browser: &Path, report_dir: &Path) -> Result<Seen, String> {
    let page = report_dir.join("index.html");
    let url = format!(
        "file://{}",
        page.canonicalize()
            .map_err(|e| format!("{}: {e}", page.display()))?
            .display()
    );
    let profile = tempfile::Builder::new()
        .prefix("coldbench-browser")
        .tempdir()
        .map_err(|e| format!("temporary profile: {e}"))?;
    let dom = headless(browser, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", browser.display()))?;
    if !dom.status.success() {
        return Err(format!(
            "{} could not render the report ({})",
            browser.display(),
            dom.status
        ));
    }
    let html = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    if let Some(error) = log
        .lines()
        .find(|l| l.contains("Uncaught") || (l.contains("CONSOLE") && l.contains("rror")))
    {
        return Err(format!("the page logged an error: {}", error.trim()));
    }
    let figures: Vec<&str> = html.split("<figure").skip(1).collect();
    let empty: Vec<String> = figures
        .iter()
        .filter(|f| !f.split("</figure>").next().unwrap_or("").contains("<svg"))
        .filter_map(|f| f.split('"').nth(1).map(str::to_string))
        .collect();
    if !empty.is_empty() {
        return Err(format!(
            "charts rendered without a drawing: {}",
            empty.join(", ")
        ));
    }
    let tables = html.matches("<table").count();
    for section in ["headline", "comparison", "summary", "environment"] {
        if !html.contains(&format!("id=\"{section}\"")) {
            return Err(format!("the rendered page has no {section} section"));
        }
    }
    // Tall enough for the whole page: rows and charts make its height.
    let height = (1200 + 28 * html.matches("<tr").count() + 560 * figures.len()).min(30_000);
    let screenshot = report_dir.join("screenshot.png");
    let shot = headless(browser, profile.path())
        .arg(format!("--window-size=1200,{height}"))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", browser.display()))?;
    let png = std::fs::read(&screenshot).unwrap_or_default();
    if !shot.status.success() || !png.starts_with(b"\x89PNG") {
        return Err(format!(
            "{} took no screenshot ({})",
            browser.display(),
            shot.status
        ));
    }
    Ok(Seen {
        screenshot,
        charts: figures.len(),
        tables,
    })
}
