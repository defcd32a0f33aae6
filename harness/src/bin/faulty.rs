//! `coldbench-faulty`: a function server that misbehaves on purpose, for the
//! tests of the harness's fault handling. Never a target in a report.
//!
//! Usage: `coldbench-faulty --mode MODE --listen ADDR`, MODE one of
//! `never-ready`, `exit-at-start`, `wrong-answer`, `always-cold`,
//! `crash-after-first`, `hang-after-first`, `hog-after-first` (touches
//! 512 MiB on its second request), `garbage`, `fixed-id`, `ok`.

use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.iter().any(|a| a == "--version") {
        println!("coldbench-faulty {}", env!("CARGO_PKG_VERSION"));
        return;
    }
    let mode = arg("--mode").unwrap_or_else(|| "ok".into());
    let listen = arg("--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    match mode.as_str() {
        "never-ready" => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
        "exit-at-start" => {
            eprintln!("faulty: giving up at start on purpose");
            std::process::exit(3);
        }
        _ => {}
    }
    let listener = TcpListener::bind(&listen).expect("bind");
    let id = match mode.as_str() {
        "fixed-id" => "1-fixed".to_string(),
        _ => format!(
            "{}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .elapsed()
                .map(|d| d.as_nanos())
                .unwrap_or(0)
                ^ 0x5eed
        ),
    };
    let mut answered = 0u32;
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while let Ok(n) = s.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                buf.drain(..end + 4);
                let workload = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.strip_prefix("/run/"))
                    .unwrap_or("hello")
                    .to_string();
                if answered >= 1 {
                    match mode.as_str() {
                        "crash-after-first" => std::process::exit(4),
                        "hang-after-first" => loop {
                            std::thread::sleep(std::time::Duration::from_secs(3600));
                        },
                        "hog-after-first" => {
                            // Every page written, so that it is resident.
                            let hog = vec![1u8; 512 << 20];
                            std::hint::black_box(&hog);
                        }
                        _ => {}
                    }
                }
                let cold = answered == 0 || mode == "always-cold";
                let result = match mode.as_str() {
                    "wrong-answer" => "\"Hello, wrong world!\"".to_string(),
                    _ => coldbench_workload::Workload::from_name(&workload)
                        .map(|w| w.run_json())
                        .unwrap_or_else(|| "null".into()),
                };
                let body = if mode == "garbage" {
                    "this is not json".to_string()
                } else {
                    coldbench_workload::response_json(&id, cold, 1, &result)
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if s.write_all(reply.as_bytes()).is_err() {
                    break;
                }
                answered += 1;
            }
        }
    }
}
