//! `fns`: the memoized functions stored, from the function records
//! (`fns/<prefix>` in the meta table) and the entries under each key prefix.

use std::collections::HashMap;

use persistdict::raw::RawDb;
use serde::{Deserialize, Serialize};

use super::Result;
use crate::render;

/// A function record as the memo store writes it (JSON in the meta table).
#[derive(Debug, Clone, Deserialize)]
pub struct FnRecord {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub function: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub last_use_ms: u64,
}

/// One row of `fns`.
#[derive(Debug, Serialize)]
pub struct FnRow {
    pub prefix: String,
    pub function: String,
    pub namespace: String,
    pub version: String,
    pub entries: u64,
    pub bytes: u64,
    pub first_use_ms: u64,
    pub last_use_ms: u64,
    #[serde(skip)]
    pub first_use: String,
    #[serde(skip)]
    pub last_use: String,
    pub superseded: bool,
}

/// The function records by key prefix.
pub fn records(db: &RawDb) -> Result<HashMap<[u8; 8], FnRecord>> {
    let mut out = HashMap::new();
    for (prefix, bytes) in db.function_records()? {
        if let Ok(r) = serde_json::from_slice::<FnRecord>(&bytes) {
            out.insert(prefix, r);
        }
    }
    Ok(out)
}

/// The short name of a function path: its last `::` segment.
pub fn short_name(function: &str) -> &str {
    function.rsplit("::").next().unwrap_or(function)
}

/// The key prefixes `name` stands for: a function's short name, full path
/// or namespace, or 16 hex digits of a prefix.
pub fn prefixes_for(records: &HashMap<[u8; 8], FnRecord>, name: &str) -> Result<Vec<[u8; 8]>> {
    let found: Vec<[u8; 8]> = records
        .iter()
        .filter(|(_, r)| r.function == name || r.namespace == name || short_name(&r.function) == name)
        .map(|(p, _)| *p)
        .collect();
    if !found.is_empty() {
        return Ok(found);
    }
    if let Some(p) = render::parse_hex(name.trim_start_matches("0x")).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
        return Ok(vec![p]);
    }
    let known: Vec<&str> = records.values().map(|r| r.function.as_str()).collect();
    Err(if known.is_empty() {
        format!("no function named {name:?}: this database holds no function records; give a key prefix in hex (16 digits) instead").into()
    } else {
        format!("no function named {name:?}; recorded: {}", known.join(", ")).into()
    })
}

/// Whether a record is superseded: another version of the same function
/// was used later.
pub fn superseded(records: &HashMap<[u8; 8], FnRecord>, r: &FnRecord) -> bool {
    records.values().any(|o| o.function == r.function && o.version != r.version && o.last_use_ms > r.last_use_ms)
}

pub fn run(db: &RawDb) -> Result<Vec<FnRow>> {
    let when = |t: std::time::SystemTime| render::age(t);
    let mut rows: Vec<FnRow> = persistdict::functions(db.path())?
        .into_iter()
        .map(|v| FnRow {
            prefix: render::hex(&v.prefix),
            function: v.function,
            namespace: v.namespace,
            version: v.version,
            entries: v.entries,
            bytes: v.bytes,
            first_use_ms: render::ms(v.first_use),
            last_use_ms: render::ms(v.last_use),
            first_use: when(v.first_use),
            last_use: when(v.last_use),
            superseded: v.superseded,
        })
        .collect();
    rows.sort_by(|a, b| a.function.cmp(&b.function).then(b.last_use_ms.cmp(&a.last_use_ms)));
    Ok(rows)
}
