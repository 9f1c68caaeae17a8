//! Review 2: tracing cost grows as k! with k recursive Option/Vec fields
//! (each site is entered once per path: every permutation is built).
use std::time::Duration;

use persistdict::PersistDict;
use serde::{Deserialize, Serialize};

macro_rules! node {
    ($name:ident, $($f:ident),*) => {
        #[derive(Serialize, Deserialize, Debug, PartialEq, Default)]
        pub struct $name { pub id: u32, $(pub $f: Option<Box<$name>>,)* }
    };
}
node!(N6, a, b, c, d, e, f);
node!(N8, a, b, c, d, e, f, g, h);
node!(N9, a, b, c, d, e, f, g, h, i);
node!(N10, a, b, c, d, e, f, g, h, i, j);
// A family-tree-like record: 12 optional links to records of its type.
node!(
    Person,
    mother,
    father,
    spouse,
    first_child,
    next_sibling,
    prev_sibling,
    guardian,
    mentor,
    manager,
    partner,
    best_friend,
    emergency_contact
);

fn first_insert<T: Serialize + for<'de> Deserialize<'de> + Default + PartialEq + std::fmt::Debug>() {
    let dir = tempfile::tempdir().unwrap();
    let d = PersistDict::<u8, T>::open(dir.path()).unwrap();
    d.insert(&1, &T::default()).unwrap();
    assert_eq!(d.get(&1).unwrap(), Some(T::default()));
}

/// k recursive fields of one type cost k per tracing run, not k!: a
/// 12-link record used to take hours to fingerprint. The watchdog is a
/// hang detector (the trace now takes milliseconds), not a timing assertion.
#[test]
fn many_recursive_links_are_traced_without_blowing_up() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        first_insert::<N6>();
        first_insert::<N8>();
        first_insert::<N9>();
        first_insert::<N10>();
        first_insert::<Person>();
        tx.send(()).unwrap();
    });
    assert!(rx.recv_timeout(Duration::from_secs(120)).is_ok(), "tracing a 12-link record hung");
}
