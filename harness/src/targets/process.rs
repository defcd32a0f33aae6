//! Family `process`: one OS process per instance, no shared host. The
//! baseline every other family is compared with.
//!
//! - `process`: the static Rust function server (`artifacts/coldbench-fn`);
//! - `node`: the JavaScript workload served by Node.js.
//!
//! Each instance is spawned in a process group of its own, reached on a free
//! loopback port, and killed with its whole group at stop.
//!
//! `node` restores (phase `restore`) from a startup snapshot: `prepare` runs
//! `node --build-snapshot` on `targets/process/node/snapshot.cjs` (the
//! workload and the server compiled into the heap), and each restored
//! instance is a new `node --snapshot-blob` process that deserialises that
//! heap and starts serving; its id is made then, from OpenSSL's generator,
//! seeded in the new process (serve.cjs).

use serde_json::json;

use super::snapshot::{self, Snapshot};
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

/// How a process target's instances start from a snapshot.
#[derive(Clone, Debug)]
pub struct SnapshotSpec {
    /// The mechanism, in words.
    pub mechanism: String,
    /// The snapshot's file name in the target's snapshot folder.
    pub file: String,
    /// Makes it; `{snapshot}` in its arguments becomes the file.
    pub make: LaunchSpec,
    /// Starts an instance from it; `{snapshot}` and `{listen}` replaced.
    pub restore: LaunchSpec,
    /// What it is made from (a restore is refused once one changed).
    pub sources: Vec<std::path::PathBuf>,
}

/// A target whose instances are plain processes.
pub struct ProcessTarget {
    spec: ProcessSpec,
    prepared: Option<Prepared>,
    /// The next instance's cgroup under an envelope, made untimed.
    spare: Spare,
    /// How it restores, if it does.
    snapshot_spec: Option<SnapshotSpec>,
    /// The snapshot `prepare` made, or why it could not.
    snapshot: snapshot::Made<Restorable>,
}

/// A snapshot, and the command that restores an instance from it (its
/// `{snapshot}` replaced once, not on each restore's clock).
struct Restorable {
    made: Snapshot,
    launch: LaunchSpec,
}

impl AsRef<Snapshot> for Restorable {
    fn as_ref(&self) -> &Snapshot {
        &self.made
    }
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
        let dir = paths.root.join("targets/process/node");
        let server = dir.join("server.mjs");
        let (workload, serve) = (
            paths.root.join("workloads/js/workload.mjs"),
            dir.join("serve.cjs"),
        );
        let node = |args: Vec<String>| LaunchSpec {
            program: "node".into(),
            args,
            env: Vec::new(),
            missing_hint: NODE_HINT.into(),
        };
        let builder = dir.join("snapshot.cjs");
        let snapshot = SnapshotSpec {
            mechanism: "node's startup snapshot (node --build-snapshot of snapshot.cjs: the workload and server compiled into the heap; each instance a new node --snapshot-blob process, its id made after the heap is deserialised)".into(),
            file: "node.blob".into(),
            make: node(
                [
                    "--snapshot-blob",
                    "{snapshot}",
                    "--build-snapshot",
                    &builder.display().to_string(),
                    &workload.display().to_string(),
                    &serve.display().to_string(),
                ]
                .map(String::from)
                .to_vec(),
            ),
            restore: node(["--snapshot-blob", "{snapshot}", "{listen}"].map(String::from).to_vec()),
            sources: vec![builder, workload, serve],
        };
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
                missing_hint: NODE_HINT.into(),
            },
        })
        .with_snapshot(snapshot)
    }

    /// Restores from the snapshot `spec` makes.
    pub fn with_snapshot(mut self, spec: SnapshotSpec) -> ProcessTarget {
        self.snapshot_spec = Some(spec);
        self
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
            snapshot_spec: None,
            snapshot: None,
        }
    }

    /// Makes the snapshot with `spec.make`, in `ctx`'s snapshot folder,
    /// and the command that restores from it.
    fn make_snapshot(&self, spec: &SnapshotSpec, ctx: &Context) -> Result<Restorable, String> {
        let dir = snapshot::folder(ctx, &self.spec.name).map_err(|e| e.to_string())?;
        let program = spec.make.resolve().map_err(|e| e.to_string())?;
        let made = Snapshot::make(dir.join(&spec.file), &spec.sources, |path| {
            let file = path.display().to_string();
            let args: Vec<String> = spec
                .make
                .args
                .iter()
                .map(|a| a.replace("{snapshot}", &file))
                .collect();
            let out = std::process::Command::new(&program)
                .args(&args)
                .envs(spec.make.env.iter().cloned())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{} {} failed ({}): {}",
                    program.display(),
                    args.join(" "),
                    out.status,
                    crate::spec::truncate(String::from_utf8_lossy(&out.stderr).trim(), 400)
                ))
            }
        })?;
        let file = made.path.display().to_string();
        let mut launch = spec.restore.clone();
        for arg in &mut launch.args {
            *arg = arg.replace("{snapshot}", &file);
        }
        Ok(Restorable { made, launch })
    }

    /// A new instance from `launch` (a plain start or a restore); the
    /// target's parts it needs borrowed apart, so that neither spec is
    /// copied on the clock.
    fn launch(
        (prepared, spare, name): (&Option<Prepared>, &mut Spare, &str),
        launch: &LaunchSpec,
        req: &StartRequest,
    ) -> Result<Started, TargetError> {
        let Prepared { log, ctx } = Prepared::of(prepared)?;
        let path = format!("/run/{}", req.workload);
        let confined = spare
            .take(ctx.envelope.as_ref(), name, Confined::create)
            .map_err(TargetError::Start)?;
        let launched = launch.launch(&path, log, ctx, confined, req.asked_at, req.deadline)?;
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
}

const NODE_HINT: &str =
    "node is not on PATH: install Node.js (`just setup` does: apt-get install nodejs)";

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
        if let Some(spec) = self.snapshot_spec.clone().filter(|_| ctx.restore) {
            let made = self.make_snapshot(&spec, ctx);
            if let Ok(r) = &made {
                r.made.facts(&mut facts);
            }
            self.snapshot = Some(made);
        }
        self.prepared = Some(Prepared {
            log,
            ctx: ctx.clone(),
        });
        Ok(facts)
    }

    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let parts = (&self.prepared, &mut self.spare, self.spec.name.as_str());
        Self::launch(parts, &self.spec.launch, req)
    }

    fn restore_support(&self) -> Result<String, String> {
        match &self.snapshot_spec {
            Some(spec) => snapshot::support(&spec.mechanism, &self.snapshot),
            // A process's own snapshot would be CRIU's (criu dump, criu restore).
            None => Err(match snapshot::criu_check() {
                Err(why) => format!("a process restores only with CRIU, and {why}"),
                Ok(()) => "a process restores only with CRIU (criu dump / criu restore), which coldbench does not drive yet".into(),
            }),
        }
    }

    fn restore(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let restorable = snapshot::ready(&self.snapshot)?;
        let parts = (&self.prepared, &mut self.spare, self.spec.name.as_str());
        Self::launch(parts, &restorable.launch, req)
    }

    fn ready(&mut self) {
        if let Some(p) = &self.prepared {
            let envelope = p.ctx.envelope.as_ref();
            self.spare
                .ready(envelope, &self.spec.name, Confined::create);
        }
        if let Some(Ok(r)) = &mut self.snapshot {
            r.made.recheck();
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
