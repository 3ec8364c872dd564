//! The session handle given to the layer above (CONTRACT: the public signatures in
//! this file are relied on by the `sockio` crate; internals are free to change).

use std::net::SocketAddr;

use crate::Message;

/// An Engine.IO session id: 20 characters of base64url from a CSPRNG.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

impl Sid {
    /// A new random id (CSPRNG, 120 bits, base64url alphabet).
    pub fn random() -> Self {
        todo!()
    }
    /// Parses an id received from a client; `None` unless it is 20 base64url characters.
    pub fn parse(s: &str) -> Option<Self> {
        todo!()
    }
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        todo!()
    }
}

/// Engine.IO protocol revision of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolVersion {
    /// Engine.IO v3 (socket.io-client 1.x and 2.x).
    V3 = 3,
    /// Engine.IO v4 (socket.io-client 3.x and 4.x).
    V4 = 4,
}

/// A transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// Why a session ended. [`DisconnectReason::as_str`] gives the reason string
/// that the Node.js server reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client closed the connection or sent a close packet ("transport close").
    TransportClose,
    /// The transport failed ("transport error").
    TransportError,
    /// No pong (v4) or ping (v3) in time ("ping timeout").
    PingTimeout,
    /// The client sent something that is not a valid packet or payload ("parse error").
    ParseError,
    /// The client sent more than `max_payload` bytes ("payload too large").
    PayloadTooLarge,
    /// The client broke a transport rule, e.g. two concurrent polling GETs ("transport error").
    ProtocolViolation,
    /// The outgoing queue was full: the client does not read fast enough ("send queue full").
    SlowConsumer,
    /// The server closed the session ("forced close").
    ServerClose,
    /// The server is shutting down ("server shutting down").
    ServerShutdown,
}

impl DisconnectReason {
    /// The reason string, as the Node.js server names it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError | DisconnectReason::ProtocolViolation => {
                "transport error"
            }
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::PayloadTooLarge => "payload too large",
            DisconnectReason::SlowConsumer => "send queue full",
            DisconnectReason::ServerClose => "forced close",
            DisconnectReason::ServerShutdown => "server shutting down",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`Socket::send`] refused a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The session's outgoing queue is full (the client is not reading).
    #[error("the session's send queue is full")]
    Full,
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
}

/// One Engine.IO session, as seen by the layer above. Shared as `Arc<Socket<D>>`;
/// `D` is that layer's per-session state ([`crate::EngineHandler::Data`]).
pub struct Socket<D> {
    /// The per-session state of the layer above.
    data: D,
    // internals: private
}

impl<D> Socket<D> {
    /// The session id.
    pub fn id(&self) -> Sid {
        todo!()
    }
    /// The protocol revision the client asked for (`EIO=3` or `EIO=4`).
    pub fn protocol(&self) -> ProtocolVersion {
        todo!()
    }
    /// The transport in use now.
    pub fn transport(&self) -> TransportKind {
        todo!()
    }
    /// The handshake request (method, URI with query, headers, extensions added by
    /// middlewares), without its body.
    pub fn request(&self) -> &http::request::Parts {
        todo!()
    }
    /// The peer's address, when the server put one in the request extensions.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        todo!()
    }
    /// The layer above's state for this session.
    pub fn data(&self) -> &D {
        &self.data
    }
    /// Queues one message. Never waits: a full queue gives [`SendError::Full`].
    pub fn send(&self, msg: Message) -> Result<(), SendError> {
        todo!()
    }
    /// Queues several messages that must stay together and in order (a Socket.IO
    /// packet and its binary attachments): no other message is put between them.
    pub fn send_many(&self, msgs: Vec<Message>) -> Result<(), SendError> {
        todo!()
    }
    /// Closes the session from the server side; the handler's `on_close` runs once.
    pub fn close(&self, reason: DisconnectReason) {
        todo!()
    }
    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        todo!()
    }
}
