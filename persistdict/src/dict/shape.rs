//! Tracing a type's serde shape: a deserializer that builds values of the
//! type from defaults and records, along the way, every container (struct,
//! tuple struct, newtype, enum), its field names and order, its variants'
//! names and indexes, and every primitive. It runs the type's `Deserialize`
//! as many times as it takes to visit every variant of every enum it meets,
//! however deep (inside an `Option`, a `Vec`, a map, another enum).
//!
//! Why not `serde-reflection` alone: it stops exploring an `Option`, a
//! sequence or a map once their format is known, so an enum nested inside
//! one is traced by its first variant only (its other variants could change
//! unseen), and a recursive enum whose first variant recurses overflows the
//! stack. Here an `Option`, a sequence or a map is entered on every run,
//! except where the same site is already being traced (recursion), and an
//! enum met again while one of its variants is on the stack picks another
//! variant (one already known to terminate when there is one).
//!
//! Tracing fails (`None`) for types that need `deserialize_any`
//! (`serde_json::Value`, untagged enums, internally tagged enums), that
//! reject the default values (a `NonZeroU32` accepts them: integers are 1),
//! or that are deeper than [`MAX_DEPTH`].

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// Deepest nesting traced before giving up.
const MAX_DEPTH: usize = 128;
/// Most runs of the type's `Deserialize` before giving up.
const MAX_RUNS: usize = 1 << 16;

/// The format of a value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum F {
    /// Not seen yet (an `Option` that was never entered).
    Unknown,
    Prim(&'static str),
    Option(Box<F>),
    Seq(Box<F>),
    Map(Box<F>, Box<F>),
    Tuple(Vec<F>),
    /// A container, by its key (serde name and Rust type, see `key`).
    Name(String),
    /// An `Option`, sequence or map not entered in a run because one built
    /// by the same visitor type (named here) was entered already: its
    /// element type is traced there. Known, unlike `Unknown`.
    Rec(String),
    /// A value of a Rust type (short name) whose serde form follows: a
    /// transparent newtype or a `from`/`into` proxy leaves no container
    /// behind, so the field's type name is what tells it apart.
    Typed(String, Box<F>),
}

/// The body of a container or of an enum variant.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Unit,
    Newtype(F),
    Tuple(Vec<F>),
    Struct(Vec<(&'static str, F)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Container {
    Plain(Body),
    Enum { names: Vec<&'static str>, variants: BTreeMap<u32, Body> },
}

fn merge_f(a: &mut F, b: F) -> Result<(), ()> {
    match (a, b) {
        (_, F::Unknown) | (_, F::Rec(_)) => Ok(()),
        (a @ (F::Unknown | F::Rec(_)), b) => {
            *a = b;
            Ok(())
        }
        (F::Option(x), F::Option(y)) | (F::Seq(x), F::Seq(y)) => merge_f(x, *y),
        (F::Typed(n, x), F::Typed(m, y)) if *n == m => merge_f(x, *y),
        (F::Map(k, v), F::Map(k2, v2)) => merge_f(k, *k2).and_then(|()| merge_f(v, *v2)),
        (F::Tuple(xs), F::Tuple(ys)) if xs.len() == ys.len() => {
            xs.iter_mut().zip(ys).try_for_each(|(x, y)| merge_f(x, y))
        }
        (a, b) if *a == b => Ok(()),
        _ => Err(()),
    }
}

fn merge_body(a: &mut Body, b: Body) -> Result<(), ()> {
    match (a, b) {
        (Body::Unit, Body::Unit) => Ok(()),
        (Body::Newtype(x), Body::Newtype(y)) => merge_f(x, y),
        (Body::Tuple(xs), Body::Tuple(ys)) if xs.len() == ys.len() => {
            xs.iter_mut().zip(ys).try_for_each(|(x, y)| merge_f(x, y))
        }
        (Body::Struct(xs), Body::Struct(ys)) if xs.len() == ys.len() => {
            xs.iter_mut().zip(ys).try_for_each(|((n, x), (m, y))| if *n == m { merge_f(x, y) } else { Err(()) })
        }
        _ => Err(()),
    }
}

/// The key of a container: its serde name and the (short) type name of the
/// visitor building it, which names the Rust type with its generic
/// arguments: `Page<Item>` and `Page<Page<Item>>` are two containers.
fn key<V>(name: &str) -> String {
    format!("{name}@{}", short_type_name(std::any::type_name::<V>()))
}

/// `type_name` without module paths (`alloc::vec::Vec<app::Item>` ->
/// `Vec<Item>`).
pub(crate) fn short_type_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut segment = String::new();
    let flush = |segment: &mut String, out: &mut String| {
        out.push_str(segment.rsplit("::").next().unwrap_or(segment));
        segment.clear();
    };
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            flush(&mut segment, &mut out);
            out.push(c);
        }
    }
    flush(&mut segment, &mut out);
    out
}

#[derive(Default)]
struct Tracer {
    containers: BTreeMap<String, Container>,
    /// Variants of each enum visited so far, and those whose value was
    /// built to the end (they terminate).
    explored: HashMap<String, BTreeSet<u32>>,
    terminating: HashMap<String, BTreeSet<u32>>,
    /// Round-robin position of each fully explored enum, so that later runs
    /// go through each of its variants again and reach the enums inside.
    rotation: HashMap<String, u32>,
    /// The Rust types of the `Option`s, sequences and maps entered in this
    /// run (by their visitor's type name): each is entered once per run and
    /// left empty elsewhere (`F::Rec`), which ends recursion and keeps a run
    /// linear in the number of types, however the type recurses.
    entered: std::collections::HashSet<&'static str>,
    /// Variants whose value cannot be built here (e.g. `OsString`'s
    /// `Windows` variant on Unix): explored, never chosen again.
    failed_variants: HashMap<String, BTreeSet<u32>>,
    /// Events, to tell what a failed run should blame: the last candidate
    /// offered, and where each enum variant started.
    event: u64,
    last_candidate_event: u64,
    failed_variant: Option<(String, u32)>,
    /// Fields traced of structs whose building failed (the last attempt of
    /// each): part of the partial description when tracing cannot finish.
    partials: BTreeMap<String, Vec<(&'static str, F)>>,
    active_variants: Vec<(String, u32)>,
    depth: usize,
    /// The candidate offered at each place that is given strings or bytes,
    /// and the last place given one (blamed when a run fails).
    candidates: HashMap<String, usize>,
    last_candidate_site: Option<String>,
    /// Something new was learned in this run.
    progress: bool,
    conflict: bool,
}

impl Tracer {
    fn record(&mut self, name: String, c: Container) {
        match self.containers.get_mut(&name) {
            None => {
                self.containers.insert(name, c);
                self.progress = true;
            }
            Some(old) => {
                let before = old.clone();
                let ok = match (old, c) {
                    (Container::Plain(a), Container::Plain(b)) => merge_body(a, b),
                    (Container::Enum { names: n1, variants: v1 }, Container::Enum { names: n2, variants: v2 })
                        if *n1 == n2 =>
                    {
                        v2.into_iter().try_for_each(|(i, b)| match v1.get_mut(&i) {
                            Some(a) => merge_body(a, b),
                            None => {
                                v1.insert(i, b);
                                Ok(())
                            }
                        })
                    }
                    _ => Err(()),
                };
                if ok.is_err() {
                    self.conflict = true;
                }
                if self.containers.get(&name) != Some(&before) {
                    self.progress = true;
                }
            }
        }
    }

    /// The variant to build for enum `name` of `count` variants.
    fn choose(&mut self, name: &str, count: u32) -> u32 {
        let on_stack: BTreeSet<u32> = self.active_variants.iter().filter(|(n, _)| n == name).map(|(_, i)| *i).collect();
        let explored = self.explored.get(name);
        let terminating = self.terminating.get(name);
        let failed = self.failed_variants.get(name);
        let free = || (0..count).filter(|i| !on_stack.contains(i) && failed.is_none_or(|f| !f.contains(i)));
        let unexplored = free().find(|i| explored.is_none_or(|e| !e.contains(i)));
        let known_good = free().find(|i| terminating.is_some_and(|t| t.contains(i)));
        let pick = if on_stack.is_empty() {
            unexplored.or_else(|| {
                // All seen: go round them, to reach what lies inside each.
                let turn = self.rotation.entry(name.to_string()).or_insert(0);
                *turn = turn.wrapping_add(1);
                let start = *turn % count;
                (0..count).map(|k| (start + k) % count).find(|i| !on_stack.contains(i))
            })
        } else {
            known_good.or(unexplored)
        };
        pick.or_else(|| free().next()).unwrap_or(0)
    }

    /// Whether every enum met has had every variant built and every
    /// format is known.
    fn complete(&self) -> bool {
        let enums_done = self.containers.iter().all(|(name, c)| match c {
            Container::Enum { names, variants } => {
                let failed = self.failed_variants.get(name).map_or(0, BTreeSet::len);
                variants.len() + failed >= names.len()
                    && self.explored.get(name).map_or(0, BTreeSet::len) == names.len()
            }
            Container::Plain(_) => true,
        });
        enums_done && self.containers_have_no_unknown()
    }

    fn containers_have_no_unknown(&self) -> bool {
        fn known(f: &F) -> bool {
            match f {
                F::Unknown => false,
                F::Option(x) | F::Seq(x) => known(x),
                F::Map(k, v) => known(k) && known(v),
                F::Tuple(xs) => xs.iter().all(known),
                F::Typed(_, x) => known(x),
                F::Prim(_) | F::Name(_) | F::Rec(_) => true,
            }
        }
        let body_known = |b: &Body| match b {
            Body::Unit => true,
            Body::Newtype(f) => known(f),
            Body::Tuple(fs) => fs.iter().all(known),
            Body::Struct(fs) => fs.iter().all(|(_, f)| known(f)),
        };
        self.containers.values().all(|c| match c {
            Container::Plain(b) => body_known(b),
            Container::Enum { variants, .. } => variants.values().all(body_known),
        })
    }
}

/// The error of a trace that cannot go on.
#[derive(Debug)]
struct Stop(String);

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Stop(msg.to_string())
    }
}

/// Deserializes one value at `site`, writing its format to `out`.
struct De<'t, 'o> {
    t: &'t RefCell<Tracer>,
    out: &'o RefCell<F>,
    site: String,
}

impl<'t> De<'t, '_> {
    fn set(&self, f: F) {
        *self.out.borrow_mut() = f;
    }

    fn enter(&self) -> Result<(), Stop> {
        let mut t = self.t.borrow_mut();
        t.depth += 1;
        if t.depth > MAX_DEPTH { Err(Stop("too deep".into())) } else { Ok(()) }
    }

    fn leave(&self) {
        self.t.borrow_mut().depth -= 1;
    }

    /// Whether an `Option`, sequence or map built by visitor `V` may be
    /// entered: once per run (see `Tracer::entered`).
    fn may_enter<V>(&self) -> bool {
        self.t.borrow_mut().entered.insert(std::any::type_name::<V>())
    }

    fn rec<V>() -> F {
        F::Rec(short_type_name(std::any::type_name::<V>()))
    }

    /// The candidate value to offer at this place (see `STR_CANDIDATES`);
    /// remembers the place as the last one offered a candidate.
    fn candidate(&self, count: usize) -> usize {
        let mut t = self.t.borrow_mut();
        t.last_candidate_site = Some(self.site.clone());
        t.event += 1;
        t.last_candidate_event = t.event;
        t.candidates.get(&self.site).copied().unwrap_or(0).min(count - 1)
    }

    /// The integer to offer at this place, in the type the visitor wants
    /// (1 when the candidate does not fit it).
    fn int<N: TryFrom<i64>>(&self) -> Result<N, Stop> {
        let v = INT_CANDIDATES[self.candidate(INT_CANDIDATES.len())];
        N::try_from(v).or_else(|_| N::try_from(1)).map_err(|_| Stop("no integer fits".into()))
    }

    fn elements(&self, base: &str, names: impl Iterator<Item = String>) -> Elements<'t> {
        Elements { t: self.t, slots: slots(base, names), next: 0 }
    }
}

/// Elements of a sequence, tuple or struct, each traced at its own site.
struct Elements<'t> {
    t: &'t RefCell<Tracer>,
    /// Site and output slot of each element to produce.
    slots: Vec<(String, RefCell<F>)>,
    next: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_> {
    type Error = Stop;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Stop> {
        let Some((site, out)) = self.slots.get(self.next) else { return Ok(None) };
        self.next += 1;
        let inner = RefCell::new(F::Unknown);
        let v = seed.deserialize(De { t: self.t, out: &inner, site: site.clone() })?;
        *out.borrow_mut() = typed::<T>(inner.into_inner());
        Ok(Some(v))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.slots.len() - self.next)
    }
}

/// The format of a value built by seed `S`, tagged with the Rust type the
/// seed names (`PhantomData<Secs>` for a field of type `Secs`).
fn typed<S>(inner: F) -> F {
    let name = short_type_name(std::any::type_name::<S>());
    let name = name.strip_prefix("PhantomData<").and_then(|n| n.strip_suffix('>')).map(str::to_string).unwrap_or(name);
    F::Typed(name, Box::new(inner))
}

fn slots(base: &str, names: impl Iterator<Item = String>) -> Vec<(String, RefCell<F>)> {
    names.map(|n| (format!("{base}.{n}"), RefCell::new(F::Unknown))).collect()
}

fn formats(slots: Vec<(String, RefCell<F>)>) -> Vec<F> {
    slots.into_iter().map(|(_, f)| f.into_inner()).collect()
}

/// One entry of a map, or none.
struct Entries<'t> {
    t: &'t RefCell<Tracer>,
    site: String,
    left: usize,
    key: RefCell<F>,
    value: RefCell<F>,
}

impl<'de> de::MapAccess<'de> for Entries<'_> {
    type Error = Stop;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Stop> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let inner = RefCell::new(F::Unknown);
        let k = seed.deserialize(De { t: self.t, out: &inner, site: format!("{}{{k}}", self.site) })?;
        *self.key.borrow_mut() = typed::<K>(inner.into_inner());
        Ok(Some(k))
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Stop> {
        let inner = RefCell::new(F::Unknown);
        let v = seed.deserialize(De { t: self.t, out: &inner, site: format!("{}{{v}}", self.site) })?;
        *self.value.borrow_mut() = typed::<V>(inner.into_inner());
        Ok(v)
    }
}

/// The variant chosen for an enum.
struct Variant<'t, 'b> {
    t: &'t RefCell<Tracer>,
    name: String,
    index: u32,
    body: &'b RefCell<Option<Body>>,
}

impl<'de, 't, 'b> de::EnumAccess<'de> for Variant<'t, 'b> {
    type Error = Stop;
    type Variant = Variant<'t, 'b>;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Stop> {
        let id = seed.deserialize(u64::from(self.index).into_deserializer())?;
        Ok((id, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, '_> {
    type Error = Stop;
    fn unit_variant(self) -> Result<(), Stop> {
        *self.body.borrow_mut() = Some(Body::Unit);
        Ok(())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Stop> {
        let out = RefCell::new(F::Unknown);
        let v = seed.deserialize(De { t: self.t, out: &out, site: format!("{}::{}", self.name, self.index) })?;
        *self.body.borrow_mut() = Some(Body::Newtype(typed::<T>(out.into_inner())));
        Ok(v)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Stop> {
        let base = format!("{}::{}", self.name, self.index);
        let mut els = Elements { t: self.t, slots: slots(&base, (0..len).map(|i| i.to_string())), next: 0 };
        let v = visitor.visit_seq(&mut els)?;
        *self.body.borrow_mut() = Some(Body::Tuple(formats(els.slots)));
        Ok(v)
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], visitor: V) -> Result<V::Value, Stop> {
        let base = format!("{}::{}", self.name, self.index);
        let mut els = Elements { t: self.t, slots: slots(&base, fields.iter().map(|f| f.to_string())), next: 0 };
        let v = visitor.visit_seq(&mut els)?;
        let fs = fields.iter().copied().zip(formats(els.slots)).collect();
        *self.body.borrow_mut() = Some(Body::Struct(fs));
        Ok(v)
    }
}

/// Strings offered to a `Deserialize` that validates its input (an email,
/// a URL, a UUID, a date): when a run fails right after a string, the next
/// run offers that place the next candidate.
const STR_CANDIDATES: &[&str] = &[
    "",
    "a",
    "0",
    "a@b.c",
    "http://a.b/",
    "00000000-0000-0000-0000-000000000000",
    "1970-01-01T00:00:00Z",
    "1970-01-01",
    "00:00:00",
    "true",
];
/// Byte strings offered likewise (16 bytes: a UUID's binary form).
const BYTES_CANDIDATES: &[&[u8]] = &[&[], &[0; 16], &[0; 32]];
/// Integers offered likewise (an HTTP status, a port, a percentage...).
const INT_CANDIDATES: &[i64] = &[1, 0, 200, 2, 100, 1000, 80, 65535];
/// The longest of the candidate lists.
const MAX_CANDIDATES: usize = 10;

macro_rules! integers {
    ($($method:ident $visit:ident $name:literal;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
            self.set(F::Prim($name));
            let value = self.int()?;
            visitor.$visit(value)
        }
    )*};
}

macro_rules! primitives {
    ($($method:ident $visit:ident $name:literal $value:expr;)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
            self.set(F::Prim($name));
            visitor.$visit($value)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for De<'_, '_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop("the type needs a self-describing format".into()))
    }

    integers! {
        deserialize_i8 visit_i8 "i8";
        deserialize_i16 visit_i16 "i16";
        deserialize_i32 visit_i32 "i32";
        deserialize_i64 visit_i64 "i64";
        deserialize_i128 visit_i128 "i128";
        deserialize_u8 visit_u8 "u8";
        deserialize_u16 visit_u16 "u16";
        deserialize_u32 visit_u32 "u32";
        deserialize_u64 visit_u64 "u64";
        deserialize_u128 visit_u128 "u128";
    }

    primitives! {
        deserialize_bool visit_bool "bool" false;
        deserialize_f32 visit_f32 "f32" 1.0;
        deserialize_f64 visit_f64 "f64" 1.0;
        deserialize_char visit_char "char" 'a';
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.set(F::Prim("str"));
        visitor.visit_str(STR_CANDIDATES[self.candidate(STR_CANDIDATES.len())])
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.set(F::Prim("str"));
        visitor.visit_str(STR_CANDIDATES[self.candidate(STR_CANDIDATES.len())])
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.set(F::Prim("bytes"));
        visitor.visit_bytes(BYTES_CANDIDATES[self.candidate(BYTES_CANDIDATES.len())])
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.set(F::Prim("bytes"));
        visitor.visit_bytes(BYTES_CANDIDATES[self.candidate(BYTES_CANDIDATES.len())])
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        if !self.may_enter::<V>() {
            self.set(Self::rec::<V>());
            return visitor.visit_none();
        }
        self.enter()?;
        let inner = RefCell::new(F::Unknown);
        let result = visitor.visit_some(De { t: self.t, out: &inner, site: format!("{}?", self.site) });
        self.leave();
        self.set(F::Option(Box::new(inner.into_inner())));
        result
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.set(F::Prim("unit"));
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Stop> {
        let name = key::<V>(name);
        self.t.borrow_mut().record(name.clone(), Container::Plain(Body::Unit));
        self.set(F::Name(name));
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, Stop> {
        self.enter()?;
        let inner = RefCell::new(F::Unknown);
        let result = visitor.visit_newtype_struct(De { t: self.t, out: &inner, site: format!("{name}.0") });
        self.leave();
        let result = result?;
        let name = key::<V>(name);
        self.t.borrow_mut().record(name.clone(), Container::Plain(Body::Newtype(inner.into_inner())));
        self.set(F::Name(name));
        Ok(result)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        if !self.may_enter::<V>() {
            self.set(Self::rec::<V>());
            return visitor.visit_seq(&mut self.elements(&self.site, std::iter::empty()));
        }
        self.enter()?;
        let mut els = self.elements(&self.site, std::iter::once("[]".to_string()));
        let result = visitor.visit_seq(&mut els);
        let elem = formats(els.slots).pop().unwrap_or(F::Unknown);
        self.leave();
        self.set(F::Seq(Box::new(elem)));
        result
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Stop> {
        self.enter()?;
        let mut els = self.elements(&self.site, (0..len).map(|i| i.to_string()));
        let result = visitor.visit_seq(&mut els);
        let fs = formats(els.slots);
        self.leave();
        self.set(F::Tuple(fs));
        result
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.enter()?;
        let mut els = self.elements(name, (0..len).map(|i| i.to_string()));
        let result = visitor.visit_seq(&mut els);
        let fs = formats(els.slots);
        self.leave();
        let result = result?;
        let name = key::<V>(name);
        self.t.borrow_mut().record(name.clone(), Container::Plain(Body::Tuple(fs)));
        self.set(F::Name(name));
        Ok(result)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        let left = usize::from(self.may_enter::<V>());
        if left == 0 {
            let mut empty = Entries {
                t: self.t,
                site: self.site.clone(),
                left: 0,
                key: RefCell::new(F::Unknown),
                value: RefCell::new(F::Unknown),
            };
            self.set(Self::rec::<V>());
            return visitor.visit_map(&mut empty);
        }
        self.enter()?;
        let mut entries = Entries {
            t: self.t,
            site: self.site.clone(),
            left,
            key: RefCell::new(F::Unknown),
            value: RefCell::new(F::Unknown),
        };
        let result = visitor.visit_map(&mut entries);
        self.leave();
        self.set(F::Map(Box::new(entries.key.into_inner()), Box::new(entries.value.into_inner())));
        result
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        self.enter()?;
        let mut els = self.elements(name, fields.iter().map(|f| f.to_string()));
        let result = visitor.visit_seq(&mut els);
        let fs: Vec<(&'static str, F)> = fields.iter().copied().zip(formats(els.slots)).collect();
        self.leave();
        if result.is_err() {
            self.t.borrow_mut().partials.insert(key::<V>(name), fs);
            return result;
        }
        let result = result?;
        let name = key::<V>(name);
        self.t.borrow_mut().record(name.clone(), Container::Plain(Body::Struct(fs)));
        self.set(F::Name(name));
        Ok(result)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Stop> {
        let count = u32::try_from(variants.len()).map_err(|_| Stop("too many variants".into()))?;
        if count == 0 {
            return Err(Stop("an enum without variants".into()));
        }
        self.enter()?;
        let name = key::<V>(name);
        let index = self.t.borrow_mut().choose(&name, count);
        {
            let mut t = self.t.borrow_mut();
            if t.explored.entry(name.clone()).or_default().insert(index) {
                t.progress = true;
            }
            t.active_variants.push((name.clone(), index));
        }
        let body = RefCell::new(None);
        let started = {
            let mut t = self.t.borrow_mut();
            t.event += 1;
            t.event
        };
        let result = visitor.visit_enum(Variant { t: self.t, name: name.clone(), index, body: &body });
        {
            let mut t = self.t.borrow_mut();
            t.active_variants.pop();
            // A variant that failed with no candidate value offered inside
            // it cannot be built here: blame it (the innermost one).
            if result.is_err() && t.failed_variant.is_none() && t.last_candidate_event < started {
                t.failed_variant = Some((name.clone(), index));
            }
            if result.is_ok() && t.terminating.entry(name.clone()).or_default().insert(index) {
                t.progress = true;
            }
        }
        self.leave();
        let result = result?;
        let variants_seen = body.into_inner().map(|b| BTreeMap::from([(index, b)])).unwrap_or_default();
        self.t.borrow_mut().record(name.clone(), Container::Enum { names: variants.to_vec(), variants: variants_seen });
        self.set(F::Name(name));
        Ok(result)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Stop> {
        Err(Stop("identifiers are only asked of self-describing formats".into()))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        false
    }
}

/// The traced shape of `T`, as a canonical text (its root format and every
/// container it names, sorted by key): `Ok` when every enum variant and
/// every field was reached, `Err` with what was traced so far when the type
/// cannot be traced fully (the caller mixes that partial description into
/// its fallback fingerprint, so edits in the parts traced are still seen).
pub(crate) fn trace<T: DeserializeOwned>() -> Result<String, String> {
    let tracer = RefCell::new(Tracer::default());
    let root = RefCell::new(F::Unknown);
    let partial = |t: &Tracer, root: &F| format!("{root:?}|{:?}|{:?}", t.containers, t.partials);
    let mut failures = 0;
    for _ in 0..MAX_RUNS {
        {
            let mut t = tracer.borrow_mut();
            t.progress = false;
            t.last_candidate_site = None;
            t.failed_variant = None;
            t.depth = 0;
            t.entered.clear();
            t.active_variants.clear();
        }
        let out = RefCell::new(F::Unknown);
        if T::deserialize(De { t: &tracer, out: &out, site: "<root>".into() }).is_err() {
            failures += 1;
            let mut t = tracer.borrow_mut();
            if failures > 512 {
                return Err(partial(&t, &root.borrow()));
            }
            // Blame the innermost variant that failed on its own, else the
            // last place offered a candidate value (offer it the next).
            if let Some((name, index)) = t.failed_variant.take() {
                t.failed_variants.entry(name).or_default().insert(index);
                continue;
            }
            let Some(site) = t.last_candidate_site.take() else { return Err(partial(&t, &root.borrow())) };
            let next = t.candidates.get(&site).copied().unwrap_or(0) + 1;
            if next >= MAX_CANDIDATES {
                return Err(partial(&t, &root.borrow()));
            }
            t.candidates.insert(site, next);
            continue;
        }
        let t = tracer.borrow();
        if t.conflict || merge_f(&mut root.borrow_mut(), out.into_inner()).is_err() {
            return Err(partial(&t, &root.borrow()));
        }
        if !t.progress && t.complete() {
            return Ok(format!("{:?}|{:?}", root.borrow(), t.containers));
        }
    }
    let t = tracer.borrow();
    Err(partial(&t, &root.borrow()))
}
