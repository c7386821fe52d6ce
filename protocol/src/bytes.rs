//! [`Bytes`]: raw bytes that travel as lower-case hex in JSON.
//!
//! Hex rather than base64 because the page shows hex anyway, and a student
//! reading the JSON export can see `68656c6c6f` is `hello`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A byte string; JSON form is a hex string (`"68690a"`).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Bytes(pub Vec<u8>);

/// Why a string is not valid hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HexError {
    /// Hex needs two digits per byte.
    OddLength,
    /// A character that is not `0-9`, `a-f` or `A-F`, at this position.
    BadDigit(usize),
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::OddLength => f.write_str("hex needs two digits per byte"),
            HexError::BadDigit(at) => write!(f, "not a hex digit at position {at}"),
        }
    }
}

impl std::error::Error for HexError {}

const DIGITS: &[u8; 16] = b"0123456789abcdef";

impl Bytes {
    /// How many bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Lower-case hex, no separators (`"68690a"`).
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 2);
        for &b in &self.0 {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 0xf) as usize] as char);
        }
        out
    }

    /// Hex with a space between bytes (`"68 69 0a"`), as a hex view shows it.
    pub fn to_spaced_hex(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 3);
        for (i, &b) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 0xf) as usize] as char);
        }
        out
    }

    /// Parses hex; spaces, tabs, newlines, colons and a leading `0x` on
    /// each group are ignored, so `"68 69 0a"` and `"0x68:0x69"` both work.
    pub fn from_hex(text: &str) -> Result<Bytes, HexError> {
        let mut digits = Vec::with_capacity(text.len());
        let raw = text.as_bytes();
        let mut i = 0;
        while i < raw.len() {
            let c = raw[i];
            if c == b'0' && matches!(raw.get(i + 1), Some(b'x' | b'X')) && at_group_start(raw, i) {
                i += 2;
                continue;
            }
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | b':' => {}
                _ => digits.push((i, c)),
            }
            i += 1;
        }
        if digits.len() % 2 != 0 {
            return Err(HexError::OddLength);
        }
        let mut out = Vec::with_capacity(digits.len() / 2);
        for pair in digits.chunks_exact(2) {
            let hi = value(pair[0].1).ok_or(HexError::BadDigit(pair[0].0))?;
            let lo = value(pair[1].1).ok_or(HexError::BadDigit(pair[1].0))?;
            out.push(hi << 4 | lo);
        }
        Ok(Bytes(out))
    }

    /// The bytes as text for a text view: printable ASCII as itself,
    /// `\n`, `\r`, `\t` escaped, anything else as `\xNN`. Valid UTF-8 beyond
    /// ASCII is shown as its characters.
    pub fn to_escaped_text(&self) -> String {
        let mut out = String::with_capacity(self.0.len());
        for chunk in self.0.utf8_chunks() {
            for ch in chunk.valid().chars() {
                match ch {
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => {
                        let mut buf = [0u8; 4];
                        for b in c.encode_utf8(&mut buf).bytes() {
                            out.push_str(&format!("\\x{b:02x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }
}

fn at_group_start(raw: &[u8], i: usize) -> bool {
    i == 0 || matches!(raw[i - 1], b' ' | b'\t' | b'\n' | b'\r' | b':')
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&[u8]> for Bytes {
    fn from(v: &[u8]) -> Self {
        Bytes(v.to_vec())
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.to_escaped_text())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HexVisitor;
        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a hex string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bytes, E> {
                Bytes::from_hex(v).map_err(E::custom)
            }
        }
        d.deserialize_str(HexVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let hex = Bytes(all.clone()).to_hex();
        assert_eq!(hex.len(), 512);
        assert_eq!(Bytes::from_hex(&hex).unwrap().0, all);
    }

    #[test]
    fn hex_accepts_the_ways_people_write_it() {
        let want = Bytes(vec![0x68, 0x69, 0x0a]);
        assert_eq!(Bytes::from_hex("68690a").unwrap(), want);
        assert_eq!(Bytes::from_hex("68 69 0A").unwrap(), want);
        assert_eq!(Bytes::from_hex("0x68 0x69 0x0a").unwrap(), want);
        assert_eq!(Bytes::from_hex("68:69:0a").unwrap(), want);
        assert_eq!(want.to_spaced_hex(), "68 69 0a");
    }

    #[test]
    fn bad_hex_says_where() {
        assert_eq!(Bytes::from_hex("abc"), Err(HexError::OddLength));
        assert_eq!(Bytes::from_hex("zz"), Err(HexError::BadDigit(0)));
        assert_eq!(Bytes::from_hex("00 0g"), Err(HexError::BadDigit(4)));
    }

    #[test]
    fn text_view_escapes_what_is_not_printable() {
        let b = Bytes(b"hi\n\x00\xff\\".to_vec());
        assert_eq!(b.to_escaped_text(), "hi\\n\\x00\\xff\\\\");
        assert_eq!(
            Bytes("héllo".as_bytes().to_vec()).to_escaped_text(),
            "héllo"
        );
    }
}
