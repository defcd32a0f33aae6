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
use crate::fingerprint::Fingerprint;
use crate::measure::http::Poll;
use crate::paths::Paths;
use crate::plan::{Plan, Profile};
use crate::progress;
use crate::report;
use crate::results::RunStatus;
use crate::run::{self, RunRequest};
use crate::spec::Spec;
use crate::targets::{Availability, Phase, TargetKind};

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
    Run(RunArgs),
    /// Compare two runs: per (target, workload, phase) the change in p50 and
    /// p99 and its significance; exit status 1 on a significant regression.
    Compare {
        /// The run to compare against (a run folder, e.g. results/<id>).
        base: PathBuf,
        /// The new run.
        new: PathBuf,
        /// Smallest p50 change, in percent, that counts (the noise threshold).
        #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
        threshold: f64,
        /// Significance level of the permutation test.
        #[arg(long, default_value_t = 0.05)]
        alpha: f64,
        /// Judge each cell at alpha on its own, without adjusting for the
        /// number of cells compared (expect false alarms in a whole matrix).
        #[arg(long)]
        no_correction: bool,
        /// Also write the table as a self-contained HTML page.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
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
    /// Phases to run, comma-separated: cold, warm, host-cold, density [default: all].
    #[arg(long, value_delimiter = ',', value_parser = Phase::parse)]
    pub phases: Vec<Phase>,
    /// Cold samples (rounds) per (target, workload) [default: from --profile].
    #[arg(long)]
    pub samples: Option<u32>,
    /// Warm samples per (target, workload) [default: from --profile].
    #[arg(long)]
    pub warm_samples: Option<u32>,
    /// Seed of the interleaving order [default: random, recorded in run.json].
    #[arg(long)]
    pub seed: Option<u64>,
    /// quick: 5 cold + 15 warm samples per cell (development, CI); full: 30 + 150.
    #[arg(long, value_enum, default_value_t = Profile::Full)]
    pub profile: Profile,
    /// Base folder for results/ and reports/.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Per-sample timeout, in seconds: a hung instance is killed and flagged.
    #[arg(long, default_value_t = 30.0, value_name = "SECONDS")]
    pub timeout: f64,
    /// Smallest readiness-poll interval, in microseconds (it bounds the cold error).
    #[arg(long, default_value_t = 50, value_name = "MICROSECONDS")]
    pub poll_min_us: u64,
    /// Density sweep: the most idle instances per target [default: from --profile: 64 quick, 256 full].
    #[arg(long, value_name = "N")]
    pub density_max: Option<u32>,
    /// Density sweep: memory the instances of one target may take [default: a third of RAM, at most 8 GiB].
    #[arg(long, value_name = "MIB")]
    pub density_budget_mib: Option<u64>,
    /// Write raw data only, no report.
    #[arg(long)]
    pub no_report: bool,
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
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Runs one parsed command.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Targets => targets(),
        Command::Run(args) => run(args),
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
        Command::Report { run_dir, out } => {
            let out = out.unwrap_or_else(|| report::default_dir(&run_dir));
            let r = report::render(&run_dir, &out)?;
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
    if !(opts.threshold >= 0.0 && (0.0..1.0).contains(&opts.alpha)) {
        bail!("--threshold must be a percentage >= 0 and --alpha between 0 and 1");
    }
    let read = |dir: &std::path::Path| {
        crate::results::read_samples(&dir.join("samples.csv")).with_context(|| {
            format!(
                "{} is not a run folder (expected results/<run-id>)",
                dir.display()
            )
        })
    };
    let changes = compare::compare(&read(base)?, &read(new)?, &opts);
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
    println!("{:<18} {:<10} status", "target", "family");
    for kind in TargetKind::ALL {
        let status = match kind.build(&paths).availability() {
            Availability::Available { version } => format!("available    {version}"),
            Availability::Unavailable { reason } => format!("unavailable: {reason}"),
        };
        println!(
            "{:<18} {:<10} {status}",
            kind.name(),
            kind.family().as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let paths = Paths::discover()?;
    let spec = Spec::load(&paths.spec())?;
    if args.timeout <= 0.0 || !args.timeout.is_finite() {
        bail!("--timeout must be a positive number of seconds");
    }
    let samples = args.samples.unwrap_or(args.profile.samples());
    if samples == 0 {
        bail!("--samples must be at least 1");
    }
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
            min: Duration::from_micros(args.poll_min_us.max(1)),
            ..Poll::default()
        },
        density_max: args
            .density_max
            .unwrap_or(args.profile.density_max())
            .max(1),
        density_budget_bytes: args
            .density_budget_mib
            .map(|mib| mib << 20)
            .unwrap_or_else(|| (Fingerprint::collect().memory_bytes / 3).min(8 << 30)),
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
    let outcome = run::execute(request, targets, progress.as_mut()).with_context(|| {
        format!(
            "run under {} (choose a writable folder with --out)",
            out.display()
        )
    })?;

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
