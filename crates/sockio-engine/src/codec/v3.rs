//! Engine.IO v3 polling payloads (socket.io-client 1.x/2.x).
//!
//! * Text payload: records `<length>:<packet>` where the length counts the
//!   UTF-16 code units of the packet (an emoji counts 2); binary messages are
//!   `b4` + base64 (clients that sent `b64=1`).
//! * Binary payload (XHR2, `application/octet-stream`): per packet a flag byte
//!   (`0` text, `1` binary), the length as decimal digits *as byte values*,
//!   `0xff`, then the packet: text as UTF-8 (length in bytes), binary as the
//!   type byte `4` followed by the data.

use base64::Engine as _;
use bytes::Bytes;

use super::packet::{b64_len, encode_b64};
use super::{DecodeError, Packet, B64};
use crate::Message;

/// Most length digits accepted in a binary payload record (Node allows 310).
const MAX_DIGITS: usize = 20;

fn utf16_len(bytes: &[u8]) -> usize {
    // ASCII fast path; otherwise count code units per char.
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => s.len(),
        Ok(s) => s.chars().map(char::len_utf16).sum(),
        Err(_) => bytes.len(),
    }
}

/// Encodes packets as a v3 text payload (binary messages as `b4` + base64).
pub fn encode_text_payload(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packets.iter().map(|p| p.text_len() + 8).sum());
    let mut tmp = Vec::new();
    for p in packets {
        match p {
            Packet::Message(m) if m.is_binary() => {
                let n = 2 + b64_len(m.len());
                out.extend_from_slice(n.to_string().as_bytes());
                out.extend_from_slice(b":b4");
                encode_b64(m.framed(), &mut out);
            }
            _ => {
                tmp.clear();
                p.encode_text(&mut tmp);
                out.extend_from_slice(utf16_len(&tmp).to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(&tmp);
            }
        }
    }
    out
}

/// socket.io-client 1.x (engine.io-parser 1.x) UTF-8-encodes every record of
/// a text payload before sending it, so each character of the record stands
/// for one byte of the UTF-8 form; 2.x clients do not. A record whose
/// characters are all below U+0100, with some above U+007F, that reads as
/// valid UTF-8 when taken as bytes is such a record: the decoded text, or
/// `None` to keep the record as it is.
pub fn undo_utf8_encoding(record: &str) -> Option<String> {
    if record.is_ascii() || record.chars().any(|c| c as u32 > 0xff) {
        return None;
    }
    String::from_utf8(record.chars().map(|c| c as u8).collect()).ok()
}

/// Decodes a v3 text payload (records UTF-8-encoded by 1.x clients are decoded).
pub fn decode_text_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return Err(DecodeError::Utf8);
    };
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let colon = text[pos..]
            .find(':')
            .ok_or(DecodeError::Payload("missing ':' after length"))?
            + pos;
        let digits = &text[pos..colon];
        if digits.is_empty()
            || digits.len() > MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DecodeError::Payload("bad length"));
        }
        let n: usize = digits
            .parse()
            .map_err(|_| DecodeError::Payload("bad length"))?;
        // Walk `n` UTF-16 code units from after the colon.
        let start = colon + 1;
        let mut units = 0;
        let mut end = start;
        let mut chars = text[start..].chars();
        while units < n {
            let c = chars
                .next()
                .ok_or(DecodeError::Payload("length past end"))?;
            units += c.len_utf16();
            end += c.len_utf8();
        }
        if units != n {
            return Err(DecodeError::Payload("length splits a character"));
        }
        if end > start {
            let rec = body.slice(start..end);
            if rec[0] == b'b' {
                if rec.get(1) != Some(&b'4') {
                    return Err(DecodeError::Payload("binary record is not a message"));
                }
                let data = B64.decode(&rec[2..]).map_err(|_| DecodeError::Base64)?;
                packets.push(Packet::Message(Message::binary(data)));
            } else {
                match undo_utf8_encoding(&text[start..end]) {
                    Some(decoded) => packets.push(Packet::decode_text_utf8(Bytes::from(decoded))?),
                    None => packets.push(Packet::decode_text_utf8(rec)?),
                }
            }
        }
        pos = end;
    }
    Ok(packets)
}

fn push_digits(n: usize, out: &mut Vec<u8>) {
    out.extend(n.to_string().bytes().map(|d| d - b'0'));
}

/// Encodes packets as a v3 binary (XHR2) payload.
pub fn encode_binary_payload(packets: &[Packet]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packets.iter().map(|p| p.text_len() + 10).sum());
    let mut tmp = Vec::new();
    for p in packets {
        match p {
            Packet::Message(m) if m.is_binary() => {
                out.push(1);
                push_digits(m.len() + 1, &mut out);
                out.push(0xff);
                out.push(4);
                out.extend_from_slice(m.framed());
            }
            _ => {
                tmp.clear();
                p.encode_text(&mut tmp);
                out.push(0);
                push_digits(tmp.len(), &mut out);
                out.push(0xff);
                out.extend_from_slice(&tmp);
            }
        }
    }
    out
}

/// Decodes a v3 binary (XHR2) payload.
pub fn decode_binary_payload(body: Bytes) -> Result<Vec<Packet>, DecodeError> {
    if body.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut packets = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let is_text = match body[pos] {
            0 => true,
            1 => false,
            _ => return Err(DecodeError::Payload("bad record flag")),
        };
        pos += 1;
        let mut n: usize = 0;
        let mut digits = 0;
        loop {
            let b = *body
                .get(pos)
                .ok_or(DecodeError::Payload("truncated length"))?;
            pos += 1;
            if b == 0xff {
                break;
            }
            if b > 9 || digits == MAX_DIGITS {
                return Err(DecodeError::Payload("bad length"));
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(b as usize))
                .ok_or(DecodeError::Payload("bad length"))?;
            digits += 1;
        }
        if digits == 0 {
            return Err(DecodeError::Payload("bad length"));
        }
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= body.len())
            .ok_or(DecodeError::Payload("length past end"))?;
        let rec = body.slice(pos..end);
        pos = end;
        if is_text {
            packets.push(Packet::decode_text(rec)?);
        } else {
            match rec.first() {
                Some(4) => packets.push(Packet::Message(Message::binary(rec.slice(1..)))),
                Some(&t) => return Err(DecodeError::UnknownType(t)),
                None => return Err(DecodeError::Empty),
            }
        }
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Packet {
        Packet::Message(Message::text(s))
    }

    #[test]
    fn text_payload_utf16_lengths() {
        let p = vec![text("é"), text("😀"), text("abc"), Packet::Pong];
        let enc = encode_text_payload(&p);
        assert_eq!(
            String::from_utf8(enc.clone()).unwrap(),
            "2:4é3:4😀4:4abc1:3"
        );
        assert_eq!(decode_text_payload(Bytes::from(enc)).unwrap(), p);
    }

    #[test]
    fn text_payload_binary_b64() {
        let p = vec![Packet::Message(Message::binary(vec![1u8, 2, 3]))];
        let enc = encode_text_payload(&p);
        assert_eq!(enc, b"6:b4AQID");
        assert_eq!(decode_text_payload(Bytes::from(enc)).unwrap(), p);
    }

    #[test]
    fn text_payload_errors() {
        let d = |s: &'static str| decode_text_payload(Bytes::from_static(s.as_bytes()));
        assert!(d("").is_err());
        assert!(d("abc").is_err());
        assert!(d("5:4ab").is_err());
        assert!(d(":4ab").is_err());
        assert!(d("1:😀").is_err()); // splits a surrogate pair
        assert!(d("2:b5").is_err());
        assert!(d("1:9").is_err());
        assert_eq!(d("0:1:2").unwrap(), vec![Packet::Ping]);
    }

    #[test]
    fn binary_payload() {
        let p = vec![
            text("héllo"),
            Packet::Message(Message::binary(vec![1u8, 2, 3])),
        ];
        let enc = encode_binary_payload(&p);
        let mut want = vec![0u8, 7, 0xff];
        want.extend_from_slice("4héllo".as_bytes());
        want.extend_from_slice(&[1, 4, 0xff, 4, 1, 2, 3]);
        assert_eq!(enc, want);
        assert_eq!(decode_binary_payload(Bytes::from(enc)).unwrap(), p);
        // a 12-byte text: two digits
        let enc = encode_binary_payload(&[text("12345678901")]);
        assert_eq!(&enc[..4], &[0, 1, 2, 0xff]);
    }

    #[test]
    fn binary_payload_errors() {
        let d = |s: &'static [u8]| decode_binary_payload(Bytes::from_static(s));
        assert!(d(b"").is_err());
        assert!(d(&[2, 1, 0xff, b'2']).is_err());
        assert!(d(&[0, 5, 0xff, b'2']).is_err());
        assert!(d(&[0, 0xff]).is_err());
        assert!(d(&[0, 10, 0xff]).is_err());
        assert!(d(&[1, 1, 0xff, 3]).is_err());
        assert!(d(&[0, 1]).is_err());
        assert_eq!(d(&[0, 1, 0xff, b'2']).unwrap(), vec![Packet::Ping]);
    }
}

#[cfg(test)]
mod utf8_encoded_records {
    use super::undo_utf8_encoding;

    #[test]
    fn records_utf8_encoded_by_1x_clients_are_recognised() {
        let one_x = |s: &str| -> String { s.bytes().map(char::from).collect() };
        assert_eq!(
            undo_utf8_encoding(&one_x("4é 😀")).as_deref(),
            Some("4é 😀")
        );
        // 2.x clients send text as it is: left alone.
        assert_eq!(undo_utf8_encoding("4é 😀"), None);
        assert_eq!(undo_utf8_encoding("4é"), None); // 0xE9 alone is not UTF-8
        assert_eq!(undo_utf8_encoding("4ascii"), None);
    }
}
