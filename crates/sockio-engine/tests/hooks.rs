//! Headers added to responses (Node's `initial_headers` / `headers` events),
//! and the current request of a session as the layer above reads it.

mod common;

use common::*;
use http::header::SET_COOKIE;
use http::HeaderValue;
use sockio_engine::CookieConfig;

/// A builder whose hooks mark their responses and echo the request's `x-req`.
fn hooked() -> sockio_engine::EngineConfigBuilder {
    conformance()
        .cookie(CookieConfig::default())
        .on_initial_headers(|h, req| {
            h.append(SET_COOKIE, HeaderValue::from_static("extra=1; Path=/"));
            if let Some(v) = req.headers.get("x-req") {
                h.insert("x-initial-saw", v.clone());
            }
        })
        .on_headers(|h, req| {
            h.append("x-every", HeaderValue::from_static("yes"));
            if let Some(v) = req.headers.get("x-req") {
                h.insert("x-saw", v.clone());
            }
        })
}

#[tokio::test]
async fn polling_handshake_gets_both_hooks_after_the_cookie() {
    let s = start(hooked()).await;
    let r = http(
        s.addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("x-req", "hs")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    let sid = sid_of(&r.text());
    assert_eq!(
        r.headers_named("set-cookie"),
        vec![
            format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str(),
            "extra=1; Path=/"
        ]
    );
    assert_eq!(r.header("x-initial-saw"), Some("hs"));
    assert_eq!(r.header("x-saw"), Some("hs"));
    assert_eq!(r.headers_named("x-every"), vec!["yes"]);
}

#[tokio::test]
async fn every_polling_answer_gets_the_headers_hook_with_its_own_request() {
    let s = start(hooked()).await;
    let sid = handshake(s.addr).await;
    let p = poll_path(&sid);
    let r = http(
        s.addr,
        "POST",
        &p,
        &[("x-req", "post-1"), ("Content-Type", "text/plain")],
        b"4x",
    )
    .await;
    assert_eq!(r.text(), "ok");
    assert_eq!(r.header("x-saw"), Some("post-1"));
    assert_eq!(r.header("x-initial-saw"), None);
    assert!(r.headers_named("set-cookie").is_empty());
    let r = http(s.addr, "GET", &p, &[("x-req", "get-1")], b"").await;
    assert_eq!(r.text(), "4x");
    assert_eq!(r.header("x-saw"), Some("get-1"));
    assert_eq!(r.header("x-every"), Some("yes"));
    // Errors do not run it (as in Node).
    let r = get(
        s.addr,
        "/engine.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-every"), None);
}

#[tokio::test]
async fn websocket_101_answers_get_the_hooks() {
    let s = start(hooked()).await;
    // A new WebSocket session: both hooks (no sid cookie over WebSocket).
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/engine.io/?EIO=4&transport=websocket", s.addr),
    )
    .unwrap();
    req.headers_mut()
        .insert("x-req", HeaderValue::from_static("ws-hs"));
    let (_ws, resp) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["x-initial-saw"], "ws-hs");
    assert_eq!(resp.headers()["x-saw"], "ws-hs");
    assert_eq!(
        resp.headers()
            .get_all(SET_COOKIE)
            .iter()
            .collect::<Vec<_>>(),
        vec!["extra=1; Path=/"]
    );
    // An upgrade: the headers hook only.
    let sid = handshake(s.addr).await;
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}",
            s.addr
        ))
        .unwrap();
    req.headers_mut()
        .insert("x-req", HeaderValue::from_static("ws-up"));
    let (_ws, resp) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    assert_eq!(resp.headers()["x-saw"], "ws-up");
    assert!(resp.headers().get("x-initial-saw").is_none());
    assert!(resp.headers().get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_panicking_hook_does_not_break_the_answer() {
    let s = start(conformance().on_headers(|_, req| {
        if req.headers.contains_key("x-boom") {
            panic!("hook bug");
        }
    }))
    .await;
    let r = http(
        s.addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("x-boom", "1")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with("0{"));
}

#[tokio::test]
async fn polling_messages_see_the_post_that_carried_them() {
    let s = start(conformance()).await;
    let r = http(
        s.addr,
        "GET",
        "/engine.io/?EIO=4&transport=polling",
        &[("x-req", "handshake")],
        b"",
    )
    .await;
    let sid = sid_of(&r.text());
    let socket = s
        .engine
        .get(sockio_engine::Sid::parse(&sid).unwrap())
        .unwrap();
    // Until another request comes, the current request is the handshake.
    assert_eq!(socket.current_request().headers["x-req"], "handshake");
    let p = poll_path(&sid);
    for n in ["post-a", "post-b"] {
        let r = http(s.addr, "POST", &p, &[("x-req", n)], b"4m").await;
        assert_eq!(r.text(), "ok");
    }
    assert_eq!(
        *s.engine.handler().current.lock().unwrap(),
        vec![Some("post-a".to_owned()), Some("post-b".to_owned())]
    );
    assert_eq!(socket.current_request().method, http::Method::POST);
    // A GET is the latest request too; the handshake stays readable.
    http(s.addr, "GET", &p, &[("x-req", "get")], b"").await;
    assert_eq!(socket.current_request().headers["x-req"], "get");
    assert_eq!(socket.current_request().method, http::Method::GET);
    assert_eq!(socket.request().headers["x-req"], "handshake");
}

#[tokio::test]
async fn after_an_upgrade_the_current_request_is_the_upgrade_request() {
    let s = start(conformance()).await;
    let sid = handshake(s.addr).await;
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut req =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/engine.io/?EIO=4&transport=websocket&sid={sid}",
            s.addr
        ))
        .unwrap();
    req.headers_mut()
        .insert("x-req", HeaderValue::from_static("upgrade"));
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws_send(&mut ws, "2probe").await;
    assert_eq!(ws_text(&mut ws).await, "3probe");
    ws_send(&mut ws, "5").await;
    ws_send(&mut ws, "4over ws").await;
    assert_eq!(ws_text(&mut ws).await, "4over ws");
    assert_eq!(
        *s.engine.handler().current.lock().unwrap(),
        vec![Some("upgrade".to_owned())]
    );
    // A WebSocket session without upgrade: its handshake.
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/engine.io/?EIO=4&transport=websocket", s.addr),
    )
    .unwrap();
    req.headers_mut()
        .insert("x-req", HeaderValue::from_static("ws-handshake"));
    let (mut ws, _) = tokio_tungstenite::client_async(req, tcp).await.unwrap();
    ws_text(&mut ws).await;
    ws_send(&mut ws, "4x").await;
    ws_text(&mut ws).await;
    assert_eq!(
        s.engine.handler().current.lock().unwrap().last().cloned(),
        Some(Some("ws-handshake".to_owned()))
    );
}
