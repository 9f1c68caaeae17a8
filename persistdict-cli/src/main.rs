//! `persistdict`: see inside a persistdict cache, prune it, verify it, move it.
//!
//! One subcommand per file in `cmd/`; each returns data that `output.rs`
//! renders as text or, with `--json`, as one JSON document on stdout.
//! Exit codes: 0 ok, 1 `verify` found problems, 2 usage errors, a path that
//! is not a persistdict database, or any other failure.

// The command prints; the library never does.
#![allow(clippy::print_stdout)]

mod cmd;
mod output;
mod render;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  persistdict stat ~/.cache/persistdict/myapp
  persistdict fns cache/llm
  persistdict ls cache/llm --fn embed --sort atime --limit 20
  persistdict get cache/dict hello            # a text key (encoded with the database's key codec)
  persistdict get cache/llm 0x3fa1...          # a key in hex, as `ls` prints it
  persistdict rm cache/llm --fn embed --where model=ada --dry-run
  persistdict rm cache/llm --older-than 7d
  persistdict verify cache/llm || echo damaged
  persistdict export cache/llm warm.pdx && persistdict import other/llm warm.pdx
  persistdict stat cache/llm --json | jq .entries";

/// Inspect, prune, verify and move persistdict caches.
#[derive(Debug, Parser)]
#[command(name = "persistdict", version, about, after_help = EXAMPLES, arg_required_else_help = true)]
pub struct Cli {
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Entries, bytes used and on disk, map size, format, codecs, oldest/newest use, readers.
    Stat {
        /// The database directory.
        dir: PathBuf,
    },
    /// The memoized functions stored: recorded path and version, entries and bytes, stale versions marked.
    Fns {
        /// The database directory.
        dir: PathBuf,
    },
    /// Entries, in insertion order unless sorted: key, captured arguments, size, ctime, atime.
    #[command(after_help = "Examples:\n  persistdict ls cache/llm --fn embed --sort size --limit 10")]
    Ls {
        /// The database directory.
        dir: PathBuf,
        /// Only the entries of this memoized function (its name, full path, or key prefix in hex).
        #[arg(long = "fn", value_name = "F")]
        function: Option<String>,
        /// Sort order (most recent or largest first).
        #[arg(long, value_enum)]
        sort: Option<cmd::ls::SortBy>,
        /// At most N entries.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// One entry's value (JSON where the value codec is JSON, else hex) and metadata.
    #[command(
        after_help = "KEY is text, encoded with the database's key codec (a bincode or JSON string), or 0x<hex>\nfor the exact encoded bytes, as `ls` prints them."
    )]
    Get {
        /// The database directory.
        dir: PathBuf,
        /// The key: text, or `0x<hex>`.
        key: String,
    },
    /// Removes what matches all the filters given; says how many.
    #[command(after_help = "\
Filters combine (all must match). Without any filter, rm refuses unless --all.

--where ARG=VALUE compares a top-level argument of the captured call: VALUE is parsed as JSON
when it parses (42, true, null, \"x\", [1,2], {\"a\":1}), else taken as a string; it matches when it
equals the argument's JSON value exactly (a nested object or array must equal as a whole: there is
no matching inside it). Entries without captured arguments never match.

Examples:
  persistdict rm cache/llm --fn embed --where model=ada --dry-run
  persistdict rm cache/llm --older-than 7d
  persistdict rm cache/llm --all")]
    Rm {
        /// The database directory.
        dir: PathBuf,
        /// Only the entries of this memoized function.
        #[arg(long = "fn", value_name = "F")]
        function: Option<String>,
        /// Only the calls whose argument ARG equals VALUE (repeatable).
        #[arg(long = "where", value_name = "ARG=VALUE")]
        wheres: Vec<String>,
        /// Only the entries not used for this long (e.g. 7d, 12h, 30m).
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Only the entries of function versions superseded by a newer version of the same function
        /// and not used for --idle (a version some process still calls is never stale).
        #[arg(long)]
        stale_versions: bool,
        /// With --stale-versions: how long a superseded version must have gone unused (a process
        /// calling a version records its use at most every 10 minutes, so keep this above that).
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration, default_value = "1h")]
        idle: std::time::Duration,
        /// Remove every entry (needed when no filter is given).
        #[arg(long)]
        all: bool,
        /// Say what would go, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Removes the entries not used within their own expiry windows.
    Expire {
        /// The database directory.
        dir: PathBuf,
    },
    /// Checks the file's B-trees, every record's checksums and the indexes; repairs the indexes.
    #[command(after_help = "Exit code 1 when anything was found (repaired or not), 0 when clean.")]
    Verify {
        /// The database directory.
        dir: PathBuf,
    },
    /// Rewrites the database without free pages: in place (refused while any other process has it
    /// open), or as a copy with --to.
    Compact {
        /// The database directory.
        dir: PathBuf,
        /// Write the compacted copy into this new directory (the database is left as it is).
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// Writes every entry, with its metadata, to a portable file.
    Export {
        /// The database directory.
        dir: PathBuf,
        /// The file to write.
        file: PathBuf,
    },
    /// Merges an export file into a database (created when DIR does not exist); the newer entry wins.
    Import {
        /// The database directory.
        dir: PathBuf,
        /// The export file.
        file: PathBuf,
        /// A size budget applied while importing, least recently used evicted first (e.g. "2 GiB").
        #[arg(long, value_name = "SIZE")]
        max_size: Option<bytesize::ByteSize>,
        /// An entry budget applied while importing.
        #[arg(long, value_name = "N")]
        max_entries: Option<u64>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match cmd::run(cli) {
        Ok(out) => {
            output::emit(&out, json);
            ExitCode::from(out.exit_code())
        }
        Err(e) => {
            if json {
                println!("{}", serde_json::json!({ "error": e.to_string() }));
            }
            eprintln!("persistdict: error: {e}");
            ExitCode::from(2)
        }
    }
}
