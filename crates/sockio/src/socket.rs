//! [`Socket`]: one client's connection to one namespace, as handlers see it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sockio_engine::{Message, SendError};

use crate::adapter::{Room, SocketInfo};
use crate::errors::{AckError, EmitError};
use crate::handler::BoxFuture;
use crate::io::{Encoded, IoInner, SocketIo};
use crate::ns::NsInner;
use crate::operators::{BroadcastOperator, IntoRooms};
use crate::protocol::{self, Packet, Value};
use crate::session::Session;
use crate::Conn;

/// A socket id: 20 random base64url characters for Socket.IO v5 clients (one
/// per namespace, never the Engine.IO session id); for 1.x/2.x clients the
/// Engine.IO id on `/` and `<nsp>#<id>` elsewhere, as those clients compute it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(Arc<str>);

impl SocketId {
    pub(crate) fn new(s: &str) -> Self {
        SocketId(s.into())
    }
    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The socket's own room (every socket is in the room named by its id).
    pub fn room(&self) -> Room {
        self.0.clone()
    }
}

/// A socket id another node reported (cluster adapters build [`SocketInfo`]s
/// from their peers' answers).
impl From<&str> for SocketId {
    fn from(s: &str) -> Self {
        SocketId(s.into())
    }
}
impl From<String> for SocketId {
    fn from(s: String) -> Self {
        SocketId(s.into())
    }
}

impl std::ops::Deref for SocketId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}
impl std::borrow::Borrow<str> for SocketId {
    fn borrow(&self) -> &str {
        &self.0
    }
}
impl std::fmt::Display for SocketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::fmt::Debug for SocketId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}
impl Serialize for SocketId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Why a socket left its namespace; [`DisconnectReason::as_str`] is the reason
/// string socket.io uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client left the namespace (`socket.disconnect()` in the client).
    ClientNamespaceDisconnect,
    /// The server disconnected the socket ([`Socket::disconnect`]).
    ServerNamespaceDisconnect,
    /// The underlying connection ended.
    Transport(sockio_engine::DisconnectReason),
}

impl DisconnectReason {
    /// "client namespace disconnect", "server namespace disconnect",
    /// "transport close", "ping timeout", "transport error", ...
    pub fn as_str(&self) -> &'static str {
        match self {
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::Transport(r) => r.as_str(),
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const CONNECTING: u8 = 0;
const CONNECTED: u8 = 1;
const DISCONNECTED: u8 = 2;

type AckCallback = Box<dyn FnOnce(Vec<Value>) + Send>;

pub(crate) struct SocketInner {
    pub id: SocketId,
    pub ns: Arc<NsInner>,
    pub conn: Arc<Conn>,
    /// The CONNECT payload.
    pub auth: Option<Value>,
    /// Connection state recovery's private id (never shown to others).
    pid: Option<String>,
    /// Whether this socket is a recovered one.
    recovered: bool,
    /// When the socket connected.
    pub issued: SystemTime,
    state: AtomicU8,
    /// Emits made while the connect handler runs, sent after the CONNECT reply.
    pending: Mutex<Vec<Vec<Message>>>,
    acks: Mutex<HashMap<u64, AckCallback>>,
    rooms: Mutex<HashSet<Room>>,
    exec: Mutex<Exec>,
    session: Session,
    extensions: Mutex<http::Extensions>,
}

#[derive(Default)]
struct Exec {
    busy: bool,
    queue: VecDeque<Queued>,
}

/// One client's connection to one namespace. Cheap to clone; handlers take it
/// as an argument.
///
/// Flask-SocketIO → sockio:
///
/// | Flask-SocketIO | sockio |
/// |---|---|
/// | `emit('ev', data)` | `s.emit("ev", &data).await` |
/// | `emit('ev', data, broadcast=True)` | `s.broadcast().include_self().emit("ev", &data).await` |
/// | `emit('ev', data, broadcast=True, include_self=False)` | `s.broadcast().emit("ev", &data).await` |
/// | `emit('ev', data, to=room)` | `s.to(room).include_self().emit("ev", &data).await` |
/// | `send(data)` | `s.send(&data).await` |
/// | `join_room(r)` / `leave_room(r)` | `s.join(r)` / `s.leave(r)` |
/// | `rooms()` | `s.rooms()` |
/// | `disconnect()` | `s.disconnect()` |
/// | `request.sid` | `s.id()` |
/// | `session['user']` | `s.session().get::<T>("user")` |
#[derive(Clone)]
pub struct Socket(pub(crate) Arc<SocketInner>);

impl PartialEq for Socket {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.0.id)
            .field("ns", &&*self.0.ns.name)
            .finish()
    }
}

/// The EVENT packet for an emit on namespace `nsp`: a reserved event name is
/// refused, and `data` becomes the arguments by Flask-SocketIO's rule (a tuple
/// is several arguments, `()` none).
pub(crate) fn event_packet<T: Serialize + ?Sized>(
    nsp: &str,
    event: &str,
    data: &T,
    ack_id: Option<u64>,
) -> Result<Packet, EmitError> {
    check_event_name(event)?;
    let args = protocol::to_args(data)?;
    Ok(Packet::event(
        crate::util::wire_nsp(nsp),
        event,
        args,
        ack_id,
    ))
}

fn check_event_name(event: &str) -> Result<(), EmitError> {
    const RESERVED: [&str; 6] = [
        "connect",
        "connect_error",
        "disconnect",
        "disconnecting",
        "newListener",
        "removeListener",
    ];
    if RESERVED.contains(&event) {
        return Err(EmitError::ReservedEvent(event.to_string()));
    }
    Ok(())
}

impl Socket {
    pub(crate) fn new(
        id: SocketId,
        ns: Arc<NsInner>,
        conn: Arc<Conn>,
        auth: Option<Value>,
        pid: Option<String>,
        recovered: bool,
    ) -> Self {
        Socket(Arc::new(SocketInner {
            id,
            ns,
            conn,
            auth,
            pid,
            recovered,
            issued: SystemTime::now(),
            state: AtomicU8::new(CONNECTING),
            pending: Mutex::default(),
            acks: Mutex::default(),
            rooms: Mutex::default(),
            exec: Mutex::default(),
            session: Session::default(),
            extensions: Mutex::default(),
        }))
    }

    pub(crate) fn io_inner(&self) -> Arc<IoInner> {
        self.0
            .ns
            .io
            .upgrade()
            .expect("server alive while its sockets are")
    }

    /// The server.
    pub fn io(&self) -> SocketIo {
        SocketIo::from_inner(self.io_inner())
    }

    /// The socket id (Flask-SocketIO's `request.sid`).
    pub fn id(&self) -> &SocketId {
        &self.0.id
    }

    /// The namespace's name.
    pub fn namespace(&self) -> &str {
        &self.0.ns.name
    }

    /// What the client sent to connect, as Node's `socket.handshake`
    /// (built on each call from the connection's first request).
    pub fn handshake(&self) -> crate::Handshake {
        let req = self.0.conn.request();
        crate::Handshake {
            headers: req.headers.clone(),
            issued: self.0.issued,
            address: self.remote_addr(),
            xdomain: req.headers.contains_key(http::header::ORIGIN),
            secure: req.uri.scheme() == Some(&http::uri::Scheme::HTTPS),
            url: req
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default(),
            query_pairs: req
                .uri
                .query()
                .map(crate::util::parse_query)
                .unwrap_or_default(),
            auth: self.0.auth.clone(),
        }
    }

    /// The CONNECT payload (`auth` in socket.io-client).
    pub fn auth(&self) -> Option<&Value> {
        self.0.auth.as_ref()
    }

    /// Whether connection state recovery gave this socket back its id,
    /// rooms, session data and missed events (Node's `socket.recovered`).
    pub fn recovered(&self) -> bool {
        self.0.recovered
    }

    pub(crate) fn pid(&self) -> Option<&str> {
        self.0.pid.as_deref()
    }

    /// The HTTP headers of the connection's first request.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.0.conn.request().headers
    }

    /// The URI of the connection's first request (with its query).
    pub fn uri(&self) -> &http::Uri {
        &self.0.conn.request().uri
    }

    /// A query parameter of the connection's first request, URL-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let q = self.uri().query()?;
        crate::util::parse_query(q)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A cookie sent with the connection's first request.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers()
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The client's address, when the server knows it.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.0.conn.remote_addr()
    }

    /// A copy of an extension that a tower middleware put on the connection's
    /// first request (e.g. the HTTP session of the page, Flask-SocketIO's
    /// `manage_session=False` view of `session`).
    pub fn http_extension<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.0.conn.request().extensions.get::<T>().cloned()
    }

    /// The transport in use now.
    pub fn transport(&self) -> sockio_engine::TransportKind {
        self.0.conn.transport()
    }

    /// Per-socket session storage (Flask-SocketIO's `session`, Node's `socket.data`).
    pub fn session(&self) -> &Session {
        &self.0.session
    }

    /// Typed per-socket storage for values that are not serializable.
    pub fn extensions(&self) -> std::sync::MutexGuard<'_, http::Extensions> {
        self.0.extensions.lock().unwrap()
    }

    /// Whether the socket is still connected to its namespace.
    pub fn connected(&self) -> bool {
        self.0.state.load(Ordering::Acquire) != DISCONNECTED
    }

    // ---- emitting ------------------------------------------------------

    /// Queues already encoded messages. A full queue drops a volatile packet
    /// and otherwise closes the connection (the client is not reading).
    /// Takes the messages by value: a packet encoded for this socket alone
    /// (an ack, an emit) moves into the queue without a reference count.
    pub(crate) fn send_encoded(&self, msgs: Encoded, volatile: bool) -> bool {
        match self.0.state.load(Ordering::Acquire) {
            CONNECTING => {
                let mut p = self.0.pending.lock().unwrap();
                // Re-check under the lock: the flush takes the same lock.
                if self.0.state.load(Ordering::Acquire) == CONNECTING {
                    p.push(msgs.into_vec());
                    return true;
                }
            }
            DISCONNECTED => return false,
            _ => {}
        }
        // Sizes taken before the messages move into the queue.
        let tally = self
            .0
            .ns
            .traffic
            .as_ref()
            .map(|t| (t, crate::metrics::tally(&msgs)));
        let r = match msgs {
            Encoded::One([m]) => self.0.conn.send(m),
            Encoded::Many(v) => self.0.conn.send_many(v),
        };
        match r {
            Ok(()) => {
                if let Some((t, (packets, bytes))) = tally {
                    t.sent(packets, bytes);
                }
                true
            }
            Err(SendError::Full) if volatile => {
                if let Some(io) = self.0.ns.io.upgrade() {
                    crate::stats::Counters::bump(&io.stats.volatile_dropped);
                }
                false
            }
            Err(SendError::Full) => {
                tracing::warn!(sid = %self.0.id, "send queue full: closing the connection");
                if let Some(io) = self.0.ns.io.upgrade() {
                    crate::stats::Counters::bump(&io.stats.send_queue_full);
                }
                self.0
                    .conn
                    .close(sockio_engine::DisconnectReason::SlowConsumer);
                false
            }
            Err(SendError::Closed) => false,
        }
    }

    /// Sends the acknowledgement `id` with `args`.
    pub(crate) fn send_ack(&self, id: u64, args: Vec<Value>) -> Result<(), EmitError> {
        self.send_packet(&Packet::ack(
            crate::util::wire_nsp(self.namespace()),
            args,
            id,
        ))
    }

    pub(crate) fn send_packet(&self, packet: &Packet) -> Result<(), EmitError> {
        self.send_packet_with(packet, false, true)
    }

    /// Encodes and queues a packet. A volatile packet that cannot be queued is
    /// dropped without error; otherwise a closed connection is an error.
    fn send_packet_with(
        &self,
        packet: &Packet,
        volatile: bool,
        compress: bool,
    ) -> Result<(), EmitError> {
        let msgs = self.io_inner().encode(packet).compressed(compress);
        if self.send_encoded(msgs, volatile) || volatile {
            Ok(())
        } else {
            Err(EmitError::Disconnected)
        }
    }

    /// Emits `event` to this client. `data` follows Flask-SocketIO's rule: a
    /// tuple is several arguments, `()` none, anything else one argument;
    /// `bytes::Bytes` values anywhere inside travel as binary.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        if self.0.ns.recovery.is_some() {
            // Recorded for replay, as any broadcast: to this socket's room.
            if !self.connected() {
                return Err(EmitError::Disconnected);
            }
            return self
                .operator()
                .to(self.id())
                .include_self()
                .emit(event, data)
                .await;
        }
        self.emit_inner(event, data, None)
    }

    /// Sends a `message` event (Flask-SocketIO's `send(data)`); use
    /// `emit("json", ..)` for `send(data, json=True)`.
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit_inner("message", data, None)
    }

    fn emit_inner<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        ack_id: Option<u64>,
    ) -> Result<(), EmitError> {
        let packet = event_packet(&self.0.ns.name, event, data, ack_id)?;
        if let Some(a) = &self.0.ns.admin {
            a.event_sent(self.namespace(), self.id(), &packet);
        }
        self.send_packet(&packet)
    }

    /// Emits and waits for the client's acknowledgement (Node's
    /// `emitWithAck`), up to the server's `ack_timeout`; see [`Socket::timeout`].
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<Value>, AckError> {
        let timeout = self.io_inner().config.ack_timeout;
        self.emit_with_ack_timeout(event, data, timeout).await
    }

    async fn emit_with_ack_timeout<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        let id = self.0.ns.next_ack_id();
        let (tx, rx) = tokio::sync::oneshot::channel();
        if !self.register_ack(id, Box::new(move |args| drop(tx.send(args)))) {
            return Err(AckError::TooManyPending);
        }
        if let Err(e) = self.emit_inner(event, data, Some(id)) {
            self.0.acks.lock().unwrap().remove(&id);
            return Err(e.into());
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => {
                self.0.acks.lock().unwrap().remove(&id);
                crate::stats::Counters::bump(&self.io_inner().stats.acks_timed_out);
                Err(AckError::Timeout)
            }
        }
    }

    /// Emits and returns the client's acknowledgement as `R` (Flask-SocketIO's
    /// `call`): with one argument, that argument; with several, all of them
    /// (a tuple `call::<(A, B)>`); with none, `null` (`()` or an `Option`).
    ///
    /// ```
    /// # async fn f(s: sockio::Socket) -> Result<(), sockio::AckError> {
    /// // client: socket.on("ask", (q, cb) => cb("yes", 42))
    /// let (answer, n): (String, u32) = s.call("ask", "ready?").await?;
    /// # Ok(()) }
    /// ```
    pub async fn call<R: DeserializeOwned, T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<R, AckError> {
        ack_into(self.emit_with_ack(event, data).await?)
    }

    /// Emit options for this socket only: a timeout for acknowledgements.
    pub fn timeout(&self, timeout: Duration) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            timeout: Some(timeout),
            volatile: false,
            compress: true,
        }
    }

    /// Emit options for this socket only: whether the packet may be
    /// compressed (Node's `socket.compress(false).emit(..)`). `false` sends
    /// it uncompressed on a WebSocket that negotiated permessage-deflate.
    ///
    /// ```no_run
    /// # async fn f(socket: sockio::Socket) {
    /// let png: bytes::Bytes = bytes::Bytes::from_static(b"\x89PNG...");
    /// socket.compress(false).emit("avatar", &png).await.ok();
    /// # }
    /// ```
    pub fn compress(&self, compress: bool) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            timeout: None,
            volatile: false,
            compress,
        }
    }

    /// Emit options for this socket only: drop the packet if the client cannot take it now.
    pub fn volatile(&self) -> SocketEmitter<'_> {
        SocketEmitter {
            socket: self,
            timeout: None,
            volatile: true,
            compress: true,
        }
    }

    /// Registers the callback of ack `id`; false past `max_pending_acks`.
    pub(crate) fn register_ack(&self, id: u64, cb: AckCallback) -> bool {
        let io = self.io_inner();
        let mut acks = self.0.acks.lock().unwrap();
        if acks.len() >= io.config.max_pending_acks {
            drop(acks);
            tracing::debug!(sid = %self.0.id, "too many pending acknowledgements");
            crate::stats::Counters::bump(&io.stats.acks_refused_too_many);
            return false;
        }
        acks.insert(id, cb);
        true
    }

    pub(crate) fn on_ack(&self, id: u64, args: Vec<Value>) {
        let cb = self.0.acks.lock().unwrap().remove(&id);
        match cb {
            Some(cb) => cb(args),
            None => tracing::debug!(sid = %self.0.id, id, "acknowledgement for an unknown id"),
        }
    }

    // ---- targets -------------------------------------------------------

    fn operator(&self) -> BroadcastOperator {
        BroadcastOperator::new(vec![self.0.ns.clone()], Some(self.clone()))
    }

    /// Every other socket of the namespace (Node's `socket.broadcast`); add
    /// [`BroadcastOperator::include_self`] for Flask-SocketIO's `broadcast=True`.
    pub fn broadcast(&self) -> BroadcastOperator {
        self.operator()
    }

    /// The sockets in `rooms`, without this one (Node's `socket.to(room)`); add
    /// [`BroadcastOperator::include_self`] for Flask-SocketIO's `to=room`.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().to(rooms)
    }

    /// Every socket of the namespace except those in `rooms` (and this one).
    pub fn except(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.operator().except(rooms)
    }

    /// Only this node's sockets.
    pub fn local(&self) -> BroadcastOperator {
        self.operator().local()
    }

    // ---- rooms ---------------------------------------------------------

    /// Joins one or several rooms (Flask-SocketIO's `join_room`).
    ///
    /// Another socket's own room (its id) cannot be joined: a socket id
    /// names a socket, and knowing it must not let anyone receive what is
    /// sent to that socket (Node allows it; sockio ignores such a join and
    /// logs it).
    pub fn join(&self, rooms: impl IntoRooms) {
        if !self.connected() {
            return;
        }
        let rooms = rooms.into_rooms();
        let mut mine = self.0.rooms.lock().unwrap();
        for r in rooms {
            if *r != *self.0.id && self.0.ns.sockets.read().unwrap().contains_key(&*r) {
                tracing::warn!(sid = %self.0.id, room = %r, "refused: joining another socket's own room");
                continue;
            }
            if mine.insert(r.clone()) {
                self.0.ns.add_to_room(&r, self);
            }
        }
    }

    /// Leaves a room (Flask-SocketIO's `leave_room`).
    pub fn leave(&self, room: impl IntoRooms) {
        let mut mine = self.0.rooms.lock().unwrap();
        for r in room.into_rooms() {
            if mine.remove(&r) {
                self.0.ns.remove_from_room(&r, &self.0.id);
            }
        }
    }

    /// Leaves every room, its own included.
    pub fn leave_all(&self) {
        let rooms: Vec<Room> = self.0.rooms.lock().unwrap().drain().collect();
        for r in rooms {
            self.0.ns.remove_from_room(&r, &self.0.id);
        }
    }

    /// Whether this socket is in `room` (no allocation).
    pub fn in_room(&self, room: &str) -> bool {
        self.0.rooms.lock().unwrap().contains(room)
    }

    /// Emits to the sockets in `rooms`, this one included if it is a member
    /// (Flask-SocketIO's `emit(event, data, to=room)`; the same as
    /// `s.to(rooms).include_self().emit(event, data)`; Node's
    /// `socket.to(room)`, without the sender, is [`Socket::to`]).
    pub async fn emit_to<T: Serialize + ?Sized>(
        &self,
        rooms: impl IntoRooms,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.to(rooms).include_self().emit(event, data).await
    }

    /// The rooms this socket is in, its own room (its id) included
    /// (Flask-SocketIO's `rooms()`).
    pub fn rooms(&self) -> Vec<Room> {
        let mut v: Vec<Room> = self.0.rooms.lock().unwrap().iter().cloned().collect();
        v.sort();
        v
    }

    pub(crate) fn info(&self) -> SocketInfo {
        let handshake = self.handshake().to_value();
        SocketInfo {
            id: self.0.id.clone(),
            rooms: self.rooms(),
            handshake,
            data: self.0.session.to_value(),
        }
    }

    // ---- lifecycle -----------------------------------------------------

    /// Disconnects this socket from its namespace (the client gets a
    /// DISCONNECT packet and reports "io server disconnect"). Other namespaces
    /// of the same connection stay connected.
    pub fn disconnect(&self) {
        self.disconnect_inner(false)
    }

    /// Closes the whole underlying connection (every namespace).
    pub fn close_connection(&self) {
        self.0
            .conn
            .close(sockio_engine::DisconnectReason::ServerClose);
    }

    pub(crate) fn disconnect_inner(&self, close: bool) {
        if close {
            self.close_connection();
            return;
        }
        if self.connected() {
            let _ = self.send_packet(&Packet::disconnect(&*self.0.ns.name));
            crate::client::detach(self);
            self.closed(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    /// Marks the socket connected, sends the CONNECT reply and what the
    /// connect handler emitted.
    pub(crate) fn confirm(&self, reply: &Packet) {
        let msgs = self.io_inner().encode(reply);
        let mut pending = self.0.pending.lock().unwrap();
        if let Some(t) = &self.0.ns.traffic {
            for m in std::iter::once(&*msgs).chain(pending.iter().map(|m| &m[..])) {
                let (packets, bytes) = crate::metrics::tally(m);
                t.sent(packets, bytes);
            }
        }
        let _ = self.0.conn.send_many(msgs.to_vec());
        for m in pending.drain(..) {
            let _ = self.0.conn.send_many(m);
        }
        self.0.state.store(CONNECTED, Ordering::Release);
    }

    /// Ends the socket: disconnect handler (rooms still readable), then rooms
    /// and namespace membership removed, pending acks dropped.
    pub(crate) fn closed(&self, reason: DisconnectReason) {
        let prev = self.0.state.swap(DISCONNECTED, Ordering::AcqRel);
        if prev == DISCONNECTED {
            return;
        }
        self.0.pending.lock().unwrap().clear();
        if let (CONNECTED, Some(pid), true) =
            (prev, &self.0.pid, crate::recovery::recoverable(reason))
        {
            let state = crate::SessionState {
                pid: pid.clone(),
                id: self.0.id.clone(),
                namespace: self.0.ns.name.to_string(),
                rooms: self.rooms(),
                data: self.0.session.to_value(),
                missed: Vec::new(),
            };
            let ns = self.0.ns.clone();
            run_now_or_spawn(Box::pin(async move {
                let local = ns.local();
                ns.adapter().persist_session(&local, state).await;
            }));
        }
        let handler = self
            .0
            .ns
            .handlers
            .disconnect
            .read()
            .unwrap()
            .clone()
            .or_else(|| {
                let io = self.0.ns.io.upgrade()?;
                let h = io.all.disconnect.read().unwrap().clone();
                h
            });
        let s = self.clone();
        let finish = move || {
            s.leave_all();
            s.0.ns.sockets.write().unwrap().remove(&s.0.id);
            s.0.acks.lock().unwrap().clear();
        };
        if prev == CONNECTED {
            tracing::debug!(sid = %self.0.id, ns = %self.0.ns.name, %reason, "socket disconnected");
            if let Some(io) = self.0.ns.io.upgrade() {
                match reason {
                    DisconnectReason::ClientNamespaceDisconnect => {
                        crate::stats::Counters::bump(&io.stats.namespace_disconnects_by_client)
                    }
                    DisconnectReason::ServerNamespaceDisconnect => {
                        crate::stats::Counters::bump(&io.stats.namespace_disconnects_by_server)
                    }
                    DisconnectReason::Transport(_) => {}
                }
            }
            if let Some(a) = &self.0.ns.admin {
                a.socket_disconnected(self.namespace(), self.id(), reason.as_str());
            }
        }
        match handler.filter(|_| prev == CONNECTED) {
            Some(h) => {
                let mut ctx = crate::extract::Context::new(self.clone());
                ctx.reason = Some(reason);
                match h(&mut ctx) {
                    Ok(fut) => {
                        let fut = async move {
                            if let Err(p) = std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                                tracing::error!(
                                    "disconnect handler panicked: {}",
                                    panic_message(&p)
                                );
                            }
                            finish();
                        };
                        run_now_or_spawn(Box::pin(fut));
                    }
                    Err(e) => {
                        tracing::error!("disconnect handler: {e}");
                        finish();
                    }
                }
            }
            None => finish(),
        }
    }

    // ---- handler execution --------------------------------------------

    /// Runs an event's job. It is polled once at once (so jobs start in
    /// arrival order); one that completes then costs no task. One that
    /// waits becomes a task, counted in flight for its connection until it
    /// ends: with `serialized` (`async_handlers(false)`) later jobs of the
    /// socket queue behind it, otherwise they run alongside.
    pub(crate) fn run_job(&self, job: BoxFuture<()>, serialized: bool) {
        let Some(job) = (if serialized {
            self.run_serialized(job)
        } else {
            poll_once(job)
        }) else {
            return;
        };
        let flight = InFlight::enter(self);
        let span = self.0.conn.span().clone();
        if !serialized {
            tokio::spawn(tracing::Instrument::instrument(
                async move {
                    job.await;
                    drop(flight);
                },
                span,
            ));
            return;
        }
        let s = self.clone();
        tokio::spawn(tracing::Instrument::instrument(
            async move {
                job.await;
                drop(flight);
                loop {
                    let next = {
                        let mut ex = s.0.exec.lock().unwrap();
                        match ex.queue.pop_front() {
                            Some(j) => j,
                            None => {
                                ex.busy = false;
                                return;
                            }
                        }
                    };
                    next.0.await;
                }
            },
            span,
        ));
    }

    /// Serialized mode: queues `job` behind a running one, or runs it and the
    /// queued ones inline while they complete at once; returns the first
    /// that waits (the caller makes it the socket's running task).
    fn run_serialized(&self, job: BoxFuture<()>) -> Option<BoxFuture<()>> {
        {
            let mut ex = self.0.exec.lock().unwrap();
            if ex.busy {
                let flight = InFlight::enter(self);
                ex.queue.push_back(Queued::new(job, flight));
                return None;
            }
            ex.busy = true;
        }
        let mut job = job;
        loop {
            if let Some(job) = poll_once(job) {
                return Some(job);
            }
            let mut ex = self.0.exec.lock().unwrap();
            match ex.queue.pop_front() {
                Some(q) => job = q.0,
                None => {
                    ex.busy = false;
                    return None;
                }
            }
        }
    }
}

/// A queued job; its in-flight mark ends with it.
pub(crate) struct Queued(BoxFuture<()>);

impl Queued {
    fn new(job: BoxFuture<()>, flight: InFlight) -> Self {
        Queued(Box::pin(async move {
            job.await;
            drop(flight);
        }))
    }
}

/// One event handler of a connection waiting (running or queued): the
/// connection stops being read at `max_in_flight_events` of them and
/// resumes when one ends below the bound.
pub(crate) struct InFlight {
    conn: Arc<Conn>,
    max: usize,
}

impl InFlight {
    fn enter(s: &Socket) -> Self {
        let conn = &s.0.conn;
        let io = s.io_inner();
        let max = io.config.max_in_flight_events;
        let n = conn.data().in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= max && !conn.is_reading_paused() {
            tracing::debug!(
                in_flight = n,
                "event handlers at their bound: pausing reads"
            );
            crate::stats::Counters::bump(&io.stats.reads_paused);
            conn.pause_reading();
        }
        InFlight {
            conn: conn.clone(),
            max,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let before = self.conn.data().in_flight.fetch_sub(1, Ordering::AcqRel);
        if before <= self.max && self.conn.is_reading_paused() {
            self.conn.resume_reading();
        }
    }
}

/// An acknowledgement as `R`: its one argument, or all of them as a sequence.
pub(crate) fn ack_into<R: DeserializeOwned>(mut args: Vec<Value>) -> Result<R, AckError> {
    let v = match args.len() {
        0 => Value::Null,
        1 => args.pop().unwrap_or_default(),
        _ => Value::Array(args),
    };
    protocol::from_value(v).map_err(AckError::Decode)
}

/// Polls a job once; returns it if it is not finished.
fn poll_once(mut job: BoxFuture<()>) -> Option<BoxFuture<()>> {
    let mut cx = TaskContext::from_waker(std::task::Waker::noop());
    match job.as_mut().poll(&mut cx) {
        Poll::Ready(()) => None,
        Poll::Pending => Some(job),
    }
}

pub(crate) fn run_now_or_spawn(job: BoxFuture<()>) {
    if let Some(job) = poll_once(job) {
        tokio::spawn(job);
    }
}

pub(crate) fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".into()
    }
}

/// Emit options for one socket, from [`Socket::timeout`], [`Socket::volatile`]
/// or [`Socket::compress`].
pub struct SocketEmitter<'a> {
    socket: &'a Socket,
    timeout: Option<Duration>,
    volatile: bool,
    compress: bool,
}

impl SocketEmitter<'_> {
    /// Drops the packet if the client cannot take it now.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Whether the packet may be compressed (see [`Socket::compress`]).
    pub fn compress(mut self, compress: bool) -> Self {
        self.compress = compress;
        self
    }

    /// Emits `event` (a volatile packet the client cannot take now is dropped).
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let packet = event_packet(&self.socket.0.ns.name, event, data, None)?;
        self.socket
            .send_packet_with(&packet, self.volatile, self.compress)
    }

    /// Emits and waits for the acknowledgement, up to this emitter's timeout.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<Value>, AckError> {
        let t = self
            .timeout
            .unwrap_or_else(|| self.socket.io_inner().config.ack_timeout);
        self.socket.emit_with_ack_timeout(event, data, t).await
    }

    /// Emits and returns the acknowledgement as `R` (see [`Socket::call`]).
    pub async fn call<R: DeserializeOwned, T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<R, AckError> {
        ack_into(self.emit_with_ack(event, data).await?)
    }
}
