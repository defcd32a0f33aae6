//! Targets: what each measured target is and how it counts, and the ones
//! that were not measured.

use serde::Serialize;

use crate::results::{RunInfo, TargetInfo};
use crate::targets::Accounting;

/// A measured target.
#[derive(Debug, Serialize)]
pub struct TargetView {
    /// Name.
    pub name: String,
    /// Family.
    pub family: String,
    /// Version.
    pub version: String,
    /// Accelerator.
    pub accel: String,
    /// What CPU counts.
    pub cpu: String,
    /// What memory counts.
    pub memory: String,
    /// Prepare facts, as `key: value` lines.
    pub facts: Vec<(String, String)>,
}

/// The measured targets, in run order.
pub fn build(run: &RunInfo) -> Vec<TargetView> {
    run.targets
        .iter()
        .filter(|t| t.measured)
        .map(view)
        .collect()
}

/// (target, why) of every target that was not measured.
pub fn skipped(run: &RunInfo) -> Vec<(String, String)> {
    run.targets
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.skipped_reason.clone()?)))
        .collect()
}

fn view(t: &TargetInfo) -> TargetView {
    let accounting = |pick: fn(&Accounting) -> &String| {
        t.accounting
            .as_ref()
            .map(|a| pick(a).clone())
            .unwrap_or_default()
    };
    TargetView {
        name: t.name.clone(),
        family: t.family.clone(),
        version: t.version.clone().unwrap_or_default(),
        accel: t.accel.clone(),
        cpu: accounting(|a| &a.cpu),
        memory: accounting(|a| &a.memory),
        // A string fact reads as itself, anything else as its JSON.
        facts: t
            .facts
            .iter()
            .map(|(k, v)| {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                (k.clone(), text)
            })
            .collect(),
    }
}
