// A Deno tenant that misbehaves on purpose (tests only): `throw` throws in
// the handler, `loop` never returns, `hog` allocates without bound; anything
// else answers hello.
const instance = `faulty-${crypto.randomUUID().slice(0, 8)}`;
let cold = true;

self.onmessage = ({ data: { seq, workload } }) => {
  if (workload === "throw") throw new Error("faulty worker: thrown on purpose");
  if (workload === "loop") for (;;) {}
  if (workload === "hog") {
    const keep = [];
    for (;;) keep.push(new Array(1 << 16).fill(keep.length));
  }
  self.postMessage({ seq, status: 200, body: JSON.stringify({ instance, cold, compute_ns: 0, result: "Hello, world!" }) });
  cold = false;
};
self.postMessage({ ready: true });
