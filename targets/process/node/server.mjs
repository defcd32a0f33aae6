// The JavaScript workload behind the coldbench invocation protocol, served by
// Node.js (target `node`); the server itself is serve.cjs.
//
// Usage: node server.mjs [--listen HOST:PORT]   (default 127.0.0.1:8080)
import { serve } from "./serve.cjs";
import { run, NAMES } from "../../../workloads/js/workload.mjs";

const args = process.argv.slice(2);
let listen = process.env.COLDBENCH_LISTEN ?? "127.0.0.1:8080";
if (args[0] === "--listen" && args[1]) listen = args[1];
serve(listen, run, NAMES);
