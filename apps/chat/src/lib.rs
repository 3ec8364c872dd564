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
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            chat: ChatConfig::default(),
            client_dir: web::default_client_dir(),
            max_payload: 100_000,
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

/// Builds the Socket.IO server, the chat's handlers and the HTTP routes on `store`.
pub async fn build(store: Store, cfg: AppConfig) -> Result<App, StoreError> {
    let io = SocketIo::builder()
        // A socket's handlers run concurrently (sockio's default, as Node's and
        // Flask-SocketIO's): the writer task keeps messages in order.
        .async_handlers(true)
        // The /legacy page's socket.io 1.4 client speaks Engine.IO v3.
        .allow_eio3(true)
        .max_payload(cfg.max_payload)
        .build()
        .expect("valid options");
    let chat = Chat::install(&io, store, cfg.chat.clone()).await?;
    let router = web::router(&cfg.client_dir).layer(io.layer());
    Ok(App { io, chat, router })
}
