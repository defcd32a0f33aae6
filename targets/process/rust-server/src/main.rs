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
//! As a microVM's `/init` it first brings up the guest (vm_init.rs).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

use coldbench_workload::{response_json, Workload, NAMES};

mod vm_init;

const USAGE: &str =
    "usage: coldbench-fn [--listen ADDR]   (default 127.0.0.1:8080, or $COLDBENCH_LISTEN)";

fn main() {
    let mut listen = std::env::var("COLDBENCH_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let vm = vm_init::requested();
    if vm {
        listen = vm_init::boot();
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
        instance: instance_id(),
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

/// `<pid>-<64 random bits>`, made here at start, never by the harness. Inside a
/// container the pid is 1, so the random part is what makes it unique. The
/// bits come from std's per-thread hash seed (the getrandom syscall), which
/// needs no /dev/urandom in an empty rootfs or an initramfs.
fn instance_id() -> String {
    use std::hash::{BuildHasher, RandomState};
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let bits = RandomState::new().hash_one(nanos);
    format!("{}-{:016x}", std::process::id(), bits)
}

struct Server {
    instance: String,
    cold: bool,
}

impl Server {
    /// Serves one keep-alive connection until the client closes it.
    fn serve(&mut self, mut stream: TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        loop {
            // Parse what is buffered; read more only when a request is partial.
            let parsed = {
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut req = httparse::Request::new(&mut headers);
                match req.parse(&buf) {
                    Ok(httparse::Status::Complete(len)) => {
                        let close = req.headers.iter().any(|h| {
                            h.name.eq_ignore_ascii_case("connection")
                                && h.value.eq_ignore_ascii_case(b"close")
                        });
                        let reply = self.respond(req.method.unwrap_or(""), req.path.unwrap_or(""));
                        Some((len, reply, close))
                    }
                    Ok(httparse::Status::Partial) => None,
                    Err(e) => {
                        let body = format!("{{\"error\":\"bad request: {e}\"}}");
                        stream.write_all(&http_response(400, &body))?;
                        return Ok(());
                    }
                }
            };
            match parsed {
                Some((len, reply, close)) => {
                    buf.drain(..len);
                    stream.write_all(&reply)?;
                    if close {
                        return Ok(());
                    }
                }
                None => {
                    let n = stream.read(&mut chunk)?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }

    fn respond(&mut self, method: &str, path: &str) -> Vec<u8> {
        if method != "GET" {
            return http_response(405, "{\"error\":\"only GET is served\"}");
        }
        let name = path.split('?').next().unwrap_or("").strip_prefix("/run/");
        let workload = match name.and_then(Workload::from_name) {
            Some(w) => w,
            None => {
                let body = format!(
                    "{{\"error\":\"unknown path {path:?}: use GET /run/<workload>, workload one of {NAMES:?}\"}}"
                );
                return http_response(404, &body);
            }
        };
        let started = Instant::now();
        let result = workload.run_json();
        let compute_ns = started.elapsed().as_nanos() as u64;
        let body = response_json(&self.instance, self.cold, compute_ns, &result);
        self.cold = false;
        http_response(200, &body)
    }
}

fn http_response(status: u16, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let mut out = Vec::with_capacity(96 + body.len());
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    out
}
