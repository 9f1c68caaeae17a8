use persistdict::persist_cache;

#[persist_cache]
fn f(x: u32) -> u32 {
    let y = x +;
    y
}

fn main() {}
