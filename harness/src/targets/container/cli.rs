//! The runtime CLIs, run by the container targets: timed (in a cold path,
//! with a deadline) or untimed, and the CPU they used.

use crate::run::conditions::Placement;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::super::spawn::Log;

/// Runs `program args…` with its output to `log`, killed at `deadline`.
pub(super) fn exec(
    program: &str,
    args: &[&str],
    log: &Log,
    deadline: Instant,
) -> Result<ExitStatus, String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.stdio().map_err(|e| e.to_string())?)
        .stderr(log.stdio().map_err(|e| e.to_string())?);
    let mut child =
        Placement::spawn(|| cmd.spawn()).map_err(|e| format!("cannot run {program}: {e}"))?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{program} {} did not finish in time",
                args.first().unwrap_or(&"")
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Runs a short untimed command to its end, stdin closed.
fn run(program: &str, args: &[&str]) -> Result<std::process::Output, String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))
}

/// Output of a short untimed command, or why it failed.
pub(super) fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = run(program, args)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// stdout and stderr of a short untimed command, together.
pub(super) fn combined_output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = run(program, args)?;
    let mut text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.trim().is_empty() {
        if !text.is_empty() {
            text.push_str(" | ");
        }
        text.push_str(err.trim());
    }
    Ok(text)
}

/// CPU time of the harness's children that have been reaped (the runtime
/// CLIs), in nanoseconds.
pub(super) fn reaped_children_cpu_ns() -> u64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| {
            let t = |tv: nix::sys::time::TimeVal| {
                tv.tv_sec() as u64 * 1_000_000_000 + tv.tv_usec() as u64 * 1000
            };
            t(u.user_time()) + t(u.system_time())
        })
        .unwrap_or(0)
}
