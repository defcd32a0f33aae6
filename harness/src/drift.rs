//! `coldbench drift RUN...`: how far the same figures moved between runs of
//! one plan. Per (target, workload, phase) the median latency of each run,
//! and per (target, workload) the paired cold and warm ratios to the
//! baseline (the report's method: per-round ratio, then the median); for
//! each, the spread across runs, (max − min) ÷ median of the runs' values.
//! `--save` writes the table as drift.csv into every run folder given, where
//! the report shows it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::report::figures::{round_pairs, valid, BASELINE};
use crate::results::{self, ResultsError, Sample};
use crate::stats;
use crate::units::human_ns;
use crate::vocab::Phase;

/// Bootstrap resamples of each run's CI (enough to tell overlap).
const RESAMPLES: usize = 500;

/// The file `--save` writes into each run folder.
pub const DRIFT_FILE: &str = "drift.csv";

/// What a drift row is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Figure {
    /// A cell's median latency, ns.
    P50,
    /// A paired ratio to the baseline.
    Ratio,
}

/// One figure across the runs (a row of drift.csv).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftRow {
    /// p50 or ratio.
    pub figure: Figure,
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Phase.
    pub phase: String,
    /// Runs that have the figure.
    pub runs: usize,
    /// The median of the runs' values.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// (max − min) ÷ median, percent.
    pub spread_pct: f64,
    /// The runs' 95% CIs share a point: the spread is what sampling alone
    /// can give; when they do not, the runs measured different things.
    pub cis_overlap: bool,
    /// Each run's value, in the order given, `;`-separated (empty: none).
    pub values: String,
}

/// A drift check that could not run.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    /// Fewer than two runs.
    #[error("drift needs at least two runs of the same plan (give two or more results/<run-id> folders)")]
    TooFew,
    /// A run could not be read.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// The runs measured different things.
    #[error("{0} measured other workloads or phases than {1}: drift compares runs of one plan (same --workloads and --phases)")]
    OtherPlan(String, String),
}

struct Run {
    dir: PathBuf,
    samples: Vec<Sample>,
    targets: Vec<String>,
    workloads: Vec<String>,
    phases: Vec<Phase>,
    seed: u64,
}

fn load(dir: &Path) -> Result<Run, DriftError> {
    let info = results::read_run_info(dir)?;
    let samples = results::read_samples_tolerant(&dir.join("samples.csv"))?.rows;
    Ok(Run {
        dir: dir.to_path_buf(),
        samples,
        targets: info
            .targets
            .iter()
            .filter(|t| t.measured)
            .map(|t| t.name.clone())
            .collect(),
        workloads: info.plan.workloads.clone(),
        phases: info.plan.phases.clone(),
        seed: info.plan.seed,
    })
}

/// One run's figure with its 95% CI.
type Estimate = (f64, f64, f64);

fn row(
    figure: Figure,
    key: (&str, &str, Phase),
    estimates: Vec<Option<Estimate>>,
) -> Option<DriftRow> {
    let values: Vec<Option<f64>> = estimates.iter().map(|e| e.map(|(v, _, _)| v)).collect();
    let have: Vec<f64> = values.iter().flatten().copied().collect();
    let highest_lo = estimates
        .iter()
        .flatten()
        .map(|e| e.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let lowest_hi = estimates
        .iter()
        .flatten()
        .map(|e| e.2)
        .fold(f64::INFINITY, f64::min);
    if have.is_empty() {
        return None;
    }
    let median = stats::median(&have)?;
    let min = have.iter().copied().fold(f64::INFINITY, f64::min);
    let max = have.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some(DriftRow {
        figure,
        target: key.0.to_string(),
        workload: key.1.to_string(),
        phase: key.2.as_str().to_string(),
        runs: have.len(),
        median,
        min,
        max,
        spread_pct: if median > 0.0 {
            (max - min) / median * 100.0
        } else {
            0.0
        },
        cis_overlap: highest_lo <= lowest_hi,
        values: values
            .iter()
            .map(|v| v.map_or_else(String::new, |v| format!("{v:.4}")))
            .collect::<Vec<_>>()
            .join(";"),
    })
}

/// The drift rows of `dirs`, in target, workload, phase order.
pub fn check(dirs: &[PathBuf]) -> Result<Vec<DriftRow>, DriftError> {
    if dirs.len() < 2 {
        return Err(DriftError::TooFew);
    }
    let runs: Vec<Run> = dirs.iter().map(|d| load(d)).collect::<Result<_, _>>()?;
    let first = &runs[0];
    if let Some(other) = runs
        .iter()
        .find(|r| r.workloads != first.workloads || r.phases != first.phases)
    {
        return Err(DriftError::OtherPlan(
            other.dir.display().to_string(),
            first.dir.display().to_string(),
        ));
    }
    // Every target any run measured, in first-seen order.
    let mut targets: Vec<String> = Vec::new();
    for t in runs.iter().flat_map(|r| &r.targets) {
        if !targets.contains(t) {
            targets.push(t.clone());
        }
    }
    let phases: Vec<Phase> = Phase::SAMPLED
        .into_iter()
        .filter(|p| first.phases.contains(p))
        .collect();
    let mut rows = Vec::new();
    for t in &targets {
        for w in &first.workloads {
            for &phase in &phases {
                let p50 = runs
                    .iter()
                    .map(|r| {
                        let v: Vec<u64> = valid(&r.samples, t, w, phase.as_str())
                            .filter_map(|s| s.latency_ns)
                            .collect();
                        let mut rng = ChaCha8Rng::seed_from_u64(r.seed);
                        let m = stats::median(&v)? as f64;
                        let (lo, hi) = stats::bootstrap_median_ci(&v, &mut rng, RESAMPLES)?;
                        Some((m, lo as f64, hi as f64))
                    })
                    .collect();
                rows.extend(row(Figure::P50, (t, w, phase), p50));
            }
            if t == BASELINE {
                continue;
            }
            for phase in [Phase::Cold, Phase::Warm] {
                if !phases.contains(&phase) {
                    continue;
                }
                let ratios = runs
                    .iter()
                    .map(|r| {
                        let pairs = round_pairs(&r.samples, t, w, phase, |s| s.latency_ns);
                        let mut rng = ChaCha8Rng::seed_from_u64(r.seed);
                        stats::paired_ratio(&pairs, &mut rng, RESAMPLES)
                    })
                    .collect();
                rows.extend(row(Figure::Ratio, (t, w, phase), ratios));
            }
        }
    }
    Ok(rows)
}

/// One row as shown: its name, each run's value (`–` where a run has
/// none) and its spread, marked `†` where the runs' CIs do not overlap.
pub fn formatted(r: &DriftRow) -> (String, Vec<String>, String) {
    let name = match r.figure {
        Figure::P50 => format!("{} {} {} p50", r.target, r.workload, r.phase),
        Figure::Ratio => format!("{} ÷ {BASELINE} {} {}", r.target, r.workload, r.phase),
    };
    let cells = r
        .values
        .split(';')
        .map(|v| match (v.parse::<f64>(), r.figure) {
            (Err(_), _) => "–".to_string(),
            (Ok(v), Figure::P50) => human_ns(v as u64),
            (Ok(v), Figure::Ratio) => format!("{v:.2}×"),
        })
        .collect();
    let mark = if r.cis_overlap { "" } else { " †" };
    (name, cells, format!("{:.0} %{mark}", r.spread_pct))
}

/// The rows as a Markdown table, values in the runs' order.
pub fn table(rows: &[DriftRow], runs: usize) -> String {
    let rows: Vec<_> = rows.iter().map(formatted).collect();
    markdown(&rows, runs)
}

/// Rows as [`formatted`] gives them, as a Markdown table.
pub fn markdown(rows: &[(String, Vec<String>, String)], runs: usize) -> String {
    let mut out = String::new();
    let heads: Vec<String> = (1..=runs).map(|i| format!("run {i}")).collect();
    let _ = writeln!(out, "| figure | {} | spread |", heads.join(" | "));
    let _ = writeln!(out, "|---|{}---:|", "---:|".repeat(runs));
    for (name, cells, spread) in rows {
        let _ = writeln!(out, "| {name} | {} | {spread} |", cells.join(" | "));
    }
    out.push_str("\n† the runs' 95% CIs do not overlap: more than sampling moved this figure.\n");
    out
}

/// Writes `rows` as drift.csv into `dir`.
pub fn save(dir: &Path, rows: &[DriftRow]) -> Result<PathBuf, ResultsError> {
    let path = dir.join(DRIFT_FILE);
    results::write_rows(&path, rows)?;
    Ok(path)
}

/// drift.csv of a run folder, when it has one.
pub fn read(dir: &Path) -> Option<Vec<DriftRow>> {
    let path = dir.join(DRIFT_FILE);
    if !path.exists() {
        return None;
    }
    let mut r = csv::Reader::from_path(&path).ok()?;
    r.deserialize().collect::<Result<Vec<DriftRow>, _>>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spread_is_the_range_over_the_median_of_the_runs_that_have_it() {
        let r = row(
            Figure::Ratio,
            ("node", "hello", Phase::Cold),
            vec![
                Some((37.5, 36.0, 39.0)),
                Some((33.0, 31.0, 34.0)),
                None,
                Some((48.6, 40.0, 50.0)),
            ],
        )
        .unwrap();
        assert!(!r.cis_overlap, "33 ± 1.5 and 37.5 ± 1.5 do not overlap");
        assert_eq!(r.runs, 3);
        assert_eq!(r.median, 37.5);
        assert!((r.spread_pct - 41.6).abs() < 0.1, "{}", r.spread_pct);
        assert_eq!(r.values, "37.5000;33.0000;;48.6000");
        assert!(row(Figure::P50, ("a", "b", Phase::Warm), vec![None, None]).is_none());
        let t = table(&[r], 4);
        assert!(
            t.contains("| node ÷ process hello cold | 37.50× | 33.00× | – | 48.60× | 42 % † |"),
            "{t}"
        );
        let noisy = row(
            Figure::P50,
            ("crun", "hello", Phase::Cold),
            vec![Some((20.1, 16.8, 24.3)), Some((25.6, 20.5, 27.1))],
        )
        .unwrap();
        assert!(noisy.cis_overlap, "{noisy:?}");
    }

    #[test]
    fn one_run_is_not_a_drift_check() {
        assert!(matches!(
            check(&[PathBuf::from("x")]),
            Err(DriftError::TooFew)
        ));
    }
}
