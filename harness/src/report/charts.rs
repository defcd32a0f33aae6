//! The report's charts, drawn with plotters as inline SVG. Every chart is a
//! dot plot on a log axis: one row per target, one dot per sample, a bar at
//! each median. Dots show the whole distribution (and its outliers) where a
//! bar would hide it, and a log axis keeps microseconds and seconds readable
//! on one page.

use plotters::coord::combinators::{BindKeyPoints, IntoLogRange};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use super::figures::{self, BootFigure, DensityFigure, Figures};
use crate::measures::BootStage;
use crate::results::Sample;
use crate::stats;
use crate::units::{human_bytes, human_ns};
use crate::vocab::Phase;

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
    /// Series names and their colours (`#rrggbb`), shown under the chart.
    pub legend: Vec<(String, String)>,
}

impl Chart {
    /// A chart whose drawing may have failed: then its caption says why.
    fn new(
        id: &str,
        title: &str,
        caption: &str,
        svg: Result<String, String>,
        legend: Vec<(String, String)>,
    ) -> Chart {
        let (svg, caption) = match svg {
            Ok(svg) => (svg, caption.to_string()),
            Err(e) => (
                String::new(),
                format!("{caption} (chart could not be drawn: {e})"),
            ),
        };
        Chart {
            id: id.into(),
            title: title.into(),
            caption,
            svg,
            legend,
        }
    }
}

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// One series of dots: values per row (target).
struct Series {
    name: String,
    color: RGBColor,
    rows: Vec<Vec<f64>>,
}

const PALETTE: [RGBColor; 5] = [LINES[0], LINES[1], LINES[2], LINES[4], LINES[3]];

/// One colour per stage of [`BootStage::SPANS`], in order.
const BOOT_COLORS: [RGBColor; 8] = [
    LINES[0], LINES[1], LINES[2], LINES[4], LINES[3], LINES[7], LINES[5], LINES[6],
];

/// A boot stage as the chart's legend names it.
fn stage_label(stage: BootStage) -> &'static str {
    match stage {
        BootStage::ToInit => "to init",
        BootStage::Vmm => "VMM + loader",
        BootStage::Kernel => "kernel",
        BootStage::Modules => "modules",
        BootStage::Net => "network",
        BootStage::Listen => "listen",
        BootStage::ListenToResponse => "to first response",
        BootStage::Exec => "exec",
        BootStage::ExecToResponse => "node start + first response",
    }
}

/// Every chart the data allows, in page order.
pub fn all(f: &Figures, samples: &[Sample]) -> Vec<Chart> {
    let targets = &f.targets;
    let mut charts = Vec::new();
    let pick = |workload: &str, phase: Phase, value: fn(&Sample) -> Option<u64>| -> Vec<Vec<f64>> {
        targets
            .iter()
            .map(|t| {
                figures::valid(samples, t, workload, phase.as_str())
                    .filter_map(value)
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

    for w in &f.workloads {
        let phases: Vec<Series> = Phase::SAMPLED
            .into_iter()
            .enumerate()
            .map(|(i, p)| series(p.as_str(), i, pick(w, p, |s| s.latency_ns)))
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
            Axis::Time,
        );
    }
    let mem_workload = f
        .workloads
        .iter()
        .find(|w| *w == super::figures::HELLO)
        .or(f.workloads.first());
    if let Some(w) = mem_workload {
        push(
            &mut charts,
            "memory".into(),
            "Memory per instance".into(),
            format!("PSS and RSS of one instance right after its first ({w}) response, as each target accounts it (see Targets)."),
            "bytes (log scale)",
            targets,
            vec![
                series("PSS", 0, pick(w, Phase::Cold, |s| s.mem_pss_bytes)),
                series("RSS", 1, pick(w, Phase::Cold, |s| s.mem_rss_bytes)),
            ],
            Axis::Bytes,
        );
        push(
            &mut charts,
            "cpu".into(),
            "CPU per invocation".into(),
            format!("CPU time consumed for one {w} sample: for cold, by the new instance from spawn to its first response; for warm, from the instance idle before the request to idle again after the response (work done after answering, a JIT or GC, included)."),
            "CPU time (log scale)",
            targets,
            [Phase::Cold, Phase::Warm]
                .into_iter()
                .enumerate()
                .map(|(i, p)| series(p.as_str(), i, pick(w, p, |s| s.cpu_ns)))
                .collect(),
            Axis::Time,
        );
    }
    let sizes: Vec<Series> = f
        .workloads
        .iter()
        .filter(|w| w.starts_with("palindrome"))
        .enumerate()
        .map(|(i, w)| series(w, i + 2, pick(w, Phase::Warm, |s| s.compute_ns)))
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
            Axis::Time,
        );
    }
    if let Some(chart) = density_chart(&f.density) {
        charts.push(chart);
    }
    if let Some(chart) = boot_breakdown(&f.boot) {
        charts.push(chart);
    }
    charts
}

/// Ten colours for charts with one line per target.
const LINES: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Memory against idle tenants, one line per target, log-log.
fn density_chart(density: &[DensityFigure]) -> Option<Chart> {
    let lines: Vec<(&str, &[(u32, u64)])> = density
        .iter()
        .filter(|d| !d.series.is_empty())
        .map(|d| (d.target.as_str(), d.series.as_slice()))
        .collect();
    if lines.is_empty() {
        return None;
    }
    let max_tenants = lines
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let (lo, hi) = lines
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1.max(1) as f64))
        .fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf((hi * 1.01).log10().ceil()),
    );
    let mut svg = String::new();
    let drawn = (|| -> Result<(), String> {
        let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(
                (1f64..max_tenants * 1.2)
                    .log_scale()
                    .with_key_points(tenant_ticks(max_tenants)),
                (lo..hi).log_scale().with_key_points(binary_ticks(lo, hi)),
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("idle instances (log scale)")
            .y_desc("memory, together (log scale)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| human_bytes(*v as u64))
            .label_style(("sans-serif", 13))
            // Log axes' minor lines crowd into grey bands: major lines only.
            .light_line_style(TRANSPARENT)
            .draw()
            .map_err(|e| e.to_string())?;
        for (i, (_, series)) in lines.iter().enumerate() {
            let color = LINES[i % LINES.len()];
            let points: Vec<(f64, f64)> = series
                .iter()
                .map(|&(n, b)| (n as f64, b.max(1) as f64))
                .collect();
            // Past ten targets the colours repeat: dashed lines and triangles.
            if i < LINES.len() {
                chart
                    .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| Circle::new(p, 4, color.filled())),
                    )
                    .map_err(|e| e.to_string())?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(
                        points.clone(),
                        7,
                        4,
                        color.stroke_width(2),
                    ))
                    .map_err(|e| e.to_string())?;
                chart
                    .draw_series(
                        points
                            .into_iter()
                            .map(|p| TriangleMarker::new(p, 6, color.filled())),
                    )
                    .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())
    })();
    Some(Chart::new(
        "density",
        "Density: memory against idle tenants",
        "Each line is one target's density sweep: the memory of N idle instances together, as its family accounts it. Parallel lines with a low start are what packing density looks like; the slope (linear, in the Density table) is the memory of one more tenant.",
        drawn.map(|()| svg),
        lines
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let style = if i < LINES.len() { "" } else { " (dashed)" };
                (format!("{name}{style}"), hex(LINES[i % LINES.len()]))
            })
            .collect(),
    ))
}

/// Stacked bars of the median boot stages of each target that records them.
fn boot_breakdown(boot: &[BootFigure]) -> Option<Chart> {
    if boot.is_empty() {
        return None;
    }
    let targets: Vec<&str> = boot.iter().map(|b| b.target.as_str()).collect();
    // Milliseconds; a stage a target did not record takes no room.
    let rows: Vec<Vec<f64>> = boot
        .iter()
        .map(|b| {
            b.stages_ns
                .iter()
                .map(|v| v.unwrap_or(0) as f64 / 1e6)
                .collect()
        })
        .collect();
    let total = rows
        .iter()
        .map(|r| r.iter().sum::<f64>())
        .fold(0.0, f64::max)
        .max(1.0);
    let mut svg = String::new();
    let drawn = (|| -> Result<(), String> {
        let height = 90 + 40 * targets.len() as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = targets.len();
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(0f64..total * 1.05, -0.5f64..n as f64 - 0.5)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("milliseconds (medians of cold starts)")
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        let label_style = TextStyle::from(("sans-serif", 13).into_font())
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in targets.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, (n - 1 - i) as f64));
            root.draw(&Text::new(
                name.to_string(),
                (x - 8, y),
                label_style.clone(),
            ))
            .map_err(|e| e.to_string())?;
        }
        for k in 0..BootStage::SPANS.len() {
            let color = BOOT_COLORS[k % BOOT_COLORS.len()];
            let bars = rows.iter().enumerate().map(|(i, stages)| {
                let start: f64 = stages[..k].iter().sum();
                let y = (n - 1 - i) as f64;
                Rectangle::new(
                    [(start, y - 0.3), (start + stages[k], y + 0.3)],
                    color.filled(),
                )
            });
            chart.draw_series(bars).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())
    })();
    Some(Chart::new(
        "boot",
        "Boot breakdown",
        "Where a microVM's cold start goes, from the markers its init writes to the serial console: VMM and loader (host time to init minus the guest clock), the kernel (the guest clock at init), loading the virtio modules, configuring the network, binding the server, then the host's first response (hello cold starts where the run has them, so the last stage holds no workload compute).",
        drawn.map(|()| svg),
        BootStage::SPANS
            .iter()
            .zip(BOOT_COLORS)
            .map(|(&stage, color)| (stage_label(stage).to_string(), hex(color)))
            .collect(),
    ))
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
    axis: Axis,
) {
    let series: Vec<Series> = series
        .into_iter()
        .filter(|s| s.rows.iter().any(|r| !r.is_empty()))
        .collect();
    if series.is_empty() {
        return;
    }
    let legend = series
        .iter()
        .map(|s| (s.name.clone(), hex(s.color)))
        .collect();
    charts.push(Chart::new(
        &id,
        &title,
        &caption,
        dot_chart(x_label, rows, &series, axis),
        legend,
    ));
}

/// What a dot chart's axis measures: its labels and where it ticks.
#[derive(Clone, Copy)]
enum Axis {
    Time,
    Bytes,
}

impl Axis {
    fn label(self, v: u64) -> String {
        match self {
            Axis::Time => human_ns(v),
            Axis::Bytes => human_bytes(v),
        }
    }

    /// Times tick at powers of ten; sizes at powers of 1024 (and 32×),
    /// where binary labels are round.
    fn ticks(self, lo: f64, hi: f64) -> Vec<f64> {
        match self {
            Axis::Time => decade_ticks(lo, hi),
            Axis::Bytes => binary_ticks(lo, hi),
        }
    }
}

/// Powers of ten from `lo` to `hi`.
fn decade_ticks(lo: f64, hi: f64) -> Vec<f64> {
    (-12..=15)
        .map(|e| 10f64.powi(e))
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

/// 1, 32 and 1024 × each power of 1024 between `lo` and `hi` bytes: round
/// in binary units (1 KiB, 32 KiB, 1 MiB…); every power of two where the
/// range is narrow.
fn binary_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let all: Vec<f64> = (0..=40)
        .map(|e| 2f64.powi(e))
        .filter(|v| (lo..=hi).contains(v))
        .collect();
    let sparse: Vec<f64> = all
        .iter()
        .copied()
        .filter(|v| (v.log2().round() as i64) % 5 == 0)
        .collect();
    if sparse.len() >= 3 {
        sparse
    } else {
        all
    }
}

/// The density sweep's steps: 1, 4, 16, 64… up to `max`.
fn tenant_ticks(max: f64) -> Vec<f64> {
    (0..8)
        .map(|e| 4f64.powi(e))
        .filter(|&v| v <= max * 1.2)
        .collect()
}

fn dot_chart(
    x_label: &str,
    rows: &[String],
    series: &[Series],
    axis: Axis,
) -> Result<String, String> {
    let all = series.iter().flat_map(|s| s.rows.iter().flatten().copied());
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    // Whole decades, so that a narrow range still shows labelled ticks.
    let (lo, hi) = (
        10f64.powf(lo.log10().floor()),
        10f64.powf((hi * 1.01).log10().ceil()),
    );
    let n = rows.len().max(1);
    let height = 90 + 34 * n as u32 + 12 * series.len() as u32;
    let ticks = axis.ticks(lo, hi);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(
                (lo..hi).log_scale().with_key_points(ticks),
                -0.5f64..n as f64 - 0.5,
            )
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc(x_label)
            .x_label_formatter(&|v| axis.label(*v as u64))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|e| e.to_string())?;
        // Row names, drawn by hand: plotters' numeric axis would put its
        // labels between rows.
        let label_style = TextStyle::from(("sans-serif", 13).into_font())
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, name) in rows.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(lo, (n - 1 - i) as f64));
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
                        (v, (n - 1 - row) as f64 + offset + jitter),
                        3,
                        color.mix(0.55).filled(),
                    )
                })
            });
            chart.draw_series(dots).map_err(|e| e.to_string())?;
            let medians = s.rows.iter().enumerate().filter_map(|(row, values)| {
                let m = stats::median(values)?;
                let y = (n - 1 - row) as f64 + offset;
                Some(PathElement::new(
                    vec![(m, y - band * 0.5), (m, y + band * 0.5)],
                    color.stroke_width(3),
                ))
            });
            chart.draw_series(medians).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_axes_tick_where_binary_labels_are_round() {
        let t = binary_ticks(10_000.0, 1e9);
        let labels: Vec<String> = t.iter().map(|&v| human_bytes(v as u64)).collect();
        assert_eq!(labels, ["32.0 KiB", "1.00 MiB", "32.0 MiB"]);
        assert_eq!(
            binary_ticks(3000.0, 9000.0),
            [4096.0, 8192.0],
            "narrow: every power of two"
        );
    }

    #[test]
    fn the_density_axis_ticks_at_the_sweep_steps_once_each() {
        assert_eq!(tenant_ticks(64.0), [1.0, 4.0, 16.0, 64.0]);
        assert_eq!(decade_ticks(0.5, 2000.0), [1.0, 10.0, 100.0, 1000.0]);
    }
}
