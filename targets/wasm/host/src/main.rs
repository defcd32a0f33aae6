//! `coldbench-wasm-host`: serves wasmtime tenants over the coldbench protocol.
//!
//! ```text
//! coldbench-wasm-host serve --variant jit|aot|pool|fresh --wasm guest.wasm --cwasm guest.cwasm
//!                           --listen 127.0.0.1:PORT [--memory-limit-mib 128] [--deadline-ms 20000]
//!                           [--max-tenants 1000]
//! coldbench-wasm-host precompile guest.wasm guest.cwasm
//! coldbench-wasm-host --version
//!
//! GET    /t/<tenant>/run/<workload>   the tenant's instance runs the workload (created on first use)
//! DELETE /t/<tenant>                  drops the tenant's instance (204), or 404 if it has none
//! GET    /health                      {"variant":"pool","tenants":3}
//! ```
//!
//! One thread serves requests and runs the guests: the harness sends one
//! request at a time, and the epoch deadline bounds every guest call.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coldbench_wasm_host::{
    precompile, version, Host, HostError, Options, Variant, DEFAULT_MEMORY_LIMIT,
};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};

const USAGE: &str = "usage: coldbench-wasm-host serve --variant jit|aot|pool|fresh --wasm FILE --cwasm FILE --listen ADDR \
[--memory-limit-mib N] [--deadline-ms N] [--max-tenants N] | precompile IN.wasm OUT.cwasm | --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--version") => {
            println!("{}", version());
            Ok(())
        }
        Some("precompile") if args.len() == 3 => {
            precompile(&PathBuf::from(&args[1]), &PathBuf::from(&args[2]))
                .map_err(|e| e.to_string())
        }
        Some("serve") => {
            parse_serve(&args[1..]).and_then(|(options, listen)| serve(options, &listen))
        }
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coldbench-wasm-host: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse_serve(args: &[String]) -> Result<(Options, String), String> {
    let mut options = Options {
        variant: Variant::Pool,
        wasm: PathBuf::new(),
        cwasm: PathBuf::new(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        deadline: Duration::from_secs(20),
        max_tenants: 1000,
    };
    let mut listen = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes a number, not {value:?}"))
        };
        match flag.as_str() {
            "--variant" => {
                options.variant = Variant::parse(value)
                    .ok_or_else(|| format!("unknown variant {value:?} (jit, aot, pool, fresh)"))?
            }
            "--wasm" => options.wasm = value.into(),
            "--cwasm" => options.cwasm = value.into(),
            "--listen" => listen = Some(value.clone()),
            "--memory-limit-mib" => options.memory_limit = number()? as usize * 1024 * 1024,
            "--deadline-ms" => options.deadline = Duration::from_millis(number()?),
            "--max-tenants" => options.max_tenants = number()? as u32,
            _ => return Err(format!("unknown option {flag}; {USAGE}")),
        }
    }
    Ok((
        options,
        listen.ok_or_else(|| format!("--listen is required; {USAGE}"))?,
    ))
}

fn serve(options: Options, listen: &str) -> Result<(), String> {
    wasmtime::Engine::tls_eager_initialize();
    let host = Arc::new(Mutex::new(Host::new(options).map_err(|e| e.to_string())?));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("coldbench-wasm-host: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let host = host.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let host = host.clone();
                    async move { Ok::<_, Infallible>(route(&host, &req)) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    })
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let escaped = message
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', " ");
    json(status, format!("{{\"error\":\"{escaped}\"}}"))
}

fn route(host: &Mutex<Host>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut host = match host.lock() {
        Ok(host) => host,
        Err(poisoned) => poisoned.into_inner(),
    };
    let segments: Vec<&str> = req.uri().path().trim_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
        (&Method::GET, ["health"]) => json(
            StatusCode::OK,
            format!(
                "{{\"variant\":\"{}\",\"tenants\":{}}}",
                host.options().variant.name(),
                host.tenants()
            ),
        ),
        (&Method::GET, ["t", tenant, "run", workload]) => match host
            .handle(tenant, workload)
            .and_then(|a| a.body())
        {
            Ok(body) => json(StatusCode::OK, body),
            Err(HostError::UnknownWorkload) => error(
                StatusCode::NOT_FOUND,
                &format!("unknown workload {workload:?}"),
            ),
            Err(e @ HostError::Full(_)) => error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        (&Method::DELETE, ["t", tenant]) => {
            if host.remove(tenant) {
                Response::builder()
                    .status(StatusCode::NO_CONTENT)
                    .body(Full::new(Bytes::new()))
                    .unwrap_or_default()
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    &format!("no instance for tenant {tenant:?}"),
                )
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "use GET /t/<tenant>/run/<workload>, DELETE /t/<tenant> or GET /health",
        ),
    }
}
