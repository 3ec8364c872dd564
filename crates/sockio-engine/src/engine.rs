//! The engine: session table, request routing (Node's `verify` and
//! `handshake`), the per-session driver task (heartbeat and close), and the
//! calls into the [`EngineHandler`].
//!
//! Transports live in `polling` and `ws`; the tower plumbing in `service`.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::Full;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument;

use crate::codec::Packet;
use crate::http_util::{self, error_response, upgrade_error_response, BoxError, ErrorCode, Query};
use crate::service::{EngineLayer, EngineService, NotFound};
use crate::socket::{lock, Shared};
use crate::{
    DisconnectReason, EngineConfig, EngineHandler, Message, ProtocolVersion, Sid, Socket,
    TransportKind,
};

const SHARDS: usize = 16;

type Table<D> = RwLock<HashMap<Sid, Arc<Socket<D>>>>;

/// An Engine.IO server: session table, options, handler.
///
/// ```no_run
/// use std::sync::Arc;
/// use sockio_engine::{DisconnectReason, Engine, EngineConfig, EngineHandler, Message, Socket};
///
/// struct Echo;
/// impl EngineHandler for Echo {
///     type Data = ();
///     fn on_open(&self, _: &Arc<Socket<()>>) {}
///     fn on_message(&self, s: &Arc<Socket<()>>, m: Message) { let _ = s.send(m); }
///     fn on_close(&self, _: &Arc<Socket<()>>, _: DisconnectReason) {}
/// }
///
/// let engine = Engine::new(EngineConfig::default(), Echo);
/// // Standalone service (404 elsewhere), or `engine.layer()` in front of another service.
/// let service = engine.service();
/// # let _ = service;
/// ```
pub struct Engine<H: EngineHandler> {
    handler: H,
    config: EngineConfig,
    shards: Box<[Table<H::Data>]>,
    live: AtomicUsize,
    all_closed: Notify,
}

impl<H: EngineHandler> std::fmt::Debug for Engine<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

impl<H: EngineHandler> Engine<H> {
    /// Creates an engine.
    pub fn new(config: EngineConfig, handler: H) -> Arc<Self> {
        Arc::new(Engine {
            handler,
            config,
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
            live: AtomicUsize::new(0),
            all_closed: Notify::new(),
        })
    }

    /// A tower layer that answers the engine's path and passes other requests
    /// to the wrapped service (e.g. an axum `Router`).
    pub fn layer(self: &Arc<Self>) -> EngineLayer<H> {
        EngineLayer::new(self.clone())
    }

    /// The engine as a standalone service: 404 for other paths.
    pub fn service(self: &Arc<Self>) -> EngineService<H, NotFound> {
        EngineService::new(self.clone(), NotFound)
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The options.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Number of open sessions (those whose `on_close` has not run).
    pub fn session_count(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// The session with that id, if it is in the table.
    pub fn get(&self, sid: Sid) -> Option<Arc<Socket<H::Data>>> {
        let shard = self.shards[sid.shard(SHARDS)]
            .read()
            .unwrap_or_else(|e| e.into_inner());
        shard.get(&sid).cloned()
    }

    /// Closes every session with `reason` and waits until each one's
    /// `on_close` has run (graceful shutdown).
    pub async fn close_all(&self, reason: DisconnectReason) {
        let all: Vec<Arc<Socket<H::Data>>> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .unwrap_or_else(|e| e.into_inner())
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        for s in &all {
            s.close(reason);
        }
        loop {
            let notified = self.all_closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.live.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn insert(&self, socket: Arc<Socket<H::Data>>) {
        let id = socket.id();
        self.live.fetch_add(1, Ordering::AcqRel);
        self.shards[id.shard(SHARDS)]
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, socket);
    }

    fn remove(&self, sid: Sid) {
        self.shards[sid.shard(SHARDS)]
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&sid);
    }

    /// Handles a request for the engine's path.
    pub(crate) async fn handle<B>(self: Arc<Self>, req: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = req.into_parts();
        let Some(cors) = self.config.cors.clone() else {
            return self.route(parts, body).await;
        };
        if parts.method == Method::OPTIONS {
            return http_util::preflight(&cors, &parts.headers);
        }
        let req_headers = parts.headers.clone();
        let mut resp = self.route(parts, body).await;
        http_util::apply_cors(&cors, &req_headers, resp.headers_mut());
        resp
    }

    /// Node's `verify` then `handshake` or the transport's `onRequest`.
    async fn route<B>(
        self: Arc<Self>,
        parts: http::request::Parts,
        body: B,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let q = Query::parse(parts.uri.query());
        let upgrade = http_util::is_websocket_upgrade(&parts.headers);
        let refuse = |code: ErrorCode, msg: Option<&str>| {
            if upgrade {
                upgrade_error_response(code, msg)
            } else {
                error_response(code, msg)
            }
        };
        let transport = match q.transport.as_deref() {
            Some("polling") => Some(TransportKind::Polling),
            Some("websocket") => Some(TransportKind::WebSocket),
            _ => None,
        };
        let Some(transport) = transport.filter(|t| self.config.accepts(*t)) else {
            return refuse(ErrorCode::UnknownTransport, None);
        };
        if http_util::origin_is_invalid(&parts.headers) {
            return refuse(ErrorCode::BadRequest, None);
        }

        if let Some(sid) = q.sid.as_deref() {
            let Some(socket) = Sid::parse(sid).and_then(|s| self.get(s)) else {
                return refuse(ErrorCode::UnknownSid, None);
            };
            if upgrade && transport == TransportKind::WebSocket {
                return crate::ws::upgrade_existing(self, socket, parts);
            }
            if transport != TransportKind::Polling {
                return refuse(ErrorCode::BadRequest, None);
            }
            return match parts.method {
                Method::GET => crate::polling::get(&self, &socket, &parts.headers).await,
                Method::POST => crate::polling::post(&self, &socket, &parts.headers, body).await,
                _ => http_util::status_response(http::StatusCode::INTERNAL_SERVER_ERROR),
            };
        }

        // Handshake.
        if parts.method != Method::GET {
            return refuse(ErrorCode::BadHandshakeMethod, None);
        }
        if transport == TransportKind::WebSocket && !upgrade {
            return refuse(ErrorCode::BadRequest, None);
        }
        if let Some(allow) = &self.config.allow_request {
            if let Err(msg) = allow(&parts) {
                return if upgrade {
                    upgrade_error_response(ErrorCode::Forbidden, Some(&msg))
                } else {
                    error_response(ErrorCode::Forbidden, Some(&msg))
                };
            }
        }
        let protocol = match q.eio.as_deref() {
            Some("4") => ProtocolVersion::V4,
            Some("3") if self.config.allow_eio3 => ProtocolVersion::V3,
            _ => return refuse(ErrorCode::UnsupportedProtocolVersion, None),
        };
        match transport {
            TransportKind::Polling => self.handshake_polling(parts, protocol, q.b64),
            TransportKind::WebSocket => crate::ws::handshake(self, parts, protocol, q.b64),
        }
    }

    fn handshake_polling(
        self: Arc<Self>,
        parts: http::request::Parts,
        protocol: ProtocolVersion,
        b64: bool,
    ) -> Response<Full<Bytes>> {
        let headers = parts.headers.clone();
        let socket = self.open_session(parts, protocol, b64, TransportKind::Polling);
        let open = self.open_packet(socket.id(), TransportKind::Polling);
        let mut resp = crate::polling::payload_response(&self, &socket, &headers, &[open]);
        if let Some(cookie) = &self.config.cookie {
            if let Ok(v) = HeaderValue::from_str(&cookie.header_value(socket.id().as_str())) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        self.call_open(&socket);
        resp
    }

    /// Creates a session, puts it in the table and starts its driver task.
    pub(crate) fn open_session(
        self: &Arc<Self>,
        parts: http::request::Parts,
        protocol: ProtocolVersion,
        b64: bool,
        transport: TransportKind,
    ) -> Arc<Socket<H::Data>> {
        let shared = Shared::new(
            Sid::random(),
            protocol,
            b64,
            transport,
            parts,
            self.config.max_buffered_packets,
        );
        let socket = Arc::new(Socket::new(H::Data::default(), shared));
        tracing::debug!(parent: &socket.shared.span, ?protocol, "session opened");
        self.insert(socket.clone());
        let first = match protocol {
            ProtocolVersion::V4 => self.config.ping_interval,
            ProtocolVersion::V3 => self.config.ping_interval + self.config.ping_timeout,
        };
        let deadline = Instant::now() + first;
        let span = socket.shared.span.clone();
        tokio::spawn(
            self.clone()
                .drive(socket.clone(), deadline)
                .instrument(span),
        );
        socket
    }

    /// The open packet: exactly Node's keys, in Node's order.
    pub(crate) fn open_packet(&self, sid: Sid, transport: TransportKind) -> Packet {
        let upgrades = if transport == TransportKind::Polling
            && self.config.allow_upgrades
            && self.config.accepts(TransportKind::WebSocket)
        {
            "[\"websocket\"]"
        } else {
            "[]"
        };
        Packet::Open(Bytes::from(format!(
            "{{\"sid\":\"{}\",\"upgrades\":{},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
            sid,
            upgrades,
            self.config.ping_interval.as_millis(),
            self.config.ping_timeout.as_millis(),
            self.config.max_payload
        )))
    }

    pub(crate) fn call_open(&self, socket: &Arc<Socket<H::Data>>) {
        let done = lock(&socket.shared.dispatch);
        if *done {
            return;
        }
        if catch_unwind(AssertUnwindSafe(|| self.handler.on_open(socket))).is_err() {
            tracing::error!(parent: &socket.shared.span, "on_open panicked");
        }
    }

    /// Gives a message to the handler, unless `on_close` already ran.
    pub(crate) fn dispatch(&self, socket: &Arc<Socket<H::Data>>, msg: Message) {
        let done = lock(&socket.shared.dispatch);
        if *done {
            return;
        }
        if catch_unwind(AssertUnwindSafe(|| self.handler.on_message(socket, msg))).is_err() {
            tracing::error!(parent: &socket.shared.span, "on_message panicked");
        }
    }

    /// Handles one packet from the client. Returns false when the transport
    /// must stop reading (the session is closing).
    pub(crate) fn on_packet(&self, socket: &Arc<Socket<H::Data>>, packet: Packet) -> bool {
        let sh = &socket.shared;
        let v3 = sh.protocol == ProtocolVersion::V3;
        if v3 {
            // Any packet shows the client is alive.
            sh.heartbeat();
        }
        match packet {
            Packet::Message(m) => self.dispatch(socket, m),
            Packet::Ping | Packet::PingProbe if v3 => sh.push_control(Packet::Pong),
            Packet::Pong | Packet::PongProbe if !v3 => sh.heartbeat(),
            Packet::Ping | Packet::PingProbe | Packet::Pong | Packet::PongProbe => {
                tracing::debug!(parent: &sh.span, "invalid heartbeat direction");
                sh.close(DisconnectReason::TransportError);
                return false;
            }
            Packet::Close => {
                sh.close(DisconnectReason::TransportClose);
                return false;
            }
            Packet::Open(_) | Packet::Upgrade | Packet::Noop => {}
        }
        true
    }

    /// The session's driver: one timer for the heartbeat, then the close.
    async fn drive(self: Arc<Self>, socket: Arc<Socket<H::Data>>, first: Instant) {
        let sh = &socket.shared;
        let v3 = sh.protocol == ProtocolVersion::V3;
        let interval = self.config.ping_interval;
        let timeout = self.config.ping_timeout;
        let sleep = tokio::time::sleep_until(first);
        tokio::pin!(sleep);
        let mut awaiting_pong = false;
        loop {
            tokio::select! {
                _ = &mut sleep => {
                    if v3 || awaiting_pong {
                        sh.close(DisconnectReason::PingTimeout);
                    } else {
                        sh.push_control(Packet::Ping);
                        awaiting_pong = true;
                        sleep.as_mut().reset(Instant::now() + timeout);
                    }
                }
                _ = sh.driver.notified() => {}
            }
            let (closed, beat) = {
                let mut st = sh.state();
                (st.closed, std::mem::take(&mut st.heartbeat))
            };
            if closed.is_some() {
                break;
            }
            if beat {
                if v3 {
                    sleep.as_mut().reset(Instant::now() + interval + timeout);
                } else if awaiting_pong {
                    awaiting_pong = false;
                    sleep.as_mut().reset(Instant::now() + interval);
                }
            }
        }
        let reason = sh
            .state()
            .closed
            .unwrap_or(DisconnectReason::TransportError);
        tracing::debug!(%reason, "session closed");

        // Server-side close on polling: keep the session a little so that the
        // next GET collects what is queued and the close packet.
        let drain = crate::polling::drains(reason) && {
            let st = sh.state();
            st.transport == TransportKind::Polling && !st.drained
        };
        if !drain {
            self.remove(socket.id());
        }
        {
            let mut done = lock(&sh.dispatch);
            if !*done {
                *done = true;
                if catch_unwind(AssertUnwindSafe(|| self.handler.on_close(&socket, reason)))
                    .is_err()
                {
                    tracing::error!("on_close panicked");
                }
            }
        }
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_closed.notify_waiters();
        }
        if drain {
            let wait = interval.min(std::time::Duration::from_secs(5));
            let _ = tokio::time::timeout(wait, async {
                loop {
                    let n = sh.driver.notified();
                    tokio::pin!(n);
                    n.as_mut().enable();
                    if sh.state().drained {
                        return;
                    }
                    n.await;
                }
            })
            .await;
            self.remove(socket.id());
        }
        sh.state().queue = Default::default();
    }
}
