//! The seed sources' tables ([`crate::report::seeds`]) as the comparison
//! page shows them: each published figure beside ours and ours ÷ theirs.

use serde::Serialize;

use super::NONE;
use crate::report::seeds::{Cell, SeedTables};
use crate::units::{human_bytes, human_ns};

/// One table, ready to show.
#[derive(Debug, Serialize)]
pub struct SeedTableView {
    /// Anchor.
    pub id: String,
    /// Title.
    pub title: String,
    /// Where the published figures come from.
    pub source: String,
    /// What to know before reading it (the envelope, what stands for what).
    pub note: String,
    /// Column headings.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
}

fn published(v: f64, bound: bool, show: fn(u64) -> String) -> String {
    format!("{}{}", if bound { "< " } else { "~" }, show(v as u64))
}

/// `value (target) · measured ÷ published×`; no ratio under emulation.
fn against(c: &Cell, claimed: f64, show: fn(u64) -> String) -> String {
    match c.value {
        None => format!("{NONE} ({})", c.target),
        Some(v) if c.emulated => format!(
            "{} ({}, TCG: not held against it)",
            show(v as u64),
            c.target
        ),
        Some(v) => format!(
            "{} ({}) · {}×",
            show(v as u64),
            c.target,
            ratio(v / claimed)
        ),
    }
}

/// A published size as it was published: decimal megabytes.
fn mb(v: u64) -> String {
    format!("{:.0} MB", v as f64 / 1e6)
}

fn ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}")
    } else if r >= 0.1 {
        format!("{r:.2}")
    } else {
        format!("{r:.3}")
    }
}

fn r2(fit: Option<f64>) -> String {
    fit.map_or_else(String::new, |r| format!(", R² {r:.3}"))
}

/// Every seed table.
pub fn build(s: &SeedTables) -> Vec<SeedTableView> {
    let mut out: Vec<SeedTableView> = s
        .latency
        .iter()
        .map(|t| {
            let under = match &t.run_envelope {
                Some(e) if *e == t.envelope => format!("This run was under {e}, the platform's envelope: each instance held to its memory and CPU share."),
                Some(e) => format!("This run was under {e}, not {}: rerun with `--envelope {}` for the platform's resources.", t.envelope, t.envelope),
                None => format!("This run had no envelope (the machine's CPUs): rerun with `--envelope {}` for the platform's resources.", t.envelope),
            };
            let mut header = vec![
                "".to_string(),
                "published Node".into(),
                "published Rust".into(),
            ];
            for f in &t.families {
                header.push(format!("{}: JS (÷ published)", f.family));
                header.push(format!("{}: Rust (÷ published)", f.family));
            }
            SeedTableView {
                id: t.id.clone(),
                title: t.title.clone(),
                source: t.source.clone(),
                note: format!(
                    "{under}{} Hello cold is the cold p50; the other rows the warm p50 (a request to a running instance, as a platform's duration is). A ratio above 1 is slower here.",
                    t.share.as_ref().map_or_else(String::new, |(target, latency, cpu)| format!(
                        " What the CPU share does: {target}'s palindrome 1000–9999 took {} for {} of CPU, {:.1}× its CPU time.",
                        human_ns(*latency as u64),
                        human_ns(*cpu as u64),
                        latency / cpu
                    ))
                ),
                header,
                rows: t
                    .rows
                    .iter()
                    .map(|r| {
                        let p = &r.published;
                        let mut row = vec![
                            p.label.clone(),
                            published(p.js, p.js_bound, human_ns),
                            published(p.rust, p.rust_bound, human_ns),
                        ];
                        for (js, rust) in &r.measured {
                            row.push(against(js, p.js, human_ns));
                            row.push(against(rust, p.rust, human_ns));
                        }
                        row
                    })
                    .collect(),
            }
        })
        .collect();
    out.push(baseline(s));
    out.push(cloudflare(s));
    out
}

fn baseline(s: &SeedTables) -> SeedTableView {
    let rows = s
        .baseline
        .iter()
        .map(|b| {
            let (total, os, runtime, heap) = b.published;
            let split: Vec<String> = [("OS", os), ("runtime", runtime), ("heap", heap)]
                .into_iter()
                .filter_map(|(k, v)| Some(format!("{k} {}", mb(v? as u64))))
                .collect();
            let (m, fit) = &b.measured;
            let measured = format!("{}{}", against(m, total, human_bytes), r2(*fit));
            let measured_split = match (&b.bare, m.value) {
                (Some((bare, bare_fit)), Some(with)) => match bare.value {
                    Some(without) => format!(
                        "{} ({}): {}{}; {}: {}{}",
                        b.split_names.0,
                        bare.target,
                        human_bytes(without as u64),
                        r2(*bare_fit),
                        b.split_names.1,
                        if with < without { "−" } else { "" },
                        human_bytes((with - without).abs() as u64)
                    ),
                    None => format!("{NONE} ({} not measured)", bare.target),
                },
                _ => NONE.into(),
            };
            vec![
                b.label.to_string(),
                mb(total as u64),
                split.join(" + "),
                measured,
                measured_split,
            ]
        })
        .collect();
    SeedTableView {
        id: "seed-baseline".into(),
        title: "Memory per tenant, one runtime in every family (the \"Comparing baseline\" table)".into(),
        source: s.baseline_source.clone(),
        note: "Memory per tenant is the density sweep's slope (what one more idle tenant adds) with the fit's R²; every side runs node's JS or workerd's V8. For the VM, \"without the runtime\" is the same VM running the static server: its guest kernel and init, an upper bound on the OS's share; for the container it is node as a plain process, so the difference is what the container adds.".into(),
        header: vec![
            "".into(),
            "published".into(),
            "published split".into(),
            "measured (÷ published)".into(),
            "measured split".into(),
        ],
        rows,
    }
}

fn cloudflare(s: &SeedTables) -> SeedTableView {
    let (claimed, node, isolate) = &s.cloudflare_cold;
    let cold = match (node.value, isolate.value) {
        (Some(n), Some(i)) if i > 0.0 => format!(
            "{}× faster: {} ({}) vs {} ({}) · {}× the claim",
            ratio(n / i),
            human_ns(n as u64),
            node.target,
            human_ns(i as u64),
            isolate.target,
            ratio(n / i / claimed)
        ),
        _ => NONE.into(),
    };
    let ((claimed_node, claimed_isolate), node_mem, isolate_mem) = &s.cloudflare_memory;
    let size = |v: Option<f64>| v.map_or_else(|| NONE.to_string(), |v| human_bytes(v as u64));
    let versus = match (node_mem.value, isolate_mem.value) {
        (Some(n), Some(i)) if i > 0.0 => format!(
            ": {}× · {}× the claim",
            ratio(n / i),
            ratio((n / i) / (claimed_node / claimed_isolate))
        ),
        _ => " (the per-tenant figure needs the density phase)".into(),
    };
    let memory = format!(
        "{} ({}, after its cold start) vs {} ({}, per tenant){versus}",
        size(node_mem.value),
        node_mem.target,
        size(isolate_mem.value),
        isolate_mem.target,
    );
    SeedTableView {
        id: "seed-cloudflare".into(),
        title: "Isolates vs a Node process, the same JS on both sides".into(),
        source: s.cloudflare_source.clone(),
        note: "Both sides run workloads/js: node as a plain process, workerd's isolates sharing one V8.".into(),
        header: vec!["".into(), "published".into(), "measured here".into()],
        rows: vec![
            vec![
                "cold start (hello)".into(),
                format!("~{claimed:.0}× faster than a Node process"),
                cold,
            ],
            vec![
                "memory".into(),
                format!(
                    "{} for a bare Node Lambda vs {} for an isolate ({}×)",
                    mb(*claimed_node as u64),
                    mb(*claimed_isolate as u64),
                    ratio(claimed_node / claimed_isolate)
                ),
                memory,
            ],
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_cell_carries_its_ratio_and_an_emulated_one_does_not() {
        let c = |value, emulated| Cell {
            target: "crun".into(),
            value,
            emulated,
        };
        assert_eq!(
            against(&c(Some(4e9), false), 8e9, human_ns),
            "4.00 s (crun) · 0.50×"
        );
        assert!(against(&c(Some(4e9), true), 8e9, human_ns).contains("TCG: not held against it"));
        assert_eq!(against(&c(None, false), 8e9, human_ns), "– (crun)");
        assert_eq!(published(2e7, true, human_ns), "< 20.0 ms");
        assert_eq!(mb(115_000_000), "115 MB");
    }
}
