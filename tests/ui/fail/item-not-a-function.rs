use persistdict::persist_cache;

#[persist_cache]
struct S;

fn main() { let _ = S; }
