use persistdict::persist_cache;

#[persist_cache]
fn f(x: &str) -> &str { x }

fn main() { let _ = f("a"); }
