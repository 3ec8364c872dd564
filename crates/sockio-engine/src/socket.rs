//! The session handle given to the layer above (CONTRACT: the public signatures in
//! this file are relied on by the `sockio` crate; internals are free to change).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::codec::Packet;
use crate::Message;

/// An Engine.IO session id: 20 characters of base64url from a CSPRNG.
///
/// ```
/// use sockio_engine::Sid;
/// let sid = Sid::random();
/// assert_eq!(sid.as_str().len(), 20);
/// assert_eq!(Sid::parse(sid.as_str()), Some(sid));
/// assert_eq!(Sid::parse("too short"), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid([u8; 20]);

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The base64url alphabet of session ids, as a lookup table.
const SID_CHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        c += 1;
    }
    t
};

impl Sid {
    /// A new random id (CSPRNG, 120 bits, base64url alphabet).
    pub fn random() -> Self {
        use rand::RngCore;
        let mut raw = [0u8; 15];
        // ThreadRng is a CSPRNG (ChaCha12, seeded and reseeded from the OS).
        rand::rng().fill_bytes(&mut raw);
        let mut out = [0u8; 20];
        for (i, chunk) in raw.chunks(3).enumerate() {
            let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
            for j in 0..4 {
                out[i * 4 + j] = B64URL[((n >> (18 - 6 * j)) & 63) as usize];
            }
        }
        Sid(out)
    }
    /// Parses an id received from a client; `None` unless it is 20 base64url characters.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 20 || !b.iter().all(|&c| SID_CHAR[usize::from(c)]) {
            return None;
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(b);
        Some(Sid(out))
    }
    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        // Always ASCII by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
    pub(crate) fn shard(&self, n: usize) -> usize {
        (usize::from(self.0[0]) * 31 + usize::from(self.0[19])) % n
    }
}

impl std::fmt::Debug for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sid({})", self.as_str())
    }
}

impl std::fmt::Display for Sid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Engine.IO protocol revision of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolVersion {
    /// Engine.IO v3 (socket.io-client 1.x and 2.x).
    V3 = 3,
    /// Engine.IO v4 (socket.io-client 3.x and 4.x).
    V4 = 4,
}

/// A transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

/// Why a session ended. [`DisconnectReason::as_str`] gives the reason string
/// that the Node.js server reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client closed the connection or sent a close packet ("transport close").
    TransportClose,
    /// The transport failed ("transport error").
    TransportError,
    /// No pong (v4) or ping (v3) in time ("ping timeout").
    PingTimeout,
    /// The client sent something that is not a valid packet or payload ("parse error").
    ParseError,
    /// The client sent more than `max_payload` bytes ("payload too large").
    PayloadTooLarge,
    /// The client broke a transport rule, e.g. two concurrent polling GETs ("transport error").
    ProtocolViolation,
    /// The outgoing queue was full: the client does not read fast enough ("send queue full").
    SlowConsumer,
    /// The server closed the session ("forced close").
    ServerClose,
    /// The server is shutting down ("server shutting down").
    ServerShutdown,
}

impl DisconnectReason {
    /// The reason string, as the Node.js server names it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError | DisconnectReason::ProtocolViolation => {
                "transport error"
            }
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::PayloadTooLarge => "payload too large",
            DisconnectReason::SlowConsumer => "send queue full",
            DisconnectReason::ServerClose => "forced close",
            DisconnectReason::ServerShutdown => "server shutting down",
        }
    }

    /// A stable snake-case identifier, distinct for every variant (unlike
    /// [`as_str`](Self::as_str), where two variants read "transport error"):
    /// `transport_close`, `transport_error`, `ping_timeout`, `parse_error`,
    /// `payload_too_large`, `protocol_violation`, `slow_consumer`,
    /// `server_close`, `server_shutdown`. For logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport_close",
            DisconnectReason::TransportError => "transport_error",
            DisconnectReason::PingTimeout => "ping_timeout",
            DisconnectReason::ParseError => "parse_error",
            DisconnectReason::PayloadTooLarge => "payload_too_large",
            DisconnectReason::ProtocolViolation => "protocol_violation",
            DisconnectReason::SlowConsumer => "slow_consumer",
            DisconnectReason::ServerClose => "server_close",
            DisconnectReason::ServerShutdown => "server_shutdown",
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`Socket::send`] refused a message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The session's outgoing queue is full (the client is not reading).
    #[error("the session's send queue is full")]
    Full,
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
}

/// One Engine.IO session, as seen by the layer above. Shared as `Arc<Socket<D>>`;
/// `D` is that layer's per-session state ([`crate::EngineHandler::Data`]).
pub struct Socket<D> {
    /// The per-session state of the layer above.
    data: D,
    pub(crate) shared: Shared,
}

/// Where a polling session is in its upgrade to WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upgrade {
    /// No WebSocket has asked to take over.
    None,
    /// A WebSocket is attached and waits for `2probe`.
    Attached,
    /// `2probe` answered: polling GETs are answered `6` at once.
    Probed,
    /// `5` received: the session uses the WebSocket.
    Done,
}

/// Session state shared by the transports, the driver task and the layer above.
///
/// `repr(C)`, hot fields first: what every delivery touches (the state
/// lock, the pause flag, the writer's `Notify`) shares as few cache lines as
/// possible; the handshake request and the span come last.
#[repr(C, align(64))]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// The layer above asked us to stop reading (backpressure).
    pub(crate) paused: AtomicBool,
    /// The WebSocket task is handling frames it read and will look at the
    /// queue right after: a message queued meanwhile needs no wake-up (the
    /// answers of an echo, say). See `push_messages`.
    pub(crate) reading: AtomicBool,
    pub(crate) protocol: ProtocolVersion,
    /// v3 client that asked for base64 binary in polling payloads (`b64=1`).
    pub(crate) b64: bool,
    /// Wakes whoever writes to the client (a pending GET or the WebSocket task).
    pub(crate) writer: Notify,
    pub(crate) max_buffered: usize,
    /// Held while calling the handler; `true` once `on_close` has run.
    pub(crate) dispatch: Mutex<bool>,
    /// Wakes the session's driver task (heartbeat, close).
    pub(crate) driver: Notify,
    pub(crate) id: Sid,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) span: tracing::Span,
    pub(crate) parts: http::request::Parts,
}

pub(crate) struct State {
    pub(crate) queue: VecDeque<Packet>,
    pub(crate) transport: TransportKind,
    pub(crate) closed: Option<DisconnectReason>,
    pub(crate) get_pending: bool,
    pub(crate) post_pending: bool,
    pub(crate) upgrade: Upgrade,
    /// A heartbeat (v4 pong, v3 ping) arrived since the driver last looked.
    pub(crate) heartbeat: bool,
    /// Reading resumed since the driver last looked: a fresh heartbeat timeout.
    pub(crate) resumed: bool,
    /// A GET collected what was left after a server-side close.
    pub(crate) drained: bool,
    /// A GET was pending when the upgrade probe was answered: it is owed a
    /// `6` so that the client can pause polling.
    pub(crate) noop_owed: bool,
    /// The latest request of the session (polling) or the upgrade request
    /// (WebSocket after an upgrade); `None` while it is the handshake.
    pub(crate) current: Option<Arc<http::request::Parts>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A session's dispatch lock ([`Shared::dispatch`]) for a run of packets:
/// taken at the first message and held until dropped, so the frames of one
/// WebSocket read take it once.
pub(crate) struct DispatchLock<'a> {
    lock: &'a Mutex<bool>,
    held: Option<MutexGuard<'a, bool>>,
}

impl<'a> DispatchLock<'a> {
    pub(crate) fn new(sh: &'a Shared) -> Self {
        DispatchLock {
            lock: &sh.dispatch,
            held: None,
        }
    }

    /// Whether `on_close` has run (then no message may reach the handler).
    pub(crate) fn closed(&mut self) -> bool {
        **self.held.get_or_insert_with(|| lock(self.lock))
    }
}

/// The handshake request kept for the session's lifetime, with its URI and
/// headers copied out: hyper parses them as slices of its 8-16 KiB read
/// buffer, which they would otherwise keep alive for as long as the session.
pub(crate) fn compact(mut parts: http::request::Parts) -> http::request::Parts {
    let mut headers = http::HeaderMap::with_capacity(parts.headers.len());
    let mut last = None;
    for (name, value) in std::mem::take(&mut parts.headers) {
        // `None` repeats the previous name.
        let name = match name {
            Some(n) => http::HeaderName::from_bytes(n.as_str().as_bytes()).unwrap_or(n),
            None => match &last {
                Some(n) => http::HeaderName::clone(n),
                None => continue,
            },
        };
        let mut copy = http::HeaderValue::from_bytes(value.as_bytes()).unwrap_or(value.clone());
        copy.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), copy);
        last = Some(name);
    }
    parts.headers = headers;
    if let Ok(uri) = http::Uri::try_from(parts.uri.to_string()) {
        parts.uri = uri;
    }
    parts
}

impl Shared {
    pub(crate) fn new(
        id: Sid,
        protocol: ProtocolVersion,
        b64: bool,
        transport: TransportKind,
        parts: http::request::Parts,
        max_buffered: usize,
    ) -> Self {
        let remote = parts.extensions.get::<SocketAddr>().copied();
        let span = tracing::info_span!(
            "eio_session",
            sid = %id,
            transport = if transport == TransportKind::Polling { "polling" } else { "websocket" },
        );
        Shared {
            id,
            protocol,
            b64,
            parts: compact(parts),
            remote,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                transport,
                closed: None,
                get_pending: false,
                post_pending: false,
                upgrade: Upgrade::None,
                heartbeat: false,
                resumed: false,
                drained: false,
                noop_owed: false,
                current: None,
            }),
            writer: Notify::new(),
            driver: Notify::new(),
            dispatch: Mutex::new(false),
            paused: AtomicBool::new(false),
            reading: AtomicBool::new(false),
            max_buffered,
            span,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Queues messages as one group, or refuses them all.
    pub(crate) fn push_messages(
        &self,
        msgs: impl ExactSizeIterator<Item = Message>,
    ) -> Result<(), SendError> {
        let n = msgs.len();
        {
            let mut st = self.state();
            if st.closed.is_some() {
                return Err(SendError::Closed);
            }
            if st.queue.len() + n > self.max_buffered {
                // The layer above decides: drop (volatile) or close with
                // `DisconnectReason::SlowConsumer`.
                return Err(SendError::Full);
            }
            st.queue.extend(msgs.map(Packet::Message));
        }
        // The WebSocket task drains the queue after the frames it is
        // handling; it stores `reading = false` before it takes the state
        // lock to drain, so a push it would miss sees `false` here (the lock
        // orders them) and wakes it.
        if !self.reading.load(Ordering::Acquire) {
            self.writer.notify_waiters();
        }
        Ok(())
    }

    /// Queues a control packet. Not counted against the bound of messages,
    /// but a client that makes us queue control packets (v3 pings answered
    /// with pongs) without reading them is a slow consumer too.
    pub(crate) fn push_control(&self, p: Packet) {
        {
            let mut st = self.state();
            if st.closed.is_some() {
                return;
            }
            if st.queue.len() >= self.max_buffered.saturating_mul(2) {
                drop(st);
                tracing::debug!(parent: &self.span, "control packets pile up unread");
                self.close(DisconnectReason::SlowConsumer);
                return;
            }
            st.queue.push_back(p);
        }
        self.writer.notify_waiters();
    }

    /// Whether the layer above paused reading.
    #[inline]
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Resolves once the session is closed.
    pub(crate) async fn closed(&self) -> DisconnectReason {
        loop {
            let n = self.writer.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if let Some(r) = self.state().closed {
                return r;
            }
            n.await;
        }
    }

    /// Resolves once reading is resumed or the session closed; true if resumed.
    pub(crate) async fn resumed(&self) -> bool {
        loop {
            let n = self.writer.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.state().closed.is_some() {
                return false;
            }
            if !self.is_paused() {
                return true;
            }
            n.await;
        }
    }

    /// Marks the session closed (once) and wakes the writer and the driver,
    /// which removes the session and runs `on_close`.
    pub(crate) fn close(&self, reason: DisconnectReason) -> bool {
        {
            let mut st = self.state();
            if st.closed.is_some() {
                return false;
            }
            st.closed = Some(reason);
        }
        tracing::debug!(parent: &self.span, %reason, "closing session");
        self.writer.notify_waiters();
        self.driver.notify_one();
        true
    }

    /// Records a heartbeat for the driver.
    pub(crate) fn heartbeat(&self) {
        self.state().heartbeat = true;
        self.driver.notify_one();
    }
}

impl<D> Socket<D> {
    pub(crate) fn new(data: D, shared: Shared) -> Self {
        Socket { data, shared }
    }
    /// The session id.
    pub fn id(&self) -> Sid {
        self.shared.id
    }
    /// The protocol revision the client asked for (`EIO=3` or `EIO=4`).
    pub fn protocol(&self) -> ProtocolVersion {
        self.shared.protocol
    }
    /// The transport in use now.
    pub fn transport(&self) -> TransportKind {
        self.shared.state().transport
    }
    /// The handshake request (method, URI with query, headers, extensions added by
    /// middlewares), without its body.
    pub fn request(&self) -> &http::request::Parts {
        &self.shared.parts
    }
    /// The session's current request, without its body: over polling the
    /// latest request (GET or POST) the session received, so that a message
    /// being dispatched from a POST sees that POST's headers (cookies, say);
    /// over WebSocket the request that opened the WebSocket (the handshake,
    /// or the upgrade request after an upgrade from polling). Until another
    /// request arrives it is the handshake ([`request`](Self::request)).
    ///
    /// Cheap: no copy, no lock held by the returned value.
    pub fn current_request(&self) -> CurrentRequest<'_> {
        match self.shared.state().current.clone() {
            Some(parts) => CurrentRequest(CurrentRepr::Latest(parts)),
            None => CurrentRequest(CurrentRepr::Handshake(&self.shared.parts)),
        }
    }
    /// Stops reading from the client (backpressure), until
    /// [`resume_reading`](Self::resume_reading). Idempotent.
    ///
    /// While paused: over WebSocket no frame is read, so TCP flow control
    /// slows the client down, while queued packets are still written and a
    /// close is still noticed; a polling POST being handled stops handing
    /// packets to [`crate::EngineHandler::on_message`] and is answered only
    /// once reading resumes (or the session closes). The heartbeat timeout is
    /// suspended (liveness cannot be judged without reading): pings still go
    /// out, and a fresh timeout starts on resume.
    ///
    /// Called from `on_message`, no later message of that session is
    /// dispatched until resumed.
    pub fn pause_reading(&self) {
        if !self.shared.paused.swap(true, Ordering::AcqRel) {
            tracing::trace!(parent: &self.shared.span, "reading paused");
        }
    }
    /// Resumes reading after [`pause_reading`](Self::pause_reading).
    /// Idempotent; cheap when not paused.
    pub fn resume_reading(&self) {
        if self.shared.paused.swap(false, Ordering::AcqRel) {
            tracing::trace!(parent: &self.shared.span, "reading resumed");
            // A fresh heartbeat timeout starts now.
            self.shared.state().resumed = true;
            self.shared.writer.notify_waiters();
            self.shared.driver.notify_one();
        }
    }
    /// Whether reading is paused ([`pause_reading`](Self::pause_reading)).
    pub fn is_reading_paused(&self) -> bool {
        self.shared.is_paused()
    }
    /// The peer's address, when the server put one in the request extensions.
    ///
    /// The engine reads a [`std::net::SocketAddr`] from the handshake request's
    /// extensions: the server (or a middleware) must insert it, e.g.
    /// `req.extensions_mut().insert(peer_addr)` in the hyper service function.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.shared.remote
    }
    /// The session's `tracing` span (fields `sid` and `transport`): the layer
    /// above enters it, or instruments its tasks with it, so that its logs
    /// name the connection.
    pub fn span(&self) -> &tracing::Span {
        &self.shared.span
    }
    /// The layer above's state for this session.
    pub fn data(&self) -> &D {
        &self.data
    }
    /// Queues one message. Never waits: a full queue gives [`SendError::Full`]
    /// and leaves the session open; the caller drops the message (a volatile
    /// one) or closes the session with [`DisconnectReason::SlowConsumer`].
    pub fn send(&self, msg: Message) -> Result<(), SendError> {
        self.shared.push_messages(std::iter::once(msg))
    }
    /// Queues several messages that must stay together and in order (a Socket.IO
    /// packet and its binary attachments): no other message is put between them.
    pub fn send_many(&self, msgs: Vec<Message>) -> Result<(), SendError> {
        self.shared.push_messages(msgs.into_iter())
    }
    /// Closes the session from the server side; the handler's `on_close` runs once.
    pub fn close(&self, reason: DisconnectReason) {
        self.shared.close(reason);
    }
    /// Whether the session is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.state().closed.is_some()
    }
}

/// A session's current request ([`Socket::current_request`]): derefs to its
/// [`http::request::Parts`] (method, URI, headers, extensions).
pub struct CurrentRequest<'a>(CurrentRepr<'a>);

enum CurrentRepr<'a> {
    Handshake(&'a http::request::Parts),
    Latest(Arc<http::request::Parts>),
}

impl std::ops::Deref for CurrentRequest<'_> {
    type Target = http::request::Parts;
    fn deref(&self) -> &http::request::Parts {
        match &self.0 {
            CurrentRepr::Handshake(p) => p,
            CurrentRepr::Latest(p) => p,
        }
    }
}

impl std::fmt::Debug for CurrentRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentRequest")
            .field("method", &self.method)
            .field("uri", &self.uri)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl<D> std::fmt::Debug for Socket<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.shared.id)
            .field("protocol", &self.shared.protocol)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_is_base64url_and_unique() {
        let a = Sid::random();
        let b = Sid::random();
        assert_ne!(a, b);
        assert!(a.as_str().bytes().all(|c| B64URL.contains(&c)));
        assert_eq!(Sid::parse(a.as_str()), Some(a));
        assert_eq!(Sid::parse("aaaaaaaaaaaaaaaaaaa+"), None);
        assert_eq!(Sid::parse(""), None);
    }
}
