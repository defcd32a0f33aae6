// Shared by the workerd and Deno hosts: what a host refuses before it routes
// a request. Their runtimes parse HTTP and take heads far longer than any
// request of the harness, so the host bounds them as the other servers do.
//
//   a head over 16 KiB                         431
//   a body (content-length > 0, any transfer-encoding)   413
//   a tenant id not 1 to 64 of [A-Za-z0-9_-]    400
//   a workload name not 1 to 64 of [a-z0-9-]    404, before any isolate is made for it
const TENANT = /^[A-Za-z0-9_-]{1,64}$/;
const WORKLOAD = /^[a-z0-9-]{1,64}$/;
const MAX_HEAD = 16 * 1024;

function headBytes(request) {
  let bytes = request.method.length + request.url.length + 12;
  for (const [name, value] of request.headers) bytes += name.length + value.length + 4;
  return bytes;
}

// A refusal asks for the connection to end (the runtimes may keep it: the
// head was read whole, so nothing of it is left to misread).
function refusal(status, error) {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { "content-type": "application/json", connection: "close" },
  });
}

/** The response refusing `request` (its path split into `parts`), or null when it may be routed. */
export function refuse(request, parts) {
  if (headBytes(request) > MAX_HEAD) {
    return refusal(431, "request head larger than 16 KiB: send the request with few headers");
  }
  if (request.headers.has("transfer-encoding") || (request.headers.get("content-length") ?? "0") !== "0") {
    return refusal(413, "request bodies are not served (limit 0 bytes): send the request without one");
  }
  if (parts[0] !== "t") return null;
  if (parts[1] !== undefined && !TENANT.test(parts[1])) {
    return refusal(400, "a tenant id is 1 to 64 of [A-Za-z0-9_-]");
  }
  if (parts[2] === "run" && parts.length === 4 && !WORKLOAD.test(parts[3])) {
    return refusal(404, "unknown workload: a name is 1 to 64 of [a-z0-9-]");
  }
  return null;
}
