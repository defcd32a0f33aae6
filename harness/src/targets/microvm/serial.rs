//! The guest's serial console: a thread reads the VMM's stdout, keeps every
//! line in the VM's serial log, and stamps the boot markers the init writes
//! (`COLDBENCH <stage> <guest ns>`) with the host's clock as they arrive.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A boot marker: stage, the guest's CLOCK_MONOTONIC, the host's arrival time.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    /// `init`, `modules`, `net`, `listen`, or `fail …`.
    pub stage: String,
    /// Guest time, ns since the kernel's clock started.
    pub guest_ns: u64,
    /// When the host read the line.
    pub arrived: Instant,
}

/// The reader of one VM's console.
pub struct Console {
    markers: Arc<Mutex<Vec<Marker>>>,
    thread: Option<JoinHandle<()>>,
}

/// Parses `COLDBENCH <stage> <ns>`.
pub fn parse(line: &str) -> Option<(String, u64)> {
    let rest = line.trim().strip_prefix("COLDBENCH ")?;
    let (stage, ns) = rest.rsplit_once(' ')?;
    Some((stage.to_string(), ns.parse().ok()?))
}

impl Console {
    /// Starts reading `output` (the VMM's stdout) into `log`.
    pub fn start(output: impl Read + Send + 'static, log: &Path) -> std::io::Result<Console> {
        let mut file = File::create(log)?;
        let markers = Arc::new(Mutex::new(Vec::new()));
        let sink = markers.clone();
        let thread = std::thread::spawn(move || {
            for line in BufReader::new(output).split(b'\n').map_while(Result::ok) {
                let arrived = Instant::now();
                let _ = file.write_all(&line);
                let _ = file.write_all(b"\n");
                if let Some((stage, guest_ns)) = parse(&String::from_utf8_lossy(&line)) {
                    if let Ok(mut m) = sink.lock() {
                        m.push(Marker {
                            stage,
                            guest_ns,
                            arrived,
                        });
                    }
                }
            }
        });
        Ok(Console {
            markers,
            thread: Some(thread),
        })
    }

    /// The markers so far.
    pub fn markers(&self) -> Vec<Marker> {
        self.markers.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Waits (at most `patience`) for the marker of `stage`.
    pub fn wait_for(&self, stage: &str, patience: Duration) -> Option<Marker> {
        let until = Instant::now() + patience;
        loop {
            if let Some(m) = self.markers().into_iter().find(|m| m.stage == stage) {
                return Some(m);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Lets the reader finish (call after the VMM exited).
    pub fn finish(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_parsed_and_stamped_and_everything_is_logged() {
        assert_eq!(
            parse("COLDBENCH init 841029935"),
            Some(("init".into(), 841_029_935))
        );
        assert_eq!(parse("[ 0.2] PCI: Fatal"), None);
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serial.log");
        let text: &[u8] = b"[    0.25] kernel noise\nCOLDBENCH init 100\nCOLDBENCH listen 250\n";
        let console = Console::start(text, &log).unwrap();
        let listen = console.wait_for("listen", Duration::from_secs(5)).unwrap();
        assert_eq!(listen.guest_ns, 250);
        let stages: Vec<String> = console.markers().into_iter().map(|m| m.stage).collect();
        assert_eq!(stages, ["init", "listen"]);
        console.finish();
        assert_eq!(std::fs::read(&log).unwrap(), text);
    }
}
