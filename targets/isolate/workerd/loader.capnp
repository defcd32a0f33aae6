# workerd as a multi-tenant host (target `workerd`): one process, one host
# worker, one new V8 isolate per tenant through the Worker Loader binding.
# The socket has no address here: the harness gives one on the command line,
#   workerd serve --experimental loader.capnp --socket-addr http=127.0.0.1:PORT
# (--experimental: the Worker Loader is an experimental workerd feature.)
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "host", worker = .host) ],
  sockets = [ (name = "http", http = (), service = "host") ],
);

const host :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  # Lets tenants use abortIsolate (cloudflare:workers), how the host drops one.
  compatibilityFlags = ["experimental"],
  modules = [
    (name = "host.js", esModule = embed "host.js"),
    (name = "clock.js", esModule = embed "../shared/clock.js"),
    (name = "requests.js", esModule = embed "../shared/requests.js"),
  ],
  bindings = [
    (name = "LOADER", workerLoader = ()),
    (name = "TENANT_JS", text = embed "../tenant/tenant.js"),
    (name = "WORKLOAD_JS", text = embed "../../../workloads/js/workload.mjs"),
  ],
);
