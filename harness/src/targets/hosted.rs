//! Targets with a shared host: one long-lived process that holds many tenant
//! instances (the wasmtime host, later workerd and deno). The host is started
//! once, untimed, in `prepare`; a tenant's cold start is its first request;
//! `host-cold` restarts the host and times it to the first tenant's answer.
//!
//! Every host speaks the same small dialect:
//!
//! ```text
//! GET    <health>                     200 once the host is up
//! GET    /t/<tenant>/run/<workload>   the tenant's instance answers (created on first use)
//! DELETE /t/<tenant>                  drops the tenant's instance: 204, or 404 if it has none
//! ```
//!
//! Requests go over one keep-alive connection to the host, opened when the
//! host starts: a platform's front end keeps its connections to a host warm,
//! and a tenant's cold start should hold only that tenant's work.
//!
//! Accounting is the host's: CPU is the host process group's CPU delta over
//! the sample; memory is the growth of the host's PSS/RSS since just before
//! the tenant's cold start (the memory the tenant added).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::snapshot::{self, Snapshot};
use super::spawn::{LaunchSpec, Log, Prepared, Spawned};
use super::{
    Accounting, Availability, Context, Facts, Family, Instance, Measures, Phase, StartRequest,
    Started, Target, TargetError, Usage,
};
use crate::envelope::{self, Confined};
use crate::measure::http::{Conn, Endpoint, HttpError, Response};
use crate::measures::Measure;

/// Untimed work before the host starts (compiling a module, …); returns facts.
pub type PrepareHook = Box<dyn FnMut(&Context) -> Result<Facts, TargetError> + Send>;

/// The phases of a target with a shared host whose tenants outlive their
/// request (`restore` is said by [`Target::restore_support`], never listed).
pub const HOST_PHASES: [Phase; 4] = [Phase::Cold, Phase::Warm, Phase::HostCold, Phase::Density];

/// What a hosted target runs.
pub struct HostSpec {
    /// Registry name.
    pub name: String,
    /// Family.
    pub family: Family,
    /// The host program; `{listen}` in its arguments becomes `127.0.0.1:<port>`.
    pub launch: LaunchSpec,
    /// Files the host needs, each with what to do when it is missing.
    pub requires: Vec<(PathBuf, String)>,
    /// Phases the host supports.
    pub phases: &'static [Phase],
    /// What CPU and memory count.
    pub accounting: Accounting,
    /// Readiness path of a new host.
    pub health_path: String,
    /// Untimed preparation before the host starts.
    pub prepare: Option<PrepareHook>,
    /// How the host restores tenants from a snapshot, or why it cannot.
    pub restore: Result<HostRestore, String>,
}

/// Makes a host's snapshot (untimed, in `prepare`, before the host starts)
/// at the path given; returns the host arguments that serve it.
pub type MakeSnapshot = Box<dyn Fn(&std::path::Path) -> Result<Vec<String>, String> + Send>;

/// How a host restores a tenant: the snapshot it is given when it starts,
/// and the path of a restored tenant's first request.
pub struct HostRestore {
    /// The mechanism, in words.
    pub mechanism: String,
    /// Makes it.
    pub make: MakeSnapshot,
    /// What it is made from.
    pub sources: Vec<PathBuf>,
    /// The first request of a restored tenant; `{tenant}` and `{workload}`
    /// replaced. Later requests go to the tenant's usual path.
    pub first: String,
}

struct RunningHost {
    process: Spawned,
    addr: SocketAddr,
    conn: Conn,
}

/// A target made of a shared host process and its tenants.
pub struct HostedTarget {
    spec: HostSpec,
    prepared: Option<Prepared>,
    host: Option<RunningHost>,
    /// How long a host may take to come up when it is not being timed.
    start_timeout: Duration,
    /// Restarts and the like, for [`Target::take_notes`].
    notes: Vec<String>,
    /// Whether the connection was reopened once already (noted once).
    reconnected: bool,
    /// The snapshot `prepare` made, or why it could not.
    snapshot: snapshot::Made<Snapshot>,
}

/// A tenant of the host.
struct Tenant {
    prefix: String,
}

impl HostedTarget {
    /// A target for `spec`; nothing starts until `prepare`.
    pub fn new(spec: HostSpec) -> HostedTarget {
        HostedTarget {
            spec,
            prepared: None,
            host: None,
            start_timeout: Duration::from_secs(60),
            notes: Vec::new(),
            reconnected: false,
            snapshot: None,
        }
    }

    /// What the host runs (tests start the same command by hand).
    pub fn spec(&self) -> &HostSpec {
        &self.spec
    }

    /// Spawns a host on a free port and polls `first` (a path) until it
    /// answers; the host is kept as the current one.
    fn launch(
        &mut self,
        first: &str,
        asked_at: Instant,
        deadline: Instant,
    ) -> Result<Response, TargetError> {
        let Prepared { log, ctx } = Prepared::of(&self.prepared)?;
        // The host's own cgroup, made here: a host starts untimed but
        // for host-cold, whose figure is the whole start from nothing.
        let confined = envelope::confine(ctx.envelope.as_ref(), &self.spec.name, Confined::create)
            .map_err(TargetError::Start)?;
        let launched = self
            .spec
            .launch
            .launch(first, log, ctx, confined, asked_at, deadline)?;
        self.host = Some(RunningHost {
            process: launched.process,
            addr: launched.addr,
            conn: launched.ready.conn,
        });
        Ok(launched.ready.response)
    }

    fn stop_host(&mut self) -> Result<(), TargetError> {
        match self.host.take() {
            Some(host) => {
                drop(host.conn);
                host.process.stop()
            }
            None => Ok(()),
        }
    }

    /// Sends one request to the current host: nothing else, since requests
    /// are timed ([`Target::baseline`] readies the host before a cold start).
    /// If the host dies or hangs during the request, it is replaced and the
    /// error says so: the sample fails, the run goes on.
    fn send(
        &mut self,
        path: &str,
        method: &str,
        deadline: Instant,
    ) -> Result<Response, TargetError> {
        let host = self
            .host
            .as_mut()
            .ok_or_else(|| TargetError::Start("the host is not running".into()))?;
        let request =
            format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n\r\n", host.addr).into_bytes();
        let log_from = Prepared::log_offset(&self.prepared);
        match host.conn.request(&request, deadline) {
            Ok(response) => Ok(response),
            Err(e) => {
                // A dying host closes its socket a moment before it can be reaped.
                let exited = match e {
                    HttpError::Timeout(_) => host.process.exited(),
                    _ => host.process.wait_exit(Duration::from_secs(1)),
                };
                let state = match exited {
                    Some(status) => format!("the host exited ({status})"),
                    None if matches!(e, HttpError::Timeout(_)) => {
                        "the host hung and was killed".to_string()
                    }
                    None => "the host dropped the connection".to_string(),
                };
                // The envelope holds the host: its limit is all tenants'.
                let state = match host.process.fault() {
                    Some(oom) => format!("{oom}, the host's, shared by all its tenants: {state}"),
                    None => state,
                };
                let output = Prepared::log_since(&self.prepared, log_from);
                let restart = self.restart();
                self.notes
                    .push(format!("{state} during a request; {restart}"));
                Err(TargetError::Start(format!(
                    "{e}: {state}{output}; {restart}"
                )))
            }
        }
    }

    /// Reopens the connection to the host when the host closed it while it
    /// sat idle (workerd does after some seconds without a request), so the
    /// next request does not find it gone. Said once in the run's notes.
    fn keep_alive(&mut self) {
        let Some(host) = self.host.as_mut() else {
            return;
        };
        if !host.conn.peer_closed() || host.process.exited().is_some() {
            return;
        }
        if let Ok(conn) = Conn::connect(host.addr, Duration::from_secs(1)) {
            host.conn = conn;
            if !self.reconnected {
                self.reconnected = true;
                self.notes.push(
                    "the host closed its idle keep-alive connection; the harness reopens it before the next request, outside the timed path".into(),
                );
            }
        }
    }

    fn restart(&mut self) -> String {
        let _ = self.stop_host();
        let now = Instant::now();
        let health = self.spec.health_path.clone();
        match self.launch(&health, now, now + self.start_timeout) {
            Ok(_) => "host restarted".into(),
            Err(e) => format!("host restart failed: {e}"),
        }
    }

    fn endpoint(&self, tenant: &str) -> Result<Endpoint, TargetError> {
        let host = self
            .host
            .as_ref()
            .ok_or_else(|| TargetError::Start("the host is not running".into()))?;
        Ok(Endpoint {
            addr: host.addr,
            host: host.addr.to_string(),
            path_prefix: format!("/t/{tenant}"),
        })
    }

    fn host_usage(&self) -> Usage {
        self.host
            .as_ref()
            .map(|h| h.process.usage())
            .unwrap_or_default()
    }
}

/// A host that times its own instantiation says so in the reply.
fn instantiate_measure(response: &Response) -> Measures {
    serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|v| v.get("instantiate_ns")?.as_u64())
        .map(|ns| vec![Measure::InstantiateNs.with(ns)])
        .unwrap_or_default()
}

impl Target for HostedTarget {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn family(&self) -> Family {
        self.spec.family
    }

    fn availability(&self) -> Availability {
        for (file, hint) in &self.spec.requires {
            if !file.is_file() {
                return Availability::Unavailable {
                    reason: format!("{} is missing: {hint}", file.display()),
                };
            }
        }
        self.spec.launch.availability()
    }

    fn prepare(&mut self, ctx: &Context) -> Result<Facts, TargetError> {
        let mut facts = match self.spec.prepare.as_mut() {
            Some(hook) => hook(ctx)?,
            None => Facts::new(),
        };
        let program = self.spec.launch.resolve()?;
        let log = Log::open(ctx, &self.spec.name)?;
        facts.insert("host".into(), json!(program.display().to_string()));
        facts.insert("host_args".into(), json!(self.spec.launch.args.join(" ")));
        facts.insert("log".into(), json!(log.path().display().to_string()));
        facts.insert(
            "connection".into(),
            json!("one keep-alive connection to the host, opened when the host starts"),
        );
        if let Some(restore) = self.spec.restore.as_ref().ok().filter(|_| ctx.restore) {
            let made = snapshot::folder(ctx, &self.spec.name)
                .map_err(|e| e.to_string())
                .and_then(|dir| {
                    let mut args = Vec::new();
                    let made = Snapshot::make(dir.join("snapshot"), &restore.sources, |path| {
                        args = (restore.make)(path)?;
                        Ok(())
                    })?;
                    Ok((made, args))
                });
            self.snapshot = Some(match made {
                Ok((made, args)) => {
                    made.facts(&mut facts);
                    // Before `{listen}`, which stays last.
                    let at = self.spec.launch.args.len().saturating_sub(2);
                    self.spec.launch.args.splice(at..at, args);
                    Ok(made)
                }
                Err(why) => Err(why),
            });
        }
        self.prepared = Some(Prepared {
            log,
            ctx: ctx.clone(),
        });
        let now = Instant::now();
        let health = self.spec.health_path.clone();
        let response = self
            .launch(&health, now, now + self.start_timeout)
            .map_err(|e| TargetError::Prepare(format!("the host did not start: {e}")))?;
        // What the host says of itself (runtime, its clock's resolution, …).
        if let Ok(said) = serde_json::from_slice::<serde_json::Value>(&response.body) {
            facts.insert("host_health".into(), said);
        }
        Ok(facts)
    }

    /// A host found exited is replaced (and that is noted), and a
    /// connection it closed is reopened.
    fn ready(&mut self) {
        if let Some(status) = self.host.as_mut().and_then(|h| h.process.exited()) {
            let restart = self.restart();
            self.notes.push(format!(
                "the host had exited ({status}) between requests; {restart}"
            ));
        }
        self.keep_alive();
    }

    fn shared_usage(&mut self) -> Option<Usage> {
        Some(self.host_usage())
    }

    fn start(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        let endpoint = self.endpoint(req.tenant)?;
        let response = self.send(
            &format!("{}/run/{}", endpoint.path_prefix, req.workload),
            "GET",
            req.deadline,
        )?;
        let measures = instantiate_measure(&response);
        Ok(Started {
            instance: Instance {
                endpoint,
                conn: None,
                handle: Box::new(Tenant {
                    prefix: format!("/t/{}", req.tenant),
                }),
            },
            response,
            measures,
        })
    }

    fn invoke(
        &mut self,
        instance: &mut Instance,
        workload: &str,
        deadline: Instant,
    ) -> Result<Response, TargetError> {
        let path = format!("{}/run/{workload}", instance.endpoint.path_prefix);
        self.send(&path, "GET", deadline)
    }

    fn measure(&mut self, _instance: &Instance) -> Usage {
        self.host_usage()
    }

    fn cpu_ns(&mut self, _instance: &Instance) -> Option<u64> {
        self.host.as_ref()?.process.cpu_ns()
    }

    fn resident(&mut self, _instances: &[Instance]) -> Option<u64> {
        self.host_usage().mem.map(|m| m.pss_bytes)
    }

    fn stop(&mut self, instance: Instance) -> Result<(), TargetError> {
        let tenant = instance.into_state::<Tenant>()?;
        let response = self
            .send(
                &tenant.prefix,
                "DELETE",
                Instant::now() + Duration::from_secs(10),
            )
            .map_err(|e| TargetError::Cleanup(format!("dropping tenant {}: {e}", tenant.prefix)))?;
        // 404: the host holds nothing for the tenant (it keeps no instance,
        // or discarded a failed one), which is what stop must verify.
        match response.status {
            204 | 404 => Ok(()),
            status => Err(TargetError::Cleanup(format!(
                "dropping tenant {}: HTTP {status} {}",
                tenant.prefix,
                String::from_utf8_lossy(&response.body)
            ))),
        }
    }

    fn shutdown(&mut self) -> Result<(), TargetError> {
        // The snapshot outlives the host (host-cold restarts it): it goes
        // with the target.
        self.stop_host()
    }

    fn restore_support(&self) -> Result<String, String> {
        match &self.spec.restore {
            Ok(r) => snapshot::support(&r.mechanism, &self.snapshot),
            Err(why) => Err(why.clone()),
        }
    }

    fn restore(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        // The host loaded the snapshot when it started: nothing on disk is
        // read for a restore, so nothing there is rechecked.
        snapshot::ready(&self.snapshot)?;
        let restore = self
            .spec
            .restore
            .as_ref()
            .map_err(|_| TargetError::Unsupported(Phase::Restore))?;
        let first = restore
            .first
            .replace("{tenant}", req.tenant)
            .replace("{workload}", req.workload);
        let endpoint = self.endpoint(req.tenant)?;
        let response = self.send(&first, "GET", req.deadline)?;
        Ok(Started {
            measures: instantiate_measure(&response),
            instance: Instance {
                handle: Box::new(Tenant {
                    prefix: endpoint.path_prefix.clone(),
                }),
                endpoint,
                conn: None,
            },
            response,
        })
    }

    fn phases(&self) -> &'static [Phase] {
        self.spec.phases
    }

    fn host_cold(&mut self, req: &StartRequest) -> Result<Started, TargetError> {
        self.stop_host()?;
        let path = format!("/t/{}/run/{}", req.tenant, req.workload);
        let response = self.launch(&path, req.asked_at, req.deadline)?;
        Ok(Started {
            instance: Instance {
                endpoint: self.endpoint(req.tenant)?,
                conn: None,
                handle: Box::new(Tenant {
                    prefix: format!("/t/{}", req.tenant),
                }),
            },
            response,
            measures: Vec::new(),
        })
    }

    fn accounting(&self) -> Accounting {
        self.spec.accounting.clone()
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}
