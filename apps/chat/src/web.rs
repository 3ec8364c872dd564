//! The page: plain HTML, CSS and JavaScript compiled into the binary, and the
//! official socket.io browser clients read from `node_modules` at start (npm
//! packages `socket.io-client` 4.x for `/`, 1.4 for `/legacy`).

use std::path::{Path, PathBuf};

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../web/index.html");
const APP_JS: &str = include_str!("../web/app.js");
const APP_CSS: &str = include_str!("../web/app.css");

/// The client scripts, relative to the client directory.
const MODERN: &str = "socket.io-client/dist/socket.io.min.js";
const LEGACY: &str = "socket.io-client-1.4/socket.io.js";

/// `apps/chat/node_modules` of the source tree this binary was built from.
pub fn default_client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules")
}

fn script(dir: &Path, rel: &str) -> Response {
    match std::fs::read(dir.join(rel)) {
        Ok(bytes) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/javascript; charset=utf-8",
                ),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} is missing: run `npm ci` in apps/chat (bash scripts/run.sh does it)\n",
                dir.join(rel).display()
            ),
        )
            .into_response(),
    }
}

/// The HTTP routes: `/` (socket.io-client 4), `/legacy` (socket.io-client
/// 1.4, Engine.IO v3), their assets and `/healthz`.
pub fn router(client_dir: &Path) -> Router {
    for rel in [MODERN, LEGACY] {
        if !client_dir.join(rel).exists() {
            tracing::warn!(
                "{} is missing: the page will not connect; run `npm ci` in apps/chat",
                client_dir.join(rel).display()
            );
        }
    }
    let modern = INDEX
        .replace("{{CLIENT}}", "/vendor/socket.io.min.js")
        .replace("{{FLAVOUR}}", "socket.io-client 4");
    let legacy = INDEX
        .replace("{{CLIENT}}", "/vendor/socket.io-1.4.js")
        .replace("{{FLAVOUR}}", "socket.io-client 1.4 (legacy)");
    let (d1, d2) = (client_dir.to_path_buf(), client_dir.to_path_buf());
    Router::new()
        .route("/", get(move || async move { Html(modern) }))
        .route("/legacy", get(move || async move { Html(legacy) }))
        .route(
            "/app.js",
            get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/javascript; charset=utf-8",
                    )],
                    APP_JS,
                )
            }),
        )
        .route(
            "/app.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], APP_CSS) }),
        )
        .route(
            "/vendor/socket.io.min.js",
            get(move || async move { script(&d1, MODERN) }),
        )
        .route(
            "/vendor/socket.io-1.4.js",
            get(move || async move { script(&d2, LEGACY) }),
        )
        .route("/healthz", get(|| async { "ok" }))
}
