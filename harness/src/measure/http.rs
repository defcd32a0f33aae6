//! The harness's HTTP/1.1 client: blocking, one keep-alive connection per
//! instance, responses parsed by `httparse` (hyper's parser).
//!
//! Why not hyper or reqwest: this client is the measuring instrument, and it
//! needs three things an async client does not give. The readiness poll sleeps
//! for tens of microseconds (tokio's timer has a 1 ms resolution); the
//! connection that answers the poll carries the first request, so the cold
//! path makes no extra connection; and the time of the last byte is taken at
//! the read that delivered it, with no executor between the socket and the
//! clock. The overhead of this client is measured on every run
//! ([`crate::measure::calibrate`]).
//!
//! After sending, the client busy-polls the socket for a short while
//! ([`SPIN`]) before it blocks. A blocked thread is woken some tens of
//! microseconds after the reply arrives (an inter-processor wake-up, costly in
//! a VM); that delay belongs to the measuring machine, not to the target, and
//! spinning keeps it out of short measurements. Long requests block after the
//! spin, and pay one wake-up on a far larger figure.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Where an instance is reached: an address, the `Host` header, and a path
/// prefix (a host holding many tenants tells them apart by either).
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// TCP address.
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host: String,
    /// Put before `/run/<workload>`, e.g. `/t/<tenant>`.
    pub path_prefix: String,
}

impl Endpoint {
    /// An instance of its own on `addr`, no prefix.
    pub fn direct(addr: SocketAddr) -> Endpoint {
        Endpoint {
            addr,
            host: addr.to_string(),
            path_prefix: String::new(),
        }
    }

    /// The request bytes for `GET <prefix>/run/<workload>`.
    pub fn request(&self, workload: &str) -> Vec<u8> {
        format!(
            "GET {}/run/{workload} HTTP/1.1\r\nhost: {}\r\n\r\n",
            self.path_prefix, self.host
        )
        .into_bytes()
    }
}

/// A complete response and the moment its last byte was read.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body, de-chunked.
    pub body: Vec<u8>,
    /// Monotonic time right after the read that completed the body.
    pub received_at: Instant,
}

/// A request that got no complete response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The peer closed or reset the connection before any byte of a response.
    #[error("connection closed before a response")]
    Closed,
    /// The deadline passed.
    #[error("no response within {0:.1?}")]
    Timeout(Duration),
    /// Some other socket error.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// Bytes that are not an HTTP/1.1 response, or a response cut short.
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// How long a request busy-polls for its reply before blocking.
pub const SPIN: Duration = Duration::from_micros(300);

/// One keep-alive connection.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Reads what is there without blocking: `None` when nothing is (yet).
pub fn read_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<Option<usize>> {
    use nix::sys::socket::{recv, MsgFlags};
    use std::os::fd::AsRawFd;
    match recv(stream.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT) {
        Ok(n) => Ok(Some(n)),
        Err(nix::errno::Errno::EAGAIN) => Ok(None),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Reads into `buf`: busy-polls until `spin_until`, then blocks until `deadline`.
pub fn read_spin(
    stream: &mut TcpStream,
    buf: &mut [u8],
    spin_until: Instant,
    deadline: Instant,
) -> io::Result<usize> {
    loop {
        if Instant::now() < spin_until {
            match read_now(stream, buf)? {
                Some(n) => return Ok(n),
                None => {
                    std::hint::spin_loop();
                    continue;
                }
            }
        }
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(io::Error::from(ErrorKind::TimedOut));
        }
        stream.set_read_timeout(Some(remaining))?;
        return stream.read(buf);
    }
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

impl Conn {
    /// Connects with a timeout; `TCP_NODELAY` on.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1)))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Whether the peer has closed the connection (or it failed): servers
    /// may close a keep-alive connection that sat idle. Does not block and
    /// consumes nothing.
    pub fn peer_closed(&self) -> bool {
        use nix::sys::socket::{recv, MsgFlags};
        use std::os::fd::AsRawFd;
        let mut byte = [0u8; 1];
        match recv(
            self.stream.as_raw_fd(),
            &mut byte,
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_PEEK,
        ) {
            Ok(0) => true,
            Ok(_) | Err(nix::errno::Errno::EAGAIN) => false,
            Err(_) => true,
        }
    }

    /// Sends `request` and reads one whole response, by `deadline`.
    pub fn request(&mut self, request: &[u8], deadline: Instant) -> Result<Response, HttpError> {
        let started = Instant::now();
        self.buf.clear();
        self.stream.write_all(request).map_err(closed_or_io)?;
        let spin_until = Instant::now() + SPIN;
        let mut head: Option<(usize, u16, Framing)> = None;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = match read_spin(&mut self.stream, &mut chunk, spin_until, deadline) {
                Ok(n) => n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(HttpError::Timeout(started.elapsed()))
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if self.buf.is_empty() => return Err(closed_or_io(e)),
                Err(e) => return Err(HttpError::Io(e)),
            };
            let received_at = Instant::now();
            if n == 0 {
                return match head {
                    Some((len, status, Framing::UntilClose)) => Ok(Response {
                        status,
                        body: self.buf[len..].to_vec(),
                        received_at,
                    }),
                    _ if self.buf.is_empty() => Err(HttpError::Closed),
                    _ => Err(HttpError::Malformed(format!(
                        "connection closed after {} bytes of a response",
                        self.buf.len()
                    ))),
                };
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if head.is_none() {
                head = parse_head(&self.buf)?;
            }
            if let Some((len, status, framing)) = &head {
                let body = match framing {
                    Framing::Length(want) if self.buf.len() >= len + want => {
                        Some(self.buf[*len..len + want].to_vec())
                    }
                    Framing::Chunked => dechunk(&self.buf[*len..])?,
                    _ => None,
                };
                if let Some(body) = body {
                    return Ok(Response {
                        status: *status,
                        body,
                        received_at,
                    });
                }
            }
        }
    }
}

fn closed_or_io(e: io::Error) -> HttpError {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted => {
            HttpError::Closed
        }
        _ => HttpError::Io(e),
    }
}

fn parse_head(buf: &[u8]) -> Result<Option<(usize, u16, Framing)>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    // 1xx, 204 and 304 responses never have a body (RFC 9112, 6.3).
    if matches!(status, 100..=199 | 204 | 304) {
        return Ok(Some((len, status, Framing::Length(0))));
    }
    let mut framing = Framing::UntilClose;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| HttpError::Malformed("bad content-length".into()))?;
            framing = Framing::Length(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value.eq_ignore_ascii_case(b"chunked")
        {
            framing = Framing::Chunked;
        }
    }
    Ok(Some((len, status, framing)))
}

/// The body of a complete chunked message, `None` while incomplete.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut body = Vec::new();
    loop {
        let (start, size) = match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete(v)) => v,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(HttpError::Malformed("bad chunk size".into())),
        };
        let size = size as usize;
        if data.len() < start + size + 2 {
            return Ok(None);
        }
        if size == 0 {
            return Ok(Some(body));
        }
        body.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// The shortest connect attempt: time enough for a handshake with a slow
/// (emulated) guest.
pub const CONNECT_MIN: Duration = Duration::from_millis(10);

/// How the cold path waits for an instance: connect attempts, spaced by an
/// interval that grows with the time already waited. The interval bounds the
/// error of a cold measurement: readiness is seen at most one interval late.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Poll {
    /// The first and smallest interval.
    pub min: Duration,
    /// The largest interval.
    pub max: Duration,
    /// Interval as a fraction of the time waited so far.
    pub fraction: f64,
}

impl Default for Poll {
    fn default() -> Poll {
        Poll {
            min: Duration::from_micros(50),
            max: Duration::from_millis(5),
            fraction: 0.02,
        }
    }
}

impl Poll {
    /// The interval after `waited`: `clamp(waited × fraction, min, max)`.
    pub fn interval(&self, waited: Duration) -> Duration {
        waited.mul_f64(self.fraction).clamp(self.min, self.max)
    }

    /// One-line description for reports.
    pub fn describe(&self) -> String {
        format!(
            "connect attempts every max({:?}, {:.0}% of the time waited), at most {:?} apart; \
             an attempt that gets no answer (a SYN dropped by a guest not yet up) is given up after \
             the same interval, and no less than {:?}",
            self.min,
            self.fraction * 100.0,
            self.max,
            CONNECT_MIN
        )
    }
}

/// The first response of a new instance, on the connection that got it.
#[derive(Debug)]
pub struct Ready {
    /// Keep-alive connection for the warm requests.
    pub conn: Conn,
    /// The first (cold) response.
    pub response: Response,
    /// Connection attempts made.
    pub attempts: u32,
}

/// The instance never answered.
#[derive(Debug, thiserror::Error)]
pub enum ReadyError {
    /// Deadline passed with no response.
    #[error("not ready within {waited:.1?} ({attempts} connection attempts; last: {last})")]
    Timeout {
        /// Time waited.
        waited: Duration,
        /// Connection attempts.
        attempts: u32,
        /// The last thing that went wrong.
        last: String,
    },
    /// The liveness check said the instance is gone (exited, crashed).
    #[error("{0}")]
    Gone(String),
    /// Connected and got something that is not a response.
    #[error(transparent)]
    Http(HttpError),
}

/// Polls `endpoint` until it answers `request`, the `alive` check fails, or
/// `deadline` passes. A refused, reset or closed connection means "not ready
/// yet"; a malformed response is an error.
pub fn first_response(
    endpoint: &Endpoint,
    request: &[u8],
    poll: &Poll,
    started: Instant,
    deadline: Instant,
    mut alive: impl FnMut() -> Result<(), String>,
) -> Result<Ready, ReadyError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        // A SYN to an address whose owner is not up yet (a VM's NIC) is
        // dropped, not refused: give up on it after one poll interval (and
        // no less than a handshake needs), so readiness is still seen at
        // most an interval late.
        let connect_timeout = poll
            .interval(started.elapsed())
            .max(CONNECT_MIN)
            .min(deadline.saturating_duration_since(Instant::now()));
        let last = match Conn::connect(endpoint.addr, connect_timeout) {
            Ok(mut conn) => match conn.request(request, deadline) {
                Ok(response) => {
                    return Ok(Ready {
                        conn,
                        response,
                        attempts,
                    })
                }
                Err(HttpError::Closed) => "connection closed before a response".to_string(),
                Err(HttpError::Timeout(_)) => {
                    return Err(ReadyError::Timeout {
                        waited: started.elapsed(),
                        attempts,
                        last: "connected, but no response".into(),
                    })
                }
                Err(e) => return Err(ReadyError::Http(e)),
            },
            Err(e) => format!("connect: {e}"),
        };
        alive().map_err(ReadyError::Gone)?;
        let now = Instant::now();
        if now >= deadline {
            return Err(ReadyError::Timeout {
                waited: now - started,
                attempts,
                last,
            });
        }
        let pause = poll.interval(now - started).min(deadline - now);
        std::thread::sleep(pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(reply: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).unwrap();
            // Dribble the reply out in pieces to exercise partial reads.
            for part in reply.chunks(7) {
                s.write_all(part).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        addr
    }

    fn get(addr: SocketAddr) -> Result<Response, HttpError> {
        let mut conn = Conn::connect(addr, Duration::from_secs(1)).unwrap();
        let req = Endpoint::direct(addr).request("hello");
        conn.request(&req, Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn reads_a_content_length_body_in_pieces() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
        let r = get(addr).unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    }

    #[test]
    fn reads_a_chunked_body() {
        let addr = serve_once(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
        );
        assert_eq!(get(addr).unwrap().body, b"hello");
    }

    #[test]
    fn a_204_has_no_body_even_without_content_length() {
        let addr = serve_once(b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n");
        let r = get(addr).unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
    }

    #[test]
    fn a_response_cut_short_is_malformed() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nhello");
        assert!(matches!(get(addr), Err(HttpError::Malformed(_))));
    }

    #[test]
    fn a_silent_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut conn = Conn::connect(addr, Duration::from_secs(1)).unwrap();
        let err = conn
            .request(
                b"GET / HTTP/1.1\r\n\r\n",
                Instant::now() + Duration::from_millis(50),
            )
            .unwrap_err();
        assert!(matches!(err, HttpError::Timeout(_)), "{err}");
    }

    #[test]
    fn the_poll_interval_grows_within_its_bounds() {
        let p = Poll::default();
        assert_eq!(p.interval(Duration::ZERO), p.min);
        assert_eq!(
            p.interval(Duration::from_millis(100)),
            Duration::from_millis(2)
        );
        assert_eq!(p.interval(Duration::from_secs(100)), p.max);
    }

    #[test]
    fn polling_a_closed_port_ends_at_the_deadline_or_when_not_alive() {
        let addr = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let ep = Endpoint::direct(addr);
        let start = Instant::now();
        let err = first_response(
            &ep,
            b"",
            &Poll::default(),
            start,
            start + Duration::from_millis(30),
            || Ok(()),
        )
        .unwrap_err();
        assert!(
            matches!(err, ReadyError::Timeout { attempts, .. } if attempts > 1),
            "{err}"
        );
        let err = first_response(
            &ep,
            b"",
            &Poll::default(),
            start,
            start + Duration::from_secs(5),
            || Err("exited with status 3".into()),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "exited with status 3");
    }

    #[test]
    fn a_connection_the_peer_closed_is_told_from_an_open_one() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let conn = Conn::connect(listener.local_addr().unwrap(), Duration::from_secs(1)).unwrap();
        let (server_side, _) = listener.accept().unwrap();
        assert!(!conn.peer_closed(), "open and idle");
        drop(server_side);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !conn.peer_closed() {
            assert!(Instant::now() < deadline, "the close was never seen");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
