//! The page's HTTP session (tower-sessions) in sockets: a copy at connect
//! (Flask-SocketIO's managed session) or the live one (`manage_session(false)`
//! and the `HttpSession` extractor). Needs the `tower-sessions` feature.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockio::{Socket, SocketIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

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

/// An HTTP client that keeps the session cookie.
async fn http_get(port: u16, path: &str, cookie: &str) -> (String, Option<String>) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).await.unwrap();
    let set_cookie = resp
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .map(|c| c.split(';').next().unwrap().to_string());
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (body, set_cookie)
}

async fn ws_with_cookie(port: u16, cookie: &str) -> tokio_tungstenite::WebSocketStream<TcpStream> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let mut req = url.into_client_request().unwrap();
    req.headers_mut().insert("cookie", cookie.parse().unwrap());
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    assert!(text(&mut ws).await.starts_with("0{"));
    ws.send(Message::text("40")).await.unwrap();
    assert!(text(&mut ws).await.starts_with("40{"));
    ws
}

async fn session_app(manage: bool) -> u16 {
    use axum::routing::get;
    use sockio::HttpSession;
    use tower_sessions::{MemoryStore, Session, SessionManagerLayer};
    let store = MemoryStore::default();
    let io = SocketIo::builder()
        .http_sessions(store.clone())
        .manage_session(manage)
        .build()
        .unwrap();
    // Managed (a copy): what the login route stored, and a change that
    // stays with the socket.
    io.on("whoami", |s: Socket| async move {
        let user = s.session().get::<String>("user").unwrap_or_default();
        s.session().insert("user", "changed-in-socket");
        user
    });
    // Live: read and write the HTTP session itself.
    io.on(
        "set-room",
        |h: HttpSession, sockio::Data(room): sockio::Data<String>| async move {
            h.insert("room", room).await.map_err(|e| e.to_string())?;
            h.save().await.map_err(|e| e.to_string())?;
            Ok::<_, String>(
                h.get::<String>("user")
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default(),
            )
        },
    );
    let app = axum::Router::new()
        .route(
            "/login",
            get(|s: Session| async move {
                s.insert("user", "ada").await.unwrap();
                "ok"
            }),
        )
        .route(
            "/me",
            get(|s: Session| async move {
                let user: Option<String> = s.get("user").await.unwrap();
                let room: Option<String> = s.get("room").await.unwrap();
                format!("{}/{}", user.unwrap_or_default(), room.unwrap_or_default())
            }),
        )
        .layer(io.layer())
        .layer(SessionManagerLayer::new(store).with_secure(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn the_socket_session_starts_as_a_copy_of_the_http_session() {
    let port = session_app(true).await;
    let (body, cookie) = http_get(port, "/login", "").await;
    assert_eq!(body, "ok");
    let cookie = cookie.expect("the login sets the session cookie");
    let mut ws = ws_with_cookie(port, &cookie).await;
    ws.send(Message::text(r#"421["whoami"]"#)).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"431["ada"]"#);
    // The copy changed; the HTTP session did not (Flask's managed session).
    ws.send(Message::text(r#"422["whoami"]"#)).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"432["changed-in-socket"]"#);
    assert_eq!(http_get(port, "/me", &cookie).await.0, "ada/");
    // The live session is there too: a write reaches the HTTP routes.
    ws.send(Message::text(r#"423["set-room","General"]"#))
        .await
        .unwrap();
    assert_eq!(text(&mut ws).await, r#"433["ada"]"#);
    assert_eq!(http_get(port, "/me", &cookie).await.0, "ada/General");
}

#[tokio::test]
async fn manage_session_false_gives_no_copy() {
    let port = session_app(false).await;
    let (_, cookie) = http_get(port, "/login", "").await;
    let cookie = cookie.unwrap();
    let mut ws = ws_with_cookie(port, &cookie).await;
    ws.send(Message::text(r#"421["whoami"]"#)).await.unwrap();
    assert_eq!(text(&mut ws).await, r#"431[""]"#);
    ws.send(Message::text(r#"422["set-room","Lobby"]"#))
        .await
        .unwrap();
    assert_eq!(text(&mut ws).await, r#"432["ada"]"#);
    assert_eq!(http_get(port, "/me", &cookie).await.0, "ada/Lobby");
}
