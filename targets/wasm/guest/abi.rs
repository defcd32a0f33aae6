//! The guest side of the interface every coldbench guest exports (no host
//! imports): `alloc`, `init`, and the packing of `run`'s answer. Included by
//! guest.rs and faulty.rs with `#[path]`, so both export exactly the same.

static mut INSTANCE: Option<String> = None;
static mut OUT: Vec<u8> = Vec::new();

/// Room for `len` bytes of request, owned by the caller until the next `run`.
#[no_mangle]
pub extern "C" fn alloc(len: usize) -> *mut u8 {
    let mut buf = Vec::<u8>::with_capacity(len.max(1));
    let ptr = buf.as_mut_ptr();
    std::mem::forget(buf);
    ptr
}

/// Gives the instance its id, made from 64 bits of the embedder's entropy.
#[no_mangle]
pub extern "C" fn init(hi: u32, lo: u32) {
    // SAFETY: wasm32-unknown-unknown is single-threaded; no reference to the
    // statics outlives an export call.
    unsafe { INSTANCE = Some(format!("{}-{:08x}{:08x}", super::ID_PREFIX, hi, lo)) }
}

/// Wizer's pre-initialisation (phase `restore`): the guest's own set-up,
/// done once before a snapshot instead of in every instance. This guest has
/// little: its allocator's first growth of linear memory, and the room its
/// answers are written to. Never the instance id, nor `cold`: `init` makes
/// the id from the entropy the embedder passes to each instance restored
/// from the snapshot, and an instance never `init`ed answers nothing.
#[export_name = "wizer-initialize"]
pub extern "C" fn wizer_initialize() {
    // SAFETY: as in `init`.
    unsafe { OUT.reserve(4096) }
}

/// The instance id, once `init` ran.
pub fn instance() -> Option<String> {
    // SAFETY: as in `init`.
    unsafe { INSTANCE.clone() }
}

/// Takes the request written at `ptr` by the embedder (from `alloc(len)`).
///
/// # Safety
/// `ptr` must come from `alloc(len)` and hold `len` written bytes.
pub unsafe fn request(ptr: *mut u8, len: usize) -> Vec<u8> {
    Vec::from_raw_parts(ptr, len, len.max(1))
}

/// Keeps `body` until the next call and returns `(ptr << 32) | len`.
pub fn answer(body: String) -> u64 {
    // SAFETY: as in `init`; OUT is only replaced between calls.
    unsafe {
        OUT = body.into_bytes();
        ((OUT.as_ptr() as u64) << 32) | OUT.len() as u64
    }
}
