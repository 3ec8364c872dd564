//! Engine.IO v3 (text and binary payloads, client pings, WebSocket framing)
//! and the HTTP features: CORS, cookie, allow_request, compression, layers.

mod common;

use std::convert::Infallible;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::SinkExt;
use sockio_engine::{
    CookieConfig, Cors, DisconnectReason, Engine, EngineConfig, HandshakeRequest, NotFound,
    ProtocolVersion, Refusal, RefusalReason,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tower_layer::Layer;
use tower_service::Service;

fn v3() -> sockio_engine::EngineConfigBuilder {
    conformance().allow_eio3(true)
}

fn v3_path(sid: &str, b64: bool) -> String {
    format!(
        "/engine.io/?EIO=3&transport=polling&sid={sid}{}",
        if b64 { "&b64=1" } else { "" }
    )
}

/// Decodes `<len>:<packet>` records, lengths in UTF-16 units.
fn v3_records(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (n, tail) = rest.split_once(':').unwrap();
        let n: usize = n.parse().unwrap();
        let mut units = 0;
        let mut end = 0;
        for c in tail.chars() {
            if units == n {
                break;
            }
            units += c.len_utf16();
            end += c.len_utf8();
        }
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[tokio::test]
async fn v3_b64_handshake_and_utf16_text_payloads() {
    let s = start(v3()).await;
    let r = get(s.addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
    let body = r.text();
    let recs = v3_records(&body);
    let sid = sid_of(&recs[0]);
    assert_eq!(recs, vec![open_packet(&sid, "[\"websocket\"]")]);
    assert_eq!(body, format!("{}:{}", recs[0].len(), recs[0]));
    let p = v3_path(&sid, true);
    // "é" is 1 UTF-16 unit (2 bytes), "😀" is 2 units (4 bytes).
    let r = post(s.addr, &p, "2:4é3:4😀6:b4AQID".as_bytes()).await;
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    let r = get(s.addr, &p).await;
    assert_eq!(r.text(), "2:4é3:4😀6:b4AQID");
    // The client pings, the server pongs at once.
    post(s.addr, &p, b"1:2").await;
    assert_eq!(get(s.addr, &p).await.text(), "1:3");
    let socket = s
        .engine
        .get(sockio_engine::Sid::parse(&sid).unwrap())
        .unwrap();
    assert_eq!(socket.protocol(), ProtocolVersion::V3);
}

#[tokio::test]
async fn v3_without_b64_gets_binary_payloads() {
    let s = start(v3()).await;
    let r = get(s.addr, "/engine.io/?EIO=3&transport=polling").await;
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    // 00 <digits> ff <open packet>
    assert_eq!(r.body[0], 0);
    let ff = r.body.iter().position(|&b| b == 0xff).unwrap();
    let len: usize = r.body[1..ff].iter().fold(0, |n, d| n * 10 + *d as usize);
    let open = std::str::from_utf8(&r.body[ff + 1..]).unwrap();
    assert_eq!(len, open.len());
    let sid = sid_of(open);
    assert_eq!(open, open_packet(&sid, "[\"websocket\"]"));
    let p = v3_path(&sid, false);
    // Post in the binary format: text "4héllo" (7 bytes) and binary [1,2,3].
    let mut body = vec![0u8, 7, 0xff];
    body.extend_from_slice("4héllo".as_bytes());
    body.extend_from_slice(&[1, 4, 0xff, 4, 1, 2, 3]);
    let r = http(
        s.addr,
        "POST",
        &p,
        &[("Content-Type", "application/octet-stream")],
        &body,
    )
    .await;
    assert_eq!(r.text(), "ok");
    let r = get(s.addr, &p).await;
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, body);
    // Text posts are accepted too; answers stay binary, even text-only ones.
    post(s.addr, &p, "2:4é".as_bytes()).await;
    let r = get(s.addr, &p).await;
    let mut want = vec![0u8, 3, 0xff];
    want.extend_from_slice("4é".as_bytes());
    assert_eq!(r.body, want);
}

#[tokio::test]
async fn v3_server_sends_no_ping_and_times_out_without_client_ping() {
    let s = start(v3()).await;
    let r = get(s.addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
    let sid = sid_of(&r.text());
    let p = v3_path(&sid, true);
    // Client pings keep it alive past pingInterval + pingTimeout.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        post(s.addr, &p, b"1:2").await;
        assert_eq!(get(s.addr, &p).await.text(), "1:3");
    }
    // Then silence: closed after 500 ms, with no ping sent meanwhile.
    let r = get(s.addr, &p).await;
    assert_eq!(r.text(), "1:1");
    assert_eq!(s.wait_closes(1).await, vec![DisconnectReason::PingTimeout]);
}

#[tokio::test]
async fn v3_websocket_frames_and_probe() {
    let s = start(v3()).await;
    let mut ws = ws_connect(s.addr, "EIO=3&transport=websocket").await;
    let open = ws_text(&mut ws).await;
    assert_eq!(open, open_packet(&sid_of(&open), "[]"));
    ws_send(&mut ws, "2").await;
    assert_eq!(ws_text(&mut ws).await, "3");
    ws_send(&mut ws, "4héllo").await;
    assert_eq!(ws_text(&mut ws).await, "4héllo");
    ws.send(WsMessage::Binary(vec![4u8, 9, 8].into()))
        .await
        .unwrap();
    assert_eq!(
        ws_next(&mut ws).await,
        Some(WsMessage::Binary(vec![4u8, 9, 8].into()))
    );
    // A binary frame without the 04 type byte is invalid.
    ws.send(WsMessage::Binary(vec![9u8].into())).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, None);

    // Upgrade of a v3 polling session.
    let r = get(s.addr, "/engine.io/?EIO=3&transport=polling&b64=1").await;
    let sid = sid_of(&r.text());
    // A GET pending when the probe is answered gets `6`.
    let pending = tokio::spawn({
        let p = v3_path(&sid, true);
        let a = s.addr;
        async move { http(a, "GET", &p, &[("x-req", "pending")], b"").await }
    });
    wait_current_request(&s, &sid, "x-req", "pending").await;
    let mut ws = ws_connect(s.addr, &format!("EIO=3&transport=websocket&sid={sid}")).await;
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    assert_eq!(pending.await.unwrap().text(), "1:6");
    ws_send(&mut ws, "5").await;
    ws_send(&mut ws, "4up").await;
    assert_eq!(ws_text(&mut ws).await, "4up");
}

#[tokio::test]
async fn cors_any_preflight_and_headers() {
    let s = start(conformance().cors(Cors::any())).await;
    let r = http(
        s.addr,
        "OPTIONS",
        "/engine.io/?EIO=4&transport=polling",
        &[
            ("Origin", "https://a.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET,HEAD,PUT,PATCH,POST,DELETE")
    );
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type")
    );
    assert_eq!(r.header("vary"), Some("Access-Control-Request-Headers"));
    let r = http(
        s.addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("Origin", "https://a.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Errors carry the headers too.
    let r = http(
        s.addr,
        "GET",
        "/engine.io/?EIO=9&transport=polling",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn cors_origin_list_with_credentials() {
    let cors = Cors::origins(["https://ok.example"])
        .credentials(true)
        .allowed_headers(["x-token", "content-type"])
        .max_age(Duration::from_secs(600));
    let s = start(conformance().cors(cors)).await;
    let r = http(
        s.addr,
        "OPTIONS",
        "/engine.io/",
        &[("Origin", "https://ok.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://ok.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("x-token,content-type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("vary"), Some("Origin"));
    let r = http(
        s.addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("Origin", "https://evil.example")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("vary"), Some("Origin"));
    let s2 = start(conformance().cors(Cors::predicate(|o| o.ends_with(".good")))).await;
    let r = http(
        s2.addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("Origin", "http://x.good")],
        b"",
    )
    .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://x.good")
    );
}

#[tokio::test]
async fn cookie_on_handshake_only() {
    let s = start(conformance().cookie(CookieConfig::default())).await;
    let r = get(s.addr, "/engine.io/?EIO=4&transport=polling").await;
    let sid = sid_of(&r.text());
    assert_eq!(
        r.header("set-cookie"),
        Some(format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str())
    );
    post(s.addr, &poll_path(&sid), b"4x").await;
    let r = get(s.addr, &poll_path(&sid)).await;
    assert_eq!(r.header("set-cookie"), None);
    let plain = start(conformance()).await;
    let r = get(plain.addr, "/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.header("set-cookie"), None);
}

#[tokio::test]
async fn allow_request_is_async_and_refuses_with_a_typed_refusal() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let s = start(conformance().allow_request(move |req: HandshakeRequest| {
        let log = log.clone();
        async move {
            // An auth lookup that waits.
            tokio::time::sleep(Duration::from_millis(20)).await;
            log.lock().unwrap().push((
                req.method.to_string(),
                req.query
                    .get_all("room")
                    .map(str::to_owned)
                    .collect::<Vec<_>>(),
                req.query.get("name").map(str::to_owned),
                req.remote_addr.map(|a| a.ip()),
                req.headers.get("x-token").is_some(),
            ));
            match req.headers.get("x-token").map(|v| v.as_bytes()) {
                Some(b"good") => Ok(()),
                Some(b"slow") => {
                    Err(Refusal::new("slow down").with_status(http::StatusCode::TOO_MANY_REQUESTS))
                }
                Some(_) => Err(Refusal::new("no token")),
                None => Err(Refusal::forbidden()),
            }
        }
    }))
    .await;
    let path = "/engine.io/?EIO=4&transport=polling&room=a&room=b%20c&name=J%C3%BCrgen+M";
    let r = get(s.addr, path).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), r#"{"code":4,"message":"Forbidden"}"#);
    let r = http(s.addr, "GET", path, &[("x-token", "bad")], b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), r#"{"code":4,"message":"no token"}"#);
    let r = http(s.addr, "GET", path, &[("x-token", "slow")], b"").await;
    assert_eq!(r.status, 429);
    assert_eq!(r.text(), r#"{"code":4,"message":"slow down"}"#);
    let r = http(s.addr, "GET", path, &[("x-token", "good")], b"").await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("0{\"sid\":"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert_eq!(
        seen[0],
        (
            "GET".to_owned(),
            vec!["a".to_owned(), "b c".to_owned()],
            Some("Jürgen M".to_owned()),
            Some(s.addr.ip()),
            false
        )
    );
    let stats = s.engine.stats();
    assert_eq!(stats.refused(RefusalReason::Forbidden), 3);
    assert_eq!(stats.sessions_opened, 1);
    // Over WebSocket: 400 with the message, as Node's abortUpgrade.
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let url = format!("ws://{}/engine.io/?EIO=4&transport=websocket", s.addr);
    match tokio_tungstenite::client_async(url, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400);
            assert_eq!(resp.body().as_deref(), Some(&b"Forbidden"[..]));
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }
    // Requests with a sid do not run the hook.
    let sid = {
        let r = http(s.addr, "GET", path, &[("x-token", "good")], b"").await;
        sid_of(&r.text())
    };
    let before = s.engine.stats().refused(RefusalReason::Forbidden);
    assert_eq!(post(s.addr, &poll_path(&sid), b"4x").await.text(), "ok");
    assert_eq!(s.engine.stats().refused(RefusalReason::Forbidden), before);
}

#[tokio::test]
async fn allow_request_that_panics_refuses() {
    let s = start(
        conformance().allow_request(|req: HandshakeRequest| async move {
            if req.query.contains_key("boom") {
                panic!("hook bug");
            }
            Ok(())
        }),
    )
    .await;
    let r = get(s.addr, "/engine.io/?EIO=4&transport=polling&boom").await;
    assert_eq!(r.status, 403);
    assert_eq!(r.text(), r#"{"code":4,"message":"Forbidden"}"#);
    // The server goes on.
    assert_eq!(
        get(s.addr, "/engine.io/?EIO=4&transport=polling")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn large_polling_responses_are_compressed() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let big = format!("4{}", "abc".repeat(1000));
    post(s.addr, &p, big.as_bytes()).await;
    let r = http(
        s.addr,
        "GET",
        &p,
        &[("Accept-Encoding", "gzip, deflate")],
        b"",
    )
    .await;
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut out = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, big);
    post(s.addr, &p, big.as_bytes()).await;
    let r = http(s.addr, "GET", &p, &[("Accept-Encoding", "deflate")], b"").await;
    assert_eq!(r.header("content-encoding"), Some("deflate"));
    let mut out = String::new();
    flate2::read::ZlibDecoder::new(&r.body[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, big);
    // Small ones and clients without Accept-Encoding: plain.
    post(s.addr, &p, b"4small").await;
    let r = http(s.addr, "GET", &p, &[("Accept-Encoding", "gzip")], b"").await;
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), "4small");
    let off = start(conformance().http_compression(false)).await;
    let sid = handshake(off.addr).await;
    post(off.addr, &poll_path(&sid), big.as_bytes()).await;
    let r = http(
        off.addr,
        "GET",
        &poll_path(&sid),
        &[("Accept-Encoding", "gzip")],
        b"",
    )
    .await;
    assert_eq!(r.header("content-encoding"), None);
}

#[tokio::test]
async fn two_engines_stack_as_layers() {
    let a = Engine::new(
        EngineConfig::builder().path("/a").build().unwrap(),
        Recorder::default(),
    );
    let b = Engine::new(
        EngineConfig::builder().path("/b/").build().unwrap(),
        Recorder::default(),
    );
    let svc = a.layer().layer(b.layer().layer(NotFound));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let svc = svc.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let mut s = svc.clone();
                    async move { Ok::<_, Infallible>(s.call(req).await.unwrap_or_else(|e| match e {})) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    let ra = get(addr, "/a/?EIO=4&transport=polling").await;
    let rb = get(addr, "/b/?EIO=4&transport=polling").await;
    assert_eq!((ra.status, rb.status), (200, 200));
    assert_eq!(get(addr, "/c/?EIO=4&transport=polling").await.status, 404);
    assert_eq!((a.session_count(), b.session_count()), (1, 1));
    let _ = Arc::clone(&a);
}
