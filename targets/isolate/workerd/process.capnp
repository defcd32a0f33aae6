# One whole workerd process per instance (target `workerd-process`): the JS
# workload is the process's only worker, no loader. Its cold start is what a
# platform pays once per machine for a workerd host, for comparison with a
# tenant's cold start inside a running one.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "tenant", worker = .tenant) ],
  sockets = [ (name = "http", http = (), service = "tenant") ],
);

const tenant :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  compatibilityFlags = ["experimental"],
  modules = [
    (name = "tenant.js", esModule = embed "../tenant/tenant.js"),
    (name = "workload.js", esModule = embed "../../../workloads/js/workload.mjs"),
  ],
);
