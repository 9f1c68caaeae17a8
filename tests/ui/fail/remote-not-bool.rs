use persistdict::persist_cache;

#[persist_cache(remote = "off")]
fn f(x: u32) -> u32 { x }

fn main() { let _ = f(1); }
