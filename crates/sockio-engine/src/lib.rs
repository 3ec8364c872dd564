//! # sockio-engine
//!
//! An Engine.IO server (protocol v4, and v3 for socket.io-client 1.x/2.x) over
//! HTTP long-polling and WebSocket, with the polling → WebSocket upgrade,
//! heartbeats, limits and CORS, byte for byte as the Node.js reference server.
//!
//! It knows nothing of Socket.IO namespaces or events: the layer above
//! implements [`EngineHandler`] and receives [`Message`]s per [`Socket`].
//! It is usable on its own (see `examples/echo.rs`).
#![deny(missing_docs)]

mod config;
mod engine;
mod handler;
mod message;
mod socket;

pub use config::{ConfigError, CookieConfig, Cors, EngineConfig, EngineConfigBuilder, SameSite};
pub use engine::{Engine, EngineLayer, EngineService};
pub use handler::EngineHandler;
pub use message::Message;
pub use socket::{DisconnectReason, ProtocolVersion, SendError, Sid, Socket, TransportKind};
