//! Phase `host-cold`: the shared host started from nothing (the running one
//! stopped first, untimed), timed to its first tenant's correct response.

use std::time::Instant;

use super::{CellPhase, CellRun};
use crate::targets::Target;
use crate::vocab::Phase;

/// The host restarted, then one tenant's first request.
pub struct HostCold;

impl CellPhase for HostCold {
    fn run(&self, cell: &mut CellRun<'_>, target: &mut dyn Target) {
        // From nothing: the running host goes first, outside the timing.
        if let Err(e) = target.shutdown() {
            cell.out
                .warnings
                .push(format!("{} (stopping the host): {e}", cell.rec.target));
        }
        let before = cell.probe();
        let asked_at = Instant::now();
        let started = target.host_cold(&cell.request(asked_at));
        cell.first_answer(target, Phase::HostCold, (asked_at, &before), started, None);
    }
}
