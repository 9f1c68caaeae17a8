//! Captured arguments: a JSON rendering of a call's arguments, stored
//! beside its result (table `persistdict.args`, written in the transaction
//! that stores the result, removed with it) so that `persistdict ls` can
//! show `embed(text: "hello", model: "ada")` and `rm --where model=ada` can
//! find it. The hit path never reads it.
//!
//! It is built only on a miss (the generated code asks for it after the
//! lookup failed, before the body takes the arguments), from the
//! arguments' `Serialize` implementations through `serde_json`; ignored
//! arguments are left out; `#[persist_cache(capture_args = false)]` turns
//! it off. The stored JSON is
//! `{"args": {"<name>": <value>, ...}, "compute_ms": <ms>}`, at most
//! [`MAX_CAPTURE`] bytes: an argument whose JSON is longer than
//! [`MAX_ARG`] is replaced by `{"omitted_bytes": n}`, and if the whole is
//! still too long, `"args"` is replaced by that marker too.

use std::time::Duration;

use serde_json::{Map, Value, json};

/// The most bytes of captured JSON stored per call.
pub const MAX_CAPTURE: usize = 4096;
/// The most bytes of one argument's JSON kept.
pub const MAX_ARG: usize = 1024;

/// A call's arguments being captured; generated code feeds it.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Capture {
    args: Map<String, Value>,
}

impl Capture {
    /// Adds argument `name`.
    #[doc(hidden)]
    pub fn arg<T: crate::memo::key::CacheKey + ?Sized>(&mut self, name: &str, value: &T) {
        let v = match serde_json::to_value(value) {
            Ok(v) => {
                let len = serde_json::to_vec(&v).map_or(usize::MAX, |b| b.len());
                if len > MAX_ARG { json!({ "omitted_bytes": len }) } else { v }
            }
            // Map keys that are not strings, and the like.
            Err(e) => json!({ "not_json": e.to_string() }),
        };
        self.args.insert(name.to_string(), v);
    }

    /// The JSON to store, with the computation's duration.
    pub(crate) fn finish(self, took: Duration) -> Vec<u8> {
        let compute_ms = took.as_millis() as u64;
        let full = json!({ "args": Value::Object(self.args), "compute_ms": compute_ms });
        let bytes = serde_json::to_vec(&full).unwrap_or_default();
        if bytes.len() <= MAX_CAPTURE {
            return bytes;
        }
        serde_json::to_vec(&json!({ "args": { "omitted_bytes": bytes.len() }, "compute_ms": compute_ms }))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_json_and_bounded() {
        let mut c = Capture::default();
        c.arg("text", "hello");
        c.arg("model", &"ada".to_string());
        c.arg("n", &3u32);
        let v: Value = serde_json::from_slice(&c.finish(Duration::from_millis(12))).unwrap();
        assert_eq!(v, json!({ "args": { "text": "hello", "model": "ada", "n": 3 }, "compute_ms": 12 }));

        let mut c = Capture::default();
        c.arg("big", &"x".repeat(5000));
        let v: Value = serde_json::from_slice(&c.finish(Duration::ZERO)).unwrap();
        assert_eq!(v["args"]["big"], json!({ "omitted_bytes": 5002 }));

        let mut c = Capture::default();
        for i in 0..10 {
            c.arg(&format!("a{i}"), &"y".repeat(900));
        }
        let bytes = c.finish(Duration::ZERO);
        assert!(bytes.len() <= MAX_CAPTURE);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(v["args"]["omitted_bytes"].as_u64().unwrap() > 4096);

        let mut c = Capture::default();
        let mut m = std::collections::HashMap::new();
        m.insert((1, 2), 3);
        c.arg("map", &m);
        let v: Value = serde_json::from_slice(&c.finish(Duration::ZERO)).unwrap();
        assert!(v["args"]["map"]["not_json"].is_string());
    }
}
