//! Engine.IO v4 over polling and WebSocket, with exact bytes and statuses.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::SinkExt;
use sockio_engine::DisconnectReason;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[tokio::test]
async fn polling_handshake_is_exact() {
    let s = start(conformance()).await;
    let r = get(s.addr, "/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
    let body = r.text();
    let sid = sid_of(&body);
    assert_eq!(body, open_packet(&sid, "[\"websocket\"]"));
    assert!(sid
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    assert_eq!(s.engine.session_count(), 1);
}

#[tokio::test]
async fn bad_requests_get_node_errors() {
    let s = start(conformance()).await;
    let a = s.addr;
    let cases: Vec<(&str, &str, u16, &str)> = vec![
        (
            "GET",
            "/engine.io/?transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "GET",
            "/engine.io/?EIO=abc&transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "GET",
            "/engine.io/?EIO=3&transport=polling",
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
        (
            "GET",
            "/engine.io/?EIO=4",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "GET",
            "/engine.io/?EIO=4&transport=abc",
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            "POST",
            "/engine.io/?EIO=4&transport=polling",
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            "PUT",
            "/engine.io/?EIO=4&transport=polling",
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            "GET",
            "/engine.io/?EIO=4&transport=polling&sid=abc",
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            "POST",
            "/engine.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            "GET",
            "/engine.io/?EIO=4&transport=websocket",
            400,
            r#"{"code":3,"message":"Bad request"}"#,
        ),
    ];
    for (method, path, status, body) in cases {
        let r = http(a, method, path, &[], b"").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, body),
            "{method} {path}"
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    // Other paths are not the engine's.
    assert_eq!(get(a, "/other").await.status, 404);
}

#[tokio::test]
async fn post_then_get_returns_everything_in_order() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let r = post(s.addr, &p, b"4test1\x1e4test2\x1e4test3").await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(r.header("content-type"), Some("text/html"));
    let r = get(s.addr, &p).await;
    assert_eq!(r.text(), "4test1\x1e4test2\x1e4test3");
    let r = post(s.addr, &p, b"4hello\x1ebAQIDBA==").await;
    assert_eq!(r.status, 200);
    assert_eq!(get(s.addr, &p).await.text(), "4hello\x1ebAQIDBA==");
    let ev = s.engine.handler().events.lock().unwrap().clone();
    assert_eq!(ev[1], "message Text(\"test1\")");
    assert_eq!(ev[5], "message Binary(b\"\\x01\\x02\\x03\\x04\")");
}

#[tokio::test]
async fn a_poll_holds_at_most_max_packets_per_poll() {
    let s = start(conformance().max_packets_per_poll(2)).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    post(s.addr, &p, b"4burst 5").await;
    assert_eq!(get(s.addr, &p).await.text(), "4m0\x1e4m1");
    assert_eq!(get(s.addr, &p).await.text(), "4m2\x1e4m3");
    assert_eq!(get(s.addr, &p).await.text(), "4m4");
}

#[tokio::test]
async fn send_many_stays_together() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    post(s.addr, &p, b"4group").await;
    assert_eq!(get(s.addr, &p).await.text(), "4a\x1ebAQ==");
}

#[tokio::test]
async fn invalid_payload_is_400_and_closes_the_session() {
    let s = start(conformance()).await;
    for body in [&b"abc"[..], b"4a\x1e\x1e4b", b"b!!", b"4\xff"] {
        let sid = handshake(s.addr).await;
        let p = poll_path(&sid);
        let r = post(s.addr, &p, body).await;
        assert_eq!(r.status, 400, "{body:?}");
        assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
        assert_eq!(get(s.addr, &p).await.status, 400);
    }
    let closes = s.wait_closes(4).await;
    assert!(
        closes.iter().all(|r| *r == DisconnectReason::ParseError),
        "{closes:?}"
    );
}

#[tokio::test]
async fn binary_content_type_on_v4_is_refused() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let r = http(
        s.addr,
        "POST",
        &poll_path(&sid),
        &[("Content-Type", "application/octet-stream")],
        b"4x",
    )
    .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn concurrent_gets_close_the_session() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let first = tokio::spawn({
        let p = p.clone();
        let a = s.addr;
        async move { get(a, &p).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = get(s.addr, &p).await;
    assert_eq!(second.status, 400);
    let first = first.await.unwrap();
    assert_eq!((first.status, first.text().as_str()), (200, "1"));
    assert_eq!(get(s.addr, &p).await.status, 400);
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::ProtocolViolation]
    );
}

#[tokio::test]
async fn close_packet_while_get_pending_answers_noop() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let pending = tokio::spawn({
        let p = p.clone();
        let a = s.addr;
        async move { get(a, &p).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let r = post(s.addr, &p, b"1").await;
    assert_eq!(r.text(), "ok");
    let pending = pending.await.unwrap();
    assert_eq!((pending.status, pending.text().as_str()), (200, "6"));
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::TransportClose]
    );
    // Once the close grace is over, the sid is unknown.
    wait_until(Duration::from_secs(3), "sid forgotten", || {
        s.engine.table_len() == 0
    })
    .await;
    assert_eq!(get(s.addr, &p).await.status, 400);
}

#[tokio::test]
async fn heartbeat_over_polling() {
    let s = start(conformance()).await;
    let t0 = Instant::now();
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    for round in 0..3 {
        let r = get(s.addr, &p).await;
        assert_eq!((r.status, r.text().as_str()), (200, "2"), "round {round}");
        if round == 0 {
            // Not right away: one pingInterval after the handshake.
            assert!(
                t0.elapsed() >= Duration::from_millis(280),
                "{:?}",
                t0.elapsed()
            );
        }
        assert_eq!(post(s.addr, &p, b"3").await.text(), "ok");
    }
    assert!(s.closes().is_empty());
}

#[tokio::test]
async fn missed_pong_closes_on_time() {
    let s = start(conformance()).await;
    // A silent client: 400 on a GET sent after 500 ms (+ margin).
    let sid = handshake(s.addr).await;
    tokio::time::sleep(Duration::from_millis(560)).await;
    let r = get(s.addr, &poll_path(&sid)).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":1,"message":"Session ID unknown"}"#);

    // A client that polls but never pongs: the pending GET gets `1` at ~500 ms.
    let t0 = Instant::now();
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    assert_eq!(get(s.addr, &p).await.text(), "2");
    let r = get(s.addr, &p).await;
    let elapsed = t0.elapsed();
    assert_eq!(r.text(), "1");
    assert!(
        elapsed >= Duration::from_millis(450) && elapsed <= Duration::from_millis(1500),
        "{elapsed:?}"
    );
    assert_eq!(
        s.wait_closes(2).await,
        vec![DisconnectReason::PingTimeout, DisconnectReason::PingTimeout]
    );
}

#[tokio::test]
async fn oversized_post_is_413_and_closes() {
    let s = start(conformance().max_payload(1000)).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let body = vec![b'4'; 1001];
    let r = post(s.addr, &p, &body).await;
    assert_eq!(r.status, 413);
    assert_eq!(get(s.addr, &p).await.status, 400);
    // Exactly the limit is fine.
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let body = vec![b'4'; 1000];
    assert_eq!(post(s.addr, &p, &body).await.status, 200);
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::PayloadTooLarge]
    );
}

#[tokio::test]
async fn huge_streamed_post_is_refused_without_buffering() {
    let s = start(conformance().max_payload(100_000)).await;
    // Announced as 2 GB: refused from the header.
    let sid = handshake(s.addr).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000000\r\n\r\n",
        poll_path(&sid)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));

    // Chunked, no length: the server answers 413 once past the limit, while we
    // are still sending.
    let sid = handshake(s.addr).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        poll_path(&sid)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let writer = tokio::spawn(async move {
        let chunk = format!("2000\r\n{}\r\n", "4".repeat(0x2000));
        let mut sent = 0usize;
        // At most 200 MB; stops when the server stops reading.
        while sent < 200_000_000 {
            if wr.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            sent += 0x2000;
        }
        sent
    });
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 413"));
    drop(rd);
    let sent = tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .expect("the server stops reading")
        .unwrap();
    assert!(sent < 100_000_000, "sent {sent}");
    let closes = s.wait_closes(2).await;
    assert_eq!(closes, vec![DisconnectReason::PayloadTooLarge; 2]);
}

#[tokio::test]
async fn websocket_handshake_echo_and_invalid_frame() {
    let s = start(conformance()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    let open = ws_text(&mut ws).await;
    assert_eq!(open, open_packet(&sid_of(&open), "[]"));
    ws_send(&mut ws, "4hello").await;
    assert_eq!(ws_text(&mut ws).await, "4hello");
    ws.send(WsMessage::Binary(vec![1u8, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(
        ws_next(&mut ws).await,
        Some(WsMessage::Binary(vec![1u8, 2, 3].into()))
    );
    ws_send(&mut ws, "abc").await;
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::ParseError]);
}

#[tokio::test]
async fn websocket_heartbeat_and_timeout() {
    let s = start(conformance()).await;
    let t0 = Instant::now();
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "4first").await;
    // The first packet after the handshake is the echo, not a ping.
    assert_eq!(ws_text(&mut ws).await, "4first");
    assert_eq!(ws_text(&mut ws).await, "2");
    assert!(t0.elapsed() >= Duration::from_millis(280));
    ws_send(&mut ws, "3").await;
    assert_eq!(ws_text(&mut ws).await, "2");
    // No pong now: closed ~200 ms later.
    assert_eq!(ws_next(&mut ws).await, None);
    assert!(
        t0.elapsed() <= Duration::from_millis(2500),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::PingTimeout]);
}

#[tokio::test]
async fn websocket_close_packet_and_burst_frames() {
    let s = start(conformance()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "4burst 3").await;
    for i in 0..3 {
        assert_eq!(ws_text(&mut ws).await, format!("4m{i}"));
    }
    ws_send(&mut ws, "1").await;
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::TransportClose]
    );
}

#[tokio::test]
async fn websocket_message_over_max_payload_closes() {
    let s = start(conformance().max_payload(100)).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, &format!("4{}", "x".repeat(200))).await;
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::PayloadTooLarge]
    );
}

#[tokio::test]
async fn upgrade_sequence() {
    let s = start(conformance().upgrade_hold(Duration::from_secs(5))).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    // A GET pending during the probe is answered `6`.
    let pending = tokio::spawn({
        let p = p.clone();
        let a = s.addr;
        async move { get(a, &p).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut ws = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    let r = pending.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "6"));
    // A GET after the probe and before `5`: held until the upgrade settles,
    // then refused as a request on the old transport.
    let held = tokio::spawn({
        let p = p.clone();
        let a = s.addr;
        async move { http(a, "GET", &p, &[("x-req", "held")], b"").await }
    });
    wait_current_request(&s, &sid, "x-req", "held").await;
    ws_send(&mut ws, "5").await;
    let r = held.await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    ws_send(&mut ws, "4hello").await;
    assert_eq!(ws_text(&mut ws).await, "4hello");
    let r = get(s.addr, &p).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    // A second WebSocket for the sid: accepted, then closed.
    let mut ws2 = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    assert_eq!(ws_next(&mut ws2).await, None);
    // The first still works, and answers pings with the session alive.
    ws_send(&mut ws, "4again").await;
    let mut got = ws_text(&mut ws).await;
    if got == "2" {
        ws_send(&mut ws, "3").await;
        got = ws_text(&mut ws).await;
    }
    assert_eq!(got, "4again");
    assert!(s.closes().is_empty());
    assert_eq!(
        s.engine
            .get(sockio_engine::Sid::parse(&sid).unwrap())
            .unwrap()
            .transport(),
        sockio_engine::TransportKind::WebSocket
    );
}

#[tokio::test]
async fn queued_packets_move_to_the_websocket_on_upgrade() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let mut ws = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    // Messages posted now are queued for whoever writes next.
    assert_eq!(post(s.addr, &p, b"4queued").await.text(), "ok");
    ws_send(&mut ws, "5").await;
    assert_eq!(ws_text(&mut ws).await, "4queued");
}

#[tokio::test]
async fn upgrade_times_out() {
    let s = start(conformance().upgrade_timeout(Duration::from_millis(100))).await;
    let sid = handshake(s.addr).await;
    let mut ws = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    assert_eq!(ws_next(&mut ws).await, None);
    // The polling session goes on.
    let p = poll_path(&sid);
    assert_eq!(post(s.addr, &p, b"4still").await.text(), "ok");
    assert_eq!(get(s.addr, &p).await.text(), "4still");
}

#[tokio::test]
async fn server_close_while_polling_delivers_queue_then_close() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    post(s.addr, &p, b"4bye\x1e4close-me").await;
    let r = get(s.addr, &p).await;
    assert_eq!(r.text(), "4bye\x1e1");
    assert_eq!(get(s.addr, &p).await.status, 400);
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::ServerClose]);
}

#[tokio::test]
async fn full_queue_closes_slow_consumer() {
    let s = start(conformance().max_buffered_packets(4)).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    post(s.addr, &p, b"4burst 10").await;
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::SlowConsumer]);
}

#[tokio::test]
async fn close_all_runs_on_close_for_every_session() {
    let s = start(conformance().ping_interval(Duration::from_secs(30))).await;
    handshake(s.addr).await;
    handshake(s.addr).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    assert_eq!(s.engine.session_count(), 3);
    tokio::time::timeout(
        Duration::from_secs(5),
        s.engine.close_all(DisconnectReason::ServerShutdown),
    )
    .await
    .unwrap();
    assert_eq!(s.engine.session_count(), 0);
    assert_eq!(s.closes(), vec![DisconnectReason::ServerShutdown; 3]);
    assert_eq!(ws_next(&mut ws).await, None);
}

#[tokio::test]
async fn remote_addr_and_request_are_kept() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let socket = s
        .engine
        .get(sockio_engine::Sid::parse(&sid).unwrap())
        .unwrap();
    assert_eq!(socket.remote_addr().unwrap().ip(), s.addr.ip());
    assert_eq!(
        socket.request().uri.query(),
        Some("EIO=4&transport=polling")
    );
    assert_eq!(socket.protocol(), sockio_engine::ProtocolVersion::V4);
}

#[tokio::test]
async fn concurrent_posts_close_the_session() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    // A POST whose body never completes stays in flight.
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!("POST {p} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n4ab");
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = post(s.addr, &p, b"4second").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), r#"{"code":3,"message":"Bad request"}"#);
    assert_eq!(get(s.addr, &p).await.status, 400);
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::ProtocolViolation]
    );
}

#[tokio::test]
async fn refused_websocket_requests_get_400() {
    let s = start(conformance()).await;
    for q in [
        "EIO=4&transport=websocket&sid=AAAAAAAAAAAAAAAAAAAA",
        "EIO=5&transport=websocket",
        "EIO=4&transport=abc",
    ] {
        let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let url = format!("ws://{}/engine.io/?{q}", s.addr);
        match tokio_tungstenite::client_async(url, tcp).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), 400, "{q}")
            }
            other => panic!("{q}: expected HTTP 400, got {other:?}"),
        }
    }
}
