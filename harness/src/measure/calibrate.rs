//! The harness measures itself, as hyperfine calibrates its shell: round trips
//! of its HTTP client to a trivial listener inside the harness. The figure is
//! reported beside every run; it is a floor under every warm latency, not
//! subtracted from it (a platform's client pays it too).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::http::{Conn, Endpoint};

/// The harness's own cost of one request/response on loopback.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Calibration {
    /// Requests timed (after a warm-up).
    pub n: usize,
    /// Median round trip.
    pub round_trip_p50_ns: u64,
    /// 90th percentile round trip.
    pub round_trip_p90_ns: u64,
    /// Fastest round trip.
    pub round_trip_min_ns: u64,
    /// What was measured.
    pub method: String,
}

/// Times `n` keep-alive round trips to an in-process listener that answers
/// with a hello-sized protocol reply.
pub fn client_round_trip(n: usize) -> std::io::Result<Calibration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let body =
        coldbench_workload::response_json("0-0000000000000000", false, 0, "\"Hello, world!\"");
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
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
    });
    let request = Endpoint::direct(addr).request("hello");
    let mut conn = Conn::connect(addr, Duration::from_secs(1))?;
    let deadline = || Instant::now() + Duration::from_secs(5);
    let warmup = n / 10 + 10;
    let mut times = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let t0 = Instant::now();
        let r = conn
            .request(&request, deadline())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        if i >= warmup {
            times.push((r.received_at - t0).as_nanos() as u64);
        }
    }
    drop(conn);
    let _ = server.join();
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(Calibration {
        n,
        round_trip_p50_ns: at(0.5),
        round_trip_p90_ns: at(0.9),
        round_trip_min_ns: times[0],
        method: "keep-alive GET round trips of the harness client to a listener thread inside the harness (loopback)".into(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn calibration_gives_ordered_positive_figures() {
        let c = super::client_round_trip(50).unwrap();
        assert!(c.round_trip_min_ns > 0);
        assert!(c.round_trip_min_ns <= c.round_trip_p50_ns);
        assert!(c.round_trip_p50_ns <= c.round_trip_p90_ns);
    }
}
