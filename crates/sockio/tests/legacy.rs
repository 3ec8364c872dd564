//! Engine.IO v3 / Socket.IO protocol v4 clients (socket.io-client 1.x/2.x) on
//! the interop server with `allow_eio3(true)`, byte for byte, from raw
//! HTTP/1.1 and WebSocket clients (`LEGACY-SERVER.md` §1).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use sockio::Parser;

const PH0: &str = r#"{"_placeholder":true,"num":0}"#;

async fn server(timing: Timing) -> SocketAddr {
    start(Parser::Json, true, timing).await
}

fn path3(sid: Option<&str>, b64: bool) -> String {
    let mut p = "/socket.io/?EIO=3&transport=polling".to_owned();
    if b64 {
        p.push_str("&b64=1");
    }
    if let Some(sid) = sid {
        p.push_str("&sid=");
        p.push_str(sid);
    }
    p
}

/// One polling GET, decoded in the format the client asked for (the
/// response's content type must match it).
async fn poll3(addr: SocketAddr, sid: Option<&str>, b64: bool) -> (Vec<P3>, Resp) {
    let r = get(addr, &path3(sid, b64)).await;
    assert_eq!(r.status, 200, "GET: {:?}", String::from_utf8_lossy(&r.body));
    let packets = if b64 {
        assert_eq!(r.header("content-type"), Some("text/plain; charset=UTF-8"));
        decode_v3_text(&r.text())
    } else {
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        decode_v3_binary(&r.body)
    };
    (packets, r)
}

/// GETs until `n` packets came (at most `n` GETs).
async fn collect3(addr: SocketAddr, sid: &str, b64: bool, n: usize) -> Vec<P3> {
    let mut out = Vec::new();
    for _ in 0..n {
        if out.len() >= n {
            break;
        }
        out.extend(poll3(addr, Some(sid), b64).await.0);
    }
    assert_eq!(out.len(), n, "{out:?}");
    out
}

fn welcome(nsp: &str, id: &str) -> String {
    let prefix = if nsp == "/" {
        String::new()
    } else {
        format!("{nsp},")
    };
    format!(r#"42{prefix}["welcome",{{"sid":"{id}","namespace":"{nsp}"}}]"#)
}

fn check_open(open: &str, timing: Timing) -> String {
    let v: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let sid = v["sid"].as_str().unwrap().to_owned();
    assert_eq!(v["pingInterval"], timing.ping_interval.as_millis() as u64);
    assert_eq!(v["pingTimeout"], timing.ping_timeout.as_millis() as u64);
    sid
}

/// Polling handshake; returns the sid after the open packet, `40` and the
/// welcome (the implicit connection to `/`) came, without the client
/// sending anything.
async fn open_polling(addr: SocketAddr, b64: bool, timing: Timing) -> String {
    let (mut first, _) = poll3(addr, None, b64).await;
    let P3::Text(open) = first.remove(0) else {
        panic!("open packet is text")
    };
    let sid = check_open(&open, timing);
    let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    assert_eq!(v["upgrades"], serde_json::json!(["websocket"]));
    let mut rest = first;
    while rest.len() < 2 {
        rest.extend(poll3(addr, Some(&sid), b64).await.0);
    }
    assert_eq!(rest, vec![t("40"), P3::Text(welcome("/", &sid))]);
    sid
}

/// WebSocket session; returns it and the sid after the open packet, `40`
/// and the welcome.
async fn open_ws3(addr: SocketAddr, timing: Timing) -> (Ws, String) {
    let mut ws = ws_connect(addr, "EIO=3&transport=websocket").await;
    let open = ws_recv(&mut ws, false).await;
    let sid = check_open(&open, timing);
    let v: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    assert_eq!(v["upgrades"], serde_json::json!([]));
    assert_eq!(ws_recv(&mut ws, false).await, "40");
    assert_eq!(ws_recv(&mut ws, false).await, welcome("/", &sid));
    (ws, sid)
}

#[tokio::test]
async fn v3_polling_handshake_is_accepted_and_connects_to_root_implicitly() {
    let addr = server(INTEROP).await;
    for b64 in [true, false] {
        let sid = open_polling(addr, b64, INTEROP).await;
        assert_eq!(sid.len(), 20);
        // The client pings, the server pongs at once.
        let body = encode_v3_text(&[t("2")]);
        post(
            addr,
            &path3(Some(&sid), b64),
            "text/plain;charset=UTF-8",
            body.as_bytes(),
        )
        .await;
        assert_eq!(poll3(addr, Some(&sid), b64).await.0, vec![t("3")]);
    }
}

#[tokio::test]
async fn v3_polling_text_lengths_count_utf16_units_both_ways() {
    let addr = server(RELAXED).await;
    let sid = open_polling(addr, true, RELAXED).await;
    let p = path3(Some(&sid), true);
    let sent = [
        t(r#"42["echo-emit","é"]"#),
        t(r#"421["echo","😀👍 ü"]"#),
        t(r#"42["echo-emit","日本語 😀",{"ключ":"ß"}]"#),
    ];
    let body = encode_v3_text(&sent);
    // The lengths are UTF-16 units: 😀 counts 2 (4 bytes), é counts 1 (2 bytes).
    assert!(body.starts_with(r#"19:42["echo-emit","é"]20:421["echo","😀👍 ü"]"#));
    post(addr, &p, "text/plain;charset=UTF-8", body.as_bytes()).await;
    // Text payloads to v3 clients are ASCII (non-ASCII escaped inside the
    // JSON), which socket.io-client 1.x and 2.x both read right.
    let want = vec![
        t(r#"42["echo-back","\u00e9"]"#),
        t(r#"431["\ud83d\ude00\ud83d\udc4d \u00fc"]"#),
        t(
            r#"42["echo-back","\u65e5\u672c\u8a9e \ud83d\ude00",{"\u043a\u043b\u044e\u0447":"\u00df"}]"#,
        ),
    ];
    // The handlers run while the POST is read: one GET holds all three.
    let (got, r) = poll3(addr, Some(&sid), true).await;
    assert_eq!(got, want);
    assert_eq!(r.text(), encode_v3_text(&want));
}

#[tokio::test]
async fn v3_polling_records_utf8_encoded_by_1x_clients_are_decoded() {
    // engine.io-parser 1.x (socket.io-client 1.x) UTF-8-encodes each record of
    // a text payload: "é" travels as the two characters "Ã©".
    let addr = server(RELAXED).await;
    let sid = open_polling(addr, true, RELAXED).await;
    let p = path3(Some(&sid), true);
    let one_x = |s: &str| -> String { s.bytes().map(char::from).collect() };
    let sent = [t(&one_x(r#"421["echo","é 😀 日本"]"#))];
    post(
        addr,
        &p,
        "text/plain;charset=UTF-8",
        encode_v3_text(&sent).as_bytes(),
    )
    .await;
    let (got, _) = poll3(addr, Some(&sid), true).await;
    assert_eq!(got, vec![t(r#"431["\u00e9 \ud83d\ude00 \u65e5\u672c"]"#)]);
}

#[tokio::test]
async fn v3_polling_b64_binary_is_b4_base64() {
    let addr = server(RELAXED).await;
    let sid = open_polling(addr, true, RELAXED).await;
    let p = path3(Some(&sid), true);
    let ev = format!(r#"451-["echo-emit","é",{PH0}]"#);
    let body = encode_v3_text(&[P3::Text(ev), P3::Bin(vec![1, 2, 3])]);
    assert!(body.ends_with("6:b4AQID"), "{body}");
    post(addr, &p, "text/plain;charset=UTF-8", body.as_bytes()).await;
    let (got, r) = poll3(addr, Some(&sid), true).await;
    let back = format!(r#"451-["echo-back","\u00e9",{PH0}]"#);
    assert_eq!(got, vec![P3::Text(back.clone()), P3::Bin(vec![1, 2, 3])]);
    assert_eq!(r.text(), format!("{}:{back}6:b4AQID", back.chars().count()));

    // A binary ack: the client's echo with an ack id, answered as BINARY_ACK.
    let ev = format!(r#"451-7["echo",{PH0},"ü"]"#);
    let body = encode_v3_text(&[P3::Text(ev), P3::Bin(vec![0, 255])]);
    post(addr, &p, "text/plain;charset=UTF-8", body.as_bytes()).await;
    let (got, _) = poll3(addr, Some(&sid), true).await;
    assert_eq!(
        got,
        vec![
            P3::Text(format!(r#"461-7[{PH0},"\u00fc"]"#)),
            P3::Bin(vec![0, 255])
        ]
    );
}

#[tokio::test]
async fn v3_polling_without_b64_uses_the_xhr2_binary_payload_both_ways() {
    let addr = server(RELAXED).await;
    // open_polling checks the handshake response is application/octet-stream.
    let sid = open_polling(addr, false, RELAXED).await;
    let p = path3(Some(&sid), false);
    let sent = [
        P3::Text(format!(r#"451-["echo-emit","é😀",{PH0}]"#)),
        P3::Bin(vec![0, 0xff, 1]),
        t(r#"421["echo","ü",{"日本":"😀"}]"#),
    ];
    post(
        addr,
        &p,
        "application/octet-stream",
        &encode_v3_binary(&sent),
    )
    .await;
    let want = vec![
        P3::Text(format!(r#"451-["echo-back","é😀",{PH0}]"#)),
        P3::Bin(vec![0, 0xff, 1]),
        t(r#"431["ü",{"日本":"😀"}]"#),
    ];
    let (got, r) = poll3(addr, Some(&sid), false).await;
    assert_eq!(got, want);
    // Text records count UTF-8 bytes here.
    assert_eq!(r.body, encode_v3_binary(&want));

    // A text-only answer is binary too (socket.io-client 1.x browser builds
    // read text responses as raw bytes), and text POSTs are accepted.
    let body = encode_v3_text(&[t(r#"422["echo","ö 😀"]"#)]);
    post(addr, &p, "text/plain;charset=UTF-8", body.as_bytes()).await;
    let (got, r) = poll3(addr, Some(&sid), false).await;
    assert_eq!(got, vec![t(r#"432["ö 😀"]"#)]);
    assert_eq!(r.body, encode_v3_binary(&[t(r#"432["ö 😀"]"#)]));
}

#[tokio::test]
async fn v3_websocket_implicit_connect_ping_and_binary_frames() {
    let addr = server(RELAXED).await;
    let (mut ws, _sid) = open_ws3(addr, RELAXED).await;
    ws_send(&mut ws, "2").await;
    assert_eq!(ws_recv(&mut ws, false).await, "3");
    ws_send(&mut ws, &format!(r#"451-["echo-emit",{PH0}]"#)).await;
    ws_send_bin(&mut ws, &[4, 1, 2, 3]).await;
    assert_eq!(
        ws_recv(&mut ws, false).await,
        format!(r#"451-["echo-back",{PH0}]"#)
    );
    assert_eq!(ws_recv(&mut ws, false).await, "<bin:04010203>");
    // Text still works after binary.
    ws_send(&mut ws, r#"423["echo","é😀"]"#).await;
    assert_eq!(ws_recv(&mut ws, false).await, r#"433["é😀"]"#);
}

#[tokio::test]
async fn v3_namespaces_ids_refusals_and_unknown() {
    let addr = server(RELAXED).await;
    let (mut ws, sid) = open_ws3(addr, RELAXED).await;

    ws_send(&mut ws, "40/chat,").await;
    assert_eq!(ws_recv(&mut ws, false).await, "40/chat,");
    assert_eq!(
        ws_recv(&mut ws, false).await,
        welcome("/chat", &format!("/chat#{sid}"))
    );

    for refused in ["40/private,", "40/private?token=wrong,"] {
        ws_send(&mut ws, refused).await;
        assert_eq!(
            ws_recv(&mut ws, false).await,
            r#"44/private,"invalid token""#,
            "after {refused}"
        );
    }
    ws_send(&mut ws, "40/private?token=secret,").await;
    assert_eq!(ws_recv(&mut ws, false).await, "40/private,");
    assert_eq!(
        ws_recv(&mut ws, false).await,
        welcome("/private", &format!("/private#{sid}"))
    );

    ws_send(&mut ws, "40/x,").await;
    assert_eq!(ws_recv(&mut ws, false).await, r#"44/x,"Invalid namespace""#);

    // The connection and the other namespaces stay usable.
    for (nsp, prefix) in [("/", ""), ("/chat", "/chat,"), ("/private", "/private,")] {
        ws_send(&mut ws, &format!(r#"42{prefix}5["echo","{nsp}"]"#)).await;
        assert_eq!(
            ws_recv(&mut ws, false).await,
            format!(r#"43{prefix}5["{nsp}"]"#)
        );
    }
}

#[tokio::test]
async fn v3_polling_namespace_connect_with_query() {
    let addr = server(RELAXED).await;
    let sid = open_polling(addr, true, RELAXED).await;
    let p = path3(Some(&sid), true);
    let body = encode_v3_text(&[t("40/private?token=secret,"), t("40/x,"), t("40/chat,")]);
    post(addr, &p, "text/plain;charset=UTF-8", body.as_bytes()).await;
    let got = collect3(addr, &sid, true, 5).await;
    assert_eq!(
        got,
        vec![
            t("40/private,"),
            P3::Text(welcome("/private", &format!("/private#{sid}"))),
            t(r#"44/x,"Invalid namespace""#),
            t("40/chat,"),
            P3::Text(welcome("/chat", &format!("/chat#{sid}"))),
        ]
    );
}

#[tokio::test]
async fn v3_disconnect_me_sends_41_and_a_new_session_gets_a_new_sid() {
    let addr = server(RELAXED).await;
    let (mut ws, sid) = open_ws3(addr, RELAXED).await;
    ws_send(&mut ws, "40/chat,").await;
    assert_eq!(ws_recv(&mut ws, false).await, "40/chat,");
    ws_recv(&mut ws, false).await;
    ws_send(&mut ws, r#"42/chat,["disconnect-me"]"#).await;
    assert_eq!(ws_recv(&mut ws, false).await, "41/chat,");
    // `/` is unaffected.
    ws_send(&mut ws, r#"421["echo",1]"#).await;
    assert_eq!(ws_recv(&mut ws, false).await, "431[1]");
    ws_send(&mut ws, r#"42["disconnect-me"]"#).await;
    assert_eq!(ws_recv(&mut ws, false).await, "41");

    // connect() again: a new Engine.IO session, new sid, `40` and welcome.
    let (_ws2, sid2) = open_ws3(addr, RELAXED).await;
    assert_ne!(sid, sid2);
}

#[tokio::test]
async fn v3_binary_event_and_binary_ack_from_the_client_to_request_ack() {
    let addr = server(RELAXED).await;
    let (mut ws, _) = open_ws3(addr, RELAXED).await;
    ws_send(&mut ws, &format!(r#"451-4["request-ack","q",{PH0}]"#)).await;
    ws_send_bin(&mut ws, &[4, 0xaa]).await;
    // The server's request, with its own ack id.
    let req = ws_recv(&mut ws, false).await;
    let rest = req
        .strip_prefix("451-")
        .unwrap_or_else(|| panic!("binary event with an ack id: {req}"));
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    assert!(!digits.is_empty(), "{req}");
    assert_eq!(
        &rest[digits.len()..],
        format!(r#"["ack-request","q",{PH0}]"#)
    );
    assert_eq!(ws_recv(&mut ws, false).await, "<bin:04aa>");
    // The client acknowledges with binary.
    ws_send(
        &mut ws,
        &format!(r#"462-{digits}[{PH0},"ok",{{"_placeholder":true,"num":1}}]"#),
    )
    .await;
    ws_send_bin(&mut ws, &[4, 0xde, 0xad]).await;
    ws_send_bin(&mut ws, &[4]).await;
    assert_eq!(
        ws_recv(&mut ws, false).await,
        format!(r#"462-4[{PH0},"ok",{{"_placeholder":true,"num":1}}]"#)
    );
    assert_eq!(ws_recv(&mut ws, false).await, "<bin:04dead>");
    assert_eq!(ws_recv(&mut ws, false).await, "<bin:04>");
}

#[tokio::test]
async fn to_room_reaches_v3_and_v4_members_each_in_its_own_framing() {
    let addr = server(RELAXED).await;
    let (mut a, _) = open_ws3(addr, RELAXED).await;
    let mut b = ws_connect(addr, "EIO=4&transport=websocket").await;
    assert!(ws_recv(&mut b, true).await.starts_with("0{"));
    ws_send(&mut b, "40").await;
    assert!(ws_recv(&mut b, true).await.starts_with(r#"40{"sid":""#));
    assert!(ws_recv(&mut b, true).await.starts_with(r#"42["welcome","#));
    // A v3 polling member too.
    let c = open_polling(addr, true, RELAXED).await;
    let pc = path3(Some(&c), true);

    ws_send(&mut a, r#"421["join","r"]"#).await;
    assert_eq!(ws_recv(&mut a, false).await, r#"431["r"]"#);
    ws_send(&mut b, r#"421["join","r"]"#).await;
    assert_eq!(ws_recv(&mut b, true).await, r#"431["r"]"#);
    post(
        addr,
        &pc,
        "text/plain",
        encode_v3_text(&[t(r#"421["join","r"]"#)]).as_bytes(),
    )
    .await;
    assert_eq!(poll3(addr, Some(&c), true).await.0, vec![t(r#"431["r"]"#)]);

    ws_send(&mut a, &format!(r#"451-2["to-room","r","news","é",{PH0}]"#)).await;
    ws_send_bin(&mut a, &[4, 9, 8]).await;
    let ev = format!(r#"451-["news","é",{PH0}]"#);
    assert_eq!(ws_recv(&mut a, false).await, ev);
    assert_eq!(ws_recv(&mut a, false).await, "<bin:040908>");
    assert_eq!(ws_recv(&mut a, false).await, "432[]");
    assert_eq!(ws_recv(&mut b, true).await, ev);
    assert_eq!(ws_recv(&mut b, true).await, "<bin:0908>");
    let ev_ascii = format!(r#"451-["news","\u00e9",{PH0}]"#);
    assert_eq!(
        collect3(addr, &c, true, 2).await,
        vec![P3::Text(ev_ascii), P3::Bin(vec![9, 8])]
    );

    // And text from the v4 member reaches the v3 ones.
    ws_send(&mut b, r#"423["to-room","r","plain","😀"]"#).await;
    assert_eq!(ws_recv(&mut b, true).await, r#"42["plain","😀"]"#);
    assert_eq!(ws_recv(&mut b, true).await, "433[]");
    assert_eq!(ws_recv(&mut a, false).await, r#"42["plain","😀"]"#);
    assert_eq!(
        collect3(addr, &c, true, 1).await,
        vec![t(r#"42["plain","\ud83d\ude00"]"#)]
    );
}

#[tokio::test]
async fn v3_session_gets_no_server_ping_and_closes_without_client_pings() {
    let addr = server(INTEROP).await;
    let (mut ws, _) = open_ws3(addr, INTEROP).await;
    let started = Instant::now();
    ws_send(&mut ws, "2").await;
    assert_eq!(ws_recv(&mut ws, false).await, "3");
    // Then silence from the client: no `2` from the server, and the session
    // ends after pingInterval + pingTimeout (3 s).
    let closed = tokio::time::timeout(Duration::from_secs(15), ws_next(&mut ws, false))
        .await
        .expect("closed within 15 s");
    assert_eq!(closed, None, "no frame before the close");
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "closed too early: {:?}",
        started.elapsed()
    );
}
