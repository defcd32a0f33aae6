//! Phase `restore`: a new instance started from the snapshot its target made
//! in `prepare` (untimed), timed like a cold one, from the moment the harness
//! asks for the instance to the last byte of its first correct response. Its
//! CPU and memory are taken as a cold instance's are (a shared host's growth
//! where the target has one). The instance must prove itself new: an id this
//! target never showed, which a restored copy of the snapshot's memory could
//! only repeat.

use std::time::Instant;

use super::{CellPhase, CellRun};
use crate::targets::Target;
use crate::vocab::Phase;

/// One instance restored, its first answer, then stop.
pub struct Restore;

impl CellPhase for Restore {
    fn run(&self, cell: &mut CellRun<'_>, target: &mut dyn Target) {
        let base = target.baseline();
        let before = cell.probe();
        let asked_at = Instant::now();
        let started = target.restore(&cell.request(asked_at));
        cell.first_answer(target, Phase::Restore, (asked_at, &before), started, base);
    }
}
