//! Test harness: an engine served on 127.0.0.1:0, a raw HTTP/1.1 client and
//! a WebSocket client.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use sockio_engine::{
    DisconnectReason, Engine, EngineConfig, EngineConfigBuilder, EngineHandler, Message, Socket,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;
use tower_service::Service;

/// Echo handler that records what happens.
///
/// Text commands: `burst N` (N messages), `close-me`, `group` (send_many),
/// `pause` (pause_reading), `plain X` (X sent with compress false). Every message also records the `x-req` header of
/// the session's current request in `current`.
#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<String>>,
    pub closes: Mutex<Vec<DisconnectReason>>,
    pub current: Mutex<Vec<Option<String>>>,
}

impl Recorder {
    /// The messages received so far, as `message ...` events.
    pub fn messages(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.starts_with("message "))
            .cloned()
            .collect()
    }
}

impl EngineHandler for Recorder {
    type Data = ();
    fn on_open(&self, s: &Arc<Socket<()>>) {
        self.events.lock().unwrap().push(format!("open {}", s.id()));
    }
    fn on_message(&self, s: &Arc<Socket<()>>, msg: Message) {
        self.events.lock().unwrap().push(format!("message {msg:?}"));
        let current = s
            .current_request()
            .headers
            .get("x-req")
            .map(|v| v.to_str().unwrap().to_owned());
        self.current.lock().unwrap().push(current);
        match msg.as_text() {
            Some("pause") => s.pause_reading(),
            Some(t) if t.starts_with("burst ") => {
                let n: usize = t[6..].parse().unwrap();
                for i in 0..n {
                    if s.send(Message::text(format!("m{i}"))) == Err(sockio_engine::SendError::Full)
                    {
                        s.close(DisconnectReason::SlowConsumer);
                        break;
                    }
                }
            }
            Some("close-me") => s.close(DisconnectReason::ServerClose),
            Some(t) if t.starts_with("plain ") => {
                let _ = s.send(Message::text(&t[6..]).with_compress(false));
            }
            Some("group") => {
                let _ = s.send_many(vec![Message::text("a"), Message::binary(vec![1u8])]);
            }
            _ => {
                let _ = s.send(msg);
            }
        }
    }
    fn on_close(&self, _: &Arc<Socket<()>>, reason: DisconnectReason) {
        self.events
            .lock()
            .unwrap()
            .push(format!("close {reason:?}"));
        self.closes.lock().unwrap().push(reason);
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub engine: Arc<Engine<Recorder>>,
}

impl Server {
    pub fn closes(&self) -> Vec<DisconnectReason> {
        self.engine.handler().closes.lock().unwrap().clone()
    }
    /// Waits (up to 3 s) until `n` sessions have closed.
    pub async fn wait_closes(&self, n: usize) -> Vec<DisconnectReason> {
        for _ in 0..300 {
            let c = self.closes();
            if c.len() >= n {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.closes()
    }
}

/// Waits (up to 5 s) until the session's current request carries header
/// `name: value`: the engine has taken that request in hand.
pub async fn wait_current_request(server: &Server, sid: &str, name: &str, value: &str) {
    let sid = sockio_engine::Sid::parse(sid).unwrap();
    for _ in 0..500 {
        if let Some(socket) = server.engine.get(sid) {
            if socket
                .current_request()
                .headers
                .get(name)
                .is_some_and(|v| v == value)
            {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the request with {name}: {value} never reached session {sid}");
}

/// Waits (up to `limit`) until `cond` holds, checking every 10 ms.
pub async fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The conformance settings: 300/200 ms, maxPayload 1e6.
pub fn conformance() -> EngineConfigBuilder {
    EngineConfig::builder()
        .ping_interval(Duration::from_millis(300))
        .ping_timeout(Duration::from_millis(200))
        .max_payload(1_000_000)
}

pub async fn start(builder: EngineConfigBuilder) -> Server {
    start_tuned(builder, |s| s).await
}

/// As [`start`], with the HTTP server's settings changed by `tune`.
pub async fn start_tuned(
    builder: EngineConfigBuilder,
    tune: impl FnOnce(sockio_engine::Server) -> sockio_engine::Server,
) -> Server {
    let engine = Engine::new(builder.build().unwrap(), Recorder::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = engine.service();
    // The engine's own HTTP server (peer address in the extensions), never
    // shut down: the test's runtime ends it.
    let server = tune(sockio_engine::Server::new().listener(listener))
        .shutdown_signal(std::future::pending());
    tokio::spawn(server.run(service, || async {}));
    Server { addr, engine }
}

/// A hand-written accept loop (hyper directly), as a user without
/// [`sockio_engine::Server`] would write it.
pub async fn start_with_hyper(builder: EngineConfigBuilder) -> Server {
    let engine = Engine::new(builder.build().unwrap(), Recorder::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = engine.service();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert::<SocketAddr>(peer);
                    let mut s = service.clone();
                    async move { Ok::<_, Infallible>(s.call(req).await.unwrap_or_else(|e| match e {})) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Server { addr, engine }
}

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
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

pub fn parse_response(raw: &[u8]) -> Resp {
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
    let mut body = raw[split + 4..].to_vec();
    if let Some((_, len)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        body.truncate(len.parse().unwrap());
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// One HTTP/1.1 request on a new connection (`Connection: close`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
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
    let _ = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut raw))
        .await
        .expect("response within 10 s");
    parse_response(&raw)
}

pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    http(addr, "GET", path, &[], b"").await
}

pub async fn post(addr: SocketAddr, path: &str, body: &[u8]) -> Resp {
    http(
        addr,
        "POST",
        path,
        &[("Content-Type", "text/plain;charset=UTF-8")],
        body,
    )
    .await
}

/// Polling handshake; returns the sid.
pub async fn handshake(addr: SocketAddr) -> String {
    let r = get(addr, "/engine.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status, 200, "{}", r.text());
    sid_of(&r.text())
}

pub fn sid_of(open: &str) -> String {
    let i = open.find("\"sid\":\"").unwrap() + 7;
    open[i..i + 20].to_owned()
}

pub fn poll_path(sid: &str) -> String {
    format!("/engine.io/?EIO=4&transport=polling&sid={sid}")
}

pub type Ws = WebSocketStream<TcpStream>;

pub async fn ws_connect(addr: SocketAddr, query: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let url = format!("ws://{addr}/engine.io/?{query}");
    let (ws, resp) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

/// Next data frame (text or binary), skipping control frames; None when closed.
pub async fn ws_next(ws: &mut Ws) -> Option<WsMessage> {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("frame within 5 s");
        match m {
            Some(Ok(WsMessage::Ping(_))) | Some(Ok(WsMessage::Pong(_))) => continue,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(m)) => return Some(m),
        }
    }
}

pub async fn ws_text(ws: &mut Ws) -> String {
    match ws_next(ws).await {
        Some(WsMessage::Text(t)) => t.as_str().to_owned(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Next text frame other than the server's heartbeat pings, which are
/// answered (for exchanges that may outlast a ping interval).
pub async fn ws_text_ponging(ws: &mut Ws) -> String {
    loop {
        let t = ws_text(ws).await;
        if t != "2" {
            return t;
        }
        ws_send(ws, "3").await;
    }
}

pub async fn ws_send(ws: &mut Ws, text: &str) {
    ws.send(WsMessage::Text(text.into())).await.unwrap();
}

/// The open packet we expect, for a sid.
pub fn open_packet(sid: &str, upgrades: &str) -> String {
    format!(
        "0{{\"sid\":\"{sid}\",\"upgrades\":{upgrades},\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000000}}"
    )
}
