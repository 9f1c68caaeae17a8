//! `stat`: the figures of a database.

use persistdict::raw::RawDb;
use serde::Serialize;

use super::Result;
use crate::render;

#[derive(Debug, Serialize)]
pub struct StatOut {
    pub path: String,
    pub entries: u64,
    pub used_bytes: u64,
    pub disk_bytes: u64,
    pub map_size: u64,
    pub format_version: u32,
    pub codecs: Option<String>,
    pub key_size_limit: usize,
    pub oldest_ctime_ms: Option<u64>,
    pub newest_atime_ms: Option<u64>,
    pub oldest_ctime: Option<String>,
    pub newest_atime: Option<String>,
    pub reader_slots: u32,
    pub functions: usize,
    pub last_txn_id: u64,
}

pub fn run(db: &RawDb) -> Result<StatOut> {
    let s = db.stats()?;
    let span = db.time_span()?;
    Ok(StatOut {
        path: db.path().display().to_string(),
        entries: s.entries,
        used_bytes: s.used_bytes,
        disk_bytes: s.disk_bytes,
        map_size: s.map_size,
        format_version: db.format_version()?,
        codecs: db.codecs()?,
        key_size_limit: db.key_size_limit(),
        oldest_ctime_ms: span.map(|(c, _)| render::ms(c)),
        newest_atime_ms: span.map(|(_, a)| render::ms(a)),
        oldest_ctime: span.map(|(c, _)| render::rfc3339(c)),
        newest_atime: span.map(|(_, a)| render::rfc3339(a)),
        reader_slots: s.reader_slots,
        functions: db.function_records()?.len(),
        last_txn_id: s.last_txn_id,
    })
}

impl StatOut {
    pub fn print(&self) {
        let age = |ms: Option<u64>| {
            ms.map_or("-".into(), |ms| {
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
                format!("{} ({})", render::rfc3339(t), render::age(t))
            })
        };
        println!("path            {}", self.path);
        println!("entries         {}", self.entries);
        println!("used            {}", render::size(self.used_bytes));
        println!("on disk         {}", render::size(self.disk_bytes));
        println!("map size        {}", render::size(self.map_size));
        println!("format version  {}", self.format_version);
        println!("codecs          {}", self.codecs.as_deref().unwrap_or("- (no typed handle opened it yet)"));
        println!("key size limit  {} bytes", self.key_size_limit);
        println!("oldest entry    {}", age(self.oldest_ctime_ms));
        println!("last used       {}", age(self.newest_atime_ms));
        println!("functions       {}", self.functions);
        println!("reader slots    {} (high-water mark across processes)", self.reader_slots);
    }
}
