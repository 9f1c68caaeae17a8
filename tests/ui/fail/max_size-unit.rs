use persistdict::persist_cache;

#[persist_cache(max_size = "2 TB")]
fn f(x: u32) -> u32 { x }

fn main() { let _ = f(1); }
