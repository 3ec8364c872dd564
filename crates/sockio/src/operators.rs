//! Emit operators: choose targets (rooms, exceptions, the sender or not) and
//! flags, then emit. The packet is encoded once and the same bytes are queued
//! to every receiver.
//!
//! Two families, named so a reader can tell them apart:
//! - from a [`Socket`]: [`Socket::broadcast`] and [`Socket::to`] follow Node and
//!   **leave the sender out**; add [`BroadcastOperator::include_self`] for
//!   Flask-SocketIO's `emit(..., broadcast=True)` / `emit(..., to=room)`, which
//!   include it;
//! - from the server ([`crate::SocketIo::to`], [`crate::Namespace::to`]): there
//!   is no sender, every target gets it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;

use crate::adapter::{AckCollector, BroadcastOptions, Room, SocketInfo};
use crate::errors::{AckError, AdapterError, EmitError};
use crate::ns::NsInner;
use crate::protocol::{self, Value};
use crate::socket::{event_packet, Socket};

/// Room names accepted by [`BroadcastOperator::to`] and friends: a `&str`,
/// a `String`, a [`Room`], or a `Vec`/array/slice of them.
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}
impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}
impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self.as_str())]
    }
}
impl IntoRooms for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}
impl IntoRooms for &crate::SocketId {
    fn into_rooms(self) -> Vec<Room> {
        vec![self.room()]
    }
}
impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}
impl<T: IntoRooms, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}
impl<T: IntoRooms + Clone> IntoRooms for &[T] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter()
            .cloned()
            .flat_map(IntoRooms::into_rooms)
            .collect()
    }
}

/// Targets and flags of an emit; build it from a [`Socket`], a
/// [`crate::Namespace`] or the [`crate::SocketIo`] server.
#[derive(Clone)]
#[must_use = "an operator does nothing until you emit"]
pub struct BroadcastOperator {
    namespaces: Vec<Arc<NsInner>>,
    sender: Option<Socket>,
    include_self: bool,
    opts: BroadcastOptions,
    timeout: Option<Duration>,
}

impl BroadcastOperator {
    pub(crate) fn new(namespaces: Vec<Arc<NsInner>>, sender: Option<Socket>) -> Self {
        BroadcastOperator {
            namespaces,
            sender,
            include_self: false,
            opts: BroadcastOptions::default(),
            timeout: None,
        }
    }

    pub(crate) fn namespaces(&self) -> &[Arc<NsInner>] {
        &self.namespaces
    }

    /// Adds target rooms (a socket id targets that socket).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// Same as [`BroadcastOperator::to`] (Node's `in`).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Leaves out the members of `rooms`.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    /// Leaves out one socket (Flask-SocketIO's `skip_sid`).
    pub fn skip_sid(self, id: &str) -> Self {
        self.except(id)
    }

    /// Includes the sending socket too (Flask-SocketIO's default for
    /// `broadcast=True` and `to=room`; Node leaves the sender out).
    pub fn include_self(mut self) -> Self {
        self.include_self = true;
        self
    }

    /// Drops the packet for receivers that cannot take it now (slow or
    /// reconnecting) instead of queueing it.
    pub fn volatile(mut self) -> Self {
        self.opts.volatile = true;
        self
    }

    /// Only the sockets of this node (no cluster publication).
    pub fn local(mut self) -> Self {
        self.opts.local = true;
        self
    }

    /// Whether the packet may be compressed (default true); `false` sends it
    /// uncompressed on WebSockets that negotiated permessage-deflate (see
    /// `per_message_deflate` in the engine options), as Node's `compress(false)`.
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.compress = compress;
        self
    }

    /// Timeout of [`BroadcastOperator::emit_with_ack`] (default: the server's
    /// `ack_timeout`).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn options(&self) -> BroadcastOptions {
        let mut opts = self.opts.clone();
        if let (Some(s), false) = (&self.sender, self.include_self) {
            opts.except.push(s.id().room());
        }
        opts
    }

    /// Emits `event` with `data` to the targets. `data` follows
    /// Flask-SocketIO's rule: a tuple is several arguments, `()` none.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let mut packet = event_packet("/", event, data, None)?;
        let opts = self.options();
        let mut first_err = None;
        for ns in &self.namespaces {
            // One packet for every namespace (several only for a dynamic parent).
            packet.nsp = crate::util::wire_nsp(&ns.name);
            let local = ns.local();
            let r = if ns.recovery.is_some() && !opts.volatile {
                // Connection state recovery: the offset as the last argument.
                ns.adapter()
                    .broadcast_replayable(&local, &packet, &opts)
                    .await
            } else {
                ns.adapter().broadcast(&local, &packet, &opts).await
            };
            if let Err(e) = r {
                first_err.get_or_insert(EmitError::Adapter(e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Sends a `message` event (Flask-SocketIO's `send`).
    pub async fn send<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        self.emit("message", data).await
    }

    /// Emits asking every target for an acknowledgement, and collects the
    /// answers until all came or the timeout passed.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<BroadcastAcks, EmitError> {
        let mut packet = event_packet("/", event, data, None)?;
        let opts = self.options();
        let timeout = self.timeout.unwrap_or_else(|| {
            self.namespaces
                .first()
                .and_then(|ns| ns.io.upgrade())
                .map(|io| io.config.ack_timeout)
                .unwrap_or(Duration::from_secs(10))
        });
        let collector = Arc::new(Collector::default());
        let deadline = tokio::time::Instant::now() + timeout;
        let mut adapter_ok = true;
        for ns in &self.namespaces {
            packet.nsp = crate::util::wire_nsp(&ns.name);
            let local = ns.local();
            let fut =
                ns.adapter()
                    .broadcast_with_ack(&local, &packet, &opts, timeout, collector.clone());
            match tokio::time::timeout_at(deadline, fut).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => adapter_ok = false,
            }
        }
        loop {
            let notified = collector.notify.notified();
            {
                let st = collector.state.lock().unwrap();
                if st.responses.len() >= st.expected {
                    return Ok(BroadcastAcks {
                        responses: st.responses.clone(),
                        complete: adapter_ok,
                    });
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let st = collector.state.lock().unwrap();
                return Ok(BroadcastAcks {
                    responses: st.responses.clone(),
                    complete: false,
                });
            }
        }
    }

    /// The targeted sockets on every node (Node's `fetchSockets`), each one a
    /// [`RemoteSocket`] that can be emitted to, joined to rooms or
    /// disconnected wherever it lives.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        let opts = self.options();
        let mut out = Vec::new();
        for ns in &self.namespaces {
            let infos = ns.adapter().fetch_sockets(&ns.local(), &opts).await?;
            out.extend(infos.into_iter().map(|info| RemoteSocket {
                info,
                ns: ns.clone(),
            }));
        }
        Ok(out)
    }

    /// The targeted sockets of this node.
    pub fn sockets(&self) -> Vec<Socket> {
        let opts = self.options();
        self.namespaces
            .iter()
            .flat_map(|ns| ns.targets(&opts, None))
            .collect()
    }

    /// Makes the targeted sockets (on every node) join `rooms`.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms = rooms.into_rooms();
        let opts = self.options();
        for ns in &self.namespaces {
            ns.adapter().add_sockets(&ns.local(), &opts, &rooms).await?;
        }
        Ok(())
    }

    /// Makes the targeted sockets (on every node) leave `rooms`.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms = rooms.into_rooms();
        let opts = self.options();
        for ns in &self.namespaces {
            ns.adapter().del_sockets(&ns.local(), &opts, &rooms).await?;
        }
        Ok(())
    }

    /// Disconnects the targeted sockets (on every node) from the namespace.
    pub async fn disconnect_sockets(&self) -> Result<(), AdapterError> {
        let opts = self.options();
        for ns in &self.namespaces {
            ns.adapter()
                .disconnect_sockets(&ns.local(), &opts, false)
                .await?;
        }
        Ok(())
    }
}

/// A socket as [`BroadcastOperator::fetch_sockets`] returns it: what its
/// node reported ([`SocketInfo`], also reachable through `Deref`: `s.id`,
/// `s.rooms`, `s.handshake`, `s.data`), and operations that reach it on
/// whichever node of the cluster it is connected to (Node's `RemoteSocket`).
///
/// ```
/// # async fn f(io: sockio::SocketIo) -> Result<(), Box<dyn std::error::Error>> {
/// for s in io.to("lobby").fetch_sockets().await? {
///     if s.rooms.iter().any(|r| &**r == "admins") {
///         s.emit("notice", "you are an admin").await?;
///     } else {
///         s.leave("lobby").await?;
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RemoteSocket {
    info: SocketInfo,
    ns: Arc<NsInner>,
}

impl std::fmt::Debug for RemoteSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSocket")
            .field("namespace", &self.ns.name)
            .field("info", &self.info)
            .finish()
    }
}

impl std::ops::Deref for RemoteSocket {
    type Target = SocketInfo;
    fn deref(&self) -> &SocketInfo {
        &self.info
    }
}

impl RemoteSocket {
    /// The socket id.
    pub fn id(&self) -> &crate::SocketId {
        &self.info.id
    }

    /// Its rooms, as its node reported them.
    pub fn rooms(&self) -> &[Room] {
        &self.info.rooms
    }

    /// Its session data (`socket.data` in Node), deserialized.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, protocol::ProtocolError> {
        protocol::from_value(self.info.data.clone())
    }

    /// What its node reported, by value.
    pub fn into_info(self) -> SocketInfo {
        self.info
    }

    /// An operator that targets this socket only, on whichever node it lives.
    pub fn operator(&self) -> BroadcastOperator {
        BroadcastOperator::new(vec![self.ns.clone()], None).to(&self.info.id)
    }

    /// Emits `event` with `data` to this socket.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        self.operator().emit(event, data).await
    }

    /// Makes this socket join `rooms`.
    pub async fn join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.operator().join(rooms).await
    }

    /// Makes this socket leave `rooms`.
    pub async fn leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.operator().leave(rooms).await
    }

    /// Disconnects this socket from its namespace (the client gets a
    /// DISCONNECT packet).
    pub async fn disconnect(&self) -> Result<(), AdapterError> {
        self.operator().disconnect_sockets().await
    }
}

/// The acknowledgements collected by [`BroadcastOperator::emit_with_ack`]
/// (each client's answer) and by
/// [`crate::Namespace::server_side_emit_with_ack`] (each other server's).
#[derive(Debug, Clone)]
pub struct BroadcastAcks {
    /// Each client's acknowledgement arguments, in arrival order.
    pub responses: Vec<Vec<Value>>,
    /// Whether every target answered before the timeout.
    pub complete: bool,
}

impl BroadcastAcks {
    /// Each client's first acknowledgement argument, deserialized.
    pub fn first_args<T: DeserializeOwned>(&self) -> Result<Vec<T>, AckError> {
        self.responses
            .iter()
            .map(|r| {
                protocol::from_value(r.first().cloned().unwrap_or(Value::Null))
                    .map_err(AckError::Decode)
            })
            .collect()
    }
}

#[derive(Default)]
struct Collector {
    state: Mutex<CollectorState>,
    notify: Notify,
}

#[derive(Default)]
struct CollectorState {
    expected: usize,
    responses: Vec<Vec<Value>>,
}

impl AckCollector for Collector {
    fn expect(&self, n: usize) {
        self.state.lock().unwrap().expected += n;
        self.notify.notify_waiters();
    }
    fn ack(&self, args: Vec<Value>) {
        self.state.lock().unwrap().responses.push(args);
        self.notify.notify_waiters();
    }
}
