//! Family `process`: one OS process per instance, no shared host. The
//! baseline every other family is compared with.
//!
//! - `process`: the static Rust function server (`artifacts/coldbench-fn`);
//! - `node`: the JavaScript workload served by Node.js.
//!
//! Each instance is spawned in a process group of its own, reached on a free
//! loopback port, and killed with its whole group at stop.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    Accounting, Availability, Context, Facts, Family, Instance, StartRequest, Started, Target,
    TargetError, Usage,
};
use crate::measure::http::{first_response, Endpoint, Poll};
use crate::measure::proc;
use crate::paths::Paths;

/// How to launch one kind of process instance.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// Registry name.
    pub name: String,
    /// Program: a path, or a name looked up on `PATH`.
    pub program: PathBuf,
    /// Arguments; `{listen}` is replaced by the instance's `host:port`.
    pub args: Vec<String>,
    /// Said when the program is missing: how to get it.
    pub missing_hint: String,
}

/// A target whose instances are plain processes.
pub struct ProcessTarget {
    spec: ProcessSpec,
    family: Family,
    log: Option<(PathBuf, File)>,
    poll: Poll,
    ctx: Option<Context>,
}

struct ProcessInstance {
    child: Child,
}

impl ProcessInstance {
    fn pgid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    /// Kills the whole process group and reaps the leader.
    fn kill(&mut self) {
        let _ = killpg(self.pgid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for ProcessInstance {
    // Whatever path drops an instance (an error, a panic), nothing stays running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

impl ProcessTarget {
    /// `process`: the static native function server.
    pub fn native(paths: &Paths) -> ProcessTarget {
        ProcessTarget::new(ProcessSpec {
            name: "process".into(),
            program: paths.artifact("coldbench-fn"),
            args: vec!["--listen".into(), "{listen}".into()],
            missing_hint: "the static function server is not built: run `just build`".into(),
        })
    }

    /// `node`: the JavaScript workload under Node.js.
    pub fn node(paths: &Paths) -> ProcessTarget {
        let server = paths.root.join("targets/process/node/server.mjs");
        ProcessTarget::new(ProcessSpec {
            name: "node".into(),
            program: "node".into(),
            args: vec![
                server.display().to_string(),
                "--listen".into(),
                "{listen}".into(),
            ],
            missing_hint:
                "node is not on PATH: install Node.js (`just setup` does: apt-get install nodejs)"
                    .into(),
        })
    }

    /// Any program that speaks the protocol (tests use a faulty server).
    pub fn new(spec: ProcessSpec) -> ProcessTarget {
        ProcessTarget {
            spec,
            family: Family::Process,
            log: None,
            poll: Poll::default(),
            ctx: None,
        }
    }

    fn program(&self) -> Option<PathBuf> {
        resolve(&self.spec.program)
    }

    fn log_tail(&self, from: u64) -> String {
        let Some((path, _)) = &self.log else {
            return String::new();
        };
        let mut text = String::new();
        if let Ok(mut f) = File::open(path) {
            let _ = f.seek(SeekFrom::Start(from));
            let _ = f.take(4096).read_to_string(&mut text);
        }
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!(
                "; its output: {}",
                crate::spec::truncate(text, 400).replace('\n', " | ")
            )
        }
    }
}

/// `program` if it is a path to a file, else its first match on `PATH`.
fn resolve(program: &Path) -> Option<PathBuf> {
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

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// True when an ELF file has no program interpreter, i.e. is statically linked.
fn is_static_elf(bytes: &[u8]) -> Option<bool> {
    if bytes.get(..4)? != b"\x7fELF" || *bytes.get(4)? != 2 {
        return None; // not a 64-bit ELF
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(bytes.get(o..o + 2)?.try_into().ok()?));
    let phoff = u64::from_le_bytes(bytes.get(0x20..0x28)?.try_into().ok()?) as usize;
    let (size, count) = (u16_at(0x36)? as usize, u16_at(0x38)? as usize);
    let has_interp = (0..count).any(|i| {
        let o = phoff + i * size;
        bytes.get(o..o + 4) == Some(&3u32.to_le_bytes()) // PT_INTERP
    });
    Some(!has_interp)
}

impl Target for ProcessTarget {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn family(&self) -> Family {
        self.family
    }

    fn availability(&self) -> Availability {
        let Some(program) = self.program() else {
            return Availability::Unavailable {
                reason: self.spec.missing_hint.clone(),
            };
        };
        match Command::new(&program).arg("--version").output() {
            Ok(out) if out.status.success() => Availability::Available {
                version: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            },
            Ok(out) => Availability::Unavailable {
                reason: format!(
                    "{} --version failed ({}): {}",
                    program.display(),
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            },
            Err(e) => Availability::Unavailable {
                reason: format!(
                    "cannot run {}: {e}; {}",
                    program.display(),
                    self.spec.missing_hint
                ),
            },
        }
    }

    fn prepare(&mut self, ctx: &Context) -> Result<Facts, TargetError> {
        let program = self
            .program()
            .ok_or_else(|| TargetError::Prepare(self.spec.missing_hint.clone()))?;
        let log_path = ctx.log_dir.join(format!("{}.log", self.spec.name));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| {
                TargetError::Prepare(format!("cannot open {}: {e}", log_path.display()))
            })?;
        self.log = Some((log_path.clone(), log));
        self.poll = ctx.poll;
        self.ctx = Some(ctx.clone());
        let bytes = std::fs::read(&program)
            .map_err(|e| TargetError::Prepare(format!("cannot read {}: {e}", program.display())))?;
        let mut facts = Facts::new();
        facts.insert("program".into(), json!(program.display().to_string()));
        facts.insert("args".into(), json!(self.spec.args));
        facts.insert("program_bytes".into(), json!(bytes.len()));
        facts.insert(
            "program_sha256".into(),
            json!(format!("{:x}", Sha256::digest(&bytes))),
        );
        if let Some(static_elf) = is_static_elf(&bytes) {
            facts.insert("static".into(), json!(static_elf));
        }
        facts.insert("log".into(), json!(log_path.display().to_string()));
        Ok(facts)
    }

    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let (_, log) = self
            .log
            .as_ref()
            .ok_or_else(|| TargetError::Start("target was not prepared".into()))?;
        let log_from = log.metadata().map(|m| m.len()).unwrap_or(0);
        let port = free_port().map_err(|e| TargetError::Start(format!("no free port: {e}")))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let listen = addr.to_string();
        let out = |f: &File| f.try_clone().map(Stdio::from);
        let (stdout, stderr) = match (out(log), out(log)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => return Err(TargetError::Start("cannot share the log file".into())),
        };
        let child = Command::new(&self.spec.program)
            .args(
                self.spec
                    .args
                    .iter()
                    .map(|a| a.replace("{listen}", &listen)),
            )
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| {
                TargetError::Start(format!("cannot spawn {}: {e}", self.spec.program.display()))
            })?;
        let mut instance = ProcessInstance { child };
        let endpoint = Endpoint::direct(addr);
        let request = endpoint.request(req.workload);
        let ctx = self.ctx.clone();
        let ready = first_response(
            &endpoint,
            &request,
            &self.poll,
            req.asked_at,
            req.deadline,
            || {
                if ctx.as_ref().is_some_and(|c| c.cancelled()) {
                    return Err("interrupted".into());
                }
                match instance.child.try_wait() {
                    Ok(Some(status)) => Err(format!("exited ({status}) before answering")),
                    _ => Ok(()),
                }
            },
        );
        match ready {
            Ok(ready) => Ok(Started {
                instance: Instance {
                    endpoint,
                    conn: Some(ready.conn),
                    handle: Box::new(instance),
                },
                response: ready.response,
            }),
            Err(e) => {
                instance.kill();
                Err(TargetError::Start(format!(
                    "{e}{}",
                    self.log_tail(log_from)
                )))
            }
        }
    }

    fn measure(&mut self, instance: &Instance) -> Usage {
        let Some(p) = instance.handle.downcast_ref::<ProcessInstance>() else {
            return Usage::default();
        };
        let (cpu_ns, mem) = proc::usage_of(&proc::group_members(p.child.id()));
        Usage { cpu_ns, mem }
    }

    fn stop(&mut self, instance: Instance) -> Result<(), TargetError> {
        let Instance { conn, handle, .. } = instance;
        drop(conn);
        let mut p = handle
            .downcast::<ProcessInstance>()
            .map_err(|_| TargetError::Cleanup("not a process instance".into()))?;
        let pgid = p.child.id();
        p.kill();
        let left = proc::group_members(pgid);
        if left.is_empty() {
            Ok(())
        } else {
            Err(TargetError::Cleanup(format!(
                "processes {left:?} of instance group {pgid} still running after SIGKILL"
            )))
        }
    }

    fn accounting(&self) -> Accounting {
        Accounting {
            cpu: "every process in the instance's process group, all threads (/proc/<pid>/task/*/schedstat, ns)".into(),
            memory: "PSS and RSS summed over the instance's process group (/proc/<pid>/smaps_rollup)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_dynamic_and_garbage_is_not_elf() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(is_static_elf(&me), Some(false));
        assert_eq!(is_static_elf(b"#!/bin/sh\n"), None);
    }

    #[test]
    fn a_missing_program_is_unavailable_with_the_hint() {
        let t = ProcessTarget::new(ProcessSpec {
            name: "x".into(),
            program: "/nonexistent/coldbench-nothing".into(),
            args: vec![],
            missing_hint: "build it with `just build`".into(),
        });
        assert_eq!(
            t.availability(),
            Availability::Unavailable {
                reason: "build it with `just build`".into()
            }
        );
        assert!(
            resolve(Path::new("sh")).is_some(),
            "sh must be found on PATH"
        );
    }
}
