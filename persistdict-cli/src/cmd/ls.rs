//! `ls` and `get`: entries with their key, captured call, size and times.

use std::collections::HashMap;

use persistdict::raw::{RawDb, RawEntry};
use serde::Serialize;

use super::Result;
use super::fns::{self, FnRecord};
use crate::render;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SortBy {
    /// Most recently used first.
    Atime,
    /// Most recently created first.
    Ctime,
    /// Largest first.
    Size,
}

/// One entry as `ls`, `get` and `rm --dry-run` show it.
#[derive(Debug, Serialize)]
pub struct EntryRow {
    /// The key as text (a bincode string or printable UTF-8, quoted) or `0x<hex>`.
    pub key: String,
    pub key_hex: String,
    /// The memoized function, for an entry of a `#[persist_cache]` function with a record.
    pub function: Option<String>,
    /// The captured arguments, by name.
    pub args: Option<serde_json::Value>,
    /// How long the call took to compute, when captured.
    pub compute_ms: Option<u64>,
    /// The value: JSON when the value codec is JSON, else {"hex", "len"}.
    pub value: serde_json::Value,
    pub size: u64,
    pub ctime_ms: u64,
    pub atime_ms: u64,
    pub ctime: String,
    pub atime: String,
    /// The entry's expiry window in ms; null: never expires.
    pub window_ms: Option<u64>,
    pub type_fp: String,
    pub types: Option<String>,
    pub seq: u64,
    #[serde(skip)]
    pub shown: String,
    #[serde(skip)]
    pub value_short: String,
    #[serde(skip)]
    pub ctime_age: String,
    #[serde(skip)]
    pub atime_age: String,
}

/// What rendering an entry needs from its database.
pub struct Ctx {
    pub value_json: bool,
    pub fns: HashMap<[u8; 8], FnRecord>,
}

impl Ctx {
    pub fn new(db: &RawDb) -> Result<Ctx> {
        Ok(Ctx { value_json: render::value_is_json(db.codecs()?.as_deref()), fns: fns::records(db)? })
    }

    pub fn function_of(&self, key: &[u8]) -> Option<&FnRecord> {
        let p: [u8; 8] = key.get(..8).filter(|_| key.len() == 32)?.try_into().ok()?;
        self.fns.get(&p)
    }
}

/// `name(a: 1, b: "x")` from captured arguments.
fn call_text(name: &str, args: &serde_json::Value) -> String {
    let inner = match args {
        serde_json::Value::Object(m) => m.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    };
    format!("{name}({inner})")
}

pub fn row(db: &RawDb, ctx: &Ctx, e: &RawEntry) -> Result<EntryRow> {
    let function = ctx.function_of(&e.key).map(|r| r.function.clone());
    let captured = db.captured_args(&e.key)?.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    let args = captured.as_ref().and_then(|c| c.get("args")).cloned();
    let compute_ms = captured.as_ref().and_then(|c| c.get("compute_ms")).and_then(serde_json::Value::as_u64);
    let key = render::key_text(&e.key);
    let shown = match (&function, &args) {
        (Some(f), Some(a)) => render::shorten(&call_text(fns::short_name(f), a), 80),
        (Some(f), None) => format!("{}(…) {}", fns::short_name(f), render::shorten(&key, 20)),
        (None, _) => render::shorten(&key, 60),
    };
    Ok(EntryRow {
        key,
        key_hex: render::hex(&e.key),
        function,
        args,
        compute_ms,
        value: render::value_json(&e.value, ctx.value_json),
        value_short: render::value_text(&e.value, ctx.value_json, 40),
        size: e.size,
        ctime_ms: render::ms(e.ctime),
        atime_ms: render::ms(e.atime),
        ctime: render::rfc3339(e.ctime),
        atime: render::rfc3339(e.atime),
        ctime_age: render::age(e.ctime),
        atime_age: render::age(e.atime),
        window_ms: e.window.map(|w| w.as_millis() as u64),
        type_fp: format!("{:016x}", e.type_fp),
        types: db.type_names(e.type_fp)?,
        seq: e.seq,
        shown,
    })
}

/// The entries of `function` (all when `None`), each with its row.
pub fn select(db: &RawDb, ctx: &Ctx, function: Option<&str>) -> Result<Vec<RawEntry>> {
    let prefixes = function.map(|f| fns::prefixes_for(&ctx.fns, f)).transpose()?;
    let mut out = Vec::new();
    for e in db.entries()? {
        let e = e?;
        if let Some(ps) = &prefixes
            && !ps.iter().any(|p| e.key.len() == 32 && e.key.starts_with(p))
        {
            continue;
        }
        out.push(e);
    }
    Ok(out)
}

pub fn run(db: &RawDb, function: Option<&str>, sort: Option<SortBy>, limit: Option<usize>) -> Result<Vec<EntryRow>> {
    let ctx = Ctx::new(db)?;
    let mut entries = select(db, &ctx, function)?;
    match sort {
        Some(SortBy::Atime) => entries.sort_by_key(|e| std::cmp::Reverse(e.atime)),
        Some(SortBy::Ctime) => entries.sort_by_key(|e| std::cmp::Reverse(e.ctime)),
        Some(SortBy::Size) => entries.sort_by_key(|e| std::cmp::Reverse(e.size)),
        None => {}
    }
    entries.truncate(limit.unwrap_or(usize::MAX));
    entries.iter().map(|e| row(db, &ctx, e)).collect()
}

/// The encoded keys `text` may stand for, most specific first.
fn candidates(text: &str, key_json: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(hex) = text.strip_prefix("0x")
        && let Some(bytes) = render::parse_hex(hex)
    {
        out.push(bytes);
    }
    if key_json {
        out.push(serde_json::to_vec(text).unwrap_or_default());
    } else {
        out.push(render::bincode_string(text));
    }
    out.push(text.as_bytes().to_vec());
    out
}

pub fn get(db: &RawDb, text: &str) -> Result<EntryRow> {
    let ctx = Ctx::new(db)?;
    let key_json = render::key_is_json(db.codecs()?.as_deref());
    for k in candidates(text, key_json) {
        if let Some(e) = db.get(&k)? {
            return row(db, &ctx, &e);
        }
    }
    Err(format!("no entry with key {text:?} (give a key as `ls` prints it: text, or 0x<hex>)").into())
}

impl EntryRow {
    pub fn print_detail(&self) {
        println!("key       {}", self.key);
        if let Some(f) = &self.function {
            println!("function  {f}");
        }
        if let Some(a) = &self.args {
            println!("args      {a}");
        }
        if let Some(ms) = self.compute_ms {
            println!("computed  in {ms} ms");
        }
        println!("size      {}", render::size(self.size));
        println!("created   {} ({})", self.ctime, self.ctime_age);
        println!("used      {} ({})", self.atime, self.atime_age);
        match self.window_ms {
            Some(w) => println!(
                "expires   after {} unused",
                humantime::format_duration(std::time::Duration::from_secs(w / 1000))
            ),
            None => println!("expires   never"),
        }
        println!("types     {}", self.types.as_deref().unwrap_or(&self.type_fp));
        match &self.value {
            serde_json::Value::Object(m) if m.contains_key("hex") && m.len() == 2 => {
                println!("value     0x{} ({} bytes)", m["hex"].as_str().unwrap_or(""), m["len"])
            }
            v => println!("value     {}", serde_json::to_string_pretty(v).unwrap_or_default()),
        }
    }
}
