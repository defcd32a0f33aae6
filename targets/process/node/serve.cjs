// The coldbench invocation protocol for the JavaScript workload, under
// Node.js: used by server.mjs (a plain start) and by snapshot.cjs (a start
// from a startup snapshot, the `restore` phase). CommonJS with builtin
// requires only, so that snapshot.cjs can load it into a snapshot.
//
//   GET /run/<workload> -> 200 {"instance":"<id>","cold":true,"compute_ns":N,"result":...}
//
// What a client sends is bounded: a head over 16 KiB gets 431 (Node's own
// limit), a request that announces a body 413, a malformed request 400, each
// with a JSON error body and then the connection closes; a client that stalls
// mid-request is dropped after 10 s (408). An idle keep-alive connection
// between requests is not limited: the harness holds one per instance.
"use strict";

// How long a client may take to send a whole request head; Node checks it
// every STALL_CHECK_MS, so a stalled client is dropped within 10 s.
const STALL_MS = 9000;
const STALL_CHECK_MS = 1000;
// Bytes read from /dev/hwrng for a restored microVM's id (see makeId).
const HWRNG_BYTES = 256;

/** Serves `run` (the workload) on `listen` ("host:port") until killed. */
function serve(listen, run, NAMES) {
  // Loaded when the server starts, not before: node 20 cannot put node:http
  // into a startup snapshot (its builder fails in http's own set-up), so a
  // restored instance loads it as a plain start does.
  const { createServer } = require("node:http");
  const { randomBytes, createHash } = require("node:crypto");
  const colon = listen.lastIndexOf(":");
  const host = listen.slice(0, colon);
  const port = Number(listen.slice(colon + 1));
  // Made in the instance, never by the harness, at its first answer: a node
  // started from a startup snapshot makes it after the heap was
  // deserialised, from OpenSSL, seeded by the new process. In a microVM
  // restored from a snapshot, OpenSSL's state is the snapshot's: there
  // (cb_hwrng=1, set by the guest's kernel command line) the host's bytes
  // from virtio-rng's /dev/hwrng are hashed in. Not only the first ones:
  // the driver prefetches a cache line's worth, and that was prefetched
  // before the snapshot, so HWRNG_BYTES reach well past it.
  let instance;
  const makeId = () => {
    let bytes = randomBytes(8);
    if (process.env.cb_hwrng === "1") {
      const fs = require("node:fs");
      const fresh = Buffer.alloc(HWRNG_BYTES);
      const fd = fs.openSync("/dev/hwrng", "r");
      try {
        let got = 0;
        while (got < fresh.length) got += fs.readSync(fd, fresh, got, fresh.length - got, null);
      } finally {
        fs.closeSync(fd);
      }
      bytes = createHash("sha256").update(bytes).update(fresh).digest().subarray(0, 8);
    }
    return `${process.pid}-${bytes.toString("hex")}`;
  };
  let cold = true;

  function reply(res, status, body) {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
    });
    res.end(text);
  }

  function refuse(res, status, error) {
    res.shouldKeepAlive = false;
    reply(res, status, { error });
  }

  const server = createServer({ maxHeaderSize: 16 * 1024, connectionsCheckingInterval: STALL_CHECK_MS }, (req, res) => {
    // A body is never served: refuse it rather than read it.
    const length = req.headers["content-length"];
    if (req.headers["transfer-encoding"] !== undefined || (length !== undefined && Number(length) !== 0)) {
      return refuse(res, 413, "request bodies are not served (limit 0 bytes): send GET /run/<workload> without one");
    }
    if (req.method !== "GET") return reply(res, 405, { error: "only GET is served" });
    const path = req.url.split("?")[0];
    const name = path.startsWith("/run/") ? path.slice(5) : undefined;
    if (instance === undefined && name !== undefined) instance = makeId();
    const started = process.hrtime.bigint();
    const result = name === undefined ? undefined : run(name);
    const computeNs = Number(process.hrtime.bigint() - started);
    if (result === undefined) {
      return reply(res, 404, {
        error: `unknown path ${JSON.stringify(req.url.slice(0, 200))}: use GET /run/<workload>, workload one of ${NAMES.join(", ")}`,
      });
    }
    reply(res, 200, { instance, cold, compute_ns: computeNs, result });
    cold = false;
  });
  // The harness holds one keep-alive connection per instance; a palindrome-large
  // request can take seconds, so never close an idle connection under it.
  server.keepAliveTimeout = 0;
  server.headersTimeout = STALL_MS;
  server.requestTimeout = STALL_MS;
  // Node's own parser errors, answered in JSON like every other error.
  const PARSE_ERRORS = {
    HPE_HEADER_OVERFLOW: [431, "request head larger than 16 KiB: send GET /run/<workload> with few headers"],
    ERR_HTTP_REQUEST_TIMEOUT: [408, "request incomplete after 10 s: the connection is closed"],
  };
  server.on("clientError", (err, socket) => {
    if (!socket.writable || err.code === "ECONNRESET") return socket.destroy();
    const [status, error] = PARSE_ERRORS[err.code] ?? [400, `bad request: ${err.code ?? err.message}`];
    const text = JSON.stringify({ error });
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? "Request Header Fields Too Large" : status === 408 ? "Request Timeout" : "Bad Request"}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
    );
  });
  server.on("error", (e) => {
    console.error(`node server: cannot listen on ${listen}: ${e.message}`);
    process.exit(2);
  });
  server.listen(port, host);
}

module.exports = { serve };
