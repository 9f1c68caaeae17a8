use persistdict::persist_cache;

#[persist_cache]
fn push_and_count(v: &mut Vec<u32>, x: u32) -> usize {
    v.push(x);
    v.len()
}

fn main() {
    let mut v = Vec::new();
    let _ = push_and_count(&mut v, 1);
}
