//! What the tutorial servers share: `socketio.run(app, port=3001)` with the
//! tutorial's page, and the socket.io browser client the tutorial loaded from
//! a CDN (1.4.4 or 4.0.1) served from `node_modules` instead (no internet).
#![deny(missing_docs)]

use std::path::PathBuf;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use sockio::SocketIo;

/// The browser client a tutorial's page loads.
#[derive(Debug, Clone, Copy)]
pub enum Client {
    /// socket.io 1.4.4, as `cdnjs.../socket.io/1.4.4/socket.io.js` (Engine.IO v3).
    V1_4_4,
    /// socket.io 4.0.1, as `cdnjs.../socket.io/4.0.1/socket.io.js`.
    V4_0_1,
}

impl Client {
    fn file(self) -> PathBuf {
        let nm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules");
        match self {
            Client::V1_4_4 => nm.join("socket.io-client-1.4.4/socket.io.js"),
            Client::V4_0_1 => nm.join("socket.io-client-4.0.1/dist/socket.io.js"),
        }
    }
}

/// Logs to the terminal like the tutorials' `print()` calls (`RUST_LOG` filters).
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
}

/// Serves `io`, the page at `/` and the client at `/socket.io.js` on
/// 127.0.0.1:$PORT (3001 by default, the tutorials' port) until Ctrl-C.
pub async fn run(io: SocketIo, page: &'static str, client: Client) -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let file = client.file();
    let app = axum::Router::new()
        .route("/", get(move || async move { Html(page) }))
        .route(
            "/socket.io.js",
            get(move || async move {
                match std::fs::read(&file) {
                    Ok(js) => {
                        ([(header::CONTENT_TYPE, "application/javascript")], js).into_response()
                    }
                    Err(_) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "{} missing: run `npm ci` in examples/tutorials",
                            file.display()
                        ),
                    )
                        .into_response(),
                }
            }),
        )
        .layer(io.layer());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("tutorial on http://{}/", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            io.close().await;
        })
        .await
}
