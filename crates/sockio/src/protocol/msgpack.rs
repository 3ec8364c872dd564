//! The msgpack parser (`socket.io-msgpack-parser` 3.x, built on notepack.io): one
//! packet is one msgpack map `{type, nsp, data?, id?}`.

use super::packet::validate;
use super::{Limits, Packet, PacketKind, ProtocolError, Value};
use crate::value::{Map, N};

/// Encodes `packet` as one msgpack map, as `socket.io-msgpack-parser` does.
///
/// Keys are written in the order `type`, `nsp`, `data` (when present), `id`
/// (only when there is one: the JavaScript decoder rejects `id: nil`). `nsp` is
/// always written, `"/"` included. Binaries stay inline as msgpack `bin` (there
/// are no BINARY_EVENT / BINARY_ACK types here). Numbers are written like
/// notepack writes them: integers (and floats with an integral value, as
/// JavaScript does not tell them apart) in their smallest form, other floats as
/// float64 (an `f32` stays a float32).
///
/// ```
/// use sockio::protocol::{encode_msgpack, Packet, Value};
/// let bytes = encode_msgpack(&Packet::event("/", "a", vec![Value::from(300)], None));
/// assert_eq!(
///     bytes,
///     [&[0x83, 0xa4][..], b"type", &[0x02, 0xa3], b"nsp", &[0xa1, b'/', 0xa4], b"data",
///      &[0x92, 0xa1, b'a', 0xcd, 0x01, 0x2c]].concat()
/// );
/// ```
pub fn encode_msgpack(packet: &Packet) -> Vec<u8> {
    let mut buf = Vec::with_capacity(32);
    encode_msgpack_to(&mut buf, packet);
    buf
}

/// Like [`encode_msgpack`], appending to `buf`.
///
/// ```
/// use sockio::protocol::{encode_msgpack, encode_msgpack_to, Packet};
/// let mut buf = Vec::new();
/// encode_msgpack_to(&mut buf, &Packet::disconnect("/"));
/// assert_eq!(buf, encode_msgpack(&Packet::disconnect("/")));
/// ```
pub fn encode_msgpack_to(buf: &mut Vec<u8>, packet: &Packet) {
    let len = 2 + usize::from(packet.data.is_some()) + usize::from(packet.id.is_some());
    write_map_len(buf, len);
    write_str(buf, "type");
    write_uint(buf, u64::from(packet.kind.code()));
    write_str(buf, "nsp");
    write_str(
        buf,
        if packet.nsp.is_empty() {
            "/"
        } else {
            &packet.nsp
        },
    );
    if let Some(data) = &packet.data {
        write_str(buf, "data");
        write_value(buf, data);
    }
    if let Some(id) = packet.id {
        write_str(buf, "id");
        write_uint(buf, id);
    }
}

fn write_uint(buf: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        buf.push(n as u8);
    } else if n < 0x100 {
        buf.extend_from_slice(&[0xcc, n as u8]);
    } else if n < 0x1_0000 {
        buf.push(0xcd);
        buf.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n < 0x1_0000_0000 {
        buf.push(0xce);
        buf.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        buf.push(0xcf);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

fn write_int(buf: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        write_uint(buf, n as u64);
    } else if n >= -0x20 {
        buf.push(n as u8);
    } else if n >= -0x80 {
        buf.extend_from_slice(&[0xd0, n as u8]);
    } else if n >= -0x8000 {
        buf.push(0xd1);
        buf.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -0x8000_0000 {
        buf.push(0xd2);
        buf.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        buf.push(0xd3);
        buf.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes an integral float as an integer when it fits; `false` otherwise.
fn write_integral(buf: &mut Vec<u8>, f: f64) -> bool {
    if !f.is_finite() || f.fract() != 0.0 {
        return false;
    }
    if (0.0..18_446_744_073_709_551_616.0).contains(&f) || f == 0.0 {
        write_uint(buf, f as u64);
        true
    } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
        write_int(buf, f as i64);
        true
    } else {
        false
    }
}

fn write_len(
    buf: &mut Vec<u8>,
    len: usize,
    fix: Option<(u8, usize)>,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
) {
    match fix {
        Some((base, max)) if len < max => buf.push(base | len as u8),
        _ => {
            if let (Some(m), true) = (m8, len < 0x100) {
                buf.extend_from_slice(&[m, len as u8]);
            } else if len < 0x1_0000 {
                buf.push(m16);
                buf.extend_from_slice(&(len as u16).to_be_bytes());
            } else {
                buf.push(m32);
                buf.extend_from_slice(&(len as u32).to_be_bytes());
            }
        }
    }
}

fn write_map_len(buf: &mut Vec<u8>, len: usize) {
    write_len(buf, len, Some((0x80, 16)), None, 0xde, 0xdf);
}

fn write_str_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    write_len(buf, s.len(), Some((0xa0, 32)), Some(0xd9), 0xda, 0xdb);
    buf.extend_from_slice(s);
}

fn write_str(buf: &mut Vec<u8>, s: &str) {
    write_str_bytes(buf, s.as_bytes());
}

fn write_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => buf.push(0xc0),
        Value::Bool(b) => buf.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => match n.repr() {
            N::PosInt(u) => write_uint(buf, u),
            N::NegInt(i) => write_int(buf, i),
            N::Float(f) => {
                if !write_integral(buf, f) {
                    buf.push(0xcb);
                    buf.extend_from_slice(&f.to_be_bytes());
                }
            }
            N::Float32(f) => {
                if !write_integral(buf, f64::from(f)) {
                    buf.push(0xca);
                    buf.extend_from_slice(&f.to_be_bytes());
                }
            }
        },
        Value::String(s) => write_str_bytes(buf, s.as_bytes()),
        Value::Binary(b) => {
            write_len(buf, b.len(), None, Some(0xc4), 0xc5, 0xc6);
            buf.extend_from_slice(b);
        }
        Value::Array(a) => {
            write_len(buf, a.len(), Some((0x90, 16)), None, 0xdc, 0xdd);
            for item in a {
                write_value(buf, item);
            }
        }
        Value::Object(m) => {
            write_map_len(buf, m.len());
            for (k, item) in m.iter() {
                write_str(buf, k);
                write_value(buf, item);
            }
        }
    }
}

/// Encodes one [`Value`] as msgpack, appending to `buf`, with the same rules
/// as [`encode_msgpack`] (notepack.io's forms: integral floats as integers,
/// binaries as `bin`). Cluster adapters use it for the messages they exchange.
///
/// ```
/// use sockio::protocol::{decode_msgpack_value, encode_msgpack_value, Limits, Value};
/// let v = sockio::value!({"a": [1, 2.5, "x", null]});
/// let mut buf = Vec::new();
/// encode_msgpack_value(&mut buf, &v);
/// assert_eq!(decode_msgpack_value(&buf, &Limits::default()).unwrap(), v);
/// ```
pub fn encode_msgpack_value(buf: &mut Vec<u8>, value: &Value) {
    write_value(buf, value);
}

/// Decodes one msgpack value (any type; notepack's `undefined` reads as
/// [`Value::Null`], its `Date` as milliseconds), nested at most
/// `limits.max_depth` deep. Bytes after the value are an error.
///
/// # Errors
///
/// A [`ProtocolError`] for anything malformed; never panics.
///
/// ```
/// use sockio::protocol::{decode_msgpack_value, Limits, Value};
/// assert_eq!(decode_msgpack_value(&[0x92, 0x01, 0xc0], &Limits::default()).unwrap(),
///            Value::Array(vec![Value::from(1), Value::Null]));
/// assert!(decode_msgpack_value(&[0x92, 0x01], &Limits::default()).is_err());
/// ```
pub fn decode_msgpack_value(data: &[u8], limits: &Limits) -> Result<Value, ProtocolError> {
    if data.is_empty() {
        return Err(ProtocolError::Empty);
    }
    let mut r = Reader {
        b: data,
        pos: 0,
        max_depth: limits.max_depth,
        reserve: data.len(),
    };
    let v = r.value(0)?;
    if r.pos != data.len() {
        return Err(ProtocolError::Msgpack(format!(
            "{} trailing bytes after the value",
            data.len() - r.pos
        )));
    }
    Ok(v)
}

/// Decodes one msgpack packet.
///
/// Accepts any key order, every integer and float width (an integral float is
/// taken as an integer where one is required), extra keys (ignored), and
/// notepack's `undefined` (fixext 1 `d4 00 00`) anywhere, read as
/// [`Value::Null`] (`id: nil` is taken as no id). `type` must be 0 to 4, `nsp` a
/// string, and the data must have the shape its type requires (the same rules
/// as [`decode_json`](super::decode_json)). Bytes after the map are an error.
///
/// # Errors
///
/// A [`ProtocolError`] for anything malformed; never panics.
///
/// ```
/// use sockio::protocol::{decode_msgpack, encode_msgpack, Limits, Packet, Value};
/// let p = Packet::ack("/", vec![Value::Binary(bytes::Bytes::from_static(&[1, 2])), Value::Null], 9);
/// assert_eq!(decode_msgpack(&encode_msgpack(&p), &Limits::default()).unwrap(), p);
/// assert!(decode_msgpack(&[0xc1], &Limits::default()).is_err());
/// ```
pub fn decode_msgpack(data: &[u8], limits: &Limits) -> Result<Packet, ProtocolError> {
    decode_msgpack_with(data, limits, true)
}

/// As [`decode_msgpack`], with CONNECT data of any type when `strict` is
/// false (the server then applies the namespace's rules to it).
pub(crate) fn decode_msgpack_with(
    data: &[u8],
    limits: &Limits,
    strict: bool,
) -> Result<Packet, ProtocolError> {
    if data.is_empty() {
        return Err(ProtocolError::Empty);
    }
    let mut r = Reader {
        b: data,
        pos: 0,
        max_depth: limits.max_depth,
        reserve: data.len(),
    };
    let marker = r.u8()?;
    let len = match marker {
        0x80..=0x8f => usize::from(marker & 0x0f),
        0xde => usize::from(r.u16()?),
        0xdf => r.u32()? as usize,
        _ => return Err(ProtocolError::Msgpack("a packet must be a map".into())),
    };
    let mut kind = None;
    let mut nsp = None;
    let mut payload = None;
    let mut id = None;
    for _ in 0..len {
        let key = r.key()?;
        let value = r.value(0)?;
        match key {
            Some("type") => kind = Some(value),
            Some("nsp") => nsp = Some(value),
            Some("data") => payload = Some(value),
            Some("id") => id = Some(value),
            _ => {}
        }
    }
    if r.pos != data.len() {
        return Err(ProtocolError::Msgpack(format!(
            "{} trailing bytes after the packet",
            data.len() - r.pos
        )));
    }
    let kind = match kind.as_ref().and_then(as_index) {
        Some(code) => PacketKind::from_code(code)
            .ok_or_else(|| ProtocolError::UnknownType(code.to_string()))?,
        None => {
            return Err(ProtocolError::UnknownType(
                kind.map_or_else(|| "(missing)".to_owned(), |k| k.to_string()),
            ))
        }
    };
    let nsp = match nsp {
        Some(Value::String(s)) => s,
        _ => return Err(ProtocolError::InvalidNamespace),
    };
    let id = match id {
        None | Some(Value::Null) => None,
        Some(v) => match as_index(&v) {
            Some(id) => Some(id),
            None => return Err(ProtocolError::InvalidAckId),
        },
    };
    if strict || kind != PacketKind::Connect {
        validate(kind, &mut payload)?;
    } else if payload == Some(Value::Null) {
        payload = None;
    }
    Ok(Packet {
        kind,
        nsp,
        id,
        data: payload,
    })
}

/// A non-negative integer, or a float with such an integral value.
fn as_index(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    max_depth: usize,
    /// Elements that containers may still reserve up front, all levels
    /// together: each element takes at least one input byte, so the
    /// reservations of nested containers cannot add up to more than the
    /// input (each level reserving for all the bytes left made a 1 MB packet
    /// of nested array headers reserve 64 times 32 MB; found by the fuzzers).
    /// Small containers reserve what they declare whatever is left (at most
    /// [`MIN_RESERVE`], what the first push would allocate anyway).
    reserve: usize,
}

/// Elements a container may always reserve (a `Vec`'s first growth).
const MIN_RESERVE: usize = 4;

fn eof() -> ProtocolError {
    ProtocolError::Msgpack("unexpected end of data".into())
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtocolError> {
        let end = self.pos.checked_add(n).ok_or_else(eof)?;
        let s = self.b.get(self.pos..end).ok_or_else(eof)?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProtocolError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, ProtocolError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, ProtocolError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, ProtocolError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }

    /// A top-level key: a short string read without allocating, `None` for
    /// anything else (skipped).
    fn key(&mut self) -> Result<Option<&'a str>, ProtocolError> {
        match self.b.get(self.pos) {
            Some(&m @ 0xa0..=0xbf) => {
                self.pos += 1;
                let s = self.take(usize::from(m & 0x1f))?;
                Ok(std::str::from_utf8(s).ok())
            }
            _ => {
                self.value(0)?;
                Ok(None)
            }
        }
    }

    fn string(&mut self, len: usize) -> Result<Value, ProtocolError> {
        let s = self.take(len)?;
        Ok(Value::from(match std::str::from_utf8(s) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(s).into_owned(),
        }))
    }

    fn ext(&mut self, len: usize) -> Result<Value, ProtocolError> {
        let tag = self.u8()?;
        let data = self.take(len)?;
        // notepack.io's extensions (type 0): `undefined` (one byte) and a
        // `Date` (its time in milliseconds, high and low 32-bit halves) as the
        // number of milliseconds. Other extensions have no meaning here.
        if tag == 0 && data.len() == 8 {
            let hi = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let lo = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            return Ok(Value::from(i64::from(hi) * (1 << 32) + i64::from(lo)));
        }
        Ok(Value::Null)
    }

    fn enter(&self, depth: usize) -> Result<usize, ProtocolError> {
        if depth >= self.max_depth {
            return Err(ProtocolError::TooDeep {
                max: self.max_depth,
            });
        }
        Ok(depth + 1)
    }

    fn seq(&mut self, len: usize, depth: usize) -> Result<Value, ProtocolError> {
        let depth = self.enter(depth)?;
        let cap = len.min(self.remaining()).min(self.reserve.max(MIN_RESERVE));
        self.reserve = self.reserve.saturating_sub(cap);
        let mut out = Vec::with_capacity(cap);
        for _ in 0..len {
            out.push(self.value(depth)?);
        }
        Ok(Value::Array(out))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, ProtocolError> {
        let depth = self.enter(depth)?;
        let cap = len
            .min(self.remaining() / 2)
            .min((self.reserve / 2).max(MIN_RESERVE));
        self.reserve = self.reserve.saturating_sub(cap * 2);
        let mut out = Map::with_capacity(cap);
        for _ in 0..len {
            let k = match self.value(depth)? {
                Value::String(s) => s,
                other => super::json::key_string(&other),
            };
            let v = self.value(depth)?;
            out.push(k, v);
        }
        Ok(Value::Object(out))
    }

    /// Reads one value; `depth` = number of enclosing arrays/maps of the payload.
    fn value(&mut self, depth: usize) -> Result<Value, ProtocolError> {
        let m = self.u8()?;
        Ok(match m {
            0x00..=0x7f => Value::from(m),
            0x80..=0x8f => return self.map(usize::from(m & 0x0f), depth),
            0x90..=0x9f => return self.seq(usize::from(m & 0x0f), depth),
            0xa0..=0xbf => return self.string(usize::from(m & 0x1f)),
            0xc0 => Value::Null,
            0xc1 => return Err(ProtocolError::Msgpack("reserved marker 0xc1".into())),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => {
                let len = match m {
                    0xc4 => usize::from(self.u8()?),
                    0xc5 => usize::from(self.u16()?),
                    _ => self.u32()? as usize,
                };
                Value::Binary(bytes::Bytes::copy_from_slice(self.take(len)?))
            }
            0xc7 => {
                let len = usize::from(self.u8()?);
                return self.ext(len);
            }
            0xc8 => {
                let len = usize::from(self.u16()?);
                return self.ext(len);
            }
            0xc9 => {
                let len = self.u32()? as usize;
                return self.ext(len);
            }
            0xca => Value::from(f32::from_be_bytes(self.array()?)),
            0xcb => Value::from(f64::from_be_bytes(self.array()?)),
            0xcc => Value::from(self.u8()?),
            0xcd => Value::from(self.u16()?),
            0xce => Value::from(self.u32()?),
            0xcf => Value::from(self.u64()?),
            0xd0 => Value::from(self.u8()? as i8),
            0xd1 => Value::from(self.u16()? as i16),
            0xd2 => Value::from(self.u32()? as i32),
            0xd3 => Value::from(self.u64()? as i64),
            0xd4 => return self.ext(1),
            0xd5 => return self.ext(2),
            0xd6 => return self.ext(4),
            0xd7 => return self.ext(8),
            0xd8 => return self.ext(16),
            0xd9 => {
                let len = usize::from(self.u8()?);
                return self.string(len);
            }
            0xda => {
                let len = usize::from(self.u16()?);
                return self.string(len);
            }
            0xdb => {
                let len = self.u32()? as usize;
                return self.string(len);
            }
            0xdc => {
                let len = usize::from(self.u16()?);
                return self.seq(len, depth);
            }
            0xdd => {
                let len = self.u32()? as usize;
                return self.seq(len, depth);
            }
            0xde => {
                let len = usize::from(self.u16()?);
                return self.map(len, depth);
            }
            0xdf => {
                let len = self.u32()? as usize;
                return self.map(len, depth);
            }
            0xe0..=0xff => Value::from(m as i8),
        })
    }
}
