//! Is a directory a persistdict database? Answered from the bytes of its
//! `data.mdb` alone, before LMDB opens anything.
//!
//! Opening an LMDB environment, even read-only, creates or rewrites its
//! `lock.mdb` (reader slots, and the whole header when no other process has
//! it open), so a check through LMDB would change another application's
//! files. This one reads `data.mdb` with positional reads: the newest meta
//! page, one descent of the main B-tree to the `persistdict.meta` record,
//! one descent of that table to `format_version`. Every read is bounds
//! checked against the file (a garbage file is an answer, never a crash);
//! the page layout is LMDB's as bundled by heed 0.23 (64-bit, see
//! `storage/btree_check.rs`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

const MAGIC: u32 = 0xBEEF_C0DE;
const PAGEHDRSZ: usize = 16;
const NODESIZE: usize = 8;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const F_BIGDATA: u16 = 0x01;
const F_SUBDATA: u16 = 0x02;
const P_INVALID: u64 = u64::MAX;
/// LMDB's cursor stack depth.
const MAX_DEPTH: usize = 32;

/// What the probe found in `data.mdb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A persistdict database of this format version.
    Persistdict(u32),
    /// Not one: why, in a few words.
    Not(String),
}

/// A node: its two size/page-number halves, flags, key, and where its data starts.
type Node<'a> = (u16, u16, u16, &'a [u8], usize);

struct Reader {
    file: File,
    len: u64,
    psize: u64,
}

impl Reader {
    fn page(&self, pgno: u64) -> Result<Vec<u8>, String> {
        let off = pgno.checked_mul(self.psize).ok_or("page number out of range")?;
        if pgno < 2 || off.checked_add(self.psize).is_none_or(|end| end > self.len) {
            return Err(format!("page {pgno} lies outside the file"));
        }
        let mut buf = vec![0u8; self.psize as usize];
        self.file.read_exact_at(&mut buf, off).map_err(|e| e.to_string())?;
        Ok(buf)
    }

    /// The data of `key` in the tree rooted at `root`: `(node flags, data)`.
    fn find(&self, root: u64, key: &[u8]) -> Result<Option<(u16, Vec<u8>)>, String> {
        if root == P_INVALID {
            return Ok(None);
        }
        let mut pgno = root;
        for _ in 0..MAX_DEPTH {
            let page = self.page(pgno)?;
            let flags = u16_at(&page, 10)?;
            let lower = usize::from(u16_at(&page, 12)?);
            if lower < PAGEHDRSZ || lower > page.len() {
                return Err(format!("page {pgno}: bad header"));
            }
            let n = (lower - PAGEHDRSZ) / 2;
            let node = |i: usize| -> Result<Node<'_>, String> {
                let off = usize::from(u16_at(&page, PAGEHDRSZ + 2 * i)?);
                let lo = u16_at(&page, off)?;
                let hi = u16_at(&page, off + 2)?;
                let fl = u16_at(&page, off + 4)?;
                let ks = usize::from(u16_at(&page, off + 6)?);
                let k = page.get(off + NODESIZE..off + NODESIZE + ks).ok_or("node runs past its page")?;
                Ok((lo, hi, fl, k, off + NODESIZE + ks))
            };
            if flags & P_BRANCH != 0 {
                // The last child whose separator is <= key (node 0's key is implicit).
                let mut child = 0;
                for i in 1..n {
                    let (_, _, _, k, _) = node(i)?;
                    if k <= key {
                        child = i;
                    } else {
                        break;
                    }
                }
                let (lo, hi, fl, _, _) = node(child)?;
                pgno = u64::from(lo) | (u64::from(hi) << 16) | (u64::from(fl) << 32);
                continue;
            }
            if flags & P_LEAF == 0 {
                return Err(format!("page {pgno} is neither a branch nor a leaf"));
            }
            for i in 0..n {
                let (lo, hi, fl, k, data_at) = node(i)?;
                if k == key {
                    let size = usize::from(lo) | (usize::from(hi) << 16);
                    let size = if fl & F_BIGDATA != 0 { 8 } else { size };
                    let data = page.get(data_at..data_at + size).ok_or("node data runs past its page")?;
                    return Ok(Some((fl, data.to_vec())));
                }
            }
            return Ok(None);
        }
        Err("tree deeper than LMDB allows".into())
    }
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| "read past a page".to_string())
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes)
}

/// Probes `dir/data.mdb` (which must exist). An I/O error reading it is
/// `Err`; anything that is not a persistdict database is `Ok(Probe::Not)`.
pub(crate) fn probe(data: &Path) -> std::io::Result<Probe> {
    // A writer in another process may reuse pages of the snapshot being
    // read: a failed descent is only believed when it fails again.
    let mut last = probe_once(data)?;
    for _ in 0..3 {
        if matches!(last, Probe::Persistdict(_)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        last = probe_once(data)?;
    }
    Ok(last)
}

fn probe_once(data: &Path) -> std::io::Result<Probe> {
    let file = File::open(data)?;
    let len = file.metadata()?.len();
    let not = |why: &str| Ok(Probe::Not(why.to_string()));
    let mut first = vec![0u8; 4096.min(len as usize)];
    file.read_exact_at(&mut first, 0)?;
    if u32_at(&first, 16) != Some(MAGIC) {
        return not("not an LMDB data file");
    }
    let psize = u64::from(u32_at(&first, 40).unwrap_or(0));
    if !(512..=65536).contains(&psize) || !psize.is_power_of_two() {
        return not("an LMDB file with an implausible page size");
    }
    let mut second = vec![0u8; 160];
    if file.read_exact_at(&mut second, psize).is_err() {
        return not("an LMDB file shorter than its meta pages");
    }
    let mut best: Option<(u64, u64)> = None;
    for m in [&first[..], &second[..]] {
        if u32_at(m, 16) != Some(MAGIC) {
            continue;
        }
        if let (Some(root), Some(txnid)) = (u64_at(m, 88 + 40), u64_at(m, 144))
            && best.is_none_or(|(t, _)| txnid > t)
        {
            best = Some((txnid, root));
        }
    }
    let Some((_, main_root)) = best else { return not("an LMDB file without a valid meta page") };
    let reader = Reader { file, len, psize };
    let meta_name = crate::storage::store::TABLE_NAMES.iter().find(|n| n.ends_with(".meta")).copied().unwrap_or("");
    let meta_db = match reader.find(main_root, meta_name.as_bytes()) {
        Ok(Some((fl, rec))) if fl & F_SUBDATA != 0 && rec.len() == 48 => rec,
        Ok(_) => return not("an LMDB database without persistdict's tables (another application's?)"),
        Err(e) => return Ok(Probe::Not(format!("an LMDB file whose main table cannot be read ({e})"))),
    };
    let Some(meta_root) = u64_at(&meta_db, 40) else { return not("a damaged table record") };
    match reader.find(meta_root, crate::storage::meta::FORMAT_VERSION_KEY) {
        Ok(Some((0, v))) => match crate::storage::meta::read_u32(&v) {
            Some(version) => Ok(Probe::Persistdict(version)),
            None => not("a persistdict meta table with a malformed format_version"),
        },
        Ok(_) => not("persistdict's tables without a format_version record"),
        Err(e) => Ok(Probe::Not(format!("a persistdict meta table that cannot be read ({e})"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persistdict_database_is_recognised_and_others_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let d: crate::PersistDict<String, u32> = crate::PersistDict::open(dir.path()).unwrap();
        for i in 0..2000u32 {
            d.insert(&format!("key {i}"), &i).unwrap();
        }
        drop(d);
        let data = dir.path().join("data.mdb");
        assert_eq!(probe(&data).unwrap(), Probe::Persistdict(crate::FORMAT_VERSION));

        let other = tempfile::tempdir().unwrap();
        // SAFETY: a new directory, not open elsewhere.
        let env = unsafe { heed::EnvOpenOptions::new().max_dbs(4).open(other.path()) }.unwrap();
        let w = env.write_txn().unwrap();
        let db = env
            .create_databases_and_commit(w, |o, w| -> heed::Result<_> {
                Ok(heed::CommitOrAbort::<_, ()>::Commit(
                    o.create_database::<heed::types::Bytes, heed::types::Bytes>(w, Some("things"))?,
                ))
            })
            .unwrap()
            .unwrap_commit();
        let mut w = env.write_txn().unwrap();
        db.put(&mut w, b"a", b"b").unwrap();
        w.commit().unwrap();
        drop(env);
        assert!(matches!(probe(&other.path().join("data.mdb")).unwrap(), Probe::Not(_)));

        let junk = other.path().join("junk");
        std::fs::write(&junk, vec![7u8; 10_000]).unwrap();
        assert!(matches!(probe(&junk).unwrap(), Probe::Not(_)));
        std::fs::write(&junk, b"").unwrap();
        assert!(matches!(probe(&junk).unwrap(), Probe::Not(_)));
    }
}
