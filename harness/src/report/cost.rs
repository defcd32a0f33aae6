//! What a million invocations would cost under two public billing models,
//! applied to what this run measured: wall time × configured memory (AWS
//! Lambda style) and CPU time (Cloudflare Workers style). Prices are in
//! `data/prices.json` with the date they were read.

use serde::{Deserialize, Serialize};

const PRICES: &str = include_str!("../../data/prices.json");

/// One billing model.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Model {
    /// Name.
    pub name: String,
    /// `wall_memory` or `cpu`.
    pub kind: String,
    /// Per GB-second (wall_memory).
    #[serde(default)]
    pub usd_per_gb_second: f64,
    /// Per million CPU milliseconds (cpu).
    #[serde(default)]
    pub usd_per_million_cpu_ms: f64,
    /// Per million requests.
    pub usd_per_million_requests: f64,
    /// Billing granularity of duration (wall_memory).
    #[serde(default)]
    pub duration_rounded_up_to_ms: u64,
    /// Smallest configurable memory (wall_memory).
    #[serde(default)]
    pub min_memory_mb: u64,
    /// Where the prices come from.
    pub source: String,
}

/// prices.json.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Prices {
    /// When they were read.
    pub read_on: String,
    /// How.
    pub how_read: String,
    /// The models.
    pub models: Vec<Model>,
}

/// The prices compiled in.
pub fn prices() -> Prices {
    serde_json::from_str(PRICES).expect("data/prices.json is valid (checked by a test)")
}

/// What one invocation of a target used, as measured.
#[derive(Clone, Debug)]
pub struct Usage {
    /// Target.
    pub target: String,
    /// Workload.
    pub workload: String,
    /// Latency billed as duration (warm p50; cold p50 where every request is new).
    pub duration_ns: u64,
    /// CPU per invocation (p50).
    pub cpu_ns: Option<u64>,
    /// Memory a tenant needs.
    pub memory_bytes: Option<u64>,
}

/// What one measured invocation would cost under each billing model.
#[derive(Clone, Debug)]
pub struct CostFigure {
    /// The measured inputs.
    pub usage: Usage,
    /// $ per million invocations, one per model of the prices, in order;
    /// `None` where an input the model bills is missing.
    pub dollars: Vec<Option<f64>>,
}

/// $ per million invocations of `u` under `m`; `None` when an input is missing.
pub fn per_million(m: &Model, u: &Usage) -> Option<f64> {
    let requests = m.usd_per_million_requests;
    match m.kind.as_str() {
        "wall_memory" => {
            let step = m.duration_rounded_up_to_ms.max(1) as f64;
            let billed_ms = ((u.duration_ns as f64 / 1e6) / step).ceil().max(1.0) * step;
            let memory_mb = (u.memory_bytes? as f64 / (1 << 20) as f64)
                .ceil()
                .max(m.min_memory_mb as f64);
            Some(1e6 * billed_ms / 1000.0 * memory_mb / 1024.0 * m.usd_per_gb_second + requests)
        }
        "cpu" => Some(u.cpu_ns? as f64 / 1e6 * m.usd_per_million_cpu_ms + requests),
        _ => None,
    }
}

/// Each usage priced under every model of `prices`.
pub fn figures(usages: Vec<Usage>, prices: &Prices) -> Vec<CostFigure> {
    usages
        .into_iter()
        .map(|usage| CostFigure {
            dollars: prices
                .models
                .iter()
                .map(|m| per_million(m, &usage))
                .collect(),
            usage,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prices_file_parses() {
        let p = prices();
        assert_eq!(p.models.len(), 2);
        assert!(!p.read_on.is_empty() && p.models.iter().all(|m| !m.source.is_empty()));
    }

    #[test]
    fn wall_time_is_rounded_up_and_memory_has_a_floor() {
        let p = prices();
        let lambda = p.models.iter().find(|m| m.kind == "wall_memory").unwrap();
        // 0.2 ms bills as 1 ms; 2 MB of memory bills as 128 MB.
        let u = Usage {
            target: "t".into(),
            workload: "hello".into(),
            duration_ns: 200_000,
            cpu_ns: Some(50_000),
            memory_bytes: Some(2 << 20),
        };
        let expected = 1e6 * 0.001 * 0.125 * 0.0000166667 + 0.20;
        assert!((per_million(lambda, &u).unwrap() - expected).abs() < 1e-9);
        let workers = p.models.iter().find(|m| m.kind == "cpu").unwrap();
        let expected = 0.05 * 0.02 + 0.30;
        assert!((per_million(workers, &u).unwrap() - expected).abs() < 1e-9);
        assert_eq!(per_million(workers, &Usage { cpu_ns: None, ..u }), None);
    }
}
