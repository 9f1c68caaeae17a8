//! The dictionary API without the macro.
#![allow(clippy::print_stdout)]

use persistdict::{Maintenance, PersistDict};

fn main() -> Result<(), persistdict::Error> {
    let d: PersistDict<String, Vec<f32>> = PersistDict::builder("target/persistdict-direct")
        .expire_days(30)
        .maintenance(Maintenance::Foreground)
        .open()?;
    d.insert("a", &vec![1.0, 2.0])?;
    let v = d.get_or_insert_with("b", || vec![3.0])?;
    println!("b = {v:?}; {} entries", d.len()?);
    for item in d.iter()? {
        let (k, v) = item?;
        let meta = d.metadata(&k)?.expect("present");
        println!("{k}: {v:?} (created {:?})", meta.ctime);
    }
    println!("{:?}", d.stats()?);
    Ok(())
}
