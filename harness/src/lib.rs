//! coldbench: one harness, the same workloads, every serverless backend family.
//!
//! The parts, in the order a run uses them (vocabulary as in DESIGN.md):
//!
//! - [`cli`]: options → plan → run → report;
//! - [`plan`]: which targets, workloads and phases, how many samples, in which
//!   seeded, interleaved order;
//! - [`envelope`]: a platform's memory and CPU share per instance, and the
//!   cgroups that hold an instance to it;
//! - [`targets`]: the Target seam and the registry of every target;
//! - [`run`]: the scheduler that executes a plan, and the run folder's one sink;
//! - [`phases`]: one module per phase: what a cell asks of a target;
//! - [`measure`]: the instruments (HTTP client, /proc, calibration);
//! - [`measures`]: the names of measures.csv's figures, typed, with their units;
//! - [`spec`] and [`protocol`]: what a correct response is;
//! - [`results`], [`stats`]: raw data on disk and the summaries computed from it;
//! - [`report`]: HTML and Markdown rendered from the raw files alone;
//! - [`vocab`]: the typed words of the data (family, phase), the same
//!   strings on disk.
#![warn(missing_docs)]

pub mod cli;
pub mod compare;
pub mod density;
pub mod drift;
pub mod envelope;
pub mod fingerprint;
pub mod measure;
pub mod measures;
pub mod paths;
pub mod phases;
pub mod plan;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod results;
pub mod run;
pub mod spec;
pub mod stats;
pub mod targets;
pub mod units;
pub mod vocab;
