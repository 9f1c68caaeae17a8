use std::sync::Arc;

use persistdict::persist_cache;

#[persist_cache]
fn len(text: Arc<str>) -> usize {
    text.len()
}

fn main() {
    let _ = len(Arc::from("x"));
}
