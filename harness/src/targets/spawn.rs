//! Child processes of targets (instances, hosts): each in a process group of
//! its own, its output appended to the target's log, killed with its whole
//! group, and checked to be gone.

use crate::envelope::Confined;
use crate::run::conditions::Placement;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Availability, Context, Facts, TargetError, Usage};
use crate::measure::http::{first_response, Ready};
use crate::measure::proc;

/// A target's log file: `results/<run>/logs/<target>.log`.
pub struct Log {
    path: PathBuf,
    file: File,
}

impl Log {
    /// Opens (appends to) the log of target `name`.
    pub fn open(ctx: &Context, name: &str) -> Result<Log, TargetError> {
        let path = ctx.log_dir.join(format!("{name}.log"));
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TargetError::Prepare(format!("cannot open {}: {e}", path.display())))?;
        Ok(Log { path, file })
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current length: pass it to [`Log::since`] later.
    pub fn offset(&self) -> u64 {
        self.file.metadata().map(|m| m.len()).unwrap_or(0)
    }

    /// What was written after `offset`, as `; its output: …` (or nothing).
    pub fn since(&self, offset: u64) -> String {
        telling_lines(&self.path, offset)
    }

    /// A handle on the log for a child's stdout or stderr.
    pub fn stdio(&self) -> Result<Stdio, TargetError> {
        self.file
            .try_clone()
            .map(Stdio::from)
            .map_err(|e| TargetError::Start(format!("cannot share {}: {e}", self.path.display())))
    }
}

/// What `path` holds after `offset`, as `; its output: …` (or nothing):
/// the lines that say fatal, error, panic or abort if there are any (a
/// runtime's last words come before its stack trace), else the last ones.
pub fn telling_lines(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.seek(SeekFrom::Start(offset));
        let _ = f.take(64 * 1024).read_to_string(&mut text);
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let telling: Vec<&str> = lines
        .iter()
        .filter(|l| {
            let l = l.to_lowercase();
            ["fatal", "error", "panic", "abort", "exception", "fail"]
                .iter()
                .any(|w| l.contains(w))
        })
        .take(3)
        .copied()
        .collect();
    let chosen = if telling.is_empty() {
        &lines[lines.len().saturating_sub(4)..]
    } else {
        &telling[..]
    };
    if chosen.is_empty() {
        String::new()
    } else {
        format!(
            "; its output: {}",
            crate::spec::truncate(&chosen.join(" | "), 600)
        )
    }
}

/// A running child in its own process group.
pub struct Spawned {
    child: Child,
    program: String,
    /// The group's processes as first seen by a reading: finding them scans
    /// /proc, too slow to repeat around every warm request.
    members: std::sync::OnceLock<Vec<u32>>,
    /// The cgroup holding it to the run's envelope, removed after it.
    confined: Option<Confined>,
}

impl Spawned {
    /// Spawns `program args…` with `env` added to the environment, stdin
    /// closed, stdout and stderr to `log`; inside `confined` (its cgroup,
    /// held to the run's envelope), if given.
    pub fn spawn(
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Log,
        mut confined: Option<Confined>,
    ) -> Result<Spawned, TargetError> {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.stdio()?)
            .stderr(log.stdio()?)
            .process_group(0);
        let child = match &mut confined {
            Some(c) => c.spawn(&mut cmd),
            None => Placement::spawn(|| cmd.spawn()),
        }
        .map_err(|e| TargetError::Start(format!("cannot spawn {}: {e}", program.display())))?;
        Ok(Spawned {
            child,
            program: program.display().to_string(),
            members: Default::default(),
            confined,
        })
    }

    /// Takes charge of a child spawned elsewhere into `confined` (see
    /// [`Spawned::adopt`]), so that the cgroup goes after it.
    pub fn adopt_confined(child: Child, program: &str, confined: Option<Confined>) -> Spawned {
        let mut spawned = Spawned::adopt(child, program);
        spawned.confined = confined;
        spawned
    }

    /// Why it died, if its envelope's memory limit killed it.
    pub fn fault(&self) -> Option<String> {
        self.confined.as_ref()?.fault()
    }

    /// Takes charge of a child spawned elsewhere (in its own process group,
    /// `process_group(0)`), so that it is killed with its group like the rest.
    pub fn adopt(child: Child, program: &str) -> Spawned {
        Spawned {
            child,
            program: program.to_string(),
            members: Default::default(),
            confined: None,
        }
    }

    /// Pid of the child (and id of its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with the exit status once the child has exited.
    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("{} exited ({status})", self.program)),
            _ => Ok(()),
        }
    }

    /// The exit status, if it exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The exit status once it exits, waiting at most `patience`.
    pub fn wait_exit(&mut self, patience: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + patience;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the whole group and reaps the child.
    pub fn kill(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }

    /// Kills the group and checks that none of it is left.
    pub fn stop(mut self) -> Result<(), TargetError> {
        let pgid = self.child.id();
        self.kill();
        let left = proc::group_members(pgid);
        if left.is_empty() {
            Ok(())
        } else {
            Err(TargetError::Cleanup(format!(
                "processes {left:?} of {} (group {pgid}) still running after SIGKILL",
                self.program
            )))
        }
    }

    /// CPU so far of the process group (its processes as first seen here:
    /// the servers measured start no processes once they serve), once its
    /// threads are idle (at most 5 ms: a thread still finishing a request has
    /// not been accounted yet), without reading memory.
    pub fn cpu_ns(&self) -> Option<u64> {
        let members = self.members();
        proc::settle(members, std::time::Duration::from_millis(5));
        proc::cpu_of(members)
    }

    /// CPU so far (as [`Spawned::cpu_ns`] reads it) and memory now, summed
    /// over the process group.
    pub fn usage(&self) -> Usage {
        Usage {
            cpu_ns: self.cpu_ns(),
            mem: proc::memory_of(self.members()),
            extra: Vec::new(),
        }
    }

    fn members(&self) -> &[u32] {
        self.members
            .get_or_init(|| proc::group_members(self.child.id()))
    }
}

impl Drop for Spawned {
    // Whatever path drops a child (an error, a panic), nothing stays running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// A server process started on a free loopback port, and its first answer.
pub struct Launched {
    /// The process (its group is killed when this is dropped).
    pub process: Spawned,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The connection that got the first answer, and the answer.
    pub ready: Ready,
}

/// What `prepare` gives a target that starts programs: its log and the
/// run's context, held as one `Option<Prepared>`, so a target is prepared
/// whole or not at all, and asking before `prepare` is checked in one place.
pub struct Prepared {
    /// Where its programs' output goes.
    pub log: Log,
    /// The run's folders, poll interval and cancel flag.
    pub ctx: Context,
}

impl Prepared {
    /// The preparation, or the error of a target asked to start before it.
    pub fn of(prepared: &Option<Prepared>) -> Result<&Prepared, TargetError> {
        prepared
            .as_ref()
            .ok_or_else(|| TargetError::Start("target was not prepared".into()))
    }

    /// Where the log is now (0 before `prepare`), to quote what came after.
    pub fn log_offset(prepared: &Option<Prepared>) -> u64 {
        prepared.as_ref().map_or(0, |p| p.log.offset())
    }

    /// What the log got since `offset` ("" before `prepare`).
    pub fn log_since(prepared: &Option<Prepared>, offset: u64) -> String {
        prepared
            .as_ref()
            .map(|p| p.log.since(offset))
            .unwrap_or_default()
    }
}

/// What to run, for a process instance or a shared host alike.
#[derive(Clone, Debug)]
pub struct LaunchSpec {
    /// Program: a path, or a name looked up on `PATH`.
    pub program: PathBuf,
    /// Arguments; `{listen}` becomes `127.0.0.1:<port>`.
    pub args: Vec<String>,
    /// Added to its environment.
    pub env: Vec<(String, String)>,
    /// Said when the program is missing: how to get it.
    pub missing_hint: String,
}

impl LaunchSpec {
    /// Whether the program runs here, with its version (or the hint).
    pub fn availability(&self) -> Availability {
        version(&self.program, &self.missing_hint)
    }

    /// The program's path, or the hint as a preparation error.
    pub fn resolve(&self) -> Result<PathBuf, TargetError> {
        resolve(&self.program).ok_or_else(|| TargetError::Prepare(self.missing_hint.clone()))
    }

    /// Spawns the program (`{listen}` in its arguments becomes
    /// `127.0.0.1:<free port>`) and polls `GET path` from `asked_at` until
    /// the server answers, exits, the run is interrupted, or `deadline`
    /// passes; inside `confined`, if given. On failure the process is
    /// killed and the error carries what it printed.
    pub fn launch(
        &self,
        path: &str,
        log: &Log,
        ctx: &Context,
        confined: Option<Confined>,
        asked_at: Instant,
        deadline: Instant,
    ) -> Result<Launched, TargetError> {
        let log_from = log.offset();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let listen = addr.to_string();
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| a.replace("{listen}", &listen))
            .collect();
        let mut process = Spawned::spawn(&self.program, &args, &self.env, log, confined)?;
        let endpoint = crate::measure::http::Endpoint::direct(addr);
        let request = format!("GET {path} HTTP/1.1\r\nhost: {listen}\r\n\r\n").into_bytes();
        let ready = first_response(&endpoint, &request, &ctx.poll, asked_at, deadline, || {
            if ctx.cancelled() {
                return Err("interrupted".into());
            }
            process.alive().map_err(|e| format!("{e} before answering"))
        });
        match ready {
            Ok(ready) => Ok(Launched {
                process,
                addr,
                ready,
            }),
            Err(e) => {
                process.kill();
                let oom = process
                    .fault()
                    .map(|f| format!("{f}; "))
                    .unwrap_or_default();
                Err(TargetError::Start(format!(
                    "{oom}{e}{}",
                    log.since(log_from)
                )))
            }
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> Result<u16, TargetError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| TargetError::Start(format!("no free port: {e}")))
}

/// `program` if it is a path to a file, else its first match on `PATH`.
pub fn resolve(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_path_buf());
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Available with what `program --version` prints, or unavailable with why.
pub fn version(program: &Path, missing_hint: &str) -> Availability {
    let Some(path) = resolve(program) else {
        return Availability::Unavailable {
            reason: missing_hint.to_string(),
        };
    };
    match Command::new(&path).arg("--version").output() {
        Ok(out) if out.status.success() => Availability::Available {
            version: String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
        },
        Ok(out) => Availability::Unavailable {
            reason: format!(
                "{} --version failed ({}): {}",
                path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        },
        Err(e) => Availability::Unavailable {
            reason: format!("cannot run {}: {e}; {missing_hint}", path.display()),
        },
    }
}

/// Records a file's path, size and sha256 under `key` in `facts`.
pub fn file_facts(facts: &mut Facts, key: &str, path: &Path) -> Result<Vec<u8>, TargetError> {
    let bytes = std::fs::read(path)
        .map_err(|e| TargetError::Prepare(format!("cannot read {}: {e}", path.display())))?;
    facts.insert(key.into(), json!(path.display().to_string()));
    facts.insert(format!("{key}_bytes"), json!(bytes.len()));
    facts.insert(
        format!("{key}_sha256"),
        json!(format!("{:x}", Sha256::digest(&bytes))),
    );
    Ok(bytes)
}
