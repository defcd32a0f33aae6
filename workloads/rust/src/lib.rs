//! The coldbench workloads in Rust.
//!
//! One naive algorithm, shared by every Rust target: the native function
//! server (process, containers, microVM) and the wasm32 guest (wasmtime,
//! workerd-wasm). The crate has no dependencies and stays within what rustc
//! 1.63 accepts, because Debian's rustc 1.63 is the compiler that builds the
//! wasm32 guest from this same file.
//!
//! The expected outputs live in `workloads/spec/workloads.json`; the tests of
//! the harness check this crate against them.
#![forbid(unsafe_code)]

use std::fmt::Write;

/// The workload names, in the order reports list them.
pub const NAMES: [&str; 4] = [
    "hello",
    "palindrome-small",
    "palindrome-medium",
    "palindrome-large",
];

/// One workload with its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Answers `"Hello, world!"`.
    Hello,
    /// Palindrome products over the factor range `min..=max`.
    Palindrome {
        /// Smallest factor.
        min: u64,
        /// Largest factor.
        max: u64,
    },
}

impl Workload {
    /// The workload called `name`, with the input fixed in the spec.
    pub fn from_name(name: &str) -> Option<Workload> {
        match name {
            "hello" => Some(Workload::Hello),
            "palindrome-small" => Some(Workload::Palindrome { min: 10, max: 99 }),
            "palindrome-medium" => Some(Workload::Palindrome { min: 100, max: 999 }),
            "palindrome-large" => Some(Workload::Palindrome {
                min: 1000,
                max: 9999,
            }),
            _ => None,
        }
    }

    /// Runs the workload and returns its `result` as JSON text.
    pub fn run_json(&self) -> String {
        match *self {
            Workload::Hello => String::from("\"Hello, world!\""),
            Workload::Palindrome { min, max } => palindrome_products(min, max).to_json(),
        }
    }
}

/// A palindromic product and every factor pair `(a, b)`, `a <= b`, giving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Palindrome {
    /// The palindrome.
    pub value: u64,
    /// Factor pairs in the order they were found (ascending `a`).
    pub factors: Vec<(u64, u64)>,
}

/// The smallest and largest palindromic products of a factor range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Products {
    /// `None` when no product in the range is a palindrome.
    pub smallest: Option<Palindrome>,
    /// `None` when no product in the range is a palindrome.
    pub largest: Option<Palindrome>,
}

/// True when `n` reads the same with its decimal digits reversed.
pub fn is_palindrome(n: u64) -> bool {
    let mut rest = n;
    let mut reversed = 0u64;
    while rest > 0 {
        reversed = reversed * 10 + rest % 10;
        rest /= 10;
    }
    reversed == n
}

/// The naive search every implementation uses: every pair `a <= b`, no
/// pruning, so that differences between targets come from the runtime and not
/// from a cleverer algorithm.
pub fn palindrome_products(min: u64, max: u64) -> Products {
    let mut smallest: Option<Palindrome> = None;
    let mut largest: Option<Palindrome> = None;
    let mut a = min;
    while a <= max {
        let mut b = a;
        while b <= max {
            let p = a * b;
            if is_palindrome(p) {
                keep(&mut smallest, p, a, b, |new, old| new < old);
                keep(&mut largest, p, a, b, |new, old| new > old);
            }
            b += 1;
        }
        a += 1;
    }
    Products { smallest, largest }
}

fn keep(slot: &mut Option<Palindrome>, p: u64, a: u64, b: u64, better: fn(u64, u64) -> bool) {
    match slot {
        Some(best) if best.value == p => best.factors.push((a, b)),
        Some(best) if !better(p, best.value) => {}
        _ => {
            *slot = Some(Palindrome {
                value: p,
                factors: vec![(a, b)],
            })
        }
    }
}

impl Products {
    /// `{"smallest":{"value":121,"factors":[[11,11]]},"largest":{...}}`
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(96);
        out.push_str("{\"smallest\":");
        write_palindrome(&mut out, &self.smallest);
        out.push_str(",\"largest\":");
        write_palindrome(&mut out, &self.largest);
        out.push('}');
        out
    }
}

fn write_palindrome(out: &mut String, p: &Option<Palindrome>) {
    match p {
        None => out.push_str("null"),
        Some(p) => {
            let _ = write!(out, "{{\"value\":{},\"factors\":[", p.value);
            for (i, (a, b)) in p.factors.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "[{},{}]", a, b);
            }
            out.push_str("]}");
        }
    }
}

/// The protocol's response body (DESIGN.md, "Invocation protocol"), shared by
/// the native server and the wasm32 guest so both answer byte for byte alike.
pub fn response_json(instance: &str, cold: bool, compute_ns: u64, result_json: &str) -> String {
    let mut out = String::with_capacity(64 + instance.len() + result_json.len());
    out.push_str("{\"instance\":");
    push_json_string(&mut out, instance);
    let _ = write!(
        out,
        ",\"cold\":{},\"compute_ns\":{},\"result\":{}}}",
        cold, compute_ns, result_json
    );
    out
}

/// An error body, `{"error":"<message>"}`, valid JSON whatever the message
/// holds (servers quote what a client sent them).
pub fn error_json(message: &str) -> String {
    let mut out = String::with_capacity(16 + message.len());
    out.push_str("{\"error\":");
    push_json_string(&mut out, message);
    out.push('}');
    out
}

/// Appends `s` as a JSON string literal, quotes included.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palindromes_are_recognised_by_digit_reversal() {
        for n in [0u64, 7, 11, 121, 9009, 906609, 99000099] {
            assert!(is_palindrome(n), "{n}");
        }
        for n in [10u64, 12, 123, 9008, 1000] {
            assert!(!is_palindrome(n), "{n}");
        }
    }

    #[test]
    fn small_range_matches_the_known_answer() {
        let p = palindrome_products(10, 99);
        assert_eq!(p.smallest.as_ref().map(|p| p.value), Some(121));
        assert_eq!(p.largest.as_ref().unwrap().factors, vec![(91, 99)]);
    }

    #[test]
    fn every_factor_pair_is_kept() {
        // 1..=9: 9 is 1*9 and 3*3; 1 is only 1*1.
        let p = palindrome_products(1, 9);
        assert_eq!(p.smallest.unwrap().factors, vec![(1, 1)]);
        assert_eq!(p.largest.unwrap().factors, vec![(1, 9), (3, 3)]);
    }

    #[test]
    fn a_range_without_palindromes_gives_null() {
        let p = palindrome_products(15, 15); // 225
        assert_eq!(
            p.to_json(),
            "{\"smallest\":null,\"largest\":null}".to_string()
        );
    }

    #[test]
    fn unknown_names_are_rejected() {
        assert_eq!(Workload::from_name("palindrome"), None);
        for name in NAMES {
            assert!(Workload::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn response_escapes_the_instance_id() {
        let body = response_json("a\"b", true, 5, "\"x\"");
        assert_eq!(
            body,
            "{\"instance\":\"a\\\"b\",\"cold\":true,\"compute_ns\":5,\"result\":\"x\"}"
        );
    }

    #[test]
    fn error_bodies_escape_what_the_client_sent() {
        assert_eq!(
            error_json("unknown path \"/a\\b\u{1}\""),
            "{\"error\":\"unknown path \\\"/a\\\\b\\u0001\\\"\"}"
        );
    }
}
