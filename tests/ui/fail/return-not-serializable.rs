use persistdict::persist_cache;

struct Output;

#[persist_cache]
fn f(x: u32) -> Output { let _ = x; Output }

fn main() { let _ = f(1); }
