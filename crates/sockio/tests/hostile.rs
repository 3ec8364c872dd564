//! Hostile input at the Socket.IO layer (the engine's own cases live in
//! `sockio-engine/tests`): packet, auth and resource abuse against the
//! interop example server, from a raw WebSocket client. After each case a
//! well-behaved client connects and is answered at once, and the server's
//! tables (connections, sockets, rooms) are back to where they were.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use sockio::{Parser, SocketIo};

struct Server {
    io: SocketIo,
    addr: SocketAddr,
}

async fn server() -> Server {
    let io = SocketIo::builder()
        .ping_interval(Duration::from_millis(500))
        .ping_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .max_payload(1_000_000)
        .build()
        .unwrap();
    common::contracts_interop(&io);
    let addr = common::serve(io.clone()).await;
    Server { io, addr }
}

impl Server {
    /// A v4 WebSocket session, not yet in any namespace.
    async fn raw(&self) -> Ws {
        let mut ws = ws_connect(self.addr, "EIO=4&transport=websocket").await;
        assert!(ws_recv(&mut ws, true).await.starts_with("0{"));
        ws
    }

    /// A raw session connected to `/` (CONNECT reply and welcome read).
    async fn connected(&self) -> Ws {
        let mut ws = self.raw().await;
        ws_send(&mut ws, "40").await;
        assert!(ws_recv(&mut ws, true).await.starts_with("40{\"sid\":"));
        assert!(ws_recv(&mut ws, true).await.starts_with("42[\"welcome\""));
        ws
    }

    /// A well-behaved client connects and gets its echo acknowledged; then
    /// every abusive session is gone and `/` has no socket or room left.
    async fn healthy(&self) {
        let mut ws = self.connected().await;
        ws_send(&mut ws, r#"427["echo","still here",{"n":1}]"#).await;
        assert_eq!(ws_recv(&mut ws, true).await, r#"437["still here",{"n":1}]"#);
        drop(ws);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let conns = self.io.connection_count();
            let sockets = self.io.of("/").sockets().len();
            let rooms = self.io.of("/").rooms().await.unwrap().len();
            if conns == 0 && sockets == 0 && rooms == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "left behind: {conns} connections, {sockets} sockets, {rooms} rooms"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Sends `text` on a connected session and expects the server to close it.
async fn closes_on(text: &str) {
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send(&mut ws, text).await;
    assert!(ws_closes(&mut ws).await, "{text:?} must close the session");
    s.healthy().await;
}

#[tokio::test]
async fn event_before_connect_closes() {
    let s = server().await;
    let mut ws = s.raw().await;
    ws_send(&mut ws, r#"42["echo",1]"#).await;
    assert!(ws_closes(&mut ws).await);
    s.healthy().await;
}

#[tokio::test]
async fn connect_twice_closes() {
    closes_on("40").await;
}

#[tokio::test]
async fn invalid_namespaces_are_refused_and_the_session_survives() {
    let s = server().await;
    let mut ws = s.connected().await;
    let long = format!("/{}", "x".repeat(50_000));
    for nsp in ["/../etc", "/nope", "/a b", long.as_str(), "/\u{0}"] {
        ws_send(&mut ws, &format!("40{nsp},")).await;
        let reply = ws_recv(&mut ws, true).await;
        assert!(
            reply.starts_with("44") && reply.contains("Invalid namespace"),
            "{nsp:.20}: {reply:.80}"
        );
    }
    ws_send(&mut ws, r#"421["echo","ok"]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"431["ok"]"#);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn payload_not_an_array_closes() {
    closes_on(r#"42{"a":1}"#).await;
}

#[tokio::test]
async fn event_name_not_a_string_closes() {
    closes_on(r#"42[1,2]"#).await;
}

#[tokio::test]
async fn empty_event_array_closes() {
    closes_on("42[]").await;
}

#[tokio::test]
async fn reserved_event_name_from_a_client_closes() {
    closes_on(r#"42["disconnect"]"#).await;
}

#[tokio::test]
async fn ack_id_over_64_bits_closes() {
    closes_on(r#"4299999999999999999999999["echo"]"#).await;
}

#[tokio::test]
async fn largest_ack_id_is_answered() {
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send(&mut ws, r#"4218446744073709551615["echo",1]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, "4318446744073709551615[1]");
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn huge_attachment_count_closes() {
    closes_on(r#"45999999999-["echo",{"_placeholder":true,"num":0}]"#).await;
}

#[tokio::test]
async fn placeholder_beyond_the_count_closes() {
    closes_on(r#"451-["echo",{"_placeholder":true,"num":7}]"#).await;
}

#[tokio::test]
async fn text_while_attachments_are_expected_closes() {
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send(&mut ws, r#"451-["echo",{"_placeholder":true,"num":0}]"#).await;
    ws_send(&mut ws, r#"42["echo"]"#).await;
    assert!(ws_closes(&mut ws).await);
    s.healthy().await;
}

#[tokio::test]
async fn attachments_never_sent_end_with_the_session() {
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send(
        &mut ws,
        r#"452-["echo",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
    )
    .await;
    ws_send_bin(&mut ws, &[1, 2, 3]).await;
    // The second attachment never comes; the client goes away.
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn unexpected_binary_closes() {
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send_bin(&mut ws, &[0xde, 0xad]).await;
    assert!(ws_closes(&mut ws).await);
    s.healthy().await;
}

#[tokio::test]
async fn attachment_count_that_lies_low_is_completed_by_the_count() {
    // Declares one attachment but has no placeholder: the binary is taken
    // and the event handled; nothing is left waiting.
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send(&mut ws, r#"451-1["echo","x"]"#).await;
    ws_send_bin(&mut ws, &[9]).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"431["x"]"#);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn deep_nesting_closes() {
    let deep = format!("42[\"echo\",{}{}]", "[".repeat(5000), "]".repeat(5000));
    closes_on(&deep).await;
}

#[tokio::test]
async fn huge_array_within_the_payload_is_handled() {
    let s = server().await;
    let mut ws = s.connected().await;
    let items = vec!["0"; 200_000].join(",");
    ws_send(&mut ws, &format!("421[\"join\",[{items}]]")).await;
    // `join` wants a string: the error handler answers, the session lives.
    let reply = ws_recv(&mut ws, true).await;
    assert!(reply.starts_with("431[{\"error\":"), "{reply:.100}");
    ws_send(&mut ws, r#"422["echo",2]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"432[2]"#);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn nul_bytes_travel_as_data() {
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send(&mut ws, r#"421["echo","a\u0000b",{"k\u0000":"\u0000"}]"#).await;
    assert_eq!(
        ws_recv(&mut ws, true).await,
        r#"431["a\u0000b",{"k\u0000":"\u0000"}]"#
    );
    // An unknown event whose name holds a NUL is ignored.
    ws_send(&mut ws, r#"422["ec\u0000ho"]"#).await;
    ws_send(&mut ws, r#"423["echo",3]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"433[3]"#);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn connect_error_from_a_client_closes() {
    closes_on(r#"44{"message":"x"}"#).await;
}

#[tokio::test]
async fn disconnect_for_a_namespace_not_joined_closes() {
    closes_on("41/chat,").await;
}

#[tokio::test]
async fn ack_for_an_unknown_id_is_ignored() {
    let s = server().await;
    let mut ws = s.connected().await;
    ws_send(&mut ws, r#"4312345["spoof"]"#).await;
    ws_send(&mut ws, r#"421["echo",1]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"431[1]"#);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn unknown_packet_type_closes() {
    closes_on(r#"49["x"]"#).await;
}

#[tokio::test]
async fn auth_abuse_is_refused_with_connect_error() {
    let s = server().await;
    let mut ws = s.connected().await;
    let big = format!(r#"{{"token":"{}"}}"#, "s".repeat(500_000));
    for auth in [
        big.as_str(),
        r#""secret""#,
        r#"["secret"]"#,
        r#"{"token":["secret"]}"#,
        r#"{"token":{"$ne":null}}"#,
        "null",
    ] {
        ws_send(&mut ws, &format!("40/private,{auth}")).await;
        let reply = ws_recv(&mut ws, true).await;
        assert_eq!(
            reply, r#"44/private,{"message":"invalid token"}"#,
            "auth {auth:.30}"
        );
    }
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn auth_nested_too_deep_closes() {
    let deep = format!(
        "40/private,{{\"a\":{}1{}}}",
        "[".repeat(500),
        "]".repeat(500)
    );
    let s = server().await;
    let mut ws = s.raw().await;
    ws_send(&mut ws, &deep).await;
    assert!(ws_closes(&mut ws).await);
    s.healthy().await;
}

#[tokio::test]
async fn many_namespaces_on_one_connection_are_bounded() {
    let io = SocketIo::builder()
        .max_namespaces_per_connection(3)
        .build()
        .unwrap();
    common::contracts_interop(&io);
    let addr = common::serve(io.clone()).await;
    let s = Server { io, addr };
    let mut ws = s.raw().await;
    for nsp in ["", "/chat,"] {
        ws_send(&mut ws, &format!("40{nsp}")).await;
        assert!(ws_recv(&mut ws, true).await.starts_with("40"));
        assert!(ws_recv(&mut ws, true).await.contains("welcome"));
    }
    ws_send(&mut ws, r#"40/private,{"token":"secret"}"#).await;
    assert!(ws_recv(&mut ws, true).await.starts_with("40/private,"));
    assert!(ws_recv(&mut ws, true).await.contains("welcome"));
    ws_send(&mut ws, "40/extra,").await;
    assert_eq!(
        ws_recv(&mut ws, true).await,
        r#"44/extra,{"message":"too many namespaces"}"#
    );
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn many_rooms_are_all_left_on_disconnect() {
    let s = server().await;
    let mut ws = s.connected().await;
    for i in 0..5000 {
        ws_send(&mut ws, &format!(r#"42["join","room-{i}"]"#)).await;
    }
    ws_send(&mut ws, r#"421["echo","joined"]"#).await;
    assert_eq!(ws_recv(&mut ws, true).await, r#"431["joined"]"#);
    assert!(s.io.of("/").rooms().await.unwrap().len() > 5000);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn many_pending_server_acks_are_bounded() {
    let io = SocketIo::builder()
        .max_pending_acks(50)
        .ack_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    common::contracts_interop(&io);
    let addr = common::serve(io.clone()).await;
    let s = Server { io, addr };
    let mut ws = s.connected().await;
    // request-ack makes the server ask this client for an ack it never gives.
    for i in 0..500 {
        ws_send(&mut ws, &format!(r#"42{i}["request-ack",{i}]"#)).await;
    }
    let mut asked = 0;
    let mut answered = 0;
    while answered < 500 {
        let m = ws_recv(&mut ws, true).await;
        if m.contains("\"ack-request\"") {
            asked += 1;
        } else if m.starts_with("43") {
            assert!(m.ends_with(r#"["timeout"]"#), "{m}");
            answered += 1;
        }
    }
    assert!(asked <= 500);
    assert!(s.io.stats().acks_refused_too_many > 0);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn thousands_of_abandoned_connections_are_dropped_by_the_connect_timeout() {
    let s = server().await;
    let mut open = Vec::new();
    for _ in 0..300 {
        open.push(s.raw().await);
    }
    assert!(s.io.connection_count() >= 300);
    // They never CONNECT; the connect timeout (500 ms here) closes them.
    s.healthy().await;
    drop(open);
}

#[tokio::test]
async fn a_panicking_handler_stays_inside() {
    let io = SocketIo::builder().build().unwrap();
    common::contracts_interop(&io);
    io.on("boom", || async {
        if true {
            panic!("handler bug");
        }
    });
    let addr = common::serve(io.clone()).await;
    let s = Server { io, addr };
    let mut ws = s.connected().await;
    ws_send(&mut ws, r#"421["boom"]"#).await;
    let reply = ws_recv(&mut ws, true).await;
    assert!(reply.contains("panicked"), "{reply}");
    assert_eq!(s.io.stats().handler_panics, 1);
    drop(ws);
    s.healthy().await;
}

#[tokio::test]
async fn msgpack_garbage_closes_only_its_session() {
    let io = common::interop_server(Parser::MsgPack, false, INTEROP);
    let addr = common::serve(io.clone()).await;
    let mut other = ws_connect(addr, "EIO=4&transport=websocket").await;
    ws_recv(&mut other, true).await;
    let mut ws = ws_connect(addr, "EIO=4&transport=websocket").await;
    ws_recv(&mut ws, true).await;
    for garbage in [
        &[0xc1][..],
        &[0xdf, 0xff, 0xff, 0xff, 0xff],
        &[0xdd, 0x7f, 0xff, 0xff, 0xff, 0x90],
        &[0x81, 0xa4, b't', b'y', b'p', b'e', 0xcb],
    ] {
        ws_send_bin(&mut ws, garbage).await;
        assert!(ws_closes(&mut ws).await, "{garbage:?}");
        ws = ws_connect(addr, "EIO=4&transport=websocket").await;
        ws_recv(&mut ws, true).await;
    }
    // The other session is untouched.
    ws_send_bin(
        &mut other,
        &sockio::protocol::encode_msgpack(&sockio::protocol::Packet::connect("/", None)),
    )
    .await;
    assert!(matches!(
        ws_next(&mut other, true).await,
        Some(tokio_tungstenite::tungstenite::Message::Binary(_))
    ));
}
