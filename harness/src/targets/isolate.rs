//! Family `isolate`: V8 isolates in real runtimes, pinned in
//! `targets/isolate/package.json` and installed by `just setup` (`npm ci`).
//!
//! - `workerd`: one workerd process per run; each tenant is a new isolate
//!   loaded through the Worker Loader binding (targets/isolate/workerd);
//! - `workerd-wasm`: the same, the tenant's code being the Rust workload's
//!   guest.wasm (the one the wasmtime targets run) behind a JS shim;
//! - `workerd-process`: a whole workerd process per instance, the workload as
//!   its only worker: what a platform pays once per machine;
//! - `deno`: one Deno process per run; each tenant is a Web Worker.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::hosted::{HostSpec, HostedTarget};
use super::process::{ProcessSpec, ProcessTarget};
use super::spawn::LaunchSpec;
use super::{Accounting, Facts, Family};
use crate::paths::Paths;

const SETUP_HINT: &str =
    "run `just setup` (installs the pinned runtimes with npm ci in targets/isolate)";

fn runtimes(paths: &Paths) -> PathBuf {
    paths.root.join("targets/isolate")
}

/// The workerd binary of the pinned npm package.
pub fn workerd_bin(paths: &Paths) -> PathBuf {
    runtimes(paths).join("node_modules/@cloudflare/workerd-linux-64/bin/workerd")
}

/// The deno binary of the pinned npm package.
pub fn deno_bin(paths: &Paths) -> PathBuf {
    runtimes(paths).join("node_modules/@deno/linux-x64-glibc/deno")
}

/// The npm package version the lockfile pins for `package`.
fn pinned(paths: &Paths, package: &str) -> Option<String> {
    let lock = std::fs::read_to_string(runtimes(paths).join("package-lock.json")).ok()?;
    let lock: serde_json::Value = serde_json::from_str(&lock).ok()?;
    let version = lock["packages"][format!("node_modules/{package}")]["version"].as_str()?;
    Some(format!("{package}@{version}"))
}

fn host_accounting() -> Accounting {
    Accounting {
        cpu: "the runtime process, all threads, over the sample (every isolate shares it)".into(),
        memory: "growth of the runtime process's PSS/RSS since just before the tenant's cold start; \
                 the process reuses a dropped tenant's memory, so see the density fit for memory per tenant"
            .into(),
    }
}

fn facts_hook(
    package: Option<String>,
    notes: Vec<(&'static str, &'static str)>,
) -> super::hosted::PrepareHook {
    Box::new(move |_ctx| {
        let mut facts = Facts::new();
        if let Some(package) = &package {
            facts.insert("package".into(), json!(package));
        }
        for (k, v) in &notes {
            facts.insert((*k).into(), json!(v));
        }
        Ok(facts)
    })
}

const WORKERD_NOTES: [(&str, &str); 4] = [
    (
        "limits",
        "none per tenant: open-source workerd accepts and ignores cpuMs and has no memory limit (cloudflare/workerd#49); \
         a hung or crashed host fails the sample and is restarted",
    ),
    (
        "tenant_drop",
        "DELETE asks the tenant's isolate to abortIsolate() (an experimental API); its name is never reused",
    ),
    ("instance_id", "made with Math.random in the tenant module's scope when its isolate loads it"),
    ("compute_ns", "performance.now() around the workload inside the isolate: whole milliseconds in workerd"),
];

/// A workerd host serving `config` (a Cap'n Proto file whose `config`
/// constant, or `constant`, is used); the tests pass configs of their own.
pub fn workerd_host(
    name: &str,
    paths: &Paths,
    config: &Path,
    constant: Option<&str>,
    requires: Vec<(PathBuf, String)>,
) -> HostedTarget {
    let mut args = vec![
        "serve".to_string(),
        "--experimental".into(),
        config.display().to_string(),
    ];
    args.extend(constant.map(str::to_string));
    args.extend(["--socket-addr".to_string(), "http={listen}".into()]);
    HostedTarget::new(HostSpec {
        name: name.into(),
        family: Family::Isolate,
        requires,
        phases: &super::hosted::HOST_PHASES,
        accounting: host_accounting(),
        health_path: "/health".into(),
        prepare: Some(facts_hook(
            pinned(paths, "@cloudflare/workerd-linux-64"),
            WORKERD_NOTES.to_vec(),
        )),
        restore: Err("workerd builds its isolates from V8's built-in startup snapshot only: it has no snapshot of a tenant's isolate to restore from (its own memory snapshots are for Python Workers)".into()),
        launch: LaunchSpec {
            program: workerd_bin(paths),
            args,
            env: Vec::new(),
            missing_hint: format!("workerd is not installed: {SETUP_HINT}"),
        },
    })
}

/// `workerd`: the JS workload, a new isolate per tenant.
pub fn workerd(paths: &Paths) -> HostedTarget {
    workerd_host(
        "workerd",
        paths,
        &runtimes(paths).join("workerd/loader.capnp"),
        None,
        Vec::new(),
    )
}

/// `workerd-wasm`: the Rust workload's guest.wasm in a new isolate per tenant.
pub fn workerd_wasm(paths: &Paths) -> HostedTarget {
    let guest = paths.artifact("guest.wasm");
    workerd_host(
        "workerd-wasm",
        paths,
        &runtimes(paths).join("workerd/loader-wasm.capnp"),
        None,
        vec![(
            guest,
            "the wasm32 guest is not built: run `just build-wasm`".into(),
        )],
    )
}

/// `workerd-process`: one workerd process per instance.
pub fn workerd_process(paths: &Paths) -> ProcessTarget {
    let config = runtimes(paths).join("workerd/process.capnp");
    ProcessTarget::new(ProcessSpec {
        name: "workerd-process".into(),
        family: Family::Isolate,
        launch: LaunchSpec {
            program: workerd_bin(paths),
            args: vec![
                "serve".into(),
                "--experimental".into(),
                config.display().to_string(),
                "--socket-addr".into(),
                "http={listen}".into(),
            ],
            env: Vec::new(),
            missing_hint: format!("workerd is not installed: {SETUP_HINT}"),
        },
    })
}

/// A Deno host whose tenants run `worker` (a module path relative to
/// targets/isolate/deno), with extra `deno run` flags and host options; the
/// tests pass workers and limits of their own.
pub fn deno_host(
    name: &str,
    paths: &Paths,
    worker: &str,
    deno_flags: &[&str],
    host_options: &[&str],
) -> HostedTarget {
    let host = runtimes(paths).join("deno/host.js");
    let mut args = vec![
        "run".to_string(),
        "--allow-net=127.0.0.1".into(),
        // The workers load the workload module from the checkout.
        format!("--allow-read={}", paths.root.display()),
    ];
    args.extend(deno_flags.iter().map(|s| s.to_string()));
    args.extend([host.display().to_string(), "--tenant".into(), worker.into()]);
    args.extend(host_options.iter().map(|s| s.to_string()));
    args.extend(["--listen".to_string(), "{listen}".into()]);
    HostedTarget::new(HostSpec {
        name: name.into(),
        family: Family::Isolate,
        requires: Vec::new(),
        phases: &super::hosted::HOST_PHASES,
        accounting: host_accounting(),
        health_path: "/health".into(),
        prepare: Some(facts_hook(
            pinned(paths, "@deno/linux-x64-glibc"),
            vec![
                ("tenant", "a Web Worker (new Worker(url, {type: \"module\"})): one V8 isolate and one thread"),
                (
                    "limits",
                    "a 20 s deadline per request in the host; past it the host answers 500 and exits, since \
                     terminate() cannot stop a spinning Web Worker (denoland/deno#35657); the harness restarts it",
                ),
                ("instance_id", "crypto.randomUUID() in the worker module's scope"),
                ("compute_ns", "performance.now() around the workload inside the worker"),
            ],
        )),
        restore: Err("Deno has no snapshot of a Web Worker to restore from (its startup snapshot is built into the binary)".into()),
        launch: LaunchSpec {
            program: deno_bin(paths),
            args,
            env: vec![
                ("NO_COLOR".into(), "1".into()),
                ("DENO_NO_UPDATE_CHECK".into(), "1".into()),
            ],
            missing_hint: format!("deno is not installed: {SETUP_HINT}"),
        },
    })
}

/// `deno`: the JS workload, a Web Worker per tenant.
pub fn deno(paths: &Paths) -> HostedTarget {
    deno_host("deno", paths, "./tenant-worker.js", &[], &[])
}
