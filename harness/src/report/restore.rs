//! The start kinds: per target that restored, its cold start (a boot, a
//! process start, an instantiation) beside its restore from a snapshot —
//! latency, CPU and memory of the hello workload — with what the snapshot
//! cost to make; and the published figures of snapshot starts as anchors
//! (`data/restores.json`), each beside the nearest figure measured here.

use serde::Deserialize;

use super::figures::Figures;
use crate::measures::Measure;
use crate::results::SummaryRow;
use crate::vocab::Phase;

const ANCHORS: &str = include_str!("../../data/restores.json");

/// One target's two ways to start.
#[derive(Clone, Debug)]
pub struct StartKinds<'a> {
    /// Target.
    pub target: String,
    /// How it restores, as run.json says.
    pub mechanism: String,
    /// Its accelerator, when emulated (`tcg`).
    pub emulated: bool,
    /// Cold (hello).
    pub cold: Option<&'a SummaryRow>,
    /// Restore (hello).
    pub restore: Option<&'a SummaryRow>,
    /// The host's own instantiation, cold and restored (the wasm hosts).
    pub instantiate: (Option<u64>, Option<u64>),
    /// A restored microVM: VMM up, guest resumed (QMP), from the ask.
    pub resumed: Option<u64>,
    /// The snapshot on disk.
    pub snapshot_bytes: Option<u64>,
    /// Making it (for a VM: booting it, then saving it).
    pub make_ns: Option<u64>,
    /// Saving a running VM (QMP migrate to completion).
    pub save_ns: Option<u64>,
}

impl StartKinds<'_> {
    /// Cold p50 ÷ restore p50: how many times faster the restore started.
    pub fn speedup(&self) -> Option<f64> {
        let (c, r) = (self.cold?.p50_ns?, self.restore?.p50_ns?);
        (r > 0).then(|| c as f64 / r as f64)
    }

    /// The same of the host's own instantiation.
    pub fn instantiate_speedup(&self) -> Option<f64> {
        match self.instantiate {
            (Some(c), Some(r)) if r > 0 => Some(c as f64 / r as f64),
            _ => None,
        }
    }
}

/// A published figure of a snapshot start.
#[derive(Clone, Debug, Deserialize)]
pub struct Anchor {
    /// The mechanism.
    pub mechanism: String,
    /// The figure as published.
    pub figure: String,
    /// Where.
    pub source: String,
    /// What it compares, in words.
    pub compares: String,
    /// The target measured here that comes nearest, if one does.
    #[serde(default)]
    pub target: Option<String>,
    /// Which of that target's figures.
    #[serde(default)]
    pub measured: Option<Figure>,
    /// The published value, in the unit of `measured`.
    pub value: f64,
    /// Why nothing here compares, where nothing does.
    #[serde(default)]
    pub here: Option<String>,
}

/// A figure of [`StartKinds`] an anchor is held against (its name in
/// `data/restores.json`).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Cold p50 ÷ restore p50.
    Speedup,
    /// The same of the host's own instantiation.
    InstantiateSpeedup,
    /// The restore's p50.
    RestoreNs,
    /// Making the snapshot.
    MakeNs,
    /// Saving a running VM.
    SaveNs,
}

impl Figure {
    /// Whether it is a time (else a ratio).
    pub fn is_time(self) -> bool {
        matches!(self, Figure::RestoreNs | Figure::MakeNs | Figure::SaveNs)
    }
}

#[derive(Deserialize)]
struct AnchorsFile {
    anchors: Vec<Anchor>,
}

/// The published anchors.
pub fn anchors() -> Vec<Anchor> {
    serde_json::from_str::<AnchorsFile>(ANCHORS)
        .expect("data/restores.json is valid (checked by a test)")
        .anchors
}

/// Every target with restore samples, in report order.
pub fn figures<'a>(f: &Figures<'a>) -> Vec<StartKinds<'a>> {
    f.targets
        .iter()
        .filter_map(|t| {
            let info = f.run.targets.iter().find(|x| x.name == *t)?;
            let restore = f.row(t, crate::report::figures::HELLO, Phase::Restore);
            let mechanism = info.facts.get("restore")?.as_str()?.to_string();
            if restore.is_none() && mechanism.starts_with("unavailable") {
                return None;
            }
            let median = |phase: Phase, m: Measure| {
                f.measures
                    .iter()
                    .find(|x| {
                        x.target == *t
                            && x.phase == phase.as_str()
                            && m.is(&x.measure)
                            && x.workload.is_none()
                    })
                    .map(|x| x.median)
            };
            let fact = |k: &str| info.facts.get(k).and_then(|v| v.as_u64());
            Some(StartKinds {
                target: t.clone(),
                mechanism,
                emulated: f.emulated.iter().any(|e| e == t),
                cold: f.row(t, crate::report::figures::HELLO, Phase::Cold),
                restore,
                instantiate: (
                    median(Phase::Cold, Measure::InstantiateNs),
                    median(Phase::Restore, Measure::InstantiateNs),
                ),
                resumed: median(Phase::Restore, Measure::RestoreResumedNs),
                snapshot_bytes: fact("snapshot_bytes"),
                make_ns: fact("snapshot_make_ns"),
                save_ns: fact("snapshot_save_ns"),
            })
        })
        .collect()
}

/// What an anchor is held against here: the figure, in the anchor's unit,
/// and the target it is of; `None` without a measurement.
pub fn measured(anchor: &Anchor, kinds: &[StartKinds]) -> Option<(f64, String)> {
    let target = anchor.target.as_deref()?;
    let k = kinds.iter().find(|k| k.target == target)?;
    let v = match anchor.measured? {
        Figure::Speedup => k.speedup()?,
        Figure::InstantiateSpeedup => k.instantiate_speedup()?,
        Figure::RestoreNs => k.restore?.p50_ns? as f64,
        Figure::MakeNs => k.make_ns? as f64,
        Figure::SaveNs => k.save_ns? as f64,
    };
    Some((v, k.target.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::TargetKind;

    fn row(p50: u64) -> SummaryRow {
        SummaryRow {
            p50_ns: Some(p50),
            ..crate::results::fixtures::summary_row()
        }
    }

    #[test]
    fn an_anchor_is_held_against_its_targets_figure_of_its_kind() {
        let (cold, restore) = (row(1_200_000_000), row(100_000_000));
        let kinds = [StartKinds {
            target: "qemu-microvm".into(),
            mechanism: "m".into(),
            emulated: true,
            cold: Some(&cold),
            restore: Some(&restore),
            instantiate: (Some(90), None),
            resumed: None,
            snapshot_bytes: Some(1),
            make_ns: Some(2_000),
            save_ns: Some(400),
        }];
        assert_eq!(kinds[0].speedup(), Some(12.0));
        assert_eq!(kinds[0].instantiate_speedup(), None, "no restore figure");
        let anchor = |target: &str, measured: Figure| Anchor {
            mechanism: "x".into(),
            figure: "y".into(),
            source: "z".into(),
            compares: "w".into(),
            target: Some(target.into()),
            measured: Some(measured),
            value: 1.0,
            here: None,
        };
        let got = |a: &Anchor| measured(a, &kinds).map(|(v, _)| v);
        assert_eq!(got(&anchor("qemu-microvm", Figure::Speedup)), Some(12.0));
        assert_eq!(got(&anchor("qemu-microvm", Figure::RestoreNs)), Some(1e8));
        assert_eq!(got(&anchor("qemu-microvm", Figure::SaveNs)), Some(400.0));
        assert_eq!(
            got(&anchor("qemu-microvm", Figure::InstantiateSpeedup)),
            None
        );
        assert_eq!(
            got(&anchor("node", Figure::Speedup)),
            None,
            "not restored here"
        );
    }

    #[test]
    fn the_anchors_parse_name_registered_targets_and_known_figures() {
        let all = anchors();
        assert!(all.len() >= 4);
        for a in &all {
            if let Some(t) = &a.target {
                assert!(TargetKind::parse(t).is_ok(), "unknown target {t}");
                // An unknown figure's name fails to parse (anchors()).
                assert!(a.measured.is_some(), "{}: which figure?", a.mechanism);
            }
            assert!(a.value > 0.0 && !a.source.is_empty(), "{}", a.mechanism);
            assert!(
                a.target.is_some() != a.here.is_some(),
                "{}: a target to compare with, or why there is none",
                a.mechanism
            );
        }
    }
}
