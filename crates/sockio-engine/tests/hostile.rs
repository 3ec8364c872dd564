//! Hostile input against the engine, one case per test. Each case checks
//! the answer the abuse gets (an HTTP error or a close), then that a
//! well-behaved client still connects and is echoed at once, and that the
//! session table is back to empty: the abusive sessions are gone within
//! their own timeouts (ping 300 ms + 200 ms here), measured through the API.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use sockio_engine::{DisconnectReason, RefusalReason};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn hostile() -> sockio_engine::EngineConfigBuilder {
    conformance()
        .max_payload(10_000)
        .max_buffered_packets(64)
        .allow_eio3(true)
}

/// A well-behaved client connects and is echoed at once; then every session
/// (the abusive ones included) is gone from the table.
async fn healthy(s: &Server) {
    let t0 = Instant::now();
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    assert_eq!(post(s.addr, &p, b"4still ok?").await.text(), "ok");
    assert_eq!(get(s.addr, &p).await.text(), "4still ok?");
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "4ws ok?").await;
    assert_eq!(ws_text_ponging(&mut ws).await, "4ws ok?");
    let waited = t0.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "a well-behaved client waited {waited:?}"
    );
    post(s.addr, &p, b"1").await;
    ws_send(&mut ws, "1").await;
    wait_until(
        Duration::from_secs(5),
        "the session table is empty again",
        || s.engine.session_count() == 0 && s.engine.table_len() == 0,
    )
    .await;
}

/// Writes raw bytes on a new connection and reads the answer (until the
/// server closes, or 3 s).
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp.write_all(bytes).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

async fn ws_frame(ws: &mut Ws, f: Frame) {
    let _ = ws.send(WsMessage::Frame(f)).await;
}

// ---- handshake and query abuse ----------------------------------------------

#[tokio::test]
async fn huge_query_string_and_headers_are_refused() {
    let s = start(hostile()).await;
    let junk = "x".repeat(100 * 1024);
    let req =
        format!("GET /engine.io/?EIO=4&transport=polling&j={junk} HTTP/1.1\r\nHost: x\r\n\r\n");
    let resp = raw(s.addr, req.as_bytes()).await;
    assert_eq!(
        status_line(&resp),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    // A query and headers each under the limit, the head over it (64 KiB).
    let junk = "x".repeat(40 * 1024);
    let req = format!(
        "GET /engine.io/?EIO=4&transport=polling&j={junk} HTTP/1.1\r\nHost: x\r\nX-Big: {junk}\r\n\r\n"
    );
    let resp = raw(s.addr, req.as_bytes()).await;
    assert_eq!(
        status_line(&resp),
        "HTTP/1.1 431 Request Header Fields Too Large"
    );
    assert_eq!(s.engine.stats().sessions_opened, 0);
    healthy(&s).await;
}

#[tokio::test]
async fn thousands_of_query_parameters_are_parsed_and_dropped() {
    let s = start(hostile()).await;
    let many = "a=1&".repeat(5000);
    let r = get(
        s.addr,
        &format!("/engine.io/?{many}EIO=4&transport=polling"),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = get(
        s.addr,
        &format!("/engine.io/?{many}EIO=7&transport=polling"),
    )
    .await;
    assert_eq!(
        r.text(),
        r#"{"code":5,"message":"Unsupported protocol version"}"#
    );
    healthy(&s).await;
}

#[tokio::test]
async fn bad_eio_values_are_refused() {
    let s = start(hostile()).await;
    for eio in ["", "abc", "4.0", "%00", "44", "-4", "%E2%82%AC", "3%00"] {
        let r = get(s.addr, &format!("/engine.io/?EIO={eio}&transport=polling")).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (
                400,
                r#"{"code":5,"message":"Unsupported protocol version"}"#
            ),
            "EIO={eio}"
        );
    }
    assert_eq!(
        s.engine
            .stats()
            .refused(RefusalReason::UnsupportedProtocolVersion),
        8
    );
    healthy(&s).await;
}

#[tokio::test]
async fn bad_transports_are_refused() {
    let s = start(hostile().transports([sockio_engine::TransportKind::Polling])).await;
    for t in [
        "",
        "flashsocket",
        "POLLING",
        "polling%00",
        "websocket",
        "webtransport",
    ] {
        let r = get(s.addr, &format!("/engine.io/?EIO=4&transport={t}")).await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (400, r#"{"code":0,"message":"Transport unknown"}"#),
            "transport={t}"
        );
    }
    let r = get(s.addr, "/engine.io/?EIO=4").await;
    assert_eq!(r.status, 400);
    healthy_polling_only(&s).await;
}

/// `healthy` for a server without WebSocket.
async fn healthy_polling_only(s: &Server) {
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    assert_eq!(post(s.addr, &p, b"4ok").await.text(), "ok");
    assert_eq!(get(s.addr, &p).await.text(), "4ok");
    post(s.addr, &p, b"1").await;
    wait_until(Duration::from_secs(5), "table empty", || {
        s.engine.table_len() == 0
    })
    .await;
}

#[tokio::test]
async fn invalid_sid_formats_are_unknown() {
    let s = start(hostile()).await;
    let cases = [
        "a",
        "AAAAAAAAAAAAAAAAAAAAA",    // 21 characters
        "AAAAAAAAAAAAAAAAAAA+",     // not base64url
        "AAAAAAAAAAAAAAAAAAA%00",   // NUL
        "AAAAAAAAAAAAAAAAAA%C3%A9", // non-ASCII
        "../../../../../../etc",    // path-like
        &"A".repeat(10_000),
    ];
    for sid in cases {
        for method in ["GET", "POST"] {
            let r = http(
                s.addr,
                method,
                &format!("/engine.io/?EIO=4&transport=polling&sid={sid}"),
                &[],
                b"4x",
            )
            .await;
            assert_eq!(
                (r.status, r.text().as_str()),
                (400, r#"{"code":1,"message":"Session ID unknown"}"#),
                "{method} sid={}",
                &sid[..sid.len().min(30)]
            );
        }
    }
    healthy(&s).await;
}

#[tokio::test]
async fn unknown_sids_are_refused_on_every_transport() {
    let s = start(hostile()).await;
    let sid = "AAAAAAAAAAAAAAAAAAAA";
    assert_eq!(get(s.addr, &poll_path(sid)).await.status, 400);
    assert_eq!(post(s.addr, &poll_path(sid), b"4x").await.status, 400);
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let url = format!(
        "ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}",
        s.addr
    );
    assert!(matches!(
        tokio_tungstenite::client_async(url, tcp).await,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 400
    ));
    assert_eq!(s.engine.stats().refused(RefusalReason::UnknownSid), 3);
    healthy(&s).await;
}

#[tokio::test]
async fn method_abuse_is_refused() {
    let s = start(hostile()).await;
    for m in ["PUT", "DELETE", "PATCH", "POST", "HEAD"] {
        let r = http(s.addr, m, "/engine.io/?EIO=4&transport=polling", &[], b"").await;
        assert_eq!(r.status, 400, "{m} handshake");
    }
    // On a session: 500, as Node's polling transport; the session goes on.
    let sid = handshake(s.addr).await;
    for m in ["PUT", "DELETE", "PATCH"] {
        let r = http(s.addr, m, &poll_path(&sid), &[], b"4x").await;
        assert_eq!(r.status, 500, "{m} on a session");
    }
    assert_eq!(post(s.addr, &poll_path(&sid), b"4x").await.text(), "ok");
    assert_eq!(get(s.addr, &poll_path(&sid)).await.text(), "4x");
    post(s.addr, &poll_path(&sid), b"1").await;
    healthy(&s).await;
}

#[tokio::test]
async fn invalid_origin_header_is_refused() {
    let s = start(hostile()).await;
    // A control character in Origin (Node's checkInvalidHeaderChar).
    let resp = raw(
        s.addr,
        b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: http://a\x01b\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 400"), "{resp}");
    assert_eq!(s.engine.stats().sessions_opened, 0);
    healthy(&s).await;
}

#[tokio::test]
async fn headers_that_never_end_are_cut_off() {
    let s = start_tuned(hostile(), |srv| {
        srv.header_read_timeout(Duration::from_millis(300))
    })
    .await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"GET /engine.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // A header every 100 ms, never the blank line (bounded: 5 s).
    let t0 = Instant::now();
    let mut cut = false;
    for i in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if tcp
            .write_all(format!("X-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            cut = true;
            break;
        }
        let mut b = [0u8; 256];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut b)).await {
            let _ = n;
            cut = true;
            break;
        }
    }
    assert!(cut, "still connected after {:?}", t0.elapsed());
    healthy(&s).await;
}

// ---- polling abuse ----------------------------------------------------------

#[tokio::test]
async fn oversize_polling_body_is_413() {
    let s = start(hostile()).await;
    let sid = handshake(s.addr).await;
    let r = post(s.addr, &poll_path(&sid), &vec![b'4'; 10_001]).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::PayloadTooLarge]
    );
    // Announced bigger than it is: refused from the header.
    let sid = handshake(s.addr).await;
    let resp = raw(
        s.addr,
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n4",
            poll_path(&sid)
        )
        .as_bytes(),
    )
    .await;
    assert!(status_line(&resp).starts_with("HTTP/1.1 413"), "{resp}");
    assert_eq!(s.engine.stats().payloads_too_large, 2);
    healthy(&s).await;
}

#[tokio::test]
async fn invalid_payload_framing_is_400() {
    let s = start(hostile()).await;
    let v4: [&[u8]; 6] = [b"", b"\x1e", b"4a\x1e", b"\x1e4a", b"9", b"4a\x1e\x1e4b"];
    for body in v4 {
        let sid = handshake(s.addr).await;
        let r = post(s.addr, &poll_path(&sid), body).await;
        assert_eq!(r.status, 400, "{body:?}");
    }
    let v3: [&[u8]; 5] = [
        b"5:4a",
        b"x:4a",
        b"99999999999999999999999:4",
        b"2:4\xc3",
        b"1:",
    ];
    for body in v3 {
        let r = get(s.addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
        let sid = sid_of(&r.text());
        let r = post(
            s.addr,
            &format!("/engine.io/?EIO=3&transport=polling&sid={sid}&b64=1"),
            body,
        )
        .await;
        assert_eq!(r.status, 400, "v3 {body:?}");
    }
    // XHR2 binary payloads with lying lengths.
    let v3bin: [&[u8]; 3] = [&[0, 9, 9, 0xff, b'4'], &[1, 0xff], &[7, 1, 0xff, b'4']];
    for body in v3bin {
        let r = get(s.addr, "/engine.io/?EIO=3&transport=polling").await;
        let open = &r.body[r.body.iter().position(|&b| b == 0xff).unwrap() + 1..];
        let sid = sid_of(std::str::from_utf8(open).unwrap());
        let r = http(
            s.addr,
            "POST",
            &format!("/engine.io/?EIO=3&transport=polling&sid={sid}"),
            &[("Content-Type", "application/octet-stream")],
            body,
        )
        .await;
        assert_eq!(r.status, 400, "v3 binary {body:?}");
    }
    s.wait_closes(14).await;
    assert!(s
        .closes()
        .iter()
        .all(|r| *r == DisconnectReason::ParseError));
    healthy(&s).await;
}

#[tokio::test]
async fn invalid_utf8_and_base64_bodies_are_400() {
    let s = start(hostile()).await;
    let bodies: [&[u8]; 5] = [
        b"4\xff\xfe",
        b"4a\x1e4\xc0\x80",
        b"b!!!!",
        b"b\xff",
        b"bAQ=\x1e4\xed\xa0\x80",
    ];
    for body in bodies {
        let sid = handshake(s.addr).await;
        let r = post(s.addr, &poll_path(&sid), body).await;
        assert_eq!(r.status, 400, "{body:?}");
    }
    s.wait_closes(5).await;
    assert_eq!(s.engine.stats().parse_errors, 5);
    assert!(s.engine.handler().messages().is_empty());
    healthy(&s).await;
}

#[tokio::test]
async fn concurrent_gets_close_the_session() {
    let s = start(hostile()).await;
    let sid = handshake(s.addr).await;
    let first = tokio::spawn({
        let (a, p) = (s.addr, poll_path(&sid));
        async move { http(a, "GET", &p, &[("x-req", "first")], b"").await }
    });
    wait_current_request(&s, &sid, "x-req", "first").await;
    let second = get(s.addr, &poll_path(&sid)).await;
    assert_eq!(second.status, 400);
    assert_eq!(first.await.unwrap().text(), "1");
    assert_eq!(
        s.engine.stats().refused(RefusalReason::OverlappingRequest),
        1
    );
    healthy(&s).await;
}

#[tokio::test]
async fn post_flood_without_reading_closes_as_slow_consumer() {
    let s = start(hostile()).await;
    let sid = handshake(s.addr).await;
    // Each POST makes the server queue 16 messages; none is collected: past
    // 64 queued packets the session closes.
    let mut refused = false;
    for _ in 0..100 {
        let r = post(s.addr, &poll_path(&sid), b"4burst 16").await;
        if r.status != 200 {
            refused = true;
            break;
        }
    }
    assert!(refused);
    assert_eq!(s.closes(), vec![DisconnectReason::SlowConsumer]);
    healthy(&s).await;
}

#[tokio::test]
async fn v3_polling_ping_flood_without_reading_closes_as_slow_consumer() {
    let s = start(hostile()).await;
    let r = get(s.addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
    let sid = sid_of(&r.text());
    // 3,000 pings in one payload, answered with pongs nobody collects.
    let body = "1:2".repeat(3000);
    let r = post(
        s.addr,
        &format!("/engine.io/?EIO=3&transport=polling&sid={sid}&b64=1"),
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::SlowConsumer]);
    healthy(&s).await;
}

#[tokio::test]
async fn concurrent_posts_close_the_session() {
    let s = start(hostile()).await;
    let sid = handshake(s.addr).await;
    let mut slow = TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nx-req: slow\r\nContent-Length: 10\r\n\r\n4a",
            poll_path(&sid)
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    wait_current_request(&s, &sid, "x-req", "slow").await;
    let r = post(s.addr, &poll_path(&sid), b"4second").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::ProtocolViolation]
    );
    healthy(&s).await;
}

#[tokio::test]
async fn a_get_never_read_ends_with_the_heartbeat() {
    let s = start(hostile()).await;
    let sid = handshake(s.addr).await;
    // A GET whose answer is never read, and nothing else ever sent.
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", poll_path(&sid)).as_bytes())
        .await
        .unwrap();
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::PingTimeout]);
    healthy(&s).await;
    drop(tcp);
}

#[tokio::test]
async fn trickled_post_body_is_cut() {
    let s = start(hostile().ping_interval(Duration::from_secs(30))).await;
    let sid = handshake(s.addr).await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n4",
            poll_path(&sid)
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if wr.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(3), rd.read(&mut buf))
        .await
        .expect("answered before the trickle ends")
        .unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 408"));
    trickle.abort();
    assert_eq!(s.engine.stats().body_timeouts, 1);
    healthy(&s).await;
}

#[tokio::test]
async fn never_finished_chunked_body_is_cut() {
    let s = start(hostile().ping_interval(Duration::from_secs(30))).await;
    let sid = handshake(s.addr).await;
    let resp = raw(
        s.addr,
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n4a\r\n",
            poll_path(&sid)
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(status_line(&resp), "HTTP/1.1 408 Request Timeout");
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::TransportError]
    );
    healthy(&s).await;
}

// ---- WebSocket abuse ------------------------------------------------------------

#[tokio::test]
async fn invalid_websocket_packets_close_the_session() {
    let s = start(hostile()).await;
    for bad in ["", "7", "abc", "x4", "b=", "b!!"] {
        let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
        ws_text(&mut ws).await;
        ws_send(&mut ws, bad).await;
        assert_eq!(ws_next(&mut ws).await, None, "{bad:?}");
    }
    // Packets a client must not send are ignored or refused, never fatal to others.
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    for odd in ["0{}", "5", "6"] {
        ws_send(&mut ws, odd).await;
    }
    ws_send(&mut ws, "4alive").await;
    assert_eq!(ws_text_ponging(&mut ws).await, "4alive");
    ws_send(&mut ws, "2").await; // a v4 client must not ping
    loop {
        match ws_next(&mut ws).await {
            None => break,
            Some(WsMessage::Text(t)) if t.as_str() == "2" => {} // a server ping in between
            other => panic!("expected the close, got {other:?}"),
        }
    }
    let closes = s.wait_closes(7).await;
    assert_eq!(
        closes
            .iter()
            .filter(|r| **r == DisconnectReason::ParseError)
            .count(),
        6
    );
    healthy(&s).await;
}

#[tokio::test]
async fn invalid_websocket_frames_close_the_connection() {
    let s = start(hostile()).await;
    // Invalid UTF-8 in a text frame.
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_frame(
        &mut ws,
        Frame::message(vec![b'4', 0xff], OpCode::Data(Data::Text), true),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await, None);
    // A reserved opcode.
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_frame(
        &mut ws,
        Frame::message(vec![1], OpCode::Data(Data::Reserved(3)), true),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await, None);
    // A continuation with nothing to continue.
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws_frame(
        &mut ws,
        Frame::message(vec![1], OpCode::Data(Data::Continue), true),
    )
    .await;
    assert_eq!(ws_next(&mut ws).await, None);
    s.wait_closes(3).await;
    healthy(&s).await;
}

#[tokio::test]
async fn oversized_websocket_frame_closes_with_1009() {
    let s = start(hostile()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    ws.send(WsMessage::Binary(vec![0u8; 200_000].into()))
        .await
        .ok();
    let mut code = None;
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
        if let Ok(WsMessage::Close(f)) = m {
            code = f.map(|f| u16::from(f.code));
            break;
        }
    }
    assert_eq!(code, Some(1009));
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::PayloadTooLarge]
    );
    healthy(&s).await;
}

#[tokio::test]
async fn never_finished_fragmented_message_times_out() {
    let s = start(hostile()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    // The first fragment of a message that never ends: the client cannot
    // send its pong (a data frame) in the middle, so the heartbeat ends it.
    ws_frame(
        &mut ws,
        Frame::message(b"4part".to_vec(), OpCode::Data(Data::Text), false),
    )
    .await;
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::PingTimeout]);
    healthy(&s).await;
}

#[tokio::test]
async fn websocket_ping_flood_is_absorbed() {
    let s = start(hostile()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    for _ in 0..5000 {
        ws.feed(WsMessage::Ping(vec![0u8; 125].into()))
            .await
            .unwrap();
    }
    ws.flush().await.unwrap();
    ws_send(&mut ws, "4after the flood").await;
    // WebSocket pongs (coalesced by the server) are skipped; Engine.IO
    // pings are answered.
    assert_eq!(ws_text_ponging(&mut ws).await, "4after the flood");
    ws_send(&mut ws, "1").await;
    healthy(&s).await;
}

#[tokio::test]
async fn v3_websocket_ping_flood_is_answered_then_bounded_by_the_heartbeat() {
    let s = start(hostile()).await;
    // A client that reads: every ping is answered.
    let mut ws = ws_connect(s.addr, "EIO=3&transport=websocket").await;
    ws_text(&mut ws).await;
    for _ in 0..2000 {
        ws.feed(WsMessage::Text("2".into())).await.unwrap();
    }
    ws.flush().await.unwrap();
    for _ in 0..2000 {
        assert_eq!(ws_text(&mut ws).await, "3");
    }
    ws_send(&mut ws, "1").await;
    // A client that never reads: once the server cannot write its pongs it
    // stops reading (TCP backpressure on the flood), and without pings read
    // the heartbeat closes the session.
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let url = format!("ws://{}/engine.io/?EIO=3&transport=websocket", s.addr);
    let (ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    let (mut tx, _rx_never_read) = ws.split();
    let flood = tokio::spawn(async move {
        // Bounded: 200 rounds of 1,000 pings, or until writes block.
        for _ in 0..200 {
            for _ in 0..1000 {
                if tx.feed(WsMessage::Text("2".into())).await.is_err() {
                    return;
                }
            }
            match tokio::time::timeout(Duration::from_secs(1), tx.flush()).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
    });
    assert_eq!(
        s.wait_closes(2).await,
        vec![
            DisconnectReason::TransportClose,
            DisconnectReason::PingTimeout
        ]
    );
    flood.abort();
    healthy(&s).await;
}

#[tokio::test]
async fn never_answering_pings_times_out() {
    let s = start(hostile()).await;
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    ws_text(&mut ws).await;
    assert_eq!(ws_text(&mut ws).await, "2");
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::PingTimeout]);
    healthy(&s).await;
}

#[tokio::test]
async fn closing_mid_upgrade_leaves_the_polling_session_working() {
    let s = start(hostile().ping_interval(Duration::from_secs(30))).await;
    let sid = handshake(s.addr).await;
    // Closed before the probe, after the probe, and with a garbage probe.
    for step in 0..3 {
        let mut ws = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
        match step {
            0 => {}
            1 => {
                ws_send(&mut ws, "2probe").await;
                assert_eq!(ws_text(&mut ws).await, "3probe");
            }
            _ => ws_send(&mut ws, "2nope").await,
        }
        drop(ws);
        wait_until(Duration::from_secs(3), "upgrade abandoned", || {
            s.engine.stats().upgrades_failed == step + 1
        })
        .await;
    }
    let p = poll_path(&sid);
    assert_eq!(post(s.addr, &p, b"4polling").await.text(), "ok");
    assert_eq!(get(s.addr, &p).await.text(), "4polling");
    assert!(s.closes().is_empty());
    post(s.addr, &p, b"1").await;
    healthy(&s).await;
}

#[tokio::test]
async fn a_second_websocket_for_a_session_is_closed() {
    let s = start(hostile()).await;
    let sid = handshake(s.addr).await;
    let mut first = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    let mut second = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    assert_eq!(ws_next(&mut second).await, None);
    ws_send(&mut first, "2probe").await;
    assert_eq!(ws_text(&mut first).await, "3probe");
    ws_send(&mut first, "5").await;
    ws_send(&mut first, "4upgraded").await;
    assert_eq!(ws_text_ponging(&mut first).await, "4upgraded");
    let mut third = ws_connect(s.addr, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    assert_eq!(ws_next(&mut third).await, None);
    ws_send(&mut first, "1").await;
    healthy(&s).await;
}

// ---- resource abuse -------------------------------------------------------------

#[tokio::test]
async fn thousands_of_abandoned_sessions_go_away_in_time() {
    let s = start(hostile()).await;
    // 2,000 polling handshakes, 100 at a time, never used again.
    for _ in 0..20 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                let a = s.addr;
                tokio::spawn(async move { handshake(a).await })
            })
            .collect();
        for h in batch {
            h.await.unwrap();
        }
    }
    // 300 WebSocket sessions whose TCP connection just goes away.
    for _ in 0..3 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                let a = s.addr;
                tokio::spawn(async move {
                    let mut ws = ws_connect(a, "EIO=4&transport=websocket").await;
                    ws_text(&mut ws).await;
                })
            })
            .collect();
        for h in batch {
            h.await.unwrap();
        }
    }
    assert_eq!(s.engine.stats().sessions_opened, 2300);
    // Gone within their timeouts (ping interval + ping timeout).
    wait_until(Duration::from_secs(5), "abandoned sessions closed", || {
        s.engine.session_count() == 0
    })
    .await;
    let st = s.engine.stats();
    assert_eq!(st.closed(DisconnectReason::PingTimeout), 2000);
    assert_eq!(st.closed(DisconnectReason::TransportClose), 300);
    healthy(&s).await;
}

#[tokio::test]
async fn handshake_flood_stops_at_max_connections() {
    let s = start(hostile().max_connections(200)).await;
    let mut refused = 0;
    for _ in 0..3 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                let a = s.addr;
                tokio::spawn(
                    async move { get(a, "/engine.io/?EIO=4&transport=polling").await.status },
                )
            })
            .collect();
        for h in batch {
            if h.await.unwrap() == 503 {
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 100);
    assert_eq!(s.engine.session_count(), 200);
    assert_eq!(s.engine.stats().refused(RefusalReason::MaxConnections), 100);
    wait_until(Duration::from_secs(5), "flood sessions closed", || {
        s.engine.session_count() == 0
    })
    .await;
    healthy(&s).await;
}
