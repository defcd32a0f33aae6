// A tenant that misbehaves on purpose (tests only). The workload name picks
// the fault: `throw` throws in the handler, `loop` never returns, `hog`
// allocates without bound; anything else answers hello.
import { abortIsolate } from "cloudflare:workers";

const instance = `faulty-${Math.random().toString(16).slice(2)}`;
let cold = true;

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === "/__abort") abortIsolate("dropped by the host");
    const name = path.split("/").pop();
    if (name === "throw") throw new Error("faulty tenant: thrown on purpose");
    if (name === "loop") for (;;) {}
    if (name === "hog") {
      const keep = [];
      for (;;) keep.push(new Array(1 << 16).fill(keep.length));
    }
    const body = { instance, cold, compute_ns: 0, result: "Hello, world!" };
    cold = false;
    return new Response(JSON.stringify(body), { headers: { "content-type": "application/json" } });
  },
};
