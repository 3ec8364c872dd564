//! The wire format of Node's `@socket.io/redis-adapter` 8.x (classic) and
//! `@socket.io/redis-emitter` 5.x: channel names, request types, and the
//! msgpack (notepack.io) and JSON encodings of their messages. Pure functions.

use sockio::adapter::BroadcastOptions;
use sockio::protocol::{decode_msgpack_value, encode_msgpack_value, Limits, Value};
use sockio::Room;

/// Request types of the classic adapter (`RequestType` in its source).
pub(crate) mod req {
    pub const SOCKETS: u64 = 0;
    pub const ALL_ROOMS: u64 = 1;
    pub const REMOTE_JOIN: u64 = 2;
    pub const REMOTE_LEAVE: u64 = 3;
    pub const REMOTE_DISCONNECT: u64 = 4;
    pub const REMOTE_FETCH: u64 = 5;
    pub const SERVER_SIDE_EMIT: u64 = 6;
    pub const BROADCAST: u64 = 7;
    pub const BROADCAST_CLIENT_COUNT: u64 = 8;
    pub const BROADCAST_ACK: u64 = 9;
}

/// The uid Node's emitter publishes with.
pub const EMITTER_UID: &str = "emitter";

/// Limits for what peers publish: deeper than socket.io's own, as the
/// payload sits inside the adapter's envelope.
pub(crate) fn limits() -> Limits {
    Limits {
        max_depth: 72,
        ..Limits::default()
    }
}

/// The channels of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    /// `<key>#<nsp>#`: broadcasts (followed by `<room>#` for a single room).
    pub broadcast: String,
    /// `<key>-request#<nsp>#`.
    pub request: String,
    /// `<key>-response#<nsp>#`.
    pub response: String,
}

impl Channels {
    pub fn new(key: &str, nsp: &str) -> Self {
        Channels {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            response: format!("{key}-response#{nsp}#"),
        }
    }

    /// `<key>-response#<nsp>#<uid>#`: a node's own response channel.
    pub fn specific_response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.response)
    }

    /// The channel of a broadcast to `rooms`.
    pub fn broadcast_channel(&self, rooms: &[Room]) -> String {
        match rooms {
            [room] => {
                let mut c = String::with_capacity(self.broadcast.len() + room.len() + 1);
                c.push_str(&self.broadcast);
                c.push_str(room);
                c.push('#');
                c
            }
            _ => self.broadcast.clone(),
        }
    }
}

/// Escapes the glob characters of `s` for a `PSUBSCRIBE` pattern.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A random id of `n` alphanumeric characters (Node's `uid2`).
pub(crate) fn random_id(n: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

// ---------------------------------------------------------------- msgpack

pub(crate) fn write_array_len(buf: &mut Vec<u8>, len: usize) {
    if len < 16 {
        buf.push(0x90 | len as u8);
    } else if len < 0x1_0000 {
        buf.push(0xdc);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdd);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

pub(crate) fn write_map_len(buf: &mut Vec<u8>, len: usize) {
    if len < 16 {
        buf.push(0x80 | len as u8);
    } else if len < 0x1_0000 {
        buf.push(0xde);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdf);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

pub(crate) fn write_str(buf: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        buf.push(0xa0 | len as u8);
    } else if len < 0x100 {
        buf.extend_from_slice(&[0xd9, len as u8]);
    } else if len < 0x1_0000 {
        buf.push(0xda);
        buf.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        buf.push(0xdb);
        buf.extend_from_slice(&(len as u32).to_be_bytes());
    }
    buf.extend_from_slice(s.as_bytes());
}

pub(crate) fn write_uint(buf: &mut Vec<u8>, n: u64) {
    encode_msgpack_value(buf, &Value::from(n));
}

/// Writes the options object `{rooms, except, flags}` as Node's adapter
/// publishes it (`flags` holds only the flags that are set, plus `timeout`
/// in milliseconds for broadcasts with acks).
pub(crate) fn write_opts(buf: &mut Vec<u8>, opts: &BroadcastOptions, timeout_ms: Option<u64>) {
    write_map_len(buf, 3);
    write_str(buf, "rooms");
    write_rooms(buf, &opts.rooms);
    write_str(buf, "except");
    write_rooms(buf, &opts.except);
    write_str(buf, "flags");
    let n = usize::from(opts.volatile) + usize::from(timeout_ms.is_some());
    write_map_len(buf, n);
    if opts.volatile {
        write_str(buf, "volatile");
        buf.push(0xc3);
    }
    if let Some(ms) = timeout_ms {
        write_str(buf, "timeout");
        write_uint(buf, ms);
    }
}

fn write_rooms(buf: &mut Vec<u8>, rooms: &[Room]) {
    write_array_len(buf, rooms.len());
    for r in rooms {
        write_str(buf, r);
    }
}

/// Writes a Socket.IO EVENT packet as the adapter carries it:
/// `{type: 2, data: [event, ...args], nsp}`.
pub(crate) fn write_packet(buf: &mut Vec<u8>, data: Option<&Value>, nsp: &str) {
    write_map_len(buf, 3);
    write_str(buf, "type");
    buf.push(2);
    write_str(buf, "data");
    match data {
        Some(d) => encode_msgpack_value(buf, d),
        None => buf.push(0x90),
    }
    write_str(buf, "nsp");
    write_str(buf, nsp);
}

/// A broadcast message: msgpack `[uid, packet, opts]`.
pub(crate) fn encode_broadcast(
    uid: &str,
    nsp: &str,
    data: Option<&Value>,
    opts: &BroadcastOptions,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    write_array_len(&mut buf, 3);
    write_str(&mut buf, uid);
    write_packet(&mut buf, data, nsp);
    write_opts(&mut buf, opts, None);
    buf
}

/// Decodes a message: msgpack, or JSON when it starts with `{`.
pub(crate) fn decode_any(msg: &[u8]) -> Result<Value, String> {
    if msg.first() == Some(&b'{') {
        serde_json::from_slice::<Value>(msg).map_err(|e| format!("invalid JSON: {e}"))
    } else {
        decode_msgpack_value(msg, &limits()).map_err(|e| format!("invalid msgpack: {e}"))
    }
}

// ---------------------------------------------------------------- reading

/// Room names from a JSON/msgpack array (numbers as JavaScript prints them).
pub(crate) fn rooms_of(v: Option<&Value>) -> Vec<Room> {
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(room_of).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn room_of(v: &Value) -> Option<Room> {
    match v {
        Value::String(s) => Some(Room::from(s.as_str())),
        Value::Number(_) => Some(Room::from(v.to_string().as_str())),
        _ => None,
    }
}

/// `{rooms, except, flags}` as peers send it.
pub(crate) fn opts_of(v: Option<&Value>) -> BroadcastOptions {
    let Some(v) = v else {
        return BroadcastOptions::default();
    };
    BroadcastOptions {
        rooms: rooms_of(v.get("rooms")),
        except: rooms_of(v.get("except")),
        volatile: v
            .get("flags")
            .and_then(|f| f.get("volatile"))
            .is_some_and(Value::is_truthy),
        local: false,
        // Node sends uncompressed only when told `compress(false)`.
        compress: !v
            .get("flags")
            .and_then(|f| f.get("compress"))
            .is_some_and(|c| matches!(c, Value::Bool(false))),
    }
}

/// The options object as JSON: `{"rooms":[...],"except":[...]}`.
pub(crate) fn opts_json(opts: &BroadcastOptions) -> serde_json::Value {
    serde_json::json!({
        "rooms": opts.rooms.iter().map(|r| &**r).collect::<Vec<&str>>(),
        "except": opts.except.iter().map(|r| &**r).collect::<Vec<&str>>(),
    })
}

/// A value as JSON text, as `JSON.stringify` writes it (binary data as
/// `{"type":"Buffer","data":[...]}`).
pub(crate) fn json_text(v: &Value) -> String {
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_message_matches_node_layout() {
        let opts = BroadcastOptions {
            rooms: vec!["r1".into()],
            except: vec![],
            ..Default::default()
        };
        let data = Value::Array(vec![Value::from("ev"), Value::from(1)]);
        let buf = encode_broadcast("abc123", "/", Some(&data), &opts);
        let v = decode_any(&buf).unwrap();
        assert_eq!(v[0], "abc123");
        assert_eq!(v[1]["type"], 2);
        assert_eq!(v[1]["nsp"], "/");
        assert_eq!(v[1]["data"][0], "ev");
        assert_eq!(v[2]["rooms"][0], "r1");
        assert!(v[2]["except"].as_array().unwrap().is_empty());
        assert!(v[2]["flags"].as_object().unwrap().is_empty());
        let o = opts_of(Some(&v[2]));
        assert_eq!(o.rooms, vec![Room::from("r1")]);
    }

    #[test]
    fn channels() {
        let c = Channels::new("socket.io", "/chat");
        assert_eq!(c.broadcast, "socket.io#/chat#");
        assert_eq!(c.request, "socket.io-request#/chat#");
        assert_eq!(c.response, "socket.io-response#/chat#");
        assert_eq!(c.specific_response("u1"), "socket.io-response#/chat#u1#");
        assert_eq!(c.broadcast_channel(&["r".into()]), "socket.io#/chat#r#");
        assert_eq!(
            c.broadcast_channel(&["a".into(), "b".into()]),
            "socket.io#/chat#"
        );
        assert_eq!(glob_escape("/a*b"), "/a\\*b");
    }

    #[test]
    fn json_and_msgpack_requests_decode() {
        let v =
            decode_any(br#"{"type":5,"requestId":"x","opts":{"rooms":[1],"except":[]}}"#).unwrap();
        assert_eq!(v["type"], 5);
        assert_eq!(rooms_of(v["opts"].get("rooms")), vec![Room::from("1")]);
        assert!(decode_any(b"\xc1").is_err());
    }
}
