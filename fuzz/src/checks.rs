//! What every fuzz target checks, beyond "does not crash".
//!
//! Plain functions over bytes with no dependency on libFuzzer, so the same
//! checks replay the committed seed corpus in the workspace's ordinary tests
//! (`crates/sockio/tests/fuzz_corpus.rs` includes this file) and run under
//! libFuzzer here (`fuzz_targets/*.rs`). A violated property panics.
//!
//! Properties:
//!
//! * **Round trips.** A packet (or payload) a decoder accepts is encoded again
//!   by the matching encoder and decoded back to the same thing
//!   (`decode(encode(decode(x))) == decode(x)`; numbers compared by value, as
//!   `1.0` and `1` are the same number in JSON and msgpack).
//! * **Shapes.** Decoded Socket.IO packets have the shape the protocol module
//!   documents for their kind (EVENT: an array starting with a string, ...).
//! * **Attachments.** A binary packet asks for exactly the count it declared
//!   (within `Limits::max_attachments`), completes on the last push, refuses
//!   one more, and every placeholder becomes the attachment it names.
//! * **Bounded memory.** The bytes a decoder holds at its peak (everything it
//!   allocated and had not freed, its result included) stay under
//!   [`ALLOC_FACTOR`] times its input plus [`ALLOC_SLACK`]. The input of the
//!   attachment target counts the attachments' bytes.

use bytes::Bytes;
use sockio::protocol::{
    decode_json, decode_msgpack, encode_json, encode_msgpack, Decoded, Limits, Packet as SioPacket,
    PacketKind, Revision, Value,
};
use sockio_engine::codec::{v3, v4, Packet};

/// Most bytes a decoder may hold per byte of input.
///
/// A decoded value costs 40 bytes (`rmpv::Value`): a msgpack value can be
/// one byte, and a vector filled by pushes may have twice the room it needs,
/// so about 80 per input byte is the worst legitimate case; the bound leaves
/// some room above that.
pub const ALLOC_FACTOR: usize = 128;
/// Fixed allowance on top of [`ALLOC_FACTOR`] (small inputs, the packet's own vectors).
pub const ALLOC_SLACK: usize = 16 * 1024;

/// Counts the bytes live on the current thread, to check [`ALLOC_FACTOR`].
pub mod alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static CUR: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    /// The system allocator, counting live bytes per thread. Install it with
    /// `#[global_allocator]` in the binary that runs the checks.
    pub struct Counting;

    fn add(n: usize) {
        let _ = CUR.try_with(|c| {
            let v = c.get().wrapping_add(n as isize);
            c.set(v);
            let _ = PEAK.try_with(|p| {
                if v > p.get() {
                    p.set(v);
                }
            });
        });
    }

    fn sub(n: usize) {
        let _ = CUR.try_with(|c| c.set(c.get().wrapping_sub(n as isize)));
    }

    // SAFETY: every call is forwarded to `System` with the caller's arguments;
    // the counters are const-initialised thread-locals (no allocation, no drop).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc(l) };
            if !p.is_null() {
                add(l.size());
            }
            p
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            let p = unsafe { System.alloc_zeroed(l) };
            if !p.is_null() {
                add(l.size());
            }
            p
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            unsafe { System.dealloc(p, l) };
            sub(l.size());
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            let q = unsafe { System.realloc(p, l, new) };
            if !q.is_null() {
                sub(l.size());
                add(new);
            }
            q
        }
    }

    /// Runs `f`; returns its result and the most bytes that were live at once
    /// during it, beyond those live before (its result included). Without
    /// [`Counting`] installed the count is 0.
    pub fn measure<R>(f: impl FnOnce() -> R) -> (R, usize) {
        let base = CUR.with(Cell::get);
        PEAK.with(|p| p.set(base));
        let r = f();
        let peak = PEAK.with(Cell::get).wrapping_sub(base);
        (r, peak.max(0) as usize)
    }
}

fn check_alloc(what: &str, input_len: usize, peak: usize) {
    let bound = ALLOC_FACTOR * input_len + ALLOC_SLACK;
    assert!(
        peak <= bound,
        "{what}: held {peak} bytes for {input_len} bytes of input (bound {bound})"
    );
}

/// A reader of structured choices out of fuzz bytes (zeros once exhausted).
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    /// The next byte, 0 at the end.
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    /// The next two bytes as a number.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    /// The next eight bytes as a number.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |a, _| (a << 8) | u64::from(self.byte()))
    }
    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    /// Whether anything is left.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// ---------------------------------------------------------------------------
// Engine.IO
// ---------------------------------------------------------------------------

/// One Engine.IO packet in text form (a WebSocket text frame).
pub fn eio_packet(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    let (res, peak) = alloc::measure(|| Packet::decode_text(input));
    check_alloc("Packet::decode_text", data.len(), peak);
    let Ok(p) = res else { return };
    assert!(
        !matches!(&p, Packet::Message(m) if m.is_binary()),
        "a text frame decoded to a binary message: {p:?}"
    );
    let mut out = Vec::new();
    p.encode_text(&mut out);
    let again = Packet::decode_text(Bytes::from(out.clone()))
        .unwrap_or_else(|e| panic!("re-decoding {p:?} (encoded {out:?}): {e}"));
    assert_eq!(again, p, "round trip of a single packet");
}

/// An Engine.IO v4 polling payload.
pub fn eio_v4_payload(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    let (res, peak) = alloc::measure(|| v4::decode_payload(input));
    check_alloc("v4::decode_payload", data.len(), peak);
    let Ok(packets) = res else { return };
    assert!(!packets.is_empty(), "a payload decoded to no packet");
    let enc = v4::encode_payload(&packets);
    let again = v4::decode_payload(Bytes::from(enc.clone()))
        .unwrap_or_else(|e| panic!("re-decoding {packets:?} (encoded {enc:?}): {e}"));
    assert_eq!(again, packets, "v4 payload round trip");
}

/// An Engine.IO v3 text payload (`<utf16 length>:<packet>` records).
pub fn eio_v3_text_payload(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    let (res, peak) = alloc::measure(|| v3::decode_text_payload(input));
    check_alloc("v3::decode_text_payload", data.len(), peak);
    let Ok(packets) = res else { return };
    // A record that reads as socket.io-client 1.x's UTF-8 encoding of another
    // text is decoded (documented heuristic, see v3::undo_utf8_encoding): a
    // packet whose text form looks like one cannot come back as itself.
    let ambiguous = packets.iter().any(|p| {
        let mut t = Vec::new();
        p.encode_text(&mut t);
        std::str::from_utf8(&t)
            .ok()
            .and_then(v3::undo_utf8_encoding)
            .is_some()
    });
    let enc = v3::encode_text_payload(&packets);
    let again = v3::decode_text_payload(Bytes::from(enc.clone()));
    if packets.is_empty() {
        return; // only empty records ("0:"): nothing to encode
    }
    let again = again.unwrap_or_else(|e| panic!("re-decoding {packets:?} (encoded {enc:?}): {e}"));
    if !ambiguous {
        assert_eq!(again, packets, "v3 text payload round trip");
    } else {
        assert_eq!(
            again.len(),
            packets.len(),
            "v3 text payload round trip (count)"
        );
    }
}

/// An Engine.IO v3 binary (XHR2) payload.
pub fn eio_v3_binary_payload(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    let (res, peak) = alloc::measure(|| v3::decode_binary_payload(input));
    check_alloc("v3::decode_binary_payload", data.len(), peak);
    let Ok(packets) = res else { return };
    assert!(!packets.is_empty(), "a payload decoded to no packet");
    let enc = v3::encode_binary_payload(&packets);
    let again = v3::decode_binary_payload(Bytes::from(enc.clone()))
        .unwrap_or_else(|e| panic!("re-decoding {packets:?} (encoded {enc:?}): {e}"));
    assert_eq!(again, packets, "v3 binary payload round trip");
}

// ---------------------------------------------------------------------------
// Socket.IO
// ---------------------------------------------------------------------------

/// Equality of values as the decoders promise it: numbers compare as
/// JavaScript sees them (`Value`'s own equality: `1.0 == 1`, a large
/// integral double equal to the integer its shortest digits read back as),
/// and NaN equals NaN (msgpack carries NaN; JSON never does).
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || (x.as_f64().is_nan() && y.as_f64().is_nan())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && same_value(va, vb))
        }
        _ => a == b,
    }
}

fn same_packet(a: &SioPacket, b: &SioPacket) -> bool {
    let nsp = |s: &str| if s.is_empty() { "/" } else { s }.to_owned();
    a.kind == b.kind
        && nsp(&a.nsp) == nsp(&b.nsp)
        && a.id == b.id
        && match (&a.data, &b.data) {
            (None, None) => true,
            (Some(x), Some(y)) => same_value(x, y),
            _ => false,
        }
}

/// The shape `protocol::Packet` documents for each kind.
fn check_shape(p: &SioPacket) {
    let ok = match (p.kind, &p.data) {
        (PacketKind::Connect, None | Some(Value::Object(_))) => true,
        (PacketKind::Disconnect, None) => true,
        (PacketKind::Event, Some(Value::Array(a))) => {
            matches!(a.first(), Some(Value::String(_)))
        }
        (PacketKind::Ack, Some(Value::Array(_))) => true,
        (PacketKind::ConnectError, Some(Value::Object(_) | Value::String(_))) => true,
        _ => false,
    };
    assert!(ok, "decoded packet has the wrong shape: {p:?}");
    if let Some(name) = p.event_name() {
        assert!(
            !sockio::protocol::RESERVED_EVENTS.contains(&name),
            "reserved event {name:?} accepted"
        );
    }
}

/// The attachment number of a placeholder object (`_placeholder: true`), as
/// the protocol defines it; `Err` for a placeholder with no usable `num`.
fn placeholder(v: &Value) -> Option<Result<u64, ()>> {
    let Value::Object(m) = v else { return None };
    let first = |key: &str| m.iter().find(|(k, _)| *k == key).map(|(_, v)| v);
    if first("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(match first("num") {
        Some(Value::Number(n)) if n.as_f64() < 1e15 => n.as_u64().ok_or(()),
        _ => Err(()),
    })
}

/// Checks that `done` is `partial` with each placeholder replaced by the
/// attachment it names.
fn check_filled(partial: &Value, done: &Value, atts: &[Bytes]) {
    if let Some(num) = placeholder(partial) {
        let num = num.expect("the decoder accepted a placeholder without a valid num");
        let want = atts.get(num as usize).unwrap_or_else(|| {
            panic!(
                "the decoder accepted placeholder num {num} of {}",
                atts.len()
            )
        });
        assert!(
            matches!(done, Value::Binary(b) if b[..] == want[..]),
            "placeholder {num} became {done:?}"
        );
        return;
    }
    match (partial, done) {
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b).for_each(|(x, y)| check_filled(x, y, atts));
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.len(), b.len());
            a.iter().zip(b.iter()).for_each(|((ka, x), (kb, y))| {
                assert_eq!(ka, kb);
                check_filled(x, y, atts)
            });
        }
        _ => assert!(same_value(partial, done), "{partial:?} became {done:?}"),
    }
}

/// Encodes a packet with the text parser and decodes it back (attachments
/// pushed in order): it must be the same packet.
fn json_round_trip(p: &SioPacket, rev: Revision, limits: &Limits) {
    let mut buf = Vec::new();
    let bins = encode_json(&mut buf, p);
    let text = std::str::from_utf8(&buf).expect("encode_json writes UTF-8");
    // A placeholder may be repeated (Node allows it): encoding gives each
    // occurrence its own attachment, possibly more than the limit allowed.
    let limits = Limits {
        max_attachments: limits.max_attachments.max(bins.len()),
        ..*limits
    };
    let q = match decode_json(text, rev, &limits) {
        Ok(Decoded::Complete(q)) => {
            assert!(bins.is_empty(), "{text} has {} attachments", bins.len());
            q
        }
        Ok(Decoded::NeedsAttachments(mut partial)) => {
            assert_eq!(partial.expected(), bins.len(), "attachment count of {text}");
            let mut done = None;
            for b in bins {
                done = partial.push(b).expect("attachment refused");
            }
            done.expect("packet complete after its attachments")
        }
        Err(e) => panic!("re-decoding {p:?} (encoded {text:?}): {e}"),
    };
    assert!(same_packet(p, &q), "JSON round trip: {p:?} became {q:?}");
}

fn revision(b: u8) -> Revision {
    if b & 1 == 0 {
        Revision::V5
    } else {
        Revision::V4
    }
}

/// `decode_json`: first byte picks the protocol revision (even 5, odd 4), the
/// rest is the packet text (inputs that are not UTF-8 are skipped: the engine
/// only hands over UTF-8 text).
pub fn sio_json(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let rev = revision(sel);
    let limits = Limits::default();
    let (res, peak) = alloc::measure(|| decode_json(text, rev, &limits));
    check_alloc("decode_json", text.len(), peak);
    match res {
        Ok(Decoded::Complete(p)) => {
            assert!(
                !text.starts_with(['5', '6']),
                "binary packet {text:?} complete without attachments"
            );
            check_shape(&p);
            json_round_trip(&p, rev, &limits);
        }
        Ok(Decoded::NeedsAttachments(partial)) => {
            let atts: Vec<Bytes> = (0..partial.expected())
                .map(|i| Bytes::from(vec![i as u8; i % 5]))
                .collect();
            complete_and_check(partial, &atts, rev, &limits, text.len());
        }
        Err(_) => {}
    }
}

/// Feeds `atts` (at least as many as expected) to a partial packet and checks
/// every step; returns nothing, panics on a violated property.
fn complete_and_check(
    mut partial: sockio::protocol::PartialPacket,
    atts: &[Bytes],
    rev: Revision,
    limits: &Limits,
    text_len: usize,
) {
    let expected = partial.expected();
    assert!(
        (1..=limits.max_attachments).contains(&expected),
        "declared attachments {expected} outside 1..={}",
        limits.max_attachments
    );
    assert_eq!(partial.remaining(), expected);
    let before = partial
        .packet()
        .expect("partial packet has its packet")
        .clone();
    check_shape(&before);
    assert!(matches!(before.kind, PacketKind::Event | PacketKind::Ack));
    let input_len = text_len + atts.iter().map(Bytes::len).sum::<usize>();
    let (done, peak) = alloc::measure(|| {
        let mut done = None;
        for (i, a) in atts.iter().enumerate() {
            let r = partial.push(a.clone());
            if i + 1 < expected {
                assert!(matches!(r, Ok(None)), "push {i} of {expected}: {r:?}");
                assert_eq!(partial.remaining(), expected - i - 1);
            } else if i + 1 == expected {
                done = Some(r.expect("last attachment").expect("packet complete"));
            } else {
                assert!(r.is_err(), "attachment {i} accepted after {expected}");
            }
        }
        done
    });
    check_alloc("PartialPacket::push", input_len, peak);
    let Some(done) = done else {
        assert!(atts.len() < expected);
        return;
    };
    check_shape(&done);
    assert!(partial.packet().is_none(), "partial still holds the packet");
    match (&before.data, &done.data) {
        (Some(a), Some(b)) => check_filled(a, b, &atts[..expected]),
        (a, b) => assert_eq!(a.is_some(), b.is_some()),
    }
    json_round_trip(&done, rev, limits);
}

/// `decode_msgpack`, then the round trip through `encode_msgpack`.
pub fn sio_msgpack(data: &[u8]) {
    let limits = Limits::default();
    let (res, peak) = alloc::measure(|| decode_msgpack(data, &limits));
    check_alloc("decode_msgpack", data.len(), peak);
    let Ok(p) = res else { return };
    check_shape(&p);
    let enc = encode_msgpack(&p);
    let q = decode_msgpack(&enc, &limits)
        .unwrap_or_else(|e| panic!("re-decoding {p:?} (encoded {enc:02x?}): {e}"));
    assert!(
        same_packet(&p, &q),
        "msgpack round trip: {p:?} became {q:?}"
    );
}

/// Writes a placeholder whose `num` is chosen by the input: mostly in range,
/// sometimes out of range, negative, fractional, a string or missing.
fn push_placeholder(out: &mut String, r: &mut Input<'_>, declared: u64) {
    let form = r.byte();
    let n = u64::from(r.byte()) % declared.saturating_add(2).max(1);
    // (an exhausted input reads zeros: a valid placeholder naming attachment 0)
    let num = match form % 16 {
        10 => "-1".to_owned(),
        11 => format!("{n}.5"),
        12 => format!("\"{n}\""),
        13 => format!("{n}.0"),
        14 => u64::MAX.to_string(),
        _ => n.to_string(),
    };
    if form % 16 == 15 {
        out.push_str("{\"_placeholder\":true}");
    } else if form % 16 == 9 {
        out.push_str(&format!(
            "{{\"num\":{num},\"_placeholder\":true,\"x\":[1]}}"
        ));
    } else {
        out.push_str(&format!("{{\"_placeholder\":true,\"num\":{num}}}"));
    }
}

/// Builds a binary packet's text from fuzz choices: a declared count that may
/// lie (too few, too many, zero, huge), placeholders that may name missing
/// attachments, repeated placeholders, nested in arrays and objects.
fn lying_binary_text(r: &mut Input<'_>) -> String {
    let kind = if r.byte() & 1 == 0 { '5' } else { '6' };
    let declared: u64 = match r.byte() % 8 {
        5 => 0,
        6 => r.u64(),
        7 => u64::from(r.u16()),
        _ => u64::from(r.byte() % 16).max(1),
    };
    let mut t = String::new();
    t.push(kind);
    if r.byte() % 8 != 7 {
        t.push_str(&declared.to_string());
    }
    if r.byte() % 8 != 7 {
        t.push('-');
    }
    if r.byte() & 1 == 1 {
        t.push_str("/chat,");
    }
    if r.byte() & 1 == 1 {
        t.push_str(&r.u16().to_string());
    }
    t.push('[');
    if kind == '5' {
        t.push_str("\"up\"");
    }
    let count = r.u16() % 2048;
    for i in 0..count {
        if kind == '5' || i > 0 {
            t.push(',');
        }
        match r.byte() % 8 {
            5 => {
                t.push('[');
                push_placeholder(&mut t, r, declared);
                t.push(']');
            }
            6 => {
                t.push_str("{\"k\":");
                push_placeholder(&mut t, r, declared);
                t.push('}');
            }
            7 => t.push_str("\"x\""),
            _ => push_placeholder(&mut t, r, declared),
        }
    }
    t.push(']');
    t
}

/// Attachment reassembly: a binary packet's text (built from the input with
/// possibly lying counts, or taken as is) and up to 15 attachments of up to
/// 64 KiB whose sizes the input picks.
pub fn sio_attachments(data: &[u8]) {
    let mut r = Input(data);
    let rev = revision(r.byte());
    let limits = Limits {
        max_attachments: usize::from(r.byte() % 16),
        max_depth: 64,
    };
    let text = if r.byte() & 1 == 0 {
        lying_binary_text(&mut r)
    } else {
        let n = usize::from(r.u16());
        String::from_utf8_lossy(r.take(n)).into_owned()
    };
    let n_atts = usize::from(r.byte() % 16);
    let atts: Vec<Bytes> = (0..n_atts)
        .map(|i| {
            let len = usize::from(r.u16());
            let fill = r.byte();
            Bytes::from(vec![fill.wrapping_add(i as u8); len])
        })
        .collect();
    let (res, peak) = alloc::measure(|| decode_json(&text, rev, &limits));
    check_alloc("decode_json (binary)", text.len(), peak);
    match res {
        Ok(Decoded::NeedsAttachments(partial)) => {
            complete_and_check(partial, &atts, rev, &limits, text.len())
        }
        Ok(Decoded::Complete(p)) => {
            assert!(!text.starts_with(['5', '6']), "binary {text:?} complete");
            check_shape(&p);
        }
        Err(_) => {}
    }
}

// ---------------------------------------------------------------------------
// Handshake query
// ---------------------------------------------------------------------------

/// Percent-encodes everything but unreserved characters (`+` for a space
/// when `plus`).
fn url_encode(s: &str, plus: bool, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if plus => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

/// The handshake query parsers: `sockio`'s (what `Socket::query` and the v3
/// implicit connection read) and the protocol-4 CONNECT namespace query of
/// `decode_json`. First byte: even = raw query text, odd = pairs (split on
/// NUL bytes) that are URL-encoded, parsed back and compared.
pub fn query(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    if sel & 1 == 0 {
        let q = String::from_utf8_lossy(rest);
        let (pairs, peak) = alloc::measure(|| sockio::__fuzz_parse_query(&q));
        check_alloc("parse_query", q.len(), peak);
        assert!(pairs.len() <= q.matches('&').count() + 1);
        for (k, v) in &pairs {
            // invalid UTF-8 after decoding becomes U+FFFD: 3 bytes for 1
            assert!(k.len() + v.len() <= 3 * q.len());
        }
        // The same text as a protocol-4 CONNECT query (it ends at a comma).
        let q = q.split(',').next().unwrap_or("");
        let text = format!("0/q?{q},");
        let (res, peak) = alloc::measure(|| decode_json(&text, Revision::V4, &limits));
        check_alloc("decode_json (v4 CONNECT query)", text.len(), peak);
        match res {
            Ok(Decoded::Complete(p)) => {
                assert_eq!(p.nsp, "/q");
                assert!(matches!(p.data, Some(Value::Object(_))), "{p:?}");
            }
            other => panic!("CONNECT with query {q:?}: {other:?}"),
        }
        return;
    }
    // Structured: pairs in, encoded, parsed back.
    let plus = sel & 2 == 2;
    let fields: Vec<String> = rest
        .split(|&b| b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let pairs: Vec<(String, String)> = fields
        .chunks(2)
        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
        .collect();
    let mut q = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        url_encode(k, plus, &mut q);
        q.push('=');
        url_encode(v, plus, &mut q);
    }
    assert_eq!(sockio::__fuzz_parse_query(&q), pairs, "query {q:?}");
    // protocol-4 CONNECT: the same pairs as an object, a repeated key as an
    // array; the first 1000 pairs only (Node's `maxKeys`)
    let mut want: Vec<(String, Value)> = Vec::new();
    for (k, v) in pairs.iter().take(1000) {
        match want.iter_mut().find(|(key, _)| key == k) {
            Some((_, Value::Array(items))) => items.push(Value::from(v.as_str())),
            Some((_, first)) => {
                let f = std::mem::replace(first, Value::Null);
                *first = Value::Array(vec![f, Value::from(v.as_str())]);
            }
            None => want.push((k.clone(), Value::from(v.as_str()))),
        }
    }
    let text = format!("0/q?{q},");
    match decode_json(&text, Revision::V4, &limits) {
        Ok(Decoded::Complete(p)) => {
            let Some(Value::Object(got)) = p.data else {
                panic!("{text:?}: the query does not become an object");
            };
            assert_eq!(got.len(), want.len(), "{text:?} gave {got:?}");
            for ((gk, gv), (wk, wv)) in got.iter().zip(&want) {
                assert!(gk == wk && gv == wv, "{text:?} gave {got:?}");
            }
        }
        other => panic!("CONNECT {text:?}: {other:?}"),
    }
}

/// One target's check.
pub type Check = fn(&[u8]);

/// Every target by name, for the corpus replay.
pub const TARGETS: &[(&str, Check)] = &[
    ("eio_packet", eio_packet),
    ("eio_v4_payload", eio_v4_payload),
    ("eio_v3_text_payload", eio_v3_text_payload),
    ("eio_v3_binary_payload", eio_v3_binary_payload),
    ("sio_json", sio_json),
    ("sio_msgpack", sio_msgpack),
    ("sio_attachments", sio_attachments),
    ("query", query),
];
