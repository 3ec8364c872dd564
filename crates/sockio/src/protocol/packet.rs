use super::{ProtocolError, Value};

/// Event names a client may not send (checked by the decoders, as Node's
/// `socket.io-parser` does): an EVENT packet using one of them is rejected with
/// [`ProtocolError::ReservedEvent`].
///
/// The server layer must also refuse to *emit* them from user code.
///
/// ```
/// assert!(sockio::protocol::RESERVED_EVENTS.contains(&"disconnect"));
/// ```
pub const RESERVED_EVENTS: &[&str] = &[
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The kind of a Socket.IO packet.
///
/// `BINARY_EVENT` (5) and `BINARY_ACK` (6) are not kinds of their own: they are
/// how the text parser encodes an [`Event`](PacketKind::Event) or
/// [`Ack`](PacketKind::Ack) whose data holds [`Value::Binary`].
///
/// ```
/// use sockio::protocol::PacketKind;
/// assert_eq!(PacketKind::Event.code(), 2);
/// assert_eq!(PacketKind::from_code(4), Some(PacketKind::ConnectError));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// 0: join a namespace (client), or the acceptance of a join (server).
    Connect,
    /// 1: leave a namespace (either side).
    Disconnect,
    /// 2 (5 with binaries): an event, `[name, args...]`.
    Event,
    /// 3 (6 with binaries): an acknowledgement, `[args...]`.
    Ack,
    /// 4: a refused join (called ERROR in protocol 4).
    ConnectError,
}

impl PacketKind {
    /// The type number on the wire (non-binary form).
    ///
    /// ```
    /// assert_eq!(sockio::protocol::PacketKind::Ack.code(), 3);
    /// ```
    pub fn code(self) -> u8 {
        match self {
            PacketKind::Connect => 0,
            PacketKind::Disconnect => 1,
            PacketKind::Event => 2,
            PacketKind::Ack => 3,
            PacketKind::ConnectError => 4,
        }
    }

    /// The kind for a type number 0 to 4 (the binary types 5 and 6 are not kinds).
    ///
    /// ```
    /// assert_eq!(sockio::protocol::PacketKind::from_code(5), None);
    /// ```
    pub fn from_code(code: u64) -> Option<Self> {
        Some(match code {
            0 => PacketKind::Connect,
            1 => PacketKind::Disconnect,
            2 => PacketKind::Event,
            3 => PacketKind::Ack,
            4 => PacketKind::ConnectError,
            _ => return None,
        })
    }
}

/// The Socket.IO protocol revision of a session.
///
/// ```
/// use sockio::protocol::Revision;
/// assert_eq!(Revision::default(), Revision::V5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Revision {
    /// Socket.IO protocol 4, spoken by socket.io-client 1.x and 2.x over
    /// Engine.IO v3: the CONNECT namespace may carry a query string
    /// (`0/private?token=secret,` after the Engine.IO `4`), which [`decode_json`](super::decode_json)
    /// turns into the packet's data (the auth object); CONNECT_ERROR is called
    /// ERROR and its data is a plain string.
    V4,
    /// Socket.IO protocol 5 (socket.io-client 3.x and later).
    #[default]
    V5,
}

/// Limits applied by the decoders to untrusted input.
///
/// ```
/// use sockio::protocol::Limits;
/// let limits = Limits { max_attachments: 4, ..Limits::default() };
/// assert_eq!(limits.max_depth, 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most binary attachments one packet may declare. Default 10, like Node's
    /// `socket.io-parser` (`maxAttachments`).
    pub max_attachments: usize,
    /// Deepest nesting of arrays and maps in a payload (the event's argument
    /// array counts as level 1). Default 64. serde_json also stops at 128
    /// whatever this says.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attachments: 10,
            max_depth: 64,
        }
    }
}

/// One Socket.IO packet, independent of its wire format.
///
/// `data` by kind:
///
/// | kind | data |
/// | --- | --- |
/// | `Connect` | client: the auth object or `None`; server: `{"sid": ...}` (v5) or `None` (v4) |
/// | `Disconnect` | `None` |
/// | `Event` | `Array[name, args...]`, name a string |
/// | `Ack` | `Array[args...]` |
/// | `ConnectError` | `{"message": ..., "data"?: ...}` (v5) or a `String` (v4) |
///
/// Decoders only return packets of that shape.
///
/// ```
/// use sockio::protocol::{Packet, PacketKind, Value};
/// let p = Packet::event("/chat", "msg", vec![Value::from(1), Value::from("two")], None);
/// assert_eq!(p.kind, PacketKind::Event);
/// assert_eq!(p.event_name(), Some("msg"));
/// assert_eq!(p.args(), &[Value::from(1), Value::from("two")]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet kind.
    pub kind: PacketKind,
    /// The namespace, `"/"` by default.
    pub nsp: String,
    /// The acknowledgement id (EVENT that wants an ack, or ACK).
    pub id: Option<u64>,
    /// The payload, see the table above.
    pub data: Option<Value>,
}

impl Packet {
    /// A CONNECT packet (client: auth object; server: `{"sid": ...}` or `None`).
    ///
    /// ```
    /// use sockio::protocol::{Packet, Value};
    /// let p = Packet::connect("/", Some(sockio::value!({"sid": "abc"})));
    /// assert!(p.data.is_some());
    /// ```
    pub fn connect(nsp: impl Into<String>, data: Option<Value>) -> Self {
        Packet {
            kind: PacketKind::Connect,
            nsp: nsp.into(),
            id: None,
            data,
        }
    }

    /// A DISCONNECT packet.
    ///
    /// ```
    /// let p = sockio::protocol::Packet::disconnect("/chat");
    /// assert_eq!(p.data, None);
    /// ```
    pub fn disconnect(nsp: impl Into<String>) -> Self {
        Packet {
            kind: PacketKind::Disconnect,
            nsp: nsp.into(),
            id: None,
            data: None,
        }
    }

    /// An EVENT packet: `[event, args...]`, with an ack id when an answer is wanted.
    ///
    /// ```
    /// use sockio::protocol::{Packet, Value};
    /// let p = Packet::event("/", "ping", vec![], Some(1));
    /// assert_eq!(p.data, Some(Value::Array(vec![Value::from("ping")])));
    /// ```
    pub fn event(nsp: impl Into<String>, event: &str, args: Vec<Value>, id: Option<u64>) -> Self {
        let mut data = Vec::with_capacity(args.len() + 1);
        data.push(Value::from(event));
        data.extend(args);
        Packet {
            kind: PacketKind::Event,
            nsp: nsp.into(),
            id,
            data: Some(Value::Array(data)),
        }
    }

    /// An ACK packet answering the event with ack id `id`.
    ///
    /// ```
    /// use sockio::protocol::{Packet, Value};
    /// let p = Packet::ack("/", vec![Value::from(true)], 5);
    /// assert_eq!(p.id, Some(5));
    /// ```
    pub fn ack(nsp: impl Into<String>, args: Vec<Value>, id: u64) -> Self {
        Packet {
            kind: PacketKind::Ack,
            nsp: nsp.into(),
            id: Some(id),
            data: Some(Value::Array(args)),
        }
    }

    /// A CONNECT_ERROR packet: `{"message": ...}` for protocol 5, a string for 4.
    ///
    /// ```
    /// use sockio::protocol::{Packet, Value};
    /// let v5 = Packet::connect_error("/x", sockio::value!({"message": "Invalid namespace"}));
    /// let v4 = Packet::connect_error("/x", Value::from("Invalid namespace"));
    /// # let _ = (v5, v4);
    /// ```
    pub fn connect_error(nsp: impl Into<String>, data: Value) -> Self {
        Packet {
            kind: PacketKind::ConnectError,
            nsp: nsp.into(),
            id: None,
            data: Some(data),
        }
    }

    /// The event name of an EVENT packet.
    ///
    /// ```
    /// use sockio::protocol::Packet;
    /// assert_eq!(Packet::event("/", "a", vec![], None).event_name(), Some("a"));
    /// assert_eq!(Packet::disconnect("/").event_name(), None);
    /// ```
    pub fn event_name(&self) -> Option<&str> {
        match (&self.kind, &self.data) {
            (PacketKind::Event, Some(Value::Array(a))) => a.first().and_then(Value::as_str),
            _ => None,
        }
    }

    /// The arguments: after the name for EVENT, all of the array for ACK, empty
    /// otherwise.
    ///
    /// ```
    /// use sockio::protocol::{Packet, Value};
    /// assert_eq!(Packet::ack("/", vec![Value::from(1)], 0).args(), &[Value::from(1)]);
    /// ```
    pub fn args(&self) -> &[Value] {
        match (&self.kind, &self.data) {
            (PacketKind::Event, Some(Value::Array(a))) => a.get(1..).unwrap_or(&[]),
            (PacketKind::Ack, Some(Value::Array(a))) => a,
            _ => &[],
        }
    }

    /// Takes the arguments out of the packet (see [`args`](Self::args)).
    ///
    /// ```
    /// use sockio::protocol::{Packet, Value};
    /// let p = Packet::event("/", "e", vec![Value::from(1)], None);
    /// assert_eq!(p.into_args(), vec![Value::from(1)]);
    /// ```
    pub fn into_args(self) -> Vec<Value> {
        match (self.kind, self.data) {
            (PacketKind::Event, Some(Value::Array(mut a))) => {
                if a.is_empty() {
                    a
                } else {
                    a.remove(0);
                    a
                }
            }
            (PacketKind::Ack, Some(Value::Array(a))) => a,
            _ => Vec::new(),
        }
    }

    /// Whether the payload holds binary data anywhere (such an EVENT or ACK is
    /// sent as BINARY_EVENT / BINARY_ACK by the text parser).
    ///
    /// ```
    /// use sockio::protocol::{Packet, Value};
    /// let p = Packet::event("/", "file", vec![Value::Binary(bytes::Bytes::from_static(&[1, 2]))], None);
    /// assert!(p.has_binary());
    /// ```
    pub fn has_binary(&self) -> bool {
        self.data.as_ref().is_some_and(value_has_binary)
    }
}

pub(crate) fn value_has_binary(v: &Value) -> bool {
    match v {
        Value::Binary(_) => true,
        Value::Array(a) => a.iter().any(value_has_binary),
        Value::Object(m) => m.values().any(value_has_binary),
        _ => false,
    }
}

/// Checks the payload shape of a decoded packet, like `isPayloadValid` of Node's
/// parsers. `data` absent is normalised here (ACK without data = no arguments).
pub(crate) fn validate(kind: PacketKind, data: &mut Option<Value>) -> Result<(), ProtocolError> {
    let bad = |reason| Err(ProtocolError::InvalidPayload { kind, reason });
    match kind {
        PacketKind::Connect => match data {
            None | Some(Value::Object(_)) => Ok(()),
            Some(Value::Null) => {
                *data = None;
                Ok(())
            }
            _ => bad("CONNECT data must be an object"),
        },
        PacketKind::Disconnect => match data {
            None => Ok(()),
            Some(Value::Null) => {
                *data = None;
                Ok(())
            }
            _ => bad("DISCONNECT carries no data"),
        },
        // Data is required, as in Node's parsers (found by the fuzzers: a
        // bare `4` decoded to a packet without the documented shape).
        PacketKind::ConnectError => match data {
            Some(Value::Object(_)) | Some(Value::String(_)) => Ok(()),
            _ => bad("CONNECT_ERROR data must be an object or a string"),
        },
        PacketKind::Event => match data {
            Some(Value::Array(a)) => match a.first() {
                Some(Value::String(name)) if RESERVED_EVENTS.contains(&name.as_str()) => {
                    Err(ProtocolError::ReservedEvent(name.clone()))
                }
                Some(Value::String(_)) => Ok(()),
                _ => bad("EVENT data must be an array starting with the event name (a string)"),
            },
            _ => bad("EVENT data must be an array starting with the event name (a string)"),
        },
        PacketKind::Ack => match data {
            Some(Value::Array(_)) => Ok(()),
            None => {
                *data = Some(Value::Array(Vec::new()));
                Ok(())
            }
            _ => bad("ACK data must be an array"),
        },
    }
}
