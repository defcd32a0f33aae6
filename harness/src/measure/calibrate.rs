//! The harness measures itself, as hyperfine calibrates its shell.
//!
//! A listener thread inside the harness answers a hello-sized protocol reply.
//! Two clients take turns against it, in alternating blocks so drift hits
//! both alike: a bare socket client (write the request, read the known number
//! of reply bytes, waiting the same way, nothing else) and the harness's own
//! HTTP client. The bare
//! round trip is the floor set by the kernel's loopback and thread wake-ups,
//! which every client pays; the difference of the medians is what the
//! harness's client adds on top: its overhead. Neither is subtracted from any
//! measurement; both are reported.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::http::{read_spin, Conn, Endpoint, SPIN};
use crate::stats::{self, Rank};

/// The harness's own cost of one request/response on loopback.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Calibration {
    /// Round trips timed per client (after a warm-up).
    pub n: usize,
    /// Median round trip of the bare socket client (a reference: a listener on
    /// the same cores, not a lower bound for other servers).
    pub bare_p50_ns: u64,
    /// Median round trip of the harness's client.
    pub client_p50_ns: u64,
    /// 90th percentile of the harness's client: the exact order statistic
    /// ([`crate::stats::Rank::Lower`]), not an HDR bucket as in summary.csv.
    pub client_p90_ns: u64,
    /// `client_p50_ns - bare_p50_ns`: what the harness adds.
    pub overhead_p50_ns: i64,
    /// What was measured.
    pub method: String,
}

const BLOCK: usize = 100;

/// Times `n` round trips of each client (rounded up to whole blocks).
pub fn client_round_trip(n: usize) -> std::io::Result<Calibration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let body =
        coldbench_workload::response_json("0-0000000000000000", false, 0, "\"Hello, world!\"");
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let reply_len = reply.len();
    // One blocking thread per connection, as a plain server would answer.
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let mut handlers = Vec::new();
        for _ in 0..2 {
            let (mut s, _) = listener.accept()?;
            s.set_nodelay(true)?;
            let reply = reply.clone();
            handlers.push(std::thread::spawn(move || -> std::io::Result<()> {
                let mut buf = [0u8; 1024];
                let mut pending = Vec::new();
                loop {
                    let n = s.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        s.write_all(reply.as_bytes())?;
                    }
                }
            }));
        }
        for h in handlers {
            let _ = h.join();
        }
        Ok(())
    });
    let mut bare = TcpStream::connect(addr)?;
    bare.set_nodelay(true)?;
    let mut conn = Conn::connect(addr, Duration::from_secs(1))?;
    let request = Endpoint::direct(addr).request("hello");
    let blocks = n.div_ceil(BLOCK);
    let (mut bare_times, mut client_times) = (Vec::new(), Vec::new());
    let mut reply_buf = vec![0u8; reply_len];
    for block in 0..blocks + 1 {
        let warmup = block == 0;
        for _ in 0..BLOCK {
            let t0 = Instant::now();
            bare.write_all(&request)?;
            // The same wait as the harness's client (spin, then block), and
            // nothing else: no parsing, no bookkeeping.
            let (spin_until, deadline) = (t0 + SPIN, t0 + Duration::from_secs(5));
            let mut got = 0;
            while got < reply_len {
                match read_spin(&mut bare, &mut reply_buf[got..], spin_until, deadline)? {
                    0 => return Err(std::io::Error::other("listener closed")),
                    n => got += n,
                }
            }
            if !warmup {
                bare_times.push(t0.elapsed().as_nanos() as u64);
            }
        }
        for _ in 0..BLOCK {
            let t0 = Instant::now();
            let r = conn
                .request(&request, Instant::now() + Duration::from_secs(5))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            if !warmup {
                client_times.push((r.received_at - t0).as_nanos() as u64);
            }
        }
    }
    drop((bare, conn));
    let _ = server.join();
    stats::sort(&mut bare_times);
    stats::sort(&mut client_times);
    // Exact order statistics, the lower neighbour (as every median is): the
    // reported figures are round trips that were timed.
    let at = |sorted: &[u64], q: f64| {
        stats::quantile_sorted(sorted, q, Rank::Lower)
            .ok_or_else(|| std::io::Error::other("calibration timed no round trips (n = 0)"))
    };
    let bare_p50 = at(&bare_times, 0.5)?;
    let client_p50 = at(&client_times, 0.5)?;
    Ok(Calibration {
        n: client_times.len(),
        bare_p50_ns: bare_p50,
        client_p50_ns: client_p50,
        client_p90_ns: at(&client_times, 0.9)?,
        overhead_p50_ns: client_p50 as i64 - bare_p50 as i64,
        method: "alternating blocks of keep-alive round trips to a listener thread inside the harness: a bare socket client (the reference) and the harness's HTTP client; overhead = difference of the medians".into(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn calibration_gives_ordered_positive_figures() {
        let c = super::client_round_trip(200).unwrap();
        assert_eq!(c.n, 200);
        assert!(c.bare_p50_ns > 0 && c.client_p50_ns > 0);
        assert!(c.client_p50_ns <= c.client_p90_ns);
        assert_eq!(
            c.overhead_p50_ns,
            c.client_p50_ns as i64 - c.bare_p50_ns as i64
        );
    }
}
