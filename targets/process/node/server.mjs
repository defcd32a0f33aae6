// The JavaScript workload behind the coldbench invocation protocol, served by
// Node.js (target `node`).
//
//   GET /run/<workload> -> 200 {"instance":"<id>","cold":true,"compute_ns":N,"result":...}
//
// Usage: node server.mjs [--listen HOST:PORT]   (default 127.0.0.1:8080)
import { createServer } from "node:http";
import { randomBytes } from "node:crypto";
import { run, NAMES } from "../../../workloads/js/workload.mjs";

const args = process.argv.slice(2);
let listen = process.env.COLDBENCH_LISTEN ?? "127.0.0.1:8080";
if (args[0] === "--listen" && args[1]) listen = args[1];
const colon = listen.lastIndexOf(":");
const host = listen.slice(0, colon);
const port = Number(listen.slice(colon + 1));

// Made here, at start, in the instance: never by the harness.
const instance = `${process.pid}-${randomBytes(8).toString("hex")}`;
let cold = true;

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

const server = createServer((req, res) => {
  if (req.method !== "GET") return reply(res, 405, { error: "only GET is served" });
  const path = req.url.split("?")[0];
  const name = path.startsWith("/run/") ? path.slice(5) : undefined;
  const started = process.hrtime.bigint();
  const result = name === undefined ? undefined : run(name);
  const computeNs = Number(process.hrtime.bigint() - started);
  if (result === undefined) {
    return reply(res, 404, {
      error: `unknown path ${JSON.stringify(req.url)}: use GET /run/<workload>, workload one of ${NAMES.join(", ")}`,
    });
  }
  reply(res, 200, { instance, cold, compute_ns: computeNs, result });
  cold = false;
});
// The harness holds one keep-alive connection per instance; a palindrome-large
// request can take seconds, so never close an idle connection under it.
server.keepAliveTimeout = 0;
server.on("error", (e) => {
  console.error(`node server: cannot listen on ${listen}: ${e.message}`);
  process.exit(2);
});
server.listen(port, host);
