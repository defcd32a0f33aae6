//! Phase `restore`: a new instance started from the snapshot its target made
//! in `prepare` (untimed), timed like a cold one, from the moment the harness
//! asks for the instance to the last byte of its first correct response. Its
//! CPU and memory are taken as a cold instance's are (a shared host's growth
//! where the target has one). The instance must prove itself new: an id this
//! target never showed, which a restored copy of the snapshot's memory could
//! only repeat.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{since, CellPhase, CellRun};
use crate::targets::Target;
use crate::vocab::Phase;

/// One instance restored, its first answer, then stop.
pub struct Restore;

impl CellPhase for Restore {
    fn run(&self, cell: &mut CellRun<'_>, target: &mut dyn Target) {
        let base = target.baseline();
        let before = cell.probe();
        let asked_at = Instant::now();
        match target.restore(&cell.request(asked_at)) {
            Ok(started) => {
                let answered = cell.probe();
                let usage = since(target.measure(&started.instance), base);
                cell.record_new(
                    Phase::Restore,
                    asked_at,
                    &started.response,
                    usage,
                    &started.measures,
                    (&before, &answered),
                );
                cell.stop(target, started.instance);
            }
            Err(_) if cell.cancel.load(Ordering::Relaxed) => {}
            Err(e) => {
                let s = cell
                    .rec
                    .failed(Phase::Restore, asked_at.elapsed(), e.to_string());
                cell.out.samples.push(s);
            }
        }
    }
}
