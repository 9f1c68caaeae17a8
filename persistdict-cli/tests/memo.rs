//! `fns`, `ls --fn`, `rm --fn` and `rm --stale-versions` on a database
//! filled through `#[persist_cache]`.

mod common;

use common::{p, run};

#[persistdict::persist_cache(name = "embed", version = "1")]
fn embed_v1(text: &str, model: &str) -> Vec<u32> {
    text.bytes().chain(model.bytes()).map(u32::from).collect()
}

#[persistdict::persist_cache(name = "embed", version = "2")]
fn embed_v2(text: &str, model: &str) -> Vec<u32> {
    text.bytes().map(u32::from).chain([model.len() as u32]).collect()
}

#[persistdict::persist_cache]
fn square(x: u64) -> u64 {
    x * x
}

#[test]
fn functions_listed_filtered_and_pruned() {
    let root = tempfile::tempdir().unwrap();
    // SAFETY-free: read at the first call of a memoized function, and only this test calls them.
    unsafe { std::env::set_var("PERSISTDICT_DIR", root.path()) };
    unsafe { std::env::set_var("PERSISTDICT_USE_REFRESH_MS", "0") };
    embed_v1("hello", "ada");
    embed_v1("bye", "ada");
    std::thread::sleep(std::time::Duration::from_millis(20));
    for t in ["hello", "bye", "again"] {
        embed_v2(t, "ada");
    }
    for x in 0..4 {
        square(x);
    }
    let db = embed_v1_cache("hello", "ada").store().path();
    let dir = p(&db).to_string();
    drop_all();

    let fns = run(&["fns", &dir, "--json"]);
    assert_eq!(fns.code, 0, "{}", fns.stderr);
    let fns = fns.json();
    let rows = fns.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{fns}");
    let embed: Vec<_> = rows.iter().filter(|r| r["function"] == "embed").collect();
    assert_eq!(embed.len(), 2);
    let old = embed.iter().find(|r| r["superseded"] == true).expect("v1 superseded");
    assert_eq!(old["entries"], 2);
    let text = run(&["fns", &dir]);
    assert!(text.stdout.contains("superseded"), "{}", text.stdout);

    let sq = run(&["ls", &dir, "--fn", "square", "--json"]).json();
    assert_eq!(sq.as_array().unwrap().len(), 4);
    assert!(sq[0]["function"].as_str().unwrap().ends_with("square"));
    assert_eq!(run(&["ls", &dir, "--fn", "nosuchfn"]).code, 2);

    // Captured arguments: the call as written, and removal by argument value.
    let ls = run(&["ls", &dir, "--fn", "embed"]);
    assert!(ls.stdout.contains(r#"embed(model: "ada", text: "hello")"#), "{}", ls.stdout);
    let rows = run(&["ls", &dir, "--fn", "embed", "--json"]).json();
    let hello = rows.as_array().unwrap().iter().find(|r| r["args"]["text"] == "again").expect("captured");
    assert_eq!(hello["args"]["model"], "ada");
    assert!(hello["compute_ms"].is_u64());
    let dry = run(&["rm", &dir, "--where", "text=again", "--dry-run", "--json"]).json();
    assert_eq!(dry["matched"], 1);

    // Version 1 was used a moment ago: not stale yet (the default --idle is 1h).
    let dry = run(&["rm", &dir, "--stale-versions", "--dry-run", "--json"]).json();
    assert_eq!(dry["matched"], 0, "a version used within --idle is never stale");
    let dry = run(&["rm", &dir, "--stale-versions", "--idle", "0s", "--dry-run", "--json"]).json();
    assert_eq!(dry["matched"], 2);
    let gone = run(&["rm", &dir, "--stale-versions", "--idle", "0s", "--json"]).json();
    assert_eq!(gone["removed"], 2);
    let gone = run(&["rm", &dir, "--fn", "square", "--json"]).json();
    assert_eq!(gone["removed"], 4);
    assert_eq!(run(&["stat", &dir, "--json"]).json()["entries"], 3);
}

/// The memo stores keep their handles for the process's life; the CLI opens
/// the directory beside them, which LMDB allows.
fn drop_all() {}
