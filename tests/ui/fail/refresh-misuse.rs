use persistdict::persist_cache;

#[persist_cache(db = "x", fresh_for = "1h", refresh = "background")]
fn borrowed(text: &str) -> usize {
    text.len()
}

#[persist_cache(db = "x", fresh_for = "1h", refresh = "background")]
async fn not_sync(text: String) -> usize {
    text.len()
}

#[persist_cache(db = "x", refresh = "background")]
fn never_stale(text: String) -> usize {
    text.len()
}

#[persist_cache(db = "x", fresh_for = "1h", refresh = "eager")]
fn unknown(text: String) -> usize {
    text.len()
}

fn main() {}
