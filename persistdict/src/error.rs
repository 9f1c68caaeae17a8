//! The one error type of persistdict.

use std::path::PathBuf;

/// A boxed, thread-safe error, as codecs return it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Below this much free space, an EIO from LMDB is taken for a full disk.
const FULL_BELOW: u64 = 64 << 20;

/// The result type of every fallible persistdict operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in persistdict.
///
/// Each message names the database directory and, where it helps, the key and
/// what to do about it. The enum is `#[non_exhaustive]`: match the variants you
/// handle and keep a fallback arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path exists but is not a directory.
    #[error(
        "{path}: exists and is not a directory; persistdict stores a database as a directory, pick another path or remove the file"
    )]
    NotADirectory {
        /// The path given to the builder.
        path: PathBuf,
    },

    /// An I/O operation on the database directory failed.
    #[error("{path}: {action} failed: {source}")]
    Io {
        /// The directory or file concerned.
        path: PathBuf,
        /// What persistdict was doing, e.g. "creating the directory".
        action: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// LMDB reported an error.
    #[error("{path}: LMDB error while {action}: {source}")]
    Lmdb {
        /// The database directory.
        path: PathBuf,
        /// What persistdict was doing.
        action: &'static str,
        /// The error reported by LMDB (through `heed`, which is kept out of
        /// the public API: it is boxed).
        #[source]
        source: BoxError,
    },

    /// The files in the directory are not a valid LMDB environment, or are
    /// damaged (bad header, truncated file).
    #[error(
        "{path}: the database file is damaged or not an LMDB file ({reason}); move the directory aside and let persistdict create a new one"
    )]
    BadFile {
        /// The directory.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// The path is not a persistdict database (an empty directory, a file,
    /// another application's LMDB environment), or a file is not a
    /// persistdict export; from [`raw::RawDb`](crate::raw::RawDb), which
    /// then created and changed nothing.
    #[error("{path}: not a persistdict database: {reason}; nothing was changed")]
    NotADatabase {
        /// The path given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },

    /// The database was written with an on-disk layout this version does not read.
    #[error(
        "{path}: on-disk format version {found} is not supported (this build reads version {supported}); use the persistdict version that wrote it, or move the directory aside"
    )]
    FormatVersion {
        /// The directory.
        path: PathBuf,
        /// The version recorded in the database.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },

    /// The database was created with other codecs than the ones requested.
    #[error(
        "{path}: the database was created with the {stored} codec but was opened with {requested}; open it with the same codec as before"
    )]
    CodecMismatch {
        /// The directory.
        path: PathBuf,
        /// The codec names recorded in the database.
        stored: String,
        /// The codec names given to the builder.
        requested: String,
    },

    /// A builder option is out of range.
    #[error("{path}: invalid option: {message}")]
    InvalidOption {
        /// The directory.
        path: PathBuf,
        /// What is wrong and what is allowed.
        message: String,
    },

    /// A key could not be encoded with the key codec.
    #[error("{path}: could not encode key: {source}")]
    EncodeKey {
        /// The directory.
        path: PathBuf,
        /// The codec's error.
        #[source]
        source: BoxError,
    },

    /// A value could not be encoded with the value codec.
    #[error("{path}: could not encode the value of key {key}: {source}")]
    EncodeValue {
        /// The directory.
        path: PathBuf,
        /// The key, printed when printable.
        key: String,
        /// The codec's error.
        #[source]
        source: BoxError,
    },

    /// Stored bytes no longer decode as the requested type (most often the value
    /// type changed). The stored entry is left untouched.
    #[error(
        "{path}: the stored value of key {key} does not decode as the requested type ({source}); the entry is left as it is: read it with the type it was written with, or remove it"
    )]
    Decode {
        /// The directory.
        path: PathBuf,
        /// The key, printed when printable.
        key: String,
        /// The codec's error.
        #[source]
        source: BoxError,
    },

    /// The stored entry was written with other key or value types than the
    /// ones it is read with (their serde shapes differ: a field was added,
    /// removed, reordered or retyped, or another type altogether). Decoding
    /// it would give a wrong value, so it is not decoded; the entry is left
    /// as it is.
    #[error(
        "{path}: the entry of key {key} was written as {stored} but is read as {requested}; the types' serde shapes differ, so it is not decoded (that would give a wrong value): read it with the types it was written with, or remove it"
    )]
    TypeMismatch {
        /// The directory.
        path: PathBuf,
        /// The key, printed when printable.
        key: String,
        /// The key and value types the entry was written with, as recorded.
        stored: String,
        /// The key and value types it is read with.
        requested: String,
    },

    /// `check_integrity` found the data file's B-tree structure damaged
    /// (LMDB has no page checksums: a process reading such a page through
    /// LMDB may crash, so nothing was read through LMDB).
    #[error(
        "{path}: data.mdb is damaged{}: {reason}; reading it through LMDB could crash the process: stop using this directory, copy what you need with a fresh build of it elsewhere, then move it aside",
        page.map(|p| format!(" at page {p}")).unwrap_or_default()
    )]
    CorruptFile {
        /// The directory.
        path: PathBuf,
        /// The page where the damage was found, when known.
        page: Option<u64>,
        /// What is wrong.
        reason: String,
    },

    /// An entry too large for the database's `max_bytes` budget (it would
    /// evict everything and still not fit). Nothing was written.
    #[error(
        "{path}: an entry of {size} bytes does not fit the size budget of {max_bytes} bytes (an entry may take at most half of it); raise max_bytes or store less"
    )]
    OverBudget {
        /// The directory.
        path: PathBuf,
        /// The entry's key and value bytes.
        size: u64,
        /// The budget in force.
        max_bytes: u64,
    },

    /// The filesystem holding the database is full.
    #[error(
        "{path}: {action} failed: the filesystem is full ({available} bytes free); free some space (or set a size budget) and try again; nothing stored was lost"
    )]
    DiskFull {
        /// The directory.
        path: PathBuf,
        /// What persistdict was doing.
        action: &'static str,
        /// Bytes available to this user on that filesystem when it failed.
        available: u64,
    },

    /// A stored record failed its checksum: its bytes changed on disk.
    #[error(
        "{path}: the stored record of key {key} is corrupt ({reason}); remove the key, or run check_integrity() for a report"
    )]
    Corrupt {
        /// The directory.
        path: PathBuf,
        /// The key, printed when printable.
        key: String,
        /// What check failed.
        reason: String,
    },

    /// The directory was opened by this process before it forked; LMDB
    /// environments cannot be used across `fork`.
    #[error(
        "{path}: this process is a fork of the one that opened the database; LMDB cannot be used across fork(): open databases only after forking, or exec a new program"
    )]
    OpenedBeforeFork {
        /// The directory.
        path: PathBuf,
    },

    /// The directory was deleted or replaced while this process still has
    /// the database that was there open (LMDB allows one environment per
    /// path in a process).
    #[error(
        "{path}: this process still has the database that was at this path open (the directory was deleted or replaced since); drop every handle of it first (memoized functions keep theirs until the process exits: restart it), then open again"
    )]
    StillOpen {
        /// The directory.
        path: PathBuf,
    },

    /// The directory cannot be compacted in place: a process has it open.
    #[error("{path}: cannot compact in place: {who}")]
    InUse {
        /// The directory.
        path: PathBuf,
        /// Who has it open, and what to do.
        who: String,
    },

    /// `initialize` was called on a database that was already initialized.
    #[error("{path}: already initialized; initialize() populates a database once, call clear() first to start again")]
    AlreadyInitialized {
        /// The directory.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(path: &std::path::Path, action: &'static str, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), action, source }
    }

    /// An LMDB error; an I/O error that means "no space left" (LMDB reports
    /// a short write as EIO) on a filesystem that is in fact nearly full
    /// becomes [`Error::DiskFull`], which says how much is free.
    pub(crate) fn lmdb(path: &std::path::Path, action: &'static str, source: heed::Error) -> Self {
        if let heed::Error::Io(io) = &source
            && let Some(full) = Self::disk_full(path, action, io)
        {
            return full;
        }
        Error::Lmdb { path: path.to_path_buf(), action, source: Box::new(source) }
    }

    /// An I/O error on a file of the database; [`Error::DiskFull`] when it
    /// means the filesystem is full.
    pub(crate) fn io_or_full(path: &std::path::Path, action: &'static str, source: std::io::Error) -> Self {
        Self::disk_full(path, action, &source).unwrap_or_else(|| Error::io(path, action, source))
    }

    fn disk_full(path: &std::path::Path, action: &'static str, io: &std::io::Error) -> Option<Self> {
        if !crate::storage::platform::is_no_space(io) {
            return None;
        }
        let available = crate::storage::platform::available_bytes(path)?;
        // EIO on a filesystem with room left is a real I/O error.
        (io.kind() == std::io::ErrorKind::StorageFull || available < FULL_BELOW).then(|| Error::DiskFull {
            path: path.to_path_buf(),
            action,
            available,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_send_sync_static() {
        fn assert_traits<T: Send + Sync + 'static + std::error::Error>() {}
        assert_traits::<Error>();
    }

    #[test]
    fn messages_name_the_path_and_the_fix() {
        let e = Error::AlreadyInitialized { path: "/tmp/db".into() };
        let msg = e.to_string();
        assert!(msg.contains("/tmp/db"), "{msg}");
        assert!(msg.contains("clear()"), "{msg}");
    }
}
