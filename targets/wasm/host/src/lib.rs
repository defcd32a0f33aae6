//! The coldbench Wasm host: many tenants, each a wasmtime instance of the
//! same guest module (`targets/wasm/guest/guest.rs`, the Rust workload built
//! for wasm32), served over the coldbench protocol by `main.rs`.
//!
//! The variants differ only in what a tenant's first request (the cold path)
//! does:
//!
//! | variant | per-tenant cold work |
//! |---|---|
//! | `jit`   | compile the `.wasm` with Cranelift, instantiate (on-demand allocator) |
//! | `aot`   | deserialize the precompiled `.cwasm`, instantiate (on-demand allocator) |
//! | `pool`  | instantiate a shared `InstancePre` in the pooling allocator, memory from a copy-on-write image |
//! | `fresh` | as `pool`, but a new instance for every request (the Fastly Compute model) |
//!
//! The guest makes its instance id from 64 bits of entropy the host hands it
//! at instantiation (wasm32-unknown-unknown has no randomness of its own); the
//! guest keeps the id and its `cold` flag in its own linear memory. The guest
//! has no clock: the host measures `compute_ns` around the guest's `run` call.
//!
//! Limits: each tenant's linear memory is capped (a [`ResourceLimiter`] that
//! records a refusal), and each call has a deadline enforced by epoch
//! interruption (a ticker thread advances the engine's epoch every
//! [`EPOCH_TICK`]). An instance that traps is discarded; the host goes on.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::{
    Config, Engine, Instance, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, TypedFunc,
};

/// How often the epoch advances: the granularity of the request deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// What a `pool` slot keeps resident of a tenant's memory and table when
/// the tenant goes: this guest's memory after its first request is about
/// 1.1 MiB.
pub const KEEP_RESIDENT: usize = 2 << 20;

/// Default cap on one tenant's linear memory.
pub const DEFAULT_MEMORY_LIMIT: usize = 128 << 20;

/// How tenants are created (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Compile per tenant.
    Jit,
    /// Deserialize the precompiled module per tenant.
    Aot,
    /// Shared `InstancePre`, pooling allocator, copy-on-write memory.
    Pool,
    /// As `Pool`, a new instance per request.
    Fresh,
}

impl Variant {
    /// Every variant.
    pub const ALL: [Variant; 4] = [Variant::Jit, Variant::Aot, Variant::Pool, Variant::Fresh];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Jit => "jit",
            Variant::Aot => "aot",
            Variant::Pool => "pool",
            Variant::Fresh => "fresh",
        }
    }

    /// The variant called `name`.
    pub fn parse(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == name)
    }

    fn pooled(self) -> bool {
        matches!(self, Variant::Pool | Variant::Fresh)
    }
}

/// What the host serves and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tenant creation strategy.
    pub variant: Variant,
    /// The guest `.wasm` (used by `jit`).
    pub wasm: PathBuf,
    /// The precompiled guest (used by `aot`, `pool`, `fresh`); made by [`precompile`].
    pub cwasm: PathBuf,
    /// Cap on one tenant's linear memory, in bytes.
    pub memory_limit: usize,
    /// Deadline of one call into the guest.
    pub deadline: Duration,
    /// Most tenants alive at once (the pool's size).
    pub max_tenants: u32,
    /// The guest pre-initialised by [`wizen`] and its precompiled form:
    /// tenants restored from it (`/r/<tenant>/…`) are made as the variant
    /// makes the others, from this module instead.
    pub snapshot: Option<(PathBuf, PathBuf)>,
}

/// Something the host could not do. Messages say what to do where the user can act.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A module file is missing or unreadable.
    #[error("cannot read {path}: {source}; rebuild it with `just build-wasm`")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// The `.cwasm` does not match the checksum written when it was made.
    #[error(
        "{path} is corrupt (sha256 differs from {path}.sha256); rebuild it with `just build-wasm`"
    )]
    Corrupt {
        /// The file.
        path: String,
    },
    /// wasmtime refused a module (other wasmtime version, other settings, not wasm).
    #[error("cannot load {path}: {message}; rebuild it with `just build-wasm`")]
    Load {
        /// The file.
        path: String,
        /// wasmtime's reason.
        message: String,
    },
    /// The guest lacks the expected interface, or wasmtime failed otherwise.
    #[error("wasmtime: {0}")]
    Wasm(String),
    /// The guest does not know the workload.
    #[error("unknown workload")]
    UnknownWorkload,
    /// The call ran past its deadline and was interrupted.
    #[error(
        "request deadline of {0:?} exceeded (wasm trap: interrupt); the instance was discarded"
    )]
    Deadline(Duration),
    /// The guest asked for more memory than its limit and then trapped.
    #[error("memory limit of {limit} bytes exceeded ({trap}); the instance was discarded")]
    MemoryLimit {
        /// The limit.
        limit: usize,
        /// The trap that followed.
        trap: String,
    },
    /// Any other trap.
    #[error("guest trapped ({0}); the instance was discarded")]
    Trap(String),
    /// No room for another tenant.
    #[error("tenant limit of {0} reached")]
    Full(u32),
    /// A restore was asked of a host started without a snapshot.
    #[error("this host serves no restores: start it with --snapshot WASM CWASM (made by `coldbench-wasm-host wizer`)")]
    NoSnapshot,
}

fn wasm_err(e: wasmtime::Error) -> HostError {
    HostError::Wasm(format!("{e:#}"))
}

/// The engine configuration of every variant. Settings that change generated
/// code (epoch interruption) are the same everywhere, so one `.cwasm` serves
/// `aot`, `pool` and `fresh`; the allocation strategy is a runtime setting.
pub fn engine_config(variant: Variant, max_tenants: u32, memory_limit: usize) -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    if variant.pooled() {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(max_tenants)
            .total_memories(max_tenants)
            .total_tables(max_tenants)
            .max_memory_size(memory_limit);
        if variant == Variant::Pool {
            // A slot's memory zeroed and kept when its tenant goes (at the
            // tenant's stop, untimed), not given back to the kernel: the
            // next tenant in it takes no page faults (a tenant's cold work:
            // 7.3 µs, `cargo bench -p coldbench-wasm-host -- wasm/tenant-cold`;
            // 17.4 µs before). Not for `fresh`, whose instance goes with
            // each request, inside its timing.
            pool.linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

fn read(path: &Path) -> Result<Vec<u8>, HostError> {
    fs::read(path).map_err(|source| HostError::Read {
        path: path.display().to_string(),
        source,
    })
}

fn sidecar(cwasm: &Path) -> PathBuf {
    let mut name = cwasm.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Compiles `wasm` ahead of time into `cwasm`, with a `.sha256` beside it.
pub fn precompile(wasm: &Path, cwasm: &Path) -> Result<(), HostError> {
    let engine =
        Engine::new(&engine_config(Variant::Aot, 1, DEFAULT_MEMORY_LIMIT)).map_err(wasm_err)?;
    let compiled = engine
        .precompile_module(&read(wasm)?)
        .map_err(|e| HostError::Load {
            path: wasm.display().to_string(),
            message: format!("{e:#}"),
        })?;
    let write = |path: &Path, bytes: &[u8]| -> Result<(), HostError> {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, bytes)
            .and_then(|_| fs::rename(&tmp, path))
            .map_err(|source| HostError::Read {
                path: path.display().to_string(),
                source,
            })
    };
    // Replace by rename: a mapped .cwasm must never change under a live Module.
    write(cwasm, &compiled)?;
    write(
        &sidecar(cwasm),
        format!("{:x}\n", Sha256::digest(&compiled)).as_bytes(),
    )
}

/// Checks the `.cwasm` against its checksum before wasmtime maps it:
/// deserializing is only safe for bytes wasmtime itself produced.
pub fn verify_cwasm(cwasm: &Path) -> Result<(), HostError> {
    let bytes = read(cwasm)?;
    let want = fs::read_to_string(sidecar(cwasm)).map_err(|source| HostError::Read {
        path: sidecar(cwasm).display().to_string(),
        source,
    })?;
    if format!("{:x}", Sha256::digest(&bytes)) == want.trim() {
        Ok(())
    } else {
        Err(HostError::Corrupt {
            path: cwasm.display().to_string(),
        })
    }
}

/// Loads a verified `.cwasm`.
fn deserialize(engine: &Engine, cwasm: &Path) -> Result<Module, HostError> {
    // SAFETY: `verify_cwasm` checked the file is the one `precompile` wrote
    // (wasmtime output), and files are replaced by rename, never modified in
    // place while mapped. wasmtime rejects output of other versions or
    // settings with an error.
    unsafe { Module::deserialize_file(engine, cwasm) }.map_err(|e| HostError::Load {
        path: cwasm.display().to_string(),
        message: format!("{e:#}"),
    })
}

/// Per-store data: the memory cap, and whether it refused a request.
pub struct Guest {
    memory_limit: usize,
    refused: bool,
}

impl ResourceLimiter for Guest {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.memory_limit;
        self.refused |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// One tenant's instance and the guest functions it exports.
pub struct Tenant {
    store: Store<Guest>,
    alloc: TypedFunc<u32, u32>,
    run: TypedFunc<(u32, u32), u64>,
    memory: Memory,
}

/// What a new instance is made from: a module loaded for it, or the shared
/// pre-instantiated one.
enum Ready<'a> {
    Module(Module),
    Pre(&'a InstancePre<Guest>),
}

enum Loader {
    Jit(Vec<u8>),
    Aot(PathBuf),
    Pooled(InstancePre<Guest>),
}

impl Loader {
    /// What `variant` shares between the tenants of one module, checked now
    /// so that a bad module fails the host's start, not its first tenant.
    fn new(
        engine: &Engine,
        variant: Variant,
        wasm: &Path,
        cwasm: &Path,
    ) -> Result<Loader, HostError> {
        Ok(match variant {
            Variant::Jit => {
                let bytes = read(wasm)?;
                Module::validate(engine, &bytes).map_err(|e| HostError::Load {
                    path: wasm.display().to_string(),
                    message: format!("{e:#}"),
                })?;
                Loader::Jit(bytes)
            }
            Variant::Aot => {
                verify_cwasm(cwasm)?;
                deserialize(engine, cwasm)?;
                Loader::Aot(cwasm.to_path_buf())
            }
            Variant::Pool | Variant::Fresh => {
                verify_cwasm(cwasm)?;
                let module = deserialize(engine, cwasm)?;
                let pre = Linker::new(engine)
                    .instantiate_pre(&module)
                    .map_err(wasm_err)?;
                Loader::Pooled(pre)
            }
        })
    }
}

/// A guest's answer and the time its `run` took.
#[derive(Debug)]
pub struct Answer {
    /// `{"instance":"…","cold":…,"result":…}` as the guest wrote it.
    pub guest_json: Vec<u8>,
    /// Wall time of the `run` call, measured by the host.
    pub compute: Duration,
    /// Wall time of making the instance (module ready, instantiate, init),
    /// when this request made one.
    pub instantiate: Option<Duration>,
}

impl Answer {
    /// The protocol body: the guest's JSON with the host's `compute_ns`
    /// added, and `instantiate_ns` when the request made the instance.
    pub fn body(&self) -> Result<String, HostError> {
        let json = std::str::from_utf8(&self.guest_json)
            .map_err(|_| HostError::Wasm("guest wrote invalid UTF-8".into()))?;
        let rest = json
            .strip_prefix('{')
            .filter(|r| r.len() > 1)
            .ok_or_else(|| HostError::Wasm(format!("guest wrote no JSON object: {json}")))?;
        let instantiate = self
            .instantiate
            .map(|d| format!("\"instantiate_ns\":{},", d.as_nanos()))
            .unwrap_or_default();
        Ok(format!(
            "{{\"compute_ns\":{},{instantiate}{rest}",
            self.compute.as_nanos()
        ))
    }
}

/// The host: an engine, a way to make tenants, and the live tenants.
pub struct Host {
    engine: Engine,
    options: Options,
    loader: Loader,
    /// The pre-initialised guest's, when the host serves restores.
    restored: Option<Loader>,
    tenants: HashMap<String, Tenant>,
}

/// Which module a new tenant's instance is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The guest as built.
    Cold,
    /// The guest as [`wizen`] pre-initialised it (phase `restore`).
    Restore,
}

impl Host {
    /// Builds the engine and loads what the variant shares between tenants.
    /// Also starts the epoch ticker.
    pub fn new(options: Options) -> Result<Host, HostError> {
        let config = engine_config(options.variant, options.max_tenants, options.memory_limit);
        let engine = Engine::new(&config).map_err(wasm_err)?;
        let loader = Loader::new(&engine, options.variant, &options.wasm, &options.cwasm)?;
        let restored = match &options.snapshot {
            Some((wasm, cwasm)) => Some(Loader::new(&engine, options.variant, wasm, cwasm)?),
            None => None,
        };
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            })
            .map_err(|e| HostError::Wasm(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Host {
            engine,
            options,
            loader,
            restored,
            tenants: HashMap::new(),
        })
    }

    /// The options the host runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn deadline_ticks(&self) -> u64 {
        (self.options.deadline.as_nanos() / EPOCH_TICK.as_nanos()) as u64 + 1
    }

    /// The per-tenant cold work: a new instance, initialised with its
    /// entropy (drawn now: for a restored one, after its snapshot was made).
    pub fn instantiate(&self, start: Start) -> Result<Tenant, HostError> {
        let loader = match start {
            Start::Cold => &self.loader,
            Start::Restore => self.restored.as_ref().ok_or(HostError::NoSnapshot)?,
        };
        // The module first: compiling (jit) or deserializing (aot) is the
        // host's work and must not eat into the guest's deadline.
        let ready = match loader {
            Loader::Jit(wasm) => Ready::Module(Module::new(&self.engine, wasm).map_err(wasm_err)?),
            Loader::Aot(cwasm) => Ready::Module(deserialize(&self.engine, cwasm)?),
            Loader::Pooled(pre) => Ready::Pre(pre),
        };
        let mut store = Store::new(
            &self.engine,
            Guest {
                memory_limit: self.options.memory_limit,
                refused: false,
            },
        );
        store.limiter(|g| g);
        store.set_epoch_deadline(self.deadline_ticks());
        let instance = match &ready {
            Ready::Pre(pre) => pre.instantiate(&mut store),
            Ready::Module(module) => Instance::new(&mut store, module, &[]),
        }
        .map_err(
            |e| match e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
                Some(_) => HostError::Full(self.options.max_tenants),
                None => self.trap(&store, e),
            },
        )?;
        let init = instance
            .get_typed_func::<(u32, u32), ()>(&mut store, "init")
            .map_err(wasm_err)?;
        let (hi, lo) = entropy();
        init.call(&mut store, (hi, lo))
            .map_err(|e| self.trap(&store, e))?;
        Ok(Tenant {
            alloc: instance
                .get_typed_func(&mut store, "alloc")
                .map_err(wasm_err)?,
            run: instance
                .get_typed_func(&mut store, "run")
                .map_err(wasm_err)?,
            memory: instance
                .get_memory(&mut store, "memory")
                .ok_or_else(|| HostError::Wasm("the guest exports no memory".into()))?,
            store,
        })
    }

    /// Runs `workload` in `tenant`. After an error the tenant must be discarded.
    pub fn call(&self, tenant: &mut Tenant, workload: &str) -> Result<Answer, HostError> {
        let store = &mut tenant.store;
        store.set_epoch_deadline(self.deadline_ticks());
        let len = workload.len() as u32;
        let ptr = tenant
            .alloc
            .call(&mut *store, len)
            .map_err(|e| self.trap(store, e))?;
        tenant
            .memory
            .write(&mut *store, ptr as usize, workload.as_bytes())
            .map_err(|e| HostError::Wasm(e.to_string()))?;
        let started = Instant::now();
        let packed = tenant.run.call(&mut *store, (ptr, len));
        let compute = started.elapsed();
        let packed = packed.map_err(|e| self.trap(store, e))?;
        if packed == 0 {
            return Err(HostError::UnknownWorkload);
        }
        let (out_ptr, out_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        let mut guest_json = vec![0u8; out_len];
        tenant
            .memory
            .read(&*store, out_ptr, &mut guest_json)
            .map_err(|e| HostError::Wasm(format!("guest answer out of bounds: {e}")))?;
        Ok(Answer {
            guest_json,
            compute,
            instantiate: None,
        })
    }

    fn trap(&self, store: &Store<Guest>, e: wasmtime::Error) -> HostError {
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => HostError::Deadline(self.options.deadline),
            Some(trap) if store.data().refused => HostError::MemoryLimit {
                limit: self.options.memory_limit,
                trap: trap.to_string(),
            },
            Some(trap) => HostError::Trap(trap.to_string()),
            None => wasm_err(e),
        }
    }

    /// Serves one request for `tenant`: the first one creates its instance
    /// (for `fresh`, every one does), from the module `start` names. A
    /// failed instance is discarded.
    pub fn handle(
        &mut self,
        tenant: &str,
        workload: &str,
        start: Start,
    ) -> Result<Answer, HostError> {
        let timed = |host: &Self| {
            let started = Instant::now();
            host.instantiate(start).map(|i| (i, started.elapsed()))
        };
        if self.options.variant == Variant::Fresh {
            let (mut instance, took) = timed(self)?;
            return self.call(&mut instance, workload).map(|a| Answer {
                instantiate: Some(took),
                ..a
            });
        }
        let (mut instance, took) = match self.tenants.remove(tenant) {
            Some(instance) => (instance, None),
            None => timed(self).map(|(i, took)| (i, Some(took)))?,
        };
        let answer = self.call(&mut instance, workload).map(|a| Answer {
            instantiate: took,
            ..a
        });
        if answer.is_ok() || matches!(answer, Err(HostError::UnknownWorkload)) {
            self.tenants.insert(tenant.to_string(), instance);
        }
        answer
    }

    /// Drops a tenant's instance (its pool slot returns to the pool).
    pub fn remove(&mut self, tenant: &str) -> bool {
        self.tenants.remove(tenant).is_some()
    }

    /// Live tenants.
    pub fn tenants(&self) -> usize {
        self.tenants.len()
    }
}

/// 64 bits for a new instance's id: std's per-process random hash keys
/// (from the getrandom syscall) mixed with a counter and the clock.
fn entropy() -> (u32, u32) {
    use std::hash::{BuildHasher, RandomState};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bits = RandomState::new().hash_one((n, Instant::now()));
    ((bits >> 32) as u32, bits as u32)
}

/// `coldbench-wasm-host <version> (wasmtime <version>)`.
/// The guest's `wizer-initialize` export, Wizer's pre-initialisation.
pub const WIZER_INIT: &str = "wizer-initialize";

/// Pre-initialises `wasm` with Wizer (wasmtime-wizer): instantiates it,
/// runs its [`WIZER_INIT`] export, and writes the module with the memory
/// and globals that left as its initial state to `out`. No entropy is
/// given before the snapshot: `init`, which makes an instance's id, runs
/// for each instance restored from it, with entropy drawn then.
pub fn wizen(wasm: &Path, out: &Path) -> Result<(), HostError> {
    let bytes = read(wasm)?;
    let wizer = {
        let mut w = wasmtime_wizer::Wizer::new();
        w.init_func(WIZER_INIT);
        w
    };
    let (cx, instrumented) = wizer.instrument(&bytes).map_err(|e| HostError::Load {
        path: wasm.display().to_string(),
        message: format!("{e:#}"),
    })?;
    let engine = Engine::default();
    let module = Module::new(&engine, &instrumented).map_err(wasm_err)?;
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).map_err(wasm_err)?;
    instance
        .get_typed_func::<(), ()>(&mut store, WIZER_INIT)
        .map_err(|e| HostError::Wasm(format!("the guest exports no {WIZER_INIT}: {e}")))?
        .call(&mut store, ())
        .map_err(|e| HostError::Wasm(format!("{WIZER_INIT} trapped: {e:#}")))?;
    let mut state = Initialised {
        store: &mut store,
        instance,
    };
    // Wizer's snapshot is async for runtimes that are; this one's state is
    // at hand, so every future is ready on its first poll.
    let snapshot = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| HostError::Wasm(format!("cannot start a runtime: {e}")))?
        .block_on(wizer.snapshot(&cx, &mut state))
        .map_err(|e| HostError::Wasm(format!("wizer snapshot: {e:#}")))?;
    let tmp = out.with_extension("tmp");
    fs::write(&tmp, &snapshot)
        .and_then(|()| fs::rename(&tmp, out))
        .map_err(|e| HostError::Wasm(format!("cannot write {}: {e}", out.display())))
}

/// A pre-initialised instance, as Wizer reads its state.
struct Initialised<'a> {
    store: &'a mut Store<()>,
    instance: Instance,
}

impl wasmtime_wizer::InstanceState for Initialised<'_> {
    async fn global_get(
        &mut self,
        name: &str,
        _: wasmtime_wizer::ValType,
    ) -> wasmtime_wizer::SnapshotVal {
        use wasmtime_wizer::SnapshotVal;
        let global = self.instance.get_global(&mut *self.store, name);
        match global.map(|g| g.get(&mut *self.store)) {
            Some(wasmtime::Val::I32(x)) => SnapshotVal::I32(x),
            Some(wasmtime::Val::I64(x)) => SnapshotVal::I64(x),
            Some(wasmtime::Val::F32(x)) => SnapshotVal::F32(x),
            Some(wasmtime::Val::F64(x)) => SnapshotVal::F64(x),
            Some(wasmtime::Val::V128(x)) => SnapshotVal::V128(x.as_u128()),
            // Wizer asks only for the globals it exported itself.
            other => panic!("wizer asked for global {name}, which is {other:?}"),
        }
    }

    async fn memory_contents(&mut self, name: &str, contents: impl FnOnce(&[u8]) + Send) {
        match self.instance.get_memory(&mut *self.store, name) {
            Some(memory) => contents(memory.data(&*self.store)),
            None => panic!("wizer asked for memory {name}, which the instance does not export"),
        }
    }
}

pub fn version() -> String {
    format!(
        "coldbench-wasm-host {} (wasmtime {})",
        env!("CARGO_PKG_VERSION"),
        env!("WASMTIME_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_adds_compute_ns_to_the_guest_json() {
        let a = Answer {
            guest_json: br#"{"instance":"wasm-1","cold":true,"result":"Hello, world!"}"#.to_vec(),
            compute: Duration::from_nanos(1234),
            instantiate: None,
        };
        assert_eq!(
            a.body().unwrap(),
            r#"{"compute_ns":1234,"instance":"wasm-1","cold":true,"result":"Hello, world!"}"#
        );
        let cold = Answer {
            instantiate: Some(Duration::from_nanos(18_000)),
            ..a
        };
        assert_eq!(
            cold.body().unwrap(),
            r#"{"compute_ns":1234,"instantiate_ns":18000,"instance":"wasm-1","cold":true,"result":"Hello, world!"}"#
        );
        let bad = Answer {
            guest_json: b"{}".to_vec(),
            compute: Duration::ZERO,
            instantiate: None,
        };
        assert!(bad.body().is_err());
    }

    #[test]
    fn entropy_differs_between_calls() {
        assert_ne!(entropy(), entropy());
    }

    #[test]
    fn variants_parse_back() {
        for v in Variant::ALL {
            assert_eq!(Variant::parse(v.name()), Some(v));
        }
        assert_eq!(Variant::parse("interp"), None);
    }
}
