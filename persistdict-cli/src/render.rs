//! How keys, values, sizes and times are shown.

use std::time::{Duration, SystemTime};

/// A bincode (standard configuration) string: a varint length, then the
/// bytes. The string when `bytes` is exactly one.
pub fn bincode_str(bytes: &[u8]) -> Option<&str> {
    let (&first, rest) = bytes.split_first()?;
    let (len, rest) = match first {
        0..=250 => (u64::from(first), rest),
        251 => (u64::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?)), rest.get(2..)?),
        252 => (u64::from(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?)), rest.get(4..)?),
        253 => (u64::from_le_bytes(rest.get(..8)?.try_into().ok()?), rest.get(8..)?),
        _ => return None,
    };
    if rest.len() as u64 != len {
        return None;
    }
    std::str::from_utf8(rest).ok()
}

/// The bincode (standard configuration) encoding of a string.
pub fn bincode_string(s: &str) -> Vec<u8> {
    let n = s.len();
    let mut out = Vec::with_capacity(n + 9);
    if n <= 250 {
        out.push(n as u8);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(251);
        out.extend_from_slice(&n.to_le_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(252);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&(n as u64).to_le_bytes());
    }
    out.extend_from_slice(s.as_bytes());
    out
}

fn printable(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| !c.is_control())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// A key as text: a bincode string or printable UTF-8 shown quoted, else `0x<hex>`.
pub fn key_text(key: &[u8]) -> String {
    if let Some(s) = bincode_str(key).filter(|s| printable(s)) {
        return format!("{s:?}");
    }
    match std::str::from_utf8(key) {
        Ok(s) if printable(s) => s.to_string(),
        _ => format!("0x{}", hex(key)),
    }
}

/// Whether the value codec of a `"<key>/<value>"` codecs string is JSON.
pub fn value_is_json(codecs: Option<&str>) -> bool {
    codecs.and_then(|c| c.split('/').nth(1)) == Some("json")
}

/// Whether the key codec is JSON.
pub fn key_is_json(codecs: Option<&str>) -> bool {
    codecs.and_then(|c| c.split('/').next()) == Some("json")
}

/// A value for JSON output: the JSON itself when the codec is JSON and it
/// parses, else `{"hex": ..., "len": n}`.
pub fn value_json(value: &[u8], is_json: bool) -> serde_json::Value {
    if is_json && let Ok(v) = serde_json::from_slice::<serde_json::Value>(value) {
        return v;
    }
    serde_json::json!({ "hex": hex(value), "len": value.len() })
}

/// A value as text, shortened to `max` characters (0: whole).
pub fn value_text(value: &[u8], is_json: bool, max: usize) -> String {
    let full = if is_json && let Ok(v) = serde_json::from_slice::<serde_json::Value>(value) {
        v.to_string()
    } else {
        format!("0x{} ({})", hex(value), size(value.len() as u64))
    };
    shorten(&full, max)
}

pub fn shorten(s: &str, max: usize) -> String {
    if max == 0 || s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn size(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec_short().to_string()
}

/// "3m 12s ago", whole seconds.
pub fn age(t: SystemTime) -> String {
    match SystemTime::now().duration_since(t) {
        Ok(d) => format!("{} ago", humantime::format_duration(Duration::from_secs(d.as_secs()))),
        Err(_) => "in the future".into(),
    }
}

pub fn ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bincode_strings_round_trip() {
        for s in ["", "hello", &"x".repeat(300), &"y".repeat(70_000)] {
            assert_eq!(bincode_str(&bincode_string(s)), Some(s));
        }
        assert_eq!(key_text(&bincode_string("hello")), "\"hello\"");
        assert_eq!(key_text(&[0, 1, 255]), "0x0001ff");
        assert_eq!(parse_hex("0001ff"), Some(vec![0, 1, 255]));
    }
}
