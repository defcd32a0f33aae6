// The Deno host (target `deno`): one process serving the coldbench protocol,
// each tenant a `new Worker(url, { type: "module" })`: its own V8 isolate.
//
//   GET    /t/<tenant>/run/<workload>   the tenant's worker answers (created on first use: cold)
//   DELETE /t/<tenant>                  terminates the tenant's worker
//   GET    /health                      {"ok":true,"clock_resolution_ns":…}
//
// usage: deno run --allow-net=127.0.0.1 --allow-read=<checkout> host.js
//          --listen 127.0.0.1:PORT [--deadline-ms 20000] [--tenant worker.js]
//
// A tenant that runs past the deadline gets a 500, and then the host exits:
// terminate() cannot stop a Web Worker spinning in JS (denoland/deno#35657),
// and a spinning thread would distort every later figure. The harness sees
// the host gone and starts a new one, and records that.
import { refuse } from "../shared/requests.js";
import { clockResolutionNs } from "../shared/clock.js";

const args = Deno.args;
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
};
const [hostname, port] = option("--listen", "127.0.0.1:8080").split(":");
const deadlineMs = Number(option("--deadline-ms", "20000"));
const workerUrl = new URL(option("--tenant", "./tenant-worker.js"), import.meta.url).href;

const tenants = new Map();
let seq = 0;

function json(status, body) {
  return new Response(typeof body === "string" ? body : JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function spawn(name) {
  const worker = new Worker(workerUrl, { type: "module", name });
  const tenant = { worker, pending: new Map() };
  tenant.ready = new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.ready) return resolve();
      tenant.pending.get(data.seq)?.(data);
      tenant.pending.delete(data.seq);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      const error = new Error(e.message ?? String(e));
      reject(error);
      for (const settle of tenant.pending.values()) settle({ status: 500, body: JSON.stringify({ error: error.message }) });
      tenant.pending.clear();
    };
  });
  tenants.set(name, tenant);
  return tenant;
}

async function invoke(name, workload) {
  const tenant = tenants.get(name) ?? spawn(name);
  try {
    await tenant.ready;
  } catch (e) {
    tenants.delete(name);
    tenant.worker.terminate();
    return json(500, { error: `tenant ${name} failed to load: ${e.message}` });
  }
  const id = ++seq;
  tenant.worker.postMessage({ seq: id, workload });
  let timer;
  const reply = await Promise.race([
    new Promise((resolve) => tenant.pending.set(id, resolve)),
    new Promise((resolve) => (timer = setTimeout(() => resolve(null), deadlineMs))),
  ]);
  clearTimeout(timer);
  if (reply === null) {
    tenant.worker.terminate();
    tenants.delete(name);
    setTimeout(() => Deno.exit(70), 100);
    return json(500, {
      error: `tenant ${name} exceeded the deadline of ${deadlineMs} ms; a spinning Web Worker cannot be stopped (denoland/deno#35657), so the host exits`,
    });
  }
  return json(reply.status, reply.body);
}

Deno.serve({ hostname, port: Number(port), onListen() {} }, async (request) => {
  // Bounded first: head size, bodies, names (shared/requests.js).
  const parts = new URL(request.url).pathname.split("/").filter(Boolean);
  const refused = refuse(request, parts);
  if (refused) return refused;
  if (request.method === "GET" && parts.length === 1 && parts[0] === "health") {
    return json(200, { ok: true, runtime: "deno", clock_resolution_ns: clockResolutionNs() });
  }
  if (parts[0] === "t" && parts[1]) {
    if (request.method === "GET" && parts.length === 4 && parts[2] === "run") {
      return await invoke(parts[1], parts[3]);
    }
    if (request.method === "DELETE" && parts.length === 2) {
      const tenant = tenants.get(parts[1]);
      if (!tenant) return json(404, { error: `no worker for tenant ${parts[1]}` });
      tenant.worker.terminate();
      tenants.delete(parts[1]);
      return new Response(null, { status: 204 });
    }
  }
  return json(404, { error: "use GET /t/<tenant>/run/<workload>, DELETE /t/<tenant> or GET /health" });
});
