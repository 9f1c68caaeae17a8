//! `import`'s report.

use std::path::Path;

use persistdict::raw::ImportReport;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ImportOut {
    pub dir: String,
    pub file: String,
    pub entries: u64,
    pub written: u64,
    pub kept_newer: u64,
    pub evicted: u64,
}

impl ImportOut {
    pub fn new(dir: &Path, file: &Path, r: ImportReport) -> Self {
        ImportOut {
            dir: dir.display().to_string(),
            file: file.display().to_string(),
            entries: r.entries,
            written: r.written,
            kept_newer: r.kept_newer,
            evicted: r.evicted,
        }
    }

    pub fn print(&self) {
        println!(
            "imported {} of {} entries from {} into {} ({} kept: the database's were newer; {} evicted by the budgets)",
            self.written, self.entries, self.file, self.dir, self.kept_newer, self.evicted
        );
    }
}
