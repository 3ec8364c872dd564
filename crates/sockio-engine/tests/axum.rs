//! The engine mounted in axum with `Router::layer`, beside ordinary routes.

mod common;

use common::*;

#[tokio::test]
async fn mounts_in_axum_router() {
    let engine = sockio_engine::Engine::new(conformance().build().unwrap(), Recorder::default());
    let app = axum::Router::new()
        .route("/hello", axum::routing::get(|| async { "hi" }))
        .layer(engine.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let r = get(addr, "/hello").await;
    assert_eq!((r.status, r.text().as_str()), (200, "hi"));
    let r = get(addr, "/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 200);
    let sid = sid_of(&r.text());
    assert_eq!(post(addr, &poll_path(&sid), b"4x").await.text(), "ok");
    assert_eq!(get(addr, &poll_path(&sid)).await.text(), "4x");
    // WebSocket through axum's server (upgrades enabled by axum::serve).
    let mut ws = ws_connect(addr, "EIO=4&transport=websocket").await;
    let open = ws_text(&mut ws).await;
    assert!(open.starts_with("0{\"sid\":"));
    ws_send(&mut ws, "4via-axum").await;
    assert_eq!(ws_text(&mut ws).await, "4via-axum");
}
