//! Engine.IO v4 polling payloads: packets in text form joined by the record
//! separator `\x1e`; binary messages as `b` + base64.

use bytes::Bytes;

use super::{DecodeError, Packet};

/// The record separator between packets.
pub const SEPARATOR: u8 = 0x1e;

/// Encodes packets as one v4 payload.
pub fn encode_payload(packets: &[Packet]) -> Vec<u8> {
    // Exactly the payload's length (records and the separators between
    // them): a full vector becomes a `Bytes` without another allocation.
    let len: usize = packets.iter().map(|p| p.text_len() + 1).sum();
    let mut out = Vec::with_capacity(len.saturating_sub(1));
    for (i, p) in packets.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        p.encode_text(&mut out);
    }
    out
}

/// Decodes a v4 payload. Text messages share the input's memory.
pub fn decode_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    if std::str::from_utf8(&body).is_err() {
        return Err(DecodeError::Utf8);
    }
    let mut packets = Vec::new();
    let mut start = 0;
    loop {
        let end = memchr::memchr(SEPARATOR, &body[start..]).map_or(body.len(), |i| start + i);
        // A record boundary is always a char boundary: 0x1e is ASCII.
        let rec = body.slice(start..end);
        if rec.first() == Some(&b'b') {
            packets.push(Packet::decode_base64(&rec[1..])?);
        } else {
            packets.push(Packet::decode_text_utf8(rec)?);
        }
        if end == body.len() {
            break;
        }
        start = end + 1;
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn roundtrip() {
        let p = vec![
            Packet::Message(Message::text("test1")),
            Packet::Message(Message::text("tést2")),
            Packet::Message(Message::binary(vec![1u8, 2, 3, 4])),
            Packet::Ping,
        ];
        let enc = encode_payload(&p);
        assert_eq!(enc, "4test1\x1e4tést2\x1ebAQIDBA==\x1e2".as_bytes());
        // Sized exactly: the GET's body becomes a `Bytes` without a copy.
        assert_eq!(enc.capacity(), enc.len());
        assert_eq!(decode_payload(Bytes::from(enc)).unwrap(), p);
    }

    #[test]
    fn errors() {
        let d = |s: &'static [u8]| decode_payload(Bytes::from_static(s));
        assert_eq!(d(b""), Err(DecodeError::Empty));
        assert_eq!(d(b"abc"), Err(DecodeError::UnknownType(b'a')));
        assert_eq!(d(b"4a\x1e"), Err(DecodeError::Empty));
        assert_eq!(d(b"4a\x1e\x1e4b"), Err(DecodeError::Empty));
        assert_eq!(d(b"b!!"), Err(DecodeError::Base64));
        assert_eq!(d(b"4\xc3"), Err(DecodeError::Utf8));
        assert_eq!(d(b"1").unwrap(), vec![Packet::Close]);
    }
}
