//! A call's key: SHA-256 over the function's namespace, its exact identity
//! (see [`identity`]) and its arguments in the canonical encoding of
//! `canonical.rs`, behind an 8-byte prefix per function (see the module docs
//! of `memo/store.rs`).

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::memo::store::MemoStore;

/// Length of a call key.
pub(crate) const KEY_LEN: usize = 32;
/// Length of the per-function prefix of a call key.
pub(crate) const PREFIX_LEN: usize = 8;

/// A call's key: 32 bytes, see the module docs.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq)]
pub struct Key(pub(crate) [u8; KEY_LEN]);

/// Builds a call's key; generated code feeds it the arguments. Finished by
/// the result kind (which knows the stored type).
#[doc(hidden)]
pub struct KeyBuilder {
    hasher: Option<Sha256>,
    store: &'static MemoStore,
    buf: Vec<u8>,
}

/// Arguments that can be part of a `#[persist_cache]` key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a #[persist_cache] key: it does not implement serde::Serialize",
    label = "this argument is hashed into the cache key",
    note = "derive serde::Serialize for it, or leave it out of the key with #[persist_cache(ignore(arg))]",
    note = "`Arc<T>` and `Rc<T>` implement Serialize only with serde's `rc` feature"
)]
#[doc(hidden)]
pub trait CacheKey: Serialize {}
#[diagnostic::do_not_recommend]
impl<T: Serialize + ?Sized> CacheKey for T {}

/// Results that `#[persist_cache]` can store.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored by #[persist_cache]: it must implement serde::Serialize and serde::DeserializeOwned",
    label = "this return type is stored on disk",
    note = "derive serde::Serialize and serde::Deserialize for it (for Result<T, E>, only T needs them)",
    note = "`Arc<T>` and `Rc<T>` implement them only with serde's `rc` feature"
)]
#[doc(hidden)]
pub trait CacheValue: Serialize + DeserializeOwned {}
// `do_not_recommend`: a type that is neither Serialize nor Deserialize gets
// one error (this trait's message), not one per missing serde trait.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> CacheValue for T {}

/// The function identity of a call site: `site` is `type_name_of_val` of a
/// closure in the wrapper (or the companion), which ends in one
/// `::{{closure}}` per closure or async block around it. The companion
/// `f_cache` passes `Some(("f_cache", "f"))` so that its identity is the
/// wrapper's: the last path segment (before its generic arguments) is renamed.
fn identity<'a>(site: &'a str, companion: Option<(&str, &str)>) -> Cow<'a, str> {
    let mut s = site;
    while let Some(rest) = s.strip_suffix("::{{closure}}") {
        s = rest;
    }
    let Some((from, to)) = companion else { return Cow::Borrowed(s) };
    let head_end = generics_start(s).unwrap_or(s.len());
    let (head, generics) = s.split_at(head_end);
    match head.strip_suffix(from) {
        Some(parent) if parent.is_empty() || parent.ends_with("::") => Cow::Owned(format!("{parent}{to}{generics}")),
        _ => Cow::Borrowed(s),
    }
}

/// Whether the function whose identity is `id` (see [`identity`]) is
/// defined inside a function body: after its module path, a path segment
/// before its own name is a function (snake case, by Rust's naming
/// convention, where types are camel case) or a closure.
fn nested_in_a_function(id: &str, module: &str) -> bool {
    // A qualified path `<Type as Trait>::f...`: what follows the `>` is
    // looked at; otherwise what follows the module path, which must be a
    // whole-segment prefix (a module declared inside a function body has a
    // module path that is not one: nested).
    let rest = if id.starts_with('<') {
        let Some(end) = matching_angle(id) else { return true };
        match id[end + 1..].strip_prefix("::") {
            Some(r) => r,
            None => return true,
        }
    } else {
        match id.strip_prefix(module).and_then(|r| r.strip_prefix("::")) {
            Some(r) => r,
            None => return true,
        }
    };
    let mut segments = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                segments.push(&rest[start..i]);
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    segments.iter().any(|s| *s == "{{closure}}" || s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_'))
}

/// The index of the `>` closing the `<` at the start of `s`.
fn matching_angle(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// `id` without the generic arguments of its last path segment.
pub(crate) fn without_generics(id: &str) -> &str {
    &id[..generics_start(id).unwrap_or(id.len())]
}

/// Where the generic arguments of the last path segment of a type name
/// start (`f<u8, 3>` -> the index of `<`), if it has any.
fn generics_start(s: &str) -> Option<usize> {
    if !s.ends_with('>') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut depth = 0usize;
    for i in (0..bytes.len()).rev() {
        match bytes[i] {
            // `->` in a fn pointer type is not a bracket.
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => depth += 1,
            b'<' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The type id of a call site's closure (`typeid`: the closure of a
/// generic function need not be `'static`).
#[doc(hidden)]
pub fn site_id<T>(_: &T) -> std::any::TypeId {
    typeid::of::<T>()
}

impl KeyBuilder {
    /// Starts the key of a call: `site` is `type_name_of_val` of a closure
    /// defined in the wrapper (see [`identity`]).
    #[doc(hidden)]
    pub fn new(
        store: &'static MemoStore,
        site: &'static str,
        site_id: std::any::TypeId,
        companion: Option<(&str, &str)>,
    ) -> Self {
        let hasher = store.key_base(
            site_id,
            || (identity(site, companion).into_owned(), companion.is_some()),
            |id| {
                let mut hasher = Sha256::new();
                let namespace = store.namespace();
                let (module, location) = store.place();
                // Two identical functions nested in two blocks or closures of one
                // function have one path: only their place in the file tells them
                // apart. (Only for nested functions: elsewhere an edit above the
                // function must not move its key.)
                let place = if nested_in_a_function(id, module) { location } else { "" };
                for part in [namespace.as_bytes(), id.as_bytes(), place.as_bytes()] {
                    hasher.update((part.len() as u64).to_le_bytes());
                    hasher.update(part);
                }
                hasher
            },
        );
        KeyBuilder { hasher, store, buf: Vec::new() }
    }

    /// Adds a concrete type name (the type behind an `impl Trait` argument).
    #[doc(hidden)]
    pub fn ty(&mut self, name: &str) {
        if let Some(h) = &mut self.hasher {
            h.update([b't']);
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
        }
    }

    /// Adds an argument.
    #[doc(hidden)]
    pub fn arg<T: CacheKey + ?Sized>(&mut self, value: &T) {
        let Some(h) = &mut self.hasher else { return };
        self.buf.clear();
        match crate::dict::canonical::encode(value, &mut self.buf) {
            Ok(()) => {
                h.update([b'a']);
                h.update((self.buf.len() as u64).to_le_bytes());
                h.update(&self.buf);
            }
            Err(e) => {
                warn!(function = self.store.namespace(), error = %e,
                    "persist_cache: an argument cannot be encoded; this call runs uncached");
                self.hasher = None;
            }
        }
    }

    /// Adds an `extra_key` expression's value.
    #[doc(hidden)]
    pub fn extra<T: CacheKey + ?Sized>(&mut self, value: &T) {
        if let Some(h) = &mut self.hasher {
            h.update([b'x']);
        }
        self.arg(value);
    }

    /// The key. The stored type is not part of it: every entry carries its
    /// type fingerprint, and a result stored with another shape (the result
    /// type changed between builds) is a miss that is recomputed and
    /// overwritten, so old bytes are never decoded into a new type and their
    /// space is reclaimed at once.
    pub(crate) fn finish(self) -> Option<Key> {
        let hasher = self.hasher?;
        let digest = hasher.finalize();
        let mut k = [0u8; KEY_LEN];
        k[..PREFIX_LEN].copy_from_slice(&self.store.prefix());
        k[PREFIX_LEN..].copy_from_slice(&digest[..KEY_LEN - PREFIX_LEN]);
        Some(Key(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_functions_are_told_from_methods() {
        assert!(nested_in_a_function("app::m::outer::inner", "app::m"));
        assert!(nested_in_a_function("app::outer::{{closure}}::inner", "app"));
        assert!(nested_in_a_function("app::Foo<u8>::method::inner", "app"));
        assert!(!nested_in_a_function("app::m::f", "app::m"));
        assert!(!nested_in_a_function("app::Foo<alloc::vec::Vec<u8>>::method", "app"));
        assert!(!nested_in_a_function("<app::A as app::Tr>::f", "app"));
        assert!(nested_in_a_function("<app::A as app::Tr>::go::inner", "app"));
        assert!(nested_in_a_function("app::mods::m::f", "app::m"), "a module inside a function body");
        assert!(!nested_in_a_function("<app::A<fn(u8) -> u8> as app::Tr>::f", "app"));
        assert!(!nested_in_a_function("app::cmul<3>", "app"));
    }

    #[test]
    fn identity_strips_closures_and_renames_the_companion() {
        assert_eq!(identity("a::f::{{closure}}", None), "a::f");
        assert_eq!(identity("a::af<i16>::{{closure}}::{{closure}}", None), "a::af<i16>");
        assert_eq!(identity("a::f_cache<u8, 3>::{{closure}}", Some(("f_cache", "f"))), "a::f<u8, 3>");
        assert_eq!(identity("<a::A as a::Tr>::m_cache::{{closure}}", Some(("m_cache", "m"))), "<a::A as a::Tr>::m");
        assert_eq!(
            identity("a::Foo<fn(u8) -> u8>::g_cache<alloc::vec::Vec<u8>>::{{closure}}", Some(("g_cache", "g"))),
            "a::Foo<fn(u8) -> u8>::g<alloc::vec::Vec<u8>>"
        );
        // Only a whole segment is renamed.
        assert_eq!(identity("a::xf_cache::{{closure}}", Some(("f_cache", "f"))), "a::xf_cache");
    }
}
