//! What the user sees while a run goes: a progress bar on a terminal, plain
//! lines elsewhere (CI logs), nothing in tests.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Receives the run's events.
pub trait Progress {
    /// The run begins with this many cells.
    fn begin(&mut self, _cells: u64) {}
    /// The run adds this many cells (more rounds for precision).
    fn more(&mut self, _cells: u64) {}
    /// A cell finished; `line` summarises it.
    fn cell_done(&mut self, _line: &str) {}
    /// Something the user should read now.
    fn note(&mut self, _message: &str) {}
    /// The run ended.
    fn finish(&mut self) {}
}

/// Says nothing.
pub struct Silent;
impl Progress for Silent {}

/// One line per event on stderr.
pub struct Lines {
    done: u64,
    total: u64,
}

impl Progress for Lines {
    fn begin(&mut self, cells: u64) {
        self.total = cells;
    }
    fn more(&mut self, cells: u64) {
        self.total += cells;
    }
    fn cell_done(&mut self, line: &str) {
        self.done += 1;
        eprintln!("[{}/{}] {line}", self.done, self.total);
    }
    fn note(&mut self, message: &str) {
        eprintln!("{message}");
    }
}

/// An indicatif bar with the last cell as its message.
pub struct Bar(ProgressBar);

impl Progress for Bar {
    fn begin(&mut self, cells: u64) {
        self.0.set_length(cells);
    }
    fn more(&mut self, cells: u64) {
        self.0.inc_length(cells);
    }
    fn cell_done(&mut self, line: &str) {
        self.0.set_message(line.to_string());
        self.0.inc(1);
    }
    fn note(&mut self, message: &str) {
        self.0.println(message);
    }
    fn finish(&mut self) {
        self.0.finish_and_clear();
    }
}

/// A bar when stderr is a terminal, else plain lines.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} cells  {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        Box::new(Bar(bar))
    } else {
        Box::new(Lines { done: 0, total: 0 })
    }
}
