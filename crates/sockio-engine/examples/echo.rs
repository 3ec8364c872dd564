//! A standalone Engine.IO echo server: every message is sent back as it came
//! (text as text, binary as binary).
//!
//! ```text
//! cargo run -p sockio-engine --example echo -- --port 3000
//! ```
//!
//! Path `/engine.io/`, pingInterval 300 ms, pingTimeout 200 ms, maxPayload
//! 1000000, CORS `*`, Engine.IO v3 accepted.

use std::sync::Arc;
use std::time::Duration;

use sockio_engine::{Cors, DisconnectReason, Engine, EngineConfig, EngineHandler, Message, Socket};

struct Echo;

impl EngineHandler for Echo {
    type Data = ();
    fn on_open(&self, socket: &Arc<Socket<()>>) {
        tracing::info!(sid = %socket.id(), "open");
    }
    fn on_message(&self, socket: &Arc<Socket<()>>, msg: Message) {
        let _ = socket.send(msg);
    }
    fn on_close(&self, socket: &Arc<Socket<()>>, reason: DisconnectReason) {
        tracing::info!(sid = %socket.id(), %reason, "close");
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut port: u16 = 3000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" | "-p" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port needs a number")?
            }
            other => return Err(format!("unknown argument {other:?} (use --port N)").into()),
        }
    }
    let config = EngineConfig::builder()
        .path("/engine.io/")
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .cors(Cors::any())
        .allow_eio3(true)
        .build()?;
    let engine = Engine::new(config, Echo);
    // Until Ctrl-C or SIGTERM, then every session is closed.
    sockio_engine::serve(engine, ("127.0.0.1", port)).await?;
    Ok(())
}
