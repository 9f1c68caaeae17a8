//! Model-based test: random operation sequences run against a PersistDict
//! and a HashMap, compared after every step; proptest shrinks failures.

use std::collections::HashMap;

use persistdict::{Maintenance, PersistDict};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(String, u32),
    Get(String),
    Remove(String),
    Clear,
    Extend(Vec<(String, u32)>),
    Reopen,
    Expire,
    GetOrInsert(String, u32),
}

fn key() -> impl Strategy<Value = String> {
    // Short keys, and long ones past the small key_size_limit (stored hashed).
    prop_oneof![3 => "[a-c]{0,3}", 1 => "[a-c]{20,40}"]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (key(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        3 => key().prop_map(Op::Get),
        2 => key().prop_map(Op::Remove),
        1 => Just(Op::Clear),
        1 => prop::collection::vec((key(), any::<u32>()), 0..6).prop_map(Op::Extend),
        1 => Just(Op::Reopen),
        1 => Just(Op::Expire),
        2 => (key(), any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
    ]
}

fn open(path: &std::path::Path, limit: usize, lru: usize) -> PersistDict<String, u32> {
    PersistDict::builder(path)
        .key_size_limit(limit)
        .lru_capacity(lru)
        .expire_days(365)
        .maintenance(Maintenance::Disabled)
        .durability(persistdict::Durability::NoSync)
        .open()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn behaves_like_a_hashmap(ops in prop::collection::vec(op(), 1..40), limit in 4usize..24, lru in 0usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let mut d = open(dir.path(), limit, lru);
        let mut model: HashMap<String, u32> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    d.insert(&k, &v).unwrap();
                    if model.insert(k.clone(), v).is_none() { order.push(k); }
                }
                Op::Get(k) => prop_assert_eq!(d.get(&k).unwrap(), model.get(&k).copied()),
                Op::Remove(k) => {
                    prop_assert_eq!(d.remove(&k).unwrap(), model.remove(&k).is_some());
                    order.retain(|o| o != &k);
                }
                Op::Clear => {
                    d.clear().unwrap();
                    model.clear();
                    order.clear();
                }
                Op::Extend(pairs) => {
                    d.extend(pairs.clone()).unwrap();
                    for (k, v) in pairs {
                        if model.insert(k.clone(), v).is_none() { order.push(k); }
                    }
                }
                Op::Reopen => {
                    drop(d);
                    d = open(dir.path(), limit, lru);
                }
                Op::Expire => prop_assert_eq!(d.expire().unwrap(), 0),
                Op::GetOrInsert(k, v) => {
                    let got = d.get_or_insert_with(&k, || v).unwrap();
                    let expected = *model.entry(k.clone()).or_insert_with(|| { order.push(k.clone()); v });
                    prop_assert_eq!(got, expected);
                }
            }
            prop_assert_eq!(d.len().unwrap(), model.len());
        }
        let keys: Vec<String> = d.keys().unwrap().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(keys, order);
        prop_assert!(d.check_integrity().unwrap().is_clean());
    }
}
