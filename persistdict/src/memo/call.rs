//! The call paths the generated code runs: the probe that tells a `Result`
//! return type from any other (at the call site, where the compiler resolves
//! aliases), and the memoizing paths over the dictionary layer's single
//! flight: look, else compute once per key and store (only `Ok` of a
//! `Result`).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{LazyLock, Mutex};

use serde::de::DeserializeOwned;

use crate::dict::fingerprint::{self, Types};
use crate::memo::capture::Capture;
use crate::memo::key::{CacheValue, KEY_LEN, KeyBuilder};
use crate::memo::run::{Prefetch, Ready, memoize, memoize_async, prefetch, refresh};
use crate::memo::store::{CallKey, MemoStore};

/// The entry types of a memo result `T`: key `[u8; 32]`, value `T`, so
/// that [`MemoStore::dict`] reads them as a `PersistDict<[u8; 32], T>`.
pub(crate) fn memo_types<T: DeserializeOwned>() -> Types {
    // By type id, not type name: two local types of one name are two types.
    static CACHE: LazyLock<Mutex<HashMap<std::any::TypeId, Types>>> = LazyLock::new(Default::default);
    let id = typeid::of::<T>();
    let name = std::any::type_name::<T>();
    if let Some(t) = CACHE.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return *t;
    }
    let t = Types {
        fp: fingerprint::pair(fingerprint::of::<[u8; KEY_LEN]>(), fingerprint::of::<T>()),
        key: std::any::type_name::<[u8; KEY_LEN]>(),
        value: name,
    };
    CACHE.lock().unwrap_or_else(|e| e.into_inner()).insert(id, t);
    t
}

/// Probes, at the call site, whether a function's return type is a
/// `Result` (whatever its spelling: an alias, `io::Result<T>`,
/// `fmt::Result`): the compiler resolves aliases, the macro cannot.
/// `(&&KindProbe::<R>::new()).kind()` picks [`ResultKind`] when `R` is a
/// `Result<T, E>` (the `&KindProbe<Result<..>>` impl matches first), else
/// [`PlainKind`] (autoref specialization).
#[doc(hidden)]
pub struct KindProbe<R>(PhantomData<fn() -> R>);

impl<R> KindProbe<R> {
    #[doc(hidden)]
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        KindProbe(PhantomData)
    }
}

/// The `Result` side of [`KindProbe`].
#[doc(hidden)]
pub trait ResultProbe {
    /// The kind of the probed return type.
    type Kind;
    /// See [`KindProbe`].
    fn kind(&self) -> Self::Kind;
}

impl<T, E> ResultProbe for &KindProbe<std::result::Result<T, E>> {
    type Kind = ResultKind<T, E>;
    fn kind(&self) -> ResultKind<T, E> {
        ResultKind(PhantomData)
    }
}

/// The fallback side of [`KindProbe`].
#[doc(hidden)]
pub trait PlainProbe {
    /// The kind of the probed return type.
    type Kind;
    /// See [`KindProbe`].
    fn kind(&self) -> Self::Kind;
}

impl<R> PlainProbe for KindProbe<R> {
    type Kind = PlainKind<R>;
    fn kind(&self) -> PlainKind<R> {
        PlainKind(PhantomData)
    }
}

/// What `on_error = "serve_stale"` needs: a function returning a `Result`.
#[diagnostic::on_unimplemented(
    message = "`on_error = \"serve_stale\"` needs a function that returns a `Result`",
    label = "this function's return type is not a `Result`: there is no error to serve a stale value for",
    note = "remove `on_error`, or return `Result<T, E>` (only `Ok` values are stored)"
)]
#[doc(hidden)]
pub trait ServeStaleKind {}
impl<T, E> ServeStaleKind for ResultKind<T, E> {}

/// Compiles only for a `Result` kind (see [`ServeStaleKind`]).
#[doc(hidden)]
pub fn serve_stale_needs_a_result<K: ServeStaleKind>(_: &K) {}

/// A function returning `Result<T, E>`: only `Ok` values are stored; `E`
/// needs no trait at all.
#[doc(hidden)]
pub struct ResultKind<T, E>(PhantomData<fn() -> (T, E)>);

/// A function returning anything else: the whole value is stored.
#[doc(hidden)]
pub struct PlainKind<R>(PhantomData<fn() -> R>);

impl<T, E> Clone for ResultKind<T, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, E> Copy for ResultKind<T, E> {}
impl<R> Clone for PlainKind<R> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R> Copy for PlainKind<R> {}

impl<T, E> ResultKind<T, E> {
    /// The hit path: a fresh stored result, or what [`call`](Self::call) needs.
    #[doc(hidden)]
    pub fn prefetch(self, store: &'static MemoStore, kb: KeyBuilder) -> Prefetch<std::result::Result<T, E>>
    where
        T: CacheValue,
    {
        prefetch(store, kb, Ok)
    }

    /// The call path of a sync function, after a miss.
    #[doc(hidden)]
    pub fn call(
        self,
        store: &'static MemoStore,
        ready: Ready,
        capture: Option<Capture>,
        body: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        T: CacheValue,
    {
        memoize(store, ready, capture, body, |r| r.as_ref().ok(), Ok)
    }

    /// `refresh = "background"`: recomputes a stale call on its own thread.
    #[doc(hidden)]
    pub fn refresh(
        self,
        store: &'static MemoStore,
        ready: Ready,
        capture: Option<Capture>,
        body: impl FnOnce() -> std::result::Result<T, E> + Send + 'static,
    ) where
        T: CacheValue + 'static,
        E: 'static,
    {
        refresh(store, ready, capture, body, |r| r.as_ref().ok(), Ok)
    }

    /// The call path of an `async fn`, after a miss.
    #[doc(hidden)]
    pub async fn call_async(
        self,
        store: &'static MemoStore,
        ready: Ready,
        capture: Option<Capture>,
        body: impl Future<Output = std::result::Result<T, E>>,
    ) -> std::result::Result<T, E>
    where
        T: CacheValue + Send,
    {
        memoize_async(store, ready, capture, body, |r| r.as_ref().ok(), Ok).await
    }

    /// The companion's key.
    #[doc(hidden)]
    pub fn call_key(self, store: &'static MemoStore, kb: KeyBuilder) -> CallKey {
        CallKey { store, key: kb.finish() }
    }
}

impl<R> PlainKind<R> {
    /// The hit path: a fresh stored result, or what [`call`](Self::call) needs.
    #[doc(hidden)]
    pub fn prefetch(self, store: &'static MemoStore, kb: KeyBuilder) -> Prefetch<R>
    where
        R: CacheValue,
    {
        prefetch(store, kb, |v| v)
    }

    /// The call path of a sync function, after a miss.
    #[doc(hidden)]
    pub fn call(self, store: &'static MemoStore, ready: Ready, capture: Option<Capture>, body: impl FnOnce() -> R) -> R
    where
        R: CacheValue,
    {
        // A `Result` the probe could not see (behind a generic or an
        // associated type) is caught here: its `Err` is not stored.
        memoize(store, ready, capture, body, |r| (!is_result_err(r)).then_some(r), |v| v)
    }

    /// `refresh = "background"`: recomputes a stale call on its own thread.
    #[doc(hidden)]
    pub fn refresh(
        self,
        store: &'static MemoStore,
        ready: Ready,
        capture: Option<Capture>,
        body: impl FnOnce() -> R + Send + 'static,
    ) where
        R: CacheValue + 'static,
    {
        refresh(store, ready, capture, body, |r| (!is_result_err(r)).then_some(r), |v| v)
    }

    /// The call path of an `async fn`, after a miss.
    #[doc(hidden)]
    pub async fn call_async(
        self,
        store: &'static MemoStore,
        ready: Ready,
        capture: Option<Capture>,
        body: impl Future<Output = R>,
    ) -> R
    where
        R: CacheValue + Send,
    {
        memoize_async(store, ready, capture, body, |r| (!is_result_err(r)).then_some(r), |v| v).await
    }

    /// The companion's key.
    #[doc(hidden)]
    pub fn call_key(self, store: &'static MemoStore, kb: KeyBuilder) -> CallKey {
        CallKey { store, key: kb.finish() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_err_is_seen_through_its_serde_form() {
        assert!(is_result_err(&Err::<u32, String>("x".into())));
        assert!(!is_result_err(&Ok::<u32, String>(1)));
        assert!(!is_result_err(&Some(1u8)));
        assert!(!is_result_err(&"Err"));
    }

    #[test]
    #[allow(clippy::needless_borrow)]
    fn the_result_probe_sees_through_aliases() {
        type R = std::result::Result<u32, std::fmt::Error>;
        fn is_result<K: 'static>(_: K) -> bool {
            std::any::TypeId::of::<K>() == std::any::TypeId::of::<ResultKind<u32, std::fmt::Error>>()
        }
        assert!(is_result((&&KindProbe::<R>::new()).kind()));
        assert!(!is_result((&&KindProbe::<u32>::new()).kind()));
    }
}

/// Whether `value` is the `Err` of a `Result`, seen through its serde
/// form: a function whose return type is a `Result` the probe cannot see
/// (a generic `T` or an associated type `J::Out` that is a `Result` at the
/// call site) must still store only `Ok`. The serializer stops at the first
/// call, so this costs next to nothing.
pub(crate) fn is_result_err<T: serde::Serialize + ?Sized>(value: &T) -> bool {
    matches!(value.serialize(ErrProbe), Err(Probe::Err))
}

/// The probe's only outcomes.
#[derive(Debug)]
enum Probe {
    Err,
    Other,
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("probe")
    }
}

impl std::error::Error for Probe {}

impl serde::ser::Error for Probe {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Probe::Other
    }
}

struct ErrProbe;

macro_rules! not_err {
    ($($method:ident($($arg:ty),*);)*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<(), Probe> {
            Err(Probe::Other)
        }
    )*};
}

impl serde::Serializer for ErrProbe {
    type Ok = ();
    type Error = Probe;
    type SerializeSeq = serde::ser::Impossible<(), Probe>;
    type SerializeTuple = serde::ser::Impossible<(), Probe>;
    type SerializeTupleStruct = serde::ser::Impossible<(), Probe>;
    type SerializeTupleVariant = serde::ser::Impossible<(), Probe>;
    type SerializeMap = serde::ser::Impossible<(), Probe>;
    type SerializeStruct = serde::ser::Impossible<(), Probe>;
    type SerializeStructVariant = serde::ser::Impossible<(), Probe>;

    not_err! {
        serialize_bool(bool); serialize_i8(i8); serialize_i16(i16); serialize_i32(i32); serialize_i64(i64);
        serialize_i128(i128); serialize_u8(u8); serialize_u16(u16); serialize_u32(u32); serialize_u64(u64);
        serialize_u128(u128); serialize_f32(f32); serialize_f64(f64); serialize_char(char); serialize_str(&str);
        serialize_bytes(&[u8]); serialize_none(); serialize_unit(); serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: serde::Serialize + ?Sized>(self, _: &T) -> Result<(), Probe> {
        Err(Probe::Other)
    }
    fn serialize_newtype_struct<T: serde::Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<(), Probe> {
        Err(Probe::Other)
    }
    fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        _: &T,
    ) -> Result<(), Probe> {
        Err(if (name, index, variant) == ("Result", 1, "Err") { Probe::Err } else { Probe::Other })
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Probe> {
        Err(Probe::Other)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Probe> {
        Err(Probe::Other)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Probe> {
        Err(Probe::Other)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Probe> {
        Err(Probe::Other)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Probe> {
        Err(Probe::Other)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Probe> {
        Err(Probe::Other)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Probe> {
        Err(Probe::Other)
    }
}
