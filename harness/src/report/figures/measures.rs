//! Medians of the target-specific figures (measures.csv) and of the microVM
//! boot stages, over the measures of valid samples.

use std::collections::BTreeMap;

use crate::measures::{BootStage, Measure};
use crate::results::MeasureRow;
use crate::stats;
use crate::vocab::Phase;

/// The median of one target-specific figure.
#[derive(Clone, Debug)]
pub struct MeasureFigure {
    /// Target.
    pub target: String,
    /// Phase.
    pub phase: String,
    /// The figure's name (its unit is in the name).
    pub measure: String,
    /// The workload, for a figure that depends on it.
    pub workload: Option<String>,
    /// Median over valid samples, in the unit of its name.
    pub median: u64,
    /// Samples it covers.
    pub n: usize,
}

/// The median boot stages of one target.
#[derive(Clone, Debug)]
pub struct BootFigure {
    /// Target.
    pub target: String,
    /// Per stage of [`BootStage::SPANS`], in order: the median over cold starts.
    pub stages_ns: Vec<Option<u64>>,
}

/// Medians per (target, phase, measure), targets in report order (others
/// after them), over `measures` (those of valid samples).
pub fn medians(measures: &[&MeasureRow], targets: &[String]) -> Vec<MeasureFigure> {
    // (target rank, target, phase, measure, workload)
    type Key = (usize, String, String, String, Option<String>);
    let mut groups: BTreeMap<Key, Vec<u64>> = BTreeMap::new();
    for m in measures {
        let rank = targets
            .iter()
            .position(|t| *t == m.target)
            .unwrap_or(usize::MAX);
        // A stage that ends with the response holds the workload's compute:
        // one figure per workload, not a median across them.
        let workload = Measure::parse(&m.measure)
            .is_some_and(Measure::ends_at_response)
            .then(|| m.workload.clone());
        let key = (
            rank,
            m.target.clone(),
            m.phase.clone(),
            m.measure.clone(),
            workload,
        );
        groups.entry(key).or_default().push(m.value);
    }
    groups
        .into_iter()
        .filter_map(|((_, target, phase, measure, workload), values)| {
            Some(MeasureFigure {
                median: stats::median(&values)?,
                target,
                phase,
                measure,
                workload,
                n: values.len(),
            })
        })
        .collect()
}

/// The median of `measure` over the cold starts of `target` (of `workload`
/// only, when given).
pub fn cold_median(
    measures: &[&MeasureRow],
    target: &str,
    measure: Measure,
    workload: Option<&str>,
) -> Option<u64> {
    let values: Vec<u64> = measures
        .iter()
        .filter(|m| m.target == target && measure.is(&m.measure) && m.phase == Phase::Cold.as_str())
        .filter(|m| workload.is_none_or(|w| m.workload == w))
        .map(|m| m.value)
        .collect();
    stats::median(&values)
}

/// The boot stages of every target that records them, in order of first
/// appearance: of hello cold starts where the run has any hello (then the
/// last stage holds no workload compute), else of every cold start.
pub fn boot_figures(measures: &[&MeasureRow]) -> Vec<BootFigure> {
    let mut targets: Vec<&str> = Vec::new();
    for m in measures {
        if Measure::Boot(BootStage::SPANS[0]).is(&m.measure)
            && !targets.contains(&m.target.as_str())
        {
            targets.push(&m.target);
        }
    }
    let hello = measures
        .iter()
        .any(|m| m.workload == super::HELLO)
        .then_some(super::HELLO);
    targets
        .into_iter()
        .map(|t| BootFigure {
            target: t.to_string(),
            stages_ns: BootStage::SPANS
                .iter()
                .map(|&stage| cold_median(measures, t, Measure::Boot(stage), hello))
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sections::measures::{self, MeasureView};

    /// The figures as the measures table shows them.
    fn measure_views(rows: &[&MeasureRow], targets: &[String]) -> Vec<MeasureView> {
        measures::build(&medians(rows, targets))
    }

    #[test]
    fn the_stage_that_ends_with_the_response_is_kept_per_workload() {
        let row = |workload: &str, measure: Measure, value: u64| MeasureRow {
            run_id: "r".into(),
            round: 0,
            target: "vm".into(),
            workload: workload.into(),
            phase: Phase::Cold.as_str().into(),
            instance_id: "i".into(),
            measure: measure.as_str().into(),
            value,
        };
        let to_response = Measure::Boot(BootStage::ListenToResponse);
        let kernel = Measure::Boot(BootStage::Kernel);
        let rows = [
            row("hello", to_response, 1_000),
            row("palindrome-large", to_response, 9_000_000),
            row("hello", kernel, 4_560_000),
            row("palindrome-large", kernel, 4_560_000),
        ];
        let views = measure_views(&rows.iter().collect::<Vec<_>>(), &["vm".to_string()]);
        let shown: Vec<(&str, Option<&str>, &str)> = views
            .iter()
            .map(|v| (v.measure.as_str(), v.workload.as_deref(), v.median.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("boot_kernel_ns", None, "4.56 ms"),
                ("boot_listen_to_response_ns", Some("hello"), "1.00 µs"),
                (
                    "boot_listen_to_response_ns",
                    Some("palindrome-large"),
                    "9.00 ms"
                ),
            ]
        );
    }
}
