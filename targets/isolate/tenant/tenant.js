// A tenant of the isolate targets: the JS workload behind the coldbench
// protocol, as a Workers-style module (default export with fetch). workerd
// loads it into a new isolate per tenant (Worker Loader), or as the main
// worker of its own process (workerd-process).
//
// The instance id is made here, in module scope, when the isolate loads the
// module: a new id proves a new isolate. (workerd refuses crypto random at
// global scope; Math.random is per isolate and allowed.)
import { abortIsolate } from "cloudflare:workers";
import { run } from "./workload.js";

const hex = () => Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, "0");
const instance = `isolate-${hex()}${hex()}`;
let cold = true;

function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    // The host drops a tenant by asking its isolate to abort itself:
    // workerd never evicts a loaded isolate on its own.
    if (path === "/__abort") abortIsolate("dropped by the host");
    const name = path.split("/").pop();
    // performance.now() in workerd has a resolution of 1 ms (see the report).
    const started = performance.now();
    const result = run(name);
    const elapsed = performance.now() - started;
    if (result === undefined) return json(404, { error: `unknown workload ${name}` });
    const body = { instance, cold, compute_ns: Math.round(elapsed * 1e6), result };
    cold = false;
    return json(200, body);
  },
};
