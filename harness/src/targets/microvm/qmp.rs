//! The few QEMU Machine Protocol exchanges a snapshot needs: QMP is one
//! JSON object a line over a Unix socket (the greeting, then a reply to each
//! command, with asynchronous events in between, which are skipped here).
//! Every read is bounded by the caller's deadline.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A QMP session, past the capabilities negotiation.
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    deadline: Instant,
    /// The events read while waiting for replies, by name, in order.
    events: Vec<String>,
}

/// The longest line read from QEMU (replies here are a few hundred bytes;
/// `query-migrate` the longest).
const MAX_LINE: usize = 64 * 1024;

impl Qmp {
    /// Connects to `socket` (retrying while QEMU has not made it yet, until
    /// `deadline`) and enters command mode.
    pub fn connect(socket: &Path, deadline: Instant) -> Result<Qmp, String> {
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => {
                    return Err(format!("QMP socket {}: {e}", socket.display()))
                }
                Err(_) => std::thread::sleep(Duration::from_micros(500)),
            }
        };
        let writer = stream.try_clone().map_err(|e| format!("QMP socket: {e}"))?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
            deadline,
            events: Vec::new(),
        };
        let greeting = qmp.read()?;
        if greeting.get("QMP").is_none() {
            return Err(format!("not a QMP greeting: {greeting}"));
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    /// The next reply, the events before it kept by name.
    fn read(&mut self) -> Result<Value, String> {
        loop {
            let value = self.read_line()?;
            match value.get("event").and_then(Value::as_str) {
                Some(event) => self.events.push(event.to_string()),
                None => return Ok(value),
            }
        }
    }

    /// Waits for the event `name` (which may have come already).
    pub fn wait_event(&mut self, name: &str) -> Result<(), String> {
        while !self.events.iter().any(|e| e == name) {
            let value = self.read_line()?;
            if let Some(event) = value.get("event").and_then(Value::as_str) {
                self.events.push(event.to_string());
            }
        }
        Ok(())
    }

    fn read_line(&mut self) -> Result<Value, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("QMP: no reply before the deadline".into());
        }
        self.reader
            .get_ref()
            .set_read_timeout(Some(left))
            .map_err(|e| format!("QMP: {e}"))?;
        let mut line = Vec::new();
        let n = std::io::Read::take(&mut self.reader, MAX_LINE as u64)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("QMP: {e}"))?;
        if n == 0 {
            return Err("QMP: QEMU closed the socket".into());
        }
        let value: Value = serde_json::from_slice(&line).map_err(|e| {
            format!(
                "QMP: not JSON ({e}): {}",
                crate::spec::truncate(&String::from_utf8_lossy(&line), 200)
            )
        })?;
        Ok(value)
    }

    /// Runs `command` with `arguments`; its `return`, or QEMU's error.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let mut message = json!({ "execute": command });
        if arguments.as_object().is_some_and(|a| !a.is_empty()) {
            message["arguments"] = arguments;
        }
        let mut line = message.to_string();
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .map_err(|e| format!("QMP {command}: {e}"))?;
        let reply = self.read()?;
        match (reply.get("return"), reply.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (None, Some(e)) => Err(format!(
                "QMP {command}: {}",
                e.get("desc").and_then(Value::as_str).unwrap_or("error")
            )),
            _ => Err(format!("QMP {command}: unexpected reply {reply}")),
        }
    }

    /// Sets the migration capability `name` on.
    pub fn capability(&mut self, name: &str) -> Result<(), String> {
        self.execute(
            "migrate-set-capabilities",
            json!({ "capabilities": [{ "capability": name, "state": true }] }),
        )
        .map(drop)
    }

    /// Waits until the outgoing migration finished; its failure's reason.
    pub fn wait_migrated(&mut self) -> Result<(), String> {
        loop {
            let state = self.execute("query-migrate", json!({}))?;
            match state.get("status").and_then(Value::as_str) {
                Some("completed") => return Ok(()),
                Some(s @ ("failed" | "cancelled")) => {
                    return Err(format!(
                        "migration {s}: {}",
                        state
                            .get("error-desc")
                            .and_then(Value::as_str)
                            .unwrap_or("no reason given")
                    ))
                }
                _ if Instant::now() >= self.deadline => {
                    return Err(format!("migration not done before the deadline: {state}"))
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn replies_are_read_past_events_and_errors_carry_qemus_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let fake = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            let mut lines = BufReader::new(stream).lines();
            out.write_all(b"{\"QMP\": {\"version\": {}}}\n").unwrap();
            let mut seen = Vec::new();
            while let Some(Ok(line)) = lines.next() {
                let v: Value = serde_json::from_str(&line).unwrap();
                let reply = match v["execute"].as_str().unwrap() {
                    "qmp_capabilities" => "{\"return\": {}}\n".to_string(),
                    "query-migrate" => {
                        "{\"event\": \"MIGRATION\"}\n{\"return\": {\"status\": \"completed\"}}\n"
                            .to_string()
                    }
                    other => format!(
                        "{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"no {other}\"}}}}\n"
                    ),
                };
                seen.push(v);
                out.write_all(reply.as_bytes()).unwrap();
            }
            seen
        });
        let mut qmp = Qmp::connect(&path, Instant::now() + Duration::from_secs(5)).unwrap();
        qmp.wait_migrated().unwrap();
        let err = qmp.capability("x-ignore-shared").unwrap_err();
        assert!(err.contains("no migrate-set-capabilities"), "{err}");
        drop(qmp);
        let seen = fake.join().unwrap();
        assert_eq!(
            seen[2]["arguments"]["capabilities"][0]["capability"],
            "x-ignore-shared"
        );
    }
}
