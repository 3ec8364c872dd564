//! The Socket.IO rules of `CONFORMANCE-SERVER.md` §4, byte for byte, from a raw
//! WebSocket client against a server configured like the conformance example.

use std::future::IntoFuture;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockio::SocketIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[path = "../examples/shared/contracts.rs"]
mod contracts;

type Ws = WebSocketStream<TcpStream>;

async fn server() -> u16 {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
        .connect_timeout(Duration::from_millis(1000))
        .build()
        .unwrap();
    contracts::conformance_handlers(&io);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(sockio::serve_listener(io, listener).into_future());
    port
}

async fn open(port: u16) -> Ws {
    let url = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    let first = next(&mut ws).await.unwrap();
    assert!(first.starts_with("0{\"sid\":"), "{first}");
    ws
}

/// Next text frame, answering pings; binary frames as `<bin:HEX>`.
async fn next(ws: &mut Ws) -> Option<String> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .ok()??
            .ok()?;
        match m {
            Message::Text(t) if t.as_str() == "2" => {
                ws.send(Message::text("3")).await.ok()?;
            }
            Message::Text(t) => return Some(t.to_string()),
            Message::Binary(b) => return Some(format!("<bin:{}>", hex(&b))),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_string())).await.unwrap();
}

fn sid_reply(frame: &str, prefix: &str) {
    let body = frame
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{frame} should start with {prefix}"));
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 1, "exactly the key sid: {frame}");
    assert_eq!(obj["sid"].as_str().unwrap().len(), 20);
}

#[tokio::test]
async fn connect_replies_with_only_the_sid_then_the_auth_event() {
    let port = server().await;
    for (send_, prefix, auth) in [
        ("40", "40", r#"42["auth",{}]"#),
        (
            r#"40{"token":"123"}"#,
            "40",
            r#"42["auth",{"token":"123"}]"#,
        ),
        ("40/custom,", "40/custom,", r#"42/custom,["auth",{}]"#),
        (
            r#"40/custom,{"token":"abc"}"#,
            "40/custom,",
            r#"42/custom,["auth",{"token":"abc"}]"#,
        ),
        ("40/custom", "40/custom,", r#"42/custom,["auth",{}]"#),
    ] {
        let mut ws = open(port).await;
        send(&mut ws, send_).await;
        sid_reply(&next(&mut ws).await.unwrap(), prefix);
        assert_eq!(next(&mut ws).await.unwrap(), auth, "after {send_}");
    }
}

#[tokio::test]
async fn unknown_namespace_is_refused_exactly() {
    let port = server().await;
    let mut ws = open(port).await;
    send(&mut ws, "40/random").await;
    assert_eq!(
        next(&mut ws).await.unwrap(),
        r#"44/random,{"message":"Invalid namespace"}"#
    );
}

#[tokio::test]
async fn events_and_acks_come_back_verbatim() {
    let port = server().await;
    let mut ws = open(port).await;
    send(&mut ws, "40").await;
    next(&mut ws).await;
    next(&mut ws).await;
    send(&mut ws, r#"42["message",1,"2",{"3":[true]}]"#).await;
    assert_eq!(
        next(&mut ws).await.unwrap(),
        r#"42["message-back",1,"2",{"3":[true]}]"#
    );
    send(&mut ws, r#"42456["message-with-ack",1,"2",{"3":[false]}]"#).await;
    assert_eq!(
        next(&mut ws).await.unwrap(),
        r#"43456[1,"2",{"3":[false]}]"#
    );

    send(
        &mut ws,
        r#"452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    )
    .await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    ws.send(Message::binary(vec![4u8, 5, 6])).await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap(),
        r#"452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(next(&mut ws).await.unwrap(), "<bin:010203>");
    assert_eq!(next(&mut ws).await.unwrap(), "<bin:040506>");

    send(&mut ws, r#"452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#).await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    ws.send(Message::binary(vec![4u8, 5, 6])).await.unwrap();
    assert_eq!(
        next(&mut ws).await.unwrap(),
        r#"462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(next(&mut ws).await.unwrap(), "<bin:010203>");
    assert_eq!(next(&mut ws).await.unwrap(), "<bin:040506>");
}

#[tokio::test]
async fn leaving_a_namespace_keeps_the_session_and_the_others() {
    let port = server().await;
    let mut ws = open(port).await;
    send(&mut ws, "40").await;
    next(&mut ws).await;
    next(&mut ws).await;
    send(&mut ws, "40/custom").await;
    sid_reply(&next(&mut ws).await.unwrap(), "40/custom,");
    next(&mut ws).await;
    send(&mut ws, "41/custom").await;
    send(&mut ws, r#"42["message","message to main namespace"]"#).await;
    assert_eq!(
        next(&mut ws).await.unwrap(),
        r#"42["message-back","message to main namespace"]"#
    );

    // `41` on `/`: nothing comes back, the next frame is the regular ping.
    send(&mut ws, "41").await;
    let m = tokio::time::timeout(Duration::from_secs(2), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(m, Message::text("2"));
}

async fn closes(ws: &mut Ws) -> bool {
    tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    // never answer: the heartbeat must not be what closes it first
                }
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

#[tokio::test]
async fn invalid_packets_close_the_connection() {
    let port = server().await;
    // First packet not a CONNECT / not valid.
    let mut ws = open(port).await;
    send(&mut ws, "4abc").await;
    assert!(closes(&mut ws).await);
    // No CONNECT at all.
    let mut ws = open(port).await;
    assert!(closes(&mut ws).await);
    for bad in ["4abc", "42{}", r#"42abc["message"]"#] {
        let mut ws = open(port).await;
        send(&mut ws, "40").await;
        next(&mut ws).await;
        next(&mut ws).await;
        send(&mut ws, bad).await;
        assert!(closes(&mut ws).await, "{bad} must close the connection");
    }
    // An event for a namespace the client did not join.
    let mut ws = open(port).await;
    send(&mut ws, "40").await;
    next(&mut ws).await;
    next(&mut ws).await;
    send(&mut ws, r#"42/custom,["message"]"#).await;
    assert!(closes(&mut ws).await);
    // The server still serves others.
    let mut ws = open(port).await;
    send(&mut ws, "40").await;
    sid_reply(&next(&mut ws).await.unwrap(), "40");
}
