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
//! ```no_run
//! use std::sync::Arc;
//! use sockio_engine::{Engine, EngineConfig, EngineHandler, Message, Socket};
//!
//! struct Echo;
//! impl EngineHandler for Echo {
//!     type Data = ();
//!     fn on_message(&self, socket: &Arc<Socket<()>>, msg: Message) {
//!         let _ = socket.send(msg);
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let engine = Engine::new(EngineConfig::default(), Echo);
//!     // Until Ctrl-C or SIGTERM; then every session is closed.
//!     sockio_engine::serve(engine, "127.0.0.1:3000").await
//! }
//! ```
//!
//! ## Map
//! - [`EngineConfig`] (+ [`Cors`], [`CookieConfig`]): options, Node's defaults
//!   and our limits (see the builder's methods for each default).
//! - [`Engine`]: the session table; [`Engine::service`] / [`Engine::layer`]
//!   give a tower service to mount in hyper or axum; [`Engine::stats`] the
//!   counters ([`EngineStats`]).
//! - [`EngineHandler`]: what the layer above implements.
//! - [`Socket`]: one session; [`Socket::send`] queues without waiting,
//!   [`Socket::pause_reading`] applies backpressure.
//! - [`serve`] (the engine alone) and [`Server`] (the HTTP/1.1 server under
//!   it and under `sockio::serve`): listeners, graceful shutdown.
//! - [`Query`], [`HandshakeRequest`], [`Refusal`]: what `allow_request` sees
//!   and answers.
//! - [`codec`]: the pure packet and payload codecs (no I/O).
//!
//! The peer address is read from a [`std::net::SocketAddr`] in the request
//! extensions: [`Server`] puts it there; a hand-written accept loop must
//! insert it to get [`Socket::remote_addr`].
#![deny(missing_docs)]

pub mod codec;
mod config;
mod conn_timer;
mod engine;
mod handler;
mod http_util;
mod message;
mod polling;
pub mod query;
mod request;
mod server;
mod service;
mod socket;
mod stats;
mod ws;
mod ws_deflate;

pub use config::{
    ConfigError, CookieConfig, Cors, EngineConfig, EngineConfigBuilder, SameSite,
    DEFAULT_MAX_CONNECTIONS,
};
pub use engine::Engine;
pub use handler::EngineHandler;
pub use message::Message;
pub use query::Query;
pub use request::{HandshakeRequest, Refusal};
pub use server::{serve, Serve, Server};
pub use service::{EngineLayer, EngineService, NotFound, ResponseBody};
pub use socket::{
    CurrentRequest, DisconnectReason, ProtocolVersion, SendError, Sid, Socket, TransportKind,
};
pub use stats::{EngineStats, RefusalReason};
