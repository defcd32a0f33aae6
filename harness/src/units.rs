//! Human-readable figures, one way everywhere (progress lines and reports).

use crate::measures::Unit;

/// `950 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
pub fn human_ns(ns: u64) -> String {
    let v = ns as f64;
    match ns {
        0..=999 => format!("{ns} ns"),
        1_000..=999_999 => format!("{} µs", three_digits(v / 1e3)),
        1_000_000..=999_999_999 => format!("{} ms", three_digits(v / 1e6)),
        _ => format!("{} s", three_digits(v / 1e9)),
    }
}

/// `512 B`, `1.50 MiB`, `2.00 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    let v = bytes as f64;
    const K: f64 = 1024.0;
    if v < K {
        format!("{bytes} B")
    } else if v < K * K {
        format!("{} KiB", three_digits(v / K))
    } else if v < K * K * K {
        format!("{} MiB", three_digits(v / (K * K)))
    } else {
        format!("{} GiB", three_digits(v / (K * K * K)))
    }
}

/// `value` in the unit of the figure called `name`: a known measure's own,
/// else the one its name ends with (`…_ns` a duration, `…_bytes` a size,
/// anything else a plain count; see [`Unit::of_name`]).
pub fn by_suffix(name: &str, value: u64) -> String {
    match Unit::of_name(name) {
        Unit::Ns => human_ns(value),
        Unit::Bytes => human_bytes(value),
        Unit::Count => value.to_string(),
    }
}

/// Three significant digits: `1.23`, `12.3`, `123`.
fn three_digits(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_naturally() {
        assert_eq!(human_ns(950), "950 ns");
        assert_eq!(human_ns(12_345), "12.3 µs");
        assert_eq!(human_ns(4_560_000), "4.56 ms");
        assert_eq!(human_ns(71_000_000_000), "71.0 s");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.50 MiB");
        assert_eq!(by_suffix("boot_kernel_ns", 4_560_000), "4.56 ms");
        assert_eq!(by_suffix("guest_ram_pss_bytes", 512), "512 B");
        assert_eq!(by_suffix("attempts", 7), "7");
    }
}
