//! `coldbench-wasm-host`: serves wasmtime tenants over the coldbench protocol.
//!
//! ```text
//! coldbench-wasm-host serve --variant jit|aot|pool|fresh --wasm guest.wasm --cwasm guest.cwasm
//!                           --listen 127.0.0.1:PORT [--memory-limit-mib 128] [--deadline-ms 20000]
//!                           [--max-tenants 1000] [--snapshot pre.wasm pre.cwasm]
//! coldbench-wasm-host precompile guest.wasm guest.cwasm
//! coldbench-wasm-host wizer guest.wasm pre.wasm
//! coldbench-wasm-host --version
//!
//! GET    /t/<tenant>/run/<workload>   the tenant's instance runs the workload (created on first use)
//! GET    /r/<tenant>/run/<workload>   as /t/, the instance made from the pre-initialised guest
//!                                     (--snapshot); later requests of the tenant go to /t/
//! DELETE /t/<tenant>                  drops the tenant's instance (204), or 404 if it has none
//! GET    /health                      {"variant":"pool","tenants":3}
//! ```
//!
//! One thread serves requests and runs the guests: the harness sends one
//! request at a time, and the epoch deadline bounds every guest call.
//!
//! What a client sends is bounded: a request head over 16 KiB is refused
//! (431), a request that announces a body gets 413 and the connection
//! closes, a tenant id is 1 to 64 of `[A-Za-z0-9_-]` (else 400) and a
//! workload name 1 to 64 of `[a-z0-9-]` (else 404, with no instance made),
//! and a client that stalls mid-request is dropped after 10 s. An idle
//! keep-alive connection between requests is not limited: the harness holds
//! one from the host's start.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use coldbench_wasm_host::{
    precompile, version, wizen, Host, HostError, Options, Start, Variant, DEFAULT_MEMORY_LIMIT,
};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest request head served (checked by [`StallGuard`]).
const MAX_HEAD: usize = 16 * 1024;
/// hyper's read buffer: larger than a head may be, so the guard refuses first.
const READ_BUFFER: usize = 64 * 1024;
/// How long a client may take to finish a request it has begun.
const STALL: Duration = Duration::from_secs(10);
/// The longest tenant id and workload name taken from a path.
const MAX_NAME: usize = 64;

const USAGE: &str = "usage: coldbench-wasm-host serve --variant jit|aot|pool|fresh --wasm FILE --cwasm FILE --listen ADDR \
[--memory-limit-mib N] [--deadline-ms N] [--max-tenants N] [--snapshot PRE.wasm PRE.cwasm] \
| precompile IN.wasm OUT.cwasm | wizer IN.wasm PRE.wasm | --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--version") => {
            println!("{}", version());
            Ok(())
        }
        Some("precompile") if args.len() == 3 => {
            precompile(&PathBuf::from(&args[1]), &PathBuf::from(&args[2]))
                .map_err(|e| e.to_string())
        }
        Some("wizer") if args.len() == 3 => {
            wizen(&PathBuf::from(&args[1]), &PathBuf::from(&args[2])).map_err(|e| e.to_string())
        }
        Some("serve") => {
            parse_serve(&args[1..]).and_then(|(options, listen)| serve(options, &listen))
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coldbench-wasm-host: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_serve(args: &[String]) -> Result<(Options, String), String> {
    let mut options = Options {
        variant: Variant::Pool,
        wasm: PathBuf::new(),
        cwasm: PathBuf::new(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        deadline: Duration::from_secs(20),
        max_tenants: 1000,
        snapshot: None,
    };
    let mut listen = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes a number, not {value:?}"))
        };
        match flag.as_str() {
            "--variant" => {
                options.variant = Variant::parse(value)
                    .ok_or_else(|| format!("unknown variant {value:?} (jit, aot, pool, fresh)"))?
            }
            "--wasm" => options.wasm = value.into(),
            "--cwasm" => options.cwasm = value.into(),
            "--listen" => listen = Some(value.clone()),
            "--memory-limit-mib" => options.memory_limit = number()? as usize * 1024 * 1024,
            "--deadline-ms" => options.deadline = Duration::from_millis(number()?),
            "--max-tenants" => options.max_tenants = number()? as u32,
            "--snapshot" => {
                let cwasm = it
                    .next()
                    .ok_or_else(|| format!("--snapshot takes PRE.wasm PRE.cwasm; {USAGE}"))?;
                options.snapshot = Some((value.into(), cwasm.into()));
            }
            _ => return Err(format!("unknown option {flag}; {USAGE}")),
        }
    }
    Ok((
        options,
        listen.ok_or_else(|| format!("--listen is required; {USAGE}"))?,
    ))
}

fn serve(options: Options, listen: &str) -> Result<(), String> {
    wasmtime::Engine::tls_eager_initialize();
    let host = Arc::new(Mutex::new(Host::new(options).map_err(|e| e.to_string())?));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("coldbench-wasm-host: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let host = host.clone();
            tokio::spawn(async move {
                let guard = StallGuard::new(stream);
                let heads = guard.heads.clone();
                let service = hyper::service::service_fn(move |req| {
                    heads.fetch_add(1, Ordering::Relaxed);
                    let host = host.clone();
                    async move { Ok::<_, Infallible>(route(&host, &req)) }
                });
                let io = hyper_util::rt::TokioIo::new(guard);
                let _ = hyper::server::conn::http1::Builder::new()
                    .max_buf_size(READ_BUFFER)
                    .serve_connection(io, service)
                    .await;
            });
        }
    })
}

/// One connection's stream, with the limit hyper's `header_read_timeout`
/// cannot give here: that one also runs while a connection is idle before a
/// request, and the harness keeps an idle connection open from the host's
/// start. This one starts when the bytes of a request begin to arrive and
/// ends when hyper hands the complete head to the service; past [`STALL`]
/// the read fails and hyper drops the connection.
///
/// It also bounds the head itself, so that the refusal is a JSON 431 like
/// every other error (hyper's own is bodiless): hyper's buffer is left larger.
struct StallGuard {
    inner: tokio::net::TcpStream,
    /// Heads handed to the service so far (the service counts them).
    heads: Arc<AtomicU64>,
    seen: u64,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The current head, as read so far.
    head: HeadScan,
}

/// A request head being read: its bytes so far and whether its blank line
/// (CRLF CRLF, or LF LF as hyper takes it) came, found byte by byte across
/// reads, with no copy.
#[derive(Default)]
struct HeadScan {
    bytes: usize,
    done: bool,
    /// The last four bytes seen.
    last: u32,
}

impl HeadScan {
    fn feed(&mut self, new: &[u8]) {
        const CRLFCRLF: u32 = u32::from_be_bytes(*b"\r\n\r\n");
        const LFLF: u32 = u16::from_be_bytes(*b"\n\n") as u32;
        for &b in new {
            if self.done {
                return;
            }
            self.bytes += 1;
            self.last = (self.last << 8) | u32::from(b);
            self.done = self.last == CRLFCRLF || self.last & 0xffff == LFLF;
        }
    }
}

impl StallGuard {
    fn new(inner: tokio::net::TcpStream) -> StallGuard {
        StallGuard {
            inner,
            heads: Arc::new(AtomicU64::new(0)),
            seen: 0,
            deadline: None,
            head: HeadScan::default(),
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let heads = this.heads.load(Ordering::Relaxed);
        if heads != this.seen {
            // A head was complete: the request in progress is being served.
            this.seen = heads;
            this.deadline = None;
            this.head = HeadScan::default();
        }
        if let Some(deadline) = this.deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client stalled mid-request",
                )));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if !matches!(polled, Poll::Ready(Ok(()))) || buf.filled().len() == before {
            return polled;
        }
        this.head.feed(&buf.filled()[before..]);
        if this.head.bytes > MAX_HEAD {
            let body = format!(
                "{{\"error\":\"request head larger than {MAX_HEAD} bytes: send the request with few headers\"}}"
            );
            let refusal = format!(
                "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            // The connection is idle on its writing side: a short answer fits.
            let _ = this.inner.try_write(refusal.as_bytes());
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too large",
            )));
        }
        // A head that came whole needs no deadline (the usual request): one
        // is set only while a head is still unfinished.
        if !this.head.done && this.deadline.is_none() {
            let mut deadline = Box::pin(tokio::time::sleep(STALL));
            // Registers the wake-up, so a client that sends nothing more is noticed.
            let _ = deadline.as_mut().poll(cx);
            this.deadline = Some(deadline);
        }
        polled
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A tenant id fit for a path and a log: 1 to 64 of `[A-Za-z0-9_-]`.
fn valid_tenant(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A name that could be a workload's: 1 to 64 of `[a-z0-9-]`. Whether it is
/// one is the guest's to say.
fn plausible_workload(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// True when the request announces a body (none is served).
fn announces_body<B>(req: &Request<B>) -> bool {
    let headers = req.headers();
    headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(hyper::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().iter().any(|b| *b != b'0'))
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let escaped = message
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ");
    json(status, format!("{{\"error\":\"{escaped}\"}}"))
}

fn route(host: &Mutex<Host>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut host = match host.lock() {
        Ok(host) => host,
        Err(poisoned) => poisoned.into_inner(),
    };
    if announces_body(req) {
        let mut refused = error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request bodies are not served (limit 0 bytes): send the request without one",
        );
        refused.headers_mut().insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("close"),
        );
        return refused;
    }
    let segments: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    if let ["t" | "r", tenant, ..] = segments.as_slice() {
        if !valid_tenant(tenant) {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("a tenant id is 1 to {MAX_NAME} of [A-Za-z0-9_-]"),
            );
        }
    }
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["health"]) => json(
            StatusCode::OK,
            format!(
                "{{\"variant\":\"{}\",\"tenants\":{}}}",
                host.options().variant.name(),
                host.tenants()
            ),
        ),
        (&Method::GET, ["t" | "r", _, "run", workload]) if !plausible_workload(workload) => error(
            StatusCode::NOT_FOUND,
            &format!("unknown workload: a name is 1 to {MAX_NAME} of [a-z0-9-]"),
        ),
        (&Method::GET, [kind @ ("t" | "r"), tenant, "run", workload]) => match host
            .handle(
                tenant,
                workload,
                if *kind == "r" { Start::Restore } else { Start::Cold },
            )
            .and_then(|a| a.body())
        {
            Ok(body) => json(StatusCode::OK, body),
            Err(HostError::UnknownWorkload) => error(
                StatusCode::NOT_FOUND,
                &format!("unknown workload {workload:?}"),
            ),
            Err(e @ HostError::Full(_)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            Err(e @ HostError::NoSnapshot) => error(StatusCode::NOT_FOUND, &e.to_string()),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (&Method::DELETE, ["t", tenant]) => {
            if host.remove(tenant) {
                Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_default()
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    &format!("no instance for tenant {tenant:?}"),
                )
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "use GET /t/<tenant>/run/<workload>, GET /r/<tenant>/run/<workload>, DELETE /t/<tenant> or GET /health",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::HeadScan;

    #[test]
    fn a_head_ends_at_its_blank_line_however_it_is_split() {
        let head = b"GET /t/a/run/hello HTTP/1.1\r\nhost: x\r\n\r\nbody";
        for split in 0..head.len() {
            let mut scan = HeadScan::default();
            scan.feed(&head[..split]);
            scan.feed(&head[split..]);
            assert!(scan.done, "split at {split}");
            assert_eq!(scan.bytes, head.len() - 4, "split at {split}");
        }
        let mut lf = HeadScan::default();
        lf.feed(b"GET / HTTP/1.1\n\n");
        assert!(lf.done);
        let mut partial = HeadScan::default();
        partial.feed(b"GET / HTTP/1.1\r\nhost: x\r\n");
        assert!(!partial.done);
    }
}
