//! The workload spec (`workloads/spec/workloads.json`): inputs and the only
//! correct outputs, against which every response is validated.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// One workload as the spec defines it.
#[derive(Clone, Debug, Deserialize)]
pub struct WorkloadSpec {
    /// `hello`, `palindrome-small`, …
    pub name: String,
    /// The fixed input (`null`, or `{"min":..,"max":..}`).
    pub input: Value,
    /// The one correct `result`.
    pub expected: Value,
}

/// Every workload, in spec order.
#[derive(Clone, Debug, Deserialize)]
pub struct Spec {
    /// The workloads.
    pub workloads: Vec<WorkloadSpec>,
}

/// The spec file is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// Could not be read.
    #[error("cannot read the workload spec {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not the expected JSON.
    #[error("the workload spec {path} is malformed: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
}

impl Spec {
    /// Reads and parses the spec file.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| SpecError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// The workload called `name`.
    pub fn get(&self, name: &str) -> Option<&WorkloadSpec> {
        self.workloads.iter().find(|w| w.name == name)
    }

    /// All workload names, in spec order.
    pub fn names(&self) -> Vec<&str> {
        self.workloads.iter().map(|w| w.name.as_str()).collect()
    }

    /// `Ok` when `result` is the correct answer for `workload`. Factor pairs
    /// are compared as sets, so an implementation may list them in any order.
    pub fn check_result(&self, workload: &str, result: &Value) -> Result<(), String> {
        let spec = self
            .get(workload)
            .ok_or_else(|| format!("unknown workload {workload}"))?;
        if canonical(result) == canonical(&spec.expected) {
            Ok(())
        } else {
            Err(format!(
                "wrong result: got {}, expected {}",
                truncate(&result.to_string(), 200),
                spec.expected
            ))
        }
    }
}

/// Sorts every `factors` array so that order does not matter.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let mut v = canonical(v);
                    if k == "factors" {
                        if let Value::Array(pairs) = &mut v {
                            pairs.sort_by_key(|p| p.to_string());
                        }
                    }
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// At most `max` characters of `s`, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../workloads/spec/workloads.json");
        Spec::load(&path).unwrap()
    }

    #[test]
    fn spec_lists_the_four_workloads_in_order() {
        assert_eq!(
            spec().names(),
            coldbench_workload::NAMES.to_vec(),
            "spec and the Rust implementation must name the same workloads"
        );
    }

    #[test]
    fn factor_order_does_not_matter_but_values_do() {
        let s = Spec {
            workloads: vec![WorkloadSpec {
                name: "p".into(),
                input: Value::Null,
                expected: json!({"smallest":{"value":9,"factors":[[1,9],[3,3]]},"largest":null}),
            }],
        };
        let reordered = json!({"smallest":{"value":9,"factors":[[3,3],[1,9]]},"largest":null});
        assert!(s.check_result("p", &reordered).is_ok());
        let missing_pair = json!({"smallest":{"value":9,"factors":[[3,3]]},"largest":null});
        assert!(s.check_result("p", &missing_pair).is_err());
    }

    #[test]
    fn hello_must_be_exact() {
        let s = spec();
        assert!(s.check_result("hello", &json!("Hello, world!")).is_ok());
        let err = s.check_result("hello", &json!("Hello world")).unwrap_err();
        assert!(err.contains("wrong result"), "{err}");
    }
}
