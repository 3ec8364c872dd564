//! Shared by the raw-client tests: the interop example server built in
//! process (`examples/interop.rs`), a raw HTTP/1.1 client, a raw WebSocket
//! client, and the Engine.IO v3 payload formats written out by hand.
#![allow(dead_code)]

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockio::{Parser, SocketIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

#[path = "../../examples/shared/contracts.rs"]
mod contracts;

/// Bound on every network wait (machines are loaded).
pub const WAIT: Duration = Duration::from_secs(10);

/// Heartbeat settings of a test server.
#[derive(Clone, Copy)]
pub struct Timing {
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
}

/// The interop example's settings (pingInterval 1000, pingTimeout 2000).
pub const INTEROP: Timing = Timing {
    ping_interval: Duration::from_millis(1000),
    ping_timeout: Duration::from_millis(2000),
};

/// pingInterval 1000 as in the example, but a long pingTimeout so that a v3
/// session (which the server only keeps alive on client pings) outlives a
/// slow test on a loaded machine without the test pinging.
pub const RELAXED: Timing = Timing {
    ping_interval: Duration::from_millis(1000),
    ping_timeout: Duration::from_millis(30_000),
};

/// The interop example server (same options and handlers), for `parser`.
pub fn interop_server(parser: Parser, eio3: bool, timing: Timing) -> SocketIo {
    let io = SocketIo::builder()
        .ping_interval(timing.ping_interval)
        .ping_timeout(timing.ping_timeout)
        .max_payload(2_000_000)
        .allow_eio3(eio3)
        .parser(parser)
        .cors_allowed_origins(["*"])
        .build()
        .unwrap();
    contracts::interop_handlers(&io);
    io
}

/// The interop contract's handlers on `io` (`/`, `/chat`, `/private`).
pub fn contracts_interop(io: &SocketIo) {
    contracts::interop_handlers(io);
}

/// Serves the interop server on 127.0.0.1:0; returns its address.
pub async fn start(parser: Parser, eio3: bool, timing: Timing) -> SocketAddr {
    serve(interop_server(parser, eio3, timing)).await
}

/// Serves `io` on 127.0.0.1:0; returns its address.
pub async fn serve(io: SocketIo) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sockio::serve_listener(io, listener).into_future());
    addr
}

// ---------------------------------------------------------------- HTTP

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

fn parse_response(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)
    } else if let Some((_, len)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        let n: usize = len.parse().unwrap();
        assert!(rest.len() >= n, "body shorter than Content-Length");
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size_str = std::str::from_utf8(&b[..eol]).unwrap();
        let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// One HTTP/1.1 request on a new connection (`Connection: close`), bounded
/// by [`WAIT`].
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    tokio::time::timeout(WAIT, async {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let mut req =
            format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        tcp.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.unwrap();
        parse_response(&raw)
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path}: no response within {WAIT:?}"))
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    http(addr, "GET", path, &[], b"").await
}

pub async fn post(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) -> Resp {
    let r = http(addr, "POST", path, &[("Content-Type", content_type)], body).await;
    assert_eq!(
        (r.status, String::from_utf8_lossy(&r.body).as_ref()),
        (200, "ok"),
        "POST {path}"
    );
    r
}

/// The sid of an open packet `0{"sid":"…",…}`.
pub fn sid_of(open: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    v["sid"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------- Engine.IO v3 payloads

/// A packet of a v3 payload: text, or binary (the bytes after the `4` type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum P3 {
    Text(String),
    Bin(Vec<u8>),
}

pub fn t(s: &str) -> P3 {
    P3::Text(s.to_owned())
}

/// `<len>:<packet>` records, lengths in UTF-16 units, binary as `b4<base64>`.
pub fn encode_v3_text(packets: &[P3]) -> String {
    use base64::Engine as _;
    let mut out = String::new();
    for p in packets {
        let rec = match p {
            P3::Text(s) => s.clone(),
            P3::Bin(b) => format!("b4{}", base64::engine::general_purpose::STANDARD.encode(b)),
        };
        out.push_str(&rec.encode_utf16().count().to_string());
        out.push(':');
        out.push_str(&rec);
    }
    out
}

/// Decodes `<len>:<packet>` records (UTF-16 lengths); panics on any framing
/// error, so a payload counted in bytes fails here.
pub fn decode_v3_text(s: &str) -> Vec<P3> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (n, tail) = rest
            .split_once(':')
            .unwrap_or_else(|| panic!("no ':' in {rest:?}"));
        let n: usize = n
            .parse()
            .unwrap_or_else(|_| panic!("bad length {n:?} in {s:?}"));
        let mut units = 0;
        let mut end = 0;
        for c in tail.chars() {
            if units >= n {
                break;
            }
            units += c.len_utf16();
            end += c.len_utf8();
        }
        assert_eq!(units, n, "record length past the end or mid-char in {s:?}");
        let rec = &tail[..end];
        out.push(match rec.strip_prefix("b4") {
            Some(b64) => P3::Bin(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            ),
            None => P3::Text(rec.to_owned()),
        });
        rest = &tail[end..];
    }
    out
}

/// XHR2 binary payload: flag (0 text, 1 binary), length digits as byte
/// values, `ff`, then the packet (text as UTF-8, binary as `04` + data).
pub fn encode_v3_binary(packets: &[P3]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in packets {
        let (flag, data) = match p {
            P3::Text(s) => (0u8, s.as_bytes().to_vec()),
            P3::Bin(b) => {
                let mut d = vec![4u8];
                d.extend_from_slice(b);
                (1u8, d)
            }
        };
        out.push(flag);
        out.extend(data.len().to_string().bytes().map(|d| d - b'0'));
        out.push(0xff);
        out.extend_from_slice(&data);
    }
    out
}

pub fn decode_v3_binary(mut b: &[u8]) -> Vec<P3> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let flag = b[0];
        assert!(flag <= 1, "bad flag {flag} in {b:?}");
        let ff = b.iter().position(|&x| x == 0xff).expect("ff after digits");
        let n = b[1..ff].iter().fold(0usize, |n, &d| {
            assert!(d <= 9, "length digit {d}");
            n * 10 + d as usize
        });
        let data = &b[ff + 1..ff + 1 + n];
        out.push(if flag == 0 {
            P3::Text(String::from_utf8(data.to_vec()).expect("UTF-8 text record"))
        } else {
            assert_eq!(data[0], 4, "binary record is a message");
            P3::Bin(data[1..].to_vec())
        });
        b = &b[ff + 1 + n..];
    }
    out
}

// ---------------------------------------------------------------- WebSocket

pub type Ws = WebSocketStream<TcpStream>;

pub async fn ws_connect(addr: SocketAddr, query: &str) -> Ws {
    tokio::time::timeout(WAIT, async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let url = format!("ws://{addr}/socket.io/?{query}");
        let (ws, resp) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        assert_eq!(resp.status(), 101);
        ws
    })
    .await
    .expect("WebSocket handshake within the bound")
}

/// Next data frame, skipping control frames; None when the connection ends.
/// Engine.IO v4 pings (`2`) are answered and skipped when `pong` is set.
pub async fn ws_next(ws: &mut Ws, pong: bool) -> Option<Message> {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("frame within the bound");
        match m {
            Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(Message::Text(t))) if pong && t.as_str() == "2" => {
                ws.send(Message::text("3")).await.ok()?;
            }
            Some(Ok(m)) => return Some(m),
        }
    }
}

/// Next frame as text; binary frames as `<bin:HEX>`.
pub async fn ws_recv(ws: &mut Ws, pong: bool) -> String {
    match ws_next(ws, pong).await {
        Some(Message::Text(t)) => t.as_str().to_owned(),
        Some(Message::Binary(b)) => format!("<bin:{}>", hex(&b)),
        other => panic!("expected a data frame, got {other:?}"),
    }
}

pub async fn ws_send(ws: &mut Ws, text: &str) {
    tokio::time::timeout(WAIT, ws.send(Message::text(text.to_owned())))
        .await
        .expect("send within the bound")
        .unwrap();
}

pub async fn ws_send_bin(ws: &mut Ws, data: &[u8]) {
    tokio::time::timeout(WAIT, ws.send(Message::binary(data.to_vec())))
        .await
        .expect("send within the bound")
        .unwrap();
}

/// True when the server ends the connection within the bound (data frames
/// other than v4 pings meanwhile are an error).
pub async fn ws_closes(ws: &mut Ws) -> bool {
    tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {}
                Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => {}
                Some(Ok(m)) => panic!("unexpected frame before close: {m:?}"),
            }
        }
    })
    .await
    .unwrap_or(false)
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
