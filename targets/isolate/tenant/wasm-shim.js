// A tenant whose code is the Rust workload compiled to wasm32: the very same
// guest.wasm the wasmtime targets run (targets/wasm/guest), behind a thin
// Workers-style shim. The isolate compiles and instantiates the module when
// it loads the tenant, so that is part of its cold start.
//
// The guest makes its instance id from 64 bits of entropy handed to init()
// (Math.random, per isolate); the shim measures compute_ns around run() with
// performance.now(), which has a resolution of 1 ms in workerd.
import { abortIsolate } from "cloudflare:workers";
import guestModule from "./guest.wasm";

const guest = new WebAssembly.Instance(guestModule, {});
const { memory, alloc, init, run } = guest.exports;
const u32 = () => Math.floor(Math.random() * 0x100000000);
init(u32(), u32());
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/__abort") abortIsolate("dropped by the host");
    const name = encoder.encode(path.split("/").pop());
    const ptr = alloc(name.length);
    new Uint8Array(memory.buffer, ptr, name.length).set(name);
    const started = performance.now();
    const packed = run(ptr, name.length);
    const elapsed = performance.now() - started;
    if (packed === 0n) {
      return new Response(JSON.stringify({ error: "unknown workload" }), { status: 404 });
    }
    const out = new Uint8Array(memory.buffer, Number(packed >> 32n), Number(packed & 0xffffffffn));
    // The guest wrote {"instance":…,"cold":…,"result":…}; add the shim's timing.
    const body = `{"compute_ns":${Math.round(elapsed * 1e6)},${decoder.decode(out).slice(1)}`;
    return new Response(body, { headers: { "content-type": "application/json" } });
  },
};
