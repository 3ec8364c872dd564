//! The Socket.IO admin UI's server side ([`AdminUi`]): the namespace that
//! the hosted `@socket.io/admin-ui` page talks to (by default `/admin`),
//! speaking the protocol of the npm package's `instrument()` (0.5.x).
//!
//! What it sends the UI: `config` (the features it offers), `server_stats`
//! every 2 s (server id, hostname, pid, uptime, clients and polling clients,
//! the namespaces with their socket counts, and aggregated events: new and
//! closed connections, packets and bytes in and out), and in development
//! mode `all_sockets` at connect and, as they happen, `socket_connected`,
//! `socket_disconnected`, `room_joined`, `room_left`, `event_received`,
//! `event_sent`. What it does for the UI unless read-only: `emit`, `join`,
//! `leave`, `_disconnect`, on all sockets of a namespace or those in a room.
//!
//! With a cluster adapter, the actions reach every node, and each node's
//! admin namespace reports its own sockets and events.
//!
//! The UI itself is a static build shipped in the npm package
//! (`node_modules/@socket.io/admin-ui/ui/dist`); serve it with
//! [`crate::Serve::mount_dir`] and connect it to this server.
//!
//! The hooks cost nothing when the admin UI is not configured (one branch
//! on an `Option` at a socket's connect, disconnect and room change), and in
//! production mode nothing per socket either.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant, SystemTime};

use sockio_engine::{DisconnectReason as EngineReason, TransportKind};

use crate::adapter::BroadcastOptions;
use crate::extract::Args;
use crate::io::IoInner;
use crate::ns::NsInner;
use crate::protocol::{Packet, Value};
use crate::{ConnectError, Socket, SocketIo};

/// Which events the admin namespace reports (the npm package's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AdminMode {
    /// Every socket, room change and event, as it happens (default).
    #[default]
    Development,
    /// Only `server_stats`: no per-socket reporting (cheaper on a busy server).
    Production,
}

/// The admin UI's options; give it to
/// [`crate::SocketIoBuilder::admin_ui`].
///
/// Authentication must be chosen: [`AdminUi::basic_auth`] with a bcrypt
/// hash of the password (as the npm package), or [`AdminUi::no_auth`].
///
/// ```
/// use sockio::admin::AdminUi;
/// let hash = bcrypt::hash("changeit", 4).unwrap(); // store the hash, not the password
/// let io = sockio::SocketIo::builder()
///     .admin_ui(AdminUi::new().basic_auth("admin", hash).read_only(true))
///     .build()
///     .unwrap();
/// # drop(io);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AdminUi {
    pub(crate) namespace: String,
    auth: Option<Option<(String, String)>>,
    read_only: bool,
    mode: AdminMode,
    server_id: Option<String>,
    stats_interval: Duration,
}

impl Default for AdminUi {
    fn default() -> Self {
        Self::new()
    }
}

impl AdminUi {
    /// The defaults: namespace `/admin`, development mode, actions allowed,
    /// stats every 2 s; authentication still to choose.
    pub fn new() -> Self {
        AdminUi {
            namespace: "/admin".into(),
            auth: None,
            read_only: false,
            mode: AdminMode::Development,
            server_id: None,
            stats_interval: Duration::from_secs(2),
        }
    }

    /// Basic authentication: the UI's username and password must match;
    /// `bcrypt_hash` is the password's bcrypt hash (`$2b$...`, as
    /// `bcrypt.hash` in Node or `htpasswd -bnBC 10` make).
    pub fn basic_auth(
        mut self,
        username: impl Into<String>,
        bcrypt_hash: impl Into<String>,
    ) -> Self {
        self.auth = Some(Some((username.into(), bcrypt_hash.into())));
        self
    }

    /// No authentication: anyone who reaches the server may watch it (and
    /// act on its sockets unless read-only). An explicit choice, as the npm
    /// package's `auth: false`.
    pub fn no_auth(mut self) -> Self {
        self.auth = Some(None);
        self
    }

    /// Only watching: the UI's actions (emit, join, leave, disconnect) are
    /// not offered and not handled (the npm package's `readonly`).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The admin namespace (default `/admin`; the npm package's `namespaceName`).
    pub fn namespace(mut self, name: impl Into<String>) -> Self {
        self.namespace = crate::io::normalize_ns(&name.into());
        self
    }

    /// See [`AdminMode`] (default development).
    pub fn mode(mut self, mode: AdminMode) -> Self {
        self.mode = mode;
        self
    }

    /// The server's id in the UI (default the hostname).
    pub fn server_id(mut self, id: impl Into<String>) -> Self {
        self.server_id = Some(id.into());
        self
    }

    /// How often `server_stats` is sent (default 2 s, as the npm package).
    pub fn stats_interval(mut self, every: Duration) -> Self {
        self.stats_interval = every;
        self
    }

    /// What is wrong with the options, if anything.
    pub(crate) fn check(&self) -> Result<(), String> {
        match &self.auth {
            None => Err("admin UI: choose basic_auth(..) or no_auth()".into()),
            Some(Some((_, hash))) if hash.parse::<bcrypt::HashParts>().is_err() => {
                Err("admin UI: the password must be a bcrypt hash".into())
            }
            _ if self.stats_interval.is_zero() => {
                Err("admin UI: stats_interval must be more than zero".into())
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn verbose(&self) -> bool {
        self.mode == AdminMode::Development
    }
}

/// Reports to the admin namespace, called from the socket and room code
/// (development mode only).
pub(crate) struct AdminHooks {
    ns: OnceLock<Weak<NsInner>>,
}

impl AdminHooks {
    pub(crate) fn new() -> Self {
        AdminHooks {
            ns: OnceLock::new(),
        }
    }

    fn admin_ns(&self) -> Option<Arc<NsInner>> {
        self.ns.get().and_then(Weak::upgrade)
    }

    fn emit(&self, event: &str, args: Vec<Value>) {
        let Some(ns) = self.admin_ns() else { return };
        let packet = Packet::event(crate::util::wire_nsp(&ns.name), event, args, None);
        ns.local_broadcast(&packet, &BroadcastOptions::default(), None);
    }

    pub(crate) fn socket_connected(&self, s: &Socket) {
        self.emit("socket_connected", vec![serialize(s), now()]);
    }

    pub(crate) fn socket_disconnected(&self, nsp: &str, id: &str, reason: &str) {
        self.emit(
            "socket_disconnected",
            vec![nsp.into(), id.into(), reason.into(), now()],
        );
    }

    pub(crate) fn room_joined(&self, nsp: &str, room: &str, id: &str) {
        self.emit(
            "room_joined",
            vec![nsp.into(), room.into(), id.into(), now()],
        );
    }

    pub(crate) fn room_left(&self, nsp: &str, room: &str, id: &str) {
        self.emit("room_left", vec![nsp.into(), room.into(), id.into(), now()]);
    }

    fn is_admin(&self, nsp: &str) -> bool {
        self.admin_ns().is_some_and(|ns| &*ns.name == nsp)
    }

    /// An event a client sent (its name and arguments).
    pub(crate) fn event_received(&self, nsp: &str, id: &str, event: &str, args: &[Value]) {
        if self.is_admin(nsp) {
            return;
        }
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(Value::from(event));
        all.extend_from_slice(args);
        self.emit(
            "event_received",
            vec![nsp.into(), id.into(), Value::Array(all), now()],
        );
    }

    /// An event the server emitted to one socket.
    pub(crate) fn event_sent(&self, nsp: &str, id: &str, packet: &Packet) {
        if self.is_admin(nsp) {
            return;
        }
        let args = packet.data.clone().unwrap_or(Value::Array(Vec::new()));
        self.emit("event_sent", vec![nsp.into(), id.into(), args, now()]);
    }
}

fn now() -> Value {
    Value::from(crate::handshake::iso_date(SystemTime::now()))
}

/// A socket as the UI shows it (the npm package's `serialize`).
fn serialize(s: &Socket) -> Value {
    let h = s.handshake();
    let forwarded = ["cf-connecting-ip", "x-forwarded-for"]
        .iter()
        .find_map(|k| h.headers.get(*k).and_then(|v| v.to_str().ok()))
        .map(str::to_owned);
    let mut hs = h.to_value();
    if let Value::Object(m) = &mut hs {
        m.remove("auth");
        if let Some(a) = forwarded {
            m.insert("address", Value::from(a));
        }
    }
    let transport = match s.transport() {
        TransportKind::Polling => "polling",
        TransportKind::WebSocket => "websocket",
    };
    let engine_id = s.0.conn.id();
    let client_id: String = engine_id.as_str().chars().take(12).collect();
    let mut v = crate::value!({
        "id": s.id().as_str(),
        "clientId": client_id,
        "transport": transport,
        "nsp": s.namespace(),
    });
    v.insert("data", s.session().to_value());
    v.insert("handshake", hs);
    v.insert(
        "rooms",
        Value::Array(s.rooms().iter().map(|r| Value::from(&**r)).collect()),
    );
    v
}

/// The admin namespace's state.
struct AdminState {
    options: AdminUi,
    sessions: Mutex<HashSet<String>>,
    started: Instant,
    stats_running: AtomicBool,
    server_id: String,
    hostname: String,
    /// Totals at the last `server_stats`, for the aggregated events.
    last: Mutex<Totals>,
}

#[derive(Default, Clone)]
struct Totals {
    opened: u64,
    closed: Vec<u64>,
    traffic: [u64; 4],
}

const CLOSES: [EngineReason; 9] = [
    EngineReason::TransportClose,
    EngineReason::TransportError,
    EngineReason::PingTimeout,
    EngineReason::ParseError,
    EngineReason::PayloadTooLarge,
    EngineReason::ProtocolViolation,
    EngineReason::SlowConsumer,
    EngineReason::ServerClose,
    EngineReason::ServerShutdown,
];

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl AdminState {
    fn totals(&self, io: &SocketIo) -> Totals {
        let es = io.engine.stats();
        Totals {
            opened: es.sessions_opened,
            closed: CLOSES.iter().map(|r| es.closed(*r)).collect(),
            traffic: io
                .inner
                .traffic
                .as_ref()
                .map(|t| t.io_totals())
                .unwrap_or_default(),
        }
    }

    /// The `server_stats` payload; the aggregated events are what happened
    /// since the last one.
    fn server_stats(&self, io: &SocketIo) -> Value {
        let (mut clients, mut polling) = (0u64, 0u64);
        io.engine.for_each_session(|c| {
            clients += 1;
            if c.transport() == TransportKind::Polling {
                polling += 1;
            }
        });
        let now = self.totals(io);
        let prev = std::mem::replace(&mut *self.last.lock().unwrap(), now.clone());
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let timestamp = secs * 1000;
        let mut events = Vec::new();
        let mut push = |kind: &str, sub: Option<&str>, count: u64| {
            if count > 0 {
                let mut e = crate::value!({"timestamp": timestamp, "type": kind, "count": count});
                if let Some(s) = sub {
                    e.insert("subType", s);
                }
                events.push(e);
            }
        };
        push(
            "rawConnection",
            None,
            now.opened.saturating_sub(prev.opened),
        );
        for (i, r) in CLOSES.iter().enumerate() {
            let before = prev.closed.get(i).copied().unwrap_or(0);
            push(
                "rawDisconnection",
                Some(r.as_str()),
                now.closed[i].saturating_sub(before),
            );
        }
        for (i, kind) in ["packetsIn", "bytesIn", "packetsOut", "bytesOut"]
            .iter()
            .enumerate()
        {
            push(kind, None, now.traffic[i].saturating_sub(prev.traffic[i]));
        }
        let mut namespaces: Vec<(String, usize)> = io
            .inner
            .namespaces
            .read()
            .unwrap()
            .values()
            .map(|ns| (ns.name.to_string(), ns.sockets.read().unwrap().len()))
            .collect();
        namespaces.sort();
        let mut v = crate::value!({
            "serverId": self.server_id.as_str(),
            "hostname": self.hostname.as_str(),
            "pid": std::process::id(),
            "uptime": self.started.elapsed().as_secs_f64(),
            "clientsCount": clients,
            "pollingClientsCount": polling,
        });
        v.insert("aggregatedEvents", Value::Array(events));
        v.insert(
            "namespaces",
            Value::Array(
                namespaces
                    .into_iter()
                    .map(|(name, n)| crate::value!({"name": name, "socketsCount": n}))
                    .collect(),
            ),
        );
        v
    }

    fn features(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if !self.options.read_only {
            f.extend([
                "EMIT",
                "JOIN",
                "LEAVE",
                "DISCONNECT",
                "MJOIN",
                "MLEAVE",
                "MDISCONNECT",
            ]);
        }
        f.push("AGGREGATED_EVENTS");
        if self.options.verbose() {
            f.push("ALL_EVENTS");
        }
        f
    }

    /// Sends `server_stats` every interval while the server lives.
    fn start_stats(self: &Arc<Self>, io: &SocketIo) {
        if self.stats_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let io_weak: Weak<IoInner> = Arc::downgrade(&io.inner);
        let state = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state.options.stats_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = io_weak.upgrade() else {
                    return;
                };
                let io = SocketIo::from_inner(inner);
                let Some(ns) = io.get_namespace(&state.options.namespace) else {
                    return;
                };
                let stats = state.server_stats(&io);
                let _ = ns.emit("server_stats", &stats).await;
            }
        });
    }
}

/// Sets up the admin namespace on a server just built.
pub(crate) fn install(io: &SocketIo, options: AdminUi, hooks: Option<Arc<AdminHooks>>) {
    let ns = io.of(&options.namespace);
    if let (Some(h), Some(crate::ns::NsKind::Static(inner))) = (&hooks, Some(&ns.kind)) {
        let _ = h.ns.set(Arc::downgrade(inner));
    }
    let state = Arc::new(AdminState {
        server_id: options.server_id.clone().unwrap_or_else(hostname),
        hostname: hostname(),
        sessions: Mutex::default(),
        started: Instant::now(),
        stats_running: AtomicBool::new(false),
        last: Mutex::default(),
        options,
    });
    *state.last.lock().unwrap() = state.totals(io);

    if let Some(Some((user, hash))) = state.options.auth.clone() {
        let st = state.clone();
        let user: Arc<str> = user.into();
        let hash: Arc<str> = hash.into();
        ns.middleware(move |s: Socket| {
            let (st, user, hash) = (st.clone(), user.clone(), hash.clone());
            async move {
                let auth = s.auth().cloned().unwrap_or_default();
                if let Some(Value::String(sid)) = auth.get("sessionId") {
                    if st.sessions.lock().unwrap().contains(sid.as_str()) {
                        return Ok(());
                    }
                }
                let given_user = auth.get("username").and_then(|v| v.as_str());
                let password = auth
                    .get("password")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                if given_user == Some(&*user) {
                    let ok = tokio::task::spawn_blocking(move || {
                        bcrypt::verify(password, &hash).unwrap_or(false)
                    })
                    .await
                    .unwrap_or(false);
                    if ok {
                        let sid = crate::util::random_id();
                        st.sessions.lock().unwrap().insert(sid.clone());
                        let _ = s.emit("session", &sid).await;
                        return Ok(());
                    }
                }
                tracing::debug!(sid = %s.id(), "admin UI: invalid credentials");
                Err(ConnectError::new("invalid credentials"))
            }
        });
    } else {
        tracing::warn!("admin UI: authentication is disabled");
    }

    let st = state.clone();
    ns.on_connect(move |s: Socket| {
        let st = st.clone();
        async move {
            let io = s.io();
            st.start_stats(&io);
            let _ = s
                .emit(
                    "config",
                    &crate::value!({"supportedFeatures": st.features()}),
                )
                .await;
            if st.options.verbose() {
                let all: Vec<Value> = io
                    .inner
                    .namespaces
                    .read()
                    .unwrap()
                    .values()
                    .flat_map(|ns| {
                        ns.sockets
                            .read()
                            .unwrap()
                            .values()
                            .filter(|x| x.connected())
                            .cloned()
                            .collect::<Vec<_>>()
                    })
                    .map(|x| serialize(&x))
                    .collect();
                let _ = s.emit("all_sockets", &Value::Array(all)).await;
            }
            let stats = st.server_stats(&io);
            let _ = s.emit("server_stats", &stats).await;
        }
    });

    if state.options.read_only {
        return;
    }
    // The actions: (namespace, ..., room filter). A filter targets the
    // sockets in that room, none targets every socket of the namespace.
    fn target(
        io: &SocketIo,
        nsp: Option<&Value>,
        filter: Option<&Value>,
    ) -> Option<crate::BroadcastOperator> {
        let ns = io.get_namespace(nsp?.as_str()?)?;
        // No filter (absent, null, "") is every socket of the namespace; a
        // filter that is not a string names no room (as in Node, where it is
        // a room no socket is in): it must not widen the action to everyone.
        match filter {
            None | Some(Value::Null) => Some(ns.operator()),
            Some(Value::String(room)) if room.is_empty() => Some(ns.operator()),
            Some(Value::String(room)) => Some(ns.to(room.clone())),
            Some(_) => None,
        }
    }
    ns.on(
        "emit",
        |s: Socket, Args(args): Args<Vec<Value>>| async move {
            let mut args = args.into_iter();
            let (nsp, filter, ev) = (args.next(), args.next(), args.next());
            let Some(op) = target(&s.io(), nsp.as_ref(), filter.as_ref()) else {
                return;
            };
            if let Some(Value::String(ev)) = ev {
                let _ = op.emit(&ev, &Args(args.collect::<Vec<Value>>())).await;
            }
        },
    );
    for (event, join) in [("join", true), ("leave", false)] {
        ns.on(
            event,
            move |s: Socket, Args(args): Args<Vec<Value>>| async move {
                let Some(Value::String(room)) = args.get(1) else {
                    return;
                };
                let Some(op) = target(&s.io(), args.first(), args.get(2)) else {
                    return;
                };
                let _ = if join {
                    op.join(room.clone()).await
                } else {
                    op.leave(room.clone()).await
                };
            },
        );
    }
    ns.on(
        "_disconnect",
        |s: Socket, Args(args): Args<Vec<Value>>| async move {
            let Some(op) = target(&s.io(), args.first(), args.get(2)) else {
                return;
            };
            if matches!(args.get(1), Some(Value::Bool(true))) {
                for x in op.sockets() {
                    x.close_connection();
                }
            } else {
                let _ = op.disconnect_sockets().await;
            }
        },
    );
}
