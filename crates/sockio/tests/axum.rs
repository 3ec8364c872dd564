//! sockio mounted in an axum application: other routes keep working, and a
//! tower middleware's request extension (an HTTP session) reaches the socket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockio::{Socket, SocketIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone)]
struct HttpSession {
    user: String,
}

async fn app() -> u16 {
    let io = SocketIo::builder().build().unwrap();
    io.on("whoami", |s: Socket| async move {
        s.http_extension::<HttpSession>()
            .map(|h| h.user)
            .unwrap_or_default()
    });
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "home page" }))
        .layer(io.layer())
        .layer(axum::Extension(HttpSession { user: "ada".into() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn text(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> String {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return t.to_string();
        }
    }
}

#[tokio::test]
async fn other_routes_fall_through_and_the_http_session_reaches_the_socket() {
    let port = app().await;

    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    tcp.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.ends_with("home page"), "{page}");

    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    assert!(text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    ws.send(Message::text(r#"421["whoami"]"#)).await.unwrap();
    let got = [text(&mut ws).await, text(&mut ws).await];
    assert!(got[0].starts_with("40{\"sid\":"), "{got:?}");
    assert_eq!(got[1], r#"431["ada"]"#);
}
