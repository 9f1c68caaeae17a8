//! Review: two handles on one directory, each with its LRU, driven by a
//! deterministic sequence of operations and checked against a model.
//! Colliding keys are forced with `__key_hasher` and a small key size limit.
use std::collections::BTreeMap;

use persistdict::PersistDict;

fn collide(_: &[u8]) -> [u8; 32] {
    [7; 32]
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: [&str; 6] = ["a", "b", "ccccc", "ddddd", "eeeeeeee", "f"];
/// With key_size_limit 4, bincode's length prefix + >3 bytes is hashed.
fn hashed(k: &str) -> bool {
    k.len() + 1 > 4
}

#[derive(Default)]
struct Model(BTreeMap<&'static str, u32>);
impl Model {
    fn insert(&mut self, k: &'static str, v: u32) {
        if hashed(k) {
            self.0.retain(|kk, _| !hashed(kk) || *kk == k);
        }
        self.0.insert(k, v);
    }
}

#[test]
fn two_handles_random_interleavings_match_a_model() {
    for seed in 1..200u64 {
        let dir = tempfile::tempdir().unwrap();
        let open = |lru: usize| -> PersistDict<String, u32> {
            PersistDict::builder(dir.path()).key_size_limit(4).__key_hasher(collide).lru_capacity(lru).open().unwrap()
        };
        let hs = [open(16), open(16), open(1)];
        let mut m = Model::default();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut log = Vec::new();
        for step in 0..300 {
            let h = rng.below(hs.len() as u64) as usize;
            let d = &hs[h];
            let k = KEYS[rng.below(KEYS.len() as u64) as usize];
            let v = rng.below(1000) as u32;
            let op = rng.below(100);
            let what = match op {
                0..=34 => {
                    let got = d.get(k).unwrap();
                    assert_eq!(got, m.0.get(k).copied(), "seed {seed} step {step}: get {k} via h{h}; log {log:?}");
                    format!("h{h} get {k} -> {got:?}")
                }
                35..=59 => {
                    d.insert(k, &v).unwrap();
                    m.insert(k, v);
                    format!("h{h} insert {k}={v}")
                }
                60..=74 => {
                    let r = d.remove(k).unwrap();
                    assert_eq!(r, m.0.remove(k).is_some(), "seed {seed} step {step}: remove {k} via h{h}; log {log:?}");
                    format!("h{h} remove {k} -> {r}")
                }
                75..=84 => {
                    let got = d.get_or_insert_with(k, || v).unwrap();
                    let want = match m.0.get(k) {
                        Some(x) => *x,
                        None => {
                            m.insert(k, v);
                            v
                        }
                    };
                    assert_eq!(got, want, "seed {seed} step {step}: goiw {k} via h{h}; log {log:?}");
                    format!("h{h} goiw {k} {v} -> {got}")
                }
                85..=91 => {
                    let k2 = KEYS[rng.below(KEYS.len() as u64) as usize];
                    d.extend([(k.to_string(), v), (k2.to_string(), v + 1)]).unwrap();
                    m.insert(k, v);
                    m.insert(k2, v + 1);
                    format!("h{h} extend {k}={v} {k2}={}", v + 1)
                }
                92..=94 => {
                    d.clear().unwrap();
                    m.0.clear();
                    format!("h{h} clear")
                }
                _ => {
                    let n = d.len().unwrap();
                    assert_eq!(n, m.0.len(), "seed {seed} step {step}: len; log {log:?}");
                    format!("h{h} len {n}")
                }
            };
            log.push(what);
            if log.len() > 12 {
                log.remove(0);
            }
        }
    }
}
