//! A guest that misbehaves on purpose, for the tests of the wasmtime host's
//! limits. Same interface as guest.rs (abi.rs); the workload name picks the
//! fault: `loop` never returns, `hog` allocates until refused, `trap` hits
//! `unreachable`; anything else answers hello, so a test can show the host
//! still serves after a fault.

mod abi;

const ID_PREFIX: &str = "faulty";
static mut COLD: bool = true;

#[no_mangle]
pub extern "C" fn run(ptr: *mut u8, len: usize) -> u64 {
    // SAFETY: the embedder wrote `len` bytes at `ptr` from `alloc(len)`.
    let request = unsafe { abi::request(ptr, len) };
    match &request[..] {
        b"loop" => {
            let mut x = 0u64;
            loop {
                // SAFETY: single-threaded; a volatile write the optimiser must keep.
                unsafe { std::ptr::write_volatile(&mut COLD as *mut bool as *mut u8, (x & 1) as u8) };
                x = x.wrapping_add(1);
            }
        }
        b"hog" => {
            let mut keep: Vec<Vec<u8>> = Vec::new();
            loop {
                keep.push(vec![1u8; 1 << 20]);
            }
        }
        b"trap" => std::process::abort(),
        _ => {}
    }
    // SAFETY: single-threaded guest.
    let cold = unsafe { std::mem::replace(&mut COLD, false) };
    let id = abi::instance().unwrap_or_default();
    abi::answer(format!("{{\"instance\":\"{}\",\"cold\":{},\"result\":\"Hello, world!\"}}", id, cold))
}
