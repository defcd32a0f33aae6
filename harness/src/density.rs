//! The density sweep: how much memory N idle instances of a target take
//! together, for N = 1, 4, 16, … A least-squares line through the points
//! gives memory per tenant (its slope) and the shared baseline (its
//! intercept). Instances stay alive through the whole sweep, so a host cannot
//! hand one tenant the memory another gave back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::plan::Plan;
use crate::results::DensityRow;
use crate::stats;
use crate::targets::{Instance, StartRequest, Target};
use crate::units::human_bytes;

/// How long memory may settle after a step (lazy frees, page faults) before
/// it is read.
const SETTLE: Duration = Duration::from_millis(300);
/// A step that takes longer than this ends the sweep.
const STEP_PATIENCE: Duration = Duration::from_secs(180);

/// What a sweep measured, and why it stopped where it did.
#[derive(Debug, Default)]
pub struct Sweep {
    /// One row per step reached.
    pub rows: Vec<DensityRow>,
    /// Why the sweep ended early, cleanup problems.
    pub notes: Vec<String>,
}

/// Starts idle instances of `target` step by step (hello, tenants
/// `density-<k>`), reads their memory after each step, and stops them all.
pub fn sweep(target: &mut dyn Target, plan: &Plan, run_id: &str, cancel: &AtomicBool) -> Sweep {
    let mut out = Sweep::default();
    let mut instances: Vec<Instance> = Vec::new();
    let steps = plan.density_steps();
    // A shared host readies itself (untimed, as before a cold start).
    target.ready();
    'steps: for (i, &n) in steps.iter().enumerate() {
        let step_started = Instant::now();
        while instances.len() < n as usize {
            if cancel.load(Ordering::Relaxed) {
                break 'steps;
            }
            let tenant = format!("density-{}", instances.len() + 1);
            let asked_at = Instant::now();
            let request = StartRequest {
                tenant: &tenant,
                workload: "hello",
                asked_at,
                deadline: asked_at + plan.timeout,
            };
            match target.start(&request) {
                Ok(started) if started.response.status == 200 => instances.push(started.instance),
                Ok(started) => {
                    out.notes.push(format!(
                        "density stopped at {} instances: instance {} answered HTTP {}",
                        instances.len(),
                        instances.len() + 1,
                        started.response.status
                    ));
                    instances.push(started.instance);
                    break 'steps;
                }
                Err(e) => {
                    out.notes.push(format!(
                        "density stopped at {} instances: {e}",
                        instances.len()
                    ));
                    break 'steps;
                }
            }
        }
        std::thread::sleep(SETTLE);
        let Some(bytes) = target.resident(&instances) else {
            out.notes
                .push("density: the target cannot account its instances' memory".into());
            break;
        };
        out.rows.push(DensityRow {
            run_id: run_id.to_string(),
            target: target.name().to_string(),
            family: target.family().as_str().to_string(),
            tenants: n,
            memory_bytes: bytes,
        });
        if let Some(&next) = steps.get(i + 1) {
            let projected = bytes as f64 / n as f64 * next as f64;
            if projected > plan.density_budget_bytes as f64 {
                out.notes.push(format!(
                    "density stopped at {n} instances: {next} would take about {}, over the budget of {} (--density-budget-mib)",
                    human_bytes(projected as u64),
                    human_bytes(plan.density_budget_bytes)
                ));
                break;
            }
        }
        if step_started.elapsed() > STEP_PATIENCE {
            out.notes.push(format!(
                "density stopped at {n} instances: the step took {:.0?}",
                step_started.elapsed()
            ));
            break;
        }
    }
    for instance in instances {
        if let Err(e) = target.stop(instance) {
            out.notes.push(format!("density cleanup: {e}"));
        }
    }
    out
}

/// A least-squares line through (tenants, bytes).
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// Bytes per tenant.
    pub slope: f64,
    /// Bytes with no tenant: the shared baseline.
    pub intercept: f64,
    /// Coefficient of determination.
    pub r2: f64,
}

impl Fit {
    /// Idle tenants that fit in 1 GiB by this line: (1 GiB − intercept) ÷
    /// slope. An extrapolation past the sweep's largest step.
    pub fn tenants_per_gib(&self) -> Option<f64> {
        let room = (1u64 << 30) as f64 - self.intercept.max(0.0);
        (self.slope > 0.0 && room > 0.0).then(|| room / self.slope)
    }
}

/// The fit of `points`; `None` with fewer than two distinct tenant counts.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    if points.len() < 2 {
        return None;
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = points.iter().copied().unzip();
    let (mean_x, mean_y) = (stats::mean(&xs)?, stats::mean(&ys)?);
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let ss_tot: f64 = points.iter().map(|p| (p.1 - mean_y).powi(2)).sum();
    let ss_res: f64 = points
        .iter()
        .map(|p| (p.1 - (intercept + slope * p.0)).powi(2))
        .sum();
    let r2 = if ss_tot == 0.0 {
        1.0
    } else {
        1.0 - ss_res / ss_tot
    };
    Some(Fit {
        slope,
        intercept,
        r2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_recovered_exactly() {
        let f = fit(&[(1.0, 12.0), (4.0, 18.0), (16.0, 42.0)]).unwrap();
        assert!(
            (f.slope - 2.0).abs() < 1e-9 && (f.intercept - 10.0).abs() < 1e-9,
            "{f:?}"
        );
        assert!((f.r2 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn tenants_per_gib_leaves_room_for_the_intercept() {
        let gib = (1u64 << 30) as f64;
        let line = |slope: f64, intercept: f64| Fit {
            slope,
            intercept,
            r2: 1.0,
        };
        assert_eq!(line(gib / 100.0, 0.0).tenants_per_gib(), Some(100.0));
        assert_eq!(line(gib / 100.0, gib / 2.0).tenants_per_gib(), Some(50.0));
        assert_eq!(line(gib / 100.0, 2.0 * gib).tenants_per_gib(), None);
        assert_eq!(line(0.0, 0.0).tenants_per_gib(), None);
    }

    #[test]
    fn noise_lowers_r2_and_one_point_fits_nothing() {
        let f = fit(&[(1.0, 10.0), (4.0, 30.0), (16.0, 12.0), (64.0, 80.0)]).unwrap();
        assert!(f.r2 < 0.95, "{f:?}");
        assert_eq!(fit(&[(4.0, 1.0)]), None);
        assert_eq!(fit(&[(4.0, 1.0), (4.0, 2.0)]), None);
    }
}
