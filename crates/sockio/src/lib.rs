//! # sockio
//!
//! Socket.IO for Rust with the ease of Flask-SocketIO: handlers registered per
//! event and namespace, typed arguments, return values as acknowledgements,
//! rooms, broadcasts, and the official clients (browser, Node, Python) working
//! unchanged.
//!
//! ```no_run
//! use sockio::{Data, Socket, SocketIo};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let io = SocketIo::builder().cors_allowed_origins(["*"]).build()?;
//!     // @socketio.on('message') / emit('new-message', msg, broadcast=True)
//!     io.on("message", |s: Socket, Data(msg): Data<String>| async move {
//!         s.broadcast().include_self().emit("new-message", &msg).await
//!     });
//!     sockio::serve(io, "127.0.0.1:3001").await?;
//!     Ok(())
//! }
//! ```
//!
//! Layers: [`protocol`] (packets and codecs, pure), the Engine.IO transport in
//! the `sockio-engine` crate, and here namespaces ([`Namespace`]), sockets
//! ([`Socket`]), handlers ([`handler`]), extractors ([`extract`]), emit
//! operators ([`BroadcastOperator`]) and the cluster [`adapter`].
#![deny(missing_docs)]

pub mod adapter;
pub mod admin;
mod class_ns;
mod client;
mod errors;
pub mod extract;
pub mod handler;
mod handshake;
#[cfg(feature = "tower-sessions")]
mod http_session;
mod io;
pub mod metrics;
mod ns;
mod operators;
pub mod protocol;
mod recovery;
mod serve;
mod session;
mod socket;
mod stats;
pub mod test_client;
mod util;
pub mod value;

pub use adapter::{Adapter, LocalAdapter, Room, SessionState, SocketInfo};
pub use class_ns::{NamespaceHandler, This};
pub use client::{ConnData, SioHandler};
pub use errors::{
    AckError, AdapterError, ConfigError, ConnectError, EmitError, HandlerError, HandlerErrorKind,
};
pub use extract::{AckSender, Args, Auth, Data, Event, State};
pub use handler::{Ack, BoxError, IntoConnect, IntoReply};
pub use handshake::Handshake;
#[cfg(feature = "tower-sessions")]
pub use http_session::HttpSession;
pub use io::{Parser, SioConfig, SocketIo, SocketIoBuilder};
pub use metrics::Metrics;
pub use ns::Namespace;
pub use operators::{BroadcastAcks, BroadcastOperator, IntoRooms, RemoteSocket};
pub use recovery::RecoveryConfig;
pub use serve::{serve, serve_listener, Serve};
pub use session::Session;
pub use socket::{DisconnectReason, Socket, SocketEmitter, SocketId};
pub use sockio_engine::{
    CookieConfig, Cors, EngineConfig, EngineConfigBuilder, EngineStats, HandshakeRequest, Query,
    Refusal, RefusalReason, SameSite, TransportKind,
};
pub use stats::Stats;

/// The `http` crate sockio is built on (headers, `Request` parts).
pub use http;

/// The `bytes` crate: binary arguments are [`bytes::Bytes`].
pub use bytes;
pub use test_client::{Received, TestClient, TestClientBuilder, TestClientError};
pub use value::Value;

/// The handshake query parser (`a=1&b=x+y`, URL-decoded pairs) that
/// [`Socket::query`] and the Engine.IO v3 implicit connection use. Public only
/// for the fuzzers (`fuzz/`); not part of the API.
#[doc(hidden)]
pub fn __fuzz_parse_query(q: &str) -> Vec<(String, String)> {
    util::parse_query(q)
}

/// An Engine.IO connection as this crate holds it.
pub(crate) type Conn = sockio_engine::Socket<ConnData>;

/// The README's examples, compiled as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
