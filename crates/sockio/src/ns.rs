//! Namespaces: their handlers (registered once, shared by every socket), their
//! local sockets and rooms, and the [`Namespace`] handle users register on.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, Weak};
use std::time::Duration;

use crate::adapter::{AckCollector, Adapter, BroadcastOptions, LocalNamespace, Room};
use crate::handler::{
    erase_connect, erase_disconnect, erase_event, erase_server_event, ErasedConnect,
    ErasedDisconnect, ErasedEvent, ErasedServerEvent, Handler, IntoConnect, IntoReply,
};
use crate::io::IoInner;
use crate::operators::BroadcastOperator;
use crate::protocol::Packet;
use crate::socket::{Socket, SocketId};

/// The handlers of a namespace (shared by the children of a dynamic namespace).
#[derive(Default)]
pub(crate) struct Handlers {
    /// Event name → handler. The names are the application's (a client's
    /// event name is only looked up, never inserted), so a fast non-keyed
    /// hash is safe here.
    pub events: RwLock<rustc_hash::FxHashMap<Arc<str>, ErasedEvent>>,
    pub any: RwLock<Option<ErasedEvent>>,
    pub connect: RwLock<Option<ErasedConnect>>,
    pub middlewares: RwLock<Vec<ErasedConnect>>,
    pub disconnect: RwLock<Option<ErasedDisconnect>>,
    pub error: RwLock<Option<ErasedEvent>>,
    /// Events other nodes send with `server_side_emit`.
    pub server_events: RwLock<rustc_hash::FxHashMap<Box<str>, ErasedServerEvent>>,
    /// [`crate::NamespaceHandler`] objects, for [`crate::This`].
    pub objects: RwLock<Vec<Arc<dyn std::any::Any + Send + Sync>>>,
}

/// The handler for `event`: the namespace's own, else the one for every
/// namespace, else the namespace's catch-all, else the catch-all for every
/// namespace.
pub(crate) fn event_handler(
    ns: &Handlers,
    all: &Handlers,
    event: &str,
) -> Option<(ErasedEvent, Option<Arc<str>>)> {
    // A named handler gives its own copy of the name: the handler's context
    // gets it without an allocation per event.
    if let Some((name, h)) = ns.events.read().unwrap().get_key_value(event) {
        return Some((h.clone(), Some(name.clone())));
    }
    if let Some((name, h)) = all.events.read().unwrap().get_key_value(event) {
        return Some((h.clone(), Some(name.clone())));
    }
    let any = ns.any.read().unwrap().clone();
    any.or_else(|| all.any.read().unwrap().clone())
        .map(|h| (h, None))
}

/// The error handler: the namespace's own, else the default one.
pub(crate) fn error_handler(ns: &Handlers, io: &IoInner) -> Option<ErasedEvent> {
    let h = ns.error.read().unwrap().clone();
    h.or_else(|| io.all.error.read().unwrap().clone())
}

pub(crate) struct NsInner {
    pub name: Arc<str>,
    pub io: Weak<IoInner>,
    pub handlers: Arc<Handlers>,
    pub sockets: RwLock<HashMap<SocketId, Socket>>,
    /// room → members. A socket's own rooms are also kept in the socket.
    pub rooms: RwLock<HashMap<Room, HashMap<SocketId, Socket>>>,
    pub adapter: OnceLock<Arc<dyn Adapter>>,
    /// Connection state recovery's in-memory store, when recovery is on.
    pub recovery: Option<Arc<crate::recovery::RecoveryLog>>,
    pub ack_ids: AtomicU64,
    /// The server's per-message counters (a copy, so that sending needs no
    /// upgrade of `io`), with `metrics(true)` only.
    pub traffic: Option<Arc<crate::metrics::Traffic>>,
    /// The admin UI's reports, in its development mode only.
    pub admin: Option<Arc<crate::admin::AdminHooks>>,
}

impl NsInner {
    pub(crate) fn new(name: &str, io: Weak<IoInner>, handlers: Arc<Handlers>) -> Arc<Self> {
        let strong = io.upgrade();
        let recovery = strong
            .as_ref()
            .and_then(|io| io.config.recovery.clone())
            .map(|c| Arc::new(crate::recovery::RecoveryLog::new(c)));
        let traffic = strong.as_ref().and_then(|io| io.traffic.clone());
        let admin = strong.as_ref().and_then(|io| io.admin.clone());
        drop(strong);
        let ns = Arc::new(NsInner {
            traffic,
            admin,
            recovery,
            name: name.into(),
            io: io.clone(),
            handlers,
            sockets: RwLock::default(),
            rooms: RwLock::default(),
            adapter: OnceLock::new(),
            ack_ids: AtomicU64::new(0),
        });
        if let Some(io) = io.upgrade() {
            let local = LocalNamespace {
                ns: Arc::downgrade(&ns),
            };
            let _ = ns.adapter.set(io.adapter_factory.create(local));
        }
        ns
    }

    pub(crate) fn recovery_log(&self) -> Option<Arc<crate::recovery::RecoveryLog>> {
        self.recovery.clone()
    }

    pub(crate) fn adapter(&self) -> &Arc<dyn Adapter> {
        self.adapter.get().expect("adapter set at creation")
    }

    pub(crate) fn local(self: &Arc<Self>) -> LocalNamespace {
        LocalNamespace {
            ns: Arc::downgrade(self),
        }
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn socket(&self, id: &str) -> Option<Socket> {
        self.sockets.read().unwrap().get(id).cloned()
    }

    pub(crate) fn add_to_room(&self, room: &Room, s: &Socket) {
        self.rooms
            .write()
            .unwrap()
            .entry(room.clone())
            .or_default()
            .insert(s.id().clone(), s.clone());
        if let Some(a) = &self.admin {
            a.room_joined(&self.name, room, s.id());
        }
    }

    pub(crate) fn remove_from_room(&self, room: &Room, id: &SocketId) {
        {
            let mut rooms = self.rooms.write().unwrap();
            if let Some(m) = rooms.get_mut(room) {
                m.remove(id);
                if m.is_empty() {
                    rooms.remove(room);
                }
            }
        }
        if let Some(a) = &self.admin {
            a.room_left(&self.name, room, id);
        }
    }

    /// The local sockets `opts` targets, without `exclude`.
    pub(crate) fn targets(
        &self,
        opts: &BroadcastOptions,
        exclude: Option<&SocketId>,
    ) -> Vec<Socket> {
        let mut out = Vec::new();
        self.for_each_target(opts, exclude, |s| out.push(s.clone()));
        out
    }

    /// Calls `f` for each local socket `opts` targets, without `exclude`,
    /// under the room table's read lock (so `f` must not join or leave rooms).
    pub(crate) fn for_each_target(
        &self,
        opts: &BroadcastOptions,
        exclude: Option<&SocketId>,
        mut f: impl FnMut(&Socket),
    ) {
        let rooms = self.rooms.read().unwrap();
        let excluded: HashSet<&SocketId> = opts
            .except
            .iter()
            .filter_map(|r| rooms.get(r))
            .flat_map(|m| m.keys())
            .chain(exclude)
            .collect();
        let keep = |id: &SocketId| excluded.is_empty() || !excluded.contains(id);
        match opts.rooms.as_slice() {
            [] => {
                let sockets = self.sockets.read().unwrap();
                for (id, s) in sockets.iter() {
                    if keep(id) {
                        f(s);
                    }
                }
            }
            [room] => {
                for (id, s) in rooms.get(room).into_iter().flatten() {
                    if keep(id) {
                        f(s);
                    }
                }
            }
            many => {
                let mut seen = HashSet::new();
                for (id, s) in many.iter().filter_map(|r| rooms.get(r)).flatten() {
                    if keep(id) && seen.insert(id) {
                        f(s);
                    }
                }
            }
        }
    }

    /// Encodes once (only if some socket is targeted), queues the same bytes
    /// to every target.
    pub(crate) fn local_broadcast(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        exclude: Option<&SocketId>,
    ) {
        let Some(io) = self.io.upgrade() else { return };
        let mut msgs = None;
        self.for_each_target(opts, exclude, |s| {
            let msgs = msgs.get_or_insert_with(|| io.encode(packet).compressed(opts.compress));
            s.send_encoded(msgs.clone(), opts.volatile);
        });
    }

    pub(crate) fn local_broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        acks: Arc<dyn AckCollector>,
    ) {
        let targets = self.targets(opts, None);
        let Some(io) = self.io.upgrade() else {
            acks.expect(0);
            return;
        };
        if targets.is_empty() {
            acks.expect(0);
            return;
        }
        let id = self.next_ack_id();
        let mut p = packet.clone();
        p.id = Some(id);
        let msgs = io.encode(&p).compressed(opts.compress);
        let mut sent = 0;
        for s in &targets {
            let a = acks.clone();
            // A socket past its pending-ack bound is not sent the packet.
            if s.register_ack(id, Box::new(move |args| a.ack(args))) {
                s.send_encoded(msgs.clone(), opts.volatile);
                sent += 1;
            }
        }
        acks.expect(sent);
    }
}

/// A namespace (`/`, `/chat`, ...): register handlers on it and emit to its sockets.
///
/// Handlers are registered once for the namespace and shared by all its
/// sockets. Registering again for the same event replaces the handler.
///
/// ```
/// use sockio::{Data, Socket, SocketIo};
/// let io = SocketIo::builder().build().unwrap();
/// let chat = io.of("/chat");
/// chat.on("message", |s: Socket, Data(text): Data<String>| async move {
///     s.broadcast().emit("message", &text).await
/// });
/// ```
#[derive(Clone)]
pub struct Namespace {
    pub(crate) kind: NsKind,
}

#[derive(Clone)]
pub(crate) enum NsKind {
    /// A namespace with a fixed name.
    Static(Arc<NsInner>),
    /// A dynamic namespace: its handlers apply to every child it matched.
    Dynamic {
        handlers: Arc<Handlers>,
        io: Weak<IoInner>,
        id: usize,
    },
    /// Every namespace ([`crate::SocketIo::all_namespaces`]): fallback handlers.
    All {
        handlers: Arc<Handlers>,
        io: Weak<IoInner>,
    },
}

impl Namespace {
    pub(crate) fn handlers(&self) -> &Arc<Handlers> {
        match &self.kind {
            NsKind::Static(ns) => &ns.handlers,
            NsKind::Dynamic { handlers, .. } | NsKind::All { handlers, .. } => handlers,
        }
    }

    /// The namespace's name (`"*"`-like description for a dynamic one).
    pub fn name(&self) -> String {
        match &self.kind {
            NsKind::Static(ns) => ns.name.to_string(),
            NsKind::Dynamic { id, .. } => format!("<dynamic namespace #{id}>"),
            NsKind::All { .. } => "*".to_owned(),
        }
    }

    /// Handles event `event` (Flask-SocketIO: `@socketio.on(event, namespace=...)`).
    /// The handler's return value is the acknowledgement when the client asked
    /// for one ([`IntoReply`]). The events `message` and `json` are what
    /// clients' `send()` emit.
    pub fn on<H, T>(&self, event: &str, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        self.handlers()
            .events
            .write()
            .unwrap()
            .insert(event.into(), erase_event(handler));
        self
    }

    /// Handles every event that has no handler of its own (Flask-SocketIO's
    /// `on('*')`, Node's `onAny`); take [`crate::Event`] to get the name.
    pub fn on_any<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        *self.handlers().any.write().unwrap() = Some(erase_event(handler));
        self
    }

    /// Runs when a client connects to this namespace, before the connection
    /// is confirmed: return `()`/`true` to accept, `false` or `Err(ConnectError)`
    /// to refuse ([`IntoConnect`]). Emits made here reach the client right after
    /// its CONNECT confirmation.
    pub fn on_connect<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoConnect,
    {
        *self.handlers().connect.write().unwrap() = Some(erase_connect(handler));
        self
    }

    /// Adds a connect middleware (Node's `io.use`): middlewares run in the
    /// order added, before the connect handler; the first refusal stops the
    /// connection with its [`crate::ConnectError`].
    pub fn middleware<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoConnect,
    {
        self.handlers()
            .middlewares
            .write()
            .unwrap()
            .push(erase_connect(handler));
        self
    }

    /// Runs when a socket leaves the namespace; it may take the
    /// [`crate::DisconnectReason`] or not. The socket's rooms are still readable here.
    pub fn on_disconnect<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
    {
        *self.handlers().disconnect.write().unwrap() = Some(erase_disconnect(handler));
        self
    }

    /// Handles failures of this namespace's event handlers (arguments that do
    /// not decode, an `Err` returned, a panic): take [`crate::HandlerError`];
    /// the return value is the acknowledgement sent to the client if it asked
    /// for one (Flask-SocketIO's `@socketio.on_error`).
    pub fn on_error<H, T>(&self, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        *self.handlers().error.write().unwrap() = Some(erase_event(handler));
        self
    }

    /// Handles `event` sent by another server of the cluster with
    /// [`Namespace::server_side_emit`] (Node's `io.on(event)` for
    /// `serverSideEmit`). There is no socket: take [`crate::Data`],
    /// [`crate::Args`], [`crate::State`], [`crate::SocketIo`]. The return value
    /// is the acknowledgement the sender collects. A node never receives its
    /// own server-side events.
    ///
    /// ```
    /// let io = sockio::SocketIo::builder().build().unwrap();
    /// io.of("/").on_server_side("ping-servers", || async { "node-a" });
    /// ```
    pub fn on_server_side<H, T>(&self, event: &str, handler: H) -> &Self
    where
        H: Handler<T>,
        H::Output: IntoReply,
    {
        self.handlers()
            .server_events
            .write()
            .unwrap()
            .insert(event.into(), erase_server_event(handler));
        self
    }

    /// Sends `event` with `data` (a tuple is several arguments) to the other
    /// servers of the cluster, without waiting for answers (Node's
    /// `serverSideEmit`). With the default in-memory adapter there is no
    /// other server and this does nothing.
    pub async fn server_side_emit<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        self.server_side(event, data, None).await.map(drop)
    }

    /// As [`Namespace::server_side_emit`], and collects each other server's
    /// acknowledgement (its handler's return value; one value per server with
    /// Node's adapters) until all answered or `timeout` passed:
    /// [`BroadcastAcks::complete`](crate::BroadcastAcks) is false then, and
    /// the answers received so far are kept. Fails with
    /// [`crate::EmitError::Adapter`] when the other servers cannot be asked.
    ///
    /// ```
    /// # async fn f(io: sockio::SocketIo) -> Result<(), sockio::EmitError> {
    /// let answers = io.of("/")
    ///     .server_side_emit_with_ack("ping-servers", &(), std::time::Duration::from_secs(2))
    ///     .await?;
    /// let names: Vec<String> = answers.first_args().unwrap_or_default();
    /// println!("{} other servers answered: {names:?}", answers.responses.len());
    /// # Ok(()) }
    /// ```
    pub async fn server_side_emit_with_ack<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<crate::BroadcastAcks, crate::EmitError> {
        self.server_side(event, data, Some(timeout)).await
    }

    async fn server_side<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        ack: Option<Duration>,
    ) -> Result<crate::BroadcastAcks, crate::EmitError> {
        let mut args = vec![crate::Value::from(event)];
        args.extend(crate::protocol::to_args(data)?);
        let mut out = crate::BroadcastAcks {
            responses: Vec::new(),
            complete: true,
        };
        for ns in self.operator().namespaces() {
            let acks = ns
                .adapter()
                .server_side_emit(&ns.local(), args.clone(), ack)
                .await?;
            out.responses.extend(acks.responses);
            out.complete &= acks.complete;
        }
        Ok(out)
    }

    /// How many servers share this namespace, this one included (Node's
    /// `serverCount()`; 1 without a cluster adapter).
    pub async fn server_count(&self) -> Result<usize, crate::AdapterError> {
        match self.operator().namespaces().first() {
            Some(ns) => ns.adapter().server_count().await,
            None => Ok(1),
        }
    }

    pub(crate) fn operator(&self) -> BroadcastOperator {
        match &self.kind {
            NsKind::Static(ns) => BroadcastOperator::new(vec![ns.clone()], None),
            NsKind::Dynamic { io, id, .. } => {
                let children = io
                    .upgrade()
                    .map(|io| io.dynamic_children(*id))
                    .unwrap_or_default();
                BroadcastOperator::new(children, None)
            }
            NsKind::All { io, .. } => {
                let all = io
                    .upgrade()
                    .map(|io| io.namespaces.read().unwrap().values().cloned().collect())
                    .unwrap_or_default();
                BroadcastOperator::new(all, None)
            }
        }
    }

    /// Targets the sockets in `room` (call again or pass several to add rooms).
    pub fn to(&self, rooms: impl crate::operators::IntoRooms) -> BroadcastOperator {
        self.operator().to(rooms)
    }

    /// Leaves out the sockets in `rooms`.
    pub fn except(&self, rooms: impl crate::operators::IntoRooms) -> BroadcastOperator {
        self.operator().except(rooms)
    }

    /// Drops the packet for sockets that cannot take it now.
    pub fn volatile(&self) -> BroadcastOperator {
        self.operator().volatile()
    }

    /// Only this node's sockets.
    pub fn local(&self) -> BroadcastOperator {
        self.operator().local()
    }

    /// Sets the timeout of [`BroadcastOperator::emit_with_ack`].
    pub fn timeout(&self, timeout: Duration) -> BroadcastOperator {
        self.operator().timeout(timeout)
    }

    /// Emits to every socket of the namespace.
    pub async fn emit<T: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        self.operator().emit(event, data).await
    }

    /// Sends `message` events to every socket of the namespace (`send()`).
    pub async fn send<T: serde::Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> Result<(), crate::EmitError> {
        self.operator().emit("message", data).await
    }

    /// The sockets of this namespace connected to this node.
    pub fn sockets(&self) -> Vec<Socket> {
        match &self.kind {
            NsKind::Static(ns) => ns.sockets.read().unwrap().values().cloned().collect(),
            NsKind::Dynamic { .. } | NsKind::All { .. } => self
                .operator()
                .namespaces()
                .iter()
                .flat_map(|ns| {
                    ns.sockets
                        .read()
                        .unwrap()
                        .values()
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .collect(),
        }
    }

    /// How many of this node's sockets are in `room`.
    pub fn room_size(&self, room: &str) -> usize {
        self.operator()
            .namespaces()
            .iter()
            .map(|ns| ns.rooms.read().unwrap().get(room).map_or(0, |m| m.len()))
            .sum()
    }

    /// The local socket with this id.
    pub fn socket(&self, id: &str) -> Option<Socket> {
        self.operator()
            .namespaces()
            .iter()
            .find_map(|ns| ns.socket(id))
    }

    /// The sockets of the namespace on every node (Node's `fetchSockets`):
    /// each can be emitted to, joined to rooms or disconnected wherever it lives.
    pub async fn fetch_sockets(&self) -> Result<Vec<crate::RemoteSocket>, crate::AdapterError> {
        self.operator().fetch_sockets().await
    }

    /// Disconnects every socket of the namespace.
    pub async fn disconnect_sockets(&self) -> Result<(), crate::AdapterError> {
        self.operator().disconnect_sockets().await
    }

    /// Removes every socket from `room` (Flask-SocketIO's `close_room`), on every node.
    pub async fn close_room(&self, room: &str) -> Result<(), crate::AdapterError> {
        self.operator().to(room).leave(room).await
    }

    /// Every room with a member (on every node).
    pub async fn rooms(&self) -> Result<Vec<Room>, crate::AdapterError> {
        let mut out = Vec::new();
        for ns in self.operator().namespaces() {
            out.extend(ns.adapter().rooms(&ns.local()).await?);
        }
        Ok(out)
    }
}
