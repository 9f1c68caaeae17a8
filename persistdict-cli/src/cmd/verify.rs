//! `verify`: the integrity check; exit code 1 when it found anything.

use persistdict::raw::RawDb;
use serde::Serialize;

use super::Result;

#[derive(Debug, Serialize)]
pub struct VerifyOut {
    pub clean: bool,
    /// A damaged B-tree (nothing else could be checked), or null.
    pub corrupt_file: Option<String>,
    pub entries_checked: usize,
    pub corrupt_records: usize,
    pub repaired: usize,
    pub missing_order_rows: usize,
    pub missing_atime_rows: usize,
    pub orphan_order_rows: usize,
    pub orphan_atime_rows: usize,
    pub ctime_after_atime: usize,
}

pub fn run(db: &RawDb) -> Result<VerifyOut> {
    let bar = super::progress(None, "verifying");
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    let result = db.verify();
    bar.finish_and_clear();
    let r = match result {
        Ok(r) => r,
        Err(e @ persistdict::Error::CorruptFile { .. }) => {
            return Ok(VerifyOut {
                clean: false,
                corrupt_file: Some(e.to_string()),
                entries_checked: 0,
                corrupt_records: 0,
                repaired: 0,
                missing_order_rows: 0,
                missing_atime_rows: 0,
                orphan_order_rows: 0,
                orphan_atime_rows: 0,
                ctime_after_atime: 0,
            });
        }
        Err(e) => return Err(e.into()),
    };
    Ok(VerifyOut {
        clean: r.is_clean(),
        corrupt_file: None,
        entries_checked: r.entries_checked,
        corrupt_records: r.corrupt_records,
        repaired: r.repaired(),
        missing_order_rows: r.missing_order_rows,
        missing_atime_rows: r.missing_atime_rows,
        orphan_order_rows: r.orphan_order_rows,
        orphan_atime_rows: r.orphan_atime_rows,
        ctime_after_atime: r.ctime_after_atime,
    })
}

impl VerifyOut {
    pub fn print(&self) {
        if let Some(c) = &self.corrupt_file {
            println!("DAMAGED: {c}");
            return;
        }
        println!("checked {} entries", self.entries_checked);
        if self.clean {
            println!("clean");
            return;
        }
        if self.corrupt_records > 0 {
            println!(
                "{} records fail their checksums (kept; remove them with rm once looked at)",
                self.corrupt_records
            );
        }
        for (n, what) in [
            (self.missing_order_rows, "missing order-index rows (repaired)"),
            (self.missing_atime_rows, "missing atime-index rows (repaired)"),
            (self.orphan_order_rows, "orphan order-index rows (removed)"),
            (self.orphan_atime_rows, "orphan atime-index rows (removed)"),
            (self.ctime_after_atime, "entries with ctime after atime (repaired)"),
        ] {
            if n > 0 {
                println!("{n} {what}");
            }
        }
    }
}
