//! `coldbench-fn`: the Rust workload behind the coldbench invocation protocol.
//!
//! ```text
//! GET /run/<workload>  ->  200 {"instance":"<id>","cold":true,"compute_ns":N,"result":...}
//! ```
//!
//! One binary, built static, runs unchanged as a plain process, inside a
//! container rootfs and as a microVM's init. It is deliberately small: no
//! async runtime, no threads, one connection at a time (an instance serves one
//! request at a time, as a Lambda instance does). What the harness measures at
//! a cold start is exec, bind and the first request, nothing more.
//!
//! It refuses what it does not serve, and goes on serving: a head over 16 KiB
//! (431), a request body (413: a body is never read as the next request), a
//! malformed head (400), a client that stalls mid-request for 10 s (408),
//! counting a new connection that sends nothing as a stalled request (one
//! connection at a time: it would hold the instance); each answered with a
//! JSON error body, then the connection closes. An idle keep-alive
//! connection after a request is not limited: the harness holds one.
//!
//! As a microVM's `/init` it first brings up the guest (vm_init.rs).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use coldbench_workload::{error_json, response_json, Workload, NAMES};

mod vm_init;

const USAGE: &str =
    "usage: coldbench-fn [--listen ADDR]   (default 127.0.0.1:8080, or $COLDBENCH_LISTEN)";

fn main() {
    let mut listen = std::env::var("COLDBENCH_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let vm = vm_init::requested();
    if vm {
        listen = vm_init::boot();
        if let Some(cmd) = vm_init::exec_requested(&listen) {
            vm_init::exec(&cmd);
        }
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => match args.next() {
                Some(addr) => listen = addr,
                None => fail(USAGE),
            },
            "--version" => {
                println!("coldbench-fn {}", env!("CARGO_PKG_VERSION"));
                return;
            }
            _ => fail(USAGE),
        }
    }
    let listener = match TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => fail(&format!("coldbench-fn: cannot listen on {listen}: {e}")),
    };
    if vm {
        vm_init::marker("listen");
    }
    let mut server = Server {
        instance: None,
        cold: true,
    };
    for stream in listener.incoming() {
        match stream {
            // A broken connection ends that connection, never the instance.
            Ok(stream) => {
                let _ = server.serve(stream);
            }
            Err(e) => eprintln!("coldbench-fn: accept: {e}"),
        }
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(2)
}

/// `<pid>-<64 random bits>`, made here, never by the harness, when the
/// instance answers its first request: an instance restored from a snapshot
/// taken before that (phase `restore`) makes its own after the restore.
/// Inside a container or a VM the pid is 1, so the random part is what makes
/// it unique. The bits come from std's per-thread hash seed (the getrandom
/// syscall, which needs no /dev/urandom in an empty rootfs or an initramfs),
/// mixed with the CPU's RDRAND where it has one: a VM restored twice from
/// one snapshot holds one kernel generator state, and until the kernel
/// reseeds, getrandom gives both the same bytes; the CPU's do not repeat.
fn instance_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let bits = RandomState::new().hash_one((nanos, cpu_random()));
    format!("{}-{:016x}", std::process::id(), bits)
}

/// 64 bits from the CPU's own generator (RDRAND), or none without one.
fn cpu_random() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("rdrand") {
            // SAFETY: the CPU has RDRAND (checked just above).
            return unsafe { rdrand() };
        }
    }
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "rdrand")]
unsafe fn rdrand() -> Option<u64> {
    let mut value = 0u64;
    // Intel's guidance: retry a few times on a transient underflow.
    (0..10).find_map(|_| (std::arch::x86_64::_rdrand64_step(&mut value) == 1).then_some(value))
}

/// The longest request head served; a longer one gets 431 and the connection
/// closes. The harness's requests are well under 200 bytes.
const MAX_HEAD: usize = 16 * 1024;
/// How long a client may wait between the bytes of a request it has begun
/// (or, on a new connection, before its first byte); then it gets 408 and is
/// dropped. An idle keep-alive connection
/// between requests is not limited: the harness holds one per instance.
const STALL: Duration = Duration::from_secs(10);
/// After refusing a request, how much of what the client still sends is read
/// and discarded, so that it sees the answer rather than a reset.
const LINGER_BYTES: usize = 64 * 1024;
const LINGER: Duration = Duration::from_secs(1);

struct Server {
    /// Made at the first answer ([`instance_id`]).
    instance: Option<String>,
    cold: bool,
}

/// What became of one request head.
enum Outcome {
    /// Answered; the connection stays open unless `close`.
    Answer { reply: Vec<u8>, close: bool },
    /// Refused: answered, then the connection closes.
    Refuse(Vec<u8>),
}

impl Server {
    /// Serves one keep-alive connection until the client closes it, or a
    /// request is refused, or a client stalls mid-request.
    fn serve(&mut self, mut stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        // One timeout for the connection's life, set once: a read that waits
        // past it is a stalled request, unless the connection is idle after
        // a request (then the wait goes on).
        stream.set_read_timeout(Some(STALL))?;
        let mut buf: Vec<u8> = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        // Bytes of `buf` already searched for the end of the head: each byte
        // is looked at about once, however the request arrives.
        let mut scanned = 0;
        let mut served = false;
        loop {
            if let Some(end) = head_end(&buf, scanned) {
                // A head that ends in the read that took it past the bound.
                if end > MAX_HEAD {
                    return refuse(stream, &head_too_large());
                }
                let outcome = self.handle(&buf[..end]);
                buf.drain(..end);
                scanned = 0;
                match outcome {
                    Outcome::Answer { reply, close } => {
                        stream.write_all(&reply)?;
                        served = true;
                        if close {
                            return Ok(());
                        }
                    }
                    Outcome::Refuse(reply) => return refuse(stream, &reply),
                }
                continue;
            }
            if buf.len() > MAX_HEAD {
                return refuse(stream, &head_too_large());
            }
            scanned = buf.len().saturating_sub(2);
            match stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                // Idle between requests: wait as long as the client likes.
                // A new connection that sends nothing is a stalled first
                // request: with one connection at a time it would hold the
                // instance.
                Err(e) if is_timeout(&e) && buf.is_empty() && served => continue,
                Err(e) if is_timeout(&e) => {
                    let body = error_json(&format!(
                        "request incomplete after {} s: the connection is closed",
                        STALL.as_secs()
                    ));
                    return refuse(stream, &http_response(408, &body, true));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Parses one complete request head and answers it.
    fn handle(&mut self, head: &[u8]) -> Outcome {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => {
                return refused(400, "malformed request head".into());
            }
            Err(httparse::Error::TooManyHeaders) => {
                return refused(431, "more than 32 header fields".into());
            }
            Err(e) => return refused(400, format!("bad request: {e}")),
        }
        let mut close = false;
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close") {
                close = true;
            }
            // A body would otherwise be read as the next request: none is
            // served, so a request that announces one is refused.
            let announces_body = h.name.eq_ignore_ascii_case("transfer-encoding")
                || (h.name.eq_ignore_ascii_case("content-length")
                    && h.value
                        .iter()
                        .any(|b| *b != b'0' && !b.is_ascii_whitespace()));
            if announces_body {
                return refused(
                    413,
                    "request bodies are not served (limit 0 bytes): send GET /run/<workload> without one".into(),
                );
            }
        }
        let reply = self.respond(req.method.unwrap_or(""), req.path.unwrap_or(""));
        Outcome::Answer { reply, close }
    }

    fn respond(&mut self, method: &str, path: &str) -> Vec<u8> {
        if method != "GET" {
            return http_response(405, &error_json("only GET is served"), false);
        }
        let name = path.split('?').next().unwrap_or("").strip_prefix("/run/");
        let workload = match name.and_then(Workload::from_name) {
            Some(w) => w,
            None => {
                let shown: String = path.chars().take(200).collect();
                let body = error_json(&format!(
                    "unknown path {shown}: use GET /run/<workload>, workload one of {}",
                    NAMES.join(", ")
                ));
                return http_response(404, &body, false);
            }
        };
        // Before the clock: making the id is not the workload's compute.
        let instance: &str = self.instance.get_or_insert_with(instance_id);
        let started = Instant::now();
        let result = workload.run_json();
        let compute_ns = started.elapsed().as_nanos() as u64;
        let body = response_json(instance, self.cold, compute_ns, &result);
        self.cold = false;
        http_response(200, &body, false)
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The refusal of a head over [`MAX_HEAD`].
fn head_too_large() -> Vec<u8> {
    let body = error_json(&format!(
        "request head larger than {MAX_HEAD} bytes: send GET /run/<workload> with few headers"
    ));
    http_response(431, &body, true)
}

/// The end of the first request head in `buf` (just past its blank line),
/// searching from `from`; bare LF line ends count too, as httparse takes them.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if buf[i] == b'\n' {
            match (buf.get(i + 1), buf.get(i + 2)) {
                (Some(b'\n'), _) => return Some(i + 2),
                (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn refused(status: u16, message: String) -> Outcome {
    Outcome::Refuse(http_response(status, &error_json(&message), true))
}

/// Sends a refusal and closes: writing side first, then what the client still
/// sends is read and discarded within a bound, so it reads the answer rather
/// than a connection reset.
fn refuse(mut stream: TcpStream, reply: &[u8]) -> io::Result<()> {
    stream.write_all(reply)?;
    stream.shutdown(Shutdown::Write)?;
    stream.set_read_timeout(Some(LINGER))?;
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < LINGER_BYTES && started.elapsed() < LINGER {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    Ok(())
}

fn http_response(status: u16, body: &str, close: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let connection = if close { "connection: close\r\n" } else { "" };
    let mut out = Vec::with_capacity(128 + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{connection}\r\n{body}",
        body.len()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nGET", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\nrest", 0), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n", 0), None);
        // Resuming two bytes back finds a terminator split across reads.
        let buf = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(head_end(buf, buf.len() - 2 - 2), Some(buf.len()));
    }

    #[test]
    fn bodies_and_bad_heads_are_refused() {
        let mut server = Server {
            instance: Some("t".into()),
            cold: true,
        };
        let status = |o: Outcome| match o {
            Outcome::Answer { reply, .. } => {
                (String::from_utf8_lossy(&reply[9..12]).to_string(), false)
            }
            Outcome::Refuse(reply) => (String::from_utf8_lossy(&reply[9..12]).to_string(), true),
        };
        let smuggle = b"GET /run/hello HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(status(server.handle(smuggle)), ("413".into(), true));
        let chunked = b"GET /run/hello HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(status(server.handle(chunked)), ("413".into(), true));
        let empty = b"GET /run/hello HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(status(server.handle(empty)), ("200".into(), false));
        assert_eq!(
            status(server.handle(b"NOT HTTP\r\n\r\n")),
            ("400".into(), true)
        );
        assert_eq!(
            status(server.handle(b"GET /run/constructor HTTP/1.1\r\n\r\n")),
            ("404".into(), false)
        );
    }
}
