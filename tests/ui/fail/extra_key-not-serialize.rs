use persistdict::persist_cache;

struct ModelVersion;

#[persist_cache(db = "x", extra_key = ModelVersion)]
fn embed(text: String) -> usize {
    text.len()
}

fn main() {}
