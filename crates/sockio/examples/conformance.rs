//! The conformance example server (`../shared/CONFORMANCE-SERVER.md`):
//! `/engine.io/` is a bare Engine.IO echo server, `/socket.io/` a Socket.IO
//! server whose namespaces `/` and `/custom` answer CONNECT with the `auth`
//! event and echo `message` / `message-with-ack`.
//!
//! `cargo run --release -p sockio --example conformance` (listens on
//! localhost:3000, IPv4 and IPv6).

use std::sync::Arc;
use std::time::Duration;

use sockio::SocketIo;
use sockio_engine::{EngineConfig, EngineHandler, Message};

#[path = "shared/contracts.rs"]
mod contracts;

/// Echoes every Engine.IO message back, text as text and binary as binary.
struct Echo;

impl EngineHandler for Echo {
    type Data = ();
    fn on_open(&self, _: &Arc<sockio_engine::Socket<()>>) {}
    fn on_message(&self, socket: &Arc<sockio_engine::Socket<()>>, msg: Message) {
        let _ = socket.send(msg);
    }
    fn on_close(&self, _: &Arc<sockio_engine::Socket<()>>, _: sockio_engine::DisconnectReason) {}
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let ping_interval = Duration::from_millis(300);
    let ping_timeout = Duration::from_millis(200);

    let echo = sockio_engine::Engine::new(
        EngineConfig::builder()
            .path("/engine.io/")
            .ping_interval(ping_interval)
            .ping_timeout(ping_timeout)
            .max_payload(1_000_000)
            .cors(sockio_engine::Cors::any())
            .build()?,
        Echo,
    );

    let io = SocketIo::builder()
        .ping_interval(ping_interval)
        .ping_timeout(ping_timeout)
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .cors_allowed_origins(["*"])
        .build()?;
    contracts::conformance_handlers(&io);

    let app = axum::Router::new().layer(io.layer()).layer(echo.layer());
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let v4 = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("conformance server on http://localhost:{port} (/engine.io/ and /socket.io/)");
    let v6 = tokio::net::TcpListener::bind(("::1", port)).await.ok();
    if let Some(v6) = v6 {
        let app6 = app.clone();
        tokio::spawn(async move { axum::serve(v6, app6).await });
    }
    axum::serve(v4, app).await?;
    Ok(())
}
