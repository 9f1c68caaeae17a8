use persistdict::persist_cache;

trait Area {
    fn area(&self) -> u64;
}

#[derive(serde::Serialize)]
struct Square(u64);

impl Area for Square {
    #[persist_cache]
    fn area(&self) -> u64 {
        self.0 * self.0
    }
}

fn main() {
    let _ = Square(2).area();
}
