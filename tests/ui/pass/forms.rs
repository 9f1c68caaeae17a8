//! Every supported form compiles.
use persistdict::persist_cache;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Point {
    x: i32,
}

/// Doc comments and attributes are kept.
#[must_use]
#[persist_cache(db = "target/ui-pass", version = "1", name = "forms::free", durability = "sync", lru_capacity = 16)]
pub fn free(a: &str, b: &[u8], (c, d): (u8, u8), mut e: Vec<u32>) -> Vec<u32> {
    e.push(a.len() as u32 + b.len() as u32 + c as u32 + d as u32);
    e
}

#[persist_cache(companions = false, crate = "::persistdict")]
fn unit(x: u32) {
    let _ = x;
}

#[persist_cache]
fn generic<T, U>(t: T, u: impl Serialize) -> Option<String>
where
    T: Serialize + std::fmt::Debug,
{
    let _ = u;
    Some(format!("{t:?}"))
}

#[persist_cache]
fn result(x: u32) -> std::io::Result<u32> {
    Ok(x)
}

impl Point {
    #[persist_cache]
    fn by_ref(&self, k: i32) -> i32 {
        self.x * k
    }

    // `&mut self` must be ignored: on a hit the body (and its change) does not run.
    #[persist_cache(ignore(self))]
    fn by_mut(&mut self) -> i32 {
        self.x += 1;
        self.x
    }

    #[persist_cache]
    fn by_value(self) -> Point {
        self
    }

    #[persist_cache]
    fn associated(x: i32) -> Point {
        Point { x }
    }

    #[persist_cache]
    async fn async_method(&self) -> i32 {
        self.x
    }
}

trait Area {
    fn area(&self) -> i32;
}

impl Area for Point {
    #[persist_cache(companions = false)]
    fn area(&self) -> i32 {
        self.x * self.x
    }
}

#[persist_cache]
async fn fetch(url: String) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    Ok(url)
}

fn main() {
    let _ = free("a", b"b", (1, 2), vec![]);
    unit(1);
    let _ = generic::<u8, u8>(1, 2u8);
    let _ = result(1);
    let mut p = Point { x: 1 };
    let _ = p.by_ref(2);
    let _ = p.by_mut();
    let _ = p.clone().by_value();
    let _ = Point::associated(3);
    let _ = p.area();
    let _ = free_cache("a", b"b", (1, 2), vec![]).is_cached();
    let _ = p.by_ref_cache(2).is_cached();
    drop(fetch(String::new()));
    drop(p.async_method());
}
