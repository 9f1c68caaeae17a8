use persistdict::persist_cache;

#[persist_cache]
fn f(x: u32) -> impl std::fmt::Debug { x }

fn main() { let _ = f(1); }
