use persistdict::persist_cache;

#[persist_cache(expire_days = "30")]
fn f(x: u32) -> u32 { x }

fn main() { let _ = f(1); }
