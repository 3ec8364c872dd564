//! The default text parser (`socket.io-parser`):
//! `<type>[<attachments>-][<nsp>,][<id>][<json>]`.

use std::cell::Cell;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::packet::validate;
use super::{Limits, Packet, PacketKind, ProtocolError, Revision, Value};
use crate::value::{Map, Number, N};

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Appends the text form of `packet` to `buf` and returns its binary attachments,
/// in order.
///
/// `buf` may already hold something (for instance the Engine.IO message type `4`):
/// the packet is appended after it. An EVENT or ACK whose data holds
/// [`Value::Binary`] anywhere is written as BINARY_EVENT (`5`) / BINARY_ACK (`6`)
/// with `{"_placeholder":true,"num":N}` in place of each binary, and the binaries
/// are returned, to be sent as separate binary messages after the text. Other
/// kinds write a binary as Node's `Buffer.toJSON()` (`{"type":"Buffer","data":[..]}`).
///
/// The JSON is what Node's `JSON.stringify` writes for the same value: compact,
/// keys in order, the same string escapes and number forms (`1.0` is `1`,
/// `1e21` is `1e+21`, NaN and infinities are `null`). A namespace is written
/// as given; it must not contain a comma (namespaces from the decoders never do).
///
/// ```
/// use sockio::protocol::{encode_json, Packet, Value};
///
/// let mut buf = b"4".to_vec(); // Engine.IO "message" prefix, kept
/// let p = Packet::event("/", "message", vec![Value::Binary(bytes::Bytes::from_static(&[1, 2, 3]))], None);
/// let bins = encode_json(&mut buf, &p);
/// assert_eq!(buf, br#"451-["message",{"_placeholder":true,"num":0}]"#);
/// assert_eq!(bins, vec![bytes::Bytes::from_static(&[1, 2, 3])]);
///
/// let mut buf = Vec::new();
/// encode_json(&mut buf, &Packet::ack("/custom", vec![Value::from(1.0)], 12));
/// assert_eq!(buf, b"3/custom,12[1]");
/// ```
pub fn encode_json(buf: &mut Vec<u8>, packet: &Packet) -> Vec<Bytes> {
    let type_pos = buf.len();
    buf.push(b'0' + packet.kind.code());
    if !packet.nsp.is_empty() && packet.nsp != "/" {
        buf.extend_from_slice(packet.nsp.as_bytes());
        buf.push(b',');
    }
    if let Some(id) = packet.id {
        write_u64(buf, id);
    }
    let mut bins = Vec::new();
    match &packet.data {
        None | Some(Value::Null) => {}
        Some(data) => {
            let mut w = JsonWriter {
                buf,
                bins: match packet.kind {
                    PacketKind::Event | PacketKind::Ack => Some(&mut bins),
                    _ => None,
                },
            };
            w.value(data);
        }
    }
    if !bins.is_empty() {
        buf[type_pos] = if packet.kind == PacketKind::Event {
            b'5'
        } else {
            b'6'
        };
        let mut header = Vec::with_capacity(8);
        write_u64(&mut header, bins.len() as u64);
        header.push(b'-');
        buf.splice(type_pos + 1..type_pos + 1, header);
    }
    bins
}

struct JsonWriter<'a> {
    buf: &'a mut Vec<u8>,
    /// Where binaries go when they become placeholders (EVENT / ACK).
    bins: Option<&'a mut Vec<Bytes>>,
}

impl JsonWriter<'_> {
    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.buf.extend_from_slice(b"null"),
            Value::Bool(true) => self.buf.extend_from_slice(b"true"),
            Value::Bool(false) => self.buf.extend_from_slice(b"false"),
            Value::Number(n) => write_json_number(self.buf, *n),
            Value::String(s) => write_json_str(self.buf, s),
            Value::Binary(b) => match &mut self.bins {
                Some(bins) => {
                    self.buf
                        .extend_from_slice(b"{\"_placeholder\":true,\"num\":");
                    write_u64(self.buf, bins.len() as u64);
                    self.buf.push(b'}');
                    bins.push(b.clone());
                }
                None => {
                    self.buf
                        .extend_from_slice(b"{\"type\":\"Buffer\",\"data\":[");
                    for (i, byte) in b.iter().enumerate() {
                        if i > 0 {
                            self.buf.push(b',');
                        }
                        write_u64(self.buf, u64::from(*byte));
                    }
                    self.buf.extend_from_slice(b"]}");
                }
            },
            Value::Array(a) => {
                self.buf.push(b'[');
                for (i, item) in a.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    self.value(item);
                }
                self.buf.push(b']');
            }
            Value::Object(m) => {
                self.buf.push(b'{');
                for (i, (k, item)) in m.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    write_json_str(self.buf, k);
                    self.buf.push(b':');
                    self.value(item);
                }
                self.buf.push(b'}');
            }
        }
    }
}

/// Writes `v` as `JSON.stringify` would, binary data as `Buffer.toJSON()`.
pub(crate) fn write_json_value(buf: &mut Vec<u8>, v: &Value) {
    JsonWriter { buf, bins: None }.value(v);
}

/// Writes a number in JavaScript's form.
pub(crate) fn write_json_number(buf: &mut Vec<u8>, n: Number) {
    match n.repr() {
        N::PosInt(u) => write_u64(buf, u),
        N::NegInt(i) => {
            buf.push(b'-');
            write_u64(buf, i.unsigned_abs());
        }
        N::Float(f) => write_js_f64(buf, f),
        N::Float32(f) => write_js_f32(buf, f),
    }
}

/// How JavaScript names an object key that is not a string (msgpack maps
/// may have any keys; a JavaScript object's keys are strings).
pub(crate) fn key_string(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => {
            let f = n.as_f64();
            if f.is_nan() {
                "NaN".into()
            } else if f.is_infinite() {
                if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
            } else {
                n.to_string()
            }
        }
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Binary(b) => b.iter().map(u8::to_string).collect::<Vec<_>>().join(","),
        Value::Array(a) => a
            .iter()
            .map(|v| match v {
                Value::Null => String::new(),
                other => key_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// Escape table: 0 = copy as is, `u` = `\u00XX`, other = `\` + that byte.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Writes `s` as a JSON string exactly like `JSON.stringify`.
pub(crate) fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // skip 32 clean bytes at a time (no control char, `"` or `\`), then
        // 8; a window that needs work is handled byte by byte
        if let Some(block) = bytes.get(i..i + 32) {
            let word = |k: usize| {
                let mut w = [0u8; 8];
                w.copy_from_slice(&block[k..k + 8]);
                escape_mask(u64::from_le_bytes(w))
            };
            if word(0) | word(8) | word(16) | word(24) == 0 {
                i += 32;
                continue;
            }
        }
        let end = match bytes.get(i..i + 8) {
            Some(chunk) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                if !needs_escape(u64::from_le_bytes(word)) {
                    i += 8;
                    continue;
                }
                i + 8
            }
            None => bytes.len(),
        };
        while i < end {
            let b = bytes[i];
            let esc = ESCAPE[b as usize];
            if esc != 0 {
                buf.extend_from_slice(&bytes[start..i]);
                if esc == b'u' {
                    buf.extend_from_slice(b"\\u00");
                    buf.push(HEX[(b >> 4) as usize]);
                    buf.push(HEX[(b & 0xf) as usize]);
                } else {
                    buf.push(b'\\');
                    buf.push(esc);
                }
                start = i + 1;
            }
            i += 1;
        }
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Whether any byte of `x` is below 0x20, `"` or `\\` (SWAR test).
#[inline]
fn needs_escape(x: u64) -> bool {
    escape_mask(x) != 0
}

/// Non-zero if some byte of `x` is below 0x20, `"` or `\\`.
#[inline]
fn escape_mask(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_0x20 = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
    below_0x20 | has_zero(x ^ (ONES * u64::from(b'"'))) | has_zero(x ^ (ONES * u64::from(b'\\')))
}

pub(crate) fn write_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Writes `f` as JavaScript's `Number.prototype.toString` (NaN/infinities: `null`).
pub(crate) fn write_js_f64(buf: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        buf.extend_from_slice(b"null");
    } else if f == 0.0 {
        buf.push(b'0');
    } else if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
        if f < 0.0 {
            buf.push(b'-');
        }
        write_u64(buf, f.abs() as u64);
    } else {
        let mut tmp = [0u8; 48];
        let len = exp_repr(&mut tmp, format_args!("{:e}", f.abs()));
        write_js_from_exp(buf, f < 0.0, &tmp[..len]);
    }
}

/// Writes an `f32` with its own shortest digits, in JavaScript's number form.
pub(crate) fn write_js_f32(buf: &mut Vec<u8>, f: f32) {
    if !f.is_finite() {
        buf.extend_from_slice(b"null");
    } else if f == 0.0 {
        buf.push(b'0');
    } else {
        let mut tmp = [0u8; 48];
        let len = exp_repr(&mut tmp, format_args!("{:e}", f.abs()));
        write_js_from_exp(buf, f < 0.0, &tmp[..len]);
    }
}

fn exp_repr(tmp: &mut [u8; 48], args: fmt::Arguments<'_>) -> usize {
    use std::io::Write;
    let mut cursor: &mut [u8] = &mut tmp[..];
    let before = cursor.len();
    // 48 bytes always hold "d.ddddddddddddddddde-324".
    let _ = cursor.write_fmt(args);
    before - cursor.len()
}

/// `repr` is Rust's shortest `{:e}` form (`1.5e-7`, `1e21`); apply the rules of
/// ECMAScript Number::toString (radix 10).
fn write_js_from_exp(buf: &mut Vec<u8>, negative: bool, repr: &[u8]) {
    let e_pos = repr.iter().position(|&c| c == b'e').unwrap_or(repr.len());
    let (mantissa, exp) = repr.split_at(e_pos);
    let exp: i32 = std::str::from_utf8(exp.get(1..).unwrap_or(b"0"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 40];
    let mut k = 0;
    for &c in mantissa {
        if c.is_ascii_digit() && k < digits.len() {
            digits[k] = c;
            k += 1;
        }
    }
    let digits = &digits[..k];
    let k = k as i32;
    let n = exp + 1;
    if negative {
        buf.push(b'-');
    }
    if k <= n && n <= 21 {
        buf.extend_from_slice(digits);
        buf.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        buf.extend_from_slice(&digits[..n as usize]);
        buf.push(b'.');
        buf.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        buf.extend_from_slice(b"0.");
        buf.extend(std::iter::repeat_n(b'0', (-n) as usize));
        buf.extend_from_slice(digits);
    } else {
        buf.push(digits[0]);
        if k > 1 {
            buf.push(b'.');
            buf.extend_from_slice(&digits[1..]);
        }
        buf.push(b'e');
        buf.push(if n - 1 < 0 { b'-' } else { b'+' });
        write_u64(buf, u64::from((n - 1).unsigned_abs()));
    }
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// The result of [`decode_json`].
///
/// ```
/// use sockio::protocol::{decode_json, Decoded, Limits, Revision};
/// let d = decode_json("51-[\"up\",{\"_placeholder\":true,\"num\":0}]", Revision::V5, &Limits::default()).unwrap();
/// assert!(matches!(d, Decoded::NeedsAttachments(ref p) if p.expected() == 1));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// The packet is complete.
    Complete(Packet),
    /// A BINARY_EVENT / BINARY_ACK: its binary attachments follow as the next
    /// binary messages; feed them to [`PartialPacket::push`].
    NeedsAttachments(PartialPacket),
}

/// A binary packet waiting for its attachments.
///
/// ```
/// use bytes::Bytes;
/// use sockio::protocol::{decode_json, Decoded, Limits, Revision, Value};
///
/// let text = r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
/// let Decoded::NeedsAttachments(mut partial) = decode_json(text, Revision::V5, &Limits::default()).unwrap() else {
///     panic!("binary packet expected");
/// };
/// assert_eq!(partial.expected(), 2);
/// assert!(partial.push(Bytes::from_static(&[1, 2, 3])).unwrap().is_none());
/// let packet = partial.push(Bytes::from_static(&[4, 5, 6])).unwrap().expect("complete");
/// assert_eq!(packet.args(), &[Value::Binary(Bytes::from_static(&[1, 2, 3])), Value::Binary(Bytes::from_static(&[4, 5, 6]))]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PartialPacket {
    packet: Option<Packet>,
    expected: usize,
    buffers: Vec<Bytes>,
    /// How many placeholders refer to each attachment.
    refs: Vec<u32>,
}

impl PartialPacket {
    /// How many attachments the packet declared in all.
    ///
    /// ```
    /// # use sockio::protocol::{decode_json, Decoded, Limits, Revision};
    /// # let Decoded::NeedsAttachments(p) = decode_json("61-3[{\"_placeholder\":true,\"num\":0}]", Revision::V5, &Limits::default()).unwrap() else { panic!() };
    /// assert_eq!(p.expected(), 1);
    /// ```
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many attachments are still to come.
    ///
    /// ```
    /// # use sockio::protocol::{decode_json, Decoded, Limits, Revision};
    /// # let Decoded::NeedsAttachments(p) = decode_json("61-3[{\"_placeholder\":true,\"num\":0}]", Revision::V5, &Limits::default()).unwrap() else { panic!() };
    /// assert_eq!(p.remaining(), 1);
    /// ```
    pub fn remaining(&self) -> usize {
        self.expected - self.buffers.len()
    }

    /// The packet with its placeholders still in place (kind, namespace, id and
    /// event name are already known).
    ///
    /// ```
    /// # use sockio::protocol::{decode_json, Decoded, Limits, Revision};
    /// # let Decoded::NeedsAttachments(p) = decode_json("51-[\"up\",{\"_placeholder\":true,\"num\":0}]", Revision::V5, &Limits::default()).unwrap() else { panic!() };
    /// assert_eq!(p.packet().unwrap().event_name(), Some("up"));
    /// ```
    pub fn packet(&self) -> Option<&Packet> {
        self.packet.as_ref()
    }

    /// Adds the next attachment. Returns the complete packet, with every
    /// placeholder (at any depth) replaced by [`Value::Binary`], when this was
    /// the last one; `None` while more are expected.
    ///
    /// # Errors
    ///
    /// [`ProtocolError::UnexpectedAttachment`] once the packet is complete.
    ///
    /// ```
    /// # use bytes::Bytes;
    /// # use sockio::protocol::{decode_json, Decoded, Limits, Revision};
    /// # let Decoded::NeedsAttachments(mut p) = decode_json("51-[\"up\",{\"_placeholder\":true,\"num\":0}]", Revision::V5, &Limits::default()).unwrap() else { panic!() };
    /// assert!(p.push(Bytes::from_static(b"x")).unwrap().is_some());
    /// assert!(p.push(Bytes::from_static(b"y")).is_err());
    /// ```
    pub fn push(&mut self, bin: Bytes) -> Result<Option<Packet>, ProtocolError> {
        if self.packet.is_none() || self.buffers.len() >= self.expected {
            return Err(ProtocolError::UnexpectedAttachment);
        }
        self.buffers.push(bin);
        if self.buffers.len() < self.expected {
            return Ok(None);
        }
        let mut packet = self
            .packet
            .take()
            .ok_or(ProtocolError::UnexpectedAttachment)?;
        let mut slots: Vec<Option<Bytes>> = std::mem::take(&mut self.buffers)
            .into_iter()
            .map(Some)
            .collect();
        if let Some(data) = &mut packet.data {
            fill_placeholders(data, &mut slots, &mut self.refs);
        }
        Ok(Some(packet))
    }
}

/// `Some(num)` when `v` is a placeholder object (`_placeholder` is `true`), with
/// `num` checked.
fn placeholder_num(v: &Value, expected: usize) -> Option<Result<usize, ProtocolError>> {
    let Value::Object(m) = v else { return None };
    if m.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    let idx = match m.get("num") {
        Some(Value::Number(n)) if n.as_f64() < 1e15 => n.as_u64(),
        _ => None,
    };
    Some(match idx {
        Some(i) if (i as usize) < expected && i < u64::from(u32::MAX) => Ok(i as usize),
        Some(i) => Err(ProtocolError::InvalidPlaceholder(format!(
            "num {i} is out of range (the packet declared {expected} attachments)"
        ))),
        None => Err(ProtocolError::InvalidPlaceholder(
            "num must be a non-negative integer".into(),
        )),
    })
}

fn check_placeholders(v: &Value, expected: usize, refs: &mut [u32]) -> Result<(), ProtocolError> {
    if let Some(num) = placeholder_num(v, expected) {
        let num = num?;
        refs[num] = refs[num].saturating_add(1);
        return Ok(());
    }
    match v {
        Value::Array(a) => a
            .iter()
            .try_for_each(|x| check_placeholders(x, expected, refs)),
        Value::Object(m) => m
            .values()
            .try_for_each(|x| check_placeholders(x, expected, refs)),
        _ => Ok(()),
    }
}

fn fill_placeholders(v: &mut Value, slots: &mut [Option<Bytes>], refs: &mut [u32]) {
    if let Some(Ok(num)) = placeholder_num(v, slots.len()) {
        refs[num] = refs[num].saturating_sub(1);
        let data = if refs[num] == 0 {
            slots[num].take()
        } else {
            slots[num].clone()
        };
        *v = Value::Binary(data.unwrap_or_default());
        return;
    }
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| fill_placeholders(x, slots, refs)),
        Value::Object(m) => m
            .iter_mut()
            .for_each(|(_, x)| fill_placeholders(x, slots, refs)),
        _ => {}
    }
}

/// Decodes one text packet: `text` is the Socket.IO packet, without the
/// Engine.IO message type `4` in front.
///
/// Validation follows Node's `socket.io-parser`: a known type; for binary types a
/// count `1..=limits.max_attachments`; an ack id that fits in a `u64`; JSON that
/// parses entirely; CONNECT data an object or absent, DISCONNECT no data,
/// CONNECT_ERROR an object or a string, EVENT an array whose first element is a
/// string not in [`RESERVED_EVENTS`](super::RESERVED_EVENTS), ACK an array (an ACK
/// without data is taken as no arguments). Placeholders are checked when the text
/// arrives (each `num` must name a declared attachment).
///
/// With [`Revision::V4`], a CONNECT namespace may carry a query string
/// (`0/private?token=secret,`, seen as `40/private?token=secret,` inside the
/// Engine.IO message): the namespace is `/private` and, when the packet
/// has no JSON data, its data is the query as a map of strings (url-decoded,
/// `+` is a space; a repeated key gives an array), which the server treats as the
/// auth object.
///
/// # Errors
///
/// A [`ProtocolError`] for anything malformed; the server should close the
/// connection.
///
/// ```
/// use sockio::protocol::{decode_json, Decoded, Limits, Packet, Revision, Value};
///
/// let limits = Limits::default();
/// let Decoded::Complete(p) = decode_json("0/custom,{\"token\":\"abc\"}", Revision::V5, &limits).unwrap() else { panic!() };
/// assert_eq!(p.nsp, "/custom");
/// assert_eq!(p.data.unwrap()["token"], Value::from("abc"));
///
/// let Decoded::Complete(p) = decode_json("0/private?token=secret,", Revision::V4, &limits).unwrap() else { panic!() };
/// assert_eq!(p.nsp, "/private");
/// assert_eq!(p.data.unwrap()["token"], Value::from("secret"));
///
/// assert!(decode_json("2abc[\"x\"]", Revision::V5, &limits).is_err());
/// ```
pub fn decode_json(text: &str, rev: Revision, limits: &Limits) -> Result<Decoded, ProtocolError> {
    decode_json_parts(text, rev, limits)?.into_decoded()
}

/// A decoded text packet whose namespace still borrows the text: the
/// server's hot path looks the socket up by it without copying it.
pub(crate) struct Parts<'a> {
    pub kind: PacketKind,
    pub nsp: &'a str,
    pub id: Option<u64>,
    pub data: Option<Value>,
    /// An EVENT's name when the decoder read it apart from `data` (then an
    /// array of the arguments alone), borrowed from the input: the hot path
    /// allocates no string for it.
    pub event: Option<&'a str>,
    /// Binary attachments that follow (0: the packet is complete).
    pub attachments: usize,
}

impl Parts<'_> {
    /// The packet, waiting for its attachments if it has some.
    pub(crate) fn into_decoded(self) -> Result<Decoded, ProtocolError> {
        let mut data = self.data;
        if let (Some(name), Some(Value::Array(args))) = (self.event, &mut data) {
            args.insert(0, Value::from(name));
        }
        let packet = Packet {
            kind: self.kind,
            nsp: self.nsp.to_owned(),
            id: self.id,
            data,
        };
        if self.attachments == 0 {
            return Ok(Decoded::Complete(packet));
        }
        let mut refs = vec![0u32; self.attachments];
        if let Some(d) = &packet.data {
            check_placeholders(d, self.attachments, &mut refs)?;
        }
        Ok(Decoded::NeedsAttachments(PartialPacket {
            packet: Some(packet),
            expected: self.attachments,
            buffers: Vec::with_capacity(self.attachments),
            refs,
        }))
    }
}

/// [`decode_json`] up to the namespace's copy.
pub(crate) fn decode_json_parts<'a>(
    text: &'a str,
    rev: Revision,
    limits: &Limits,
) -> Result<Parts<'a>, ProtocolError> {
    let b = text.as_bytes();
    let Some(&first) = b.first() else {
        return Err(ProtocolError::Empty);
    };
    let (kind, binary) = match first {
        b'0'..=b'4' => (
            PacketKind::from_code(u64::from(first - b'0')).unwrap_or(PacketKind::Event),
            false,
        ),
        b'5' => (PacketKind::Event, true),
        b'6' => (PacketKind::Ack, true),
        _ => {
            let c = text.chars().next().unwrap_or('\0');
            return Err(ProtocolError::UnknownType(c.to_string()));
        }
    };
    let mut i = 1;
    let mut attachments = 0usize;
    if binary {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || b.get(i) != Some(&b'-') {
            return Err(ProtocolError::InvalidAttachmentCount);
        }
        let count = text[start..i].parse::<usize>().unwrap_or(usize::MAX);
        if count == 0 {
            return Err(ProtocolError::InvalidAttachmentCount);
        }
        if count > limits.max_attachments {
            return Err(ProtocolError::TooManyAttachments {
                count,
                max: limits.max_attachments,
            });
        }
        attachments = count;
        i += 1;
    }
    let mut nsp = "/";
    if b.get(i) == Some(&b'/') {
        let rest = &text[i..];
        match rest.find(',') {
            Some(p) => {
                nsp = &rest[..p];
                i += p + 1;
            }
            None => {
                nsp = rest;
                i = b.len();
            }
        }
    }
    let mut id = None;
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i > start {
        // At most 19 digits always fit; more may not (u64::MAX has 20).
        let digits = &b[start..i];
        let mut n: u64 = 0;
        for &d in digits {
            // No `ok_or(error)`: it would build and drop an error per digit.
            let Some(next) = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
            else {
                return Err(ProtocolError::InvalidAckId);
            };
            n = next;
        }
        id = Some(n);
    }
    let rest = &text[i..];
    let mut event = None;
    let mut data = if rest.is_empty() {
        None
    } else if let Some((name, args)) = (kind == PacketKind::Event && !binary)
        .then(|| fast::parse_event(rest, limits.max_depth))
        .flatten()
    {
        if super::RESERVED_EVENTS.contains(&name) {
            return Err(ProtocolError::ReservedEvent(name.to_owned()));
        }
        event = Some(name);
        Some(Value::Array(args))
    } else {
        Some(parse_json_value(rest, limits.max_depth)?)
    };
    if rev == Revision::V4 && kind == PacketKind::Connect {
        if let Some(q) = nsp.find('?') {
            if data.is_none() {
                data = Some(parse_query(&nsp[q + 1..]));
            }
            nsp = &nsp[..q];
        }
    }
    if event.is_none() {
        validate(kind, &mut data)?;
    }
    Ok(Parts {
        kind,
        nsp,
        id,
        data,
        event,
        attachments: if binary { attachments } else { 0 },
    })
}

/// Parses a whole JSON document into a [`Value`], keeping key order and capping
/// the nesting depth.
pub(crate) fn parse_json_value(json: &str, max_depth: usize) -> Result<Value, ProtocolError> {
    if let Some(v) = fast::parse(json, max_depth) {
        return Ok(v);
    }
    parse_json_serde(json, max_depth)
}

/// [`parse_json_value`] by serde_json alone.
fn parse_json_serde(json: &str, max_depth: usize) -> Result<Value, ProtocolError> {
    let too_deep = Cell::new(false);
    let mut de = serde_json::Deserializer::from_str(json);
    let seed = ValueSeed {
        depth: 0,
        max_depth,
        too_deep: &too_deep,
    };
    let result = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    match result {
        Ok(v) => Ok(v),
        Err(_) if too_deep.get() => Err(ProtocolError::TooDeep { max: max_depth }),
        Err(e) => Err(ProtocolError::Json(e)),
    }
}

/// Builds a [`Value`] from any self-describing deserializer, with a depth cap.
#[derive(Clone, Copy)]
struct ValueSeed<'a> {
    depth: usize,
    max_depth: usize,
    too_deep: &'a Cell<bool>,
}

impl ValueSeed<'_> {
    fn enter<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= self.max_depth {
            self.too_deep.set(true);
            return Err(E::custom("payload nested too deeply"));
        }
        Ok(ValueSeed {
            depth: self.depth + 1,
            ..self
        })
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::copy_from_slice(v)))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::from(v)))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(child)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let child = self.enter()?;
        let mut out = Map::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(child)?;
            out.push(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Most `&`-separated pairs read from a protocol-4 CONNECT query, as Node's
/// `querystring.parse` (`maxKeys`, default 1000): the rest is ignored. Without
/// it, merging repeated keys made a 1 MB query of distinct keys cost minutes
/// of CPU (quadratic).
const MAX_QUERY_PAIRS: usize = 1000;

/// Parses `a=1&b=x+y` into a map of strings, like Node's `querystring.parse`.
fn parse_query(q: &str) -> Value {
    let mut out = Map::new();
    for part in q.split('&').filter(|p| !p.is_empty()).take(MAX_QUERY_PAIRS) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = url_decode(k);
        let v = Value::from(url_decode(v));
        match out.get_mut(&k) {
            Some(Value::Array(items)) => items.push(v),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, v]);
            }
            None => out.push(k, v),
        }
    }
    Value::Object(out)
}

fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The JSON that `JSON.stringify` writes for ordinary payloads, parsed
/// without serde's visitor machinery: arrays, objects, strings without
/// escapes, integers, `true`, `false`, `null`, no whitespace. Anything else
/// (an escape, a fraction, whitespace, an error, nesting past the cap) gives
/// `None` and the input goes to serde_json, so the result is always what
/// serde_json would give. Measured on the echo benchmark: about 650 fewer
/// instructions per event than serde_json for `["echo","<64 bytes>"]`.
mod fast {
    use super::{escape_mask, Map, Value};

    pub(super) fn parse(json: &str, max_depth: usize) -> Option<Value> {
        let mut p = Parser {
            s: json,
            b: json.as_bytes(),
            i: 0,
        };
        let v = p.value(0, max_depth)?;
        (p.i == p.b.len()).then_some(v)
    }

    /// An EVENT's data, `["name", args...]`, as [`parse`] reads it, but with
    /// the name borrowed from the input and kept apart from the arguments.
    /// `None` where `parse` would give `None` or the first element is not a
    /// string.
    pub(super) fn parse_event(json: &str, max_depth: usize) -> Option<(&str, Vec<Value>)> {
        let mut p = Parser {
            s: json,
            b: json.as_bytes(),
            i: 1,
        };
        // The array is at depth 0, its elements at 1 (as in `value`).
        if json.as_bytes().first() != Some(&b'[')
            || p.b.get(1) != Some(&b'"')
            || max_depth.min(SERDE_DEPTH) == 0
        {
            return None;
        }
        let name = p.string()?;
        let mut args = Vec::new();
        loop {
            match *p.b.get(p.i)? {
                b',' => {
                    p.i += 1;
                    args.push(p.value(1, max_depth)?);
                }
                b']' => {
                    p.i += 1;
                    break;
                }
                _ => return None,
            }
        }
        (p.i == p.b.len()).then_some((name, args))
    }

    /// serde_json's own recursion limit: deeper input is its to refuse,
    /// and this parser's recursion stays as bounded as serde's.
    const SERDE_DEPTH: usize = 128;

    struct Parser<'a> {
        s: &'a str,
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Parser<'a> {
        fn value(&mut self, depth: usize, max_depth: usize) -> Option<Value> {
            match *self.b.get(self.i)? {
                b'"' => self.string().map(Value::from),
                b'[' => {
                    if depth >= max_depth.min(SERDE_DEPTH) {
                        return None;
                    }
                    self.i += 1;
                    let mut out = Vec::new();
                    if self.b.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Some(Value::Array(out));
                    }
                    loop {
                        out.push(self.value(depth + 1, max_depth)?);
                        match *self.b.get(self.i)? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                return Some(Value::Array(out));
                            }
                            _ => return None,
                        }
                    }
                }
                b'{' => {
                    if depth >= max_depth.min(SERDE_DEPTH) {
                        return None;
                    }
                    self.i += 1;
                    let mut out = Map::new();
                    if self.b.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Some(Value::Object(out));
                    }
                    loop {
                        if self.b.get(self.i) != Some(&b'"') {
                            return None;
                        }
                        let k = self.string()?;
                        if self.b.get(self.i) != Some(&b':') {
                            return None;
                        }
                        self.i += 1;
                        let v = self.value(depth + 1, max_depth)?;
                        out.push(k.to_owned(), v);
                        match *self.b.get(self.i)? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                return Some(Value::Object(out));
                            }
                            _ => return None,
                        }
                    }
                }
                b't' => self.word("true", Value::Bool(true)),
                b'f' => self.word("false", Value::Bool(false)),
                b'n' => self.word("null", Value::Null),
                b'-' => {
                    self.i += 1;
                    let n = self.digits()?;
                    // `-0` is a float to serde_json: leave it to serde.
                    (n != 0).then(|| Value::from(-(n as i64)))
                }
                b'0'..=b'9' => self.digits().map(Value::from),
                _ => None,
            }
        }

        /// A string without escapes or control characters; `self.i` is on
        /// its opening quote.
        fn string(&mut self) -> Option<&'a str> {
            let start = self.i + 1;
            let mut i = start;
            while let Some(block) = self.b.get(i..i + 32) {
                let word = |k: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&block[k..k + 8]);
                    escape_mask(u64::from_le_bytes(w))
                };
                if word(0) | word(8) | word(16) | word(24) != 0 {
                    break;
                }
                i += 32;
            }
            while let Some(chunk) = self.b.get(i..i + 8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                if escape_mask(u64::from_le_bytes(w)) != 0 {
                    break;
                }
                i += 8;
            }
            loop {
                match *self.b.get(i)? {
                    b'"' => break,
                    b'\\' | 0..=0x1f => return None,
                    _ => i += 1,
                }
            }
            self.i = i + 1;
            // Both ends are ASCII quotes: a char boundary of the `&str`.
            Some(&self.s[start..i])
        }

        /// An integer of at most 18 digits without a leading zero, not
        /// followed by a fraction or an exponent.
        fn digits(&mut self) -> Option<u64> {
            let start = self.i;
            let mut n: u64 = 0;
            while let Some(&c @ b'0'..=b'9') = self.b.get(self.i) {
                // Wraps past 18 digits, which are refused below.
                n = n.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                self.i += 1;
            }
            let len = self.i - start;
            let leading_zero = len > 1 && self.b[start] == b'0';
            if len == 0 || len > 18 || leading_zero {
                return None;
            }
            match self.b.get(self.i) {
                Some(b'.' | b'e' | b'E') => None,
                _ => Some(n),
            }
        }

        fn word(&mut self, w: &str, v: Value) -> Option<Value> {
            if self.b[self.i..].starts_with(w.as_bytes()) {
                self.i += w.len();
                Some(v)
            } else {
                None
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::parse_json_serde;
        use super::{parse, parse_event};
        use crate::protocol::Value;

        /// Whatever the fast path accepts, it reads as serde_json does; and
        /// `parse_event` takes exactly the arrays starting with a string that
        /// `parse` takes, reading them the same.
        fn same(json: &str) -> bool {
            let fast = parse(json, 8);
            if let Some(v) = &fast {
                assert_eq!(Some(v), parse_json_serde(json, 8).ok().as_ref(), "{json}");
            }
            let event = parse_event(json, 8).map(|(name, mut args)| {
                args.insert(0, Value::from(name));
                Value::Array(args)
            });
            let event_shaped = matches!(&fast, Some(Value::Array(a)) if matches!(a.first(), Some(Value::String(_))));
            assert_eq!(event, fast.clone().filter(|_| event_shaped), "{json}");
            fast.is_some()
        }

        #[test]
        fn parse_event_keeps_the_depth_limit() {
            assert!(parse_event(r#"["a",[1]]"#, 2).is_some());
            assert!(parse_event(r#"["a",[[1]]]"#, 2).is_none());
            assert!(parse_event(r#"["a"]"#, 0).is_none());
            assert_eq!(parse_event(r#"["a"]"#, 1), Some(("a", vec![])));
        }

        #[test]
        fn agrees_with_serde_json() {
            for ok in [
                r#"["echo","hello"]"#,
                r#"["a",{"b":[1,-2,0,true,false,null],"c":{}},[]]"#,
                r#"{"k":"v","k":"w"}"#,
                r#"["é, ☃ and 𝄞 are fine","0123456789abcdef0123456789abcdef01234"]"#,
                r#"[999999999999999999,-999999999999999999]"#,
                r#""""#,
                "0",
            ] {
                assert!(same(ok), "the fast path should take {ok}");
            }
            for other in [
                r#"["a\"b"]"#,
                "[1.5]",
                "[1e3]",
                "[-0]",
                "[01]",
                "[1234567890123456789]",
                "[ 1]",
                "[1,]",
                "[,1]",
                r#"{"a" :1}"#,
                r#"{"a":1,}"#,
                r#"{1:2}"#,
                "[tru]",
                "[nul",
                "[\"tab\there\"]",
                "[[[[[[[[[[1]]]]]]]]]]",
                "[]]",
                "",
                "-",
            ] {
                assert!(
                    !same(other),
                    "the fast path should leave {other} to serde_json"
                );
            }
        }

        #[test]
        fn agrees_with_serde_json_on_generated_documents() {
            // A small deterministic generator (xorshift) of documents from
            // the pieces either parser may meet.
            let pieces = [
                "[", "]", "{", "}", ",", ":", "\"", "a", "é", "\\", "1", "0", "-", ".", "e",
                "true", "null", " ", "\"k\":",
            ];
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut accepted = 0;
            for _ in 0..20_000 {
                let mut doc = String::new();
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = 1 + (x % 12) as usize;
                for _ in 0..n {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    doc.push_str(pieces[(x % pieces.len() as u64) as usize]);
                }
                if same(&doc) {
                    accepted += 1;
                }
            }
            assert!(
                accepted > 100,
                "only {accepted} generated documents were valid"
            );
        }
    }
}
