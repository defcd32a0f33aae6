// The workerd host worker: routes each tenant to its own isolate through the
// Worker Loader binding.
//
//   GET    /t/<tenant>/run/<workload>   the tenant's isolate answers (loaded on first use: cold)
//   DELETE /t/<tenant>                  aborts the tenant's isolate (workerd never evicts one)
//   GET    /health                      200
//
// The tenant's code comes from the config's bindings (TENANT_JS: the entry
// module's source; WORKLOAD_JS: the workload module; GUEST_WASM: the guest's
// bytes), so one host serves the JS workload, the Rust workload in Wasm, or a
// test tenant.
import { refuse } from "./requests.js";
import { clockResolutionNs } from "./clock.js";

const TENANT_CONFIG = {
  compatibilityDate: "2025-01-01",
  mainModule: "tenant.js",
  allowExperimental: true,
  compatibilityFlags: ["experimental"],
  globalOutbound: null,
};

function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

// workerd keeps a loaded isolate for as long as the process lives; a dropped
// tenant's name gets a new generation, so its next request loads a new one.
const generation = new Map();
const isolateName = (tenant) => `${tenant}#${generation.get(tenant) ?? 0}`;

function code(env) {
  const modules = { "tenant.js": env.TENANT_JS };
  if (env.WORKLOAD_JS) modules["workload.js"] = env.WORKLOAD_JS;
  if (env.GUEST_WASM) modules["guest.wasm"] = { wasm: env.GUEST_WASM };
  return { ...TENANT_CONFIG, modules };
}

export default {
  async fetch(request, env) {
    // Bounded first: head size, bodies, names (shared/requests.js).
    const parts = new URL(request.url).pathname.split("/").filter(Boolean);
    const refused = refuse(request, parts);
    if (refused) return refused;
    if (request.method === "GET" && parts.length === 1 && parts[0] === "health") {
      return json(200, { ok: true, runtime: "workerd", clock_resolution_ns: clockResolutionNs() });
    }
    if (parts[0] !== "t" || !parts[1]) {
      return json(404, { error: "use GET /t/<tenant>/run/<workload>, DELETE /t/<tenant> or GET /health" });
    }
    const tenant = parts[1];
    const stub = () => env.LOADER.get(isolateName(tenant), () => code(env));
    if (request.method === "DELETE" && parts.length === 2) {
      if (!generation.has(tenant) && !loaded.has(tenant)) return json(404, { error: `no isolate for ${tenant}` });
      // Ask the isolate to abort itself, then never use its name again.
      await stub().getEntrypoint().fetch("http://tenant/__abort").catch(() => {});
      generation.set(tenant, (generation.get(tenant) ?? 0) + 1);
      loaded.delete(tenant);
      return new Response(null, { status: 204 });
    }
    if (request.method === "GET" && parts.length === 4 && parts[2] === "run") {
      try {
        const response = await stub().getEntrypoint().fetch(`http://tenant/run/${parts[3]}`);
        loaded.add(tenant);
        return response;
      } catch (e) {
        return json(500, { error: `tenant ${tenant}: ${String(e && e.message ? e.message : e).replace(/\s+/g, " ")}` });
      }
    }
    return json(404, { error: "use GET /t/<tenant>/run/<workload>, DELETE /t/<tenant> or GET /health" });
  },
};

const loaded = new Set();
