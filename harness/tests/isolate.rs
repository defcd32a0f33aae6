//! The isolate family end to end: the four targets through the CLI, and
//! tenants that throw, fail to load, loop forever or allocate without bound,
//! on real workerd and Deno processes.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use coldbench::targets::{isolate, Started, Target, TargetKind};

#[test]
fn every_isolate_target_gives_valid_rows_from_provably_new_isolates() {
    let kinds = [
        TargetKind::Workerd,
        TargetKind::WorkerdProcess,
        TargetKind::Deno,
        TargetKind::WorkerdWasm,
    ];
    let Some((dir, samples)) = common::run_family(&kinds, "isolate", "4") else {
        return;
    };
    for kind in kinds {
        // Every cold and host-cold sample came from an isolate never seen before.
        let new: Vec<_> = samples
            .iter()
            .filter(|s| s.target == kind.name() && s.phase != "warm")
            .collect();
        let ids: HashSet<_> = new.iter().map(|s| &s.instance_id).collect();
        assert_eq!(ids.len(), new.len(), "{}: {ids:?}", kind.name());
    }
    let info = coldbench::results::read_run_info(&dir.path().join("results/latest")).unwrap();
    let workerd = info.targets.iter().find(|t| t.name == "workerd").unwrap();
    assert_eq!(
        workerd.facts["host_health"]["clock_resolution_ns"],
        serde_json::json!(1_000_000),
        "workerd's clock has whole milliseconds, as the report says"
    );
}

fn body(started: &Started) -> String {
    String::from_utf8_lossy(&started.response.body).into_owned()
}

/// The host still serves a new tenant, with a valid cold reply.
fn still_serves(target: &mut dyn Target, tenant: &str) {
    let ok = common::start(target, tenant, "hello", Duration::from_secs(20))
        .expect("the host serves again");
    assert_eq!(ok.response.status, 200, "{}", body(&ok));
    assert!(body(&ok).contains("\"cold\":true"), "{}", body(&ok));
    target.stop(ok.instance).unwrap();
}

fn workerd_faulty(constant: &str) -> Option<(Box<dyn Target>, tempfile::TempDir)> {
    common::require(TargetKind::Workerd)?;
    let paths = common::paths();
    let config = paths.root.join("targets/isolate/testdata/faulty.capnp");
    Some(common::prepared(Box::new(isolate::workerd_host(
        "workerd-faulty",
        &paths,
        &config,
        Some(constant),
        vec![],
    ))))
}

/// A tenant that throws: a flagged 500 with its message; others are served
/// by the same host.
fn a_tenant_that_throws(target: Option<(Box<dyn Target>, tempfile::TempDir)>) {
    let Some((mut t, _dir)) = target else { return };
    let thrown = common::start(t.as_mut(), "a", "throw", Duration::from_secs(20)).unwrap();
    assert_eq!(thrown.response.status, 500);
    assert!(
        body(&thrown).contains("thrown on purpose"),
        "{}",
        body(&thrown)
    );
    still_serves(t.as_mut(), "b");
    assert!(t.take_notes().is_empty(), "no restart was needed");
    t.shutdown().unwrap();
}

/// Tenant code that fails to load: a 500 with the runtime's message.
fn code_that_fails_to_load(target: Option<(Box<dyn Target>, tempfile::TempDir)>) {
    let Some((mut t, _dir)) = target else { return };
    let failed = common::start(t.as_mut(), "a", "hello", Duration::from_secs(20)).unwrap();
    assert_eq!(failed.response.status, 500);
    assert!(
        body(&failed).contains("fails at module load on purpose"),
        "{}",
        body(&failed)
    );
    t.shutdown().unwrap();
}

/// A tenant that allocates without bound kills its host: the sample fails
/// with the runtime's words, a new host serves on, the restart is noted.
fn a_tenant_that_allocates_without_bound(target: Option<(Box<dyn Target>, tempfile::TempDir)>) {
    let Some((mut t, _dir)) = target else { return };
    let err = common::start(t.as_mut(), "a", "hog", Duration::from_secs(20))
        .err()
        .expect("the host dies");
    assert!(
        err.contains("the host exited") && err.contains("host restarted"),
        "{err}"
    );
    assert!(
        err.contains("out of memory"),
        "the runtime's own words are kept: {err}"
    );
    assert!(t.take_notes().iter().any(|n| n.contains("host restarted")));
    still_serves(t.as_mut(), "b");
    t.shutdown().unwrap();
}

#[test]
fn workerd_a_tenant_that_throws_is_a_flagged_500_and_others_are_served() {
    a_tenant_that_throws(workerd_faulty("faulty"));
}

#[test]
fn workerd_tenant_code_that_fails_to_load_gives_the_runtimes_message() {
    code_that_fails_to_load(workerd_faulty("throwing"));
}

#[test]
fn workerd_a_tenant_that_allocates_without_bound_kills_the_host_which_is_restarted() {
    a_tenant_that_allocates_without_bound(workerd_faulty("faulty"));
}

#[test]
fn workerd_a_tenant_that_loops_forever_fails_and_the_host_is_restarted() {
    let Some((mut t, _dir)) = workerd_faulty("faulty") else {
        return;
    };
    let err = common::start(t.as_mut(), "a", "loop", Duration::from_secs(2))
        .err()
        .expect("a looping tenant never answers");
    assert!(
        err.contains("the host hung and was killed") && err.contains("host restarted"),
        "{err}"
    );
    let notes = t.take_notes();
    assert!(
        notes.iter().any(|n| n.contains("host restarted")),
        "the restart is recorded: {notes:?}"
    );
    still_serves(t.as_mut(), "b");
    t.shutdown().unwrap();
}

fn deno_faulty(worker: &str) -> Option<(Box<dyn Target>, tempfile::TempDir)> {
    common::require(TargetKind::Deno)?;
    let paths = common::paths();
    let target = isolate::deno_host(
        "deno-faulty",
        &paths,
        worker,
        &["--v8-flags=--max-old-space-size=64"],
        &["--deadline-ms", "500"],
    );
    Some(common::prepared(Box::new(target)))
}

#[test]
fn deno_a_tenant_that_throws_is_a_flagged_500_and_others_are_served() {
    a_tenant_that_throws(deno_faulty("../testdata/faulty-worker.js"));
}

#[test]
fn deno_tenant_code_that_fails_to_load_gives_the_runtimes_message() {
    code_that_fails_to_load(deno_faulty("../testdata/throwing-worker.js"));
}

#[test]
fn deno_a_tenant_that_allocates_without_bound_kills_the_host_which_is_restarted() {
    a_tenant_that_allocates_without_bound(deno_faulty("../testdata/faulty-worker.js"));
}

#[test]
fn deno_a_tenant_that_loops_forever_fails_at_the_deadline_and_the_host_is_restarted() {
    let Some((mut t, _dir)) = deno_faulty("../testdata/faulty-worker.js") else {
        return;
    };
    let looped = common::start(t.as_mut(), "a", "loop", Duration::from_secs(20)).unwrap();
    assert_eq!(looped.response.status, 500);
    assert!(
        body(&looped).contains("exceeded the deadline of 500 ms"),
        "{}",
        body(&looped)
    );
    // The host exits after such a tenant; the next request finds it gone,
    // starts a new one, and says so.
    std::thread::sleep(Duration::from_millis(500));
    still_serves(t.as_mut(), "b");
    let notes = t.take_notes();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("had exited") && n.contains("host restarted")),
        "{notes:?}"
    );
    t.shutdown().unwrap();
}

/// workerd closes a keep-alive connection after some seconds without a
/// request (between 11 and 20 s here); in a matrix run other targets fill
/// that time. The next tenant must still start, without a host restart.
#[test]
fn workerd_an_idle_connection_the_host_closed_is_reopened_not_a_failure() {
    let Some(target) = common::require(TargetKind::Workerd) else {
        return;
    };
    let (mut t, _dir) = common::prepared(target);
    still_serves(t.as_mut(), "before-idle");
    std::thread::sleep(Duration::from_secs(21));
    t.baseline();
    still_serves(t.as_mut(), "after-idle");
    let notes = t.take_notes();
    assert!(
        notes.iter().all(|n| !n.contains("restart")),
        "no restart: {notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("idle keep-alive connection")),
        "the reopening is said: {notes:?}"
    );
    t.shutdown().unwrap();
}
