//! [`TestClient`]: an in-process Socket.IO client for unit-testing handlers.
//!
//! It talks to the real server stack (the same Engine.IO WebSocket transport,
//! the same codec) over an in-memory pipe: no port, no network. It connects to
//! namespaces with auth, headers, query and cookies, emits with and without
//! acks, receives events per namespace, and answers the server's ack requests
//! (which Flask-SocketIO's test client cannot).
//!
//! ```
//! use sockio::{Data, Socket, SocketIo, TestClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let io = SocketIo::builder().build().unwrap();
//! io.on("chat", |s: Socket, Data(text): Data<String>| async move {
//!     s.emit("chat", &format!("you said: {text}")).await
//! });
//! let client = TestClient::connect(&io).await.unwrap();
//! client.emit("chat", &"hello").await.unwrap();
//! let got = client.recv().await.unwrap();
//! assert_eq!(got.event, "chat");
//! assert_eq!(got.arg::<String>(0).unwrap(), "you said: hello");
//! # }
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::protocol::{self, Decoded, Limits, Packet, PacketKind, PartialPacket, Revision, Value};
use crate::SocketIo;

const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// What went wrong in a [`TestClient`] call.
#[derive(Debug, thiserror::Error)]
pub enum TestClientError {
    /// Nothing arrived in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// The server refused the namespace (CONNECT_ERROR); its payload.
    #[error("connection refused: {0:?}")]
    Refused(Value),
    /// The WebSocket handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(String),
    /// Data could not be serialized.
    #[error(transparent)]
    Protocol(#[from] protocol::ProtocolError),
    /// An acknowledgement did not decode into the type asked for.
    #[error("cannot decode the acknowledgement: {0}")]
    Decode(String),
}

/// An event the server sent to the client.
#[derive(Debug, Clone)]
pub struct Received {
    /// The namespace.
    pub namespace: String,
    /// The event name (`"disconnect"` with argument `"io server disconnect"`
    /// when the server disconnected the namespace).
    pub event: String,
    /// The arguments.
    pub args: Vec<Value>,
    /// The ack id when the server asked for an acknowledgement; answer with
    /// [`TestClient::ack`].
    pub ack_id: Option<u64>,
}

impl Received {
    /// Argument `i` deserialized into `T`.
    pub fn arg<T: DeserializeOwned>(&self, i: usize) -> Result<T, protocol::ProtocolError> {
        protocol::from_value(self.args.get(i).cloned().unwrap_or(Value::Null))
    }
}

#[derive(Default)]
struct Shared {
    sids: Mutex<HashMap<String, String>>,
    connects: Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>,
    acks: Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>,
    events: Mutex<HashMap<String, VecDeque<Received>>>,
    notify: Notify,
    closed: std::sync::atomic::AtomicBool,
}

/// Builder for a [`TestClient`]: headers, query, cookies, auth, namespace.
pub struct TestClientBuilder {
    io: SocketIo,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    namespace: String,
    auth: Option<Value>,
}

impl TestClientBuilder {
    /// Adds an HTTP header to the handshake request.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Adds a cookie.
    pub fn cookie(self, name: &str, value: &str) -> Self {
        self.header("cookie", &format!("{name}={value}"))
    }
    /// Adds a query parameter to the handshake URL.
    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }
    /// The namespace to connect first (default `/`).
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = crate::io::normalize_ns(ns);
        self
    }
    /// The CONNECT payload (`auth`).
    pub fn auth<T: Serialize>(mut self, auth: &T) -> Self {
        self.auth = protocol::to_value(auth).ok();
        self
    }

    /// Opens the connection and connects the namespace.
    pub async fn connect(self) -> Result<TestClient, TestClientError> {
        let (client_io, server_io) = tokio::io::duplex(1 << 20);
        let svc = self.io.service();
        tokio::spawn(async move {
            use tower::ServiceExt;
            let svc = svc.map_request(|mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
                req
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(server_io),
                    hyper_util::service::TowerToHyperService::new(svc),
                )
                .with_upgrades()
                .await;
        });
        let mut url = format!(
            "ws://localhost{}?EIO=4&transport=websocket",
            self.io.engine_config().path
        );
        for (k, v) in &self.query {
            url.push_str(&format!("&{k}={v}"));
        }
        let mut req = url
            .into_client_request()
            .map_err(|e| TestClientError::Handshake(e.to_string()))?;
        for (k, v) in &self.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| TestClientError::Handshake(e.to_string()))?;
            let value = http::HeaderValue::from_str(v)
                .map_err(|e| TestClientError::Handshake(e.to_string()))?;
            req.headers_mut().append(name, value);
        }
        let (ws, _) = tokio_tungstenite::client_async(req, client_io)
            .await
            .map_err(|e| TestClientError::Handshake(e.to_string()))?;
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<WsMessage>();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let shared = Arc::new(Shared::default());
        let (open_tx, open_rx) = oneshot::channel();
        {
            let shared = shared.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut open_tx = Some(open_tx);
                let mut partial: Option<PartialPacket> = None;
                while let Some(Ok(frame)) = stream.next().await {
                    let packet = match frame {
                        WsMessage::Text(t) => {
                            let t = t.as_str();
                            match t.as_bytes().first() {
                                Some(b'0') => {
                                    if let Some(o) = open_tx.take() {
                                        let _ = o.send(t[1..].to_string());
                                    }
                                    continue;
                                }
                                Some(b'2') => {
                                    let _ = tx.send(WsMessage::text(format!("3{}", &t[1..])));
                                    continue;
                                }
                                Some(b'4') => match protocol::decode_json(
                                    &t[1..],
                                    Revision::V5,
                                    &Limits::default(),
                                ) {
                                    Ok(Decoded::Complete(p)) => p,
                                    Ok(Decoded::NeedsAttachments(p)) => {
                                        partial = Some(p);
                                        continue;
                                    }
                                    Err(_) => break,
                                },
                                Some(b'1') => break,
                                _ => continue,
                            }
                        }
                        WsMessage::Binary(b) => match partial.as_mut().map(|p| p.push(b)) {
                            Some(Ok(Some(p))) => {
                                partial = None;
                                p
                            }
                            Some(Ok(None)) => continue,
                            _ => break,
                        },
                        WsMessage::Close(_) => break,
                        _ => continue,
                    };
                    shared.on_packet(packet);
                }
                shared.closed.store(true, Ordering::Release);
                shared.notify.notify_waiters();
                // Fail pending waits.
                shared.connects.lock().unwrap().clear();
                shared.acks.lock().unwrap().clear();
            });
        }
        let open = tokio::time::timeout(DEFAULT_WAIT, open_rx)
            .await
            .map_err(|_| TestClientError::Timeout)?
            .map_err(|_| TestClientError::Closed)?;
        let engine_sid = serde_json::from_str::<serde_json::Value>(&open)
            .ok()
            .and_then(|v| v["sid"].as_str().map(String::from))
            .unwrap_or_default();
        let client = TestClient {
            tx,
            shared,
            next_id: AtomicU64::new(0),
            namespace: self.namespace.clone(),
            engine_sid,
        };
        client.connect_namespace(&self.namespace, self.auth).await?;
        Ok(client)
    }
}

impl Shared {
    fn on_packet(&self, p: Packet) {
        match p.kind {
            PacketKind::Connect => {
                let sid = p
                    .data
                    .as_ref()
                    .and_then(|d| d.get("sid"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                self.sids.lock().unwrap().insert(p.nsp.clone(), sid);
                if let Some(tx) = self.connects.lock().unwrap().remove(&p.nsp) {
                    let _ = tx.send(Ok(p.data.unwrap_or(Value::Null)));
                }
            }
            PacketKind::ConnectError => {
                if let Some(tx) = self.connects.lock().unwrap().remove(&p.nsp) {
                    let _ = tx.send(Err(p.data.unwrap_or(Value::Null)));
                }
            }
            PacketKind::Ack => {
                if let Some(id) = p.id {
                    if let Some(tx) = self.acks.lock().unwrap().remove(&id) {
                        let args = p.into_args();
                        let _ = tx.send(args);
                    }
                }
            }
            PacketKind::Event => {
                let ack_id = p.id;
                let nsp = p.nsp.clone();
                let event = p.event_name().unwrap_or("").to_string();
                let args = p.into_args();
                self.push(Received {
                    namespace: nsp,
                    event,
                    args,
                    ack_id,
                });
            }
            PacketKind::Disconnect => {
                self.sids.lock().unwrap().remove(&p.nsp);
                self.push(Received {
                    namespace: p.nsp,
                    event: "disconnect".into(),
                    args: vec![Value::from("io server disconnect")],
                    ack_id: None,
                });
            }
        }
    }

    fn push(&self, r: Received) {
        self.events
            .lock()
            .unwrap()
            .entry(r.namespace.clone())
            .or_default()
            .push_back(r);
        self.notify.notify_waiters();
    }
}

/// An in-process Socket.IO client (see the [module docs](self)).
pub struct TestClient {
    tx: mpsc::UnboundedSender<WsMessage>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    namespace: String,
    engine_sid: String,
}

impl TestClient {
    /// Connects to namespace `/` of `io`.
    pub async fn connect(io: &SocketIo) -> Result<TestClient, TestClientError> {
        Self::builder(io).connect().await
    }

    /// A client with options.
    pub fn builder(io: &SocketIo) -> TestClientBuilder {
        TestClientBuilder {
            io: io.clone(),
            headers: Vec::new(),
            query: Vec::new(),
            namespace: "/".into(),
            auth: None,
        }
    }

    /// The socket id in the first namespace.
    pub fn id(&self) -> String {
        self.id_in(&self.namespace).unwrap_or_default()
    }

    /// The socket id in namespace `ns`, if connected.
    pub fn id_in(&self, ns: &str) -> Option<String> {
        self.shared.sids.lock().unwrap().get(ns).cloned()
    }

    /// The Engine.IO session id of the connection.
    pub fn engine_id(&self) -> &str {
        &self.engine_sid
    }

    fn send(&self, packet: &Packet) -> Result<(), TestClientError> {
        let mut buf = vec![b'4'];
        let attachments = protocol::encode_json(&mut buf, packet);
        let text = String::from_utf8(buf).expect("encoder writes UTF-8");
        self.tx
            .send(WsMessage::text(text))
            .map_err(|_| TestClientError::Closed)?;
        for a in attachments {
            self.tx
                .send(WsMessage::binary(a))
                .map_err(|_| TestClientError::Closed)?;
        }
        Ok(())
    }

    /// Connects another namespace on the same connection; its socket id, or
    /// the server's refusal ([`TestClientError::Refused`] with `{message, data}`).
    pub async fn connect_namespace(
        &self,
        ns: &str,
        auth: Option<Value>,
    ) -> Result<String, TestClientError> {
        let ns = crate::io::normalize_ns(ns);
        let (tx, rx) = oneshot::channel();
        self.shared.connects.lock().unwrap().insert(ns.clone(), tx);
        self.send(&Packet::connect(ns.as_str(), auth))?;
        match tokio::time::timeout(DEFAULT_WAIT, rx).await {
            Err(_) => Err(TestClientError::Timeout),
            Ok(Err(_)) => Err(TestClientError::Closed),
            Ok(Ok(Err(data))) => Err(TestClientError::Refused(data)),
            Ok(Ok(Ok(_))) => Ok(self.id_in(&ns).unwrap_or_default()),
        }
    }

    /// Leaves namespace `ns` (the server runs its disconnect handler).
    pub fn disconnect_namespace(&self, ns: &str) -> Result<(), TestClientError> {
        let ns = crate::io::normalize_ns(ns);
        self.shared.sids.lock().unwrap().remove(&ns);
        self.send(&Packet::disconnect(ns.as_str()))
    }

    /// Emits on the first namespace. `data` follows the server's rule: a
    /// tuple is several arguments.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), TestClientError> {
        self.emit_in(&self.namespace.clone(), event, data).await
    }

    /// Emits on namespace `ns`.
    pub async fn emit_in<T: Serialize + ?Sized>(
        &self,
        ns: &str,
        event: &str,
        data: &T,
    ) -> Result<(), TestClientError> {
        let args = protocol::to_args(data)?;
        self.send(&Packet::event(ns, event, args, None))
    }

    /// Emits on the first namespace and waits for the acknowledgement.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<Value>, TestClientError> {
        self.emit_with_ack_in(&self.namespace.clone(), event, data)
            .await
    }

    /// Emits on the first namespace and waits at most `wait` for the
    /// acknowledgement ([`TestClientError::Timeout`] when none comes: the
    /// server sends none for an event without a handler).
    pub async fn emit_with_ack_timeout<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        wait: Duration,
    ) -> Result<Vec<Value>, TestClientError> {
        let ns = self.namespace.clone();
        self.ack_request(&ns, event, data, wait).await
    }

    /// Emits on namespace `ns` and waits for the acknowledgement.
    pub async fn emit_with_ack_in<T: Serialize + ?Sized>(
        &self,
        ns: &str,
        event: &str,
        data: &T,
    ) -> Result<Vec<Value>, TestClientError> {
        self.ack_request(ns, event, data, DEFAULT_WAIT).await
    }

    async fn ack_request<T: Serialize + ?Sized>(
        &self,
        ns: &str,
        event: &str,
        data: &T,
        wait: Duration,
    ) -> Result<Vec<Value>, TestClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.shared.acks.lock().unwrap().insert(id, tx);
        let args = protocol::to_args(data)?;
        self.send(&Packet::event(ns, event, args, Some(id)))?;
        let answer = tokio::time::timeout(wait, rx).await;
        if answer.is_err() {
            self.shared.acks.lock().unwrap().remove(&id);
        }
        match answer {
            Err(_) => Err(TestClientError::Timeout),
            Ok(Err(_)) => Err(TestClientError::Closed),
            Ok(Ok(args)) => Ok(args),
        }
    }

    /// Answers the server's ack request carried by `received`.
    pub fn ack<T: Serialize + ?Sized>(
        &self,
        received: &Received,
        data: &T,
    ) -> Result<(), TestClientError> {
        let Some(id) = received.ack_id else {
            return Ok(());
        };
        let args = protocol::to_args(data)?;
        self.send(&Packet::ack(received.namespace.as_str(), args, id))
    }

    /// The next event on the first namespace (waits up to 5 s).
    pub async fn recv(&self) -> Result<Received, TestClientError> {
        self.recv_in(&self.namespace.clone()).await
    }

    /// The next event on namespace `ns` (waits up to 5 s).
    pub async fn recv_in(&self, ns: &str) -> Result<Received, TestClientError> {
        self.recv_timeout_in(ns, DEFAULT_WAIT)
            .await?
            .ok_or(TestClientError::Timeout)
    }

    /// The next event on namespace `ns` within `wait`, or `None`.
    pub async fn recv_timeout_in(
        &self,
        ns: &str,
        wait: Duration,
    ) -> Result<Option<Received>, TestClientError> {
        self.take_first(ns, wait, |_| true).await
    }

    /// The next event named `event` on the first namespace (waits up to
    /// 5 s); other events stay queued for [`TestClient::recv`].
    pub async fn recv_event(&self, event: &str) -> Result<Received, TestClientError> {
        let ns = self.namespace.clone();
        self.take_first(&ns, DEFAULT_WAIT, |r| r.event == event)
            .await?
            .ok_or(TestClientError::Timeout)
    }

    /// Emits on the first namespace and decodes the acknowledgement as `R`,
    /// as [`crate::Socket::call`] does (one argument: it; several: all of
    /// them, as a tuple; none: `null`).
    pub async fn call<R: serde::de::DeserializeOwned, T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<R, TestClientError> {
        let args = self.emit_with_ack(event, data).await?;
        crate::socket::ack_into(args).map_err(|e| TestClientError::Decode(e.to_string()))
    }

    async fn take_first(
        &self,
        ns: &str,
        wait: Duration,
        wanted: impl Fn(&Received) -> bool,
    ) -> Result<Option<Received>, TestClientError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.shared.notify.notified();
            {
                let mut events = self.shared.events.lock().unwrap();
                if let Some(q) = events.get_mut(ns) {
                    if let Some(i) = q.iter().position(&wanted) {
                        return Ok(q.remove(i));
                    }
                }
            }
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(TestClientError::Closed);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    /// Asserts nothing arrives on the first namespace within `wait`: returns
    /// what arrived instead, if anything.
    pub async fn recv_nothing(&self, wait: Duration) -> Option<Received> {
        self.recv_timeout_in(&self.namespace.clone(), wait)
            .await
            .ok()
            .flatten()
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Waits until the server closes the connection (up to `wait`).
    pub async fn closed(&self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.shared.notify.notified();
            if self.is_closed() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_closed();
            }
        }
    }

    /// Closes the connection (the server sees "transport close").
    pub fn close(&self) {
        let _ = self.tx.send(WsMessage::Close(None));
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.close();
    }
}
