use super::PacketKind;

/// Why a packet could not be decoded, or a value converted.
///
/// Every decoding error means the peer sent something a conforming client never
/// sends: the server should close the connection (as Node does) and log the
/// message.
///
/// ```
/// use sockio::protocol::{decode_json, Limits, ProtocolError, Revision};
/// let err = decode_json("2{}", Revision::V5, &Limits::default()).unwrap_err();
/// assert!(matches!(err, ProtocolError::InvalidPayload { .. }));
/// println!("{err}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The packet was empty.
    #[error("empty Socket.IO packet")]
    Empty,
    /// The first character (or msgpack `type`) is not a known packet type.
    #[error("unknown Socket.IO packet type {0:?}")]
    UnknownType(String),
    /// The attachment count of a binary packet is missing, zero or not a number.
    #[error("illegal attachment count in a binary packet (expected `<type><count>-`, count >= 1)")]
    InvalidAttachmentCount,
    /// A binary packet declared more attachments than [`Limits::max_attachments`](super::Limits).
    #[error("too many binary attachments: {count} declared, at most {max} allowed (Limits::max_attachments)")]
    TooManyAttachments {
        /// Declared count.
        count: usize,
        /// The limit in force.
        max: usize,
    },
    /// A placeholder is malformed or refers to an attachment that does not exist.
    #[error("invalid binary placeholder: {0}")]
    InvalidPlaceholder(String),
    /// An attachment arrived when none was expected.
    #[error("unexpected binary attachment: the packet already has all its attachments")]
    UnexpectedAttachment,
    /// The acknowledgement id is not an integer that fits in a `u64`.
    #[error("invalid acknowledgement id (must be an integer between 0 and 2^64-1)")]
    InvalidAckId,
    /// The namespace is not a string (msgpack).
    #[error("invalid namespace: must be a string")]
    InvalidNamespace,
    /// The JSON part is not valid JSON (or has trailing data).
    #[error("invalid JSON payload: {0}")]
    Json(#[from] serde_json::Error),
    /// The msgpack message is malformed.
    #[error("invalid msgpack message: {0}")]
    Msgpack(String),
    /// Arrays and maps are nested deeper than [`Limits::max_depth`](super::Limits).
    #[error("payload nested deeper than {max} levels (Limits::max_depth)")]
    TooDeep {
        /// The limit in force.
        max: usize,
    },
    /// The payload does not have the shape the packet type requires.
    #[error("invalid payload for a {kind:?} packet: {reason}")]
    InvalidPayload {
        /// The packet type.
        kind: PacketKind,
        /// What was expected.
        reason: &'static str,
    },
    /// An EVENT packet uses a name reserved by Socket.IO (see [`RESERVED_EVENTS`](super::RESERVED_EVENTS)).
    #[error("reserved event name {0:?} cannot be sent by a client")]
    ReservedEvent(String),
    /// A Rust value could not be converted to or from a [`Value`](super::Value).
    #[error("{0}")]
    Serde(String),
}

impl serde::ser::Error for ProtocolError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ProtocolError::Serde(msg.to_string())
    }
}

impl serde::de::Error for ProtocolError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        ProtocolError::Serde(msg.to_string())
    }
}
