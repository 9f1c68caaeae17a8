//! `rm`: removes the entries that match every filter given.

use std::time::{Duration, SystemTime};

use persistdict::raw::RawDb;
use serde::Serialize;

use super::Result;
use super::ls::{self, Ctx, EntryRow};

pub struct Filter {
    pub function: Option<String>,
    pub wheres: Vec<String>,
    pub older_than: Option<Duration>,
    pub stale_versions: bool,
    /// How long a superseded version must have gone unused to be stale.
    pub idle: Duration,
    pub all: bool,
}

#[derive(Debug, Serialize)]
pub struct RmOut {
    pub dry_run: bool,
    pub matched: usize,
    pub removed: usize,
    /// With --dry-run: what would go.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<EntryRow>,
}

/// `ARG=VALUE`: VALUE as JSON when it parses, else as a string.
fn parse_where(w: &str) -> Result<(String, serde_json::Value)> {
    let (arg, value) = w.split_once('=').ok_or_else(|| format!("--where {w:?}: expected ARG=VALUE"))?;
    if arg.is_empty() {
        return Err(format!("--where {w:?}: the argument name is empty").into());
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok((arg.to_string(), value))
}

impl Filter {
    /// Refuses an `rm` without any filter unless `--all`, before anything is opened.
    pub fn check(&self) -> Result<()> {
        for w in &self.wheres {
            parse_where(w)?;
        }
        let filtered =
            self.function.is_some() || !self.wheres.is_empty() || self.older_than.is_some() || self.stale_versions;
        if !filtered && !self.all {
            return Err("rm without a filter would remove everything: give --fn, --where, --older-than or \
                        --stale-versions, or --all to remove every entry"
                .into());
        }
        if filtered && self.all {
            return Err("--all removes every entry: it does not combine with filters".into());
        }
        Ok(())
    }
}

pub fn run(db: &RawDb, f: &Filter, dry_run: bool) -> Result<RmOut> {
    let ctx = Ctx::new(db)?;
    let wheres: Vec<(String, serde_json::Value)> = f.wheres.iter().map(|w| parse_where(w)).collect::<Result<_>>()?;
    let stale: Vec<[u8; 8]> = if f.stale_versions {
        let now_ms = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let idle_ms = f.idle.as_millis() as u64;
        ctx.fns
            .iter()
            .filter(|(_, r)| super::fns::superseded(&ctx.fns, r) && now_ms.saturating_sub(r.last_use_ms) >= idle_ms)
            .map(|(p, _)| *p)
            .collect()
    } else {
        Vec::new()
    };
    let cutoff = f.older_than.map(|d| SystemTime::now().checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
    let mut matched = Vec::new();
    for e in ls::select(db, &ctx, f.function.as_deref())? {
        if cutoff.is_some_and(|c| e.atime >= c) {
            continue;
        }
        if f.stale_versions && !stale.iter().any(|p| e.key.len() == 32 && e.key.starts_with(p)) {
            continue;
        }
        if !wheres.is_empty() {
            let captured = db.captured_args(&e.key)?.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let args = captured.as_ref().and_then(|c| c.get("args"));
            if !wheres.iter().all(|(k, v)| args.and_then(|a| a.get(k)) == Some(v)) {
                continue;
            }
        }
        matched.push(e);
    }
    let keys: Vec<Vec<u8>> = matched.iter().map(|e| e.key.clone()).collect();
    let entries =
        if dry_run { matched.iter().map(|e| ls::row(db, &ctx, e)).collect::<Result<_>>()? } else { Vec::new() };
    let removed = if dry_run { 0 } else { db.remove(&keys)? };
    Ok(RmOut { dry_run, matched: keys.len(), removed, entries })
}

impl RmOut {
    pub fn print(&self) {
        if self.dry_run {
            for e in &self.entries {
                println!("would remove {}  ({}, used {})", e.shown, crate::render::size(e.size), e.atime_age);
            }
            println!("would remove {} entries (dry run: nothing removed)", self.matched);
        } else {
            println!("removed {} entries", self.removed);
        }
    }
}
