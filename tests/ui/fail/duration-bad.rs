use persistdict::persist_cache;

#[persist_cache(db = "x", fresh_for = "an hour")]
fn a(x: u32) -> u32 {
    x
}

#[persist_cache(db = "x", expire = "12h", expire_days = 3)]
fn b(x: u32) -> u32 {
    x
}

#[persist_cache(db = "x", single_flight = "cluster")]
fn c(x: u32) -> u32 {
    x
}

#[persist_cache(db = "x", single_flight = "process", lease_timeout = "10s")]
fn d(x: u32) -> u32 {
    x
}

#[persist_cache(db = "x", on_error = "retry")]
fn e(x: u32) -> Result<u32, String> {
    Ok(x)
}

fn main() {}
