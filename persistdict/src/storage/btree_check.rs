//! A bounds-checked walker over the B-trees of an LMDB data file (`data.mdb`).
//!
//! LMDB keeps no page checksums and trusts every byte of its memory map: a corrupted page
//! makes its cursors follow wild offsets and page numbers and die with `SIGSEGV`/`SIGBUS`.
//! [`check_file`] reads the file with positional reads (never a memory map), re-implements
//! the page layout of the LMDB bundled by `heed` 0.23 (`lmdb-master-sys` 0.2.6, 64-bit,
//! `MDB_VL32` off, `PAGEBASE` 0, `MDB_MAXKEYSIZE` 511) and reports the first structural
//! problem with its page number, before any LMDB cursor can touch it.
//!
//! # What is checked
//!
//! * **Meta pages** 0 and 1 (both, as `mdb_env_open` needs both): `P_META` flag, page number,
//!   magic `0xBEEFC0DE`, data version 1, equal page sizes, page size a power of two in
//!   `512..=32768` (the largest `MAX_PAGESIZE` of this build; 16-bit offsets cannot address a
//!   65536-byte page with `PAGEBASE` 0). Meta 1 is read at meta 0's page size, as LMDB does.
//! * **Free DB flags** (`mm_flags`): `MDB_INTEGERKEY` and nothing but `MDB_FIXEDMAP`/`MDB_NOSUBDIR`
//!   besides (LMDB obeys a stray `MDB_DUPSORT` there and segfaults on the next write).
//! * **Meta selection** as LMDB does it: the newest meta (meta 1 only if its txnid is strictly
//!   larger), or the one with exactly the requested txnid; LMDB then reads `metas[txnid & 1]`,
//!   so the chosen meta must sit in the slot its txnid's parity names.
//! * **`mm_last_pg`** within the file: pages past the end of the file are allowed only if they
//!   are all on the free list (LMDB never writes pages that were freed before being flushed, so
//!   the file may legitimately end early), and the whole tail must be accounted for that way.
//! * **Every page reference** (tree roots, branch children, overflow starts and runs) is in
//!   `2..=mm_last_pg`, lies wholly inside the file, and the page read carries its own number.
//! * **Page types**: tree pages are exactly `P_BRANCH` or exactly `P_LEAF`; overflow starts are
//!   exactly `P_OVERFLOW`. `P_LEAF2`, `P_SUBP`, `P_DIRTY`, … are reported.
//! * **Page header**: `PAGEHDRSZ <= mp_lower <= mp_upper <= psize`, `mp_lower - PAGEHDRSZ` even;
//!   branch pages hold at least 2 keys (LMDB asserts it and reads `NODEPTR(mp, 1)`
//!   unconditionally for integer keys), leaf pages at least 1.
//! * **Nodes**: every offset is even and in `[mp_upper, psize)`; the 8-byte node header, the key
//!   and the inline data (or the 8-byte overflow page number, or the 48-byte `MDB_db` of a named
//!   DB) fit in the page; the nodes exactly fill `[mp_upper, psize)` as LMDB keeps them; keys
//!   are at most 511 bytes.
//! * **Node flags**: `F_DUPDATA` (DUPSORT) is reported everywhere; `F_SUBDATA` is allowed only
//!   in the main DB, with a 48-byte inline record; the free DB holds plain or `F_BIGDATA` nodes.
//! * **Overflow runs**: the start page is `P_OVERFLOW` with `mp_pages >= 1`, the run ends at or
//!   before `mm_last_pg` and inside the file, and the value fits in the run.
//! * **Key order**: keys strictly increase within each page and every subtree stays inside its
//!   parent's separator range `[key[i], key[i+1])` under the DB's comparator: bytewise
//!   (`mdb_cmp_memn`), reversed (`MDB_REVERSEKEY`) or native unsigned integers of one size, 4 or
//!   8 bytes (`MDB_INTEGERKEY`; the free DB's keys are 8-byte txnids).
//! * **Shape and counts**: every leaf is at depth `md_depth` (at most 32, LMDB's cursor stack),
//!   and `md_branch_pages`, `md_leaf_pages`, `md_overflow_pages` and `md_entries` equal what was
//!   walked; an empty tree (`md_root == P_INVALID`) has all of them zero.
//! * **Named DBs** (main-DB nodes with `F_SUBDATA`) are walked like the main DB; DB flags other
//!   than `MDB_REVERSEKEY`/`MDB_INTEGERKEY` (i.e. any DUPSORT family flag) are reported.
//! * **Free DB**: keys are 8-byte txnids not newer than the meta's; each value is an ID list
//!   (`count` then `count` page numbers, `8 * (count + 1) <= size`) in strictly descending order.
//! * **Page accounting**: every page in `2..=mm_last_pg` is used by exactly one tree page or
//!   overflow run, or listed exactly once on the free list (LMDB's own `mdb_audit` invariant);
//!   a page reached twice (cycle, shared subtree), a used page that is also free and a page
//!   that is neither (leaked) are all reported.
//!
//! # What cannot be checked here
//!
//! * Value bytes (inline or in overflow pages) are not interpreted: persistdict's records carry
//!   their own CRC, which is where a flipped value bit is caught.
//! * The unused middle of a page (between `mp_lower` and `mp_upper`), the bytes of pages on the
//!   free list and the spare tail of overflow runs are never read by LMDB and are not checked.
//! * A corruption that still yields a structurally valid snapshot is not detected: a changed
//!   key byte that keeps the order, a value length off by one where the node's even-rounded
//!   size stays the same, a bit of `mp_pad` or of the meta's `mm_mapsize`/`mm_address`, or a
//!   txnid raised by a multiple of 2.
//! * The meta page not selected gets only the checks LMDB itself makes when opening (flag,
//!   magic, version, page size); its trees are walked only when it is asked for by `txn_id`
//!   (e.g. to fall back to the previous snapshot after a `NO_SYNC` crash).
//! * Custom key comparators are not recorded in the file: a DB opened with one would fail the
//!   key-order check. persistdict uses LMDB's defaults.
//! * The lock file (`lock.mdb`) is not examined.
//!
//! # Cost
//!
//! Linear in the pages of the snapshot: each branch and leaf page is read once (one `pread` of a
//! page), an overflow run costs one 16-byte header read (free-DB runs are read whole), and
//! the accounting map takes one byte per page.

#![deny(
    unsafe_code,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::cmp::Ordering;
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Size of an LMDB page header (`offsetof(MDB_page, mp_ptrs)`).
const PAGEHDRSZ: usize = 16;
/// Size of a node header (`offsetof(MDB_node, mn_data)`).
const NODESIZE: usize = 8;
/// Size of an `MDB_db` record.
const DB_SIZE: usize = 48;
/// Bytes LMDB reads for a meta page: the page header plus `MDB_meta` (`sizeof(MDB_metabuf)`).
const META_READ: usize = 152;
/// Offset of `MDB_meta` inside a meta page.
const META_OFF: usize = PAGEHDRSZ;

/// Branch page flag.
const P_BRANCH: u16 = 0x01;
/// Leaf page flag.
const P_LEAF: u16 = 0x02;
/// Overflow page flag.
const P_OVERFLOW: u16 = 0x04;
/// Meta page flag.
const P_META: u16 = 0x08;

/// Leaf node flag: the data lives in an overflow run.
const F_BIGDATA: u16 = 0x01;
/// Leaf node flag: the data is an `MDB_db` record (named DB).
const F_SUBDATA: u16 = 0x02;
/// Leaf node flag: the data holds duplicates (DUPSORT).
const F_DUPDATA: u16 = 0x04;

/// DB flag: compare keys from their last byte.
const MDB_REVERSEKEY: u16 = 0x02;
/// DB flag: keys are native unsigned integers.
const MDB_INTEGERKEY: u16 = 0x08;
/// Environment flag `MDB_FIXEDMAP`, which LMDB also stores in the free DB's `md_flags`.
const MDB_FIXEDMAP: u16 = 0x01;
/// Environment flag `MDB_NOSUBDIR`, which LMDB also stores in the free DB's `md_flags`.
const MDB_NOSUBDIR: u16 = 0x4000;

/// `MDB_MAGIC`.
const MDB_MAGIC: u32 = 0xBEEF_C0DE;
/// `MDB_DATA_VERSION` of a non-`MDB_DEVEL` build.
const MDB_DATA_VERSION: u32 = 1;
/// Root page number of an empty tree.
const P_INVALID: u64 = u64::MAX;
/// `MDB_MAXKEYSIZE` of this build.
const MAX_KEY: usize = 511;
/// `CURSOR_STACK`: LMDB cannot descend deeper than this.
const MAX_DEPTH: u16 = 32;
/// Smallest page size accepted.
const MIN_PSIZE: u32 = 512;
/// `MAX_PAGESIZE` of a build with `PAGEBASE` 0.
const MAX_PSIZE: u32 = 0x8000;

/// What the walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCheck {
    /// Pages reached through the trees (free, main and named DBs): branch, leaf and overflow.
    pub pages_visited: u64,
    /// The overflow pages among `pages_visited`.
    pub overflow_pages: u64,
    /// Named databases (`F_SUBDATA` nodes of the main DB).
    pub databases: u32,
    /// Entries of the main DB (including its named-DB records) plus those of every named DB.
    pub entries: u64,
}

/// The first problem found: the page number (if known) and a description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// The page where the problem was seen (the referencing page for a bad reference).
    pub page: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

/// Walks every B-tree of the LMDB data file `file` as of its newest valid meta page
/// (or, with `txn_id = Some(id)`, the meta page with exactly that transaction id):
/// the free-page DB, the main DB, and every named DB recorded in the main DB
/// (F_SUBDATA nodes). Reads with positional reads (`std::os::unix::fs::FileExt::read_exact_at`),
/// never through a memory map, so a truncated or garbage file is an error, never a signal.
pub fn check_file(file: &std::fs::File, txn_id: Option<u64>) -> Result<Result<FileCheck, Corruption>, std::io::Error> {
    match check_inner(file, txn_id) {
        Ok(found) => Ok(Ok(found)),
        Err(Fail::Bad(corruption)) => Ok(Err(corruption)),
        Err(Fail::Io(err)) => Err(err),
    }
}

/// Why the walk stopped.
enum Fail {
    /// The file could not be read.
    Io(io::Error),
    /// The file is corrupt.
    Bad(Corruption),
}

/// A `Fail::Bad` for `page` with `reason`.
fn bad(page: Option<u64>, reason: String) -> Fail {
    Fail::Bad(Corruption { page, reason })
}

/// `a + b` or a corruption report blaming `page`.
fn add(a: usize, b: usize, page: Option<u64>) -> Result<usize, Fail> {
    a.checked_add(b).ok_or_else(|| bad(page, "size arithmetic overflows".to_string()))
}

/// `N` bytes at `off` of `buf`.
fn bytes_at<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The native-endian `u16` at `off`, or a report blaming `page`.
fn rd16(buf: &[u8], off: usize, page: Option<u64>) -> Result<u16, Fail> {
    bytes_at(buf, off)
        .map(u16::from_ne_bytes)
        .ok_or_else(|| bad(page, format!("read of 2 bytes at {off} out of bounds")))
}

/// The native-endian `u32` at `off`, or a report blaming `page`.
fn rd32(buf: &[u8], off: usize, page: Option<u64>) -> Result<u32, Fail> {
    bytes_at(buf, off)
        .map(u32::from_ne_bytes)
        .ok_or_else(|| bad(page, format!("read of 4 bytes at {off} out of bounds")))
}

/// The native-endian `u64` at `off`, or a report blaming `page`.
fn rd64(buf: &[u8], off: usize, page: Option<u64>) -> Result<u64, Fail> {
    bytes_at(buf, off)
        .map(u64::from_ne_bytes)
        .ok_or_else(|| bad(page, format!("read of 8 bytes at {off} out of bounds")))
}

/// `buf[start..start + len]`, or a report blaming `page`.
fn slice(buf: &[u8], start: usize, len: usize, page: Option<u64>) -> Result<&[u8], Fail> {
    start
        .checked_add(len)
        .and_then(|end| buf.get(start..end))
        .ok_or_else(|| bad(page, format!("read of {len} bytes at {start} out of bounds")))
}

/// `n` rounded up to even, as LMDB's `EVEN()`.
fn even(n: usize) -> usize {
    n.saturating_add(n & 1)
}

/// An `MDB_db` record.
#[derive(Debug, Clone, Copy)]
struct DbRec {
    /// `md_pad`: the page size in the free DB's record.
    pad: u32,
    /// `md_flags`.
    flags: u16,
    /// `md_depth`.
    depth: u16,
    /// `md_branch_pages`.
    branch_pages: u64,
    /// `md_leaf_pages`.
    leaf_pages: u64,
    /// `md_overflow_pages`.
    overflow_pages: u64,
    /// `md_entries`.
    entries: u64,
    /// `md_root`.
    root: u64,
}

impl DbRec {
    /// Parses the 48-byte record at `off` of `buf`.
    fn parse(buf: &[u8], off: usize, page: Option<u64>) -> Result<Self, Fail> {
        let at = |delta: usize| add(off, delta, page);
        Ok(DbRec {
            pad: rd32(buf, off, page)?,
            flags: rd16(buf, at(4)?, page)?,
            depth: rd16(buf, at(6)?, page)?,
            branch_pages: rd64(buf, at(8)?, page)?,
            leaf_pages: rd64(buf, at(16)?, page)?,
            overflow_pages: rd64(buf, at(24)?, page)?,
            entries: rd64(buf, at(32)?, page)?,
            root: rd64(buf, at(40)?, page)?,
        })
    }
}

/// The parts of a meta page the walk uses.
struct Meta {
    /// `mm_dbs[FREE_DBI]`; its `pad` is the page size.
    free: DbRec,
    /// `mm_dbs[MAIN_DBI]`.
    main: DbRec,
    /// `mm_last_pg`.
    last_pg: u64,
    /// `mm_txnid`.
    txnid: u64,
}

/// Key comparator of a tree, from its DB flags.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmp {
    /// `mdb_cmp_memn`: bytewise, shorter first on a common prefix.
    Bytes,
    /// `mdb_cmp_memnr`: bytewise from the last byte.
    Reverse,
    /// `mdb_cmp_cint`/`mdb_cmp_long`: native unsigned integers of one size (4 or 8 bytes).
    Int,
}

/// Which kind of tree is being walked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The free-page DB.
    Free,
    /// The main (unnamed) DB.
    Main,
    /// A named DB.
    Named,
}

/// A named DB found in the main DB: name, record, and the leaf page holding it.
struct NamedDb {
    /// The key of the `F_SUBDATA` node.
    name: Vec<u8>,
    /// Its `MDB_db` record.
    rec: DbRec,
    /// The main-DB leaf page of the node.
    page: u64,
}

/// Per-tree walk state.
struct Tree {
    /// Kind of tree.
    kind: Kind,
    /// Human-readable name for messages.
    label: String,
    /// Key comparator.
    cmp: Cmp,
    /// Key size of an integer-key tree, once seen.
    int_size: Option<usize>,
    /// `md_depth` to match.
    depth: u16,
    /// Branch pages walked.
    branch_pages: u64,
    /// Leaf pages walked.
    leaf_pages: u64,
    /// Overflow pages walked.
    overflow_pages: u64,
    /// Leaf entries walked.
    entries: u64,
    /// Named DBs found (main DB only).
    named: Vec<NamedDb>,
}

/// Page state in the accounting map.
const UNSEEN: u8 = 0;
/// Page used by a tree.
const USED: u8 = 1;
/// Page on the free list.
const FREE: u8 = 2;

/// The walk over one file and one meta page.
struct Walker<'f> {
    /// The data file.
    file: &'f File,
    /// Its length in bytes.
    file_len: u64,
    /// Page size.
    psize: usize,
    /// `mm_last_pg` of the chosen meta.
    last_pg: u64,
    /// `mm_txnid` of the chosen meta.
    txnid: u64,
    /// Accounting state of pages `0..state.len()` (the pages both `<= last_pg` and in the file).
    state: Vec<u8>,
    /// Free-listed pages past the end of the file.
    free_past_eof: HashSet<u64>,
    /// Totals.
    out: FileCheck,
}

/// Reads `len` bytes at `off`, or reports `page` if they are not all inside the file.
fn read_at(file: &File, file_len: u64, off: u64, len: usize, page: Option<u64>) -> Result<Vec<u8>, Fail> {
    let end = u64::try_from(len).ok().and_then(|l| off.checked_add(l));
    match end {
        Some(end) if end <= file_len => {}
        _ => {
            return Err(bad(
                page,
                format!("{len} bytes at file offset {off} lie beyond the end of the file ({file_len} bytes)"),
            ));
        }
    }
    let mut buf = vec![0u8; len];
    match file.read_exact_at(&mut buf, off) {
        Ok(()) => Ok(buf),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(bad(page, format!("file ended while reading {len} bytes at offset {off}")))
        }
        Err(e) => Err(Fail::Io(e)),
    }
}

/// Reads and validates the meta page in `slot` (0 or 1) at file offset `off`.
fn read_meta(file: &File, file_len: u64, slot: u64, off: u64) -> Result<Meta, Fail> {
    let page = Some(slot);
    let buf = read_at(file, file_len, off, META_READ, page)?;
    let pgno = rd64(&buf, 0, page)?;
    let flags = rd16(&buf, 10, page)?;
    if flags != P_META {
        return Err(bad(page, format!("meta page {slot} has page flags {flags:#x}, expected P_META (0x8)")));
    }
    if pgno != slot {
        return Err(bad(page, format!("meta page {slot} carries page number {pgno}")));
    }
    let magic = rd32(&buf, META_OFF, page)?;
    if magic != MDB_MAGIC {
        return Err(bad(page, format!("meta page {slot} has magic {magic:#x}, expected {MDB_MAGIC:#x}")));
    }
    let version = rd32(&buf, META_OFF + 4, page)?;
    if version != MDB_DATA_VERSION {
        return Err(bad(page, format!("meta page {slot} has data version {version}, expected {MDB_DATA_VERSION}")));
    }
    let free = DbRec::parse(&buf, META_OFF + 24, page)?;
    let main = DbRec::parse(&buf, META_OFF + 24 + DB_SIZE, page)?;
    let last_pg = rd64(&buf, META_OFF + 24 + 2 * DB_SIZE, page)?;
    let txnid = rd64(&buf, META_OFF + 32 + 2 * DB_SIZE, page)?;
    let psize = free.pad;
    if !psize.is_power_of_two() || !(MIN_PSIZE..=MAX_PSIZE).contains(&psize) {
        return Err(bad(
            page,
            format!("meta page {slot} has page size {psize}, not a power of two in {MIN_PSIZE}..={MAX_PSIZE}"),
        ));
    }
    Ok(Meta { free, main, last_pg, txnid })
}

/// The walk behind [`check_file`].
fn check_inner(file: &File, txn_id: Option<u64>) -> Result<FileCheck, Fail> {
    let file_len = file.metadata().map_err(Fail::Io)?.len();
    let meta0 = read_meta(file, file_len, 0, 0)?;
    let psize32 = meta0.free.pad;
    let meta1 = read_meta(file, file_len, 1, u64::from(psize32))?;
    if meta1.free.pad != psize32 {
        return Err(bad(
            Some(1),
            format!("meta pages disagree on the page size: {psize32} in page 0, {} in page 1", meta1.free.pad),
        ));
    }
    let psize = usize::try_from(psize32).map_err(|_| bad(Some(0), "page size does not fit usize".to_string()))?;
    let psize64 = u64::from(psize32);
    let file_pages = file_len.checked_div(psize64).unwrap_or(0);
    if file_pages < 2 {
        return Err(bad(Some(1), format!("file is {file_len} bytes, shorter than two {psize}-byte meta pages")));
    }

    // LMDB's choice: meta 1 only if strictly newer (mdb_env_pick_meta); readers and writers
    // then use metas[txnid & 1] (mdb_txn_renew0), so the parity must agree.
    let (slot, meta) = match txn_id {
        None => {
            if meta1.txnid > meta0.txnid {
                (1u64, meta1)
            } else {
                (0u64, meta0)
            }
        }
        Some(id) => {
            let slot = id & 1;
            let meta = if slot == 0 { meta0 } else { meta1 };
            if meta.txnid != id {
                return Err(bad(
                    Some(slot),
                    format!("no meta page with txnid {id} (meta page {slot} has txnid {})", meta.txnid),
                ));
            }
            (slot, meta)
        }
    };
    if meta.txnid & 1 != slot {
        return Err(bad(
            Some(slot),
            format!(
                "newest meta page {slot} has txnid {}, but LMDB reads txnid {} from meta page {}",
                meta.txnid,
                meta.txnid,
                meta.txnid & 1
            ),
        ));
    }
    let last_pg = meta.last_pg;
    if last_pg < 1 {
        return Err(bad(Some(slot), format!("mm_last_pg is {last_pg}, below the meta pages")));
    }
    // Pages past the end of the file can only be free-listed pages, each costing 8 bytes of
    // free list inside the file: more of them than that is certainly corrupt.
    let past_eof = last_pg.saturating_add(1).saturating_sub(file_pages);
    if past_eof > file_len / 8 {
        return Err(bad(
            Some(slot),
            format!("mm_last_pg {last_pg} lies far beyond the end of the file ({file_pages} pages of {psize} bytes)"),
        ));
    }
    let tracked = usize::try_from(last_pg.saturating_add(1).min(file_pages))
        .map_err(|_| bad(Some(slot), "page count does not fit usize".to_string()))?;

    let mut w = Walker {
        file,
        file_len,
        psize,
        last_pg,
        txnid: meta.txnid,
        state: vec![UNSEEN; tracked],
        free_past_eof: HashSet::new(),
        out: FileCheck::default(),
    };

    w.walk_tree(Kind::Free, "free DB".to_string(), &meta.free, Some(slot))?;
    let main = w.walk_tree(Kind::Main, "main DB".to_string(), &meta.main, Some(slot))?;
    w.out.entries = main.entries;
    for db in &main.named {
        let label = format!("named DB {:?}", String::from_utf8_lossy(db.name.get(..64).unwrap_or(&db.name)));
        let tree = w.walk_tree(Kind::Named, label, &db.rec, Some(db.page))?;
        w.out.databases = w.out.databases.saturating_add(1);
        w.out.entries = w.out.entries.saturating_add(tree.entries);
    }
    w.audit()?;
    Ok(w.out)
}

impl Walker<'_> {
    /// Walks one tree described by `rec`; `from` is the page holding `rec`.
    fn walk_tree(&mut self, kind: Kind, label: String, rec: &DbRec, from: Option<u64>) -> Result<Tree, Fail> {
        let cmp = match kind {
            Kind::Free => {
                // `mm_flags`: MDB_INTEGERKEY plus the creating environment's low flags. LMDB
                // hard-codes the free DB's comparator but obeys MDB_DUPSORT here: a cursor on the
                // free DB (any write) then dereferences a missing sub-cursor.
                let unexpected = rec.flags & !(MDB_INTEGERKEY | MDB_FIXEDMAP | MDB_NOSUBDIR);
                if unexpected != 0 || rec.flags & MDB_INTEGERKEY == 0 {
                    return Err(bad(
                        from,
                        format!(
                            "{label} has flags {:#x}: expected MDB_INTEGERKEY and at most MDB_FIXEDMAP/MDB_NOSUBDIR",
                            rec.flags
                        ),
                    ));
                }
                Cmp::Int
            }
            Kind::Main | Kind::Named => {
                let unsupported = rec.flags & !(MDB_REVERSEKEY | MDB_INTEGERKEY);
                if unsupported != 0 {
                    return Err(bad(
                        from,
                        format!(
                            "{label} has flags {:#x}: DUPSORT-family or unknown flags are not supported",
                            rec.flags
                        ),
                    ));
                }
                if rec.flags & MDB_REVERSEKEY != 0 {
                    Cmp::Reverse
                } else if rec.flags & MDB_INTEGERKEY != 0 {
                    Cmp::Int
                } else {
                    Cmp::Bytes
                }
            }
        };
        let mut tree = Tree {
            kind,
            label,
            cmp,
            int_size: if kind == Kind::Free { Some(8) } else { None },
            depth: rec.depth,
            branch_pages: 0,
            leaf_pages: 0,
            overflow_pages: 0,
            entries: 0,
            named: Vec::new(),
        };
        if rec.root == P_INVALID {
            if rec.depth != 0
                || rec.entries != 0
                || rec.branch_pages != 0
                || rec.leaf_pages != 0
                || rec.overflow_pages != 0
            {
                return Err(bad(
                    from,
                    format!(
                        "{} is empty (root P_INVALID) but records depth {}, {} entries, {}/{}/{} branch/leaf/overflow pages",
                        tree.label, rec.depth, rec.entries, rec.branch_pages, rec.leaf_pages, rec.overflow_pages
                    ),
                ));
            }
            return Ok(tree);
        }
        if rec.depth == 0 || rec.depth > MAX_DEPTH {
            return Err(bad(from, format!("{} has depth {}, outside 1..={MAX_DEPTH}", tree.label, rec.depth)));
        }
        self.check_ref(from, &tree, "root", rec.root)?;
        self.walk_page(&mut tree, rec.root, 1, None, None, from)?;
        let walked = [tree.branch_pages, tree.leaf_pages, tree.overflow_pages, tree.entries];
        let recorded = [rec.branch_pages, rec.leaf_pages, rec.overflow_pages, rec.entries];
        if walked != recorded {
            return Err(bad(
                from,
                format!(
                    "{}: walked {}/{}/{} branch/leaf/overflow pages and {} entries, the DB record says {}/{}/{} and {}",
                    tree.label,
                    walked[0],
                    walked[1],
                    walked[2],
                    walked[3],
                    recorded[0],
                    recorded[1],
                    recorded[2],
                    recorded[3]
                ),
            ));
        }
        Ok(tree)
    }

    /// Checks that page number `pgno`, referenced from `from`, may hold a tree page.
    fn check_ref(&self, from: Option<u64>, tree: &Tree, what: &str, pgno: u64) -> Result<(), Fail> {
        if pgno < 2 || pgno > self.last_pg {
            return Err(bad(
                from,
                format!("{}: {what} page number {pgno} is outside 2..={} (mm_last_pg)", tree.label, self.last_pg),
            ));
        }
        Ok(())
    }

    /// Marks `pgno` as used by `tree`, reporting pages reached twice, free or past the file.
    fn mark_used(&mut self, tree: &Tree, pgno: u64, from: Option<u64>) -> Result<(), Fail> {
        let idx = usize::try_from(pgno).ok();
        match idx.and_then(|i| self.state.get_mut(i)) {
            Some(slot) if *slot == UNSEEN => {
                *slot = USED;
                self.out.pages_visited = self.out.pages_visited.saturating_add(1);
                Ok(())
            }
            Some(slot) if *slot == USED => Err(bad(
                Some(pgno),
                format!("{}: page {pgno} is reached twice (cycle or shared page), last from page {from:?}", tree.label),
            )),
            Some(_) => Err(bad(Some(pgno), format!("{}: page {pgno} is in use but also on the free list", tree.label))),
            None => Err(bad(
                Some(pgno),
                format!(
                    "{}: page {pgno} (referenced from page {from:?}) lies beyond the end of the file ({} bytes)",
                    tree.label, self.file_len
                ),
            )),
        }
    }

    /// Marks `pgno` as free, reporting duplicates and pages already in use.
    fn mark_free(&mut self, pgno: u64, from: u64) -> Result<(), Fail> {
        if pgno < 2 || pgno > self.last_pg {
            return Err(bad(
                Some(from),
                format!("free DB: free page number {pgno} is outside 2..={} (mm_last_pg)", self.last_pg),
            ));
        }
        let idx = usize::try_from(pgno).ok();
        match idx.and_then(|i| self.state.get_mut(i)) {
            Some(slot) if *slot == UNSEEN => {
                *slot = FREE;
                Ok(())
            }
            Some(slot) if *slot == FREE => {
                Err(bad(Some(from), format!("free DB: page {pgno} is listed as free twice")))
            }
            Some(_) => Err(bad(Some(from), format!("free DB: page {pgno} is listed as free but is in use"))),
            None => {
                if self.free_past_eof.insert(pgno) {
                    Ok(())
                } else {
                    Err(bad(Some(from), format!("free DB: page {pgno} is listed as free twice")))
                }
            }
        }
    }

    /// Reads the whole page `pgno`.
    fn read_page(&self, pgno: u64) -> Result<Vec<u8>, Fail> {
        let off = pgno
            .checked_mul(self.psize as u64)
            .ok_or_else(|| bad(Some(pgno), format!("page number {pgno} overflows a file offset")))?;
        read_at(self.file, self.file_len, off, self.psize, Some(pgno))
    }

    /// Walks the subtree rooted at `pgno` (at `level`, the root being 1), whose keys must lie
    /// in `[lo, hi)`; `from` is the referencing page.
    fn walk_page(
        &mut self,
        tree: &mut Tree,
        pgno: u64,
        level: u16,
        lo: Option<&[u8]>,
        hi: Option<&[u8]>,
        from: Option<u64>,
    ) -> Result<(), Fail> {
        let at = Some(pgno);
        self.mark_used(tree, pgno, from)?;
        let page = self.read_page(pgno)?;
        let psize = self.psize;
        let hdr_pgno = rd64(&page, 0, at)?;
        if hdr_pgno != pgno {
            return Err(bad(at, format!("{}: page {pgno} carries page number {hdr_pgno}", tree.label)));
        }
        let flags = rd16(&page, 10, at)?;
        let is_leaf = match flags {
            P_BRANCH => false,
            P_LEAF => true,
            _ => {
                return Err(bad(
                    at,
                    format!("{}: page {pgno} has flags {flags:#x}, expected exactly P_BRANCH or P_LEAF", tree.label),
                ));
            }
        };
        if is_leaf && level != tree.depth {
            return Err(bad(
                at,
                format!("{}: leaf page {pgno} is at depth {level}, md_depth is {}", tree.label, tree.depth),
            ));
        }
        if !is_leaf && level >= tree.depth {
            return Err(bad(
                at,
                format!("{}: branch page {pgno} at depth {level} but md_depth is {}", tree.label, tree.depth),
            ));
        }
        let lower = usize::from(rd16(&page, 12, at)?);
        let upper = usize::from(rd16(&page, 14, at)?);
        let ptrs = match lower.checked_sub(PAGEHDRSZ) {
            Some(body) if lower <= upper && upper <= psize && body.is_multiple_of(2) => {
                slice(&page, PAGEHDRSZ, body, at)?
            }
            _ => {
                return Err(bad(
                    at,
                    format!(
                        "{}: page {pgno} has mp_lower {lower}, mp_upper {upper} (need {PAGEHDRSZ} <= lower <= upper <= {psize}, lower - {PAGEHDRSZ} even)",
                        tree.label
                    ),
                ));
            }
        };
        let nkeys = ptrs.len() / 2;
        let min_keys = if is_leaf { 1 } else { 2 };
        if nkeys < min_keys {
            return Err(bad(
                at,
                format!(
                    "{}: {} page {pgno} has {nkeys} keys, fewer than {min_keys}",
                    tree.label,
                    if is_leaf { "leaf" } else { "branch" }
                ),
            ));
        }

        // Parse every node header and check that it, its key and its data fit in the page.
        let mut nodes: Vec<NodeRef> = Vec::with_capacity(nkeys);
        let mut used = 0usize;
        for (i, slot) in ptrs.chunks_exact(2).enumerate() {
            let ptr = usize::from(rd16(slot, 0, at)?);
            if ptr < upper || ptr % 2 != 0 || ptr.saturating_add(NODESIZE) > psize {
                return Err(bad(
                    at,
                    format!(
                        "{}: page {pgno} node {i} at offset {ptr} is not an even offset in [{upper}, {})",
                        tree.label,
                        psize.saturating_sub(NODESIZE - 1)
                    ),
                ));
            }
            let n_lo = rd16(&page, ptr, at)?;
            let n_hi = rd16(&page, ptr + 2, at)?;
            let n_flags = rd16(&page, ptr + 4, at)?;
            let ksize = usize::from(rd16(&page, ptr + 6, at)?);
            let key_off = ptr + NODESIZE;
            if ksize > MAX_KEY {
                return Err(bad(at, format!("{}: page {pgno} node {i} has key size {ksize} > {MAX_KEY}", tree.label)));
            }
            let data_off = add(key_off, ksize, at)?;
            let (node_len, data_len) = if is_leaf {
                let dsize = usize::from(n_lo) | (usize::from(n_hi) << 16);
                let inline = if n_flags & F_BIGDATA != 0 { 8 } else { dsize };
                (add(add(NODESIZE, ksize, at)?, inline, at)?, dsize)
            } else {
                (add(NODESIZE, ksize, at)?, 0)
            };
            if ptr.saturating_add(node_len) > psize {
                return Err(bad(
                    at,
                    format!(
                        "{}: page {pgno} node {i} at offset {ptr} is {node_len} bytes long and overruns the {psize}-byte page",
                        tree.label
                    ),
                ));
            }
            used = used.saturating_add(even(node_len));
            nodes.push(NodeRef { lo: n_lo, hi: n_hi, flags: n_flags, key_off, ksize, data_off, data_len });
        }
        if used != psize.saturating_sub(upper) {
            return Err(bad(
                at,
                format!(
                    "{}: page {pgno} nodes occupy {used} bytes but [mp_upper, psize) = [{upper}, {psize}) is {} bytes",
                    tree.label,
                    psize.saturating_sub(upper)
                ),
            ));
        }

        // Key sizes (integer keys) and strict order within [lo, hi).
        let first = usize::from(!is_leaf); // a branch page's key 0 is never compared
        let mut prev: Option<&[u8]> = lo;
        let mut prev_is_bound = true;
        for (i, node) in nodes.iter().enumerate().skip(first) {
            let key = slice(&page, node.key_off, node.ksize, at)?;
            if tree.cmp == Cmp::Int {
                let want = *tree.int_size.get_or_insert(node.ksize);
                if node.ksize != want || (want != 4 && want != 8) {
                    return Err(bad(
                        at,
                        format!(
                            "{}: page {pgno} node {i} has an integer key of {} bytes, expected {want} (4 or 8)",
                            tree.label, node.ksize
                        ),
                    ));
                }
            }
            if let Some(p) = prev {
                let ord = compare(tree.cmp, p, key);
                let ok = if prev_is_bound { ord != Ordering::Greater } else { ord == Ordering::Less };
                if !ok {
                    return Err(bad(
                        at,
                        format!(
                            "{}: page {pgno} node {i}: key is {} the {}",
                            tree.label,
                            if prev_is_bound { "below" } else { "not above" },
                            if prev_is_bound { "separator key of its parent" } else { "previous key" }
                        ),
                    ));
                }
            }
            prev = Some(key);
            prev_is_bound = false;
        }
        if let (Some(h), Some(last)) = (hi, prev) {
            // `prev` may still be `lo` only for a branch page with no key beyond key 0,
            // which the key count above excludes.
            if compare(tree.cmp, last, h) != Ordering::Less {
                return Err(bad(
                    at,
                    format!("{}: page {pgno}: last key is not below the parent's next separator key", tree.label),
                ));
            }
        }

        if is_leaf {
            tree.leaf_pages = tree.leaf_pages.saturating_add(1);
            for (i, node) in nodes.iter().enumerate() {
                self.leaf_node(tree, pgno, &page, i, node)?;
            }
            tree.entries = tree.entries.saturating_add(nodes.len() as u64);
        } else {
            tree.branch_pages = tree.branch_pages.saturating_add(1);
            for (i, node) in nodes.iter().enumerate() {
                let child = u64::from(node.lo) | (u64::from(node.hi) << 16) | (u64::from(node.flags) << 32);
                self.check_ref(at, tree, "child", child)?;
                let child_lo = if i == 0 { lo } else { Some(slice(&page, node.key_off, node.ksize, at)?) };
                let child_hi = match nodes.get(i.saturating_add(1)) {
                    Some(next) => Some(slice(&page, next.key_off, next.ksize, at)?),
                    None => hi,
                };
                self.walk_page(tree, child, level.saturating_add(1), child_lo, child_hi, at)?;
            }
        }
        Ok(())
    }

    /// Checks leaf node `i` of page `pgno` by the rules of its tree.
    fn leaf_node(&mut self, tree: &mut Tree, pgno: u64, page: &[u8], i: usize, node: &NodeRef) -> Result<(), Fail> {
        let at = Some(pgno);
        let allowed = match tree.kind {
            Kind::Main => node.flags == 0 || node.flags == F_BIGDATA || node.flags == F_SUBDATA,
            Kind::Named | Kind::Free => node.flags == 0 || node.flags == F_BIGDATA,
        };
        if !allowed {
            let what = if node.flags & F_DUPDATA != 0 { " (F_DUPDATA: DUPSORT is not supported)" } else { "" };
            return Err(bad(
                at,
                format!("{}: leaf page {pgno} node {i} has node flags {:#x}{what}", tree.label, node.flags),
            ));
        }
        if tree.kind == Kind::Free {
            let key = rd64(page, node.key_off, at)?;
            if key > self.txnid {
                return Err(bad(
                    at,
                    format!("free DB: leaf page {pgno} node {i} has txnid {key}, newer than the meta's {}", self.txnid),
                ));
            }
        }
        let data = if node.flags & F_BIGDATA != 0 {
            let start = rd64(page, node.data_off, at)?;
            let (pages, data) = self.overflow(tree, pgno, i, start, node.data_len)?;
            tree.overflow_pages = tree.overflow_pages.saturating_add(pages);
            self.out.overflow_pages = self.out.overflow_pages.saturating_add(pages);
            data
        } else if node.flags & F_SUBDATA != 0 {
            if node.data_len != DB_SIZE {
                return Err(bad(
                    at,
                    format!(
                        "main DB: leaf page {pgno} node {i} is a named DB record of {} bytes, expected {DB_SIZE}",
                        node.data_len
                    ),
                ));
            }
            let rec = DbRec::parse(page, node.data_off, at)?;
            let name = slice(page, node.key_off, node.ksize, at)?.to_vec();
            tree.named.push(NamedDb { name, rec, page: pgno });
            None
        } else if tree.kind == Kind::Free {
            Some(slice(page, node.data_off, node.data_len, at)?.to_vec())
        } else {
            None
        };
        if let Some(idl) = data {
            self.free_list(pgno, i, &idl)?;
        }
        Ok(())
    }

    /// Checks the overflow run starting at `start` holding `len` bytes, referenced by node `i` of
    /// `pgno`; returns its page count, and its data for the free DB.
    fn overflow(
        &mut self,
        tree: &Tree,
        pgno: u64,
        i: usize,
        start: u64,
        len: usize,
    ) -> Result<(u64, Option<Vec<u8>>), Fail> {
        let at = Some(pgno);
        self.check_ref(at, tree, "overflow", start)?;
        // Read the header before marking, to learn the run length; mark the start first so a
        // page reached twice is reported as such.
        self.mark_used(tree, start, at)?;
        let off = start
            .checked_mul(self.psize as u64)
            .ok_or_else(|| bad(Some(start), format!("page number {start} overflows a file offset")))?;
        let hdr = read_at(self.file, self.file_len, off, PAGEHDRSZ, Some(start))?;
        let so = Some(start);
        let hdr_pgno = rd64(&hdr, 0, so)?;
        let flags = rd16(&hdr, 10, so)?;
        let pages = u64::from(rd32(&hdr, 12, so)?);
        if hdr_pgno != start {
            return Err(bad(so, format!("{}: overflow page {start} carries page number {hdr_pgno}", tree.label)));
        }
        if flags != P_OVERFLOW {
            return Err(bad(
                so,
                format!(
                    "{}: page {start} (value of leaf page {pgno} node {i}) has flags {flags:#x}, expected P_OVERFLOW",
                    tree.label
                ),
            ));
        }
        let end = start.checked_add(pages).and_then(|e| e.checked_sub(1));
        let end = match end {
            Some(end) if pages >= 1 && end <= self.last_pg => end,
            _ => {
                return Err(bad(
                    so,
                    format!(
                        "{}: overflow run at page {start} of {pages} pages does not end within mm_last_pg {}",
                        tree.label, self.last_pg
                    ),
                ));
            }
        };
        // OVPAGES(len, psize) = (PAGEHDRSZ - 1 + len) / psize + 1 must not exceed the run.
        let need = (PAGEHDRSZ as u64)
            .saturating_sub(1)
            .saturating_add(len as u64)
            .checked_div(self.psize as u64)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        if need > pages {
            return Err(bad(
                so,
                format!(
                    "{}: a {len}-byte value needs {need} overflow pages, run at page {start} has {pages}",
                    tree.label
                ),
            ));
        }
        for p in start.saturating_add(1)..=end {
            self.mark_used(tree, p, Some(start))?;
        }
        let data = if tree.kind == Kind::Free {
            let data_off = off.saturating_add(PAGEHDRSZ as u64);
            Some(read_at(self.file, self.file_len, data_off, len, so)?)
        } else {
            None
        };
        Ok((pages, data))
    }

    /// Checks one free-DB value (an ID list) of node `i` on page `pgno` and marks its pages free.
    fn free_list(&mut self, pgno: u64, i: usize, idl: &[u8]) -> Result<(), Fail> {
        let at = Some(pgno);
        if idl.len() < 8 || !idl.len().is_multiple_of(8) {
            return Err(bad(
                at,
                format!(
                    "free DB: leaf page {pgno} node {i} has a {}-byte page list, not a positive multiple of 8",
                    idl.len()
                ),
            ));
        }
        let count = rd64(idl, 0, at)?;
        let room = (idl.len() / 8).saturating_sub(1) as u64;
        if count > room {
            return Err(bad(at, format!("free DB: leaf page {pgno} node {i} lists {count} pages in room for {room}")));
        }
        let mut prev: Option<u64> = None;
        for entry in idl.chunks_exact(8).skip(1).take(usize::try_from(count).unwrap_or(usize::MAX)) {
            let free = rd64(entry, 0, at)?;
            if prev.is_some_and(|p| free >= p) {
                return Err(bad(
                    at,
                    format!(
                        "free DB: leaf page {pgno} node {i} page list is not strictly descending ({prev:?} then {free})"
                    ),
                ));
            }
            prev = Some(free);
            self.mark_free(free, pgno)?;
        }
        Ok(())
    }

    /// Checks that every page in `2..=mm_last_pg` was used or free.
    fn audit(&self) -> Result<(), Fail> {
        if let Some((idx, _)) = self.state.iter().enumerate().skip(2).find(|&(_, &s)| s == UNSEEN) {
            let page = idx as u64;
            return Err(bad(Some(page), format!("page {page} is neither used by any B-tree nor on the free list")));
        }
        let tracked = self.state.len() as u64;
        if self.last_pg >= tracked {
            let missing = (tracked..=self.last_pg).find(|p| !self.free_past_eof.contains(p));
            if let Some(page) = missing {
                return Err(bad(
                    Some(page),
                    format!(
                        "mm_last_pg is {} but the file ends at page {}, and page {page} past its end is not free",
                        self.last_pg,
                        tracked.saturating_sub(1)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// A parsed node header.
struct NodeRef {
    /// `mn_lo`.
    lo: u16,
    /// `mn_hi`.
    hi: u16,
    /// `mn_flags`.
    flags: u16,
    /// Offset of the key in the page.
    key_off: usize,
    /// Key size.
    ksize: usize,
    /// Offset of the data in the page.
    data_off: usize,
    /// Data size (`NODEDSZ`) of a leaf node.
    data_len: usize,
}

/// Compares two keys with `cmp`.
fn compare(cmp: Cmp, a: &[u8], b: &[u8]) -> Ordering {
    match cmp {
        Cmp::Bytes => a.cmp(b),
        Cmp::Reverse => a.iter().rev().cmp(b.iter().rev()),
        Cmp::Int => match (bytes_at::<8>(a, 0), bytes_at::<8>(b, 0)) {
            (Some(x), Some(y)) if a.len() == 8 && b.len() == 8 => u64::from_ne_bytes(x).cmp(&u64::from_ne_bytes(y)),
            _ => match (bytes_at::<4>(a, 0), bytes_at::<4>(b, 0)) {
                (Some(x), Some(y)) => u32::from_ne_bytes(x).cmp(&u32::from_ne_bytes(y)),
                _ => a.cmp(b),
            },
        },
    }
}

/// Tests against real heed-built files, targeted and random corruptions, and LMDB in a child process.
///
/// Knobs: `BTREE_CHECK_TRIALS` / `BTREE_CHECK_SEED` (random trials, default 500 / 42) and
/// `BTREE_CHECK_EXHAUSTIVE=1` (flip every structural bit of every live page, ~220k flips).
#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    clippy::print_stderr,
    unsafe_code,
    missing_docs
)]
mod tests {
    use super::*;
    use heed::types::Bytes;
    use heed::{CommitOrAbort, Database, DatabaseFlags, EnvOpenOptions, WithoutTls};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::os::unix::process::ExitStatusExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// A raw-bytes database, as persistdict opens them.
    type Db<'e> = Database<'e, Bytes, Bytes>;
    /// persistdict's kind of environment: read transactions not tied to a thread.
    type Env = heed::Env<WithoutTls>;

    /// persistdict's named tables.
    const NAMES: [&str; 4] = ["persistdict.args", "persistdict.atime", "persistdict.meta", "persistdict.order"];

    /// Opens (creating) an environment in `dir` with the brief's options.
    fn open_env(dir: &Path) -> Env {
        // SAFETY: each test owns its directory; no other handle maps it in this process.
        unsafe { EnvOpenOptions::new().read_txn_without_tls().map_size(64 << 20).max_dbs(8).open(dir) }.unwrap()
    }

    /// Creates (or opens) a DB and commits.
    fn create_db<'e>(env: &'e Env, name: Option<&str>, flags: DatabaseFlags) -> Db<'e> {
        let wtxn = env.write_txn().unwrap();
        env.create_databases_and_commit(wtxn, |o, w| -> heed::Result<_> {
            let mut opts = o.database_options().types::<Bytes, Bytes>();
            if let Some(n) = name {
                opts.name(n);
            }
            opts.flags(flags);
            Ok(CommitOrAbort::<_, ()>::Commit(opts.create(w)?))
        })
        .unwrap()
        .unwrap_commit()
    }

    /// Opens an existing DB in a read transaction and commits it; `None` if absent.
    fn open_db<'e>(env: &'e Env, name: Option<&str>) -> heed::Result<Option<Db<'e>>> {
        let rtxn = env.read_txn()?;
        env.open_databases_and_commit(rtxn, |o, r| -> heed::Result<_> {
            let mut opts = o.database_options().types::<Bytes, Bytes>();
            if let Some(n) = name {
                opts.name(n);
            }
            Ok(CommitOrAbort::<_, ()>::Commit(opts.open(r)?))
        })
        .map(|c| c.unwrap_commit())
    }

    /// Walks `dir/data.mdb`.
    fn check_dir(dir: &Path, txn: Option<u64>) -> Result<FileCheck, Corruption> {
        let f = File::open(dir.join("data.mdb")).unwrap();
        check_file(&f, txn).unwrap()
    }

    /// Walks a file holding `bytes`.
    fn check_bytes(bytes: &[u8]) -> Result<FileCheck, Corruption> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.mdb");
        std::fs::write(&path, bytes).unwrap();
        check_file(&File::open(&path).unwrap(), None).unwrap()
    }

    /// Asserts the walk is clean, for the newest and for the previous snapshot, and that its
    /// totals match heed's view of `dbs` (the main DB first).
    fn assert_matches(dir: &Path, env: &Env, dbs: &[Db<'_>]) -> FileCheck {
        let got = check_dir(dir, None).unwrap_or_else(|c| panic!("clean database reported corrupt: {c:?}"));
        let info = env.info();
        let last = info.last_txn_id as u64;
        if last > 0 {
            check_dir(dir, Some(last - 1)).unwrap_or_else(|c| panic!("previous snapshot reported corrupt: {c:?}"));
        }
        assert_eq!(check_dir(dir, Some(last)), Ok(got.clone()));
        let rtxn = env.read_txn().unwrap();
        let (mut entries, mut pages, mut overflow) = (0u64, 0u64, 0u64);
        for db in dbs {
            let st = db.stat(&rtxn).unwrap();
            assert_eq!(st.entries as u64, db.len(&rtxn).unwrap());
            entries += st.entries as u64;
            pages += (st.branch_pages + st.leaf_pages + st.overflow_pages) as u64;
            overflow += st.overflow_pages as u64;
        }
        assert_eq!(got.entries, entries);
        assert_eq!(got.databases as usize, dbs.len() - 1);
        // The free DB's own pages come on top.
        assert!(got.pages_visited >= pages && got.pages_visited <= pages + 64, "{got:?} vs {pages} pages");
        assert!(got.overflow_pages >= overflow, "{got:?} vs {overflow} overflow pages");
        assert!(got.pages_visited < info.last_page_number as u64);
        got
    }

    /// A freshly created environment holds only the two meta pages.
    #[test]
    fn empty_env_is_clean() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env(dir.path());
        let main = open_db(&env, None).unwrap().unwrap();
        assert_eq!(check_dir(dir.path(), None), Ok(FileCheck::default()));
        assert_eq!(check_dir(dir.path(), Some(0)), Ok(FileCheck::default()));
        assert!(check_dir(dir.path(), Some(1)).is_err());
        // An empty write transaction commits nothing.
        env.write_txn().unwrap().commit().unwrap();
        assert_matches(dir.path(), &env, &[main]);
    }

    /// 10k small entries in the main DB.
    #[test]
    fn main_db_with_10k_entries() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env(dir.path());
        let main = create_db(&env, None, DatabaseFlags::empty());
        let mut rng = StdRng::seed_from_u64(1);
        let mut wtxn = env.write_txn().unwrap();
        for i in 0..10_000u32 {
            let v: Vec<u8> = (0..rng.random_range(0..100)).map(|_| rng.random()).collect();
            main.put(&mut wtxn, format!("key{i:08}").as_bytes(), &v).unwrap();
        }
        wtxn.commit().unwrap();
        let got = assert_matches(dir.path(), &env, &[main]);
        assert_eq!(got.entries, 10_000);
        assert_eq!(got.overflow_pages, 0);
    }

    /// Named DBs (bytewise, integer and reversed keys), overflow values, deletions, clears and
    /// insert-then-delete transactions (which leave the file shorter than `mm_last_pg`).
    #[test]
    fn named_dbs_overflow_values_and_deletions() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env(dir.path());
        let main = create_db(&env, None, DatabaseFlags::empty());
        let named: Vec<Db<'_>> = NAMES.iter().map(|n| create_db(&env, Some(n), DatabaseFlags::empty())).collect();
        #[allow(deprecated)] // the flag is what is stored in the file; heed prefers a comparator type
        let ints = create_db(&env, Some("ints"), DatabaseFlags::INTEGER_KEY);
        let rev = create_db(&env, Some("reversed"), DatabaseFlags::REVERSE_KEY);
        let mut all = vec![main];
        all.extend(named.iter().copied());
        let ints_idx = all.len();
        all.push(ints);
        all.push(rev);
        let mut rng = StdRng::seed_from_u64(2);
        let mut seen_short_file = false;
        for round in 0..12u64 {
            let mut wtxn = env.write_txn().unwrap();
            for i in 0..800u64 {
                let k = rng.random_range(0..4000u64);
                let big = rng.random_range(0..40) == 0;
                let len = if big { rng.random_range(3000..12_000) } else { rng.random_range(0..200) };
                let v: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                let idx = (i % all.len() as u64) as usize;
                let db = all[idx];
                let key =
                    if idx == ints_idx { k.to_ne_bytes().to_vec() } else { format!("k{k:06}/{round}").into_bytes() };
                if rng.random_range(0..4) == 0 {
                    // delete something that exists
                    // (in the main DB, skip the named-DB records, which cannot be deleted)
                    let first = if idx == 0 {
                        db.get_greater_than_or_equal_to(&wtxn, b"k").unwrap().filter(|(k, _)| k.starts_with(b"k"))
                    } else {
                        db.first(&wtxn).unwrap()
                    };
                    let first = first.map(|(k, _)| k.to_vec());
                    if let Some(k) = first {
                        db.delete(&mut wtxn, &k).unwrap();
                    }
                } else {
                    db.put(&mut wtxn, &key, &v).unwrap();
                }
            }
            if round % 3 == 2 {
                // Insert and delete within one transaction: loose pages.
                for i in 0..300u32 {
                    all[1].put(&mut wtxn, format!("tmp{i:05}").as_bytes(), &[7u8; 900]).unwrap();
                }
                for i in 0..300u32 {
                    all[1].delete(&mut wtxn, format!("tmp{i:05}").as_bytes()).unwrap();
                }
            }
            if round == 7 {
                all[2].clear(&mut wtxn).unwrap();
            }
            wtxn.commit().unwrap();
            assert_matches(dir.path(), &env, &all);
            let image = std::fs::read(dir.path().join("data.mdb")).unwrap();
            let (psize, _, last) = meta_info(&image);
            seen_short_file |= (image.len() as u64) < (last + 1) * psize as u64;
        }
        // LMDB never writes pages freed before their first flush: the file ends before
        // mm_last_pg, and the walk must accept that when the missing tail is free.
        assert!(seen_short_file, "the workload no longer leaves a file shorter than mm_last_pg");
        let got = check_dir(dir.path(), None).unwrap();
        assert_eq!(got.databases as usize, NAMES.len() + 2, "the named tables, ints and reversed");
        assert!(got.overflow_pages > 0);
    }

    /// Many transactions of mixed puts, overwrites and deletions with keys up to 511 bytes and
    /// values around the overflow threshold, long-lived readers (so freed pages pile up in the
    /// free DB), aborted nested transactions, range deletions and a dropped named DB; both
    /// snapshots are checked after every commit.
    #[test]
    fn churn_with_readers_keeps_every_snapshot_clean() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env(dir.path());
        let main = create_db(&env, None, DatabaseFlags::empty());
        let mut dbs = vec![main];
        dbs.extend(NAMES.iter().map(|n| create_db(&env, Some(n), DatabaseFlags::empty())));
        let doomed = create_db(&env, Some("doomed"), DatabaseFlags::empty());
        let mut rng = StdRng::seed_from_u64(5);
        let mut readers = std::collections::VecDeque::new();
        let mut live = dbs.clone();
        live.push(doomed);
        for round in 0..60u32 {
            let mut wtxn = env.write_txn().unwrap();
            let ops = rng.random_range(1..400);
            for _ in 0..ops {
                let idx = rng.random_range(0..live.len());
                let db = live[idx];
                let klen =
                    if rng.random_range(0..10) == 0 { rng.random_range(200..=511) } else { rng.random_range(1..24) };
                let key: Vec<u8> = (0..klen).map(|_| rng.random_range(b'a'..=b'f')).collect();
                if idx == 0 && (NAMES.iter().any(|n| n.as_bytes() == key) || key == b"doomed") {
                    continue;
                }
                let vlen = match rng.random_range(0..10) {
                    0 => 0,
                    1 => rng.random_range(2000..2100),
                    2 => rng.random_range(4000..20_000),
                    _ => rng.random_range(1..100),
                };
                if rng.random_range(0..3) == 0 {
                    let hit = db.get_greater_than_or_equal_to(&wtxn, &key).unwrap().map(|(k, _)| k.to_vec());
                    // (never the named-DB records of the main DB)
                    let ours = |k: &Vec<u8>| {
                        idx != 0 || k.first().is_some_and(|c| (b'a'..=b'f').contains(c) && k != b"doomed")
                    };
                    if let Some(k) = hit.filter(ours) {
                        db.delete(&mut wtxn, &k).unwrap();
                    }
                } else {
                    db.put(&mut wtxn, &key, &vec![round as u8; vlen]).unwrap();
                }
            }
            if round % 7 == 3 {
                let mut child = env.nested_write_txn(&mut wtxn).unwrap();
                for i in 0..100u32 {
                    live[1].put(&mut child, format!("nested{i}").as_bytes(), &[1u8; 3000]).unwrap();
                }
                child.abort();
            }
            if round % 11 == 5 {
                let from: &[u8] = b"b";
                let to: &[u8] = b"c";
                let range = (std::ops::Bound::Included(from), std::ops::Bound::Excluded(to));
                live[2].delete_range(&mut wtxn, &range).unwrap();
            }
            if round == 40 {
                let d = live.pop().unwrap();
                // SAFETY: no other handle to this DB is used afterwards.
                unsafe { d.remove(&mut wtxn) }.unwrap();
            }
            wtxn.commit().unwrap();
            if rng.random_range(0..3) == 0 {
                readers.push_back(env.read_txn().unwrap());
            }
            if readers.len() > 3 {
                readers.pop_front();
            }
            let got = assert_matches(dir.path(), &env, &live);
            if round % 20 == 19 {
                let len = std::fs::metadata(dir.path().join("data.mdb")).unwrap().len() / 4096;
                tracing::debug!(
                    "churn round {round}: {got:?}, last page {}, file pages {len}",
                    env.info().last_page_number
                );
            }
        }
    }

    /// Deleting hundreds of overflow values makes free-DB records that need overflow pages.
    #[test]
    fn mass_deletion_makes_big_free_lists() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env(dir.path());
        let main = create_db(&env, None, DatabaseFlags::empty());
        let mut wtxn = env.write_txn().unwrap();
        for i in 0..600u32 {
            main.put(&mut wtxn, format!("big{i:05}").as_bytes(), &vec![i as u8; 10_000]).unwrap();
        }
        wtxn.commit().unwrap();
        assert_matches(dir.path(), &env, &[main]);
        for step in 0..3u32 {
            let mut wtxn = env.write_txn().unwrap();
            for i in (step..600).step_by(3) {
                main.delete(&mut wtxn, format!("big{i:05}").as_bytes()).unwrap();
            }
            wtxn.commit().unwrap();
            assert_matches(dir.path(), &env, &[main]);
        }
        // Reuse the free pages.
        let mut wtxn = env.write_txn().unwrap();
        for i in 0..200u32 {
            main.put(&mut wtxn, format!("again{i:05}").as_bytes(), &vec![1u8; 5_000]).unwrap();
        }
        wtxn.commit().unwrap();
        assert_matches(dir.path(), &env, &[main]);
    }

    /// persistdict uses no DUPSORT DB: one is reported rather than walked.
    #[test]
    fn dupsort_db_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env(dir.path());
        let dup = create_db(&env, Some("dups"), DatabaseFlags::DUP_SORT);
        let mut wtxn = env.write_txn().unwrap();
        for i in 0..50u32 {
            dup.put(&mut wtxn, b"k", format!("v{i}").as_bytes()).unwrap();
        }
        wtxn.commit().unwrap();
        let err = check_dir(dir.path(), None).unwrap_err();
        assert!(err.reason.contains("flags"), "{err:?}");
    }

    /// The walk is linear: 50k entries take milliseconds.
    #[test]
    fn walk_of_50k_entries_is_fast() {
        let dir = tempfile::tempdir().unwrap();
        let env = open_env(dir.path());
        let main = create_db(&env, None, DatabaseFlags::empty());
        let mut wtxn = env.write_txn().unwrap();
        for i in 0..50_000u64 {
            main.put(&mut wtxn, &i.to_be_bytes(), &[0u8; 40]).unwrap();
        }
        wtxn.commit().unwrap();
        let f = File::open(dir.path().join("data.mdb")).unwrap();
        let start = Instant::now();
        let got = check_file(&f, None).unwrap().unwrap();
        let took = start.elapsed();
        tracing::debug!("50k entries, {} pages walked in {took:?}", got.pages_visited);
        assert_eq!(got.entries, 50_000);
        assert!(took < Duration::from_secs(2), "walk took {took:?}");
    }

    /// Short, zeroed and random files are corruptions, never panics.
    #[test]
    fn garbage_files_are_reported_not_panicked_on() {
        let mut rng = StdRng::seed_from_u64(3);
        for len in [0usize, 1, 100, 151, 152, 4095, 4096, 8191, 8192, 3 * 4096, 65536] {
            let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            assert!(check_bytes(&bytes).is_err());
            assert!(check_bytes(&vec![0u8; len]).is_err());
        }
    }

    // ---- byte-level helpers over a data file image (tests only, they trust the image) ----

    /// Native `u16` at `o`.
    fn rd16t(b: &[u8], o: usize) -> u16 {
        u16::from_ne_bytes(b[o..o + 2].try_into().unwrap())
    }
    /// Native `u64` at `o`.
    fn rd64t(b: &[u8], o: usize) -> u64 {
        u64::from_ne_bytes(b[o..o + 8].try_into().unwrap())
    }
    /// Writes a native `u16` at `o`.
    fn wr16(b: &mut [u8], o: usize, v: u16) {
        b[o..o + 2].copy_from_slice(&v.to_ne_bytes());
    }
    /// Writes a native `u64` at `o`.
    fn wr64(b: &mut [u8], o: usize, v: u64) {
        b[o..o + 8].copy_from_slice(&v.to_ne_bytes());
    }

    /// (psize, slot of the newest meta, last_pg).
    fn meta_info(b: &[u8]) -> (usize, usize, u64) {
        let psize = u32::from_ne_bytes(b[40..44].try_into().unwrap()) as usize;
        let t0 = rd64t(b, 144);
        let t1 = rd64t(b, psize + 144);
        let slot = usize::from(t1 > t0);
        (psize, slot, rd64t(b, slot * psize + 136))
    }
    /// Offset of the main DB's MDB_db in the newest meta.
    fn main_rec(b: &[u8]) -> usize {
        let (psize, slot, _) = meta_info(b);
        slot * psize + 16 + 24 + 48
    }
    /// File offset of node `i` of page `pg`.
    fn node_off(b: &[u8], psize: usize, pg: u64, i: usize) -> usize {
        let base = pg as usize * psize;
        base + rd16t(b, base + 16 + 2 * i) as usize
    }
    /// Number of nodes of page `pg`.
    fn nkeys(b: &[u8], psize: usize, pg: u64) -> usize {
        (rd16t(b, pg as usize * psize + 12) as usize - 16) / 2
    }
    /// Page flags of page `pg`.
    fn flags_of(b: &[u8], psize: usize, pg: u64) -> u16 {
        rd16t(b, pg as usize * psize + 10)
    }
    /// Child page number of branch node `i` of page `pg`.
    fn child(b: &[u8], psize: usize, pg: u64, i: usize) -> u64 {
        let n = node_off(b, psize, pg, i);
        rd16t(b, n) as u64 | (rd16t(b, n + 2) as u64) << 16 | (rd16t(b, n + 4) as u64) << 32
    }
    /// All (page, flags) of the main tree, root first.
    fn main_pages(b: &[u8]) -> Vec<(u64, u16)> {
        tree_pages(b, rd64t(b, main_rec(b) + 40))
    }
    /// All (page, flags) of the tree at `root`, root first.
    fn tree_pages(b: &[u8], root: u64) -> Vec<(u64, u16)> {
        let (psize, _, _) = meta_info(b);
        let mut out = vec![];
        let mut queue = if root == P_INVALID { vec![] } else { vec![root] };
        while let Some(pg) = queue.pop() {
            let f = flags_of(b, psize, pg);
            out.push((pg, f));
            if f == P_BRANCH {
                for i in 0..nkeys(b, psize, pg) {
                    queue.push(child(b, psize, pg, i));
                }
            }
        }
        out
    }

    /// Branch and leaf pages of the free, main and named DBs of a clean image.
    fn live_tree_pages(b: &[u8]) -> Vec<u64> {
        let (psize, _, _) = meta_info(b);
        let main = main_pages(b);
        let mut out: Vec<u64> = tree_pages(b, rd64t(b, main_rec(b) - 48 + 40)).iter().map(|p| p.0).collect();
        for &(pg, f) in &main {
            out.push(pg);
            if f != P_LEAF {
                continue;
            }
            for i in 0..nkeys(b, psize, pg) {
                let n = node_off(b, psize, pg, i);
                if rd16t(b, n + 4) == F_SUBDATA {
                    let rec = n + 8 + rd16t(b, n + 6) as usize;
                    out.extend(tree_pages(b, rd64t(b, rec + 40)).iter().map(|p| p.0));
                }
            }
        }
        out
    }

    /// A small persistdict-like file: main DB ("entries"), the three tables, overflow values,
    /// several transactions with deletions (so the free DB has records).
    fn build_sample(dir: &Path, seed: u64, scale: u32) -> Vec<String> {
        let env = open_env(dir);
        let main = create_db(&env, None, DatabaseFlags::empty());
        let tables: Vec<Db<'_>> = NAMES.iter().map(|n| create_db(&env, Some(n), DatabaseFlags::empty())).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut seq = 0u64;
        for round in 0..4 {
            let mut wtxn = env.write_txn().unwrap();
            for _ in 0..scale {
                seq += 1;
                let key: Vec<u8> = (0..rng.random_range(8..40)).map(|_| rng.random()).collect();
                let len = if rng.random_range(0..25) == 0 {
                    rng.random_range(2000..12_000)
                } else {
                    rng.random_range(1..300)
                };
                let v: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                main.put(&mut wtxn, &key, &v).unwrap();
                tables[2].put(&mut wtxn, &seq.to_be_bytes(), &key).unwrap();
                let mut at = (1_700_000_000_000u64 + seq * 7).to_be_bytes().to_vec();
                at.extend_from_slice(&seq.to_be_bytes());
                tables[0].put(&mut wtxn, &at, &key).unwrap();
            }
            tables[1].put(&mut wtxn, format!("round{round}").as_bytes(), &vec![round as u8; 5000]).unwrap();
            if round > 0 {
                // evict the oldest third
                let old: Vec<(Vec<u8>, Vec<u8>)> = tables[2]
                    .iter(&wtxn)
                    .unwrap()
                    .take(scale as usize / 3)
                    .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                    .collect();
                for (k, v) in old {
                    tables[2].delete(&mut wtxn, &k).unwrap();
                    main.delete(&mut wtxn, &v).unwrap();
                }
            }
            wtxn.commit().unwrap();
        }
        let mut all = vec![main];
        all.extend(tables);
        assert_matches(dir, &env, &all);
        NAMES.iter().map(|s| s.to_string()).collect()
    }

    /// The image of a small persistdict-like file.
    fn sample_bytes() -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        build_sample(dir.path(), 9, 300);
        std::fs::read(dir.path().join("data.mdb")).unwrap()
    }

    /// Asserts the walk of `b` reports a corruption on `page`.
    fn expect_bad(b: &[u8], page: Option<u64>, what: &str) {
        match check_bytes(b) {
            Ok(c) => panic!("{what}: not detected ({c:?})"),
            Err(c) => assert_eq!(c.page, page, "{what}: {c:?}"),
        }
    }

    /// Hand-made corruptions of each checked field are reported on the right page.
    #[test]
    fn targeted_corruptions_name_the_page() {
        let orig = sample_bytes();
        let (psize, slot, last_pg) = meta_info(&orig);
        assert!(check_bytes(&orig).is_ok());
        let pages = main_pages(&orig);
        let root = pages[0].0;
        assert_eq!(pages[0].1, P_BRANCH, "sample main DB should be deeper than one page");
        let leaf = pages.iter().find(|p| p.1 == P_LEAF).unwrap().0;

        let mut b = orig.clone();
        b[16] ^= 1;
        expect_bad(&b, Some(0), "magic");

        let mut b = orig.clone();
        b[psize * slot + 40..psize * slot + 44].copy_from_slice(&1000u32.to_ne_bytes());
        expect_bad(&b, Some(slot as u64), "page size");

        let mut b = orig.clone();
        wr64(&mut b, main_rec(&orig) + 40, 1);
        expect_bad(&b, Some(slot as u64), "root is a meta page");

        let mut b = orig.clone();
        wr64(&mut b, slot * psize + 136, last_pg + 1_000_000);
        expect_bad(&b, Some(slot as u64), "mm_last_pg far beyond the file");

        let mut b = orig.clone();
        b[root as usize * psize..(root as usize + 1) * psize].fill(0);
        expect_bad(&b, Some(root), "zeroed root");

        let mut b = orig.clone();
        let c0 = child(&orig, psize, root, 0);
        let n1 = node_off(&orig, psize, root, 1);
        wr16(&mut b, n1, c0 as u16);
        wr16(&mut b, n1 + 2, (c0 >> 16) as u16);
        let got = check_bytes(&b).unwrap_err();
        assert!(got.reason.contains("twice"), "shared child: {got:?}");

        let mut b = orig.clone();
        let n0 = node_off(&orig, psize, leaf, 0);
        wr16(&mut b, n0 + 4, F_DUPDATA);
        expect_bad(&b, Some(leaf), "F_DUPDATA");

        let mut b = orig.clone();
        wr16(&mut b, n0 + 6, 600);
        expect_bad(&b, Some(leaf), "key size");

        let mut b = orig.clone();
        wr16(&mut b, leaf as usize * psize + 16, 2);
        expect_bad(&b, Some(leaf), "node offset inside the header");

        let mut b = orig.clone();
        wr16(&mut b, leaf as usize * psize + 14, psize as u16 - 2);
        expect_bad(&b, Some(leaf), "mp_upper");

        // swap two node pointers: keys out of order
        let mut b = orig.clone();
        let base = leaf as usize * psize + 16;
        let (p0, p1) = (rd16t(&orig, base), rd16t(&orig, base + 2));
        wr16(&mut b, base, p1);
        wr16(&mut b, base + 2, p0);
        let got = check_bytes(&b).unwrap_err();
        assert_eq!(got.page, Some(leaf));
        assert!(got.reason.contains("key"), "{got:?}");

        // a meta whose txnid parity disagrees with its slot
        let mut b = orig.clone();
        let other = 1 - slot;
        let t = rd64t(&orig, slot * psize + 144);
        wr64(&mut b, other * psize + 144, t + 2);
        expect_bad(&b, Some(other as u64), "txnid parity");

        // DUPSORT in the free DB's flags (mm_flags): LMDB segfaults on the next write
        let mut b = orig.clone();
        let f = rd16t(&orig, slot * psize + 44);
        assert_eq!(f & MDB_INTEGERKEY, MDB_INTEGERKEY);
        wr16(&mut b, slot * psize + 44, f | 0x04);
        expect_bad(&b, Some(slot as u64), "free DB flags");

        // overflow run shortened
        let big = pages
            .iter()
            .filter(|p| p.1 == P_LEAF)
            .flat_map(|&(pg, _)| (0..nkeys(&orig, psize, pg)).map(move |i| (pg, i)))
            .find(|&(pg, i)| rd16t(&orig, node_off(&orig, psize, pg, i) + 4) == F_BIGDATA)
            .unwrap();
        let n = node_off(&orig, psize, big.0, big.1);
        let ov = rd64t(&orig, n + 8 + rd16t(&orig, n + 6) as usize) as usize;
        let mut b = orig.clone();
        b[ov * psize + 12..ov * psize + 16].copy_from_slice(&1u32.to_ne_bytes());
        expect_bad(&b, Some(ov as u64), "overflow run too short");

        let mut b = orig.clone();
        wr16(&mut b, ov * psize + 10, P_LEAF);
        expect_bad(&b, Some(ov as u64), "overflow flags");

        // truncation inside the used pages
        let b = orig[..orig.len() / 2].to_vec();
        assert!(check_bytes(&b).is_err());
        let b = orig[..orig.len() - 1].to_vec();
        assert!(check_bytes(&b).is_err());
    }

    // ---- random corruption, with a child process reading what the walk accepted ----

    /// Environment variable selecting child mode: the environment directory to read.
    const CHILD_DIR: &str = "BTREE_CHECK_CHILD_DIR";
    /// Environment variable: comma-separated named DBs for the child to open.
    const CHILD_NAMES: &str = "BTREE_CHECK_CHILD_NAMES";
    /// Exit code of a child that read and wrote everything.
    const CHILD_OK: i32 = 42;

    /// Reads every DB (forward, backward, and by key); returns a checksum.
    fn read_everything(env: &Env, names: &[String]) -> heed::Result<u64> {
        let mut sum = 0u64;
        let main = open_db(env, None)?.ok_or(heed::Error::Mdb(heed::MdbError::NotFound))?;
        let mut dbs = vec![main];
        let rtxn = env.read_txn()?;
        let mut all_names: Vec<String> = names.to_vec();
        for item in main.iter(&rtxn)? {
            let (k, _) = item?;
            let name = std::str::from_utf8(k).ok().filter(|s| !all_names.iter().any(|n| n == s));
            if let Some(s) = name {
                all_names.push(s.to_string());
            }
        }
        drop(rtxn);
        for n in &all_names {
            if let Ok(Some(db)) = open_db(env, Some(n)) {
                dbs.push(db);
            }
        }
        let rtxn = env.read_txn()?;
        for db in dbs {
            let mut keys = vec![];
            for item in db.iter(&rtxn)? {
                let (k, v) = item?;
                sum = sum.wrapping_add(k.iter().chain(v).map(|&x| u64::from(x)).sum::<u64>());
                keys.push(k.to_vec());
            }
            for item in db.rev_iter(&rtxn)? {
                let (k, v) = item?;
                sum = sum.wrapping_add(k.len() as u64 + v.len() as u64);
            }
            for k in &keys {
                if let Some(v) = db.get(&rtxn, k)? {
                    sum = sum.wrapping_add(v.last().copied().unwrap_or(0).into());
                }
            }
            sum = sum.wrapping_add(db.len(&rtxn)?);
        }
        Ok(sum)
    }

    /// Writes to every DB (puts of small and overflow values, deletions), then commits.
    fn write_some(env: &Env, names: &[String]) -> heed::Result<()> {
        let mut dbs = vec![];
        for n in names {
            if let Some(db) = open_db(env, Some(n))? {
                dbs.push(db);
            }
        }
        dbs.push(open_db(env, None)?.ok_or(heed::Error::Mdb(heed::MdbError::NotFound))?);
        let mut wtxn = env.write_txn()?;
        for (j, db) in dbs.iter().enumerate() {
            let old: Vec<Vec<u8>> =
                db.iter(&wtxn)?.take(7).map(|r| r.map(|(k, _)| k.to_vec())).collect::<Result<_, _>>()?;
            for k in old {
                if j + 1 < dbs.len() || !names.iter().any(|n| n.as_bytes() == k.as_slice()) {
                    db.delete(&mut wtxn, &k)?;
                }
            }
            for i in 0..30u32 {
                let len = if i % 10 == 0 { 9000 } else { 50 };
                db.put(&mut wtxn, format!("zz-child-{i:03}").as_bytes(), &vec![i as u8; len])?;
            }
        }
        wtxn.commit()
    }

    /// Child mode: open the environment in `BTREE_CHECK_CHILD_DIR` with heed and read (exit 10 on
    /// a clean LMDB error), write (11), read again (12); [`CHILD_OK`] when all went through.
    #[test]
    fn child_reader() {
        let Ok(dir) = std::env::var(CHILD_DIR) else { return };
        let names: Vec<String> = std::env::var(CHILD_NAMES)
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let env = match unsafe { EnvOpenOptions::new().read_txn_without_tls().map_size(64 << 20).max_dbs(8).open(&dir) }
        {
            Ok(env) => env,
            Err(_) => std::process::exit(10),
        };
        if read_everything(&env, &names).is_err() {
            std::process::exit(10);
        }
        if write_some(&env, &names).is_err() {
            std::process::exit(11);
        }
        if read_everything(&env, &names).is_err() {
            std::process::exit(12);
        }
        // Not 0, which is also what a harness that ran no test returns.
        std::process::exit(CHILD_OK);
    }

    /// Runs the child on `dir`; returns the exit status, or None on a 60 s timeout.
    fn run_child(dir: &Path, names: &[String]) -> Option<std::process::ExitStatus> {
        let test_path = module_path!().split_once("::").map_or("tests", |(_, rest)| rest);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([&format!("{test_path}::child_reader"), "--exact", "--nocapture", "--test-threads=1", "-q"])
            .env(CHILD_DIR, dir)
            .env(CHILD_NAMES, names.join(","))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Names of the corruption kinds of [`corrupt`].
    const KINDS: [&str; 11] = [
        "random bytes",
        "garbage page",
        "zeroed page",
        "header bit flip",
        "truncation",
        "bit flip in page",
        "page copied over another",
        "bytes in node area",
        "tree page: header/ptr bit",
        "tree page: node header bit",
        "meta page bit flip",
    ];

    /// Applies corruption `kind` to the image `b`; returns a description.
    fn corrupt(b: &mut Vec<u8>, kind: usize, rng: &mut StdRng, live: &[u64]) -> String {
        let (psize, _, _) = meta_info(b);
        let npages = b.len() / psize;
        let mut pg = rng.random_range(0..npages);
        if kind == 8 || kind == 9 {
            // a branch or leaf page in use
            pg = live[rng.random_range(0..live.len())] as usize;
        }
        let base = pg * psize;
        match kind {
            0 => {
                let n = rng.random_range(1..=8);
                let at = rng.random_range(0..b.len() - n);
                rng.fill(&mut b[at..at + n]);
                format!("{n} random bytes at {at} (page {})", at / psize)
            }
            1 => {
                rng.fill(&mut b[base..base + psize]);
                format!("garbage page {pg}")
            }
            2 => {
                b[base..base + psize].fill(0);
                format!("zeroed page {pg}")
            }
            3 => {
                let bit = rng.random_range(0..128);
                b[base + bit / 8] ^= 1 << (bit % 8);
                format!("header bit {bit} of page {pg}")
            }
            4 => {
                let len = if rng.random_bool(0.5) {
                    rng.random_range(0..npages) * psize
                } else {
                    rng.random_range(0..b.len())
                };
                b.truncate(len);
                format!("truncated to {len}")
            }
            5 => {
                let bit = rng.random_range(0..psize * 8);
                b[base + bit / 8] ^= 1 << (bit % 8);
                format!("bit {bit} of page {pg}")
            }
            6 => {
                let src = rng.random_range(0..npages) * psize;
                let copy = b[src..src + psize].to_vec();
                b[base..base + psize].copy_from_slice(&copy);
                format!("page {} copied over page {pg}", src / psize)
            }
            8 => {
                let lower = (rd16t(b, base + 12) as usize).clamp(16, psize);
                let bit = rng.random_range(0..lower * 8);
                b[base + bit / 8] ^= 1 << (bit % 8);
                format!("header/ptr bit {bit} of tree page {pg}")
            }
            9 => {
                let n = (rd16t(b, base + 12) as usize - 16) / 2;
                let i = rng.random_range(0..n.max(1));
                let off = (rd16t(b, base + 16 + 2 * i) as usize).min(psize - 8);
                let bit = rng.random_range(0..64);
                b[base + off + bit / 8] ^= 1 << (bit % 8);
                format!("node {i} header bit {bit} of tree page {pg}")
            }
            10 => {
                let m = rng.random_range(0..2usize);
                let bit = rng.random_range(16 * 8..152 * 8);
                b[m * psize + bit / 8] ^= 1 << (bit % 8);
                format!("meta {m} bit {bit}")
            }
            _ => {
                let upper = rd16t(b, base + 14) as usize;
                let lo = if upper >= 16 && upper < psize { upper } else { 16 };
                let at = base + rng.random_range(lo..psize);
                let n = rng.random_range(1..=4).min(base + psize - at);
                rng.fill(&mut b[at..at + n]);
                format!("{n} bytes at page {pg} offset {}", at - base)
            }
        }
    }

    /// Every bit of both meta pages, bits of the structure of every live branch/leaf page
    /// (header, pointer array, node headers: all of them with BTREE_CHECK_EXHAUSTIVE=1, a seeded
    /// sample of 3000 otherwise) and 500 key bits, flipped one at a time; LMDB must survive every
    /// flip the walk accepts.
    #[test]
    fn single_bit_flips_in_structure_never_crash_lmdb_after_a_clean_walk() {
        let src = tempfile::tempdir().unwrap();
        let names = build_sample(src.path(), 11, 250);
        let orig = std::fs::read(src.path().join("data.mdb")).unwrap();
        let (psize, _, _) = meta_info(&orig);
        let mut bits: Vec<usize> = (0..152 * 8).chain(psize * 8..(psize + 152) * 8).collect();
        let mut structure = vec![];
        let mut keys = vec![];
        for pg in live_tree_pages(&orig) {
            let base = pg as usize * psize;
            let lower = rd16t(&orig, base + 12) as usize;
            structure.extend(base * 8..(base + lower) * 8);
            for i in 0..nkeys(&orig, psize, pg) {
                let n = node_off(&orig, psize, pg, i);
                let k = rd16t(&orig, n + 6) as usize;
                structure.extend(n * 8..(n + 8) * 8);
                keys.extend((n + 8) * 8..(n + 8 + k) * 8);
            }
        }
        let structure_bits = structure.len();
        let mut rng = StdRng::seed_from_u64(11);
        let mut sample = |v: &mut Vec<usize>, n: usize| {
            for i in 0..n.min(v.len()) {
                let j = rng.random_range(i..v.len());
                v.swap(i, j);
            }
            v.truncate(n);
        };
        if std::env::var("BTREE_CHECK_EXHAUSTIVE").is_err() {
            sample(&mut structure, 3000);
        }
        sample(&mut keys, 500);
        bits.extend(structure);
        bits.extend(keys);
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("data.mdb");
        std::fs::write(&path, &orig).unwrap();
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        let child_dir = work.path().join("child");
        std::fs::create_dir(&child_dir).unwrap();
        let (mut detected, mut clean, mut ok, mut lmdb_err, mut crashes) = (0u32, 0u32, 0u32, 0u32, vec![]);
        for &bit in &bits {
            let at = bit / 8;
            let flipped = orig[at] ^ (1 << (bit % 8));
            file.write_all_at(&[flipped], at as u64).unwrap();
            let verdict = check_file(&file, None).unwrap();
            file.write_all_at(&[orig[at]], at as u64).unwrap();
            if verdict.is_err() {
                detected += 1;
                continue;
            }
            clean += 1;
            let mut b = orig.clone();
            b[at] = flipped;
            let _ = std::fs::remove_file(child_dir.join("lock.mdb"));
            std::fs::write(child_dir.join("data.mdb"), &b).unwrap();
            match run_child(&child_dir, &names) {
                Some(st) if st.code() == Some(CHILD_OK) => ok += 1,
                Some(st) if matches!(st.code(), Some(10..=12)) => lmdb_err += 1,
                other => {
                    let keep = keep_crash(&format!("bit-{bit}"), &b);
                    crashes.push(format!("byte {at} bit {}: {other:?}, kept as {}", bit % 8, keep.display()));
                }
            }
        }
        tracing::debug!(
            "single-bit flips: {} tried ({structure_bits} structure bits in all), {detected} detected, {clean} clean: \
             {ok} read+written fine, {lmdb_err} LMDB errors, {} crashes",
            bits.len(),
            crashes.len()
        );
        assert!(crashes.is_empty(), "{crashes:#?}");
    }

    /// Saves a file image that crashed LMDB for a post-mortem (gdb, valgrind); returns its path.
    fn keep_crash(tag: &str, image: &[u8]) -> PathBuf {
        let keep = std::env::temp_dir().join(format!("btree-check-crash-{tag}.mdb"));
        let _ = std::fs::write(&keep, image);
        keep
    }

    /// Outcomes of random corruption trials.
    #[derive(Default, Debug)]
    struct Tally {
        /// The walk reported a corruption.
        detected: u32,
        /// The walk accepted the file.
        clean: u32,
        /// ... and LMDB read and wrote it fine.
        child_ok: u32,
        /// ... and LMDB returned an error.
        child_lmdb_error: u32,
        /// ... and the child panicked or exited otherwise.
        child_panic: u32,
        /// ... and the child died of a signal.
        child_signal: u32,
        /// ... and the child hung.
        child_timeout: u32,
    }

    /// Random corruptions (BTREE_CHECK_TRIALS, default 500; BTREE_CHECK_SEED): each is walked, and
    /// every one the walk accepts is read and written by LMDB in a child process, which must not
    /// die of a signal.
    #[test]
    fn random_corruption_never_crashes_lmdb_after_a_clean_walk() {
        let trials: u32 = std::env::var("BTREE_CHECK_TRIALS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
        let seed: u64 = std::env::var("BTREE_CHECK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(42);
        let src = tempfile::tempdir().unwrap();
        let names = build_sample(src.path(), seed, 250);
        let orig = std::fs::read(src.path().join("data.mdb")).unwrap();
        let live = live_tree_pages(&orig);
        tracing::debug!("sample: {} pages, {} branch/leaf pages in use", orig.len() / 4096, live.len());
        // The pristine copy must read cleanly in the child.
        let work = tempfile::tempdir().unwrap();
        std::fs::write(work.path().join("data.mdb"), &orig).unwrap();
        let st = run_child(work.path(), &names).unwrap();
        assert_eq!(st.code(), Some(CHILD_OK), "child on the pristine file: {st:?}");

        let mut rng = StdRng::seed_from_u64(seed);
        let mut per_kind: Vec<Tally> = KINDS.iter().map(|_| Tally::default()).collect();
        let mut crashes = vec![];
        for trial in 0..trials {
            let kind = trial as usize % KINDS.len();
            let mut b = orig.clone();
            let what = corrupt(&mut b, kind, &mut rng, &live);
            let dir = work.path().join(format!("t{trial}"));
            std::fs::create_dir(&dir).unwrap();
            let path = dir.join("data.mdb");
            std::fs::write(&path, &b).unwrap();
            let verdict = check_file(&File::open(&path).unwrap(), None).unwrap();
            let t = &mut per_kind[kind];
            if verdict.is_err() {
                t.detected += 1;
                std::fs::remove_dir_all(&dir).unwrap();
                continue;
            }
            t.clean += 1;
            match run_child(&dir, &names) {
                None => {
                    t.child_timeout += 1;
                    crashes.push(format!("trial {trial}: {what}: timeout"));
                }
                Some(st) if st.signal().is_some() => {
                    t.child_signal += 1;
                    let keep = keep_crash(&format!("{seed}-{trial}"), &b);
                    crashes.push(format!(
                        "trial {trial}: {what}: signal {:?}, kept as {}",
                        st.signal(),
                        keep.display()
                    ));
                }
                Some(st) => match st.code() {
                    Some(CHILD_OK) => t.child_ok += 1,
                    Some(10..=12) => t.child_lmdb_error += 1,
                    _ => {
                        t.child_panic += 1;
                        crashes.push(format!("trial {trial}: {what}: child exit {st:?}"));
                    }
                },
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
        let mut total = Tally::default();
        for (name, t) in KINDS.iter().zip(&per_kind) {
            tracing::debug!("{name:>26}: {t:?}");
            total.detected += t.detected;
            total.clean += t.clean;
            total.child_ok += t.child_ok;
            total.child_lmdb_error += t.child_lmdb_error;
            total.child_panic += t.child_panic;
            total.child_signal += t.child_signal;
            total.child_timeout += t.child_timeout;
        }
        tracing::debug!("{:>26}: {total:?}", "total");
        for c in &crashes {
            tracing::debug!("{c}");
        }
        assert_eq!(total.child_signal + total.child_timeout, 0, "LMDB crashed after a clean walk: {crashes:#?}");
    }
}
