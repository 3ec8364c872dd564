//! The [`Adapter`]: how a namespace reaches sockets beyond this process.
//!
//! A namespace always keeps its own sockets and their rooms (see
//! [`LocalNamespace`]); the adapter decides what else an operation does. The
//! in-memory [`LocalAdapter`] only applies operations locally; a cluster
//! adapter (Redis, in `sockio-redis`) applies them locally *and* publishes them
//! to the other nodes, and applies what other nodes publish through the
//! [`LocalNamespace`] handle it got at creation.
//!
//! Handlers never see the adapter: it is chosen once with
//! [`crate::SocketIoBuilder::adapter`].

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::errors::AdapterError;
use crate::ns::NsInner;
use crate::operators::BroadcastAcks;
use crate::protocol::{Packet, Value};
use crate::socket::SocketId;

/// A boxed future, as adapter methods return them.
pub type AdapterFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Room name.
pub type Room = Arc<str>;

/// Which sockets an operation targets: every socket in any of `rooms` (all
/// sockets of the namespace when empty), minus those in any of `except`.
#[derive(Debug, Clone)]
pub struct BroadcastOptions {
    /// Target rooms (a socket id is also a room: the socket's own).
    pub rooms: Vec<Room>,
    /// Rooms whose members are left out.
    pub except: Vec<Room>,
    /// Drop the packet for a socket whose send queue is full instead of
    /// disconnecting it.
    pub volatile: bool,
    /// Only this node's sockets (no publication to other nodes).
    pub local: bool,
    /// Whether the packet may be compressed (default true): false sends it
    /// uncompressed on WebSockets that negotiated permessage-deflate (Node's
    /// `compress(false)`).
    pub compress: bool,
}

impl Default for BroadcastOptions {
    fn default() -> Self {
        BroadcastOptions {
            rooms: Vec::new(),
            except: Vec::new(),
            volatile: false,
            local: false,
            compress: true,
        }
    }
}

/// What a cluster node knows of a socket (answer to `fetch_sockets`).
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket id.
    pub id: SocketId,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// The CONNECT payload and handshake details.
    pub handshake: Value,
    /// The socket's session data.
    pub data: Value,
}

/// A disconnected socket's state, kept for connection state recovery (a
/// client that reconnects within the window gets its id, rooms, data and the
/// events it missed; see [`crate::RecoveryConfig`]). The in-memory store of
/// each namespace keeps it by default; a cluster adapter overrides
/// [`Adapter::persist_session`] / [`Adapter::restore_session`] (and
/// [`Adapter::broadcast_replayable`]) to keep it where every node finds it.
#[derive(Debug, Clone)]
pub struct SessionState {
    /// The private id the client presents to recover (never shown to others).
    pub pid: String,
    /// The socket id to restore.
    pub id: SocketId,
    /// The namespace.
    pub namespace: String,
    /// The rooms to rejoin.
    pub rooms: Vec<Room>,
    /// The session data.
    pub data: Value,
    /// The events it missed, oldest first: each event's data (name,
    /// arguments, offset last), as sent.
    pub missed: Vec<Vec<Value>>,
}

/// An acknowledgement collector for broadcasts with acks: the adapter reports
/// how many clients were reached, then each client's answer.
pub trait AckCollector: Send + Sync {
    /// `n` more clients were sent the packet and will be waited for.
    fn expect(&self, n: usize);
    /// One client's acknowledgement arguments.
    fn ack(&self, args: Vec<Value>);
}

/// The cluster-facing side of a namespace. Every method has a local default
/// except [`Adapter::broadcast`]; cluster adapters override what they distribute.
pub trait Adapter: Send + Sync + 'static {
    /// Delivers `packet` to the targeted sockets (locally via `local`, and to other
    /// nodes unless `opts.local`).
    fn broadcast<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>>;

    /// Resolves once the adapter takes part in the cluster (a Redis adapter:
    /// its channels are subscribed), or with the reason it cannot. Awaited by
    /// [`crate::SocketIo::adapter_ready`] before serving, so that other nodes
    /// count this one from the first request. The default is ready at once.
    fn ready(&self) -> AdapterFuture<'_, Result<(), AdapterError>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// How many servers share this namespace, this one included (Node's
    /// `serverCount()`; 1 for a single process).
    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>> {
        Box::pin(std::future::ready(Ok(1)))
    }

    /// Delivers `packet` asking each socket for an acknowledgement; reports the
    /// number of clients and their answers to `acks`.
    ///
    /// Contract with the caller: the future resolves once **every node** has
    /// reported how many clients it sent the packet to (each through
    /// [`AckCollector::expect`], this node's before anything is awaited), so
    /// that the caller knows how many answers to wait for; answers may keep
    /// arriving afterwards, until `timeout`. A node that does not report in
    /// `timeout` makes it fail with [`AdapterError::Timeout`] (the answers
    /// collected so far stay in `acks`).
    fn broadcast_with_ack<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
        timeout: Duration,
        acks: Arc<dyn AckCollector>,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        let _ = timeout;
        Box::pin(async move {
            local.broadcast_with_ack(packet, opts, acks);
            Ok(())
        })
    }

    /// The targeted sockets on every node.
    fn fetch_sockets<'a>(
        &'a self,
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, AdapterError>> {
        Box::pin(async move { Ok(local.fetch_sockets(opts)) })
    }

    /// Makes the targeted sockets on every node join `rooms`.
    fn add_sockets<'a>(
        &'a self,
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            local.add_sockets(opts, rooms);
            Ok(())
        })
    }

    /// Makes the targeted sockets on every node leave `rooms`.
    fn del_sockets<'a>(
        &'a self,
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            local.del_sockets(opts, rooms);
            Ok(())
        })
    }

    /// Disconnects the targeted sockets on every node (`close`: also close
    /// their underlying connection).
    fn disconnect_sockets<'a>(
        &'a self,
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            local.disconnect_sockets(opts, close);
            Ok(())
        })
    }

    /// Every room that has a member, on every node.
    fn rooms<'a>(
        &'a self,
        local: &'a LocalNamespace,
    ) -> AdapterFuture<'a, Result<Vec<Room>, AdapterError>> {
        Box::pin(async move { Ok(local.rooms()) })
    }

    /// Connection state recovery is on: broadcasts a replayable event (an
    /// EVENT without ack id, not volatile), giving it an offset, appended as
    /// its last argument, which a client presents when it comes back. The
    /// default records it in the namespace's memory
    /// ([`LocalNamespace::record_event`]) then calls [`Adapter::broadcast`];
    /// a durable adapter can use its log's own ids (a Redis stream entry's)
    /// as offsets instead.
    fn broadcast_replayable<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            let mut p = packet.clone();
            if let (Some(offset), Some(Value::Array(a))) =
                (local.record_event(packet, opts), &mut p.data)
            {
                a.push(Value::from(offset));
            }
            self.broadcast(local, &p, opts).await
        })
    }

    /// Connection state recovery: keeps a disconnected socket's state for
    /// the recovery window. The default keeps it in the namespace's memory.
    fn persist_session<'a>(
        &'a self,
        local: &'a LocalNamespace,
        session: SessionState,
    ) -> AdapterFuture<'a, ()> {
        local.persist_session(session);
        Box::pin(std::future::ready(()))
    }

    /// Connection state recovery: the state kept for `pid`, with the events
    /// it missed after `offset`, if the window has not passed and the
    /// offset is still known. The default looks in the namespace's memory.
    fn restore_session<'a>(
        &'a self,
        local: &'a LocalNamespace,
        pid: &'a str,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<SessionState>, AdapterError>> {
        Box::pin(std::future::ready(Ok(local.restore_session(pid, offset))))
    }

    /// Sends a server-side event (`args[0]` is its name) to the other nodes,
    /// whose adapters hand it to [`LocalNamespace::server_side_event`]; with
    /// `ack`, collects their acknowledgements for at most that long: each
    /// node's answer in arrival order, `complete` false when not every node
    /// answered in time (a single node has no one to ask: no answers,
    /// complete). Fails only when the other nodes cannot be asked at all.
    fn server_side_emit<'a>(
        &'a self,
        local: &'a LocalNamespace,
        args: Vec<Value>,
        ack: Option<Duration>,
    ) -> AdapterFuture<'a, Result<BroadcastAcks, AdapterError>> {
        let _ = (local, args, ack);
        Box::pin(async move {
            Ok(BroadcastAcks {
                responses: Vec::new(),
                complete: true,
            })
        })
    }
}

/// The in-memory adapter: one process, every operation local. The default.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalAdapter;

impl Adapter for LocalAdapter {
    fn broadcast<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        local.broadcast(packet, opts);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// Creates a namespace's adapter (given to [`crate::SocketIoBuilder::adapter`]).
pub trait AdapterFactory: Send + Sync + 'static {
    /// Called once per namespace; keep `local` to apply what other nodes publish.
    fn create(&self, local: LocalNamespace) -> Arc<dyn Adapter>;
}

impl AdapterFactory for LocalAdapter {
    fn create(&self, _local: LocalNamespace) -> Arc<dyn Adapter> {
        Arc::new(LocalAdapter)
    }
}

/// A handle on one namespace's local sockets and rooms, for adapters.
#[derive(Clone)]
pub struct LocalNamespace {
    pub(crate) ns: Weak<NsInner>,
}

impl LocalNamespace {
    fn with<R: Default>(&self, f: impl FnOnce(&Arc<NsInner>) -> R) -> R {
        match self.ns.upgrade() {
            Some(ns) => f(&ns),
            None => R::default(),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> String {
        self.with(|ns| ns.name.to_string())
    }

    /// Encodes `packet` once and queues it to every targeted local socket.
    pub fn broadcast(&self, packet: &Packet, opts: &BroadcastOptions) {
        self.with(|ns| ns.local_broadcast(packet, opts, None))
    }

    /// As [`LocalNamespace::broadcast`], asking each socket for an ack reported to `acks`.
    pub fn broadcast_with_ack(
        &self,
        packet: &Packet,
        opts: &BroadcastOptions,
        acks: Arc<dyn AckCollector>,
    ) {
        self.with(|ns| ns.local_broadcast_with_ack(packet, opts, acks))
    }

    /// The ids of the targeted local sockets.
    pub fn socket_ids(&self, opts: &BroadcastOptions) -> Vec<SocketId> {
        self.with(|ns| {
            ns.targets(opts, None)
                .into_iter()
                .map(|s| s.id().clone())
                .collect()
        })
    }

    /// What this node knows of the targeted sockets.
    pub fn fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.with(|ns| ns.targets(opts, None).iter().map(|s| s.info()).collect())
    }

    /// Makes the targeted local sockets join `rooms`.
    pub fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        self.with(|ns| {
            for s in ns.targets(opts, None) {
                s.join(rooms.to_vec());
            }
        })
    }

    /// Makes the targeted local sockets leave `rooms`.
    pub fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        self.with(|ns| {
            for s in ns.targets(opts, None) {
                for r in rooms {
                    s.leave(r.clone());
                }
            }
        })
    }

    /// Disconnects the targeted local sockets.
    pub fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        self.with(|ns| {
            for s in ns.targets(opts, None) {
                s.disconnect_inner(close);
            }
        })
    }

    /// Whether some local socket is in `room` (a receiver skips a message for
    /// a room it has no member of before decoding it).
    pub fn has_room(&self, room: &str) -> bool {
        self.with(|ns| ns.rooms.read().unwrap().contains_key(room))
    }

    /// Every local room with a member.
    pub fn rooms(&self) -> Vec<Room> {
        self.with(|ns| ns.rooms.read().unwrap().keys().cloned().collect())
    }

    /// Connection state recovery's options when it is on (an adapter that
    /// keeps sessions itself needs `max_disconnection_duration`).
    pub fn recovery_config(&self) -> Option<crate::RecoveryConfig> {
        Some(self.ns.upgrade()?.recovery_log()?.config().clone())
    }

    /// Records a replayable event in the namespace's in-memory recovery log
    /// and returns its offset (see [`Adapter::broadcast_replayable`]); `None`
    /// when recovery is off.
    pub fn record_event(&self, packet: &Packet, opts: &BroadcastOptions) -> Option<String> {
        Some(self.ns.upgrade()?.recovery_log()?.record(packet, opts))
    }

    /// Keeps a socket's state in the namespace's in-memory recovery store.
    pub fn persist_session(&self, session: SessionState) {
        if let Some(log) = self.ns.upgrade().and_then(|ns| ns.recovery_log()) {
            log.persist(session);
        }
    }

    /// The state kept in the namespace's in-memory recovery store.
    pub fn restore_session(&self, pid: &str, offset: &str) -> Option<SessionState> {
        self.ns.upgrade()?.recovery_log()?.restore(pid, offset)
    }

    /// Runs this node's handler for a server-side event another node sent
    /// (`args[0]` is the event name; see [`crate::Namespace::on_server_side`]).
    /// Resolves to the acknowledgement arguments, or `None` when there is no
    /// handler or it failed (logged).
    pub fn server_side_event(
        &self,
        mut args: Vec<Value>,
    ) -> AdapterFuture<'static, Option<Vec<Value>>> {
        let Some(ns) = self.ns.upgrade() else {
            return Box::pin(std::future::ready(None));
        };
        let Some(io) = ns.io.upgrade() else {
            return Box::pin(std::future::ready(None));
        };
        let event = match (!args.is_empty()).then(|| args.remove(0)) {
            Some(Value::String(s)) => s,
            _ => return Box::pin(std::future::ready(None)),
        };
        let handler = ns
            .handlers
            .server_events
            .read()
            .unwrap()
            .get(event.as_str())
            .cloned();
        let Some(handler) = handler else {
            tracing::debug!(ns = %ns.name, %event, "no handler for server-side event");
            return Box::pin(std::future::ready(None));
        };
        let mut ctx = crate::extract::Context::server(io);
        ctx.ns_handlers = Some(ns.handlers.clone());
        ctx.args = args;
        ctx.event = Some(Arc::from(event.as_str()));
        match handler(&mut ctx) {
            Ok(fut) => Box::pin(async move {
                match fut.await {
                    Ok(reply) => Some(reply),
                    Err(e) => {
                        let e = crate::HandlerError { event, kind: e };
                        tracing::warn!("server-side event handler failed: {e}");
                        None
                    }
                }
            }),
            Err(e) => {
                tracing::warn!(%event, "server-side event arguments: {e}");
                Box::pin(std::future::ready(None))
            }
        }
    }

    /// Local room membership test helper: the rooms of a local socket.
    pub fn socket_rooms(&self, id: &str) -> HashSet<Room> {
        self.with(|ns| {
            ns.socket(id)
                .map(|s| s.rooms().into_iter().collect())
                .unwrap_or_default()
        })
    }
}
