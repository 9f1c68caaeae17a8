use persistdict::persist_cache;

#[persist_cache(db = "x", capture_args = "no")]
fn f(x: u32) -> u32 {
    x
}

fn main() {}
