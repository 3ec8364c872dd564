//! `sockio-chat`: the chat the Flask-SocketIO tutorials build, on sockio, axum
//! and sqlx. People register and log in (argon2 password hashes), join rooms
//! and get their history, talk live, see who is there, and vote in polls whose
//! bars move for everyone. Storage is SQLite by default, PostgreSQL by URL.
//!
//! The protocol (namespace `/chat`) is in `PROTOCOL.md`; [`chat`] implements
//! it, [`store`] keeps the data, [`web`] serves the page.
#![deny(missing_docs)]

pub mod chat;
pub mod store;
pub mod web;
mod writer;

use std::path::PathBuf;

pub use chat::{Chat, ChatConfig, NAMESPACE};
use sockio::SocketIo;
pub use store::{Store, StoreError};

/// Everything the server needs besides its listener.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The chat's limits.
    pub chat: ChatConfig,
    /// Where the npm packages with the browser clients are (`node_modules`).
    pub client_dir: PathBuf,
    /// Largest Engine.IO payload accepted, bytes (default 100,000).
    pub max_payload: u64,
    /// Redis, to run several servers as one chat (default none: one server).
    /// Every server must use the same database.
    pub redis_url: Option<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            chat: ChatConfig::default(),
            client_dir: web::default_client_dir(),
            max_payload: 100_000,
            redis_url: None,
        }
    }
}

/// The running application's parts.
pub struct App {
    /// The Socket.IO server (to close it on shutdown).
    pub io: SocketIo,
    /// The chat state.
    pub chat: Chat,
    /// The HTTP routes with Socket.IO mounted.
    pub router: axum::Router,
}

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Redis (`redis_url`) could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] sockio::AdapterError),
}

/// Builds the Socket.IO server, the chat's handlers and the HTTP routes on
/// `store`, in a cluster over Redis when `cfg.redis_url` is set.
pub async fn build(store: Store, cfg: AppConfig) -> Result<App, BuildError> {
    let mut builder = SocketIo::builder();
    if let Some(url) = &cfg.redis_url {
        // The classic adapter of Node's @socket.io/redis-adapter: broadcasts
        // reach every server's sockets, and the servers answer each other's
        // presence requests (see chat.rs).
        builder = builder.adapter(sockio_redis::RedisAdapter::new(url).await?);
    }
    let io = builder
        // A socket's handlers run concurrently (sockio's default, as Node's and
        // Flask-SocketIO's): the writer task keeps messages in order.
        .async_handlers(true)
        // The /legacy page's socket.io 1.4 client speaks Engine.IO v3.
        .allow_eio3(true)
        .max_payload(cfg.max_payload)
        .build()
        .expect("valid options");
    let chat = Chat::install(&io, store, cfg.chat.clone()).await?;
    // Subscribed to /chat's channels before the first client comes.
    io.adapter_ready().await?;
    let router = web::router(&cfg.client_dir).layer(io.layer());
    Ok(App { io, chat, router })
}
