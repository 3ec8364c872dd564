//! One Engine.IO packet and its text form (shared by v3 and v4).

use base64::Engine as _;
use bytes::Bytes;

use crate::Message;

use super::B64;

/// An Engine.IO packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// `0` + handshake JSON (server to client only).
    Open(Bytes),
    /// `1`
    Close,
    /// `2`
    Ping,
    /// `2probe` (upgrade probe)
    PingProbe,
    /// `3`
    Pong,
    /// `3probe`
    PongProbe,
    /// `4` + data, or a binary message.
    Message(Message),
    /// `5`
    Upgrade,
    /// `6`
    Noop,
}

/// Why bytes are not a valid packet or payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Empty packet or payload.
    #[error("empty packet")]
    Empty,
    /// The packet type is not one of `0`..`6`.
    #[error("unknown packet type {0:#04x}")]
    UnknownType(u8),
    /// Text that is not UTF-8.
    #[error("text is not valid UTF-8")]
    Utf8,
    /// Bad base64 in a binary record.
    #[error("invalid base64")]
    Base64,
    /// A malformed payload (length prefix, separators).
    #[error("malformed payload: {0}")]
    Payload(&'static str),
}

impl Packet {
    /// Parses a packet in text form (`4hello`, `2probe`, ...).
    pub fn decode_text(text: Bytes) -> Result<Packet, DecodeError> {
        if std::str::from_utf8(&text).is_err() {
            return Err(DecodeError::Utf8);
        }
        Self::decode_text_utf8(text)
    }

    /// Same as [`decode_text`](Self::decode_text) for bytes known to be UTF-8.
    pub(crate) fn decode_text_utf8(text: Bytes) -> Result<Packet, DecodeError> {
        let Some(&t) = text.first() else {
            return Err(DecodeError::Empty);
        };
        let rest = &text[1..];
        Ok(match t {
            b'0' => Packet::Open(text.slice(1..)),
            b'1' => Packet::Close,
            b'2' if rest == b"probe" => Packet::PingProbe,
            b'2' => Packet::Ping,
            b'3' if rest == b"probe" => Packet::PongProbe,
            b'3' => Packet::Pong,
            // SAFETY: every caller passes UTF-8 (checked by `decode_text`, the
            // payload decoders, or tungstenite for text frames) and it starts with `4`.
            b'4' => Packet::Message(unsafe { Message::from_framed_text_unchecked(text) }),
            b'5' => Packet::Upgrade,
            b'6' => Packet::Noop,
            other => return Err(DecodeError::UnknownType(other)),
        })
    }

    /// A binary message from a base64 string (the `b...` record of a v4 payload).
    pub(crate) fn decode_base64(b64: &[u8]) -> Result<Packet, DecodeError> {
        let data = B64.decode(b64).map_err(|_| DecodeError::Base64)?;
        Ok(Packet::Message(Message::binary(data)))
    }

    /// Appends the text form; a binary message is written `b` + base64 (v4).
    pub fn encode_text(&self, out: &mut Vec<u8>) {
        match self {
            Packet::Message(m) if m.is_binary() => {
                out.push(b'b');
                encode_b64(m.framed(), out);
            }
            Packet::Message(m) => out.extend_from_slice(m.framed()),
            Packet::Open(json) => {
                out.push(b'0');
                out.extend_from_slice(json);
            }
            other => out.extend_from_slice(other.control_bytes()),
        }
    }

    /// The text form of a packet without data (everything but Open and Message).
    pub(crate) fn control_str(&self) -> &'static str {
        match self {
            Packet::Close => "1",
            Packet::Ping => "2",
            Packet::PingProbe => "2probe",
            Packet::Pong => "3",
            Packet::PongProbe => "3probe",
            Packet::Upgrade => "5",
            Packet::Noop => "6",
            Packet::Open(_) | Packet::Message(_) => "",
        }
    }

    pub(crate) fn control_bytes(&self) -> &'static [u8] {
        self.control_str().as_bytes()
    }

    /// Length of the text form in bytes (binary messages as `b` + base64).
    pub(crate) fn text_len(&self) -> usize {
        match self {
            Packet::Message(m) if m.is_binary() => 1 + b64_len(m.len()),
            Packet::Message(m) => m.framed().len(),
            Packet::Open(json) => 1 + json.len(),
            other => other.control_bytes().len(),
        }
    }
}

pub(crate) fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

pub(crate) fn encode_b64(data: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + b64_len(data.len()), 0);
    let written = B64
        .encode_slice(data, &mut out[start..])
        .unwrap_or_default();
    out.truncate(start + written);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &'static str) -> Result<Packet, DecodeError> {
        Packet::decode_text(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn decode_each_type() {
        assert_eq!(dec("0{}").unwrap(), Packet::Open(Bytes::from_static(b"{}")));
        assert_eq!(dec("1").unwrap(), Packet::Close);
        assert_eq!(dec("2").unwrap(), Packet::Ping);
        assert_eq!(dec("2probe").unwrap(), Packet::PingProbe);
        assert_eq!(dec("3").unwrap(), Packet::Pong);
        assert_eq!(dec("3probe").unwrap(), Packet::PongProbe);
        assert_eq!(
            dec("4héllo").unwrap(),
            Packet::Message(Message::text("héllo"))
        );
        assert_eq!(dec("4").unwrap(), Packet::Message(Message::text("")));
        assert_eq!(dec("5").unwrap(), Packet::Upgrade);
        assert_eq!(dec("6").unwrap(), Packet::Noop);
        assert_eq!(dec(""), Err(DecodeError::Empty));
        assert_eq!(dec("abc"), Err(DecodeError::UnknownType(b'a')));
        assert_eq!(dec("7"), Err(DecodeError::UnknownType(b'7')));
        assert_eq!(
            Packet::decode_text(Bytes::from_static(b"4\xff")),
            Err(DecodeError::Utf8)
        );
    }

    #[test]
    fn encode_roundtrip() {
        let mut out = Vec::new();
        Packet::Message(Message::binary(vec![1u8, 2, 3, 4])).encode_text(&mut out);
        assert_eq!(out, b"bAQIDBA==");
        assert_eq!(
            Packet::Message(Message::binary(vec![1u8, 2, 3, 4])).text_len(),
            out.len()
        );
        out.clear();
        Packet::PongProbe.encode_text(&mut out);
        assert_eq!(out, b"3probe");
        assert_eq!(
            Packet::decode_base64(b"AQIDBA").unwrap(),
            Packet::Message(Message::binary(vec![1u8, 2, 3, 4]))
        );
        assert_eq!(Packet::decode_base64(b"!!"), Err(DecodeError::Base64));
    }
}
