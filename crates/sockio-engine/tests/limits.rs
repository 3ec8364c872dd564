//! Backpressure (pause/resume reading), the request body deadline,
//! `max_connections`, and the counters of `Engine::stats`.

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use sockio_engine::{DisconnectReason, Message, RefusalReason, Sid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

fn socket(s: &Server, sid: &str) -> std::sync::Arc<sockio_engine::Socket<()>> {
    s.engine.get(Sid::parse(sid).unwrap()).unwrap()
}

async fn ws_session(s: &Server) -> (Ws, String) {
    let mut ws = ws_connect(s.addr, "EIO=4&transport=websocket").await;
    let open = ws_text(&mut ws).await;
    let sid = sid_of(&open);
    (ws, sid)
}

// ---- pause / resume over WebSocket ----------------------------------------

#[tokio::test]
async fn websocket_pause_stops_reading_but_not_writing() {
    let s = start(conformance()).await;
    let (mut ws, sid) = ws_session(&s).await;
    ws_send(&mut ws, "4pause").await;
    wait_until(Duration::from_secs(3), "paused", || {
        socket(&s, &sid).is_reading_paused()
    })
    .await;
    ws_send(&mut ws, "4a").await;
    ws_send(&mut ws, "4b").await;
    // Writing goes on: a message from the server, then the heartbeat's ping
    // (one ping interval later: long after `a` and `b` would have been read).
    socket(&s, &sid).send(Message::text("srv")).unwrap();
    assert_eq!(ws_text(&mut ws).await, "4srv");
    assert_eq!(ws_text(&mut ws).await, "2");
    assert_eq!(
        s.engine.handler().messages(),
        vec!["message Text(\"pause\")"]
    );
    ws_send(&mut ws, "3").await;
    // Resume: the frames waiting are read, in order.
    socket(&s, &sid).resume_reading();
    socket(&s, &sid).resume_reading(); // idempotent
    assert_eq!(ws_text(&mut ws).await, "4a");
    assert_eq!(ws_text(&mut ws).await, "4b");
    assert_eq!(
        s.engine.handler().messages(),
        vec![
            "message Text(\"pause\")",
            "message Text(\"a\")",
            "message Text(\"b\")"
        ]
    );
    assert!(s.closes().is_empty());
}

#[tokio::test]
async fn pause_in_a_batch_stops_at_the_next_frame() {
    let s = start(conformance()).await;
    let (mut ws, sid) = ws_session(&s).await;
    // Three frames in one write: the second pauses, the third waits.
    for t in ["4one", "4pause", "4three"] {
        ws.feed(WsMessage::Text(t.into())).await.unwrap();
    }
    ws.flush().await.unwrap();
    assert_eq!(ws_text(&mut ws).await, "4one");
    assert_eq!(ws_text(&mut ws).await, "2"); // one ping interval later
    assert_eq!(s.engine.handler().messages().len(), 2);
    ws_send(&mut ws, "3").await;
    socket(&s, &sid).resume_reading();
    assert_eq!(ws_text(&mut ws).await, "4three");
}

#[tokio::test]
async fn heartbeat_timeout_is_suspended_while_paused() {
    let s = start(conformance()).await;
    let (mut ws, sid) = ws_session(&s).await;
    ws_send(&mut ws, "4pause").await;
    wait_until(Duration::from_secs(3), "paused", || {
        socket(&s, &sid).is_reading_paused()
    })
    .await;
    // No pong is ever sent; pings keep coming, every ping interval, and the
    // session stays open well past ping_interval + ping_timeout.
    for _ in 0..4 {
        assert_eq!(ws_text(&mut ws).await, "2");
    }
    assert!(s.closes().is_empty());
    // On resume a fresh timeout starts: still no pong, so it closes.
    socket(&s, &sid).resume_reading();
    assert_eq!(ws_next(&mut ws).await, None);
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::PingTimeout]);
}

#[tokio::test]
async fn pongs_sent_while_paused_count_once_read() {
    let s = start(conformance()).await;
    let (mut ws, sid) = ws_session(&s).await;
    ws_send(&mut ws, "4pause").await;
    for _ in 0..3 {
        assert_eq!(ws_text(&mut ws).await, "2");
        ws_send(&mut ws, "3").await;
    }
    socket(&s, &sid).resume_reading();
    // Alive through two more heartbeats.
    for _ in 0..2 {
        assert_eq!(ws_text(&mut ws).await, "2");
        ws_send(&mut ws, "3").await;
    }
    assert!(s.closes().is_empty());
}

#[tokio::test]
async fn a_paused_websocket_pushes_back_on_the_client() {
    let s = start(conformance().ping_interval(Duration::from_secs(30))).await;
    let (mut ws, sid) = ws_session(&s).await;
    ws_send(&mut ws, "4pause").await;
    wait_until(Duration::from_secs(3), "paused", || {
        socket(&s, &sid).is_reading_paused()
    })
    .await;
    let (mut tx, mut rx) = ws.split();
    // Write 16 KiB frames until the kernel buffers are full (bounded: 64 MiB).
    let frame = vec![0u8; 16 * 1024];
    let mut sent = 0usize;
    let mut blocked = false;
    while sent < 64 << 20 {
        match tokio::time::timeout(
            Duration::from_millis(500),
            tx.send(WsMessage::Binary(frame.clone().into())),
        )
        .await
        {
            Ok(r) => {
                r.unwrap();
                sent += frame.len();
            }
            Err(_) => {
                blocked = true;
                break;
            }
        }
    }
    assert!(
        blocked,
        "the client was never slowed down ({sent} bytes sent)"
    );
    // The server still writes to a paused session.
    socket(&s, &sid).send(Message::text("still here")).unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), rx.next())
        .await
        .unwrap();
    assert!(
        matches!(got, Some(Ok(WsMessage::Text(ref t))) if t.as_str() == "4still here"),
        "{got:?}"
    );
    // Only the pause was dispatched.
    assert_eq!(s.engine.handler().messages().len(), 1);
}

// ---- pause / resume over polling ------------------------------------------

#[tokio::test]
async fn polling_pause_holds_the_post_until_resumed() {
    let s = start(conformance().ping_interval(Duration::from_secs(30))).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let posting = tokio::spawn({
        let (a, p) = (s.addr, p.clone());
        async move { post(a, &p, b"4pause\x1e4a\x1e4b").await }
    });
    wait_until(Duration::from_secs(3), "paused", || {
        s.engine.handler().messages().len() == 1
    })
    .await;
    // GETs are still answered while the POST waits.
    socket(&s, &sid).send(Message::text("srv")).unwrap();
    assert_eq!(get(s.addr, &p).await.text(), "4srv");
    assert!(!posting.is_finished());
    assert_eq!(
        s.engine.handler().messages(),
        vec!["message Text(\"pause\")"]
    );
    socket(&s, &sid).resume_reading();
    let r = posting.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(
        s.engine.handler().messages(),
        vec![
            "message Text(\"pause\")",
            "message Text(\"a\")",
            "message Text(\"b\")"
        ]
    );
    assert_eq!(get(s.addr, &p).await.text(), "4a\x1e4b");
}

#[tokio::test]
async fn polling_pause_then_close_ends_the_post() {
    let s = start(conformance().ping_interval(Duration::from_secs(30))).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let posting = tokio::spawn({
        let (a, p) = (s.addr, p.clone());
        async move { post(a, &p, b"4pause\x1e4never").await }
    });
    wait_until(Duration::from_secs(3), "paused", || {
        s.engine.handler().messages().len() == 1
    })
    .await;
    socket(&s, &sid).close(DisconnectReason::ServerClose);
    let r = tokio::time::timeout(Duration::from_secs(3), posting)
        .await
        .expect("answered at the close")
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(s.engine.handler().messages().len(), 1);
}

// ---- request body deadline ------------------------------------------------

/// Sends a POST head for `sid`, then `body_part`, and keeps the connection.
async fn start_post(
    addr: std::net::SocketAddr,
    sid: &str,
    head: &str,
    body_part: &[u8],
) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n{head}\r\n",
        poll_path(sid)
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    tcp.write_all(body_part).await.unwrap();
    tcp
}

async fn read_status(tcp: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(limit, tcp.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    head.lines().next().map(str::to_owned)
}

#[tokio::test]
async fn trickled_post_body_is_cut_at_the_deadline() {
    let s = start(
        conformance()
            .ping_interval(Duration::from_secs(30))
            .ping_timeout(Duration::from_secs(30))
            .request_body_timeout(Duration::from_millis(300)),
    )
    .await;
    let sid = handshake(s.addr).await;
    let tcp = start_post(s.addr, &sid, "Content-Length: 1000\r\n", b"4").await;
    let (mut rd, mut wr) = tcp.into_split();
    // One byte every 50 ms, at most 100 bytes (5 s).
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if wr.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(4), rd.read(&mut buf))
        .await
        .expect("answered before the trickle ends")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    trickle.abort();
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::TransportError]
    );
    assert_eq!(s.engine.stats().body_timeouts, 1);
    assert!(s.engine.handler().messages().is_empty());
}

#[tokio::test]
async fn chunked_post_that_never_ends_is_cut_at_the_deadline() {
    let s = start(
        conformance()
            .ping_interval(Duration::from_secs(30))
            .ping_timeout(Duration::from_secs(30))
            .request_body_timeout(Duration::from_millis(300)),
    )
    .await;
    let sid = handshake(s.addr).await;
    let mut tcp = start_post(
        s.addr,
        &sid,
        "Transfer-Encoding: chunked\r\n",
        b"3\r\n4ab\r\n",
    )
    .await;
    let status = read_status(&mut tcp, Duration::from_secs(4)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 408 Request Timeout"));
    assert_eq!(
        s.wait_closes(1).await,
        vec![DisconnectReason::TransportError]
    );
    assert_eq!(s.engine.stats().body_timeouts, 1);
}

#[tokio::test]
async fn body_deadline_defaults_to_the_ping_timeout() {
    // conformance(): pingTimeout 200 ms; the heartbeat is slower here.
    let s = start(conformance().ping_interval(Duration::from_secs(30))).await;
    assert_eq!(
        s.engine.config().request_body_timeout,
        Duration::from_millis(200)
    );
    let sid = handshake(s.addr).await;
    let mut tcp = start_post(s.addr, &sid, "Content-Length: 10\r\n", b"4a").await;
    let status = read_status(&mut tcp, Duration::from_secs(4)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 408 Request Timeout"));
}

#[tokio::test]
async fn closing_a_session_ends_its_pending_post_body_at_once() {
    let s = start(
        conformance()
            .ping_interval(Duration::from_secs(30))
            .request_body_timeout(Duration::from_secs(30)),
    )
    .await;
    let sid = handshake(s.addr).await;
    let mut tcp = start_post(s.addr, &sid, "Content-Length: 100\r\n", b"4abc").await;
    wait_until(Duration::from_secs(3), "POST taken in hand", || {
        socket(&s, &sid).current_request().method == http::Method::POST
    })
    .await;
    socket(&s, &sid).close(DisconnectReason::ServerClose);
    let status = read_status(&mut tcp, Duration::from_secs(3)).await;
    assert_eq!(status.as_deref(), Some("HTTP/1.1 400 Bad Request"));
    assert_eq!(s.engine.stats().body_timeouts, 0);
}

// ---- max_connections --------------------------------------------------------

#[tokio::test]
async fn handshakes_past_max_connections_get_503() {
    let s = start(
        conformance()
            .ping_interval(Duration::from_secs(30))
            .max_connections(2),
    )
    .await;
    let first = handshake(s.addr).await;
    let (_ws, _) = ws_session(&s).await;
    assert_eq!(s.engine.session_count(), 2);
    let r = get(s.addr, "/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.text(), r#"{"code":3,"message":"Too many connections"}"#);
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", s.addr);
    match tokio_tungstenite::client_async(url, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503)
        }
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    assert_eq!(s.engine.stats().refused(RefusalReason::MaxConnections), 2);
    // Requests of open sessions are not handshakes: still served.
    assert_eq!(post(s.addr, &poll_path(&first), b"4x").await.text(), "ok");
    // A session closes: there is room again (its close grace holds no place).
    post(s.addr, &poll_path(&first), b"1").await;
    wait_until(Duration::from_secs(3), "one session left", || {
        s.engine.session_count() == 1
    })
    .await;
    handshake(s.addr).await;
    assert_eq!(s.engine.session_count(), 2);
}

#[tokio::test]
async fn failed_websocket_handshakes_give_their_place_back() {
    let s = start(conformance().max_connections(1)).await;
    // A WebSocket handshake with a bad version is refused before a session.
    for _ in 0..3 {
        let r = http(
            s.addr,
            "GET",
            "/engine.io/?EIO=4&transport=websocket",
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "8"),
            ],
            b"",
        )
        .await;
        assert_eq!(r.status, 400);
    }
    handshake(s.addr).await;
    assert_eq!(s.engine.session_count(), 1);
}

// ---- counters -------------------------------------------------------------------

#[tokio::test]
async fn stats_count_refusals_closes_and_upgrades() {
    let s = start(conformance().ping_interval(Duration::from_secs(30))).await;
    let a = s.addr;
    get(a, "/engine.io/?EIO=4&transport=nope").await;
    get(
        a,
        "/engine.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
    )
    .await;
    get(a, "/engine.io/?EIO=4&transport=polling&sid=bad").await;
    http(a, "POST", "/engine.io/?EIO=4&transport=polling", &[], b"").await;
    get(a, "/engine.io/?EIO=9&transport=polling").await;
    get(a, "/engine.io/?EIO=4&transport=websocket").await;
    let st = s.engine.stats();
    assert_eq!(st.refused(RefusalReason::UnknownTransport), 1);
    assert_eq!(st.refused(RefusalReason::UnknownSid), 2);
    assert_eq!(st.refused(RefusalReason::BadHandshakeMethod), 1);
    assert_eq!(st.refused(RefusalReason::UnsupportedProtocolVersion), 1);
    assert_eq!(st.refused(RefusalReason::BadRequest), 1);
    assert_eq!(st.refused_total(), 6);
    assert_eq!(st.sessions_opened, 0);

    // Closes by reason, parse errors, upgrades.
    let sid = handshake(a).await;
    post(a, &poll_path(&sid), b"1").await;
    let sid = handshake(a).await;
    post(a, &poll_path(&sid), b"zzz").await;
    let sid = handshake(a).await;
    let mut ws = ws_connect(a, &format!("EIO=4&transport=websocket&sid={sid}")).await;
    ws_send(&mut ws, "2probe").await;
    ws_text(&mut ws).await;
    ws_send(&mut ws, "5").await;
    ws_send(&mut ws, "4up").await;
    ws_text(&mut ws).await;
    s.wait_closes(2).await;
    let st = s.engine.stats();
    assert_eq!(st.sessions_opened, 3);
    assert_eq!(st.open_sessions, 1);
    assert_eq!(st.closed(DisconnectReason::TransportClose), 1);
    assert_eq!(st.closed(DisconnectReason::ParseError), 1);
    assert_eq!(st.closed_total(), 2);
    assert_eq!(st.parse_errors, 1);
    assert_eq!(st.upgrades, 1);
    let named: std::collections::HashMap<&str, u64> = st.counters().collect();
    assert_eq!(named["closed_parse_error"], 1);
    assert_eq!(named["refused_unknown_sid"], 2);
    assert_eq!(named["upgrades"], 1);
    assert_eq!(named["open_sessions"], 1);
}
