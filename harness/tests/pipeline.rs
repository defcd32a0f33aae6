//! The scheduler and the data pipeline, deterministically, with an in-process
//! mock target (no real processes). The mock never appears in a report of a
//! real run: it is not in the registry.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coldbench::measure::http::{Endpoint, Response};
use coldbench::measure::proc::Memory;
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
    let live = Arc::new(Mutex::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let targets = names
        .iter()
        .map(|n| {
            Box::new(Mock {
                name: n.to_string(),
                live: live.clone(),
                log: log.clone(),
                next_id: 0,
                hosted,
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
    // Cold samples: the cold path's figure and the usage figure; warm: the usage figure.
    for s in &samples {
        let mine: Vec<_> = measures
            .iter()
            .filter(|m| m.instance_id == s.instance_id && m.phase == s.phase && m.round == s.round)
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
    assert_eq!(measures.len(), 2 * 2 + 2);
}
