//! Review 2: types that get the same fingerprint although their bincode
//! encodings mean different things (a value decoded into the wrong type).
use persistdict::{Error, PersistDict};
use serde::{Deserialize, Serialize};

fn write_then_read<A, B>(a: &A) -> persistdict::Result<B>
where
    A: Serialize + for<'de> Deserialize<'de>,
    B: Serialize + for<'de> Deserialize<'de>,
{
    let dir = tempfile::tempdir().unwrap();
    PersistDict::<u8, A>::open(dir.path()).unwrap().insert(&1, a).unwrap();
    PersistDict::<u8, B>::open(dir.path()).unwrap().get(&1).map(|o| o.unwrap())
}

// 1. A generic container nested in itself: the inner instance's Vec is never
//    entered (its site "Page.items" is active), so `Item` is never traced.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
}
mod v1 {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Item {
        pub n: u32,
    }
}
mod v2 {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Item {
        pub n: i32,
    }
}

#[test]
fn nested_generic_hides_the_inner_type() {
    let a = Page { items: vec![Page { items: vec![v1::Item { n: u32::MAX }] }] };
    let got = write_then_read::<Page<Page<v1::Item>>, Page<Page<v2::Item>>>(&a);
    assert!(matches!(got, Err(Error::TypeMismatch { .. })), "u32::MAX read back as {got:?}");
}

// 2. A `#[serde(from, into)]` / transparent field type: only the ROOT type
//    name is mixed in, so a field retyped from Secs to Millis is not seen.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(transparent)]
pub struct Secs(pub u64);
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Copy)]
#[serde(transparent)]
pub struct Millis(pub u64);
mod c1 {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Config {
        pub timeout: super::Secs,
    }
}
mod c2 {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    pub struct Config {
        pub timeout: super::Millis,
    }
}

#[test]
fn a_retyped_transparent_field_is_not_seen() {
    let got = write_then_read::<c1::Config, c2::Config>(&c1::Config { timeout: Secs(5) });
    assert!(matches!(got, Err(Error::TypeMismatch { .. })), "5 s read back as {got:?}");
}

// 3. Untraceable types (same serde name twice with two shapes) fall back to
//    the full type name: an edit of the type's fields keeps the fingerprint.
//    Two blocks of one function give two types with ONE type_name, which is
//    what an edit between two builds looks like.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct W<T>(pub T);

#[test]
fn untraceable_type_field_edit_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Rec {
            a: W<u32>,
            b: W<String>,
            n: u32,
        }
        PersistDict::<u8, Rec>::open(dir.path())
            .unwrap()
            .insert(&1, &Rec { a: W(1), b: W("x".into()), n: u32::MAX })
            .unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Rec {
            a: W<u32>,
            b: W<String>,
            n: i32,
        }
        let got = PersistDict::<u8, Rec>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "read back as {got:?}");
    }
}

// 3b. Same with std's Range used at two widths (serde name "Range" twice).
#[test]
fn untraceable_range_pair_field_edit_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Span {
            bytes: std::ops::Range<u64>,
            lines: std::ops::Range<u32>,
            id: u32,
        }
        PersistDict::<u8, Span>::open(dir.path())
            .unwrap()
            .insert(&1, &Span { bytes: 0..1, lines: 0..1, id: u32::MAX })
            .unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Span {
            bytes: std::ops::Range<u64>,
            lines: std::ops::Range<u32>,
            id: i32,
        }
        let got = PersistDict::<u8, Span>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "read back as {got:?}");
    }
}

// 3c. A validated newtype whose Deserialize rejects the tracer's defaults.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
#[serde(try_from = "String")]
pub struct Email(String);
impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s.contains('@') { Ok(Email(s)) } else { Err("not an email".into()) }
    }
}

#[test]
fn validated_newtype_field_edit_is_not_seen() {
    let dir = tempfile::tempdir().unwrap();
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct User {
            email: Email,
            age: u32,
        }
        PersistDict::<u8, User>::open(dir.path())
            .unwrap()
            .insert(&1, &User { email: Email("a@b".into()), age: u32::MAX })
            .unwrap();
    }
    {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct User {
            email: Email,
            age: i32,
        }
        let got = PersistDict::<u8, User>::open(dir.path()).unwrap().get(&1);
        assert!(matches!(got, Err(Error::TypeMismatch { .. })), "read back as {got:?}");
    }
}
