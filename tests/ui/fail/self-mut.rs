use persistdict::persist_cache;

#[derive(serde::Serialize)]
struct Counter(u32);

impl Counter {
    #[persist_cache(companions = false)]
    fn bump(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

fn main() {
    let _ = Counter(0).bump();
}
