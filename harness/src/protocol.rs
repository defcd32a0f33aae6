//! The invocation protocol's response (DESIGN.md) and the checks that make a
//! sample valid: a correct result, and proof of a new (cold) or the same
//! (warm) instance, as the instance itself reports it.

use serde::Deserialize;
use serde_json::Value;

use crate::spec::{truncate, Spec};

/// What an instance answers to `GET /run/<workload>`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Reply {
    /// Made inside the instance when it started.
    pub instance: String,
    /// True on the first request the instance answers.
    pub cold: bool,
    /// The handler's own time for the workload, measured inside.
    pub compute_ns: u64,
    /// The workload's result.
    pub result: Value,
}

/// What a sample must show about its instance.
#[derive(Clone, Copy, Debug)]
pub enum Expect<'a> {
    /// A cold sample: `cold: true` and an id this target never showed before.
    NewInstance {
        /// Has this id been seen before in this run, for this target?
        seen_before: bool,
    },
    /// A warm sample: `cold: false` and the id of the instance's cold reply.
    SameInstance(&'a str),
}

/// Parses an HTTP response into a [`Reply`]; any other status or shape is an
/// error that names what was wrong.
pub fn parse(status: u16, body: &[u8]) -> Result<Reply, String> {
    if status != 200 {
        return Err(format!(
            "HTTP {status}: {}",
            truncate(&String::from_utf8_lossy(body), 200)
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        format!(
            "not a protocol reply ({e}): {}",
            truncate(&String::from_utf8_lossy(body), 200)
        )
    })
}

/// Checks a parsed reply against the spec and the expected instance.
pub fn check(spec: &Spec, workload: &str, reply: &Reply, expect: Expect) -> Result<(), String> {
    match expect {
        Expect::NewInstance { seen_before } => {
            if !reply.cold {
                return Err(format!(
                    "cold sample answered with cold:false (instance {})",
                    reply.instance
                ));
            }
            if seen_before {
                return Err(format!(
                    "cold sample came from instance {} which answered before: not a new instance",
                    reply.instance
                ));
            }
        }
        Expect::SameInstance(id) => {
            if reply.instance != id {
                return Err(format!(
                    "warm sample came from instance {}, expected {id}",
                    reply.instance
                ));
            }
            if reply.cold {
                return Err(format!(
                    "warm sample answered with cold:true (instance {id} restarted?)"
                ));
            }
        }
    }
    spec.check_result(workload, &reply.result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> Spec {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../workloads/spec/workloads.json");
        Spec::load(&path).unwrap()
    }

    fn reply(instance: &str, cold: bool) -> Reply {
        Reply {
            instance: instance.into(),
            cold,
            compute_ns: 10,
            result: json!("Hello, world!"),
        }
    }

    #[test]
    fn a_cold_reply_must_come_from_a_new_instance() {
        let s = spec();
        let fresh = Expect::NewInstance { seen_before: false };
        assert!(check(&s, "hello", &reply("a", true), fresh).is_ok());
        let again = Expect::NewInstance { seen_before: true };
        let err = check(&s, "hello", &reply("a", true), again).unwrap_err();
        assert!(err.contains("not a new instance"), "{err}");
        let err = check(&s, "hello", &reply("a", false), fresh).unwrap_err();
        assert!(err.contains("cold:false"), "{err}");
    }

    #[test]
    fn a_warm_reply_must_come_from_the_same_instance() {
        let s = spec();
        assert!(check(&s, "hello", &reply("a", false), Expect::SameInstance("a")).is_ok());
        let err = check(&s, "hello", &reply("b", false), Expect::SameInstance("a")).unwrap_err();
        assert!(err.contains("expected a"), "{err}");
        let err = check(&s, "hello", &reply("a", true), Expect::SameInstance("a")).unwrap_err();
        assert!(err.contains("cold:true"), "{err}");
    }

    #[test]
    fn non_200_and_garbage_are_errors() {
        assert!(parse(500, b"oops").unwrap_err().starts_with("HTTP 500"));
        assert!(parse(200, b"{\"instance\":1}")
            .unwrap_err()
            .starts_with("not a protocol reply"));
        let ok = parse(
            200,
            br#"{"instance":"x","cold":true,"compute_ns":3,"result":"Hello, world!"}"#,
        )
        .unwrap();
        assert_eq!(ok, reply_with_ns("x", 3));
    }

    fn reply_with_ns(id: &str, ns: u64) -> Reply {
        Reply {
            compute_ns: ns,
            ..reply(id, true)
        }
    }
}
