// Builds node's startup snapshot for the `restore` phase: the workload and the
// server (serve.cjs) compiled and loaded into the heap, node's http module
// with them, then the heap written to a blob. A restore is
//
//   node --snapshot-blob <blob> <host:port>
//
// which deserialises that heap and runs the main function below: it starts
// serving, and makes the instance's id then (serve.cjs), never before the
// snapshot.
//
// Build: node --snapshot-blob <blob> --build-snapshot snapshot.cjs <workload.mjs> <serve.cjs>
//
// A snapshot holds one script, with builtin requires only (node 20): the two
// files are read and compiled here, the workload's `export`s dropped.
"use strict";
const { readFileSync } = require("node:fs");
const v8 = require("node:v8");

const [workloadFile, serveFile] = process.argv.slice(2);
if (!workloadFile || !serveFile) {
  console.error("usage: node --snapshot-blob <blob> --build-snapshot snapshot.cjs <workload.mjs> <serve.cjs>");
  process.exit(2);
}
const workloadSource = readFileSync(workloadFile, "utf8").replace(/^export /gm, "");
const workload = new Function(`${workloadSource}\nreturn { run, NAMES };`)();
const served = { exports: {} };
new Function("module", "exports", "require", readFileSync(serveFile, "utf8"))(served, served.exports, require);
// The workload's code paths compiled before the snapshot, as a warmed-up
// runtime's would be; nothing of it is kept (no result is cached).
workload.run("hello");

v8.startupSnapshot.setDeserializeMainFunction(() => {
  const listen = process.argv[1];
  if (!listen || !listen.includes(":")) {
    console.error("usage: node --snapshot-blob <blob> <host:port>");
    process.exit(2);
  }
  served.exports.serve(listen, workload.run, workload.NAMES);
});
