// A Deno tenant: one Web Worker (one V8 isolate, one thread) running the JS
// workload. The instance id is made here, in the worker's module scope.
import { run } from "../../../workloads/js/workload.mjs";

const instance = `isolate-${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
let cold = true;

self.onmessage = ({ data: { seq, workload } }) => {
  const started = performance.now();
  const result = run(workload);
  const elapsed = performance.now() - started;
  if (result === undefined) {
    self.postMessage({ seq, status: 404, body: JSON.stringify({ error: `unknown workload ${workload}` }) });
    return;
  }
  self.postMessage({
    seq,
    status: 200,
    body: JSON.stringify({ instance, cold, compute_ns: Math.round(elapsed * 1e6), result }),
  });
  cold = false;
};
self.postMessage({ ready: true });
