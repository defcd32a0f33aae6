//! `--pin`: the harness on its first CPU, what it starts on the others. In a
//! test binary of its own, since pinning moves every thread of the process.

use std::process::Command;

use coldbench::run::conditions::Placement;

fn allowed(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn the_harness_keeps_one_cpu_and_what_it_starts_gets_the_others() {
    let before = allowed(&std::fs::read_to_string("/proc/self/status").unwrap());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placement = Placement::pin();
    let described = placement.described.clone();
    if cpus < 2 {
        assert!(described.starts_with("not pinned"), "{described}");
        return;
    }
    assert!(
        described.starts_with("pinned"),
        "{described} (was {before})"
    );
    // Every thread of the harness, this one included, is on one CPU.
    let mine = allowed(&std::fs::read_to_string("/proc/thread-self/status").unwrap());
    assert!(!mine.contains(',') && !mine.contains('-'), "{mine}");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "cat /proc/self/status"]);
    let out = Placement::spawn(|| cmd.output()).unwrap();
    let child = allowed(&String::from_utf8_lossy(&out.stdout));
    assert!(
        !child.is_empty() && child != mine,
        "child {child}, harness {mine}"
    );
    assert!(
        !child.split([',', '-']).any(|c| c == mine),
        "the child may run on the harness's CPU: {child} vs {mine}"
    );
    // The spawning thread went back to the harness's CPU.
    let again = allowed(&std::fs::read_to_string("/proc/thread-self/status").unwrap());
    assert_eq!(again, mine);
    // The run over, the harness has its CPUs back and children are not placed.
    drop(placement);
    let after = allowed(&std::fs::read_to_string("/proc/thread-self/status").unwrap());
    assert_eq!(after, before);
    let out = Placement::spawn(|| Command::new("cat").arg("/proc/self/status").output()).unwrap();
    assert_eq!(allowed(&String::from_utf8_lossy(&out.stdout)), before);
}
