//! The msgpack parser (socket.io-msgpack-parser 3.x, notepack.io) on the
//! interop server with `Parser::MsgPack`, from a raw WebSocket client
//! (`LEGACY-SERVER.md` §2). Client packets are encoded with
//! `sockio::protocol::encode_msgpack` or written out by hand (as notepack
//! writes them); server packets are read as plain msgpack values (any key
//! order) and checked key by key.

mod common;

use std::net::SocketAddr;

use common::*;
use rmpv::Value as Raw;
use sockio::protocol::{decode_msgpack, encode_msgpack, Limits, Packet, PacketKind, Value};
use sockio::Parser;
use tokio_tungstenite::tungstenite::Message;

/// The same value as sockio's type, to build the packets the client sends
/// (expectations are plain msgpack values, read by rmpv: an independent decoder).
fn sv(r: &Raw) -> Value {
    match r {
        Raw::Nil | Raw::Ext(..) => Value::Null,
        Raw::Boolean(b) => Value::Bool(*b),
        Raw::Integer(i) => match i.as_u64() {
            Some(u) => Value::from(u),
            None => Value::from(i.as_i64().unwrap()),
        },
        Raw::F32(f) => Value::from(*f),
        Raw::F64(f) => Value::from(*f),
        Raw::String(s) => Value::from(s.as_str().unwrap()),
        Raw::Binary(b) => Value::Binary(bytes::Bytes::copy_from_slice(b)),
        Raw::Array(a) => Value::Array(a.iter().map(sv).collect()),
        Raw::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), sv(v)))
                .collect(),
        ),
    }
}

fn svs(v: &[Raw]) -> Vec<Value> {
    v.iter().map(sv).collect()
}

async fn server() -> SocketAddr {
    start(Parser::MsgPack, false, INTEROP).await
}

fn s(x: &str) -> Raw {
    Raw::from(x)
}

fn map(pairs: Vec<(&str, Raw)>) -> Raw {
    Raw::Map(pairs.into_iter().map(|(k, v)| (s(k), v)).collect())
}

/// Maps with their keys sorted (recursively), so that key order is free.
fn norm(v: &Raw) -> Raw {
    match v {
        Raw::Map(m) => {
            let mut m: Vec<(Raw, Raw)> = m.iter().map(|(k, v)| (norm(k), norm(v))).collect();
            m.sort_by_key(|(k, _)| format!("{k:?}"));
            Raw::Map(m)
        }
        Raw::Array(a) => Raw::Array(a.iter().map(norm).collect()),
        other => other.clone(),
    }
}

/// Reads a whole msgpack frame as one value; trailing bytes are an error.
fn read_value(frame: &[u8]) -> Raw {
    let mut rd = frame;
    let v = rmpv::decode::read_value(&mut rd).expect("one msgpack value");
    assert!(rd.is_empty(), "trailing bytes after the map: {}", hex(rd));
    v
}

async fn open(addr: SocketAddr) -> Ws {
    let mut ws = ws_connect(addr, "EIO=4&transport=websocket").await;
    let open = ws_recv(&mut ws, true).await;
    assert!(open.starts_with("0{\"sid\":"), "{open}");
    ws
}

/// Next binary frame (answering pings); a text frame is an error.
async fn recv(ws: &mut Ws) -> Vec<u8> {
    match ws_next(ws, true).await {
        Some(Message::Binary(b)) => b.to_vec(),
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// Next packet as a msgpack value; checks the sockio decoder agrees.
async fn recv_value(ws: &mut Ws) -> Raw {
    let frame = recv(ws).await;
    decode_msgpack(&frame, &Limits::default()).expect("sockio decodes what it sent");
    read_value(&frame)
}

async fn send(ws: &mut Ws, p: &Packet) {
    ws_send_bin(ws, &encode_msgpack(p)).await;
}

/// The CONNECT reply `{type:0, nsp, data:{sid}}` (nothing else); returns the sid.
fn connect_reply(v: &Raw, nsp: &str) -> String {
    let Raw::Map(m) = v else { panic!("{v}") };
    assert_eq!(m.len(), 3, "type, nsp and data only (no id): {v}");
    assert_eq!(v["type"], Raw::from(0));
    assert_eq!(v["nsp"], s(nsp));
    let Raw::Map(d) = &v["data"] else {
        panic!("data is a map: {v}")
    };
    assert_eq!(d.len(), 1, "{v}");
    let sid = v["data"]["sid"]
        .as_str()
        .expect("sid is a string")
        .to_owned();
    assert_eq!(sid.len(), 20);
    sid
}

fn welcome(nsp: &str, sid: &str) -> Raw {
    map(vec![
        ("type", Raw::from(2)),
        ("nsp", s(nsp)),
        (
            "data",
            Raw::Array(vec![
                s("welcome"),
                map(vec![("sid", s(sid)), ("namespace", s(nsp))]),
            ]),
        ),
    ])
}

async fn connect(ws: &mut Ws, nsp: &str, auth: Option<Raw>) -> String {
    send(ws, &Packet::connect(nsp, auth.as_ref().map(sv))).await;
    let sid = connect_reply(&recv_value(ws).await, nsp);
    assert_eq!(norm(&recv_value(ws).await), norm(&welcome(nsp, &sid)));
    sid
}

#[tokio::test]
async fn msgpack_connect_with_auth_map_and_reply_with_the_sid() {
    let addr = server().await;
    let mut ws = open(addr).await;
    // As notepack writes it: {type:0, data:{token:"secret"}, nsp:"/private"}.
    let mut hand = vec![0x83, 0xa4];
    hand.extend_from_slice(b"type");
    hand.extend_from_slice(&[0x00, 0xa4]);
    hand.extend_from_slice(b"data");
    hand.extend_from_slice(&[0x81, 0xa5]);
    hand.extend_from_slice(b"token");
    hand.push(0xa6);
    hand.extend_from_slice(b"secret");
    hand.push(0xa3);
    hand.extend_from_slice(b"nsp");
    hand.push(0xa8);
    hand.extend_from_slice(b"/private");
    ws_send_bin(&mut ws, &hand).await;
    let reply = recv_value(&mut ws).await;
    let sid = connect_reply(&reply, "/private");
    assert_eq!(
        norm(&recv_value(&mut ws).await),
        norm(&welcome("/private", &sid))
    );
    // `/` with an auth map, `/chat` without auth: each its own socket id.
    let root = connect(&mut ws, "/", Some(map(vec![("token", s("x"))]))).await;
    let chat = connect(&mut ws, "/chat", None).await;
    assert!(root != chat && root != sid && chat != sid);
}

#[tokio::test]
async fn msgpack_events_with_nested_binaries_and_acks() {
    let addr = server().await;
    let mut ws = open(addr).await;
    connect(&mut ws, "/", None).await;
    let args = vec![
        map(vec![(
            "a",
            Raw::Array(vec![
                Raw::Binary(vec![1, 2]),
                map(vec![("b", Raw::Binary(vec![0xff; 3]))]),
            ]),
        )]),
        Raw::Binary(vec![]),
        Raw::F64(1.5),
        Raw::from(300),
        Raw::from(-1),
        s("é😀"),
        Raw::Nil,
        Raw::Boolean(true),
    ];
    // An ack is written with its id.
    send(&mut ws, &Packet::event("/", "echo", svs(&args), Some(5))).await;
    let frame = recv(&mut ws).await;
    let v = read_value(&frame);
    assert_eq!(
        norm(&v),
        norm(&map(vec![
            ("type", Raw::from(3)),
            ("nsp", s("/")),
            ("id", Raw::from(5)),
            ("data", Raw::Array(args.clone())),
        ]))
    );
    // Binaries are msgpack bin, inline; 300 in its smallest form, 1.5 as float64.
    let bytes = hex(&frame);
    assert!(bytes.contains("c40201"), "bin 8 of [1,2]: {bytes}");
    assert!(bytes.contains("cd012c"), "300 as uint16: {bytes}");
    assert!(
        bytes.contains("cb3ff8000000000000"),
        "1.5 as float64: {bytes}"
    );

    // An event without an ack id: `id` is omitted, not nil.
    send(&mut ws, &Packet::event("/", "echo-emit", svs(&args), None)).await;
    let v = recv_value(&mut ws).await;
    let Raw::Map(m) = &v else { panic!() };
    assert!(m.iter().all(|(k, _)| k.as_str() != Some("id")), "{v}");
    let mut data = vec![s("echo-back")];
    data.extend(args);
    assert_eq!(
        norm(&v),
        norm(&map(vec![
            ("type", Raw::from(2)),
            ("nsp", s("/")),
            ("data", Raw::Array(data)),
        ]))
    );

    // No arguments: acknowledged with none.
    send(&mut ws, &Packet::event("/", "echo", vec![], Some(6))).await;
    let v = recv_value(&mut ws).await;
    assert_eq!(
        norm(&v),
        norm(&map(vec![
            ("type", Raw::from(3)),
            ("nsp", s("/")),
            ("id", Raw::from(6)),
            ("data", Raw::Array(vec![])),
        ]))
    );
}

#[tokio::test]
async fn msgpack_client_ack_to_request_ack_with_binary() {
    let addr = server().await;
    let mut ws = open(addr).await;
    connect(&mut ws, "/chat", None).await;
    send(
        &mut ws,
        &Packet::event("/chat", "request-ack", vec![Value::from("q")], Some(1)),
    )
    .await;
    let req = recv_value(&mut ws).await;
    assert_eq!(req["type"], Raw::from(2));
    assert_eq!(req["nsp"], s("/chat"));
    assert_eq!(req["data"], Raw::Array(vec![s("ack-request"), s("q")]));
    let id = req["id"].as_u64().expect("the server's request has an id");
    let answer = vec![map(vec![("bin", Raw::Binary(vec![7, 8]))]), s("ok")];
    send(&mut ws, &Packet::ack("/chat", svs(&answer), id)).await;
    let v = recv_value(&mut ws).await;
    assert_eq!(
        norm(&v),
        norm(&map(vec![
            ("type", Raw::from(3)),
            ("nsp", s("/chat")),
            ("id", Raw::from(1)),
            ("data", Raw::Array(answer)),
        ]))
    );
}

#[tokio::test]
async fn msgpack_refusals_private_and_unknown_namespace() {
    let addr = server().await;
    let mut ws = open(addr).await;
    let refused = map(vec![
        ("type", Raw::from(4)),
        ("nsp", s("/private")),
        ("data", map(vec![("message", s("invalid token"))])),
    ]);
    for auth in [None, Some(map(vec![("token", s("wrong"))]))] {
        send(&mut ws, &Packet::connect("/private", auth.as_ref().map(sv))).await;
        assert_eq!(
            norm(&recv_value(&mut ws).await),
            norm(&refused),
            "auth {auth:?}"
        );
    }
    send(&mut ws, &Packet::connect("/x", None)).await;
    assert_eq!(
        norm(&recv_value(&mut ws).await),
        norm(&map(vec![
            ("type", Raw::from(4)),
            ("nsp", s("/x")),
            ("data", map(vec![("message", s("Invalid namespace"))])),
        ]))
    );
    // The connection stays usable.
    connect(&mut ws, "/private", Some(map(vec![("token", s("secret"))]))).await;
    connect(&mut ws, "/", None).await;
}

#[tokio::test]
async fn msgpack_notepack_undefined_argument_keeps_the_connection() {
    let addr = server().await;
    let mut ws = open(addr).await;
    connect(&mut ws, "/", None).await;
    // {type:2, data:["echo", undefined], nsp:"/", id:1}, undefined = d4 00 00.
    let mut hand = vec![0x84, 0xa4];
    hand.extend_from_slice(b"type");
    hand.extend_from_slice(&[0x02, 0xa4]);
    hand.extend_from_slice(b"data");
    hand.extend_from_slice(&[0x92, 0xa4]);
    hand.extend_from_slice(b"echo");
    hand.extend_from_slice(&[0xd4, 0x00, 0x00, 0xa3]);
    hand.extend_from_slice(b"nsp");
    hand.extend_from_slice(&[0xa1, b'/', 0xa2]);
    hand.extend_from_slice(b"id");
    hand.push(0x01);
    ws_send_bin(&mut ws, &hand).await;
    let v = recv_value(&mut ws).await;
    assert_eq!(v["type"], Raw::from(3));
    assert_eq!(v["id"], Raw::from(1));
    let Raw::Array(data) = &v["data"] else {
        panic!("{v}")
    };
    assert_eq!(data.len(), 1, "{v}");
    assert!(
        data[0] == Raw::Nil || data[0] == Raw::Ext(0, vec![0]),
        "undefined or null back: {v}"
    );
    // Still connected.
    send(
        &mut ws,
        &Packet::event("/", "echo", vec![Value::from("after")], Some(2)),
    )
    .await;
    let v = recv_value(&mut ws).await;
    assert_eq!(v["data"], Raw::Array(vec![s("after")]));
}

#[tokio::test]
async fn msgpack_nsp_key_is_always_present_and_types_stay_0_to_4() {
    let addr = server().await;
    let mut ws = open(addr).await;
    send(&mut ws, &Packet::connect("/", None)).await;
    let frame = recv(&mut ws).await;
    let p = decode_msgpack(&frame, &Limits::default()).unwrap();
    assert_eq!(p.kind, PacketKind::Connect);
    let v = read_value(&frame);
    assert_eq!(v["nsp"], s("/"));
    recv(&mut ws).await;
    // A binary event comes back as type 2 with inline bin, never 5.
    send(
        &mut ws,
        &Packet::event("/", "echo-emit", vec![sv(&Raw::Binary(vec![1]))], None),
    )
    .await;
    let v = recv_value(&mut ws).await;
    assert_eq!(v["type"], Raw::from(2));
    assert_eq!(v["nsp"], s("/"));
    // disconnect-me: a DISCONNECT without data.
    send(&mut ws, &Packet::event("/", "disconnect-me", vec![], None)).await;
    let v = recv_value(&mut ws).await;
    assert_eq!(
        norm(&v),
        norm(&map(vec![("type", Raw::from(1)), ("nsp", s("/"))]))
    );
}

#[tokio::test]
async fn msgpack_text_frame_closes_the_connection() {
    let addr = server().await;
    let mut ws = open(addr).await;
    connect(&mut ws, "/", None).await;
    ws_send(&mut ws, r#"42["echo",1]"#).await;
    assert!(
        ws_closes(&mut ws).await,
        "a text frame must end the session"
    );
}

#[tokio::test]
async fn msgpack_over_polling_is_b_base64_records() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let addr = server().await;
    let r = get(addr, "/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 200);
    let sid = sid_of(&r.text());
    let p = format!("/socket.io/?EIO=4&transport=polling&sid={sid}");
    let connect = format!(
        "b{}",
        b64.encode(encode_msgpack(&Packet::connect("/", None)))
    );
    let event = format!(
        "b{}",
        b64.encode(encode_msgpack(&Packet::event(
            "/",
            "echo",
            vec![sv(&Raw::Binary(vec![0, 1])), Value::from("é")],
            Some(3)
        )))
    );
    post(
        addr,
        &p,
        "text/plain;charset=UTF-8",
        format!("{connect}\x1e{event}").as_bytes(),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        if got.len() >= 3 {
            break;
        }
        let r = get(addr, &p).await;
        for rec in r.text().split('\x1e') {
            if rec == "2" {
                continue; // a heartbeat on a loaded machine
            }
            let data = rec
                .strip_prefix('b')
                .unwrap_or_else(|| panic!("a binary record: {rec:?}"));
            got.push(read_value(&b64.decode(data).unwrap()));
        }
    }
    assert_eq!(got.len(), 3, "{got:?}");
    let sid = connect_reply(&got[0], "/");
    assert_eq!(norm(&got[1]), norm(&welcome("/", &sid)));
    assert_eq!(
        norm(&got[2]),
        norm(&map(vec![
            ("type", Raw::from(3)),
            ("nsp", s("/")),
            ("id", Raw::from(3)),
            ("data", Raw::Array(vec![Raw::Binary(vec![0, 1]), s("é")])),
        ]))
    );
}

#[tokio::test]
async fn msgpack_non_object_auth_is_refused_by_the_namespace_rules() {
    let addr = server().await;
    let mut ws = open(addr).await;
    let refused = map(vec![
        ("type", Raw::from(4)),
        ("nsp", s("/private")),
        ("data", map(vec![("message", s("invalid token"))])),
    ]);
    for auth in [s("secret"), Raw::Array(vec![s("secret")]), Raw::from(5)] {
        send(&mut ws, &Packet::connect("/private", Some(sv(&auth)))).await;
        assert_eq!(
            norm(&recv_value(&mut ws).await),
            norm(&refused),
            "auth {auth}"
        );
    }
    // The connection stays usable.
    connect(&mut ws, "/private", Some(map(vec![("token", s("secret"))]))).await;
}
