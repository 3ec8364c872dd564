//! Security properties a user relies on, as an attacker would probe them.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use sockio::{Data, Socket, SocketIo, TestClient, Value};

const QUIET: Duration = Duration::from_millis(300);

fn io() -> SocketIo {
    let io = SocketIo::builder().build().unwrap();
    for nsp in ["/", "/chat"] {
        io.of(nsp)
            .on("join", |s: Socket, Data(room): Data<String>| async move {
                s.join(room.as_str());
                s.rooms()
            })
            .on(
                "say",
                |s: Socket, Data(room): Data<String>, Data(text): Data<String>| async move {
                    s.to(room.as_str()).emit("said", &text).await
                },
            );
    }
    io
}

#[tokio::test]
async fn messages_never_cross_namespaces_or_rooms() {
    let io = io();
    let root_in = TestClient::connect(&io).await.unwrap();
    let root_out = TestClient::connect(&io).await.unwrap();
    let chat_in = TestClient::builder(&io)
        .namespace("/chat")
        .connect()
        .await
        .unwrap();
    let sender = TestClient::connect(&io).await.unwrap();
    root_in.emit_with_ack("join", "r").await.unwrap();
    chat_in.emit_with_ack("join", "r").await.unwrap();
    // Same room name in another namespace, and a socket in no room.
    sender.emit_with_ack("say", &("r", "secret")).await.unwrap();
    assert_eq!(
        root_in.recv().await.unwrap().arg::<String>(0).unwrap(),
        "secret"
    );
    assert!(root_out.recv_nothing(QUIET).await.is_none());
    assert!(chat_in.recv_nothing(QUIET).await.is_none());
    assert!(sender.recv_nothing(QUIET).await.is_none());
}

#[tokio::test]
async fn a_socket_id_gives_no_way_to_receive_as_that_socket() {
    let io = io();
    let victim = TestClient::connect(&io).await.unwrap();
    let attacker = TestClient::connect(&io).await.unwrap();
    let victim_id = victim.id();
    // Joining the victim's own room is refused: the attacker's rooms are its own.
    let rooms = attacker.emit_with_ack("join", &victim_id).await.unwrap();
    assert_eq!(rooms, vec![sockio::value!([attacker.id()])]);
    let sender = TestClient::connect(&io).await.unwrap();
    sender
        .emit_with_ack("say", &(victim_id.as_str(), "for the victim"))
        .await
        .unwrap();
    assert_eq!(
        victim.recv().await.unwrap().arg::<String>(0).unwrap(),
        "for the victim"
    );
    assert!(attacker.recv_nothing(QUIET).await.is_none());
}

#[tokio::test]
async fn a_socket_id_is_not_a_session_id() {
    let addr = start(sockio::Parser::Json, false, INTEROP).await;
    let mut ws = ws_connect(addr, "EIO=4&transport=websocket").await;
    ws_recv(&mut ws, true).await;
    ws_send(&mut ws, "40").await;
    let reply = ws_recv(&mut ws, true).await;
    let sid: String = reply
        .split('"')
        .nth(3)
        .expect("the CONNECT reply's sid")
        .to_owned();
    // The socket id does not open the victim's Engine.IO session.
    let r = get(
        addr,
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":1,"message":"Session ID unknown"}"#);
    let r = http(
        addr,
        "POST",
        &format!("/socket.io/?EIO=4&transport=polling&sid={sid}"),
        &[("Content-Type", "text/plain")],
        br#"42["echo","as you"]"#,
    )
    .await;
    assert_eq!(r.status, 400);
    // The victim's session is fine.
    ws_recv(&mut ws, true).await; // welcome
    ws_send(&mut ws, r#"421["echo","me"]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"431["me"]"#);
}

#[tokio::test]
async fn acks_are_per_socket() {
    // A client answering an ack id the server sent to another socket does
    // not answer it.
    let io = SocketIo::builder().build().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    io.on("ask-me", move |s: Socket| {
        let tx = tx.clone();
        async move {
            tokio::spawn(async move {
                let r = s
                    .timeout(Duration::from_millis(500))
                    .emit_with_ack("q", &())
                    .await;
                let _ = tx.lock().unwrap().take().unwrap().send(r);
            });
        }
    });
    let victim = TestClient::connect(&io).await.unwrap();
    let attacker = TestClient::connect(&io).await.unwrap();
    victim.emit("ask-me", &()).await.unwrap();
    let q = victim.recv().await.unwrap();
    attacker.ack(&q, "forged").unwrap();
    assert!(matches!(rx.await.unwrap(), Err(sockio::AckError::Timeout)));
}

#[tokio::test]
async fn cors_refuses_origins_not_allowed() {
    let io = SocketIo::builder()
        .cors_allowed_origins(["http://good.example"])
        .build()
        .unwrap();
    let addr = serve(io).await;
    let path = "/socket.io/?EIO=4&transport=polling";
    let ok = http(addr, "GET", path, &[("Origin", "http://good.example")], b"").await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("http://good.example")
    );
    let bad = http(addr, "GET", path, &[("Origin", "http://evil.example")], b"").await;
    assert_eq!(bad.header("access-control-allow-origin"), None);
    let pre = http(
        addr,
        "OPTIONS",
        path,
        &[
            ("Origin", "http://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(pre.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn ids_are_unpredictable() {
    // 20 base64url characters each (120 bits from the OS-seeded CSPRNG):
    // all distinct, and every character position spread over the alphabet.
    let io = SocketIo::builder().build().unwrap();
    let mut ids = HashSet::new();
    let mut clients = Vec::new();
    for _ in 0..300 {
        let c = TestClient::connect(&io).await.unwrap();
        assert_eq!(c.id().len(), 20);
        assert!(c
            .id()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(ids.insert(c.id()));
        assert!(
            ids.insert(c.engine_id().to_owned()),
            "socket id ≠ session id"
        );
        clients.push(c);
    }
    for pos in 0..20 {
        let distinct: HashSet<u8> = ids.iter().map(|id| id.as_bytes()[pos]).collect();
        assert!(
            distinct.len() > 40,
            "position {pos}: {} symbols",
            distinct.len()
        );
    }
}

#[tokio::test]
async fn no_panic_reaches_the_runtime() {
    let io = SocketIo::builder().build().unwrap();
    io.of("/mw").middleware(|| async {
        if true {
            panic!("middleware bug")
        }
    });
    io.of("/conn").on_connect(|| async {
        if true {
            panic!("connect bug")
        }
    });
    io.on("boom", || async {
        if true {
            panic!("handler bug")
        }
    });
    io.of("/err")
        .on("boom", || async { Err::<(), _>("x") })
        .on_error(|| async {
            if true {
                panic!("error handler bug")
            }
        });
    io.on_disconnect(|| async {
        if true {
            panic!("disconnect bug")
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    for nsp in ["/mw", "/conn"] {
        assert!(matches!(
            c.connect_namespace(nsp, None).await,
            Err(sockio::TestClientError::Refused(_))
        ));
    }
    let ack = c.emit_with_ack("boom", &()).await.unwrap();
    assert!(ack[0]["error"].as_str().unwrap().contains("panicked"));
    c.connect_namespace("/err", None).await.unwrap();
    assert!(c
        .emit_with_ack_in("/err", "boom", &())
        .await
        .is_err_and(|e| matches!(e, sockio::TestClientError::Timeout)));
    c.close();
    // The server lives on.
    let d = TestClient::connect(&io).await.unwrap();
    assert_eq!(
        d.emit_with_ack("boom", &()).await.unwrap()[0]["error"]
            .as_str()
            .map(|s| s.contains("panicked")),
        Some(true)
    );
    let _ = Value::Null;
}
