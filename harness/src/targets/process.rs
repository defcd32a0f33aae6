//! Family `process`: one OS process per instance, no shared host. The
//! baseline every other family is compared with.
//!
//! - `process`: the static Rust function server (`artifacts/coldbench-fn`);
//! - `node`: the JavaScript workload served by Node.js.
//!
//! Each instance is spawned in a process group of its own, reached on a free
//! loopback port, and killed with its whole group at stop.

use serde_json::json;

use super::spawn::{self, LaunchSpec, Log, Prepared, Spawned};
use super::{
    Accounting, Availability, Context, Facts, Family, Instance, StartRequest, Started, Target,
    TargetError, Usage,
};
use crate::envelope::{Confined, Spare};
use crate::measure::http::Endpoint;
use crate::paths::Paths;

/// How to launch one kind of process instance.
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// Registry name.
    pub name: String,
    /// What an instance runs; `{listen}` in its arguments is replaced by the
    /// instance's `host:port`.
    pub launch: LaunchSpec,
    /// The family the instances belong to (`process`, or `isolate` for a
    /// whole workerd process per instance).
    pub family: Family,
}

/// A target whose instances are plain processes.
pub struct ProcessTarget {
    spec: ProcessSpec,
    prepared: Option<Prepared>,
    /// The next instance's cgroup under an envelope, made untimed.
    spare: Spare,
}

impl ProcessTarget {
    /// `process`: the static native function server.
    pub fn native(paths: &Paths) -> ProcessTarget {
        ProcessTarget::new(ProcessSpec {
            name: "process".into(),
            family: Family::Process,
            launch: LaunchSpec {
                program: paths.artifact("coldbench-fn"),
                args: vec!["--listen".into(), "{listen}".into()],
                env: Vec::new(),
                missing_hint: "the static function server is not built: run `just build`".into(),
            },
        })
    }

    /// `node`: the JavaScript workload under Node.js.
    pub fn node(paths: &Paths) -> ProcessTarget {
        let server = paths.root.join("targets/process/node/server.mjs");
        ProcessTarget::new(ProcessSpec {
            name: "node".into(),
            family: Family::Process,
            launch: LaunchSpec {
                program: "node".into(),
                args: vec![
                    server.display().to_string(),
                    "--listen".into(),
                    "{listen}".into(),
                ],
                env: Vec::new(),
                missing_hint:
                    "node is not on PATH: install Node.js (`just setup` does: apt-get install nodejs)"
                        .into(),
            },
        })
    }

    /// What an instance runs (tests start the same command by hand).
    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// Any program that speaks the protocol (tests use a faulty server).
    pub fn new(spec: ProcessSpec) -> ProcessTarget {
        ProcessTarget {
            spec,
            prepared: None,
            spare: Spare::default(),
        }
    }
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
        self.spec.family
    }

    fn availability(&self) -> Availability {
        self.spec.launch.availability()
    }

    fn prepare(&mut self, ctx: &Context) -> Result<Facts, TargetError> {
        let program = self.spec.launch.resolve()?;
        let log = Log::open(ctx, &self.spec.name)?;
        let mut facts = Facts::new();
        let bytes = spawn::file_facts(&mut facts, "program", &program)?;
        facts.insert("args".into(), json!(self.spec.launch.args));
        if let Some(static_elf) = is_static_elf(&bytes) {
            facts.insert("static".into(), json!(static_elf));
        }
        facts.insert("log".into(), json!(log.path().display().to_string()));
        self.prepared = Some(Prepared {
            log,
            ctx: ctx.clone(),
        });
        Ok(facts)
    }

    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let Prepared { log, ctx } = Prepared::of(&self.prepared)?;
        let path = format!("/run/{}", req.workload);
        let confined = self
            .spare
            .take(ctx.envelope.as_ref(), &self.spec.name, Confined::create)
            .map_err(TargetError::Start)?;
        let launched =
            self.spec
                .launch
                .launch(&path, log, ctx, confined, req.asked_at, req.deadline)?;
        Ok(Started {
            instance: Instance {
                endpoint: Endpoint::direct(launched.addr),
                conn: Some(launched.ready.conn),
                handle: Box::new(launched.process),
            },
            response: launched.ready.response,
            measures: Vec::new(),
        })
    }

    fn ready(&mut self) {
        if let Some(p) = &self.prepared {
            let envelope = p.ctx.envelope.as_ref();
            self.spare
                .ready(envelope, &self.spec.name, Confined::create);
        }
    }

    fn measure(&mut self, instance: &Instance) -> Usage {
        instance
            .state::<Spawned>()
            .map(Spawned::usage)
            .unwrap_or_default()
    }

    fn cpu_ns(&mut self, instance: &Instance) -> Option<u64> {
        instance.state::<Spawned>()?.cpu_ns()
    }

    fn fault(&mut self, instance: &Instance) -> Option<String> {
        instance.state::<Spawned>()?.fault()
    }

    fn stop(&mut self, instance: Instance) -> Result<(), TargetError> {
        instance.into_state::<Spawned>()?.stop()
    }

    fn accounting(&self) -> Accounting {
        Accounting {
            cpu: "every process in the instance's process group, all threads (the process CPU clock, ns; warm: from idle before the request to idle after the response)".into(),
            memory: "PSS and RSS summed over the instance's process group (/proc/<pid>/smaps_rollup)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
            family: Family::Process,
            launch: LaunchSpec {
                program: "/nonexistent/coldbench-nothing".into(),
                args: vec![],
                env: Vec::new(),
                missing_hint: "build it with `just build`".into(),
            },
        });
        assert_eq!(
            t.availability(),
            Availability::Unavailable {
                reason: "build it with `just build`".into()
            }
        );
        assert!(
            spawn::resolve(Path::new("sh")).is_some(),
            "sh must be found on PATH"
        );
    }
}
