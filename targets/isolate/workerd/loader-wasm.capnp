# workerd as a multi-tenant host for the Rust workload compiled to wasm32
# (target `workerd-wasm`): as loader.capnp, the tenant being the same
# guest.wasm the wasmtime targets run, behind a JS shim. Needs
# artifacts/guest.wasm (`just build-wasm`).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "host", worker = .host) ],
  sockets = [ (name = "http", http = (), service = "host") ],
);

const host :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  compatibilityFlags = ["experimental"],
  modules = [
    (name = "host.js", esModule = embed "host.js"),
    (name = "clock.js", esModule = embed "../shared/clock.js"),
    (name = "requests.js", esModule = embed "../shared/requests.js"),
  ],
  bindings = [
    (name = "LOADER", workerLoader = ()),
    (name = "TENANT_JS", text = embed "../tenant/wasm-shim.js"),
    (name = "GUEST_WASM", data = embed "../../../artifacts/guest.wasm"),
  ],
);
