//! What each command returns, and how it is shown: a table or lines of
//! text, or one JSON document (`--json`).

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

use crate::render;

/// The result of one command.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Out {
    Stat(crate::cmd::stat::StatOut),
    Fns(Vec<crate::cmd::fns::FnRow>),
    Ls(Vec<crate::cmd::ls::EntryRow>),
    Get(crate::cmd::ls::EntryRow),
    Rm(crate::cmd::rm::RmOut),
    Expire { expired: usize },
    Verify(crate::cmd::verify::VerifyOut),
    Compact { to: String, bytes: u64, source_disk_bytes: u64 },
    Export { file: String, entries: u64, bytes: u64 },
    Import(crate::cmd::import::ImportOut),
}

impl Out {
    pub fn exit_code(&self) -> u8 {
        match self {
            Out::Verify(v) if !v.clean => 1,
            _ => 0,
        }
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    // Fit the terminal's width when it has a sensible one; a terminal that
    // reports none (0 columns, as some ptys do) would squeeze every column
    // to one character.
    match t.width() {
        Some(w) if w >= 60 => {
            t.set_content_arrangement(ContentArrangement::Dynamic);
        }
        _ => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t
}

pub fn emit(out: &Out, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(out).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")));
        return;
    }
    match out {
        Out::Stat(s) => s.print(),
        Out::Fns(rows) if rows.is_empty() => {
            println!("no function records (databases written by #[persist_cache] record them)")
        }
        Out::Fns(rows) => {
            let mut t = table(&["function", "version", "entries", "size", "first use", "last use", ""]);
            for r in rows {
                t.add_row(vec![
                    r.function.clone(),
                    r.version.clone(),
                    r.entries.to_string(),
                    render::size(r.bytes),
                    r.first_use.clone(),
                    r.last_use.clone(),
                    if r.superseded { "superseded".into() } else { String::new() },
                ]);
            }
            println!("{t}");
        }
        Out::Ls(rows) if rows.is_empty() => println!("no entries"),
        Out::Ls(rows) => {
            let with_time = rows.iter().any(|r| r.compute_ms.is_some());
            let mut head = vec!["key", "value", "size"];
            if with_time {
                head.push("compute");
            }
            head.extend(["created", "used"]);
            let mut t = table(&head);
            for r in rows {
                let mut row = vec![r.shown.clone(), r.value_short.clone(), render::size(r.size)];
                if with_time {
                    row.push(r.compute_ms.map(|ms| format!("{ms} ms")).unwrap_or_default());
                }
                row.extend([r.ctime_age.clone(), r.atime_age.clone()]);
                t.add_row(row);
            }
            println!("{t}");
            println!("{} entries", rows.len());
        }
        Out::Get(r) => r.print_detail(),
        Out::Rm(r) => r.print(),
        Out::Expire { expired } => println!("expired {expired} entries"),
        Out::Verify(v) => v.print(),
        Out::Compact { to, bytes, source_disk_bytes } => {
            println!("compacted into {to}: {} (was {} on disk)", render::size(*bytes), render::size(*source_disk_bytes))
        }
        Out::Export { file, entries, bytes } => {
            println!("exported {entries} entries to {file} ({})", render::size(*bytes))
        }
        Out::Import(i) => i.print(),
    }
}
