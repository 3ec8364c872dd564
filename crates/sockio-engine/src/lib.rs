//! # sockio-engine
//!
//! An Engine.IO server (protocol v4, and v3 for socket.io-client 1.x/2.x) over
//! HTTP long-polling and WebSocket, with the polling → WebSocket upgrade,
//! heartbeats, limits and CORS, byte for byte as the Node.js reference server.
//!
//! It knows nothing of Socket.IO namespaces or events: the layer above
//! implements [`EngineHandler`] and receives [`Message`]s per [`Socket`].
//! It is usable on its own (see `examples/echo.rs`).
//!
//! ## Map
//! - [`EngineConfig`] (+ [`Cors`], [`CookieConfig`]): options, Node's defaults.
//! - [`Engine`]: the session table; [`Engine::service`] / [`Engine::layer`]
//!   give a tower service to mount in hyper or axum.
//! - [`EngineHandler`]: what the layer above implements.
//! - [`Socket`]: one session; [`Socket::send`] queues without waiting.
//! - [`codec`]: the pure packet and payload codecs (no I/O).
//!
//! The peer address is read from a [`std::net::SocketAddr`] in the request
//! extensions: insert it in your accept loop to get [`Socket::remote_addr`].
#![deny(missing_docs)]

pub mod codec;
mod config;
mod engine;
mod handler;
mod http_util;
mod message;
mod polling;
mod service;
mod socket;
mod ws;

pub use config::{ConfigError, CookieConfig, Cors, EngineConfig, EngineConfigBuilder, SameSite};
pub use engine::Engine;
pub use handler::EngineHandler;
pub use message::Message;
pub use service::{EngineLayer, EngineService, NotFound, ResponseBody};
pub use socket::{DisconnectReason, ProtocolVersion, SendError, Sid, Socket, TransportKind};
