//! The wasm32 guest: `workloads/rust` unchanged, behind an interface that
//! needs no host imports, so the very same `.wasm` runs in wasmtime and in a
//! V8 isolate (workerd-wasm).
//!
//! Built by Debian's rustc 1.63 (`just build-wasm`):
//! `--target wasm32-unknown-unknown --crate-type cdylib`.
//!
//! Exports (see abi.rs):
//! - `alloc(len) -> ptr`: room for the request;
//! - `init(hi, lo)`: called once right after instantiation with 64 bits of
//!   entropy from the embedder (the guest has no randomness of its own); the
//!   guest makes its instance id from them and keeps it in its own memory;
//! - `run(ptr, len) -> (ptr << 32) | len`: runs the workload named by the
//!   request bytes and returns `{"instance":"…","cold":true,"result":…}`, or 0
//!   for an unknown workload or an instance that was never initialised.
//!
//! The `cold` flag lives in the instance's linear memory, so only a genuinely
//! new instance can answer `cold: true` with a new id. The guest has no clock:
//! the embedder measures `compute_ns` around the call to `run`.

// The guest uses part of the crate (no NAMES, no response envelope).
#[allow(dead_code)]
#[path = "../../../workloads/rust/src/lib.rs"]
mod workload;

mod abi;

const ID_PREFIX: &str = "wasm";
static mut COLD: bool = true;

/// Runs the workload named by the `len` bytes at `ptr`.
#[no_mangle]
pub extern "C" fn run(ptr: *mut u8, len: usize) -> u64 {
    // SAFETY: the embedder wrote `len` bytes at `ptr` from `alloc(len)`.
    let request = unsafe { abi::request(ptr, len) };
    let workload = std::str::from_utf8(&request).ok().and_then(workload::Workload::from_name);
    let (workload, instance) = match (workload, abi::instance()) {
        (Some(w), Some(id)) => (w, id),
        _ => return 0,
    };
    let result = workload.run_json();
    // SAFETY: single-threaded guest; COLD is only touched here.
    let cold = unsafe { std::mem::replace(&mut COLD, false) };
    abi::answer(format!(
        "{{\"instance\":\"{}\",\"cold\":{},\"result\":{}}}",
        instance, cold, result
    ))
}
