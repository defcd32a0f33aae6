//! Phase `density`, after the rounds: for each target, N idle instances at
//! each step (see [`crate::density::sweep`]), memory only; the rows and the
//! sweep's notes go to the run's sink.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::plan::Plan;
use crate::progress::Progress;
use crate::results::ResultsError;
use crate::run::folder::RunFolder;
use crate::targets::Target;
use crate::vocab::Phase;

/// Sweeps every target that keeps idle instances; false if interrupted.
pub fn run(
    targets: &mut [Box<dyn Target>],
    plan: &Plan,
    cancel: &AtomicBool,
    folder: &mut RunFolder,
    progress: &mut dyn Progress,
) -> Result<bool, ResultsError> {
    folder.begin_density()?;
    let run_id = folder.info().run_id.clone();
    for t in targets.iter_mut() {
        if cancel.load(Ordering::Relaxed) {
            return Ok(false);
        }
        if !t.phases().contains(&Phase::Density) {
            folder.density_note(
                format!(
                    "{}: no density sweep: it keeps no instance alive between requests",
                    t.name()
                ),
                None,
            );
            continue;
        }
        let sweep = crate::density::sweep(t.as_mut(), plan, &run_id, cancel);
        folder.density(&sweep.rows)?;
        for row in &sweep.rows {
            progress.note(&format!(
                "density  {}: {} instances, {}",
                row.target,
                row.tenants,
                crate::units::human_bytes(row.memory_bytes)
            ));
        }
        for note in sweep.notes {
            folder.density_note(format!("{}: {note}", t.name()), Some(&mut *progress));
        }
        for w in t.take_notes() {
            folder.warn(format!("{}: {w}", t.name()), progress);
        }
    }
    Ok(true)
}
