//! Every implementation of every workload gives exactly the spec's answer.

mod common;

use std::process::Command;

use coldbench_workload::Workload;
use serde_json::Value;

#[test]
fn the_rust_implementation_matches_the_spec() {
    let spec = common::spec();
    for w in &spec.workloads {
        let workload =
            Workload::from_name(&w.name).unwrap_or_else(|| panic!("rust lacks {}", w.name));
        if let Value::Object(input) = &w.input {
            let range = (
                input["min"].as_u64().unwrap(),
                input["max"].as_u64().unwrap(),
            );
            assert_eq!(
                workload,
                Workload::Palindrome {
                    min: range.0,
                    max: range.1
                },
                "{}: rust's input differs from the spec",
                w.name
            );
        }
        let result: Value = serde_json::from_str(&workload.run_json()).unwrap();
        spec.check_result(&w.name, &result)
            .unwrap_or_else(|e| panic!("rust {}: {e}", w.name));
    }
}

#[test]
fn the_js_implementation_matches_the_spec() {
    let spec = common::spec();
    let module = common::paths().root.join("workloads/js/workload.mjs");
    let script = format!(
        "import {{ run, NAMES }} from {:?};\
         const out = {{}}; for (const n of NAMES) out[n] = run(n);\
         out['no-such-workload'] = run('no-such-workload') === undefined;\
         console.log(JSON.stringify(out));",
        module.display().to_string()
    );
    let out = match Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
    {
        Ok(out) => out,
        Err(e) if std::env::var_os("COLDBENCH_SKIP_UNAVAILABLE").is_some() => {
            eprintln!("SKIPPED: node not runnable: {e}");
            return;
        }
        Err(e) => panic!("node not runnable ({e}): run `just setup`"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results["no-such-workload"], Value::Bool(true));
    for w in &spec.workloads {
        spec.check_result(&w.name, &results[&w.name])
            .unwrap_or_else(|e| panic!("js {}: {e}", w.name));
    }
}

/// The wasm32 guest is built from this crate by Debian's rustc 1.63 (see
/// targets/wasm): the source must stay within what 1.63 accepts.
#[test]
fn the_rust_workload_builds_with_debian_rustc_1_63() {
    let rustc = std::path::Path::new("/usr/bin/rustc");
    if !rustc.exists() {
        assert!(
            std::env::var_os("COLDBENCH_SKIP_UNAVAILABLE").is_some(),
            "/usr/bin/rustc missing: run `just setup` (apt-get install rustc libstd-rust-dev-wasm32)"
        );
        eprintln!("SKIPPED: /usr/bin/rustc missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lib = common::paths().root.join("workloads/rust/src/lib.rs");
    let out = Command::new(rustc)
        .args(["--edition", "2021", "--crate-type", "rlib", "--test", "-o"])
        .arg(dir.path().join("workload-tests"))
        .arg(&lib)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rustc 1.63 rejects workloads/rust: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(dir.path().join("workload-tests"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
}
