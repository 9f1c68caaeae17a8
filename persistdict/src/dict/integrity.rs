//! [`PersistDict::check_integrity`]: the typed side of the integrity check
//! (does each record decode as `K` and `V`?) over the byte-level check in
//! `lifecycle/integrity.rs`.

use serde::de::DeserializeOwned;

use crate::codec::Codec;
use crate::dict::persist_dict::PersistDict;
use crate::error::Result;
use crate::lifecycle::integrity::{self, IntegrityReport, Verdict};

impl<K, V, KC: Codec, VC: Codec> PersistDict<K, V, KC, VC>
where
    K: DeserializeOwned,
    V: DeserializeOwned,
{
    /// Checks every record and index row, repairs what is safe to repair
    /// and reports the rest. Takes time in proportion to the database; runs
    /// in one write transaction, so writers wait meanwhile.
    ///
    /// It first walks the data file's B-trees itself, with bounds-checked
    /// reads and no LMDB cursor (LMDB has no page checksums, and its cursors
    /// crash on a damaged page): page headers, node offsets and sizes, key
    /// order, overflow runs, tree depth and counts, and that every page is
    /// used once or free. A damaged structure is [`Error::CorruptFile`](crate::Error::CorruptFile) with
    /// the page number, before LMDB touches it. What stays uncheckable: value
    /// bytes (each record's own CRC catches those when it is read), and a
    /// corruption that leaves a structurally valid tree.
    ///
    /// # Errors
    /// [`Error::CorruptFile`](crate::Error::CorruptFile) for a damaged B-tree (nothing is read through
    /// LMDB then), or a storage error (nothing is repaired then).
    ///
    /// # Example
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let d: persistdict::PersistDict<u32, u32> = persistdict::PersistDict::open(dir.path())?;
    /// d.insert(&1, &1)?;
    /// let report = d.check_integrity()?;
    /// assert!(report.is_clean());
    /// assert_eq!(report.entries_checked, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_integrity(&self) -> Result<IntegrityReport> {
        let inner = &self.inner;
        integrity::check(self.store(), self.handle().opts.durability, |header, key, value| {
            if header.type_fp != inner.types.fp {
                return Verdict::TypeMismatch;
            }
            let value_ok = inner.vc.decode::<V>(value).is_ok();
            match (inner.kc.decode::<K>(key).is_ok(), value_ok) {
                (true, true) => Verdict::Fine,
                (false, value_ok) => Verdict::UndecodableKey { value_too: !value_ok },
                (true, false) => Verdict::UndecodableValue,
            }
        })
    }
}
