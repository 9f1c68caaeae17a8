//! Every command of the real binary on databases filled through the dict:
//! text and `--json` output, exit codes, bad inputs, export and import.

mod common;

use std::time::Duration;

use common::{p, run, snapshot};
use persistdict::PersistDict;

fn filled(dir: &std::path::Path) {
    let d: PersistDict<String, Vec<u32>> = PersistDict::open(dir).unwrap();
    for i in 0..20u32 {
        d.insert(&format!("key {i}"), &vec![i; i as usize]).unwrap();
    }
}

#[test]
fn stat_ls_get_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let r = run(&["stat", p(dir.path())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("entries         20"), "{}", r.stdout);
    let s = run(&["stat", p(dir.path()), "--json"]).json();
    assert_eq!(s["entries"], 20);
    assert_eq!(s["format_version"], persistdict::FORMAT_VERSION);
    assert_eq!(s["codecs"], "bincode2-standard/bincode2-standard");
    assert!(s["used_bytes"].as_u64().unwrap() > 0 && s["disk_bytes"].as_u64().unwrap() > 0);

    let ls = run(&["ls", p(dir.path()), "--json"]).json();
    let rows = ls.as_array().unwrap();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[0]["key"], "\"key 0\"", "insertion order, bincode strings shown as text");
    assert_eq!(
        rows[3]["value"]["len"], 4,
        /* length byte + 3 one-byte varints */ "bincode values are hex with their length"
    );
    let limited = run(&["ls", p(dir.path()), "--sort", "size", "--limit", "2", "--json"]).json();
    assert_eq!(limited.as_array().unwrap().len(), 2);
    assert_eq!(limited[0]["key"], "\"key 19\"");
    let text = run(&["ls", p(dir.path())]);
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("\"key 7\"") && text.stdout.contains("20 entries"), "{}", text.stdout);

    let g = run(&["get", p(dir.path()), "key 2", "--json"]).json();
    assert_eq!(g["key"], "\"key 2\"");
    let hex = g["key_hex"].as_str().unwrap().to_string();
    let by_hex = run(&["get", p(dir.path()), &format!("0x{hex}"), "--json"]).json();
    assert_eq!(by_hex["seq"], g["seq"]);
    let missing = run(&["get", p(dir.path()), "nope"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no entry"), "{}", missing.stderr);
}

#[test]
fn json_values_print_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let d: PersistDict<String, serde_json::Value, persistdict::Json, persistdict::Json> =
        PersistDict::builder(dir.path()).key_codec(persistdict::Json).value_codec(persistdict::Json).open().unwrap();
    d.insert("doc", &serde_json::json!({"a": [1, 2]})).unwrap();
    drop(d);
    let g = run(&["get", p(dir.path()), "doc", "--json"]).json();
    assert_eq!(g["value"], serde_json::json!({"a": [1, 2]}));
    let t = run(&["get", p(dir.path()), "doc"]);
    assert!(t.stdout.contains("\"a\""), "{}", t.stdout);
}

#[test]
fn rm_refuses_without_filter_and_dry_run_removes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    filled(dir.path());
    let before = snapshot(dir.path());
    let r = run(&["rm", p(dir.path())]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--all"), "{}", r.stderr);
    let dry = run(&["rm", p(dir.path()), "--older-than", "0s", "--dry-run", "--json"]).json();
    assert_eq!(dry["matched"], 20);
    assert_eq!(dry["removed"], 0);
    assert_eq!(dry["entries"].as_array().unwrap().len(), 20);
    let none = run(&["rm", p(dir.path()), "--older-than", "7d", "--json"]).json();
    assert_eq!(none["removed"], 0);
    assert_eq!(snapshot(dir.path()).keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>());
    assert_eq!(run(&["stat", p(dir.path()), "--json"]).json()["entries"], 20);

    std::thread::sleep(Duration::from_millis(20));
    let all = run(&["rm", p(dir.path()), "--all", "--json"]).json();
    assert_eq!(all["removed"], 20);
    assert_eq!(run(&["stat", p(dir.path()), "--json"]).json()["entries"], 0);
    let both = run(&["rm", p(dir.path()), "--all", "--older-than", "1d"]);
    assert_eq!(both.code, 2);
}

#[test]
fn expire_verify_compact() {
    let dir = tempfile::tempdir().unwrap();
    {
        let d: PersistDict<u32, u32> = PersistDict::builder(dir.path())
            .expire_after(Duration::from_millis(10))
            .maintenance(persistdict::Maintenance::Disabled)
            .open()
            .unwrap();
        for i in 0..5 {
            d.insert(&i, &i).unwrap();
        }
        let keep: PersistDict<u32, u32> =
            PersistDict::builder(dir.path()).maintenance(persistdict::Maintenance::Disabled).open().unwrap();
        keep.insert(&100, &1).unwrap();
    }
    std::thread::sleep(Duration::from_millis(30));
    let e = run(&["expire", p(dir.path()), "--json"]).json();
    assert_eq!(e["expired"], 5);
    assert_eq!(run(&["expire", p(dir.path())]).stdout.trim(), "expired 0 entries");

    let v = run(&["verify", p(dir.path()), "--json"]);
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert_eq!(v.json()["clean"], true);
    assert_eq!(v.json()["entries_checked"], 1);

    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("copy");
    let c = run(&["compact", p(dir.path()), "--to", p(&to), "--json"]).json();
    assert!(c["bytes"].as_u64().unwrap() > 0);
    let copy: PersistDict<u32, u32> = PersistDict::open(&to).unwrap();
    assert_eq!(copy.get(&100).unwrap(), Some(1));
    let in_place = run(&["compact", p(dir.path()), "--json"]);
    assert_eq!(in_place.code, 0, "{}", in_place.stderr);
    assert!(in_place.json()["bytes"].as_u64().unwrap() <= in_place.json()["source_disk_bytes"].as_u64().unwrap());
    assert_eq!(run(&["stat", p(dir.path()), "--json"]).json()["entries"], 1);
}

#[test]
fn verify_reports_a_damaged_record_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    {
        let d: PersistDict<String, String> = PersistDict::open(dir.path()).unwrap();
        d.insert("k", &"a distinctive value to damage".to_string()).unwrap();
    }
    let data = dir.path().join("data.mdb");
    let mut bytes = std::fs::read(&data).unwrap();
    let at = bytes.windows(11).position(|w| w == b"distinctive").expect("value in file");
    bytes[at] ^= 0x20;
    std::fs::write(&data, &bytes).unwrap();
    let v = run(&["verify", p(dir.path()), "--json"]);
    assert_eq!(v.code, 1, "{}{}", v.stdout, v.stderr);
    assert_eq!(v.json()["corrupt_records"], 1);
    let t = run(&["verify", p(dir.path())]);
    assert_eq!(t.code, 1);
    assert!(t.stdout.contains("fail their checksums"), "{}", t.stdout);
}

#[test]
fn bad_paths_exit_2_and_change_nothing() {
    let root = tempfile::tempdir().unwrap();
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let file = root.path().join("random.bin");
    std::fs::write(&file, (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect::<Vec<_>>()).unwrap();
    let junk_db = root.path().join("junkdb");
    std::fs::create_dir(&junk_db).unwrap();
    std::fs::write(junk_db.join("data.mdb"), vec![0xABu8; 8192]).unwrap();
    let other = root.path().join("other-app");
    std::fs::create_dir(&other).unwrap();
    {
        // SAFETY: a new directory, not open elsewhere in this process.
        let env = unsafe { heed::EnvOpenOptions::new().read_txn_without_tls().max_dbs(4).open(&other) }.unwrap();
        let w = env.write_txn().unwrap();
        let db = env
            .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
                Ok(heed::CommitOrAbort::<_, ()>::Commit(
                    o.create_database::<heed::types::Bytes, heed::types::Bytes>(w, Some("users"))?,
                ))
            })
            .unwrap()
            .unwrap_commit();
        let mut w = env.write_txn().unwrap();
        db.put(&mut w, b"alice", b"1").unwrap();
        w.commit().unwrap();
        env.prepare_for_closing().wait();
    }
    let missing = root.path().join("missing");
    let before = snapshot(root.path());
    let x = p(&file);
    for path in [&empty, &file, &junk_db, &other, &missing] {
        for args in [
            vec!["stat"],
            vec!["fns"],
            vec!["ls"],
            vec!["get", "KEY"],
            vec!["rm", "--all"],
            vec!["expire"],
            vec!["verify"],
            vec!["compact", "--to", "/nonexistent-never-created"],
            vec!["export", "/tmp/never-written.pdx"],
        ] {
            let mut full = vec![args[0], p(path)];
            full.extend(&args[1..]);
            let r = run(&full);
            assert_eq!(r.code, 2, "{full:?}: {}", r.stdout);
            assert!(r.stderr.contains("not a persistdict database"), "{full:?}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
            let j = run(&[&full[..], &["--json"]].concat());
            assert_eq!(j.code, 2);
            assert!(j.json()["error"].as_str().unwrap().contains("not a persistdict database"));
        }
        // import into an existing directory that is not a database
        if path.exists() {
            let r = run(&["import", p(path), x]);
            assert_eq!(r.code, 2);
        }
    }
    assert_eq!(snapshot(root.path()), before, "nothing created or changed");
    assert!(!std::path::Path::new("/nonexistent-never-created").exists());
    // a usage error
    assert_eq!(run(&["ls"]).code, 2);
    assert_eq!(run(&["frobnicate", "x"]).code, 2);
}

#[test]
fn export_import_into_a_fresh_directory_gives_equal_entries() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    filled(&src);
    {
        let d: PersistDict<String, Vec<u32>> = PersistDict::builder(&src).expire_days(3).open().unwrap();
        let long = "k".repeat(700); // stored hashed
        d.insert(&long, &vec![7]).unwrap();
    }
    let file = root.path().join("warm.pdx");
    let e = run(&["export", p(&src), p(&file), "--json"]);
    assert_eq!(e.code, 0, "{}", e.stderr);
    let e = e.json();
    assert_eq!(e["entries"], 21);
    let dst = root.path().join("dst");
    let i = run(&["import", p(&dst), p(&file), "--json"]).json();
    assert_eq!((i["entries"].as_u64(), i["written"].as_u64()), (Some(21), Some(21)));
    let a = persistdict::raw::RawDb::open(&src).unwrap();
    let b = persistdict::raw::RawDb::open(&dst).unwrap();
    let ea: Vec<_> = a.entries().unwrap().map(Result::unwrap).collect();
    let eb: Vec<_> = b.entries().unwrap().map(Result::unwrap).collect();
    assert_eq!(ea.len(), eb.len());
    for (x, y) in ea.iter().zip(&eb) {
        assert_eq!(
            (&x.key, &x.value, x.ctime, x.atime, x.window, x.type_fp),
            (&y.key, &y.value, y.ctime, y.atime, y.window, y.type_fp)
        );
    }
    drop((a, b));
    let d: PersistDict<String, Vec<u32>> = PersistDict::open(&dst).unwrap();
    assert_eq!(d.get("key 5").unwrap(), Some(vec![5; 5]));
    assert_eq!(d.get(&"k".repeat(700)).unwrap(), Some(vec![7]));
    d.insert("key 5", &vec![55]).unwrap(); // newer here: kept on a second import
    drop(d);
    let again = run(&["import", p(&dst), p(&file), "--json"]).json();
    assert_eq!(again["written"], 0, "{again}");
    assert_eq!(again["kept_newer"], 21);
    let d: PersistDict<String, Vec<u32>> = PersistDict::open(&dst).unwrap();
    assert_eq!(d.get("key 5").unwrap(), Some(vec![55]));
    drop(d);

    // budgets apply
    let small = root.path().join("small");
    let s = run(&["import", p(&small), p(&file), "--max-entries", "5", "--json"]).json();
    assert!(s["evicted"].as_u64().unwrap() >= 16, "{s}");
    assert_eq!(run(&["stat", p(&small), "--json"]).json()["entries"], 5);

    // a damaged or foreign file writes nothing
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    let bad = root.path().join("bad.pdx");
    std::fs::write(&bad, &bytes).unwrap();
    let fresh = root.path().join("fresh");
    let r = run(&["import", p(&fresh), p(&bad)]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    let mut other_version = std::fs::read(&file).unwrap();
    other_version[12] = 99;
    std::fs::write(&bad, &other_version).unwrap();
    let r = run(&["import", p(&dst), p(&bad)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("format version 99"), "{}", r.stderr);
}

/// Run by `commands_work_beside_another_process`: holds the database open.
#[test]
#[ignore = "a child process of another test"]
fn child_holding_the_database() {
    let Ok(path) = std::env::var("PERSISTDICT_CLI_HOLD") else { return };
    let d: PersistDict<String, Vec<u32>> = PersistDict::open(&path).unwrap();
    let it = d.iter().unwrap(); // a live reader too
    d.insert("from child", &vec![1]).unwrap();
    std::fs::write(format!("{path}.ready"), b"").unwrap();
    std::thread::sleep(Duration::from_secs(20));
    drop(it);
}

#[test]
fn commands_work_beside_another_process() {
    let root = tempfile::tempdir().unwrap();
    let db = root.path().join("db");
    filled(&db);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_holding_the_database", "--ignored", "--nocapture"])
        .env("PERSISTDICT_CLI_HOLD", &db)
        .spawn()
        .unwrap();
    let ready = root.path().join("db.ready");
    for _ in 0..400 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(ready.exists(), "child did not open the database");
    assert_eq!(run(&["stat", p(&db), "--json"]).json()["entries"], 21);
    assert_eq!(run(&["ls", p(&db), "--json"]).json().as_array().unwrap().len(), 21);
    assert_eq!(run(&["get", p(&db), "from child"]).code, 0);
    assert_eq!(run(&["verify", p(&db)]).code, 0);
    assert_eq!(run(&["expire", p(&db)]).code, 0);
    let file = root.path().join("x.pdx");
    let r = run(&["export", p(&db), p(&file)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(run(&["rm", p(&db), "--older-than", "0s", "--json"]).json()["removed"], 21);
    assert_eq!(run(&["import", p(&db), p(&file), "--json"]).json()["written"], 21);
    assert_eq!(run(&["compact", p(&db), "--to", p(&root.path().join("c"))]).code, 0);
    let in_place = run(&["compact", p(&db)]);
    assert_eq!(in_place.code, 2, "refused while the child has it open");
    assert!(in_place.stderr.contains("open"), "{}", in_place.stderr);
    let _ = child.kill();
    let _ = child.wait();
}
