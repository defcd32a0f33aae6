//! The scheduler and the data pipeline, deterministically, with an in-process
//! mock target (no real processes). The mock never appears in a report of a
//! real run: it is not in the registry.

mod common;

use std::net::SocketAddr;

use clap::Parser;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coldbench::measure::http::{Endpoint, Response};
use coldbench::measure::machine::CpuSource;
use coldbench::measure::proc::Memory;
use coldbench::plan::{Controls, Precision, Settle};
use coldbench::run::precision::Stop;
use coldbench::targets::{
    Accounting, Availability, Context, Facts, Family, Instance, Phase, StartRequest, Started,
    Target, TargetError, Usage,
};

/// Answers from memory; counts live instances; has a "host".
struct Mock {
    name: String,
    live: Arc<Mutex<i64>>,
    log: Arc<Mutex<Vec<String>>>,
    next_id: u64,
    /// Behave as a shared host: figures are the host's, 1 MiB base plus 4 KiB
    /// per live tenant, and `baseline` reports the host before a new tenant.
    hosted: bool,
    /// Start-up times, taken in turn (none: instant).
    delays: Vec<Duration>,
}

impl Mock {
    fn host_usage(&self) -> Usage {
        let pss = (1 << 20) + 4096 * *self.live.lock().unwrap() as u64;
        Usage {
            cpu_ns: Some(1000),
            mem: Some(Memory {
                pss_bytes: pss,
                rss_bytes: 2 * pss,
            }),
            extra: Vec::new(),
        }
    }
}

struct MockInstance {
    id: String,
    answered: bool,
}

fn reply(id: &str, cold: bool, workload: &str) -> Response {
    let result = coldbench_workload::Workload::from_name(workload)
        .unwrap()
        .run_json();
    Response {
        status: 200,
        body: coldbench_workload::response_json(id, cold, 5, &result).into_bytes(),
        received_at: Instant::now(),
    }
}

impl Mock {
    fn new_instance(&mut self, req: &StartRequest) -> Started {
        if !self.delays.is_empty() {
            std::thread::sleep(self.delays[self.next_id as usize % self.delays.len()]);
        }
        self.next_id += 1;
        *self.live.lock().unwrap() += 1;
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {}", self.name, req.workload));
        let id = format!("{}-{}", self.name, self.next_id);
        Started {
            measures: vec![("mock_boot_ns".to_string(), 42)],
            response: reply(&id, true, req.workload),
            instance: Instance {
                endpoint: Endpoint::direct(SocketAddr::from(([127, 0, 0, 1], 9))),
                conn: None,
                handle: Box::new(MockInstance { id, answered: true }),
            },
        }
    }
}

impl Target for Mock {
    fn name(&self) -> &str {
        &self.name
    }
    fn family(&self) -> Family {
        Family::Wasm
    }
    fn availability(&self) -> Availability {
        Availability::Available {
            version: "mock 1".into(),
        }
    }
    fn prepare(&mut self, _ctx: &Context) -> Result<Facts, TargetError> {
        Ok(Facts::new())
    }
    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        Ok(self.new_instance(req))
    }
    fn host_cold(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        Ok(self.new_instance(req))
    }
    fn phases(&self) -> &'static [Phase] {
        &Phase::ALL
    }
    fn invoke(
        &mut self,
        instance: &mut Instance,
        workload: &str,
        _deadline: Instant,
    ) -> Result<Response, TargetError> {
        let m = instance.handle.downcast_mut::<MockInstance>().unwrap();
        assert!(m.answered);
        Ok(reply(&m.id, false, workload))
    }
    fn baseline(&mut self) -> Option<Usage> {
        self.hosted.then(|| self.host_usage())
    }
    fn measure(&mut self, _instance: &Instance) -> Usage {
        if self.hosted {
            return self.host_usage();
        }
        Usage {
            cpu_ns: Some(1000),
            mem: Some(Memory {
                pss_bytes: 4096,
                rss_bytes: 8192,
            }),
            extra: vec![("mock_figure_bytes".to_string(), 7)],
        }
    }
    fn stop(&mut self, _instance: Instance) -> Result<(), TargetError> {
        *self.live.lock().unwrap() -= 1;
        Ok(())
    }
    fn accounting(&self) -> Accounting {
        Accounting {
            cpu: "nothing: a mock".into(),
            memory: "nothing: a mock".into(),
        }
    }
}

/// The mocks, the count of their live instances, and the cells they ran.
type Mocks = (
    Vec<Box<dyn Target>>,
    Arc<Mutex<i64>>,
    Arc<Mutex<Vec<String>>>,
);

fn mocks(names: &[&str]) -> Mocks {
    mocks_as(names, false)
}

fn mocks_as(names: &[&str], hosted: bool) -> Mocks {
    let named: Vec<(&str, &[u64])> = names.iter().map(|n| (*n, &[][..])).collect();
    build(&named, hosted)
}

fn build(named: &[(&str, &[u64])], hosted: bool) -> Mocks {
    let live = Arc::new(Mutex::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let targets = named
        .iter()
        .map(|(name, ms)| {
            Box::new(Mock {
                name: name.to_string(),
                live: live.clone(),
                log: log.clone(),
                next_id: 0,
                hosted,
                delays: ms.iter().map(|&m| Duration::from_millis(m)).collect(),
            }) as Box<dyn Target>
        })
        .collect();
    (targets, live, log)
}

#[test]
fn every_cell_gets_its_samples_and_every_instance_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, live, _) = mocks(&["m1", "m2"]);
    let plan = common::plan(
        &["m1", "m2"],
        &["hello", "palindrome-small"],
        3,
        7,
        Duration::from_secs(5),
    );
    let (outcome, samples) = common::run_in(dir.path(), plan, targets);
    assert_eq!(*live.lock().unwrap(), 0, "an instance was never stopped");
    assert_eq!(outcome.invalid, 0, "{samples:?}");
    for t in ["m1", "m2"] {
        for w in ["hello", "palindrome-small"] {
            let count = |phase: &str| {
                samples
                    .iter()
                    .filter(|s| s.target == t && s.workload == w && s.phase == phase)
                    .count()
            };
            assert_eq!(
                (count("cold"), count("warm"), count("host-cold")),
                (3, 7, 3),
                "{t} {w}"
            );
        }
    }
    // Warm CPU is the delta between two measurements (here 1000 - 1000).
    assert!(samples
        .iter()
        .filter(|s| s.phase == "warm")
        .all(|s| s.cpu_ns == Some(0)));
    assert!(samples
        .iter()
        .filter(|s| s.phase == "cold")
        .all(|s| s.cpu_ns == Some(1000)));
}

#[test]
fn the_seed_fixes_the_order_and_rounds_interleave_targets() {
    let order = |seed: u64| {
        let dir = tempfile::tempdir().unwrap();
        let (targets, _, log) = mocks(&["m1", "m2"]);
        let mut plan = common::plan(
            &["m1", "m2"],
            &["hello", "palindrome-small"],
            4,
            0,
            Duration::from_secs(5),
        );
        plan.seed = seed;
        plan.phases = vec![Phase::Cold];
        common::run_in(dir.path(), plan, targets);
        let log = log.lock().unwrap().clone();
        log
    };
    let a = order(1);
    assert_eq!(a, order(1), "same seed, same order");
    assert_ne!(a, order(2), "another seed, another order");
    // Each round of four cells holds both targets: no target runs all its
    // samples in one block.
    for round in a.chunks(4) {
        assert!(
            round.iter().any(|c| c.starts_with("m1")) && round.iter().any(|c| c.starts_with("m2")),
            "{a:?}"
        );
    }
}

#[test]
fn phases_not_asked_for_are_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, live, _) = mocks(&["m1"]);
    let mut plan = common::plan(&["m1"], &["hello"], 2, 4, Duration::from_secs(5));
    plan.phases = vec![Phase::Warm];
    let (_, samples) = common::run_in(dir.path(), plan, targets);
    assert_eq!(*live.lock().unwrap(), 0);
    assert_eq!(samples.len(), 4);
    assert!(
        samples.iter().all(|s| s.phase == "warm" && s.valid),
        "{samples:?}"
    );
}

#[test]
fn a_hosted_targets_memory_is_the_growth_its_tenant_caused() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, _, _) = mocks_as(&["host"], true);
    let plan = common::plan(&["host"], &["hello"], 2, 4, Duration::from_secs(5));
    let (_, samples) = common::run_in(dir.path(), plan, targets);
    let instance_phases: Vec<_> = samples.iter().filter(|s| s.phase != "host-cold").collect();
    assert_eq!(instance_phases.len(), 6);
    for s in instance_phases {
        // One tenant added 4 KiB to a 1 MiB host: cold and warm alike.
        assert_eq!(
            (s.mem_pss_bytes, s.mem_rss_bytes),
            (Some(4096), Some(8192)),
            "{s:?}"
        );
        assert_eq!(s.cpu_ns, Some(0), "CPU is the host's delta: {s:?}");
    }
}

#[test]
fn extra_figures_go_to_measures_csv_keyed_like_their_samples() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, _, _) = mocks(&["m1"]);
    let mut plan = common::plan(&["m1"], &["hello"], 2, 2, Duration::from_secs(5));
    plan.phases = vec![Phase::Cold, Phase::Warm];
    let (outcome, samples) = common::run_in(dir.path(), plan, targets);
    let measures =
        coldbench::results::read_measures(&outcome.run_dir.join("measures.csv")).unwrap();
    // Cold samples: the cold path's figure and the usage figure; warm: the
    // usage figure; every sample the machine's background beside it.
    let background = CpuSource::detect() != CpuSource::None;
    for s in &samples {
        let all: Vec<_> = measures
            .iter()
            .filter(|m| m.instance_id == s.instance_id && m.phase == s.phase && m.round == s.round)
            .collect();
        let has_background = all.iter().any(|m| m.measure == "background_cpu_ns");
        assert_eq!(has_background, background, "{s:?}");
        let mine: Vec<_> = all
            .iter()
            .filter(|m| m.measure.starts_with("mock_"))
            .map(|m| (m.measure.as_str(), m.value))
            .collect();
        let want: Vec<(&str, u64)> = match s.phase.as_str() {
            "cold" => vec![("mock_boot_ns", 42), ("mock_figure_bytes", 7)],
            _ => vec![("mock_figure_bytes", 7)],
        };
        let mut mine = mine;
        mine.sort_unstable();
        assert_eq!(mine, want, "{s:?}");
    }
    assert_eq!(
        measures.len(),
        2 * 2 + 2 + if background { samples.len() } else { 0 }
    );
}

#[test]
fn the_controls_settle_every_cell_warm_up_every_instance_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, live, _) = mocks(&["m1", "m2"]);
    let mut plan = common::plan(&["m1", "m2"], &["hello"], 3, 6, Duration::from_secs(5));
    plan.controls = Controls {
        settle: Some(Settle {
            max_wait: Duration::from_millis(300),
            ..Settle::default()
        }),
        warmup: 2,
        background_limit_pct: Some(50.0),
        ..Controls::default()
    };
    let (outcome, samples) = common::run_in(dir.path(), plan, targets);
    assert_eq!(*live.lock().unwrap(), 0);
    let info = coldbench::results::read_run_info(&outcome.run_dir).unwrap();
    let conditions = info.conditions.expect("conditions in run.json");
    // 2 targets × 3 rounds, each an instance cell and a host-cold cell.
    assert_eq!(conditions.settle.cells, 12, "{conditions:?}");
    assert!(conditions.settle.longest_ns < 2_000_000_000);
    assert!(
        conditions.idle.starts_with("default"),
        "{}",
        conditions.idle
    );
    assert!(conditions.placement.starts_with("not pinned"));
    let measures =
        coldbench::results::read_measures(&outcome.run_dir.join("measures.csv")).unwrap();
    let count = |name: &str| measures.iter().filter(|m| m.measure == name).count();
    if CpuSource::detect() != CpuSource::None {
        assert_eq!(count("settle_wait_ns"), 12);
        assert_eq!(count("settle_quiet"), 12);
    }
    // Two warm-ups per instance, on its cold sample; the warm samples are
    // still the 6 planned, none of them a warm-up.
    assert_eq!(count("warmup_ns"), 2 * 6);
    for m in measures.iter().filter(|m| m.measure == "warmup_ns") {
        assert_eq!(m.phase, "cold", "{m:?}");
    }
    for t in ["m1", "m2"] {
        let warm = samples
            .iter()
            .filter(|s| s.target == t && s.phase == "warm");
        assert_eq!(warm.count(), 6, "{t}");
    }
    // A mock answers every check; only tests beside it can flag a sample.
    assert!(
        samples.iter().all(common::valid_or_disturbed),
        "{samples:?}"
    );
}

#[test]
fn precision_samples_a_spread_cell_until_its_bound_and_a_steady_one_no_more() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, live, _) = delayed(&[("steady", &[3]), ("jumpy", &[1, 9]), ("process", &[2])]);
    let mut plan = common::plan(
        &["steady", "jumpy", "process"],
        &["hello"],
        3,
        3,
        Duration::from_secs(5),
    );
    plan.phases = vec![Phase::Cold];
    plan.controls.precision = Some(Precision {
        percent: 15.0,
        max_samples: 7,
        max_time: Duration::from_secs(60),
    });
    let (outcome, samples) = common::run_in(dir.path(), plan, targets);
    assert_eq!(*live.lock().unwrap(), 0);
    let rounds = |t: &str| -> Vec<u32> {
        samples
            .iter()
            .filter(|s| s.target == t && s.phase == "cold")
            .map(|s| s.round)
            .collect()
    };
    assert_eq!(
        rounds("steady"),
        [0, 1, 2],
        "precise after the planned rounds"
    );
    assert_eq!(
        rounds("jumpy"),
        [0, 1, 2, 3, 4, 5, 6],
        "sampled up to --max-samples"
    );
    // The baseline runs in every extra round, so the ratios pair with it.
    assert_eq!(rounds("process"), rounds("jumpy"));
    let info = coldbench::results::read_run_info(&outcome.run_dir).unwrap();
    let stops: Vec<(String, u32, Stop)> = info
        .precision
        .iter()
        .map(|c| (c.target.clone(), c.rounds, c.stopped))
        .collect();
    assert_eq!(
        stops,
        [
            ("steady".to_string(), 3, Stop::Converged),
            ("jumpy".to_string(), 7, Stop::MaxSamples),
            ("process".to_string(), 7, Stop::Converged),
        ]
    );
    // Every sample came from its own new instance, as in the planned rounds.
    let mut ids: Vec<&str> = samples.iter().map(|s| s.instance_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), samples.len());
}

#[test]
fn precision_on_a_warm_only_plan_counts_rounds_and_stops_at_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (targets, _, _) = delayed(&[("m1", &[1])]);
    let mut plan = common::plan(&["m1"], &["hello"], 2, 2, Duration::from_secs(5));
    plan.phases = vec![Phase::Warm];
    plan.controls.precision = Some(Precision {
        percent: 0.000_001,
        max_samples: 4,
        max_time: Duration::from_secs(60),
    });
    let (outcome, samples) = common::run_in(dir.path(), plan, targets);
    let info = coldbench::results::read_run_info(&outcome.run_dir).unwrap();
    assert_eq!(info.precision[0].rounds, 4, "{:?}", info.precision);
    assert_eq!(info.precision[0].stopped, Stop::MaxSamples);
    assert!(samples.iter().all(|s| s.phase == "warm"));
}

/// Mocks whose instances take `ms[i % len]` milliseconds to start.
fn delayed(named: &[(&str, &[u64])]) -> Mocks {
    build(named, false)
}

#[test]
fn drift_compares_runs_of_one_plan_saves_its_table_and_the_report_shows_it() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let runs: Vec<std::path::PathBuf> = dirs
        .iter()
        .map(|d| {
            let (targets, _, _) = delayed(&[("process", &[1]), ("m1", &[3])]);
            let mut plan =
                common::plan(&["process", "m1"], &["hello"], 3, 3, Duration::from_secs(5));
            plan.phases = vec![Phase::Cold, Phase::Warm];
            common::run_in(d.path(), plan, targets).0.run_dir
        })
        .collect();
    let rows = coldbench::drift::check(&runs).unwrap();
    let names: Vec<String> = rows
        .iter()
        .map(|r| format!("{:?} {} {}", r.figure, r.target, r.phase))
        .collect();
    assert_eq!(
        names,
        [
            "P50 process cold",
            "P50 process warm",
            "P50 m1 cold",
            "P50 m1 warm",
            "Ratio m1 cold",
            "Ratio m1 warm"
        ]
    );
    let cold_ratio = &rows[4];
    assert_eq!(cold_ratio.runs, 2);
    // A 3 ms start against a 1 ms one, in both runs.
    assert!((2.0..4.5).contains(&cold_ratio.median), "{cold_ratio:?}");
    assert!(cold_ratio.spread_pct >= 0.0 && cold_ratio.min <= cold_ratio.max);

    // The CLI prints the table, saves it, and the report of either run shows it.
    let cli = coldbench::cli::Cli::try_parse_from(
        ["coldbench", "drift", "--save"]
            .into_iter()
            .map(String::from)
            .chain(runs.iter().map(|r| r.display().to_string())),
    )
    .unwrap();
    assert_eq!(
        coldbench::cli::dispatch(cli).unwrap(),
        std::process::ExitCode::SUCCESS
    );
    let out = tempfile::tempdir().unwrap();
    coldbench::report::render(&runs[0], out.path()).unwrap();
    let page = std::fs::read_to_string(out.path().join("index.html")).unwrap();
    assert!(page.contains("Drift across runs"), "no drift section");
    assert!(page.contains("m1 ÷ process hello cold"));
    let summary = std::fs::read_to_string(out.path().join("summary.md")).unwrap();
    assert!(summary.contains("**Drift across runs**"));

    // A spread limit of 0 % fails on any movement; one run is no drift check.
    let strict = coldbench::cli::Cli::try_parse_from(
        ["coldbench", "drift", "--max-spread", "0"]
            .into_iter()
            .map(String::from)
            .chain(runs.iter().map(|r| r.display().to_string())),
    )
    .unwrap();
    let moved = rows
        .iter()
        .any(|r| r.figure == coldbench::drift::Figure::Ratio && r.spread_pct > 0.0);
    let code = coldbench::cli::dispatch(strict).unwrap();
    assert_eq!(code == std::process::ExitCode::from(1), moved);
    assert!(coldbench::cli::Cli::try_parse_from(["coldbench", "drift", "one"]).is_err());
}

#[test]
fn drift_refuses_runs_of_other_plans() {
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let runs: Vec<std::path::PathBuf> = dirs
        .iter()
        .zip(["hello", "palindrome-small"])
        .map(|(d, w)| {
            let (targets, _, _) = mocks(&["m1"]);
            let plan = common::plan(&["m1"], &[w], 1, 1, Duration::from_secs(5));
            common::run_in(d.path(), plan, targets).0.run_dir
        })
        .collect();
    let e = coldbench::drift::check(&runs).unwrap_err().to_string();
    assert!(e.contains("same --workloads and --phases"), "{e}");
}
