use persistdict::persist_cache;

#[persist_cache(db = "x", fresh_for = "1h", on_error = "serve_stale")]
fn length(text: String) -> usize {
    text.len()
}

fn main() {}
