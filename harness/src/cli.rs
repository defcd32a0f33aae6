//! The command line: options → plan → run → report. `main` only wires parts;
//! tests drive [`dispatch`] with `Cli::try_parse_from`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Parser, Subcommand};

use crate::compare::Options;
use crate::drift;
use crate::fingerprint::Fingerprint;
use crate::measure::http::Poll;
use crate::paths::Paths;
use crate::plan::{Controls, Idle, Plan, Precision, Profile, Settle};
use crate::progress;
use crate::report;
use crate::results::RunStatus;
use crate::run::{self, RunRequest};
use crate::spec::Spec;
use crate::targets::{Availability, TargetKind};
use crate::vocab::Phase;

/// coldbench: the same workloads against every serverless backend family,
/// with one client and one definition of "cold".
#[derive(Debug, Parser)]
#[command(name = "coldbench", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every target: family, available or why not, version.
    Targets,
    /// Run the matrix and write results/<run-id>/ and reports/<run-id>/.
    Run(Box<RunArgs>),
    /// Compare two runs: per (target, workload, phase) the change in p50 and
    /// p99 and its significance; exit status 1 on a significant regression.
    Compare {
        /// The run to compare against (a run folder, e.g. results/<id>).
        base: PathBuf,
        /// The new run.
        new: PathBuf,
        /// Smallest p50 change, in percent, that counts (the noise threshold).
        #[arg(long, default_value_t = 5.0, value_name = "PERCENT", value_parser = parse_percent, allow_negative_numbers = true)]
        threshold: f64,
        /// Significance level of the permutation test (between 0 and 1).
        #[arg(long, default_value_t = 0.05, value_parser = parse_alpha, allow_negative_numbers = true)]
        alpha: f64,
        /// Judge each cell at alpha on its own, without adjusting for the
        /// number of cells compared (expect false alarms in a whole matrix).
        #[arg(long)]
        no_correction: bool,
        /// Also write the table as a self-contained HTML page.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
    },
    /// How far the same figures moved between runs of one plan: per cell
    /// the median, per target the paired ratios to the baseline, and each
    /// one's spread, (max − min) ÷ median.
    Drift {
        /// Two or more run folders (results/<run-id>).
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Also write drift.csv into each run folder (their reports show it).
        #[arg(long)]
        save: bool,
        /// Exit 1 when a paired ratio's spread is above this percent.
        #[arg(long, value_name = "PERCENT", value_parser = parse_percent, allow_negative_numbers = true)]
        max_spread: Option<f64>,
    },
    /// Re-render a run's report from its raw files (run.json, samples.csv).
    Report {
        /// The run folder, e.g. results/latest.
        run_dir: PathBuf,
        /// Where to write the report [default: reports/<run-id> beside results/].
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Options of `coldbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Targets to run, comma-separated [default: every available target].
    #[arg(long, value_delimiter = ',', value_parser = TargetKind::parse)]
    pub targets: Vec<TargetKind>,
    /// Workloads, comma-separated [default: all].
    #[arg(long, value_delimiter = ',', value_parser = parse_workload)]
    pub workloads: Vec<String>,
    /// Phases to run, comma-separated: cold, warm, host-cold, restore, density [default: all].
    #[arg(long, value_delimiter = ',', value_parser = Phase::parse)]
    pub phases: Vec<Phase>,
    /// Cold samples (rounds) per (target, workload), at least 1 [default: from --profile].
    #[arg(long, value_name = "N", value_parser = parse_count, allow_negative_numbers = true)]
    pub samples: Option<u32>,
    /// Warm samples per (target, workload), at least 1; to take none, leave
    /// `warm` out of --phases [default: from --profile].
    #[arg(long, value_name = "M", value_parser = parse_warm_samples, allow_negative_numbers = true)]
    pub warm_samples: Option<u32>,
    /// Seed of the interleaving order [default: random, recorded in run.json].
    #[arg(long, value_parser = parse_seed, allow_negative_numbers = true)]
    pub seed: Option<u64>,
    /// quick: 5 cold + 15 warm samples per cell (development, CI); full: 30 + 150.
    #[arg(long, value_enum, default_value_t = Profile::Full)]
    pub profile: Profile,
    /// Base folder for results/ and reports/.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Per-sample timeout, in seconds: a hung instance is killed and flagged.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub timeout: f64,
    /// Smallest readiness-poll interval, in microseconds (it bounds the cold error).
    #[arg(long, default_value_t = 50, value_name = "MICROSECONDS", value_parser = parse_count_u64, allow_negative_numbers = true)]
    pub poll_min_us: u64,
    /// Density sweep: the most idle instances per target [default: from --profile: 64 quick, 256 full].
    #[arg(long, value_name = "N", value_parser = parse_count, allow_negative_numbers = true)]
    pub density_max: Option<u32>,
    /// Density sweep: memory the instances of one target may take [default: a third of RAM, at most 8 GiB].
    #[arg(long, value_name = "MIB", value_parser = parse_mib, allow_negative_numbers = true)]
    pub density_budget_mib: Option<u64>,
    /// Write raw data only, no report.
    #[arg(long)]
    pub no_report: bool,
    /// Before each cell, wait until the machine outside the harness is
    /// quiet (below --quiet for 10 ms, the harness spinning meanwhile, at most --settle-max): on, or off.
    #[arg(long, default_value = "on", value_name = "on|off", value_parser = parse_switch, action = clap::ArgAction::Set)]
    pub settle: bool,
    /// The settle step's quiet: percent of one CPU the rest of the machine may use.
    #[arg(long, default_value_t = 10.0, value_name = "PERCENT", value_parser = parse_positive_percent, allow_negative_numbers = true)]
    pub quiet: f64,
    /// The settle step's longest wait, in seconds; the cell then runs and the wait is recorded as not quiet.
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub settle_max: f64,
    /// Idle CPUs: poll (hold /dev/cpu_dma_latency at 0, so no request pays
    /// for waking a halted CPU) or default (left to the kernel).
    #[arg(long, value_enum, default_value_t = Idle::Poll)]
    pub idle: Idle,
    /// Pin the harness to the first CPU and the processes it starts to the others.
    #[arg(long)]
    pub pin: bool,
    /// Flag a warm sample during which the rest of the machine used more
    /// than this percent of one CPU ("disturbed": kept, left out of the
    /// statistics); `off` flags none.
    #[arg(long, default_value = "50", value_name = "PERCENT|off", value_parser = parse_limit)]
    pub background_limit: Limit,
    /// Keep sampling each cell until the 95% CI of its median is within
    /// ±PERCENT of it (bounded by --max-samples and --max-time).
    #[arg(long, value_name = "PERCENT", value_parser = parse_positive_percent, allow_negative_numbers = true)]
    pub precision: Option<f64>,
    /// Requests each new instance answers after its cold sample, before its
    /// warm samples (checked; latency kept as the measure warmup_ns): a new
    /// instance's first requests are slower, so without them the warm
    /// median depends on how many warm samples each instance takes.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub warmup: u32,
    /// With --precision: the most cold samples (rounds) per cell.
    #[arg(long, default_value_t = 100, value_name = "N", value_parser = parse_count, allow_negative_numbers = true)]
    pub max_samples: u32,
    /// With --precision: the most time, in seconds, all rounds together may take.
    #[arg(long, default_value_t = 1800.0, value_name = "SECONDS", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub max_time: f64,
    /// Hold every instance to a platform's resources: its memory limit and
    /// CPU share, with cgroups (presets and sources: harness/data/envelopes.json).
    #[arg(long, value_name = "NAME", value_parser = crate::envelope::Envelope::named)]
    pub envelope: Option<crate::envelope::Envelope>,
}

/// `--settle`: on or off.
fn parse_switch(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("'{text}' is neither on nor off")),
    }
}

/// A limit in percent, or none.
#[derive(Clone, Copy, Debug)]
pub struct Limit(pub Option<f64>);

/// `--background-limit`: a percentage > 0, or off.
fn parse_limit(text: &str) -> Result<Limit, String> {
    if text == "off" {
        return Ok(Limit(None));
    }
    parse_positive_percent(text).map(|p| Limit(Some(p)))
}

/// A percentage > 0.
fn parse_positive_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if p > 0.0 && p.is_finite() => Ok(p),
        _ => Err(format!("'{text}' is not a percentage > 0 (e.g. 5 for 5%)")),
    }
}

fn parse_workload(name: &str) -> Result<String, String> {
    if coldbench_workload::NAMES.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "unknown workload '{name}' (valid: {})",
            coldbench_workload::NAMES.join(", ")
        ))
    }
}

/// A count that must be at least 1: `0`, negative, fractional and other
/// non-numbers (`1/2`) are usage errors.
fn parse_count(text: &str) -> Result<u32, String> {
    let n = parse_count_u64(text)?;
    u32::try_from(n).map_err(|_| format!("{n} is too large (at most {})", u32::MAX))
}

fn parse_count_u64(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(_) if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => {
            Err(format!("{text} is too large"))
        }
        Err(_) => Err(format!("'{text}' is not a whole number of at least 1")),
    }
}

/// `--warm-samples`: as [`parse_count`], and the way to take none.
fn parse_warm_samples(text: &str) -> Result<u32, String> {
    parse_count(text)
        .map_err(|e| format!("{e} (to take no warm samples, leave `warm` out of --phases)"))
}

/// `--seed`: any whole number that fits in 64 bits.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>().map_err(|_| {
        format!(
            "'{text}' is not a seed: give a whole number from 0 to {} (a run's seed is in its run.json)",
            u64::MAX
        )
    })
}

/// `--density-budget-mib`: a count of MiB that fits in bytes.
fn parse_mib(text: &str) -> Result<u64, String> {
    let mib = parse_count_u64(text)?;
    if mib > u64::MAX >> 20 {
        return Err(format!("{mib} MiB is too large"));
    }
    Ok(mib)
}

/// `--timeout`: a positive, finite number of seconds.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() && s < 1e9 => Ok(s),
        _ => Err(format!(
            "'{text}' is not a positive number of seconds (e.g. 30 or 0.5)"
        )),
    }
}

/// `--threshold`: a percentage >= 0.
fn parse_percent(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if p >= 0.0 && p.is_finite() => Ok(p),
        _ => Err(format!("'{text}' is not a percentage >= 0 (e.g. 5 for 5%)")),
    }
}

/// `--alpha`: a significance level strictly between 0 and 1.
fn parse_alpha(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(a) if a > 0.0 && a < 1.0 => Ok(a),
        _ => Err(format!(
            "'{text}' is not a significance level between 0 and 1 (e.g. 0.05)"
        )),
    }
}

/// The error and its causes on one line, each cause once. A message often
/// already holds its cause (`cannot read x: No such file or directory`, or a
/// wrapper that shows the error it wraps): a cause whose text is already
/// on the line is not repeated.
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Parses the process arguments and runs; the exit code says how it went
/// (0 done, 1 error, 2 usage, 130 interrupted).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_line(&e));
            ExitCode::from(1)
        }
    }
}

/// Runs one parsed command.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Targets => targets(),
        Command::Run(args) => run(*args),
        Command::Compare {
            base,
            new,
            threshold,
            alpha,
            no_correction,
            html,
        } => compare(
            &base,
            &new,
            Options {
                threshold: threshold / 100.0,
                alpha,
                correct: !no_correction,
                ..Options::default()
            },
            html.as_deref(),
        ),
        Command::Drift {
            runs,
            save,
            max_spread,
        } => {
            let rows = drift::check(&runs)?;
            print!("{}", drift::table(&rows, runs.len()));
            if save {
                for dir in &runs {
                    let path = drift::save(dir, &rows)?;
                    eprintln!(
                        "wrote {} (`coldbench report {}` shows it)",
                        path.display(),
                        dir.display()
                    );
                }
            }
            let worst = rows
                .iter()
                .filter(|r| r.figure == drift::Figure::Ratio)
                .max_by(|a, b| a.spread_pct.total_cmp(&b.spread_pct));
            match (max_spread, worst) {
                (Some(limit), Some(w)) if w.spread_pct > limit => {
                    eprintln!(
                        "drift: {} ÷ {} {} {} moved {:.0} % across the runs (limit {limit} %)",
                        w.target,
                        report::figures::BASELINE,
                        w.workload,
                        w.phase,
                        w.spread_pct
                    );
                    Ok(ExitCode::from(1))
                }
                _ => Ok(ExitCode::SUCCESS),
            }
        }
        Command::Report { run_dir, out } => {
            let out = out.unwrap_or_else(|| report::default_dir(&run_dir));
            let r = report::render(&run_dir, &out)?;
            for note in &r.dropped {
                eprintln!("{note}");
            }
            println!(
                "report: {}\nsummary: {}",
                r.html.display(),
                r.markdown.display()
            );
            look(&r.dir)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn compare(
    base: &std::path::Path,
    new: &std::path::Path,
    opts: crate::compare::Options,
    html: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    use crate::compare::{self, Verdict};
    // Only samples.csv is compared; a torn last row (a run killed
    // mid-write) is left out, and said so.
    let read = |dir: &std::path::Path| -> anyhow::Result<Vec<crate::results::Sample>> {
        crate::results::check_run_dir(dir)?;
        let rows = crate::results::read_samples_tolerant(&dir.join("samples.csv"))?;
        if let Some(note) = rows.note() {
            eprintln!("{note}");
        }
        Ok(rows.rows)
    };
    let (base_samples, new_samples) = (read(base)?, read(new)?);
    // A figure under 1/13 of a CPU is not a regression of one at full CPU.
    // A folder of samples alone (no run.json) has an unknown envelope.
    let envelope = |dir: &std::path::Path| -> anyhow::Result<Option<String>> {
        if !dir.join("run.json").is_file() {
            return Ok(None);
        }
        let info = crate::results::read_run_info(dir)?;
        Ok(Some(
            info.plan
                .envelope
                .map_or_else(|| "none".to_string(), |e| e.name),
        ))
    };
    compare::same_envelope(envelope(base)?.as_deref(), envelope(new)?.as_deref())
        .map_err(anyhow::Error::msg)?;
    let changes = compare::compare(&base_samples, &new_samples, &opts);
    if changes.is_empty() {
        bail!("the two runs have no (target, workload, phase) in common");
    }
    let name = |p: &std::path::Path| {
        let p = p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let table = compare::markdown(&changes, &name(base), &name(new), &opts);
    print!("{table}");
    if let Some(path) = html {
        std::fs::write(
            path,
            report::html::render_markdown_page("coldbench compare", &table)?,
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    let regressions = changes
        .iter()
        .filter(|c| c.verdict == Verdict::Regression)
        .count();
    Ok(if regressions > 0 {
        eprintln!("{regressions} significant regression(s)");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Has a real browser render the report, when one is installed.
fn look(report_dir: &std::path::Path) -> anyhow::Result<()> {
    let Some(browser) = report::browser::find() else {
        eprintln!("browser check skipped: no chromium on PATH (`just setup` installs it)");
        return Ok(());
    };
    let seen = report::browser::check(&browser, report_dir).map_err(|e| {
        anyhow::anyhow!(
            "the report does not render right in {}: {e}",
            browser.display()
        )
    })?;
    eprintln!(
        "browser check: {} charts and {} tables rendered; screenshot: {}",
        seen.charts,
        seen.tables,
        seen.screenshot.display()
    );
    Ok(())
}

fn targets() -> anyhow::Result<ExitCode> {
    let paths = Paths::discover()?;
    println!("{:<20} {:<10} {:<10} status", "target", "family", "runs");
    for kind in TargetKind::ALL {
        let status = match kind.build(&paths).availability() {
            Availability::Available { version } => format!("available    {version}"),
            Availability::Unavailable { reason } => format!("unavailable: {reason}"),
        };
        println!(
            "{:<20} {:<10} {:<10} {status}",
            kind.name(),
            kind.family().as_str(),
            kind.implementation().as_str()
        );
    }
    println!("\nrestore (phase `restore`: a new instance from a snapshot made before the samples)");
    for kind in TargetKind::ALL {
        let how = match kind.build(&paths).restore_support() {
            Ok(how) => how,
            Err(why) => format!("no: {why}"),
        };
        println!("{:<20} {how}", kind.name());
    }
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let paths = Paths::discover()?;
    let spec = Spec::load(&paths.spec())?;
    // The parsers saw to it that every count is at least 1.
    let samples = args.samples.unwrap_or(args.profile.samples());
    let kinds: Vec<TargetKind> = if args.targets.is_empty() {
        TargetKind::ALL.to_vec()
    } else {
        args.targets.clone()
    };
    let workloads = if args.workloads.is_empty() {
        spec.names().iter().map(|s| s.to_string()).collect()
    } else {
        args.workloads.clone()
    };
    let phases = if args.phases.is_empty() {
        Phase::ALL.to_vec()
    } else {
        args.phases.clone()
    };
    let seed = args.seed.unwrap_or_else(random_seed);
    let plan = Plan {
        targets: kinds.iter().map(|k| k.name().to_string()).collect(),
        workloads,
        phases,
        samples,
        warm_samples: args.warm_samples.unwrap_or(args.profile.warm_samples()),
        seed,
        profile: args.profile,
        timeout: Duration::from_secs_f64(args.timeout),
        poll: Poll {
            min: Duration::from_micros(args.poll_min_us),
            ..Poll::default()
        },
        density_max: args.density_max.unwrap_or(args.profile.density_max()),
        density_budget_bytes: args
            .density_budget_mib
            .map(|mib| mib << 20)
            .unwrap_or_else(|| (Fingerprint::collect().memory_bytes / 3).min(8 << 30)),
        controls: Controls {
            settle: args.settle.then(|| Settle {
                quiet_pct: args.quiet,
                max_wait: Duration::from_secs_f64(args.settle_max),
                ..Settle::default()
            }),
            idle: args.idle,
            pin: args.pin,
            background_limit_pct: args.background_limit.0,
            warmup: args.warmup,
            precision: args.precision.map(|percent| Precision {
                percent,
                max_samples: args.max_samples.max(samples),
                max_time: Duration::from_secs_f64(args.max_time),
            }),
        },
        envelope: args.envelope.clone(),
    };

    // Precise sleeps in the readiness poll: the default 50 µs timer slack
    // would add up to 50 µs to every poll interval.
    let _ = nix::sys::prctl::set_timerslack(1_000);
    let cancel = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal exits at once; the first lets the run stop cleanly.
        signal_hook::flag::register_conditional_shutdown(signal, 130, cancel.clone())?;
        signal_hook::flag::register(signal, cancel.clone())?;
    }

    let targets = kinds.iter().map(|k| k.build(&paths)).collect();
    let out = args.out.clone();
    let request = RunRequest {
        plan,
        paths: &paths,
        spec: &spec,
        out: out.clone(),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        cancel,
    };
    let mut progress = progress::for_stderr();
    progress.note(&format!(
        "seed {seed}; writing to {}",
        out.join("results").display()
    ));
    // Only a folder that cannot be written is the --out folder's fault.
    let outcome = match run::execute(request, targets, progress.as_mut()) {
        Err(e @ run::RunError::Results(_)) => Err(anyhow::Error::new(e).context(format!(
            "run under {} (choose a writable folder with --out)",
            out.display()
        ))),
        other => other.map_err(anyhow::Error::new),
    }?;

    eprintln!(
        "\n{} samples ({} flagged) in {}",
        outcome.samples,
        outcome.invalid,
        outcome.run_dir.display()
    );
    for (name, why) in &outcome.skipped {
        eprintln!("skipped {name}: {why}");
    }
    if !args.no_report {
        let dir = report::default_dir(&outcome.run_dir);
        let r = report::render(&outcome.run_dir, &dir)
            .with_context(|| format!("rendering the report of {}", outcome.run_dir.display()))?;
        for note in &r.dropped {
            eprintln!("{note}");
        }
        println!(
            "{}",
            std::fs::read_to_string(&r.markdown).unwrap_or_default()
        );
        eprintln!("report: {}", r.html.display());
        look(&r.dir)?;
    }
    Ok(match outcome.status {
        RunStatus::Interrupted => {
            eprintln!("interrupted: the samples measured so far are kept");
            ExitCode::from(130)
        }
        _ => ExitCode::SUCCESS,
    })
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_printed_once() {
        // What `report` on a missing run.json used to print three times.
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let io_text = io.to_string();
        let inner = crate::results::ResultsError::Io {
            action: "cannot read",
            path: "/x/run.json".into(),
            source: io,
        };
        let e = anyhow::Error::new(report::ReportError::from(inner))
            .context("rendering the report of /x");
        let line = error_line(&e);
        assert_eq!(
            line,
            format!("rendering the report of /x: cannot read /x/run.json: {io_text}")
        );
        assert_eq!(line.matches(&io_text).count(), 1);
        // Causes not in the message are kept, in order.
        let e = anyhow::anyhow!("inner").context("middle").context("outer");
        assert_eq!(error_line(&e), "outer: middle: inner");
    }

    #[test]
    fn counts_below_one_and_non_numbers_are_usage_errors() {
        for bad in [
            &["--samples", "0"][..],
            &["--samples", "-1"],
            &["--samples", "1/2"],
            &["--samples", "2.5"],
            &["--samples", "99999999999"],
            &["--warm-samples", "0"],
            &["--seed", "abc"],
            &["--seed", "-1"],
            &["--timeout", "0"],
            &["--timeout", "nan"],
            &["--density-max", "0"],
            &["--poll-min-us", "0"],
            &["--density-budget-mib", "0"],
            &["--density-budget-mib", "18446744073709551615"],
            &["--settle", "maybe"],
            &["--quiet", "-1"],
            &["--quiet", "0"],
            &["--settle-max", "0"],
            &["--background-limit", "0"],
            &["--background-limit", "none"],
            &["--precision", "0"],
            &["--max-samples", "0"],
            &["--max-time", "-3"],
        ] {
            let argv = ["coldbench", "run"].iter().chain(bad);
            let err = Cli::try_parse_from(argv).expect_err(&bad.join(" "));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad:?}"
            );
            assert_eq!(err.exit_code(), 2, "{bad:?}");
            assert!(err.to_string().contains(bad[0]), "{err}");
        }
        let err = Cli::try_parse_from(["coldbench", "run", "--warm-samples", "0"]).unwrap_err();
        assert!(
            err.to_string().contains("leave `warm` out of --phases"),
            "{err}"
        );
        let err = Cli::try_parse_from(["coldbench", "run", "--idle", "deep"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = Cli::try_parse_from(["coldbench", "drift", "--max-spread", "-1", "a", "b"])
            .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        for bad in [["--alpha", "0"], ["--alpha", "1"], ["--threshold", "-5"]] {
            let argv = ["coldbench", "compare", "a", "b"].iter().chain(&bad);
            let err = Cli::try_parse_from(argv).expect_err(&bad.join(" "));
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn good_counts_parse_as_given() {
        let cli = Cli::try_parse_from([
            "coldbench",
            "run",
            "--samples",
            "1",
            "--warm-samples",
            "7",
            "--seed",
            "0",
            "--timeout",
            "0.5",
            "--poll-min-us",
            "1",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run: {cli:?}")
        };
        assert_eq!(
            (
                args.samples,
                args.warm_samples,
                args.seed,
                args.timeout,
                args.poll_min_us
            ),
            (Some(1), Some(7), Some(0), 0.5, 1)
        );
        // The controls are on by default, and each can be turned off.
        assert!(args.settle && !args.pin);
        assert_eq!(
            (args.idle, args.warmup, args.background_limit.0),
            (Idle::Poll, 2, Some(50.0))
        );
        let off = Cli::try_parse_from([
            "coldbench",
            "run",
            "--settle",
            "off",
            "--idle",
            "default",
            "--warmup",
            "0",
            "--background-limit",
            "off",
            "--pin",
            "--precision",
            "2.5",
        ])
        .unwrap();
        let Command::Run(off) = off.command else {
            panic!("not run")
        };
        assert!(!off.settle && off.pin);
        assert_eq!(
            (off.idle, off.warmup, off.background_limit.0, off.precision),
            (Idle::Default, 0, None, Some(2.5))
        );
    }
}
