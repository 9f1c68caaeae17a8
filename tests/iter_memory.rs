//! Iterating 100,000 entries streams them in insertion order without holding
//! them in memory. Alone in its test binary: it reads this process's RssAnon.

use persistdict::PersistDict;

fn rss_anon_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn iterating_100k_entries_in_insertion_order_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<String, Vec<u8>> =
        PersistDict::builder(dir.path()).durability(persistdict::Durability::NoSync).open().unwrap();
    // Keys whose sort order differs from insertion order; 100 MB of values.
    for chunk in 0..10u64 {
        d.extend((chunk * 10_000..(chunk + 1) * 10_000).map(|i| (format!("{}", 100_000 - i), vec![i as u8; 1000])))
            .unwrap();
    }
    let before = rss_anon_kib();
    let mut expected = 0u64;
    for item in d.iter().unwrap() {
        let (k, v) = item.unwrap();
        assert_eq!(k, format!("{}", 100_000 - expected));
        assert_eq!(v[0], expected as u8);
        expected += 1;
    }
    assert_eq!(expected, 100_000);
    let grown = rss_anon_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "iteration grew anonymous memory by {grown} KiB");
}
