//! Canonical, injective byte encoding of function-call arguments, used to build cache keys.
//!
//! The memoization cache hashes the bytes produced by [`encode`] (with SHA-256) into a key. Two properties matter:
//!
//! * **Canonical**: values that are equal must give the same bytes. Serde hands us `HashMap` and `HashSet` entries
//!   in iteration order, which depends on the hasher's random seed, the capacity and the insertion/removal history.
//!   This encoder therefore sorts the entries of every unordered map (`HashMap`, `BTreeMap`, std's or hashbrown's)
//!   by the encoded bytes of the whole `(key, value)` entry, and the elements of every unordered *set* (`HashSet`,
//!   `BTreeSet`) by their encoded bytes. Nothing else is sorted: the order of a `Vec`, a slice, a tuple, a struct's
//!   fields, an `IndexMap`/`IndexSet` or a user's own map type is part of the value (a function may depend on it).
//! * **Injective**: different values of the same type must give different bytes, otherwise the cache would return
//!   a result computed for another argument. The encoding is self-delimiting and tagged (below), so no two
//!   different values of one type can produce the same byte string.
//!
//! This is why it is not bincode (or any off-the-shelf serde format): those write maps and sets in iteration order,
//! so two equal `HashMap`s can give different bytes and hence needless cache misses.
//!
//! # Encoding
//!
//! Every element of the serde data model writes a one-byte tag (see the private `tag` module) followed by its
//! content. Integers are fixed-width little-endian; lengths and counts are `u64` little-endian; a *name* (type
//! name, variant name, field name) is written like a string's content, i.e. `u64` length then UTF-8 bytes.
//!
//! | serde element       | bytes                                                                    |
//! |---------------------|--------------------------------------------------------------------------|
//! | bool                | `0x01`, `0`/`1`                                                          |
//! | i8 … i128           | `0x02`…`0x06`, little-endian                                             |
//! | u8 … u128           | `0x07`…`0x0B`, little-endian                                             |
//! | f32, f64            | `0x0C`, `0x0D`, `to_bits()` little-endian (so `-0.0 != 0.0`, NaN payloads kept) |
//! | char                | `0x0E`, scalar value as `u32`                                            |
//! | str, bytes          | `0x0F`, `0x10`, length, bytes                                            |
//! | none, some          | `0x11`; `0x12`, value                                                    |
//! | unit                | `0x13`                                                                   |
//! | unit struct         | `0x14`, name                                                             |
//! | unit variant        | `0x15`, enum name, variant index (`u32`), variant name                  |
//! | newtype struct      | `0x16`, name, value                                                      |
//! | newtype variant     | `0x17`, enum name, variant index, variant name, value                    |
//! | seq                 | `0x18`, count, elements in order                                         |
//! | set (seq of a set type) | `0x19`, count, elements sorted by their encoding                     |
//! | tuple               | `0x1A`, count, elements                                                  |
//! | tuple struct        | `0x1B`, name, count, elements                                            |
//! | tuple variant       | `0x1C`, enum name, variant index, variant name, count, elements          |
//! | map                 | `0x1D`, count, entries (key then value) sorted by the entry's encoding   |
//! | struct              | `0x1E`, name, count, (field name, value) pairs                           |
//! | struct variant      | `0x1F`, enum name, variant index, variant name, count, (field name, value) pairs |
//!
//! Counts are always the number of elements actually serialized (the length hint given to `serialize_seq` etc. is
//! ignored, so an unknown length, `None`, works and a wrong hint cannot break the framing): a placeholder is written
//! and patched at the end. Skipped struct fields are not counted.
//!
//! Because every element carries its own type tag, values of *different* types usually differ too (`1u8` and
//! `1u16` differ, `[1u8, 2]` (a tuple in serde) and `vec![1u8, 2]` (a seq) differ), but only injectivity within one
//! type is promised. [`serde::Serializer::is_human_readable`] is `false`.
//!
//! # How sets are recognised, and the limits of it
//!
//! Serde does not tell a set from a list: `HashSet<T>` serializes through `serialize_seq` exactly like `Vec<T>`.
//! Every generic entry point of a serializer, however, knows the static type of the value it is handed
//! (`serialize_element<T>`, `serialize_field<T>`, `serialize_key<T>`, `serialize_value<T>`, `serialize_some<T>`,
//! `serialize_newtype_struct<T>`, `serialize_newtype_variant<T>` and [`encode<T>`] itself). There the encoder looks
//! at [`std::any::type_name`] of `T` and tells the nested serializer "if you are asked for a seq, it is a set".
//!
//! A type name denotes a set when, after stripping leading `&` / `&mut ` and the forwarding wrappers of `std`
//! (`Box`, `Arc`, `Rc`, `Cow`, `RefCell`, `Mutex`, `RwLock`, whose `Serialize` forwards to the inner value), it is a
//! plain path whose last segment before the first `<` is `HashSet` or `BTreeSet`, e.g.
//! `std::collections::hash::set::HashSet<i32>`, `alloc::collections::btree::set::BTreeSet<i32>`,
//! `hashbrown::set::HashSet<…>`. A slice or array of sets (`[HashSet<T>]`) or a tuple is not a set. Maps are
//! recognized the same way (`HashMap`, `BTreeMap`).
//!
//! Limits: a set hidden behind a custom wrapper whose `Serialize` forwards to the set *without* going through a
//! generic entry point (e.g. a newtype with a hand-written `serialize` calling `self.0.serialize(s)`) is not
//! detected and keeps its iteration order. That is a possible cache *miss* for equal values, never a wrong value.
//! Conversely, a user type that happens to be named `HashSet`/`BTreeSet`/`HashMap`/`BTreeMap` and hand-writes an
//! order-carrying serialization would have its elements sorted. `IndexMap`/`IndexSet` keep their insertion order,
//! although their `==` ignores it: a function iterating them may depend on it, and a miss is better than a wrong value.
#![forbid(unsafe_code)]

use std::fmt;
use std::ops::Range;

use serde::ser::{self, Serialize};

/// One-byte tags that start the encoding of each serde data-model element.
mod tag {
    /// `bool`, followed by one byte `0` or `1`.
    pub(super) const BOOL: u8 = 0x01;
    /// `i8`, one byte.
    pub(super) const I8: u8 = 0x02;
    /// `i16`, little-endian.
    pub(super) const I16: u8 = 0x03;
    /// `i32`, little-endian.
    pub(super) const I32: u8 = 0x04;
    /// `i64`, little-endian.
    pub(super) const I64: u8 = 0x05;
    /// `i128`, little-endian.
    pub(super) const I128: u8 = 0x06;
    /// `u8`, one byte.
    pub(super) const U8: u8 = 0x07;
    /// `u16`, little-endian.
    pub(super) const U16: u8 = 0x08;
    /// `u32`, little-endian.
    pub(super) const U32: u8 = 0x09;
    /// `u64`, little-endian.
    pub(super) const U64: u8 = 0x0A;
    /// `u128`, little-endian.
    pub(super) const U128: u8 = 0x0B;
    /// `f32`, bits little-endian.
    pub(super) const F32: u8 = 0x0C;
    /// `f64`, bits little-endian.
    pub(super) const F64: u8 = 0x0D;
    /// `char`, scalar value as `u32` little-endian.
    pub(super) const CHAR: u8 = 0x0E;
    /// String: length then UTF-8 bytes.
    pub(super) const STR: u8 = 0x0F;
    /// Byte string: length then bytes.
    pub(super) const BYTES: u8 = 0x10;
    /// `Option::None`.
    pub(super) const NONE: u8 = 0x11;
    /// `Option::Some`, followed by the value.
    pub(super) const SOME: u8 = 0x12;
    /// `()`.
    pub(super) const UNIT: u8 = 0x13;
    /// Unit struct, followed by its name.
    pub(super) const UNIT_STRUCT: u8 = 0x14;
    /// Unit variant: enum name, variant index, variant name.
    pub(super) const UNIT_VARIANT: u8 = 0x15;
    /// Newtype struct: name, value.
    pub(super) const NEWTYPE_STRUCT: u8 = 0x16;
    /// Newtype variant: enum name, variant index, variant name, value.
    pub(super) const NEWTYPE_VARIANT: u8 = 0x17;
    /// Sequence in its given order: count, elements.
    pub(super) const SEQ: u8 = 0x18;
    /// Sequence of a set type: count, elements sorted by their encoding.
    pub(super) const SET: u8 = 0x19;
    /// Tuple: count, elements.
    pub(super) const TUPLE: u8 = 0x1A;
    /// Tuple struct: name, count, elements.
    pub(super) const TUPLE_STRUCT: u8 = 0x1B;
    /// Tuple variant: enum name, variant index, variant name, count, elements.
    pub(super) const TUPLE_VARIANT: u8 = 0x1C;
    /// Map: count, entries sorted by their encoding.
    pub(super) const MAP: u8 = 0x1D;
    /// Struct: name, count, (field name, value) pairs.
    pub(super) const STRUCT: u8 = 0x1E;
    /// Struct variant: enum name, variant index, variant name, count, (field name, value) pairs.
    pub(super) const STRUCT_VARIANT: u8 = 0x1F;
}

/// Error raised while encoding: a custom error from a `Serialize` impl, or a malformed call sequence
/// (e.g. a map value without its key).
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "canonical encoding failed: {}", self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// Appends the canonical encoding of `value` to `out`.
///
/// # Errors
///
/// Returns an [`Error`] when a `Serialize` impl fails (e.g. a `RefCell` that is mutably borrowed) or misuses the
/// serializer (a map key without its value). On error, `out` is restored to its length before the call.
pub fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let result = value.serialize(Ser::for_type::<T>(out));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Whether `std::any::type_name` output `name` denotes a set type whose
/// equality ignores order (see the module doc).
fn is_set_type_name(name: &str) -> bool {
    matches!(collection_segment(name), Some("HashSet" | "BTreeSet"))
}

/// Whether `std::any::type_name` output `name` denotes a map type whose
/// equality ignores order and whose iteration order carries no meaning.
/// Other maps (`IndexMap`, a JSON object that preserves order, a user's
/// map) keep their order: a function may depend on it.
fn is_unordered_map_type_name(name: &str) -> bool {
    matches!(collection_segment(name), Some("HashMap" | "BTreeMap"))
}

/// The last path segment of the type `name` denotes, after references and
/// forwarding wrappers are stripped; `None` when it is not a plain path.
fn collection_segment(name: &str) -> Option<&str> {
    let mut name = name;
    loop {
        if let Some(rest) = name.strip_prefix("&mut ") {
            name = rest;
        } else if let Some(rest) = name.strip_prefix('&') {
            name = rest;
        } else if let Some((head, rest)) = name.split_once('<') {
            if !is_forwarding_wrapper(head) {
                break;
            }
            name = rest;
        } else {
            break;
        }
        // Lifetime arguments (`Cow<'_, T>`, possibly `&'a T`) precede the type.
        if name.starts_with('\'') {
            name = match name.find([',', ' ']) {
                Some(i) => name.get(i + 1..).unwrap_or("").trim_start(),
                None => return None,
            };
        }
    }
    let head = name.split('<').next().unwrap_or("");
    if head.is_empty() || !head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return None;
    }
    Some(last_segment(head))
}

/// The last `::`-separated segment of a path.
fn last_segment(path: &str) -> &str {
    path.rsplit("::").next().unwrap_or(path)
}

/// Whether the path `head` (a type name before its `<`) is a standard wrapper whose `Serialize` forwards to the
/// wrapped value with the same serializer.
fn is_forwarding_wrapper(head: &str) -> bool {
    let from_std = ["alloc::", "core::", "std::"].iter().any(|p| head.starts_with(p));
    from_std
        && head.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        && matches!(last_segment(head), "Box" | "Arc" | "Rc" | "Cow" | "RefCell" | "Mutex" | "RwLock")
}

/// Appends `n` as a `u64` little-endian.
fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

/// Appends a length-prefixed byte string (length as `u64` little-endian).
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, u64::try_from(bytes.len()).unwrap_or(u64::MAX));
    out.extend_from_slice(bytes);
}

/// Appends the header shared by all enum variants: enum name, variant index, variant name.
fn put_variant(out: &mut Vec<u8>, name: &str, index: u32, variant: &str) {
    put_bytes(out, name.as_bytes());
    out.extend_from_slice(&index.to_le_bytes());
    put_bytes(out, variant.as_bytes());
}

/// Writes a `u64` count placeholder and returns its position, to be filled by [`patch_count`].
fn count_placeholder(out: &mut Vec<u8>) -> usize {
    let pos = out.len();
    put_u64(out, 0);
    pos
}

/// Overwrites the placeholder at `pos` (from [`count_placeholder`]) with `count`.
fn patch_count(out: &mut [u8], pos: usize, count: u64) {
    if let Some(slot) = out.get_mut(pos..pos.saturating_add(8))
        && slot.len() == 8
    {
        slot.copy_from_slice(&count.to_le_bytes());
    }
}

/// The serializer: appends to `out`; `set` says that a `serialize_seq` on it is a set (from the static type).
struct Ser<'a> {
    /// Where the encoding goes.
    out: &'a mut Vec<u8>,
    /// Whether the value being serialized has a set type, so its sequence must be sorted.
    set: bool,
    /// Whether the value being serialized has an unordered map type, so its entries must be sorted.
    map: bool,
}

impl<'a> Ser<'a> {
    /// A serializer for a value of static type `T`, appending to `out`.
    fn for_type<T: ?Sized>(out: &'a mut Vec<u8>) -> Self {
        let name = std::any::type_name::<T>();
        Ser { out, set: is_set_type_name(name), map: is_unordered_map_type_name(name) }
    }

    /// Writes `tag`, then `fixed` bytes.
    fn put(self, tag: u8, fixed: &[u8]) -> Result<(), Error> {
        self.out.push(tag);
        self.out.extend_from_slice(fixed);
        Ok(())
    }
}

/// Elements collected into one buffer to be emitted sorted by their encodings.
#[derive(Default)]
struct Sorter {
    /// Encodings of all items, back to back.
    buf: Vec<u8>,
    /// Byte range of each complete item in `buf`.
    items: Vec<Range<usize>>,
    /// Start in `buf` of a map entry whose key has been written but not yet its value.
    pending_key: Option<usize>,
}

impl Sorter {
    /// Encodes `prefix` (if any) then `value` as one item.
    fn item<T: Serialize + ?Sized>(&mut self, prefix: Option<&[u8]>, value: &T) -> Result<(), Error> {
        if self.pending_key.is_some() {
            return Err(Error("sequence element while a map key awaits its value".into()));
        }
        let start = self.buf.len();
        if let Some(p) = prefix {
            put_bytes(&mut self.buf, p);
        }
        value.serialize(Ser::for_type::<T>(&mut self.buf))?;
        self.items.push(start..self.buf.len());
        Ok(())
    }

    /// Encodes a map key, opening an entry.
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        if self.pending_key.is_some() {
            return Err(Error("map key serialized twice without a value".into()));
        }
        self.pending_key = Some(self.buf.len());
        key.serialize(Ser::for_type::<T>(&mut self.buf))
    }

    /// Encodes a map value, closing the entry opened by [`Sorter::key`].
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let Some(start) = self.pending_key.take() else {
            return Err(Error("map value serialized without a key".into()));
        };
        value.serialize(Ser::for_type::<T>(&mut self.buf))?;
        self.items.push(start..self.buf.len());
        Ok(())
    }

    /// Sorts the items (when `sort`), patches the count at `count_pos` in `out` and appends the items to `out`.
    fn finish(mut self, out: &mut Vec<u8>, count_pos: usize, sort: bool) -> Result<(), Error> {
        if self.pending_key.is_some() {
            return Err(Error("map key without a value".into()));
        }
        let buf = &self.buf;
        if sort {
            self.items.sort_unstable_by(|a, b| buf.get(a.clone()).cmp(&buf.get(b.clone())));
        }
        patch_count(out, count_pos, u64::try_from(self.items.len()).unwrap_or(u64::MAX));
        out.reserve(buf.len());
        for range in &self.items {
            out.extend_from_slice(buf.get(range.clone()).unwrap_or(&[]));
        }
        Ok(())
    }
}

/// Serializer state for sequences, tuples, structs and variants: elements in order, or sorted for sets.
struct Compound<'a> {
    /// Output buffer (the header and count placeholder are already in it).
    out: &'a mut Vec<u8>,
    /// Position of the count placeholder in `out`.
    count_pos: usize,
    /// Number of elements written so far (unsorted case).
    count: u64,
    /// Present for a set: elements are collected and sorted at the end.
    sorter: Option<Sorter>,
}

impl<'a> Compound<'a> {
    /// Starts a compound after its header: writes the count placeholder.
    fn new(out: &'a mut Vec<u8>, sorted: bool) -> Self {
        let count_pos = count_placeholder(out);
        Compound { out, count_pos, count: 0, sorter: sorted.then(Sorter::default) }
    }

    /// Writes one element, preceded by a field name for structs.
    fn element<T: Serialize + ?Sized>(&mut self, field: Option<&str>, value: &T) -> Result<(), Error> {
        match &mut self.sorter {
            Some(sorter) => sorter.item(field.map(str::as_bytes), value),
            None => {
                if let Some(name) = field {
                    put_bytes(self.out, name.as_bytes());
                }
                value.serialize(Ser::for_type::<T>(self.out))?;
                self.count = self.count.saturating_add(1);
                Ok(())
            }
        }
    }

    /// Completes the compound: patches the count (and emits sorted elements).
    fn finish(self) -> Result<(), Error> {
        match self.sorter {
            Some(sorter) => sorter.finish(self.out, self.count_pos, true),
            None => {
                patch_count(self.out, self.count_pos, self.count);
                Ok(())
            }
        }
    }
}

/// Serializer state for maps: entries collected and sorted by their encodings.
struct MapCompound<'a> {
    /// Output buffer (the tag and count placeholder are already in it).
    out: &'a mut Vec<u8>,
    /// Position of the count placeholder in `out`.
    count_pos: usize,
    /// Collected entries.
    sorter: Sorter,
    /// Whether the entries are emitted sorted (an unordered map type).
    sorted: bool,
}

impl<'a> ser::Serializer for Ser<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = MapCompound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.put(tag::BOOL, &[u8::from(v)])
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.put(tag::I8, &v.to_le_bytes())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.put(tag::I16, &v.to_le_bytes())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.put(tag::I32, &v.to_le_bytes())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.put(tag::I64, &v.to_le_bytes())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.put(tag::I128, &v.to_le_bytes())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.put(tag::U8, &[v])
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.put(tag::U16, &v.to_le_bytes())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.put(tag::U32, &v.to_le_bytes())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.put(tag::U64, &v.to_le_bytes())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.put(tag::U128, &v.to_le_bytes())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.put(tag::F32, &v.to_bits().to_le_bytes())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.put(tag::F64, &v.to_bits().to_le_bytes())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.put(tag::CHAR, &u32::from(v).to_le_bytes())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.out.push(tag::STR);
        put_bytes(self.out, v.as_bytes());
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.out.push(tag::BYTES);
        put_bytes(self.out, v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.put(tag::NONE, &[])
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.out.push(tag::SOME);
        value.serialize(Ser::for_type::<T>(self.out))
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.put(tag::UNIT, &[])
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<(), Error> {
        self.out.push(tag::UNIT_STRUCT);
        put_bytes(self.out, name.as_bytes());
        Ok(())
    }
    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Result<(), Error> {
        self.out.push(tag::UNIT_VARIANT);
        put_variant(self.out, name, index, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), Error> {
        self.out.push(tag::NEWTYPE_STRUCT);
        put_bytes(self.out, name.as_bytes());
        value.serialize(Ser::for_type::<T>(self.out))
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.out.push(tag::NEWTYPE_VARIANT);
        put_variant(self.out, name, index, variant);
        value.serialize(Ser::for_type::<T>(self.out))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Error> {
        self.out.push(if self.set { tag::SET } else { tag::SEQ });
        Ok(Compound::new(self.out, self.set))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Compound<'a>, Error> {
        self.out.push(tag::TUPLE);
        Ok(Compound::new(self.out, false))
    }
    fn serialize_tuple_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        self.out.push(tag::TUPLE_STRUCT);
        put_bytes(self.out, name.as_bytes());
        Ok(Compound::new(self.out, false))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.out.push(tag::TUPLE_VARIANT);
        put_variant(self.out, name, index, variant);
        Ok(Compound::new(self.out, false))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapCompound<'a>, Error> {
        self.out.push(tag::MAP);
        let count_pos = count_placeholder(self.out);
        Ok(MapCompound { out: self.out, count_pos, sorter: Sorter::default(), sorted: self.map })
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a>, Error> {
        self.out.push(tag::STRUCT);
        put_bytes(self.out, name.as_bytes());
        Ok(Compound::new(self.out, false))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.out.push(tag::STRUCT_VARIANT);
        put_variant(self.out, name, index, variant);
        Ok(Compound::new(self.out, false))
    }
    fn is_human_readable(&self) -> bool {
        false
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(None, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(None, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(None, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(None, value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.element(Some(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.element(Some(key), value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeMap for MapCompound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.sorter.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.sorter.value(value)
    }
    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), Error> {
        self.sorter.key(key)?;
        self.sorter.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.sorter.finish(self.out, self.count_pos, self.sorted)
    }
}

/// Whether `decoded` is the same value as `original`, judged by their
/// canonical encodings (injective: different values give different bytes).
/// Used to check that a value reads back as written: a type whose
/// `Serialize` leaves out bytes its `Deserialize` then reads from the next
/// field (`#[serde(skip_serializing_if)]` under bincode) reads back as
/// another value, even when that value happens to re-encode to the same
/// bincode bytes.
pub(crate) fn same_value<T: Serialize + ?Sized, U: Serialize + ?Sized>(original: &T, decoded: &U) -> bool {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    encode(original, &mut a).is_ok() && encode(decoded, &mut b).is_ok() && a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde::ser::{SerializeMap, SerializeSeq, Serializer};
    use std::borrow::Cow;
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
    use std::rc::Rc;
    use std::sync::{Arc, Mutex};

    /// Encodes `v` into a fresh buffer, panicking (in tests only) on error.
    fn enc<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out).expect("encode");
        out
    }

    /// A set of `0..n` built in ascending order with default capacity.
    fn set_up(n: u32) -> HashSet<u32> {
        (0..n).collect()
    }

    /// A set of `0..n` built in descending order, with a large capacity and after inserting/removing extras.
    fn set_down(n: u32) -> HashSet<u32> {
        let mut s = HashSet::with_capacity(1024);
        for i in (0..n + 50).rev() {
            s.insert(i);
        }
        for i in n..n + 50 {
            s.remove(&i);
        }
        s
    }

    /// Two equal sets whose iteration orders differ (tries fresh random states until they do).
    fn two_orders(n: u32) -> (HashSet<u32>, HashSet<u32>) {
        for _ in 0..100 {
            let (a, b) = (set_up(n), set_down(n));
            if a.iter().ne(b.iter()) {
                return (a, b);
            }
        }
        panic!("could not get two iteration orders");
    }

    /// Same as [`two_orders`] for maps `i -> i.to_string()`.
    fn two_map_orders(n: u32) -> (HashMap<u32, String>, HashMap<u32, String>) {
        for _ in 0..100 {
            let a: HashMap<u32, String> = (0..n).map(|i| (i, i.to_string())).collect();
            let mut b = HashMap::with_capacity(2048);
            for i in (0..n + 30).rev() {
                b.insert(i, i.to_string());
            }
            for i in n..n + 30 {
                b.remove(&i);
            }
            if a.iter().ne(b.iter()) {
                assert_eq!(a, b);
                return (a, b);
            }
        }
        panic!("could not get two iteration orders");
    }

    #[test]
    fn observed_type_names_are_detected() {
        let names = [
            std::any::type_name::<HashSet<i32>>(),
            std::any::type_name::<BTreeSet<i32>>(),
            std::any::type_name::<Box<HashSet<i32>>>(),
            std::any::type_name::<&HashSet<i32>>(),
            std::any::type_name::<&mut &HashSet<i32>>(),
            std::any::type_name::<Arc<BTreeSet<String>>>(),
            std::any::type_name::<Rc<HashSet<i32>>>(),
            std::any::type_name::<Cow<'static, HashSet<i32>>>(),
            std::any::type_name::<RefCell<HashSet<i32>>>(),
            std::any::type_name::<Mutex<HashSet<i32>>>(),
            std::any::type_name::<Box<Arc<HashSet<HashSet<u8>>>>>(),
        ];
        for n in names {
            tracing::debug!("type_name: {n}");
            assert!(is_set_type_name(n), "{n}");
        }
        for n in [
            "hashbrown::set::HashSet<i32, foldhash::fast::RandomState>",
            "std::collections::hash::set::HashSet<i32, std::hash::random::RandomState>",
            "alloc::borrow::Cow<'a, hashbrown::set::HashSet<u8>>",
        ] {
            assert!(is_set_type_name(n), "{n}");
        }
        let not_sets = [
            std::any::type_name::<Vec<HashSet<i32>>>(),
            std::any::type_name::<[HashSet<i32>]>(),
            std::any::type_name::<&[HashSet<i32>]>(),
            std::any::type_name::<[HashSet<i32>; 2]>(),
            std::any::type_name::<(HashSet<i32>, u8)>(),
            std::any::type_name::<Option<HashSet<i32>>>(),
            std::any::type_name::<HashMap<HashSet<i32>, u8>>(),
            std::any::type_name::<Box<Vec<HashSet<i32>>>>(),
            std::any::type_name::<str>(),
            std::any::type_name::<dyn std::fmt::Debug>(),
            "",
            "&",
            "alloc::boxed::Box<",
            "mycrate::Box<std::collections::hash::set::HashSet<i32>>",
            "alloc::borrow::Cow<'_",
            // Order-preserving collections keep their order: a function may depend on it.
            "indexmap::set::IndexSet<alloc::string::String>",
            "&indexmap::set::IndexSet<u8, std::hash::random::RandomState>",
        ];
        for n in not_sets {
            assert!(!is_set_type_name(n), "{n}");
        }
    }

    #[test]
    fn hashmaps_in_different_orders_encode_equal() {
        let (a, b) = two_map_orders(200);
        assert_eq!(enc(&a), enc(&b));
        // Also a map with string keys and removals.
        let mut c: HashMap<String, u8> = HashMap::new();
        let mut d: HashMap<String, u8> = HashMap::with_capacity(500);
        for i in 0..40u8 {
            c.insert(format!("k{i}"), i);
            d.insert(format!("k{}", 39 - i), 39 - i);
            d.insert(format!("x{i}"), i);
        }
        for i in 0..40u8 {
            d.remove(&format!("x{i}"));
        }
        assert_eq!(c, d);
        assert_eq!(enc(&c), enc(&d));
        // A BTreeMap with the same entries as a HashMap encodes the same way (both are maps).
        let bt: BTreeMap<u32, String> = a.clone().into_iter().collect();
        assert_eq!(enc(&bt), enc(&a));
    }

    #[test]
    fn hashsets_in_different_orders_encode_equal() {
        let (a, b) = two_orders(300);
        assert_eq!(enc(&a), enc(&b));
        let bt: BTreeSet<u32> = a.iter().copied().collect();
        assert_eq!(enc(&bt), enc(&a));
        // The sorted output differs from the iteration-order sequence encoding.
        let as_vec: Vec<u32> = a.iter().copied().collect();
        assert_ne!(enc(&as_vec)[1..], enc(&a)[1..]);
    }

    #[test]
    fn wrapped_and_nested_sets_encode_equal() {
        let (a, b) = two_orders(64);
        assert_eq!(enc(&Some(a.clone())), enc(&Some(b.clone())));
        assert_eq!(enc(&Box::new(a.clone())), enc(&Box::new(b.clone())));
        assert_eq!(enc(&&a), enc(&&b));
        assert_eq!(enc::<&HashSet<u32>>(&&a), enc::<&HashSet<u32>>(&&b));
        // (Arc/Rc need serde's `rc` feature; their detection is checked on type names above.)
        assert_eq!(enc(&Cow::Borrowed(&a)), enc(&Cow::<HashSet<u32>>::Owned(b.clone())));
        assert_eq!(enc(&RefCell::new(a.clone())), enc(&RefCell::new(b.clone())));
        assert_eq!(enc(&Mutex::new(a.clone())), enc(&Mutex::new(b.clone())));
        assert_eq!(enc(&(1u8, a.clone(), "x")), enc(&(1u8, b.clone(), "x")));
        // Wrappers are transparent: a boxed set encodes like the set.
        assert_eq!(enc(&Box::new(a.clone())), enc(&b));

        // Vec<HashMap<String, HashSet<u32>>>
        let mk = |s: &HashSet<u32>, rev: bool| {
            let mut m = HashMap::new();
            let keys: Vec<u32> = if rev { (0..20).rev().collect() } else { (0..20).collect() };
            for k in keys {
                m.insert(format!("key{k}"), s.iter().map(|x| x + k).collect::<HashSet<u32>>());
            }
            vec![m.clone(), HashMap::new(), m]
        };
        assert_eq!(enc(&mk(&a, false)), enc(&mk(&b, true)));

        // Sets of sets and maps keyed by sets.
        let ss_a: Vec<HashSet<u32>> = (0..10).map(|i| a.iter().map(|x| x * i).collect()).collect();
        let mut ss_b = ss_a.clone();
        ss_b.reverse();
        let set_a: HashSet<BTreeSet<u32>> = ss_a.iter().map(|s| s.iter().copied().collect()).collect();
        let set_b: HashSet<BTreeSet<u32>> = ss_b.iter().map(|s| s.iter().copied().collect()).collect();
        assert_eq!(enc(&set_a), enc(&set_b));
        let map_a: HashMap<u32, Option<Box<HashSet<u32>>>> = (0..30).map(|i| (i, Some(Box::new(a.clone())))).collect();
        let map_b: HashMap<u32, Option<Box<HashSet<u32>>>> =
            (0..30).rev().map(|i| (i, Some(Box::new(b.clone())))).collect();
        assert_eq!(enc(&map_a), enc(&map_b));
    }

    /// A struct with a map and a set field.
    #[derive(Serialize)]
    struct WithMap {
        /// A map field.
        m: HashMap<u32, String>,
        /// A set field.
        s: HashSet<u32>,
        /// A plain field.
        n: i64,
    }

    /// An enum holding sets in several variant shapes.
    #[derive(Serialize)]
    enum HoldsSet {
        /// Newtype variant.
        New(HashSet<u32>),
        /// Tuple variant.
        Tup(u8, HashSet<u32>),
        /// Struct variant.
        Str {
            /// A set field.
            s: HashSet<u32>,
        },
    }

    /// A newtype struct and a tuple struct around a set.
    #[derive(Serialize)]
    struct NewSet(HashSet<u32>);

    #[test]
    fn structs_enums_tuples_with_sets_encode_equal() {
        let (a, b) = two_orders(64);
        let (ma, mb) = two_map_orders(64);
        let wa = WithMap { m: ma, s: a.clone(), n: -3 };
        let wb = WithMap { m: mb, s: b.clone(), n: -3 };
        assert_eq!(enc(&wa), enc(&wb));
        assert_eq!(enc(&HoldsSet::New(a.clone())), enc(&HoldsSet::New(b.clone())));
        assert_eq!(enc(&HoldsSet::Tup(7, a.clone())), enc(&HoldsSet::Tup(7, b.clone())));
        assert_eq!(enc(&HoldsSet::Str { s: a.clone() }), enc(&HoldsSet::Str { s: b.clone() }));
        assert_eq!(enc(&NewSet(a.clone())), enc(&NewSet(b.clone())));
        assert_eq!(enc(&(a.clone(), 1u8)), enc(&(b.clone(), 1u8)));
        assert_ne!(enc(&HoldsSet::New(a.clone())), enc(&HoldsSet::Str { s: a.clone() }));
        assert_ne!(enc(&HoldsSet::Tup(7, a.clone())), enc(&HoldsSet::Tup(8, a)));
    }

    #[test]
    fn order_of_sequences_matters() {
        assert_ne!(enc(&vec![1, 2]), enc(&vec![2, 1]));
        assert_ne!(enc(&[1, 2][..]), enc(&[2, 1][..]));
        assert_ne!(enc(&(1, 2)), enc(&(2, 1)));
        // A Vec / slice of sets is a sequence: its order matters, the inner sets are canonical.
        let s1: HashSet<u32> = [1].into_iter().collect();
        let s2: HashSet<u32> = [2, 3].into_iter().collect();
        assert_ne!(enc(&vec![s1.clone(), s2.clone()]), enc(&vec![s2.clone(), s1.clone()]));
        let fwd = [s1.clone(), s2.clone()];
        let bwd = [s2.clone(), s1.clone()];
        assert_ne!(enc(&fwd[..]), enc(&bwd[..]));
        assert_ne!(enc(&fwd), enc(&bwd));
        assert_ne!(enc(&Box::new(vec![s1.clone(), s2.clone()])), enc(&Box::new(vec![s2, s1])));
    }

    /// A unit-variant enum.
    #[derive(Serialize)]
    enum EnumA {
        /// Index 0.
        X,
    }

    /// Another unit-variant enum with the same variant index.
    #[derive(Serialize)]
    enum EnumB {
        /// Index 0.
        Y,
    }

    /// Same shape as [`EnumA`] but another enum name.
    #[derive(Serialize)]
    enum EnumC {
        /// Index 0, same variant name as [`EnumA::X`].
        X,
    }

    /// Two structs differing only by name.
    #[derive(Serialize)]
    struct P {
        /// A field.
        a: u8,
    }

    /// See [`P`].
    #[derive(Serialize)]
    struct Q {
        /// A field.
        a: u8,
    }

    /// Same as [`P`] but another field name.
    #[derive(Serialize)]
    struct R {
        /// A field.
        b: u8,
    }

    #[test]
    fn distinct_values_encode_distinct() {
        assert_ne!(enc(&("ab", "c")), enc(&("a", "bc")));
        assert_ne!(enc(&vec!["ab", "c"]), enc(&vec!["a", "bc"]));
        assert_ne!(enc(&vec![String::new()]), enc(&Vec::<String>::new()));
        let (some, none, unit) = (enc(&Some(())), enc(&None::<()>), enc(&()));
        assert_ne!(some, none);
        assert_ne!(some, unit);
        assert_ne!(none, unit);
        assert_ne!(enc(&Some(None::<u8>)), enc(&None::<Option<u8>>));
        assert_ne!(enc(&0.0f64), enc(&-0.0f64));
        assert_ne!(enc(&0.0f32), enc(&-0.0f32));
        assert_eq!(enc(&f64::NAN), enc(&f64::NAN));
        // Documented: the tag differs per integer width, so 1u8 and 1u16 encode differently.
        assert_ne!(enc(&1u8), enc(&1u16));
        assert_ne!(enc(&1i32), enc(&1u32));
        // Unit variants with the same index differ by variant name and by enum name.
        assert_ne!(enc(&EnumA::X), enc(&EnumB::Y));
        assert_ne!(enc(&EnumA::X), enc(&EnumC::X));
        assert_ne!(enc(&P { a: 1 }), enc(&Q { a: 1 }));
        assert_ne!(enc(&P { a: 1 }), enc(&R { b: 1 }));
        // Documented: an array is a serde tuple, a Vec a seq, so they differ; a slice encodes like a Vec.
        assert_ne!(enc(&[1u8, 2]), enc(&vec![1u8, 2]));
        assert_eq!(enc(&[1u8, 2][..]), enc(&vec![1u8, 2]));
        // str vs bytes, newtype vs inner, unit struct vs unit.
        assert_ne!(enc("ab"), enc(&Bytes(b"ab")));
        assert_ne!(enc(&NewSet(HashSet::new())), enc(&HashSet::<u32>::new()));
        assert_ne!(enc(&'a'), enc(&97u32));
        assert_eq!(enc(&u128::MAX)[1..], [0xff; 16]);
        assert_eq!(enc(&i128::MIN).len(), 17);
    }

    /// A byte string that serializes with `serialize_bytes`.
    struct Bytes<'a>(&'a [u8]);

    impl Serialize for Bytes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    #[test]
    fn exact_bytes_of_small_values() {
        assert_eq!(enc(&true), [tag::BOOL, 1]);
        assert_eq!(enc(&258u16), [tag::U16, 2, 1]);
        let mut expect = vec![tag::STR, 2, 0, 0, 0, 0, 0, 0, 0, b'h', b'i'];
        assert_eq!(enc("hi"), expect);
        // A set of {2, 1}: tag, count 2, then U32 1 and U32 2 (sorted by encoding).
        let s: HashSet<u32> = [2, 1].into_iter().collect();
        expect = vec![tag::SET, 2, 0, 0, 0, 0, 0, 0, 0, tag::U32, 1, 0, 0, 0, tag::U32, 2, 0, 0, 0];
        assert_eq!(enc(&s), expect);
        // encode appends.
        let mut out = vec![0xAA];
        encode(&true, &mut out).unwrap();
        assert_eq!(out, [0xAA, tag::BOOL, 1]);
    }

    /// A set hidden behind a hand-written forwarding Serialize: not detected (documented limit).
    struct Opaque(HashSet<u32>);

    impl Serialize for Opaque {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.serialize(s)
        }
    }

    #[test]
    fn opaque_wrapper_keeps_iteration_order() {
        let (a, _) = two_orders(50);
        let in_order: Vec<u32> = a.iter().copied().collect();
        assert_eq!(enc(&Opaque(a)), enc(&in_order));
    }

    /// A sequence and a map serialized with unknown and with wrong length hints.
    struct Hinted {
        /// The length hint passed to `serialize_seq`/`serialize_map`.
        hint: Option<usize>,
        /// Whether to serialize a map (else a seq).
        map: bool,
    }

    impl Serialize for Hinted {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.map {
                let mut m = s.serialize_map(self.hint)?;
                m.serialize_entry("b", &2u8)?;
                m.serialize_key("a")?;
                m.serialize_value(&1u8)?;
                m.end()
            } else {
                let mut q = s.serialize_seq(self.hint)?;
                q.serialize_element(&1u8)?;
                q.serialize_element(&2u8)?;
                q.end()
            }
        }
    }

    #[test]
    fn unknown_or_wrong_lengths() {
        let v = enc(&vec![1u8, 2]);
        for hint in [None, Some(2), Some(0), Some(99)] {
            assert_eq!(enc(&Hinted { hint, map: false }), v);
        }
        // A user's map type keeps its order (b, a); the hint changes nothing.
        let m = enc(&Hinted { hint: None, map: true });
        for hint in [Some(2), Some(7)] {
            assert_eq!(enc(&Hinted { hint, map: true }), m);
        }
        let sorted: BTreeMap<&str, u8> = [("a", 1), ("b", 2)].into_iter().collect();
        assert_ne!(enc(&sorted), m);
        let reordered: BTreeMap<&str, u8> = [("b", 2), ("a", 1)].into_iter().collect();
        assert_eq!(enc(&sorted), enc(&reordered));
    }

    /// A value whose Serialize fails, or misuses the map protocol.
    enum Bad {
        /// Returns a custom error.
        Custom,
        /// Two keys without a value.
        KeyKey,
        /// A value without a key.
        ValueOnly,
        /// A key without a value at the end.
        KeyEnd,
    }

    impl Serialize for Bad {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            match self {
                Bad::Custom => Err(serde::ser::Error::custom("nope")),
                Bad::KeyKey => {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_key(&1u8)?;
                    m.serialize_key(&2u8)?;
                    m.end()
                }
                Bad::ValueOnly => {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_value(&1u8)?;
                    m.end()
                }
                Bad::KeyEnd => {
                    let mut m = s.serialize_map(None)?;
                    m.serialize_key(&1u8)?;
                    m.end()
                }
            }
        }
    }

    #[test]
    fn errors_are_returned_not_panicked() {
        for bad in [Bad::Custom, Bad::KeyKey, Bad::ValueOnly, Bad::KeyEnd] {
            let mut out = vec![7u8];
            let err = encode(&bad, &mut out).unwrap_err();
            assert!(!err.to_string().is_empty());
            assert_eq!(out, [7u8], "output restored on error");
            // Nested deep inside sets/maps/structs.
            let mut nested: HashMap<u8, Vec<Option<Bad>>> = HashMap::new();
            nested.insert(1, vec![None, Some(bad)]);
            assert!(encode(&(1u8, nested), &mut out).is_err());
            assert_eq!(out, [7u8]);
        }
        let e = encode(&Bad::Custom, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("nope"));
        let _: &dyn std::error::Error = &e;
        // A RefCell that is mutably borrowed makes serde's impl fail: still an Err.
        let cell = RefCell::new(1u8);
        let _guard = cell.borrow_mut();
        assert!(encode(&cell, &mut Vec::new()).is_err());
    }

    /// Rebuilds a map inserting its entries in reverse key order into a larger table.
    fn rebuilt(m: &HashMap<String, Vec<u8>>) -> HashMap<String, Vec<u8>> {
        let mut keys: Vec<&String> = m.keys().collect();
        keys.sort();
        keys.reverse();
        let mut r = HashMap::with_capacity(m.len() * 4 + 8);
        for k in keys {
            r.insert(k.clone(), m[k].clone());
        }
        r
    }

    /// Small-alphabet maps so that equal pairs actually occur.
    fn small_map() -> impl Strategy<Value = HashMap<String, Vec<u8>>> {
        proptest::collection::hash_map("[ab]{0,2}", proptest::collection::vec(0u8..3, 0..3), 0..4)
    }

    /// Small-alphabet vectors so that equal pairs actually occur.
    fn small_vec() -> impl Strategy<Value = Vec<(u16, String)>> {
        proptest::collection::vec((0u16..3, "[ab]{0,2}"), 0..4)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn prop_hashmap_eq_iff_bytes_eq(a in small_map(), b in small_map()) {
            prop_assert_eq!(a == b, enc(&a) == enc(&b));
            let r = rebuilt(&a);
            prop_assert_eq!(enc(&a), enc(&r));
            prop_assert_eq!(b == r, enc(&b) == enc(&r));
        }

        #[test]
        fn prop_hashmap_large(a in proptest::collection::hash_map(".{0,8}", proptest::collection::vec(any::<u8>(), 0..8), 0..40),
                              b in proptest::collection::hash_map(".{0,8}", proptest::collection::vec(any::<u8>(), 0..8), 0..40)) {
            prop_assert_eq!(a == b, enc(&a) == enc(&b));
            prop_assert_eq!(enc(&a), enc(&rebuilt(&a)));
        }

        #[test]
        fn prop_vec_eq_iff_bytes_eq(a in small_vec(), b in small_vec()) {
            prop_assert_eq!(a == b, enc(&a) == enc(&b));
            let mut rev = a.clone();
            rev.reverse();
            prop_assert_eq!(a == rev, enc(&a) == enc(&rev));
        }

        #[test]
        fn prop_set_of_vecs_eq_iff_bytes_eq(a in proptest::collection::hash_set(small_vec(), 0..5),
                                            b in proptest::collection::hash_set(small_vec(), 0..5)) {
            prop_assert_eq!(a == b, enc(&a) == enc(&b));
        }
    }
}
