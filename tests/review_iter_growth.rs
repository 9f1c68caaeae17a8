//! Review: iterate while the same thread writes enough to grow the map.
use persistdict::PersistDict;

#[test]
fn iteration_survives_map_growth_by_the_same_thread() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<u32, Vec<u8>> = PersistDict::builder(dir.path()).map_size(256 << 10).open().unwrap();
    for i in 0..600u32 {
        d.insert(&i, &vec![(i % 251) as u8; 100]).unwrap();
    }
    let mut seen = 0u32;
    for (n, item) in d.iter().unwrap().enumerate() {
        let (k, v) = item.unwrap();
        assert_eq!(k, n as u32);
        assert_eq!(v, vec![(k % 251) as u8; 100], "entry {k}");
        // Overwrite what the iterator will read next, and grow the map.
        d.insert(&(k + 1), &vec![0xEE; 64 << 10]).unwrap();
        d.insert(&(10_000 + k), &vec![0xAB; 64 << 10]).unwrap();
        seen += 1;
    }
    assert_eq!(seen, 600);
    assert_eq!(d.get(&10_599).unwrap().map(|v| v.len()), Some(64 << 10));
}
