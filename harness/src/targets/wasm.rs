//! Family `wasm`: wasmtime tenants inside `coldbench-wasm-host`
//! (targets/wasm/host), running the Rust workload built for wasm32 from the
//! unchanged source (targets/wasm/guest). Four targets, one per way of making
//! a tenant's instance (see the host's docs): `wasmtime` (Cranelift compile
//! per tenant), `wasmtime-aot` (deserialize per tenant), `wasmtime-pool`
//! (`InstancePre` + pooling allocator + copy-on-write memory) and
//! `wasmtime-fresh` (a new pooled instance per request: every request cold).
//!
//! Each restores (phase `restore`) from the guest pre-initialised by Wizer
//! (wasmtime-wizer, the release of the host's wasmtime): `prepare` runs
//! `coldbench-wasm-host wizer` (the guest's `wizer-initialize` run, its
//! memory and globals written back as the module's initial state) and
//! precompiles the result; the host loads it beside the guest, and a
//! restored tenant's instance is made from it as the variant makes any
//! other. Its id comes from the entropy the host passes to `init` after
//! the restore, which the pre-initialised module never saw.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use super::hosted::{HostRestore, HostSpec, HostedTarget};
use super::spawn::{self, LaunchSpec};
use super::{Accounting, Facts, Family, Phase, TargetError};
use crate::paths::Paths;

/// How the host makes a tenant's instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Compile with Cranelift at each tenant's load.
    Jit,
    /// Deserialize the `.cwasm` at each tenant's load.
    Aot,
    /// Pooling allocator and a shared `InstancePre`.
    Pool,
    /// As `Pool`, a new instance per request.
    Fresh,
}

impl Variant {
    fn host_flag(self) -> &'static str {
        match self {
            Variant::Jit => "jit",
            Variant::Aot => "aot",
            Variant::Pool => "pool",
            Variant::Fresh => "fresh",
        }
    }

    /// Its target's name.
    pub fn target_name(self) -> &'static str {
        match self {
            Variant::Jit => "wasmtime",
            Variant::Aot => "wasmtime-aot",
            Variant::Pool => "wasmtime-pool",
            Variant::Fresh => "wasmtime-fresh",
        }
    }
}

const BUILD_HINT: &str =
    "run `just build-wasm` (needs Debian's rustc 1.63 with libstd-rust-dev-wasm32: `just setup`)";

/// The target for one variant, serving the workload guest.
pub fn target(paths: &Paths, variant: Variant) -> HostedTarget {
    hosted(
        variant.target_name(),
        variant,
        &paths.artifact("coldbench-wasm-host"),
        &paths.artifact("guest.wasm"),
        &[],
    )
}

/// A wasmtime target serving any guest with the same interface (`wasm`, and
/// `wasm` with the extension `.cwasm` beside it), with extra host options such
/// as `--deadline-ms`: the tests use it with a guest that misbehaves.
pub fn hosted(
    name: &str,
    variant: Variant,
    host: &Path,
    wasm: &Path,
    extra: &[&str],
) -> HostedTarget {
    let cwasm = wasm.with_extension("cwasm");
    let phases: &'static [Phase] = match variant {
        // No instance outlives its request: no warm phase, no idle tenants.
        Variant::Fresh => &[Phase::Cold, Phase::HostCold],
        _ => &super::hosted::HOST_PHASES,
    };
    let mut args = vec![
        "serve".to_string(),
        "--variant".into(),
        variant.host_flag().into(),
        "--wasm".into(),
        wasm.display().to_string(),
        "--cwasm".into(),
        cwasm.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(["--listen".to_string(), "{listen}".into()]);
    let hook_paths = (host.to_path_buf(), wasm.to_path_buf(), cwasm);
    let wizer_host = host.to_path_buf();
    let wizer_guest = wasm.to_path_buf();
    let restore = HostRestore {
        mechanism: "Wizer pre-initialisation (wasmtime-wizer 48.0.8) of the guest, precompiled; a restored tenant is instantiated from it as the variant instantiates any tenant, its id from entropy the host passes after the restore".into(),
        sources: vec![host.to_path_buf(), wasm.to_path_buf()],
        first: "/r/{tenant}/run/{workload}".into(),
        make: Box::new(move |dir: &Path| {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
            let (pre, pre_cwasm) = (dir.join("pre.wasm"), dir.join("pre.cwasm"));
            run_host(&wizer_host, &["wizer".as_ref(), wizer_guest.as_os_str(), pre.as_os_str()])?;
            run_host(&wizer_host, &["precompile".as_ref(), pre.as_os_str(), pre_cwasm.as_os_str()])?;
            Ok(vec!["--snapshot".into(), pre.display().to_string(), pre_cwasm.display().to_string()])
        }),
    };
    HostedTarget::new(HostSpec {
        name: name.into(),
        family: Family::Wasm,
        requires: vec![(wasm.to_path_buf(), format!("the wasm32 guest is not built: {BUILD_HINT}"))],
        phases,
        accounting: Accounting {
            cpu: "the host process, all threads (wasmtime, the HTTP front, the 10 ms epoch ticker), over the sample".into(),
            memory: "growth of the host's PSS/RSS since just before the tenant's cold start: the memory the tenant added".into(),
        },
        health_path: "/health".into(),
        restore: Ok(restore),
        prepare: Some(Box::new(move |_ctx| {
            let (host, wasm, cwasm) = &hook_paths;
            prepare_modules(variant, host, wasm, cwasm)
        })),
        launch: LaunchSpec {
            program: host.to_path_buf(),
            args,
            env: Vec::new(),
            missing_hint: format!("the wasmtime host is not built: {BUILD_HINT}"),
        },
    })
}

/// Runs the host binary for one of its commands; its stderr on failure.
fn run_host(host: &Path, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let out = Command::new(host)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", host.display()))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} {} failed: {}",
        host.display(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// Records the guest module and makes sure the `.cwasm` is the host's own,
/// current output: rebuilt (untimed) when missing, older than the `.wasm` or
/// the host, or not matching its checksum.
fn prepare_modules(
    variant: Variant,
    host: &Path,
    wasm: &Path,
    cwasm: &Path,
) -> Result<Facts, TargetError> {
    let mut facts = Facts::new();
    spawn::file_facts(&mut facts, "module", wasm)?;
    if variant != Variant::Jit {
        if needs_precompile(host, wasm, cwasm) {
            let out = Command::new(host)
                .arg("precompile")
                .arg(wasm)
                .arg(cwasm)
                .output()
                .map_err(|e| TargetError::Prepare(format!("cannot run {}: {e}", host.display())))?;
            if !out.status.success() {
                return Err(TargetError::Prepare(format!(
                    "precompiling {} failed: {}",
                    wasm.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        spawn::file_facts(&mut facts, "precompiled", cwasm)?;
    }
    facts.insert(
        "limits".into(),
        json!("per tenant: 128 MiB linear memory; per request: 20 s deadline (epoch interruption, 10 ms ticks)"),
    );
    facts.insert(
        "instance_id".into(),
        json!("made by the guest from 64 bits of entropy the host passes at instantiation"),
    );
    facts.insert(
        "compute_ns".into(),
        json!("measured by the host around the guest's run call (the guest has no clock)"),
    );
    Ok(facts)
}

fn needs_precompile(host: &Path, wasm: &Path, cwasm: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let sidecar = PathBuf::from(format!("{}.sha256", cwasm.display()));
    let matches = || -> Option<bool> {
        use sha2::{Digest, Sha256};
        let bytes = std::fs::read(cwasm).ok()?;
        let want = std::fs::read_to_string(&sidecar).ok()?;
        Some(format!("{:x}", Sha256::digest(&bytes)) == want.trim())
    };
    match (modified(cwasm), modified(wasm), modified(host)) {
        (Some(c), Some(w), Some(h)) => c < w || c < h || matches() != Some(true),
        _ => true,
    }
}
