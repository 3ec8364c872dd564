//! Socket.IO packets and their codecs: pure functions over bytes, no I/O.
//!
//! This module is what travels inside an Engine.IO message. It knows the packet
//! model ([`Packet`]), the two wire formats spoken by the official clients, and the
//! conversions between Rust types and the universal [`Value`]:
//!
//! * the default text parser (`socket.io-parser`): [`encode_json`] / [`decode_json`],
//!   with binary attachments ([`Decoded::NeedsAttachments`], [`PartialPacket`]);
//!   Socket.IO protocol 5 and protocol 4 (Engine.IO v3 clients), see [`Revision`];
//! * the msgpack parser (`socket.io-msgpack-parser` 3.x, notepack.io):
//!   [`encode_msgpack`] / [`decode_msgpack`];
//! * serde helpers: [`to_args`], [`to_value`], [`from_value`].
//!
//! What it is not: it does no I/O, holds no connection state and knows nothing of
//! namespaces' handlers. Every decoder takes untrusted input and returns a
//! [`ProtocolError`] for anything malformed; none of them panics.
//!
//! ```
//! use sockio::protocol::{decode_json, encode_json, Decoded, Limits, Packet, Revision, Value};
//!
//! let packet = Packet::event("/", "chat", vec![Value::from("hi")], Some(7));
//! let mut buf = Vec::new();
//! let attachments = encode_json(&mut buf, &packet);
//! assert!(attachments.is_empty());
//! assert_eq!(buf, br#"27["chat","hi"]"#);
//!
//! let text = std::str::from_utf8(&buf).unwrap();
//! match decode_json(text, Revision::V5, &Limits::default()).unwrap() {
//!     Decoded::Complete(p) => assert_eq!(p, packet),
//!     Decoded::NeedsAttachments(_) => unreachable!(),
//! }
//! ```

mod error;
mod json;
mod msgpack;
mod packet;
mod serde_value;

#[cfg(test)]
mod tests;

/// The payload's value type: JSON with binary data (see [`mod@crate::value`]).
pub use crate::value::Value;

pub use error::ProtocolError;
pub(crate) use json::decode_json_parts;
pub use json::{decode_json, encode_json, Decoded, PartialPacket};
pub(crate) use json::{key_string, write_json_number, write_json_value};
pub(crate) use msgpack::decode_msgpack_with;
pub use msgpack::{
    decode_msgpack, decode_msgpack_value, encode_msgpack, encode_msgpack_to, encode_msgpack_value,
};
pub use packet::{Limits, Packet, PacketKind, Revision, RESERVED_EVENTS};
pub use serde_value::{from_value, to_args, to_value};
