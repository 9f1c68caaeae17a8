use persistdict::persist_cache;

#[persist_cache(ignore(client))]
fn f(x: u32) -> u32 { x }

fn main() { let _ = f(1); }
