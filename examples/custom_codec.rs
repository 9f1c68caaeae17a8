//! A compressing codec: bincode, then DEFLATE (flate2).
#![allow(clippy::print_stdout)]

use std::borrow::Cow;
use std::io::{Read, Write};

use persistdict::PersistDict;
use persistdict::codec::{Bincode, BoxError, Codec};

#[derive(Clone, Copy, Default)]
struct Deflated;

impl Codec for Deflated {
    fn name(&self) -> &str {
        "deflate+bincode2"
    }

    fn encode<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<Cow<'static, [u8]>, BoxError> {
        let raw = Bincode.encode(value)?;
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&raw)?;
        Ok(Cow::Owned(enc.finish()?))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, BoxError> {
        // Bound the inflated size: hostile input must not allocate without limit.
        let mut raw = Vec::new();
        flate2::read::DeflateDecoder::new(bytes).take(1 << 30).read_to_end(&mut raw)?;
        Bincode.decode(&raw)
    }
}

fn main() -> Result<(), persistdict::Error> {
    let d: PersistDict<String, String, Deflated, Deflated> =
        PersistDict::builder("target/persistdict-deflate").key_codec(Deflated).value_codec(Deflated).open()?;
    let text = "all work and no play ".repeat(1000);
    d.insert("long", &text)?;
    assert_eq!(d.get("long")?.as_deref(), Some(text.as_str()));
    println!("stored {} bytes of text; {:?}", text.len(), d.stats()?);
    Ok(())
}
