//! `sockio::serve`: the Socket.IO endpoint, the app's axum routes and a
//! static directory on one server, several listeners, one shutdown signal.

mod common;

use std::future::IntoFuture;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sockio::{DisconnectReason, SocketIo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn static_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sockio-serve-test-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>index</h1>").unwrap();
    std::fs::write(dir.join("file.txt"), "from the static dir").unwrap();
    std::fs::write(dir.join("shadowed.txt"), "from the static dir").unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    h.finish()
}

#[tokio::test]
async fn socketio_router_and_static_dir_on_one_server_in_that_order() {
    let io = SocketIo::builder().build().unwrap();
    let dir = static_dir();
    let router = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route(
            "/shadowed.txt",
            axum::routing::get(|| async { "from the router" }),
        )
        // A route under the Socket.IO path never sees a request.
        .route("/socket.io/", axum::routing::get(|| async { "router" }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        sockio::serve_listener(io, listener)
            .router(router)
            .static_dir(&dir)
            .shutdown_signal(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let r = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("0{\"sid\":"), "{}", r.text());
    assert_eq!(get(addr, "/health").await.text(), "ok");
    assert_eq!(get(addr, "/shadowed.txt").await.text(), "from the router");
    assert_eq!(get(addr, "/file.txt").await.text(), "from the static dir");
    assert_eq!(get(addr, "/").await.text(), "<h1>index</h1>");
    assert_eq!(get(addr, "/missing.txt").await.status, 404);
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn without_router_or_files_other_paths_are_404() {
    let io = SocketIo::builder().build().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sockio::serve_listener(io, listener).into_future());
    assert_eq!(get(addr, "/").await.status, 404);
    assert_eq!(
        get(addr, "/socket.io/?EIO=4&transport=polling")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn one_signal_stops_every_listener_and_closes_every_socket() {
    let io = SocketIo::builder().build().unwrap();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let log = reasons.clone();
    io.on_disconnect(move |reason: DisconnectReason| {
        let log = log.clone();
        async move { log.lock().unwrap().push(reason.as_str().to_owned()) }
    });
    let l1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let l2 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (a1, a2) = (l1.local_addr().unwrap(), l2.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        sockio::serve_listener(io.clone(), l1)
            .listener(l2)
            .shutdown_signal(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    // One Socket.IO client on each listener.
    let mut clients = Vec::new();
    for a in [a1, a2] {
        let mut ws = ws_connect(a, "EIO=4&transport=websocket").await;
        assert!(ws_recv(&mut ws, true).await.starts_with("0{"));
        ws_send(&mut ws, "40").await;
        assert!(ws_recv(&mut ws, true).await.starts_with("40{\"sid\":"));
        clients.push(ws);
    }
    assert_eq!(io.connection_count(), 2);
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    for mut ws in clients {
        assert!(ws_closes(&mut ws).await);
    }
    // Disconnect handlers may still be running: wait for both (bounded).
    for _ in 0..200 {
        if reasons.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        *reasons.lock().unwrap(),
        vec!["server shutting down".to_owned(); 2]
    );
    assert_eq!(io.connection_count(), 0);
    assert!(tokio::net::TcpStream::connect(a1).await.is_err());
    assert!(tokio::net::TcpStream::connect(a2).await.is_err());
}
