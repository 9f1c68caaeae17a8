//! Review: the companion's key equals the wrapper's in less common shapes.
use std::sync::LazyLock;

use persistdict::persist_cache;
use serde::Serialize;

static ROOT: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let root = tempfile::tempdir().unwrap();
    std::env::set_current_dir(root.path()).unwrap();
    root
});

#[derive(Serialize)]
struct G<T>(T);

impl<T: Serialize + Clone + Send + Sync> G<T> {
    #[persist_cache(db = "review_companion")]
    async fn len_async<const N: usize>(&self, s: &str) -> usize {
        s.len() * N
    }
    #[persist_cache(db = "review_companion")]
    fn consume(self, x: u8) -> u32 {
        u32::from(x)
    }
}

#[persist_cache(db = "review_companion")]
fn with_impl(x: impl Serialize + std::fmt::Debug, y: u8) -> String {
    format!("{x:?}{y}")
}

#[persist_cache(db = "review_companion")]
fn lifetimes<'a, T>(s: &'a str, t: T) -> String
where
    T: Serialize + std::fmt::Display,
{
    format!("{s}{t}")
}

trait Greeter: Serialize {
    const P: &'static str;
    #[persist_cache(db = "review_companion")]
    fn greet(&self, x: u32) -> String {
        format!("{}{x}", Self::P)
    }
}
#[derive(Serialize)]
struct H;
impl Greeter for H {
    const P: &'static str = "h";
}

#[tokio::test]
async fn companion_keys_match_the_wrapper() {
    LazyLock::force(&ROOT);
    let g = G(vec![1u8]);
    assert_eq!(g.len_async::<3>("ab").await, 6);
    assert!(g.len_async_cache::<3>("ab").is_cached(), "async method of a generic impl");
    assert!(!g.len_async_cache::<2>("ab").is_cached());
    assert_eq!(G(7u16).consume(4), 4);
    assert!(G(7u16).consume_cache(4).is_cached(), "by-value self");
    assert_eq!(with_impl(vec![1u8], 2), "[1]2");
    assert!(with_impl_cache(vec![1u8], 2).is_cached(), "impl Trait argument");
    assert!(!with_impl_cache([1u8], 2).is_cached(), "another concrete type");
    assert_eq!(lifetimes("a", 1u64), "a1");
    assert!(lifetimes_cache("a", 1u64).is_cached(), "lifetimes and where clause");
    assert_eq!(H.greet(1), "h1");
    assert!(H.greet_cache(1).is_cached(), "trait default method");
}
