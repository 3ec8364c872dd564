//! The engine: session table, request routing (Node's `verify` and
//! `handshake`, with `allow_request` and `max_connections`), the per-session
//! driver task (heartbeat, suspended while reading is paused, and the close),
//! the counters, and the calls into the [`EngineHandler`].
//!
//! Every refused request goes through [`Engine::refuse`]: counted under its
//! [`RefusalReason`] and logged at debug level.
//!
//! Transports live in `polling` and `ws`; the tower plumbing in `service`;
//! the HTTP server in `server`.

use rustc_hash::FxHashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use futures_util::FutureExt;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::Full;
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument;

use crate::codec::Packet;
use crate::http_util::{
    self, error_response, upgrade_error_response, BoxError, Eio, ErrorCode, RouteQuery, SidParam,
};
use crate::service::{EngineLayer, EngineService, NotFound};
use crate::socket::{lock, DispatchLock, Shared};
use crate::stats::Stats;
use crate::{
    DisconnectReason, EngineConfig, EngineHandler, EngineStats, HandshakeRequest, Message,
    ProtocolVersion, Refusal, RefusalReason, Sid, Socket, TransportKind,
};

const SHARDS: usize = 16;

// Fx hashing: ids are the server's own random strings (a client's lookup of
// a made-up id cannot crowd the table), and SipHash cost ~100 instructions
// per polling request.
type Table<D> = RwLock<FxHashMap<Sid, Arc<Socket<D>>>>;

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
    /// Sessions whose `on_close` has not run.
    live: AtomicUsize,
    /// Sessions not yet closed plus handshakes on their way to open one
    /// (what `max_connections` bounds).
    slots: AtomicUsize,
    all_closed: Notify,
    pub(crate) stats: Stats,
}

/// A place under `max_connections`, held from the handshake's checks until
/// the session opens (then the session holds it) or the handshake fails.
pub(crate) struct Slot<H: EngineHandler> {
    engine: Arc<Engine<H>>,
    /// False once a session holds the place.
    armed: bool,
}

impl<H: EngineHandler> Drop for Slot<H> {
    fn drop(&mut self) {
        if self.armed {
            self.engine.slots.fetch_sub(1, Ordering::AcqRel);
        }
    }
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
            shards: (0..SHARDS)
                .map(|_| RwLock::new(FxHashMap::default()))
                .collect(),
            live: AtomicUsize::new(0),
            slots: AtomicUsize::new(0),
            all_closed: Notify::new(),
            stats: Stats::default(),
        })
    }

    /// The engine's counters: refusals and closes by reason, limits that
    /// fired, upgrades (see [`EngineStats`]). Lock-free; cheap enough to
    /// scrape often.
    pub fn stats(&self) -> EngineStats {
        self.stats.snapshot(self.session_count())
    }

    /// Number of sids in the session table: the open sessions plus those
    /// closed but kept for a moment (a polling close's `close_grace`, or a
    /// server close whose last packets a GET has not collected yet).
    pub fn table_len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
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

    /// Calls `f` with each session of the table that is not closed (for a
    /// metrics scrape or an admin view: it takes each shard's read lock in
    /// turn, so `f` must be quick and must not open or close sessions).
    pub fn for_each_session(&self, mut f: impl FnMut(&Arc<Socket<H::Data>>)) {
        for shard in self.shards.iter() {
            let shard = shard.read().unwrap_or_else(|e| e.into_inner());
            for s in shard.values().filter(|s| !s.is_closed()) {
                f(s);
            }
        }
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
    ///
    /// Not an `async fn`: the future of every polling request is boxed and
    /// moved whole, so its size is its cost, and an `async fn` would keep
    /// room for the whole request (256 bytes) beside the head's `Arc` for
    /// as long as it runs.
    pub(crate) fn handle<B>(
        self: Arc<Self>,
        req: Request<B>,
    ) -> impl Future<Output = Response<Full<Bytes>>> + Send + 'static
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        use futures_util::future::Either;
        let cors = self.config.cors.clone();
        let origin = match &cors {
            None => None,
            Some(cors) if req.method() == Method::OPTIONS => {
                let resp = http_util::preflight(cors, req.headers());
                return Either::Left(std::future::ready(resp));
            }
            Some(_) => req.headers().get(header::ORIGIN).cloned(),
        };
        // The head goes into an `Arc` at once: a polling request shares it
        // with its session (the current request).
        let (parts, body) = req.into_parts();
        // A combinator, not an `async` block: a block awaiting `route` would
        // hold it twice (captured, then pinned).
        Either::Right(futures_util::FutureExt::map(
            self.route(Arc::new(parts), body),
            move |mut resp| {
                if let Some(cors) = cors {
                    http_util::apply_cors(&cors, origin.as_ref(), resp.headers_mut());
                }
                resp
            },
        ))
    }

    /// Counts and logs a refused request, and builds its answer (Node's
    /// `abortRequest` / `abortUpgrade`).
    pub(crate) fn refuse(
        &self,
        reason: RefusalReason,
        upgrade: bool,
        parts: &http::request::Parts,
    ) -> Response<Full<Bytes>> {
        let n = self.stats.refused(reason);
        let code = match reason {
            RefusalReason::UnknownTransport => ErrorCode::UnknownTransport,
            RefusalReason::UnknownSid => ErrorCode::UnknownSid,
            RefusalReason::BadHandshakeMethod => ErrorCode::BadHandshakeMethod,
            RefusalReason::Forbidden => ErrorCode::Forbidden,
            RefusalReason::UnsupportedProtocolVersion => ErrorCode::UnsupportedProtocolVersion,
            RefusalReason::MaxConnections => {
                // One warning per burst, not one per refused handshake.
                if n == 1 || n % 1000 == 0 {
                    tracing::warn!(
                        max_connections = ?self.config.max_connections,
                        refused_so_far = n,
                        "handshake refused: max_connections reached"
                    );
                }
                return http_util::too_many_connections(upgrade);
            }
            RefusalReason::BadRequest | RefusalReason::OverlappingRequest => ErrorCode::BadRequest,
        };
        tracing::debug!(
            reason = reason.name(),
            method = %parts.method,
            uri = %parts.uri,
            remote = ?parts.extensions.get::<SocketAddr>(),
            "request refused"
        );
        if upgrade {
            upgrade_error_response(code, None)
        } else {
            error_response(code, None)
        }
    }

    /// Node's `verify` then `handshake` or the transport's `onRequest`.
    async fn route<B>(
        self: Arc<Self>,
        parts: Arc<http::request::Parts>,
        body: B,
    ) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let q = RouteQuery::parse(parts.uri.query());
        let upgrade = http_util::is_websocket_upgrade(&parts.headers);
        let Some(transport) = q.transport.filter(|t| self.config.accepts(*t)) else {
            return self.refuse(RefusalReason::UnknownTransport, upgrade, &parts);
        };
        if http_util::origin_is_invalid(&parts.headers) {
            return self.refuse(RefusalReason::BadRequest, upgrade, &parts);
        }

        match q.sid {
            SidParam::Absent => {}
            SidParam::Invalid => return self.refuse(RefusalReason::UnknownSid, upgrade, &parts),
            SidParam::Valid(sid) => {
                let Some(socket) = self.get(sid) else {
                    return self.refuse(RefusalReason::UnknownSid, upgrade, &parts);
                };
                if upgrade && transport == TransportKind::WebSocket {
                    if socket.is_closed() {
                        return self.refuse(RefusalReason::UnknownSid, upgrade, &parts);
                    }
                    let parts = Arc::unwrap_or_clone(parts);
                    return crate::ws::upgrade_existing(self, socket, parts, q.b64);
                }
                if transport != TransportKind::Polling {
                    return self.refuse(RefusalReason::BadRequest, upgrade, &parts);
                }
                // The request is shared with the session (its current
                // request); one pointer in the futures below.
                return match parts.method {
                    Method::GET => crate::polling::get(&self, &socket, parts).await,
                    Method::POST => crate::polling::post(&self, &socket, parts, body).await,
                    _ => {
                        // Node's polling transport answers other methods 500.
                        self.stats.refused(RefusalReason::BadRequest);
                        tracing::debug!(method = %parts.method, "polling request with an unexpected method");
                        http_util::status_response(http::StatusCode::INTERNAL_SERVER_ERROR)
                    }
                };
            }
        }

        // Handshake.
        if parts.method != Method::GET {
            return self.refuse(RefusalReason::BadHandshakeMethod, upgrade, &parts);
        }
        if transport == TransportKind::WebSocket && !upgrade {
            return self.refuse(RefusalReason::BadRequest, upgrade, &parts);
        }
        if let Some(allow) = &self.config.allow_request {
            // Boxed: only handshakes wait here, and the hook's future must not
            // enlarge the future of every polling request.
            let verdict = Box::pin(
                AssertUnwindSafe(allow(HandshakeRequest::from_parts(&parts))).catch_unwind(),
            )
            .await
            .unwrap_or_else(|_| {
                tracing::error!("allow_request panicked: refusing the handshake");
                Err(Refusal::forbidden())
            });
            if let Err(refusal) = verdict {
                return self.forbidden(&refusal, upgrade, &parts);
            }
        }
        let protocol = match q.eio {
            Eio::V4 => ProtocolVersion::V4,
            Eio::V3 if self.config.allow_eio3 => ProtocolVersion::V3,
            _ => return self.refuse(RefusalReason::UnsupportedProtocolVersion, upgrade, &parts),
        };
        let Some(slot) = self.reserve_slot() else {
            return self.refuse(RefusalReason::MaxConnections, upgrade, &parts);
        };
        let parts = Arc::unwrap_or_clone(parts);
        match transport {
            TransportKind::Polling => self.handshake_polling(parts, protocol, q.b64, slot),
            TransportKind::WebSocket => crate::ws::handshake(self, parts, protocol, q.b64, slot),
        }
    }

    /// The answer to a handshake `allow_request` refused.
    fn forbidden(
        &self,
        refusal: &Refusal,
        upgrade: bool,
        parts: &http::request::Parts,
    ) -> Response<Full<Bytes>> {
        self.stats.refused(RefusalReason::Forbidden);
        tracing::debug!(
            reason = "forbidden",
            message = refusal.message(),
            remote = ?parts.extensions.get::<SocketAddr>(),
            "handshake refused by allow_request"
        );
        let mut r = if upgrade {
            upgrade_error_response(ErrorCode::Forbidden, Some(refusal.message()))
        } else {
            error_response(ErrorCode::Forbidden, Some(refusal.message()))
        };
        if let Some(status) = refusal.status() {
            *r.status_mut() = status;
        }
        r
    }

    /// Takes a place under `max_connections` for a session about to open.
    pub(crate) fn reserve_slot(self: &Arc<Self>) -> Option<Slot<H>> {
        let n = self.slots.fetch_add(1, Ordering::AcqRel);
        if self.config.max_connections.is_some_and(|max| n >= max) {
            self.slots.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot {
            engine: self.clone(),
            armed: true,
        })
    }

    /// Runs the `on_initial_headers` (handshakes) then `on_headers` hooks on
    /// an answer about to leave.
    pub(crate) fn add_headers(
        &self,
        initial: bool,
        headers: &mut http::HeaderMap,
        req: &http::request::Parts,
    ) {
        let hooks = [
            self.config.initial_headers.as_ref().filter(|_| initial),
            self.config.headers.as_ref(),
        ];
        for hook in hooks.into_iter().flatten() {
            if catch_unwind(AssertUnwindSafe(|| hook(headers, req))).is_err() {
                tracing::error!("a headers hook panicked");
            }
        }
    }

    fn handshake_polling(
        self: Arc<Self>,
        parts: http::request::Parts,
        protocol: ProtocolVersion,
        b64: bool,
        slot: Slot<H>,
    ) -> Response<Full<Bytes>> {
        let socket = self.open_session(parts, protocol, b64, TransportKind::Polling, slot);
        let req = &socket.shared.parts;
        let open = self.open_packet(socket.id(), TransportKind::Polling);
        let mut resp = crate::polling::encode_response(&self, &socket, &req.headers, &[open]);
        if let Some(cookie) = &self.config.cookie {
            if let Ok(v) = HeaderValue::from_str(&cookie.header_value(socket.id().as_str())) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        self.add_headers(true, resp.headers_mut(), req);
        self.call_open(&socket);
        resp
    }

    /// Creates a session, puts it in the table and starts its driver task.
    /// Returns the session and its (kept) handshake request.
    pub(crate) fn open_session(
        self: &Arc<Self>,
        parts: http::request::Parts,
        protocol: ProtocolVersion,
        b64: bool,
        transport: TransportKind,
        mut slot: Slot<H>,
    ) -> Arc<Socket<H::Data>> {
        // The session now holds the place: released when it closes (`drive`).
        slot.armed = false;
        drop(slot);
        self.stats.sessions_opened.fetch_add(1, Ordering::Relaxed);
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
    fn dispatch(&self, socket: &Arc<Socket<H::Data>>, msg: Message, lock: &mut DispatchLock) {
        if lock.closed() {
            return;
        }
        if catch_unwind(AssertUnwindSafe(|| self.handler.on_message(socket, msg))).is_err() {
            tracing::error!(parent: &socket.shared.span, "on_message panicked");
        }
    }

    /// Handles one packet from the client, under `lock` if it is a message.
    /// Returns false when the transport must stop reading (the session is
    /// closing).
    pub(crate) fn on_packet(
        &self,
        socket: &Arc<Socket<H::Data>>,
        packet: Packet,
        lock: &mut DispatchLock,
    ) -> bool {
        let sh = &socket.shared;
        let v3 = sh.protocol == ProtocolVersion::V3;
        if v3 {
            // Any packet shows the client is alive.
            sh.heartbeat();
        }
        match packet {
            Packet::Message(m) => self.dispatch(socket, m, lock),
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
    ///
    /// While the layer above has paused reading, the heartbeat timeout is
    /// suspended (a pong cannot be read): pings still go out every
    /// `ping_interval`, and a fresh timeout starts on resume.
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
                    if sh.is_paused() {
                        if !v3 {
                            sh.push_control(Packet::Ping);
                            awaiting_pong = true;
                        }
                        sleep.as_mut().reset(Instant::now() + interval);
                    } else if v3 || awaiting_pong {
                        sh.close(DisconnectReason::PingTimeout);
                    } else {
                        sh.push_control(Packet::Ping);
                        awaiting_pong = true;
                        sleep.as_mut().reset(Instant::now() + timeout);
                    }
                }
                _ = sh.driver.notified() => {}
            }
            let (closed, beat, resumed) = {
                let mut st = sh.state();
                (
                    st.closed,
                    std::mem::take(&mut st.heartbeat),
                    std::mem::take(&mut st.resumed),
                )
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
            } else if resumed {
                if v3 {
                    sleep.as_mut().reset(Instant::now() + interval + timeout);
                } else if awaiting_pong {
                    sleep.as_mut().reset(Instant::now() + timeout);
                }
            }
        }
        let reason = sh
            .state()
            .closed
            .unwrap_or(DisconnectReason::TransportError);
        self.stats.closed(reason);
        tracing::debug!(reason = reason.name(), "session closed");

        let (transport, drained) = {
            let st = sh.state();
            (st.transport, st.drained)
        };
        // Server-side close on polling: keep the session a little so that the
        // next GET collects what is queued and the close packet.
        let drain =
            crate::polling::drains(reason) && transport == TransportKind::Polling && !drained;
        // Client-side close over polling: keep the sid for `close_grace`, so
        // that a GET which raced the close packet is answered `6` (as it is
        // when it arrives first), not 400.
        let grace = reason == DisconnectReason::TransportClose
            && transport == TransportKind::Polling
            && !self.config.close_grace.is_zero();
        if !drain && !grace {
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
        self.slots.fetch_sub(1, Ordering::AcqRel);
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.all_closed.notify_waiters();
        }
        let current = sh.state().current.take();
        drop(current);
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
        } else if grace {
            sh.state().queue = Default::default();
            tokio::time::sleep(self.config.close_grace).await;
            self.remove(socket.id());
        }
        sh.state().queue = Default::default();
    }
}
