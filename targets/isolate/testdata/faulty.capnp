# The workerd host with test tenants (tests only): `faulty` serves
# faulty-tenant.js, `throwing` a module that throws at load. The heap limit
# makes an unbounded allocation abort the process in well under a second.
using Workerd = import "/workerd/workerd.capnp";

const faulty :Workerd.Config = (
  services = [ (name = "host", worker = .faultyHost) ],
  sockets = [ (name = "http", http = (), service = "host") ],
  v8Flags = ["--max-old-space-size=64"],
);

const throwing :Workerd.Config = (
  services = [ (name = "host", worker = .throwingHost) ],
  sockets = [ (name = "http", http = (), service = "host") ],
);

const faultyHost :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  compatibilityFlags = ["experimental"],
  modules = [
    (name = "host.js", esModule = embed "../workerd/host.js"),
    (name = "clock.js", esModule = embed "../shared/clock.js"),
    (name = "requests.js", esModule = embed "../shared/requests.js"),
  ],
  bindings = [
    (name = "LOADER", workerLoader = ()),
    (name = "TENANT_JS", text = embed "faulty-tenant.js"),
  ],
);

const throwingHost :Workerd.Worker = (
  compatibilityDate = "2025-01-01",
  compatibilityFlags = ["experimental"],
  modules = [
    (name = "host.js", esModule = embed "../workerd/host.js"),
    (name = "clock.js", esModule = embed "../shared/clock.js"),
    (name = "requests.js", esModule = embed "../shared/requests.js"),
  ],
  bindings = [
    (name = "LOADER", workerLoader = ()),
    (name = "TENANT_JS", text = embed "throwing-tenant.js"),
  ],
);
