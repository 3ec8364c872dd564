//! A standalone Engine.IO echo server: every message is sent back as it came
//! (text as text, binary as binary).
//!
//! ```text
//! cargo run -p sockio-engine --example echo -- --port 3000
//! ```
//!
//! Path `/engine.io/`, pingInterval 300 ms, pingTimeout 200 ms, maxPayload
//! 1000000, CORS `*`, Engine.IO v3 accepted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use sockio_engine::{Cors, DisconnectReason, Engine, EngineConfig, EngineHandler, Message, Socket};
use tokio::net::TcpListener;
use tower_service::Service;

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
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("listening on http://{}/engine.io/", listener.local_addr()?);
    let service = engine.service();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let service = service.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |mut req: Request<Incoming>| {
                        req.extensions_mut().insert::<SocketAddr>(peer);
                        let mut s = service.clone();
                        async move { Ok::<_, Infallible>(s.call(req).await.unwrap_or_else(|e| match e {})) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), svc)
                        .with_upgrades()
                        .await;
                });
            }
            _ = tokio::signal::ctrl_c() => {
                engine.close_all(DisconnectReason::ServerShutdown).await;
                return Ok(());
            }
        }
    }
}
