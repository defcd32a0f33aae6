//! The report's charts, drawn with plotters as inline SVG. Every chart is a
//! dot plot on a log axis: one row per target, one dot per sample, a bar at
//! each median. Dots show the whole distribution (and its outliers) where a
//! bar would hide it, and a log axis keeps microseconds and seconds readable
//! on one page.

use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::model::ReportModel;
use crate::results::Sample;
use crate::stats;
use crate::units::{human_bytes, human_ns};

/// One chart, ready to inline.
#[derive(Debug, Serialize)]
pub struct Chart {
    /// HTML id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// What it shows and how it was measured.
    pub caption: String,
    /// The SVG document.
    pub svg: String,
}

/// One series of dots: values per row (target).
struct Series {
    name: String,
    color: RGBColor,
    rows: Vec<Vec<f64>>,
}

const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(214, 39, 40),
];

/// Every chart the data allows, in page order.
pub fn all(model: &ReportModel, samples: &[Sample]) -> Vec<Chart> {
    let targets = &model.target_names;
    let mut charts = Vec::new();
    let pick = |workload: &str, phase: &str, f: fn(&Sample) -> Option<u64>| -> Vec<Vec<f64>> {
        targets
            .iter()
            .map(|t| {
                ReportModel::values(samples, t, workload, phase)
                    .filter_map(f)
                    .map(|v| v.max(1) as f64)
                    .collect()
            })
            .collect()
    };
    let series = |name: &str, i: usize, rows: Vec<Vec<f64>>| Series {
        name: name.to_string(),
        color: PALETTE[i % PALETTE.len()],
        rows,
    };

    for w in &model.workloads {
        let phases: Vec<Series> = ["cold", "warm", "host-cold"]
            .iter()
            .enumerate()
            .map(|(i, p)| series(p, i, pick(w, p, |s| s.latency_ns)))
            .collect();
        push(
            &mut charts,
            format!("latency-{w}"),
            format!("Latency: {w}"),
            format!(
                "Each dot is one valid sample of workload {w}; the bar is the median. Cold: from asking for a new instance to the last byte of its first response. Warm: request to last byte on a running instance. Host-cold: host start plus the first tenant."
            ),
            "latency (log scale)",
            targets,
            phases,
            human_ns,
        );
    }
    let mem_workload = model
        .workloads
        .iter()
        .find(|w| *w == "hello")
        .or(model.workloads.first());
    if let Some(w) = mem_workload {
        push(
            &mut charts,
            "memory".into(),
            "Memory per instance".into(),
            format!("PSS and RSS of one instance right after its first ({w}) response, as each target accounts it (see Targets)."),
            "bytes (log scale)",
            targets,
            vec![
                series("PSS", 0, pick(w, "cold", |s| s.mem_pss_bytes)),
                series("RSS", 1, pick(w, "cold", |s| s.mem_rss_bytes)),
            ],
            human_bytes,
        );
        push(
            &mut charts,
            "cpu".into(),
            "CPU per invocation".into(),
            format!("CPU time consumed for one {w} sample: for cold, by the new instance from spawn to its first response; for warm, the instance's CPU during the request."),
            "CPU time (log scale)",
            targets,
            vec![
                series("cold", 0, pick(w, "cold", |s| s.cpu_ns)),
                series("warm", 1, pick(w, "warm", |s| s.cpu_ns)),
            ],
            human_ns,
        );
    }
    let sizes: Vec<Series> = model
        .workloads
        .iter()
        .filter(|w| w.starts_with("palindrome"))
        .enumerate()
        .map(|(i, w)| series(w, i + 2, pick(w, "warm", |s| s.compute_ns)))
        .collect();
    if !sizes.is_empty() {
        push(
            &mut charts,
            "compute".into(),
            "Palindrome compute time per implementation".into(),
            "The handler's own time for the workload as the instance measured it (compute_ns), warm samples: runtime speed without start-up or HTTP.".into(),
            "compute time (log scale)",
            targets,
            sizes,
            human_ns,
        );
    }
    charts
}

#[allow(clippy::too_many_arguments)]
fn push(
    charts: &mut Vec<Chart>,
    id: String,
    title: String,
    caption: String,
    x_label: &str,
    rows: &[String],
    series: Vec<Series>,
    fmt: fn(u64) -> String,
) {
    let series: Vec<Series> = series
        .into_iter()
        .filter(|s| s.rows.iter().any(|r| !r.is_empty()))
        .collect();
    if series.is_empty() {
        return;
    }
    match dot_chart(x_label, rows, &series, fmt) {
        Ok(svg) => charts.push(Chart {
            id,
            title,
            caption,
            svg,
        }),
        Err(e) => charts.push(Chart {
            id,
            title,
            caption: format!("{caption} (chart could not be drawn: {e})"),
            svg: String::new(),
        }),
    }
}

fn dot_chart(
    x_label: &str,
    rows: &[String],
    series: &[Series],
    fmt: fn(u64) -> String,
) -> Result<String, String> {
    let all = series.iter().flat_map(|s| s.rows.iter().flatten().copied());
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    let n = rows.len().max(1);
    let height = 90 + 34 * n as u32 + 12 * series.len() as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d((lo..hi).log_scale(), -0.5f64..n as f64 - 0.5)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(x_label)
            .x_label_formatter(&|v| fmt(*v as u64))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        // Row names, drawn by hand: plotters' numeric axis would put its
        // labels between rows.
        let label_style = TextStyle::from(("sans-serif", 13).into_font())
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in rows.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(lo, i as f64));
            root.draw(&Text::new(name.clone(), (x - 8, y), label_style.clone()))
                .map_err(|e| e.to_string())?;
        }
        let band = 0.7 / series.len() as f64;
        for (k, s) in series.iter().enumerate() {
            let offset = (k as f64 - (series.len() as f64 - 1.0) / 2.0) * band;
            let color = s.color;
            let dots = s.rows.iter().enumerate().flat_map(|(row, values)| {
                values.iter().enumerate().map(move |(j, &v)| {
                    // A small deterministic jitter keeps equal values apart.
                    let jitter = ((j * 7919) % 11) as f64 / 11.0 * band * 0.6 - band * 0.3;
                    Circle::new(
                        (v, row as f64 + offset + jitter),
                        3,
                        color.mix(0.55).filled(),
                    )
                })
            });
            chart
                .draw_series(dots)
                .map_err(|e| e.to_string())?
                .label(s.name.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            let medians = s.rows.iter().enumerate().filter_map(|(row, values)| {
                let ints: Vec<u64> = values.iter().map(|v| *v as u64).collect();
                let m = stats::median(&ints)? as f64;
                let y = row as f64 + offset;
                Some(PathElement::new(
                    vec![(m, y - band * 0.5), (m, y + band * 0.5)],
                    color.stroke_width(3),
                ))
            });
            chart.draw_series(medians).map_err(|e| e.to_string())?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
