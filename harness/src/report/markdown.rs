//! summary.md: the headline table and what a CI job summary needs to say.

use std::fmt::Write;

use super::model::ReportModel;

/// Renders the Markdown summary.
pub fn render(m: &ReportModel) -> String {
    let mut out = String::new();
    intro(&mut out, m);
    headline(&mut out, m);
    tables(&mut out, m);
    notes(&mut out, m);
    out
}

/// The title, whether the run finished, and what the counts are.
fn intro(out: &mut String, m: &ReportModel) {
    match &m.run.plan.envelope {
        Some(e) => {
            let _ = writeln!(
                out,
                "## coldbench {} · under {}\n\nEvery instance was held to {} ({}); a shared host as a whole, all its tenants together.\n",
                m.run.run_id,
                e.name,
                e.describe(),
                e.platform
            );
        }
        None => {
            let _ = writeln!(out, "## coldbench {}\n", m.run.run_id);
        }
    }
    if m.incomplete {
        let _ = writeln!(
            out,
            "> **Incomplete run** (status: {:?}): figures cover what was measured.\n",
            m.run.status
        );
    }
    let few = if m.run.plan.samples < 10 {
        format!(
            " (with {} samples, about their range: quote intervals from the full profile)",
            m.run.plan.samples
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{} samples: {} valid, {} flagged. Medians; cold with its bootstrap 95% CI{few}.\n",
        m.totals.samples, m.totals.valid, m.totals.flagged
    );
}

/// The headline table, what its memory column means, and who ran emulated.
fn headline(out: &mut String, m: &ReportModel) {
    out.push_str("| target | family | workload | cold p50 (95% CI) | warm p50 | host-cold p50 | restore p50 | CPU/cold start | memory at cold start | n cold / warm / host-cold / restore |\n");
    out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for h in &m.headline {
        let accel = match h.accel.as_str() {
            "" | "none" => String::new(),
            "tcg" => " (TCG: emulated)".to_string(),
            other => format!(" ({other})"),
        };
        let _ = writeln!(
            out,
            "| {}{accel} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            h.target,
            h.family,
            h.workload,
            h.cold,
            h.warm,
            h.host_cold,
            h.restore,
            h.cold_cpu,
            h.pss,
            h.counts
        );
    }
    out.push_str("\n_Memory at cold start: PSS of the instance after its first response; for a shared host (the Wasm and isolate hosts) what the host grew by, and – where the instance is gone with its response. Memory per tenant is in the density table._\n");
    if !m.emulated.is_empty() {
        let _ = writeln!(
            out,
            "\n> Emulated (TCG, no working KVM here): {}. Shown, but kept out of comparisons across families.",
            m.emulated.join(", ")
        );
    }
}

/// The ratios, the comparison and the density fits, each when it has rows.
fn tables(out: &mut String, m: &ReportModel) {
    table(
        out,
        "",
        "| target | workload | cold ÷ process | warm ÷ process | compute ÷ process |\n|---|---|---:|---:|---:|",
        m.ratios
            .iter()
            .map(|r| [&r.target, &r.workload, &r.cold, &r.warm, &r.compute].map(String::as_str).to_vec()),
    );
    table(
        out,
        "**Within one implementation** (emulated targets left out)\n\n",
        "| runs | family | cold start (hello p50) | memory per tenant | CPU per warm invocation | tenants per GiB | left out |\n|---|---|---|---|---|---:|---|",
        m.by_implementation.iter().map(|f| {
            [&f.implementation, &f.family, &f.cold, &f.memory, &f.cpu, &f.per_gib, &f.left_out]
                .map(String::as_str)
                .to_vec()
        }),
    );
    table(
        out,
        "**The comparison, across implementations** (emulated targets left out)\n\n",
        "| family | cold start (hello p50) | memory per tenant | CPU per warm invocation | tenants per GiB | left out |\n|---|---|---|---|---:|---|",
        m.families
            .iter()
            .map(|f| [&f.family, &f.cold, &f.memory, &f.cpu, &f.per_gib, &f.left_out].map(String::as_str).to_vec()),
    );
    table(
        out,
        "**Start kinds: cold against restore** (hello; a restore starts from a snapshot made before the samples)\n\n",
        "| target | cold p50 | restore p50 | cold ÷ restore | memory: cold / restore | snapshot | n |\n|---|---:|---:|---:|---:|---|---:|",
        m.start_kinds.iter().map(|k| {
            let target = if k.emulated {
                format!("{} (TCG)", k.target)
            } else {
                k.target.clone()
            };
            vec![
                target,
                k.cold.clone(),
                k.restore.clone(),
                k.speedup.clone(),
                k.memory.clone(),
                k.snapshot.clone(),
                k.n.clone(),
            ]
        }),
    );
    table(
        out,
        "**Density** (least-squares fit of memory against idle instances)\n\n",
        "| target | memory per tenant | intercept | R² | note |\n|---|---:|---:|---:|---|",
        m.density.iter().map(|d| {
            let note = match (d.emulated, d.note.is_empty()) {
                (true, true) => "emulated (TCG)".to_string(),
                (true, false) => format!("emulated (TCG); {}", d.note),
                (false, _) => d.note.clone(),
            };
            vec![
                d.target.clone(),
                d.per_tenant.clone(),
                d.baseline.clone(),
                d.r2.clone(),
                note,
            ]
        }),
    );
}

/// Density notes, flagged and unmeasured targets, the harness and machine.
fn notes(out: &mut String, m: &ReportModel) {
    if let Some(d) = &m.drift {
        out.push_str("\n**Drift across runs** (`coldbench drift --save`)\n\n");
        out.push_str(&crate::drift::markdown(&d.rows, d.runs));
    }
    for n in &m.run.density_notes {
        let _ = writeln!(out, "\n_{n}_");
    }
    if !m.flagged.is_empty() {
        out.push_str("\n**Flagged samples**\n\n");
        for f in &m.flagged {
            let _ = writeln!(
                out,
                "- {} {} {}: {} — {}",
                f.target, f.workload, f.phase, f.count, f.first_error
            );
        }
    }
    if !m.skipped.is_empty() {
        out.push_str("\n**Not measured**\n\n");
        for (name, why) in &m.skipped {
            let _ = writeln!(out, "- {name}: {why}");
        }
    }
    for (k, v) in m.harness.iter().filter(|(k, _)| {
        [
            "harness overhead",
            "plan",
            "settle",
            "idle states",
            "precision",
        ]
        .contains(&k.as_str())
    }) {
        let _ = writeln!(out, "\n_{k}: {v}_");
    }
    let f = &m.run.fingerprint;
    let _ = writeln!(
        out,
        "\n_Machine: {} ({} cores), kernel {}, cgroups {}._",
        f.cpu_model, f.cores, f.kernel, f.cgroup_mode
    );
}

/// Appends a titled Markdown table, or nothing when there are no rows.
fn table<S: AsRef<str>>(
    out: &mut String,
    title: &str,
    header: &str,
    rows: impl Iterator<Item = Vec<S>>,
) {
    let mut rows = rows.peekable();
    if rows.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "\n{title}{header}");
    for row in rows {
        let cells: Vec<&str> = row.iter().map(AsRef::as_ref).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}
