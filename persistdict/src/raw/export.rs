//! The portable export file: every entry with its metadata, and the meta
//! records that give them meaning (codecs, type names, function records),
//! in one stream without free pages, independent of LMDB's page size and of
//! the machine.
//!
//! ```text
//! magic            8 bytes  "PDEXPORT"
//! export version   u32 LE   EXPORT_VERSION
//! format version   u32 LE   the database's FORMAT_VERSION
//! frames, each a tag byte then its fields (lengths u32 LE, numbers u64 LE):
//!   'M' meta record     klen key vlen value
//!   'E' entry           klen key vlen value ctime_ms atime_ms window_ms type_fp
//!   'Z' end             entries (u64), CRC-32C (u32) of every byte before this one
//! ```
//!
//! An import checks the whole file (magic, versions, the final checksum)
//! before it writes anything.

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use super::{RawDb, RawEntry, epoch_ms, system_time};
use crate::error::{Error, Result};
use crate::lifecycle::budget::{self, Budget};
use crate::storage::meta;
use crate::storage::record;
use crate::storage::store::Durability;

const MAGIC: &[u8; 8] = b"PDEXPORT";
/// The version of the export file layout this build writes and reads.
pub const EXPORT_VERSION: u32 = 1;
/// Entries written per transaction by an import.
const IMPORT_BATCH: usize = 1000;

/// What [`RawDb::import`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportReport {
    /// Entries in the file.
    pub entries: u64,
    /// Entries written (new keys, or newer than the ones there).
    pub written: u64,
    /// Entries skipped because the database held a newer one.
    pub kept_newer: u64,
    /// Entries evicted by the budgets while importing.
    pub evicted: u64,
}

/// Meta records an export carries (the rest describe the database itself).
fn exported_meta(key: &[u8]) -> bool {
    key == meta::CODECS_KEY || key.starts_with(b"types/") || key.starts_with(b"fns/")
}

struct CrcWriter<W> {
    inner: W,
    crc: u32,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.crc = crc32c::crc32c_append(self.crc, bytes);
        self.inner.write_all(bytes)
    }
    fn field(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("field longer than 4 GiB"))?;
        self.put(&len.to_le_bytes())?;
        self.put(bytes)
    }
}

struct CrcReader<R> {
    inner: R,
    crc: u32,
    read: u64,
}

impl<R: Read> CrcReader<R> {
    fn take(&mut self, n: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        (&mut self.inner).take(n as u64).read_to_end(&mut buf)?;
        if buf.len() != n {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the file ends early"));
        }
        self.crc = crc32c::crc32c_append(self.crc, &buf);
        self.read += n as u64;
        Ok(buf)
    }
    fn u32(&mut self) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> std::io::Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn field(&mut self) -> std::io::Result<Vec<u8>> {
        // A lying length cannot allocate ahead: `take` grows with the bytes read.
        let n = self.u32()?;
        self.take(n as usize)
    }
}

/// One frame of an export file.
enum Frame {
    Meta(Vec<u8>, Vec<u8>),
    Entry(RawEntry),
    End { entries: u64, crc_ok: bool },
}

fn read_frame<R: Read>(r: &mut CrcReader<R>) -> std::io::Result<Frame> {
    let crc_before_tag = r.crc;
    let tag = r.take(1)?[0];
    Ok(match tag {
        b'M' => Frame::Meta(r.field()?, r.field()?),
        b'E' => {
            let key = r.field()?;
            let value = r.field()?;
            let (ctime, atime, window, type_fp) = (r.u64()?, r.u64()?, r.u64()?, r.u64()?);
            let size = (key.len() + value.len()) as u64;
            Frame::Entry(RawEntry {
                key,
                value,
                ctime: system_time(ctime),
                atime: system_time(atime),
                window: (window != record::NEVER).then(|| Duration::from_millis(window)),
                type_fp,
                seq: 0,
                size,
            })
        }
        b'Z' => {
            let entries = r.u64()?;
            let stored = r.u32()?;
            Frame::End { entries, crc_ok: stored == crc_before_tag }
        }
        other => return Err(std::io::Error::other(format!("unknown frame tag {other}"))),
    })
}

impl RawDb {
    /// Writes every entry and the meta records that describe them (codecs,
    /// type names, function records) to `file` (created or truncated), from
    /// one snapshot; `progress` is called with the entries written so far.
    /// Returns the number of entries.
    ///
    /// # Errors
    /// A storage error, or an I/O error writing the file.
    pub fn export(&self, file: impl AsRef<Path>, mut progress: impl FnMut(u64)) -> Result<u64> {
        let path = file.as_ref();
        let io = |action: &'static str| move |e| Error::io(path, action, e);
        let f = std::fs::File::create(path).map_err(io("creating the export file"))?;
        let mut w = CrcWriter { inner: BufWriter::new(f), crc: 0 };
        w.put(MAGIC).map_err(io("writing the export file"))?;
        w.put(&EXPORT_VERSION.to_le_bytes()).map_err(io("writing the export file"))?;
        w.put(&meta::FORMAT_VERSION.to_le_bytes()).map_err(io("writing the export file"))?;
        for (k, v) in self.meta()? {
            if exported_meta(&k) {
                w.put(b"M").map_err(io("writing the export file"))?;
                w.field(&k).map_err(io("writing the export file"))?;
                w.field(&v).map_err(io("writing the export file"))?;
            }
        }
        let mut n = 0u64;
        for entry in self.entries()? {
            let e = entry?;
            let window = e.window.map_or(record::NEVER, crate::storage::clock::duration_ms);
            let write = |w: &mut CrcWriter<_>| -> std::io::Result<()> {
                w.put(b"E")?;
                w.field(&e.key)?;
                w.field(&e.value)?;
                for x in [epoch_ms(e.ctime), epoch_ms(e.atime), window, e.type_fp] {
                    w.put(&x.to_le_bytes())?;
                }
                Ok(())
            };
            write(&mut w).map_err(io("writing the export file"))?;
            n += 1;
            progress(n);
        }
        let crc = w.crc;
        let mut end = vec![b'Z'];
        end.extend_from_slice(&n.to_le_bytes());
        end.extend_from_slice(&crc.to_le_bytes());
        w.inner.write_all(&end).map_err(io("writing the export file"))?;
        let f = w.inner.into_inner().map_err(|e| Error::io(path, "writing the export file", e.into_error()))?;
        f.sync_all().map_err(io("syncing the export file"))?;
        tracing::debug!(path = %path.display(), entries = n, "exported");
        Ok(n)
    }

    /// Merges export file `file` (see [`export`](Self::export)) into this
    /// database: an entry whose key is absent, or present with an older
    /// atime, is written with its own ctime, atime, expiry window and type
    /// fingerprint; a newer one here is kept. Type names and function
    /// records are added where missing. This handle's budgets
    /// ([`RawOptions`](super::RawOptions)) apply, least recently used first.
    /// `progress` is called with the bytes of the file read so far.
    ///
    /// The whole file is checked first (magic, versions, checksum, and that
    /// its codecs match the database's): a file that fails writes nothing.
    ///
    /// # Errors
    /// [`Error::NotADatabase`] for a file that is not an export or is
    /// damaged, [`Error::FormatVersion`] for one from another format
    /// version, [`Error::CodecMismatch`] for other codecs, or a storage error.
    pub fn import(&self, file: impl AsRef<Path>, mut progress: impl FnMut(u64)) -> Result<ImportReport> {
        let path = file.as_ref();
        let bad = |reason: String| Error::NotADatabase { path: path.to_path_buf(), reason };
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, "opening the export file", e))?;
        let mut r = CrcReader { inner: BufReader::new(f), crc: 0, read: 0 };
        // Pass 1: check everything, write nothing.
        let codecs = check_file(&mut r, path, &bad)?;
        if let Some(theirs) = codecs {
            match self.codecs()? {
                Some(ours) if ours != theirs => {
                    return Err(Error::CodecMismatch {
                        path: self.path().to_path_buf(),
                        stored: ours,
                        requested: theirs,
                    });
                }
                _ => {}
            }
        }
        // Pass 2: merge.
        let mut f = r.inner.into_inner();
        f.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, "reading the export file", e))?;
        let mut r = CrcReader { inner: BufReader::new(f), crc: 0, read: 0 };
        r.take(16).map_err(|e| Error::io(path, "reading the export file", e))?;
        let mut report = ImportReport::default();
        let mut metas = Vec::new();
        let mut batch = Vec::new();
        loop {
            let frame = read_frame(&mut r).map_err(|e| Error::io(path, "reading the export file", e))?;
            let end = matches!(frame, Frame::End { .. });
            match frame {
                Frame::Meta(k, v) => metas.push((k, v)),
                Frame::Entry(e) => batch.push(e),
                Frame::End { entries, .. } => report.entries = entries,
            }
            if batch.len() >= IMPORT_BATCH || end {
                self.import_batch(&std::mem::take(&mut metas), &std::mem::take(&mut batch), &mut report)?;
                progress(r.read);
            }
            if end {
                break;
            }
        }
        tracing::debug!(path = %self.path().display(), ?report, "imported");
        Ok(report)
    }

    fn import_batch(&self, metas: &[(Vec<u8>, Vec<u8>)], batch: &[RawEntry], report: &mut ImportReport) -> Result<()> {
        let store = &self.h.store;
        let budget = Budget { max_bytes: self.h.opts.max_bytes, max_entries: self.h.opts.max_entries };
        let hint: usize = batch.iter().map(|e| e.key.len() + e.value.len() + 128).sum();
        let (written, kept, evicted) = store.write(Durability::Sync, hint, |txn, t| {
            let lm = store.lm("importing metadata");
            for (k, v) in metas {
                if exported_meta(k) && t.meta.get(txn, k).map_err(&lm)?.is_none() {
                    t.meta.put(txn, k, v).map_err(&lm)?;
                }
            }
            let (mut written, mut kept) = (0, 0);
            let mut next_seq = None;
            for e in batch {
                if self.put_entry_in(txn, e, &mut next_seq)? {
                    written += 1;
                } else {
                    kept += 1;
                }
            }
            let evicted = if budget.is_set() {
                budget::enforce(store, txn, budget, batch.len() + budget::EVICT_BATCH, None)?
            } else {
                0
            };
            Ok((written, kept, evicted))
        })?;
        report.written += written;
        report.kept_newer += kept;
        report.evicted += evicted as u64;
        Ok(())
    }
}

/// Reads the whole file once: header, frames, end frame and checksum.
/// Returns the codecs it records.
fn check_file<R: Read>(r: &mut CrcReader<R>, path: &Path, bad: &dyn Fn(String) -> Error) -> Result<Option<String>> {
    let head = r.take(16).map_err(|_| bad("not a persistdict export file (too short)".into()))?;
    if &head[..8] != MAGIC {
        return Err(bad("not a persistdict export file (no PDEXPORT header)".into()));
    }
    let version = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes"));
    if version != EXPORT_VERSION {
        return Err(bad(format!("export file layout {version}; this build reads layout {EXPORT_VERSION}")));
    }
    let found = u32::from_le_bytes(head[12..16].try_into().expect("4 bytes"));
    if found != meta::FORMAT_VERSION {
        return Err(Error::FormatVersion { path: path.to_path_buf(), found, supported: meta::FORMAT_VERSION });
    }
    let mut codecs = None;
    let mut n = 0u64;
    loop {
        match read_frame(r) {
            Ok(Frame::Meta(k, v)) if k == meta::CODECS_KEY => codecs = Some(String::from_utf8_lossy(&v).into_owned()),
            Ok(Frame::Meta(..)) => {}
            Ok(Frame::Entry(_)) => n += 1,
            Ok(Frame::End { entries, crc_ok }) => {
                if !crc_ok || entries != n {
                    return Err(bad("the export file is damaged (checksum or entry count mismatch)".into()));
                }
                return Ok(codecs);
            }
            Err(e) => return Err(bad(format!("the export file is damaged or truncated ({e})"))),
        }
    }
}
