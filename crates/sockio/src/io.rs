//! The server: [`SocketIo`], its builder and options.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use sockio_engine::{Cors, Engine, EngineConfig, Message, TransportKind};

use crate::adapter::{AdapterFactory, LocalAdapter};
use crate::client::SioHandler;
use crate::errors::ConfigError;
use crate::handler::{Handler, IntoReply};
use crate::ns::{Handlers, Namespace, NsInner, NsKind};
use crate::operators::{BroadcastOperator, IntoRooms};
use crate::protocol::{self, Packet};

/// How packets are encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parser {
    /// The default socket.io-parser (JSON text + binary attachments).
    #[default]
    Json,
    /// socket.io-msgpack-parser (one binary message per packet).
    MsgPack,
}

/// Socket.IO options (the Engine.IO ones live in [`EngineConfig`]).
#[derive(Debug, Clone)]
pub struct SioConfig {
    /// Close a connection that joins no namespace within this time (default 45 s, as Node).
    pub connect_timeout: Duration,
    /// Default timeout of emits that wait for an acknowledgement (default 10 s).
    pub ack_timeout: Duration,
    /// Whether a socket's event handlers run concurrently (default true, as
    /// Node and Flask-SocketIO's default `async_handlers=True`): each starts
    /// in arrival order, and one that waits (for an ack, a database) delays
    /// nothing else. `false` runs them one after another, each waiting for
    /// the previous one to finish (Flask-SocketIO's `async_handlers=False`).
    pub async_handlers: bool,
    /// Most event handlers of one connection that may be waiting at once
    /// (running, or queued when `async_handlers` is false) (default 128).
    /// At the bound the server stops reading from that connection (TCP
    /// backpressure, or a polling POST held) until handlers finish; its
    /// heartbeat timeout is suspended meanwhile.
    pub max_in_flight_events: usize,
    /// Most acknowledgements one socket may owe the server at once (emits
    /// with an ack awaiting the client's answer) (default 1024); past it,
    /// `emit_with_ack` fails with [`crate::AckError::TooManyPending`].
    pub max_pending_acks: usize,
    /// Most namespaces one connection may join (default 32); past it the
    /// CONNECT is refused with "too many namespaces".
    pub max_namespaces_per_connection: usize,
    /// Connection state recovery (default off; socket.io's
    /// `connectionStateRecovery`).
    pub recovery: Option<crate::RecoveryConfig>,
    /// Packet encoding.
    pub parser: Parser,
    /// Most binary attachments in one packet (default 10).
    pub max_attachments: usize,
    /// Deepest JSON nesting accepted (default 64).
    pub max_depth: usize,
    /// Per-message metrics (default false): packets and bytes in and out
    /// and the event handler latency histogram, in [`crate::Metrics`]. The
    /// other series of [`crate::SocketIo::metrics`] are there either way.
    pub metrics: bool,
}

impl Default for SioConfig {
    fn default() -> Self {
        SioConfig {
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(10),
            async_handlers: true,
            max_in_flight_events: 128,
            max_pending_acks: 1024,
            max_namespaces_per_connection: 32,
            recovery: None,
            parser: Parser::Json,
            max_attachments: 10,
            max_depth: 64,
            metrics: false,
        }
    }
}

pub(crate) struct IoInner {
    pub config: SioConfig,
    pub limits: protocol::Limits,
    pub namespaces: RwLock<HashMap<Arc<str>, Arc<NsInner>>>,
    pub dynamic: RwLock<Vec<DynamicNs>>,
    pub state: RwLock<http::Extensions>,
    pub adapter_factory: Box<dyn AdapterFactory>,
    /// Handlers for every namespace ([`SocketIo::all_namespaces`]): used
    /// where a namespace has none of its own.
    pub all: Arc<Handlers>,
    pub engine: RwLock<Option<Weak<Engine<SioHandler>>>>,
    #[cfg(feature = "tower-sessions")]
    pub http_sessions: Option<crate::http_session::HttpSessions>,
    /// What was refused, dropped or failed.
    pub stats: crate::stats::Counters,
    /// Per-message counters, with `metrics(true)` or the admin UI only.
    pub traffic: Option<Arc<crate::metrics::Traffic>>,
    /// The admin UI's reports (development mode only).
    pub admin: Option<Arc<crate::admin::AdminHooks>>,
    /// Connections that have not joined a namespace yet, oldest first.
    pub connect_deadlines: std::sync::Mutex<ConnectDeadlines>,
}

/// The connect timeout of every connection, served by one task per server
/// (not one per connection): deadlines are the open time plus the same
/// timeout, so they arrive in order and a queue suffices.
#[derive(Default)]
pub(crate) struct ConnectDeadlines {
    queue: std::collections::VecDeque<(tokio::time::Instant, Weak<crate::Conn>)>,
    running: bool,
}

impl IoInner {
    /// Closes `conn` if it has joined no namespace when the connect timeout passes.
    pub(crate) fn watch_connect(self: &Arc<Self>, conn: &Arc<crate::Conn>) {
        let deadline = tokio::time::Instant::now() + self.config.connect_timeout;
        let mut d = self.connect_deadlines.lock().unwrap();
        d.queue.push_back((deadline, Arc::downgrade(conn)));
        if d.running {
            return;
        }
        d.running = true;
        let io = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(inner) = io.upgrade() else { return };
                let now = tokio::time::Instant::now();
                let (expired, next) = {
                    let mut d = inner.connect_deadlines.lock().unwrap();
                    let n = d.queue.iter().take_while(|(t, _)| *t <= now).count();
                    let expired: Vec<_> = d.queue.drain(..n).map(|(_, c)| c).collect();
                    let next = d.queue.front().map(|(t, _)| *t);
                    if next.is_none() && expired.is_empty() {
                        d.running = false;
                        return;
                    }
                    (expired, next)
                };
                for conn in expired.iter().filter_map(Weak::upgrade) {
                    if !crate::client::ever_connected(&conn) && !conn.is_closed() {
                        tracing::debug!(
                            sid = conn.id().as_str(),
                            "no namespace joined in time: closing"
                        );
                        conn.close(sockio_engine::DisconnectReason::ServerClose);
                    }
                }
                drop(inner);
                if let Some(t) = next {
                    tokio::time::sleep_until(t).await;
                }
            }
        });
    }
}

/// One encoded packet: its Engine.IO messages (a packet and its binary
/// attachments), without a heap allocation for the common single message.
#[derive(Clone)]
pub(crate) enum Encoded {
    One([Message; 1]),
    Many(Vec<Message>),
}

impl Encoded {
    pub(crate) fn into_vec(self) -> Vec<Message> {
        match self {
            Encoded::One([m]) => vec![m],
            Encoded::Many(v) => v,
        }
    }

    /// The messages with the compress flag `on` (they have it by default).
    #[inline]
    pub(crate) fn compressed(self, on: bool) -> Self {
        if on {
            return self;
        }
        match self {
            Encoded::One([m]) => Encoded::One([m.with_compress(false)]),
            Encoded::Many(v) => {
                Encoded::Many(v.into_iter().map(|m| m.with_compress(false)).collect())
            }
        }
    }
}

impl std::ops::Deref for Encoded {
    type Target = [Message];
    fn deref(&self) -> &[Message] {
        match self {
            Encoded::One(m) => m,
            Encoded::Many(v) => v,
        }
    }
}

pub(crate) struct DynamicNs {
    pub matcher: Box<dyn Fn(&str) -> bool + Send + Sync>,
    pub handlers: Arc<Handlers>,
    pub children: Vec<Weak<NsInner>>,
}

impl IoInner {
    /// Encodes a packet once into the Engine.IO messages every receiver gets.
    ///
    /// The JSON text is written into a per-thread scratch buffer and copied
    /// into one exactly sized allocation: cheaper than growing a fresh `Vec`
    /// and converting it (which costs `Bytes` a second allocation).
    pub(crate) fn encode(&self, packet: &Packet) -> Encoded {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(256));
        }
        match self.config.parser {
            Parser::Json => SCRATCH.with(|scratch| {
                let mut buf = scratch.borrow_mut();
                buf.clear();
                buf.push(b'4');
                let attachments = protocol::encode_json(&mut buf, packet);
                debug_assert!(std::str::from_utf8(&buf).is_ok());
                // SAFETY: `buf` starts with `4` and the JSON encoder writes UTF-8
                // (strings come from Rust `String`s, escapes are ASCII).
                let text = unsafe {
                    Message::from_framed_text_unchecked(bytes::Bytes::copy_from_slice(&buf))
                };
                if buf.capacity() > 64 * 1024 {
                    // Do not keep a large packet's buffer for the thread's lifetime.
                    *buf = Vec::with_capacity(256);
                }
                if attachments.is_empty() {
                    Encoded::One([text])
                } else {
                    let mut all = Vec::with_capacity(1 + attachments.len());
                    all.push(text);
                    all.extend(attachments.into_iter().map(Message::binary));
                    Encoded::Many(all)
                }
            }),
            Parser::MsgPack => Encoded::One([Message::binary(protocol::encode_msgpack(packet))]),
        }
    }

    pub(crate) fn get_or_create_ns(self: &Arc<Self>, name: &str) -> Option<Arc<NsInner>> {
        if let Some(ns) = self.namespaces.read().unwrap().get(name) {
            return Some(ns.clone());
        }
        let mut dynamic = self.dynamic.write().unwrap();
        let d = dynamic.iter_mut().find(|d| (d.matcher)(name))?;
        let mut map = self.namespaces.write().unwrap();
        if let Some(ns) = map.get(name) {
            return Some(ns.clone());
        }
        let ns = NsInner::new(name, Arc::downgrade(self), d.handlers.clone());
        d.children.push(Arc::downgrade(&ns));
        map.insert(ns.name.clone(), ns.clone());
        Some(ns)
    }

    pub(crate) fn dynamic_children(&self, id: usize) -> Vec<Arc<NsInner>> {
        self.dynamic
            .read()
            .unwrap()
            .get(id)
            .map(|d| d.children.iter().filter_map(Weak::upgrade).collect())
            .unwrap_or_default()
    }
}

/// Builds a [`SocketIo`] server; every option is validated by [`SocketIoBuilder::build`].
///
/// ```
/// use std::time::Duration;
/// let io = sockio::SocketIo::builder()
///     .cors_allowed_origins(["http://localhost:3000"])
///     .ping_interval(Duration::from_secs(25))
///     .build()
///     .unwrap();
/// ```
#[must_use]
pub struct SocketIoBuilder {
    engine: sockio_engine::EngineConfigBuilder,
    config: SioConfig,
    state: http::Extensions,
    adapter: Box<dyn AdapterFactory>,
    errors: Vec<String>,
    admin: Option<crate::admin::AdminUi>,
    #[cfg(feature = "tower-sessions")]
    http_sessions: Option<crate::http_session::HttpSessions>,
}

impl SocketIoBuilder {
    fn new() -> Self {
        SocketIoBuilder {
            engine: EngineConfig::builder().path("/socket.io/"),
            config: SioConfig::default(),
            state: http::Extensions::new(),
            adapter: Box::new(LocalAdapter),
            errors: Vec::new(),
            admin: None,
            #[cfg(feature = "tower-sessions")]
            http_sessions: None,
        }
    }

    fn engine(
        mut self,
        f: impl FnOnce(sockio_engine::EngineConfigBuilder) -> sockio_engine::EngineConfigBuilder,
    ) -> Self {
        self.engine = f(self.engine);
        self
    }

    /// URL path of the endpoint (default `/socket.io/`).
    pub fn path(self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.engine(|e| e.path(path))
    }
    /// Server ping interval (default 25 s).
    pub fn ping_interval(self, d: Duration) -> Self {
        self.engine(|e| e.ping_interval(d))
    }
    /// How long to wait for a pong (default 20 s).
    pub fn ping_timeout(self, d: Duration) -> Self {
        self.engine(|e| e.ping_timeout(d))
    }
    /// Largest accepted message in bytes (default 1,000,000; Flask-SocketIO's `max_http_buffer_size`).
    pub fn max_payload(self, bytes: u64) -> Self {
        self.engine(|e| e.max_payload(bytes))
    }
    /// Most packets in one polling response (default 16; python-socketio
    /// clients drop the connection above 16).
    pub fn max_packets_per_poll(self, n: usize) -> Self {
        self.engine(|e| e.max_packets_per_poll(n))
    }
    /// Outgoing queue length per connection (default 1024): past it, volatile
    /// packets are dropped and the connection is closed with "send queue full".
    pub fn max_buffered_packets(self, n: usize) -> Self {
        self.engine(|e| e.max_buffered_packets(n))
    }
    /// Transports accepted (default both).
    pub fn transports(self, t: impl IntoIterator<Item = TransportKind>) -> Self {
        let t: Vec<_> = t.into_iter().collect();
        self.engine(|e| e.transports(t))
    }
    /// Whether polling clients may upgrade to WebSocket (default true).
    pub fn allow_upgrades(self, allow: bool) -> Self {
        self.engine(|e| e.allow_upgrades(allow))
    }
    /// Accept socket.io-client 1.x/2.x (Engine.IO v3, Socket.IO protocol v4) (default false).
    pub fn allow_eio3(self, allow: bool) -> Self {
        self.engine(|e| e.allow_eio3(allow))
    }
    /// CORS: allowed origins; `["*"]` allows any.
    pub fn cors_allowed_origins<I, S>(self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let origins: Vec<String> = origins.into_iter().map(Into::into).collect();
        let cors = if origins.iter().any(|o| o == "*") {
            Cors::any()
        } else {
            Cors::origins(origins)
        };
        self.engine(|e| e.cors(cors))
    }
    /// CORS with full control.
    pub fn cors(self, cors: Cors) -> Self {
        self.engine(|e| e.cors(cors))
    }
    /// An async check of every handshake (before the connection exists):
    /// `Err(Refusal)` refuses it with HTTP 403 `{"code":4,"message":...}`.
    /// See [`sockio_engine::EngineConfigBuilder::allow_request`].
    pub fn allow_request<F, Fut>(self, f: F) -> Self
    where
        F: Fn(sockio_engine::HandshakeRequest) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), sockio_engine::Refusal>> + Send + 'static,
    {
        self.engine(|e| e.allow_request(f))
    }
    /// Adds headers to the handshake response (Node's `initial_headers`),
    /// e.g. another `Set-Cookie`.
    pub fn on_initial_headers(
        self,
        f: impl Fn(&mut http::HeaderMap, &http::request::Parts) + Send + Sync + 'static,
    ) -> Self {
        self.engine(|e| e.on_initial_headers(f))
    }
    /// Adds headers to every response of the endpoint (Node's `headers`).
    pub fn on_headers(
        self,
        f: impl Fn(&mut http::HeaderMap, &http::request::Parts) + Send + Sync + 'static,
    ) -> Self {
        self.engine(|e| e.on_headers(f))
    }
    /// Most connections open at once (default 100,000; `None`: no limit);
    /// further handshakes get HTTP 503.
    pub fn max_connections(self, n: impl Into<Option<usize>>) -> Self {
        let n = n.into();
        self.engine(|e| e.max_connections(n))
    }
    /// Deadline of a polling request body (default: `ping_timeout`); a body
    /// that trickles past it is answered 408 and the connection closed.
    pub fn request_body_timeout(self, d: Duration) -> Self {
        self.engine(|e| e.request_body_timeout(d))
    }
    /// WebSocket permessage-deflate for clients that offer it (default off,
    /// as in Node): messages of 1 KiB and more are compressed, except those
    /// emitted with `compress(false)`. See
    /// [`EngineConfigBuilder::per_message_deflate`](sockio_engine::EngineConfigBuilder::per_message_deflate)
    /// (the threshold is `per_message_deflate_threshold`, through
    /// [`engine_options`](Self::engine_options)).
    pub fn per_message_deflate(self, on: bool) -> Self {
        self.engine(|e| e.per_message_deflate(on))
    }
    /// Any other Engine.IO option.
    pub fn engine_options(
        self,
        f: impl FnOnce(sockio_engine::EngineConfigBuilder) -> sockio_engine::EngineConfigBuilder,
    ) -> Self {
        self.engine(f)
    }
    /// See [`SioConfig::connect_timeout`].
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        if d.is_zero() {
            self.errors
                .push("connect_timeout must be more than zero".into());
        }
        self.config.connect_timeout = d;
        self
    }
    /// See [`SioConfig::ack_timeout`].
    pub fn ack_timeout(mut self, d: Duration) -> Self {
        if d.is_zero() {
            self.errors
                .push("ack_timeout must be more than zero".into());
        }
        self.config.ack_timeout = d;
        self
    }
    /// See [`SioConfig::async_handlers`] (Flask-SocketIO's option of the
    /// same name; default true).
    pub fn async_handlers(mut self, concurrent: bool) -> Self {
        self.config.async_handlers = concurrent;
        self
    }
    /// See [`SioConfig::max_in_flight_events`].
    pub fn max_in_flight_events(mut self, n: usize) -> Self {
        if n == 0 {
            self.errors
                .push("max_in_flight_events must be at least 1".into());
        }
        self.config.max_in_flight_events = n;
        self
    }
    /// See [`SioConfig::max_pending_acks`].
    pub fn max_pending_acks(mut self, n: usize) -> Self {
        if n == 0 {
            self.errors
                .push("max_pending_acks must be at least 1".into());
        }
        self.config.max_pending_acks = n;
        self
    }
    /// See [`SioConfig::max_namespaces_per_connection`].
    pub fn max_namespaces_per_connection(mut self, n: usize) -> Self {
        if n == 0 {
            self.errors
                .push("max_namespaces_per_connection must be at least 1".into());
        }
        self.config.max_namespaces_per_connection = n;
        self
    }
    /// Turns on connection state recovery (socket.io's
    /// `connectionStateRecovery`): a client that comes back within
    /// `max_disconnection_duration` gets its socket id, rooms, session data
    /// and the events it missed. See [`crate::RecoveryConfig`].
    pub fn connection_state_recovery(mut self, config: crate::RecoveryConfig) -> Self {
        if config.max_disconnection_duration.is_zero() {
            self.errors
                .push("max_disconnection_duration must be more than zero".into());
        }
        if config.max_buffered_events == 0 {
            self.errors
                .push("max_buffered_events must be at least 1".into());
        }
        self.config.recovery = Some(config);
        self
    }
    /// See [`SioConfig::parser`].
    pub fn parser(mut self, parser: Parser) -> Self {
        self.config.parser = parser;
        self
    }
    /// See [`SioConfig::max_attachments`].
    pub fn max_attachments(mut self, n: usize) -> Self {
        self.config.max_attachments = n;
        self
    }
    /// See [`SioConfig::max_depth`].
    pub fn max_depth(mut self, n: usize) -> Self {
        if n == 0 {
            self.errors.push("max_depth must be at least 1".into());
        }
        self.config.max_depth = n;
        self
    }
    /// See [`SioConfig::metrics`]: also counts every message in and out and
    /// times every event handler, for [`SocketIo::metrics`] (and
    /// [`crate::serve`] serves them at `/metrics`).
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }
    /// Instruments the server for the Socket.IO admin UI (the
    /// `@socket.io/admin-ui` page): its namespace, stats and actions. See
    /// [`crate::admin`]. Turns on the per-message counters (its charts use
    /// them).
    pub fn admin_ui(mut self, options: crate::admin::AdminUi) -> Self {
        if let Err(e) = options.check() {
            self.errors.push(e);
        }
        self.admin = Some(options);
        self
    }
    /// Shared state reachable in handlers through [`crate::State<T>`].
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, state: T) -> Self {
        self.state.insert(state);
        self
    }
    /// The cluster adapter (default [`LocalAdapter`]).
    pub fn adapter(mut self, factory: impl AdapterFactory) -> Self {
        self.adapter = Box::new(factory);
        self
    }

    /// The store of the page's HTTP sessions ([tower-sessions]): each
    /// socket's [`crate::Session`] starts as a copy of the HTTP session its
    /// connection's handshake carried (Flask-SocketIO's managed session;
    /// changes stay with the socket). See [`SocketIoBuilder::manage_session`]
    /// and the [`crate::HttpSession`] extractor.
    ///
    /// [tower-sessions]: https://docs.rs/tower-sessions
    #[cfg(feature = "tower-sessions")]
    pub fn http_sessions(mut self, store: impl tower_sessions_core::SessionStore) -> Self {
        self.http_sessions = Some(crate::http_session::HttpSessions {
            store: Arc::new(store),
            copy: true,
        });
        self
    }

    /// `false` (Flask-SocketIO's `manage_session=False`): sockets do not
    /// get a copy of the HTTP session; handlers use the live one through
    /// the [`crate::HttpSession`] extractor. Default `true`.
    #[cfg(feature = "tower-sessions")]
    pub fn manage_session(mut self, manage: bool) -> Self {
        if let Some(h) = &mut self.http_sessions {
            h.copy = manage;
        }
        self
    }

    /// Validates the options and creates the server (with namespace `/`).
    pub fn build(self) -> Result<SocketIo, ConfigError> {
        if let Some(e) = self.errors.into_iter().next() {
            return Err(ConfigError::Invalid(e));
        }
        let engine_config = self.engine.build()?;
        let limits = protocol::Limits {
            max_attachments: self.config.max_attachments,
            max_depth: self.config.max_depth,
        };
        let traffic = (self.config.metrics || self.admin.is_some()).then(Arc::default);
        let admin_hooks = self
            .admin
            .as_ref()
            .filter(|a| a.verbose())
            .map(|_| Arc::new(crate::admin::AdminHooks::new()));
        let inner = Arc::new(IoInner {
            traffic,
            admin: admin_hooks.clone(),
            config: self.config,
            limits,
            namespaces: RwLock::default(),
            dynamic: RwLock::default(),
            state: RwLock::new(self.state),
            adapter_factory: self.adapter,
            all: Arc::default(),
            engine: RwLock::default(),
            connect_deadlines: Default::default(),
            stats: Default::default(),
            #[cfg(feature = "tower-sessions")]
            http_sessions: self.http_sessions,
        });
        let engine = Engine::new(engine_config, SioHandler { io: inner.clone() });
        *inner.engine.write().unwrap() = Some(Arc::downgrade(&engine));
        let io = SocketIo { inner, engine };
        io.of("/");
        if let Some(admin) = self.admin {
            crate::admin::install(&io, admin, admin_hooks);
        }
        Ok(io)
    }
}

/// A Socket.IO server: register handlers, emit from anywhere, mount it
/// (`io.layer()` in axum, or [`crate::serve`]).
///
/// Cheap to clone; all clones are the same server.
#[derive(Clone)]
pub struct SocketIo {
    pub(crate) inner: Arc<IoInner>,
    pub(crate) engine: Arc<Engine<SioHandler>>,
}

impl SocketIo {
    /// Starts building a server.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::new()
    }

    pub(crate) fn from_inner(inner: Arc<IoInner>) -> Self {
        let engine = inner
            .engine
            .read()
            .unwrap()
            .as_ref()
            .and_then(Weak::upgrade)
            .expect("engine alive");
        SocketIo { inner, engine }
    }

    /// The namespace `name` (created on first use). `"/chat"` and `"chat"` are the same.
    pub fn of(&self, name: &str) -> Namespace {
        let name = normalize_ns(name);
        if let Some(ns) = self.inner.namespaces.read().unwrap().get(name.as_str()) {
            return Namespace {
                kind: NsKind::Static(ns.clone()),
            };
        }
        let mut map = self.inner.namespaces.write().unwrap();
        let ns = map
            .entry(name.as_str().into())
            .or_insert_with(|| NsInner::new(&name, Arc::downgrade(&self.inner), Arc::default()))
            .clone();
        Namespace {
            kind: NsKind::Static(ns),
        }
    }

    /// A dynamic namespace: every namespace name for which `matcher` returns
    /// true is created when a client first connects to it, with the handlers
    /// registered on the returned [`Namespace`] (Flask-SocketIO's
    /// `namespace='*'`, Node's `io.of(regex)`).
    ///
    /// ```
    /// let io = sockio::SocketIo::builder().build().unwrap();
    /// let workspaces = io.of_dynamic(|name| name.starts_with("/workspace-"));
    /// workspaces.on("ping", || async { "pong" });
    /// ```
    pub fn of_dynamic(&self, matcher: impl Fn(&str) -> bool + Send + Sync + 'static) -> Namespace {
        let handlers = Arc::<Handlers>::default();
        let mut d = self.inner.dynamic.write().unwrap();
        d.push(DynamicNs {
            matcher: Box::new(matcher),
            handlers: handlers.clone(),
            children: Vec::new(),
        });
        Namespace {
            kind: NsKind::Dynamic {
                handlers,
                io: Arc::downgrade(&self.inner),
                id: d.len() - 1,
            },
        }
    }

    /// Handlers for every namespace (Flask-SocketIO's `namespace='*'`):
    /// an event, connect, disconnect or error handler registered here runs
    /// in any namespace that has none of its own for it (registered,
    /// dynamic, or created later); middlewares registered here run before
    /// each namespace's own. Emitting from it reaches every namespace.
    ///
    /// It does not make new namespace names connectable: add
    /// `io.of_dynamic(|_| true)` to accept any name a client asks for.
    ///
    /// ```
    /// use sockio::{Socket, SocketIo};
    /// let io = SocketIo::builder().build().unwrap();
    /// // @socketio.on('ping', namespace='*')
    /// io.all_namespaces().on("ping", |s: Socket| async move { s.namespace().to_owned() });
    /// io.of("/chat"); // `/chat` answers `ping` too
    /// ```
    pub fn all_namespaces(&self) -> Namespace {
        Namespace {
            kind: NsKind::All {
                handlers: self.inner.all.clone(),
                io: Arc::downgrade(&self.inner),
            },
        }
    }

    /// The namespace `name` if it exists (registered with [`SocketIo::of`],
    /// or a dynamic namespace's child a client created); unlike `of`, never
    /// creates it.
    pub fn get_namespace(&self, name: &str) -> Option<Namespace> {
        let name = normalize_ns(name);
        let ns = self
            .inner
            .namespaces
            .read()
            .unwrap()
            .get(name.as_str())
            .cloned()?;
        Some(Namespace {
            kind: NsKind::Static(ns),
        })
    }

    /// The names of the namespaces that exist now.
    pub fn namespace_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .namespaces
            .read()
            .unwrap()
            .keys()
            .map(|k| k.to_string())
            .collect();
        v.sort();
        v
    }

    /// Catch-all event handler of `/` (see [`Namespace::on_any`]).
    pub fn on_any<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        self.of("/").on_any(handler);
        self
    }

    /// Error handler of `/` (Flask-SocketIO's `@socketio.on_error()`; see
    /// [`Namespace::on_error`]).
    pub fn on_error<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        self.of("/").on_error(handler);
        self
    }

    /// Handles `event` on the `/` namespace (Flask-SocketIO's `@socketio.on`).
    pub fn on<H, T>(&self, event: &str, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        self.of("/").on(event, handler);
        self
    }

    /// Handles a server-side event on `/` (see [`Namespace::on_server_side`]).
    pub fn on_server_side<H, T>(&self, event: &str, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        self.of("/").on_server_side(event, handler);
        self
    }

    /// Sends a server-side event from `/` to the other servers (see
    /// [`Namespace::server_side_emit`]).
    pub async fn server_side_emit<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        self.of("/").server_side_emit(event, data).await
    }

    /// As [`SocketIo::server_side_emit`], collecting the other servers'
    /// acknowledgements (see [`Namespace::server_side_emit_with_ack`]).
    pub async fn server_side_emit_with_ack<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: std::time::Duration,
    ) -> Result<crate::BroadcastAcks, crate::EmitError> {
        self.of("/")
            .server_side_emit_with_ack(event, data, timeout)
            .await
    }

    /// The sockets of `/` on every node (Node's `io.fetchSockets()`).
    pub async fn fetch_sockets(&self) -> Result<Vec<crate::RemoteSocket>, crate::AdapterError> {
        self.of("/").fetch_sockets().await
    }

    /// Waits until the cluster adapter of every namespace created so far is
    /// ready (a Redis adapter: subscribed, so that the other servers count
    /// this one). Call it after registering namespaces and before serving;
    /// with the in-memory adapter it returns at once.
    ///
    /// ```
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let io = sockio::SocketIo::builder().build()?;
    /// io.of("/chat");
    /// io.adapter_ready().await?;
    /// # Ok(()) }
    /// ```
    pub async fn adapter_ready(&self) -> Result<(), crate::AdapterError> {
        let namespaces: Vec<_> = self
            .inner
            .namespaces
            .read()
            .unwrap()
            .values()
            .cloned()
            .collect();
        for ns in namespaces {
            ns.adapter().ready().await?;
        }
        Ok(())
    }

    /// How many servers share namespace `/`, this one included (Node's
    /// `io.serverCount()`).
    pub async fn server_count(&self) -> Result<usize, crate::AdapterError> {
        self.of("/").server_count().await
    }

    /// Connect handler of `/` (see [`Namespace::on_connect`]).
    pub fn on_connect<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: crate::IntoConnect,
    {
        self.of("/").on_connect(handler);
        self
    }

    /// Connect middleware of `/` (Node's `io.use`; see [`Namespace::middleware`]).
    pub fn middleware<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: crate::IntoConnect,
    {
        self.of("/").middleware(handler);
        self
    }

    /// Disconnect handler of `/` (see [`Namespace::on_disconnect`]).
    pub fn on_disconnect<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
    {
        self.of("/").on_disconnect(handler);
        self
    }

    /// The default error handler, for namespaces without their own
    /// (Flask-SocketIO's `@socketio.on_error_default`; the same as
    /// `io.all_namespaces().on_error(..)`). Without one, a failure is logged
    /// and a client that asked for an ack gets `{"error": message}`.
    pub fn on_error_default<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        self.all_namespaces().on_error(handler);
        self
    }

    /// Targets `rooms` of namespace `/` (server-side emit from anywhere).
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.of("/").to(rooms)
    }

    /// Removes every socket of namespace `/` from `room` (Flask-SocketIO's `close_room`).
    pub async fn close_room(&self, room: &str) -> Result<(), crate::AdapterError> {
        self.of("/").close_room(room).await
    }

    /// Emits to every socket of namespace `/`, from anywhere (an HTTP route, a task).
    pub async fn emit<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        self.of("/").emit(event, data).await
    }

    /// Sends a `message` event to every socket of `/`.
    pub async fn send<T: serde::Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        self.of("/").send(data).await
    }

    /// Adds shared state after the server is built (for state that needs
    /// the server itself, say a namespace to emit on); handlers get it with
    /// [`crate::State<T>`]. Replaces state of the same type.
    ///
    /// ```
    /// #[derive(Clone)]
    /// struct Rooms { chat: sockio::Namespace }
    /// let io = sockio::SocketIo::builder().build().unwrap();
    /// io.insert_state(Rooms { chat: io.of("/chat") });
    /// ```
    pub fn insert_state<T: Clone + Send + Sync + 'static>(&self, state: T) {
        self.inner.state.write().unwrap().insert(state);
    }

    /// The options in force.
    pub fn config(&self) -> &SioConfig {
        &self.inner.config
    }

    /// The Engine.IO options in force.
    pub fn engine_config(&self) -> &EngineConfig {
        self.engine.config()
    }

    /// The Socket.IO layer's counters: refusals, failures, drops.
    pub fn stats(&self) -> crate::Stats {
        self.inner.stats.snapshot()
    }

    /// The server's Prometheus metrics (see [`crate::Metrics`]): a handle that
    /// renders them and serves them as a tower service. Per-message series
    /// need [`SocketIoBuilder::metrics`]`(true)`.
    pub fn metrics(&self) -> crate::Metrics {
        crate::Metrics::new(&self.inner, &self.engine)
    }

    /// Number of open connections (Engine.IO sessions).
    pub fn connection_count(&self) -> usize {
        self.engine.session_count()
    }

    /// The Engine.IO counters: refused handshakes and closed connections by
    /// reason, limits that fired (see [`sockio_engine::EngineStats`]).
    pub fn engine_stats(&self) -> sockio_engine::EngineStats {
        self.engine.stats()
    }

    /// A tower layer serving the endpoint and passing other requests to the
    /// wrapped service (an axum `Router`).
    ///
    /// ```no_run
    /// # async fn f() {
    /// let io = sockio::SocketIo::builder().build().unwrap();
    /// let app = axum::Router::new()
    ///     .route("/", axum::routing::get(|| async { "hello" }))
    ///     .layer(io.layer());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
    /// axum::serve(listener, app).await.unwrap();
    /// # }
    /// ```
    pub fn layer(&self) -> sockio_engine::EngineLayer<SioHandler> {
        self.engine.layer()
    }

    /// A standalone service (404 for other paths).
    pub fn service(&self) -> sockio_engine::EngineService<SioHandler, sockio_engine::NotFound> {
        self.engine.service()
    }

    /// Closes every connection with the reason "server shutting down" (their
    /// disconnect handlers run).
    pub async fn close(&self) {
        self.engine
            .close_all(sockio_engine::DisconnectReason::ServerShutdown)
            .await;
    }
}

pub(crate) fn normalize_ns(name: &str) -> String {
    if name.starts_with('/') {
        name.to_string()
    } else {
        format!("/{name}")
    }
}
