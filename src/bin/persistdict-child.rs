//! Helper process for the process-level tests: `persistdict-child CMD PATH ARGS...`.
//!
//! - `write PATH START COUNT`: inserts keys START..START+COUNT (value = key * 2)
//! - `get PATH KEY`: prints the value of KEY or `none`
//! - `insert PATH KEY VALUE`
#![allow(clippy::print_stdout)]

use persistdict::PersistDict;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let d: PersistDict<u64, u64> = PersistDict::open(&args[2])?;
    match args[1].as_str() {
        "write" => {
            let (start, count): (u64, u64) = (args[3].parse()?, args[4].parse()?);
            for k in start..start + count {
                d.insert(&k, &(k * 2))?;
            }
        }
        "get" => match d.get(&args[3].parse::<u64>()?)? {
            Some(v) => println!("{v}"),
            None => println!("none"),
        },
        "insert" => d.insert(&args[3].parse::<u64>()?, &args[4].parse::<u64>()?)?,
        other => return Err(format!("unknown command {other}").into()),
    }
    Ok(())
}
