//! One file per command; each returns an [`Out`].

pub mod fns;
pub mod import;
pub mod ls;
pub mod rm;
pub mod stat;
pub mod verify;

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use persistdict::raw::{RawDb, RawOptions};

use crate::output::Out;
use crate::{Cli, Command};

pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress(len: Option<u64>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        let style = match len {
            Some(_) => ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})"),
            None => ProgressStyle::with_template("{spinner} {msg} {elapsed}"),
        };
        if let Ok(style) = style {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

pub fn open(dir: &Path) -> Result<RawDb> {
    Ok(RawDb::open(dir)?)
}

pub fn run(cli: Cli) -> Result<Out> {
    Ok(match cli.command {
        Command::Stat { dir } => Out::Stat(stat::run(&open(&dir)?)?),
        Command::Fns { dir } => Out::Fns(fns::run(&open(&dir)?)?),
        Command::Ls { dir, function, sort, limit } => Out::Ls(ls::run(&open(&dir)?, function.as_deref(), sort, limit)?),
        Command::Get { dir, key } => Out::Get(ls::get(&open(&dir)?, &key)?),
        Command::Rm { dir, function, wheres, older_than, stale_versions, idle, all, dry_run } => {
            let filter = rm::Filter { function, wheres, older_than, stale_versions, idle, all };
            filter.check()?;
            Out::Rm(rm::run(&open(&dir)?, &filter, dry_run)?)
        }
        Command::Expire { dir } => Out::Expire { expired: open(&dir)?.expire()? },
        Command::Verify { dir } => Out::Verify(verify::run(&open(&dir)?)?),
        Command::Compact { dir, to } => {
            let db = open(&dir)?;
            let Some(to) = to else {
                // In place: this process must not hold the directory either.
                drop(db);
                let bar = progress(None, "compacting in place");
                bar.enable_steady_tick(std::time::Duration::from_millis(100));
                let done = persistdict::compact_in_place(&dir);
                bar.finish_and_clear();
                let c = done?;
                return Ok(Out::Compact { to: dir.display().to_string(), bytes: c.after, source_disk_bytes: c.before });
            };
            let bar = progress(None, "compacting");
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            let bytes = db.compact_to(&to)?;
            bar.finish_and_clear();
            Out::Compact { to: to.display().to_string(), bytes, source_disk_bytes: db.stats()?.disk_bytes }
        }
        Command::Export { dir, file } => {
            let db = open(&dir)?;
            let bar = progress(Some(db.stats()?.entries), "exporting");
            let entries = db.export(&file, |n| bar.set_position(n))?;
            bar.finish_and_clear();
            let bytes = std::fs::metadata(&file)?.len();
            Out::Export { file: file.display().to_string(), entries, bytes }
        }
        Command::Import { dir, file, max_size, max_entries } => {
            let mut options = RawOptions::default();
            options.create = true;
            options.max_bytes = max_size.map(|s| s.as_u64());
            options.max_entries = max_entries;
            if !file.is_file() {
                return Err(format!("{}: no such export file", file.display()).into());
            }
            let db = RawDb::open_with(&dir, options)?;
            let bar = progress(Some(std::fs::metadata(&file)?.len()), "importing");
            let report = db.import(&file, |n| bar.set_position(n))?;
            bar.finish_and_clear();
            Out::Import(import::ImportOut::new(&dir, &file, report))
        }
    })
}
