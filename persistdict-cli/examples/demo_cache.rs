//! Fills `demo-cache/` with a memoized function's results, for trying the
//! `persistdict` command: `cargo run -p persistdict-cli --example demo_cache`.

#[persistdict::persist_cache(db = "demo-cache", name = "embed")]
fn embed(text: &str, model: &str) -> Vec<f32> {
    text.bytes().chain(model.bytes()).map(f32::from).collect()
}

fn main() {
    for (t, m) in [("hello", "ada"), ("world", "ada"), ("hello", "babbage")] {
        embed(t, m);
    }
}
