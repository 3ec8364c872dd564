//! The Redis pub/sub adapter, in the wire format of Node's
//! `@socket.io/redis-adapter` 8.x (`createAdapter`, the classic one).
//!
//! Connection state recovery is per server (pub/sub keeps nothing to replay,
//! and Node's classic adapter has no recovery): each server records what its
//! sockets get, other servers' broadcasts included, so a client recovers on
//! the server it left; on another server it gets a new socket. For recovery
//! across servers use [`crate::RedisStreamsAdapter`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use redis::{PushInfo, PushKind};
use sockio::adapter::{
    AckCollector, Adapter, AdapterFactory, AdapterFuture, BroadcastOptions, LocalNamespace,
    SocketInfo,
};
use sockio::protocol::{encode_msgpack_value, Packet, PacketKind, Value};
use sockio::{AdapterError, BroadcastAcks, Room};
use tokio::sync::{mpsc, watch};

use crate::link::{inc, Link, LinkOptions, PushHandler, RedisMetrics};
use crate::wire::{self, req, Channels};

/// Options of [`RedisAdapter`]; start with [`RedisAdapter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisAdapterBuilder {
    url: String,
    key: String,
    request_timeout: Duration,
    specific_response_channel: bool,
    publish_queue: usize,
    publish_timeout: Duration,
}

impl RedisAdapterBuilder {
    /// Channel prefix (default `socket.io`, Node's `key`): every server of a
    /// cluster, and its emitters, must use the same.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How long a cluster request (fetch sockets, all rooms, server count,
    /// broadcast client counts) waits for the other servers (default 5 s,
    /// Node's `requestsTimeout`).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Answer requests on the requester's own channel
    /// `<key>-response#<nsp>#<uid>#` instead of the shared one (default
    /// false, Node's `publishOnSpecificResponseChannel`). Every server
    /// listens on both.
    pub fn publish_on_specific_response_channel(mut self, yes: bool) -> Self {
        self.specific_response_channel = yes;
        self
    }

    /// Most publications waiting to be sent (default 65,536): past it, an
    /// emit is delivered locally and fails with
    /// [`AdapterError::Unavailable`] for the other nodes.
    pub fn publish_queue(mut self, len: usize) -> Self {
        self.publish_queue = len;
        self
    }

    /// A publication not sent within this time is dropped (default 2 s):
    /// after an outage the other nodes do not get stale messages.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Connects to Redis (fails with [`AdapterError::Unavailable`] when it
    /// cannot be reached) and returns the adapter factory to give to
    /// [`sockio::SocketIoBuilder::adapter`].
    pub async fn build(self) -> Result<RedisAdapter, AdapterError> {
        if self.request_timeout.is_zero() || self.publish_timeout.is_zero() {
            return Err(AdapterError::Other(
                "request_timeout and publish_timeout must be more than zero".into(),
            ));
        }
        let cell: Arc<OnceLock<Weak<Shared>>> = Arc::default();
        let on_push: PushHandler = {
            let cell = cell.clone();
            Arc::new(move |p: PushInfo| {
                if let Some(shared) = cell.get().and_then(Weak::upgrade) {
                    shared.on_push(p);
                }
            })
        };
        let link = Link::connect(
            LinkOptions {
                url: self.url.clone(),
                publish_queue: self.publish_queue,
                publish_timeout: self.publish_timeout,
                command_timeout: self.request_timeout,
            },
            Some(on_push),
        )
        .await?;
        let shared = Arc::new(Shared {
            uid: wire::random_id(6),
            key: self.key,
            request_timeout: self.request_timeout,
            specific_response_channel: self.specific_response_channel,
            link,
            namespaces: RwLock::default(),
            rt: tokio::runtime::Handle::current(),
        });
        let _ = cell.set(Arc::downgrade(&shared));
        tracing::debug!(uid = %shared.uid, "redis adapter connected");
        Ok(RedisAdapter { shared })
    }
}

/// The Redis adapter: give it to [`sockio::SocketIoBuilder::adapter`] and
/// every namespace of the server shares its rooms, broadcasts and requests
/// with the other servers on the same Redis: sockio servers and Node servers
/// with `@socket.io/redis-adapter` 8.x alike, and what
/// `@socket.io/redis-emitter` publishes reaches this server's clients.
///
/// ```no_run
/// use sockio::SocketIo;
/// use sockio_redis::RedisAdapter;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let io = SocketIo::builder()
///     .adapter(RedisAdapter::new("redis://127.0.0.1:6379").await?)
///     .build()?;
/// io.of("/chat");
/// io.adapter_ready().await?; // subscribed: other servers count this one
/// sockio::serve(io, "127.0.0.1:3000").await?;
/// # Ok(()) }
/// ```
///
/// Cheap to clone (keep a clone to read [`RedisAdapter::metrics`]).
/// Handlers never name it.
#[derive(Clone)]
pub struct RedisAdapter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("uid", &self.shared.uid)
            .field("key", &self.shared.key)
            .field("redis", &self.shared.link.health.label)
            .finish()
    }
}

impl RedisAdapter {
    /// Connects with the default options (see [`RedisAdapterBuilder`]).
    pub async fn new(url: &str) -> Result<RedisAdapter, AdapterError> {
        Self::builder(url).build().await
    }

    /// Starts building an adapter for the Redis at `url`
    /// (`redis://[user:password@]host:port[/db]`).
    pub fn builder(url: &str) -> RedisAdapterBuilder {
        RedisAdapterBuilder {
            url: url.to_string(),
            key: "socket.io".into(),
            request_timeout: Duration::from_secs(5),
            specific_response_channel: false,
            publish_queue: 65_536,
            publish_timeout: Duration::from_secs(2),
        }
    }

    /// This server's id in the cluster (6 random characters, as Node's).
    pub fn uid(&self) -> &str {
        &self.shared.uid
    }

    /// Whether Redis answers now.
    pub fn is_connected(&self) -> bool {
        self.shared.link.health.is_up()
    }

    /// The adapter's counters (messages, drops, outages and their
    /// durations), for logs and metrics exporters.
    pub fn metrics(&self) -> RedisMetrics {
        self.shared.link.health.snapshot()
    }
}

impl AdapterFactory for RedisAdapter {
    fn create(&self, local: LocalNamespace) -> Arc<dyn Adapter> {
        let name = local.name();
        let ch = Channels::new(&self.shared.key, &name);
        let specific = ch.specific_response(&self.shared.uid);
        let (ready_tx, ready_rx) = watch::channel(None);
        let ns = Arc::new(NsAdapter {
            shared: self.shared.clone(),
            recovery: local.recovery_config().is_some(),
            local,
            wire_nsp: if name == "/" {
                String::new()
            } else {
                name.clone()
            },
            name,
            ch,
            specific,
            requests: Arc::default(),
            ready: ready_rx,
        });
        self.shared
            .namespaces
            .write()
            .unwrap()
            .insert(ns.name.clone(), Arc::downgrade(&ns));
        self.shared
            .rt
            .spawn(subscribe(Arc::downgrade(&ns), ready_tx));
        ns
    }
}

/// Subscribes a namespace's channels, retrying until Redis takes it.
async fn subscribe(ns: Weak<NsAdapter>, ready: watch::Sender<Option<Result<(), String>>>) {
    loop {
        let Some(n) = ns.upgrade() else { return };
        let Some(mut sub) = n.shared.link.sub.clone() else {
            return;
        };
        let pattern = format!("{}*", wire::glob_escape(&n.ch.broadcast));
        let channels = [
            n.ch.request.clone(),
            n.ch.response.clone(),
            n.specific.clone(),
        ];
        let res = async {
            sub.psubscribe(&pattern).await?;
            sub.subscribe(&channels[..]).await
        }
        .await;
        match res {
            Ok(()) => {
                tracing::debug!(nsp = %n.name, "subscribed");
                let _ = ready.send(Some(Ok(())));
                return;
            }
            Err(e) => {
                tracing::warn!(nsp = %n.name, "cannot subscribe yet: {e}; retrying");
                let _ = ready.send(Some(Err(e.to_string())));
            }
        }
        drop(n);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Shared {
    uid: String,
    key: String,
    request_timeout: Duration,
    specific_response_channel: bool,
    link: Link,
    namespaces: RwLock<HashMap<String, Weak<NsAdapter>>>,
    /// The runtime the adapter was built in (namespaces may be created outside it).
    rt: tokio::runtime::Handle,
}

impl Shared {
    /// A push from the subscriber connection (called in its task: no waiting).
    fn on_push(self: &Arc<Self>, p: PushInfo) {
        let (channel, payload) = match (p.kind, p.data.as_slice()) {
            (PushKind::Message, [c, m]) => (c, m),
            (PushKind::PMessage, [_, c, m]) => (c, m),
            (PushKind::Disconnection, _) => {
                self.link
                    .health
                    .mark_down("the subscriber connection closed");
                return;
            }
            _ => return,
        };
        let (redis::Value::BulkString(channel), redis::Value::BulkString(payload)) =
            (channel, payload)
        else {
            return;
        };
        let Ok(channel) = std::str::from_utf8(channel) else {
            return;
        };
        self.on_message(channel, payload);
    }

    fn find_ns(&self, rest: &str) -> Option<Arc<NsAdapter>> {
        let map = self.namespaces.read().unwrap();
        // fast path: a namespace name without '#'
        if let Some(i) = rest.find('#') {
            if let Some(ns) = map.get(&rest[..i]).and_then(Weak::upgrade) {
                return Some(ns);
            }
        }
        map.iter()
            .filter(|(name, _)| {
                rest.len() > name.len()
                    && rest.starts_with(name.as_str())
                    && rest.as_bytes()[name.len()] == b'#'
            })
            .max_by_key(|(name, _)| name.len())
            .and_then(|(_, ns)| ns.upgrade())
    }

    fn on_message(self: &Arc<Self>, channel: &str, payload: &[u8]) {
        let key = self.key.as_str();
        let Some(rest) = channel.strip_prefix(key) else {
            return;
        };
        if let Some(rest) = rest.strip_prefix('#') {
            if let Some(ns) = self.find_ns(rest) {
                let room = &channel[ns.ch.broadcast.len()..];
                let room = room.strip_suffix('#').filter(|r| !r.is_empty());
                ns.on_broadcast(room, payload);
            }
        } else if let Some(rest) = rest.strip_prefix("-request#") {
            if let Some(ns) = self.find_ns(rest) {
                if channel == ns.ch.request {
                    ns.on_request(payload);
                }
            }
        } else if let Some(rest) = rest.strip_prefix("-response#") {
            if let Some(ns) = self.find_ns(rest) {
                if channel == ns.ch.response || channel == ns.specific {
                    ns.on_response(payload);
                }
            }
        }
    }
}

/// One namespace's adapter.
struct NsAdapter {
    /// Connection state recovery is on: this node records what its
    /// sockets get, its own broadcasts and the others', in its memory.
    recovery: bool,
    shared: Arc<Shared>,
    local: LocalNamespace,
    name: String,
    /// The namespace as packets carry it (empty for `/`).
    wire_nsp: String,
    ch: Channels,
    specific: String,
    /// Requests waiting for answers: requestId → where answers go.
    requests: Requests,
    ready: watch::Receiver<Option<Result<(), String>>>,
}

impl Drop for NsAdapter {
    fn drop(&mut self) {
        {
            let mut map = self.shared.namespaces.write().unwrap();
            if map.get(&self.name).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.name);
            }
        }
        if let Some(mut sub) = self.shared.link.sub.clone() {
            let rt = self.shared.rt.clone();
            let pattern = format!("{}*", wire::glob_escape(&self.ch.broadcast));
            let channels = [
                self.ch.request.clone(),
                self.ch.response.clone(),
                self.specific.clone(),
            ];
            rt.spawn(async move {
                let _ = sub.punsubscribe(&pattern).await;
                let _ = sub.unsubscribe(&channels[..]).await;
            });
        }
    }
}

type Requests = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>>;

/// Removes a pending request when its waiter ends.
struct Pending {
    requests: Requests,
    id: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.requests.lock().unwrap().remove(&self.id);
    }
}

/// Hands a broadcast-with-ack answer to the collector; counts client counts.
fn forward_ack(acks: &Arc<dyn AckCollector>, mut r: Value, counts: &mut usize) {
    match r.get("type").and_then(Value::as_u64) {
        Some(req::BROADCAST_CLIENT_COUNT) => {
            let n = r.get("clientCount").and_then(Value::as_u64).unwrap_or(0);
            acks.expect(n as usize);
            *counts += 1;
        }
        Some(req::BROADCAST_ACK) => acks.ack(vec![r.remove("packet").unwrap_or_default()]),
        _ => {}
    }
}

impl NsAdapter {
    fn metrics(&self) -> &crate::link::Counters {
        &self.shared.link.health.counters
    }

    fn decode_error(&self, what: &str, e: &str) {
        inc(&self.metrics().decode_errors, 1);
        tracing::warn!(nsp = %self.name, "ignoring a malformed {what} from Redis: {e}");
    }

    // ------------------------------------------------------------ receiving

    fn on_broadcast(&self, room: Option<&str>, payload: &[u8]) {
        if let Some(room) = room {
            // (with recovery on, a room without a member now may have one
            // coming back: the event is recorded for it)
            if !self.recovery && !self.local.has_room(room) {
                inc(&self.metrics().skipped, 1);
                return;
            }
        }
        let msg = match wire::decode_any(payload) {
            Ok(Value::Array(a)) if a.len() >= 2 => a,
            Ok(_) => return self.decode_error("broadcast", "not [uid, packet, opts]"),
            Err(e) => return self.decode_error("broadcast", &e),
        };
        let mut it = msg.into_iter();
        let uid = it.next().unwrap_or_default();
        if uid.as_str() == Some(self.shared.uid.as_str()) {
            inc(&self.metrics().skipped, 1);
            return;
        }
        let mut packet = it.next().unwrap_or_default();
        let opts = it.next();
        let nsp = packet.get("nsp").and_then(Value::as_str).unwrap_or("/");
        if nsp != self.name {
            return;
        }
        let Some(packet) = self.event_packet(&mut packet) else {
            return self.decode_error("broadcast", "the packet is not an EVENT [name, ...args]");
        };
        let opts = wire::opts_of(opts.as_ref());
        inc(&self.metrics().received, 1);
        let mut packet = packet;
        if self.recovery && !opts.volatile {
            // an offset of this node's log, as for its own broadcasts
            if let (Some(offset), Some(Value::Array(a))) =
                (self.local.record_event(&packet, &opts), &mut packet.data)
            {
                a.push(Value::from(offset));
            }
        }
        self.local.broadcast(&packet, &opts);
    }

    /// `{type: 2, data: [event, ...args]}` as a packet of this namespace.
    fn event_packet(&self, packet: &mut Value) -> Option<Packet> {
        let ty = packet.get("type").and_then(Value::as_u64);
        if !matches!(ty, Some(2) | Some(5)) {
            return None;
        }
        let data = packet.remove("data")?;
        match data.as_array().and_then(|a| a.first()) {
            Some(Value::String(_)) => {}
            _ => return None,
        }
        Some(Packet {
            kind: PacketKind::Event,
            nsp: self.wire_nsp.clone(),
            id: None,
            data: Some(data),
        })
    }

    fn on_request(self: &Arc<Self>, payload: &[u8]) {
        let mut r = match wire::decode_any(payload) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return self.decode_error("request", "not an object"),
            Err(e) => return self.decode_error("request", &e),
        };
        let own = r.get("uid").and_then(Value::as_str) == Some(self.shared.uid.as_str());
        if own {
            // applied locally when made; answering would count this node twice
            inc(&self.metrics().skipped, 1);
            return;
        }
        let requester = r
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let request_id = r.get("requestId").and_then(wire::room_of);
        let opts = wire::opts_of(r.get("opts"));
        let has_opts = r.get("opts").is_some();
        inc(&self.metrics().received, 1);
        match r.get("type").and_then(Value::as_u64) {
            Some(req::SOCKETS) => {
                let opts = BroadcastOptions {
                    rooms: wire::rooms_of(r.get("rooms")),
                    ..Default::default()
                };
                let ids: Vec<String> = self
                    .local
                    .socket_ids(&opts)
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                let body = serde_json::json!({"requestId": request_id.as_deref(), "sockets": ids});
                self.respond(&requester, body.to_string().into_bytes());
            }
            Some(req::ALL_ROOMS) => {
                let rooms: Vec<String> = self.local.rooms().iter().map(|r| r.to_string()).collect();
                let body = serde_json::json!({"requestId": request_id.as_deref(), "rooms": rooms});
                self.respond(&requester, body.to_string().into_bytes());
            }
            Some(t @ (req::REMOTE_JOIN | req::REMOTE_LEAVE)) => {
                let (opts, rooms) = if has_opts {
                    (opts, wire::rooms_of(r.get("rooms")))
                } else {
                    // before 7.x: {sid, room}, answered
                    let sid = r.get("sid").and_then(wire::room_of);
                    let room = r.get("room").and_then(wire::room_of);
                    let (Some(sid), Some(room)) = (sid, room) else {
                        return;
                    };
                    if self
                        .local
                        .socket_ids(&BroadcastOptions {
                            rooms: vec![sid.clone()],
                            ..Default::default()
                        })
                        .is_empty()
                    {
                        return;
                    }
                    let body = serde_json::json!({"requestId": request_id.as_deref()});
                    self.respond(&requester, body.to_string().into_bytes());
                    (
                        BroadcastOptions {
                            rooms: vec![sid],
                            ..Default::default()
                        },
                        vec![room],
                    )
                };
                if t == req::REMOTE_JOIN {
                    self.local.add_sockets(&opts, &rooms);
                } else {
                    self.local.del_sockets(&opts, &rooms);
                }
            }
            Some(req::REMOTE_DISCONNECT) => {
                let close = r.get("close").is_some_and(Value::is_truthy);
                if has_opts {
                    self.local.disconnect_sockets(&opts, close);
                } else if let Some(sid) = r.get("sid").and_then(wire::room_of) {
                    let opts = BroadcastOptions {
                        rooms: vec![sid],
                        ..Default::default()
                    };
                    if !self.local.socket_ids(&opts).is_empty() {
                        self.local.disconnect_sockets(&opts, close);
                        let body = serde_json::json!({"requestId": request_id.as_deref()});
                        self.respond(&requester, body.to_string().into_bytes());
                    }
                }
            }
            Some(req::REMOTE_FETCH) => {
                let Some(id) = request_id else { return };
                let sockets = self.local.fetch_sockets(&opts);
                let mut body = String::with_capacity(64 + 256 * sockets.len());
                body.push_str("{\"requestId\":");
                body.push_str(&serde_json::Value::from(&*id).to_string());
                body.push_str(",\"sockets\":[");
                for (i, s) in sockets.iter().enumerate() {
                    if i > 0 {
                        body.push(',');
                    }
                    let rooms: Vec<&str> = s.rooms.iter().map(|r| &**r).collect();
                    body.push_str("{\"id\":");
                    body.push_str(&serde_json::Value::from(s.id.as_str()).to_string());
                    body.push_str(",\"handshake\":");
                    body.push_str(&wire::json_text(&s.handshake));
                    body.push_str(",\"rooms\":");
                    body.push_str(&serde_json::Value::from(rooms).to_string());
                    body.push_str(",\"data\":");
                    body.push_str(&wire::json_text(&s.data));
                    body.push('}');
                }
                body.push_str("]}");
                self.respond(&requester, body.into_bytes());
            }
            Some(req::SERVER_SIDE_EMIT) => {
                let Some(Value::Array(args)) = r.remove("data") else {
                    return self.decode_error("request", "server-side emit without data");
                };
                let fut = self.local.server_side_event(args);
                let Some(id) = request_id else {
                    self.shared.rt.spawn(fut);
                    return;
                };
                let ns = self.clone();
                self.shared.rt.spawn(async move {
                    // no handler (or it failed): no answer, as Node
                    let Some(reply) = fut.await else { return };
                    let mut body = serde_json::Map::new();
                    body.insert("type".into(), req::SERVER_SIDE_EMIT.into());
                    body.insert("requestId".into(), id.to_string().into());
                    if let Some(first) = reply.into_iter().next() {
                        body.insert("data".into(), serde_json::Value::from(first));
                    }
                    let body = serde_json::Value::Object(body).to_string();
                    let _ = ns
                        .shared
                        .link
                        .publish(ns.ch.response.clone(), body.into_bytes());
                });
            }
            Some(req::BROADCAST) => {
                let Some(id) = request_id else { return };
                let mut packet = r.remove("packet").unwrap_or_default();
                let Some(packet) = self.event_packet(&mut packet) else {
                    return self.decode_error("request", "broadcast without an EVENT packet");
                };
                let collector = Arc::new(RemoteAcks {
                    ns: self.clone(),
                    requester,
                    request_id: id.to_string(),
                });
                self.local.broadcast_with_ack(&packet, &opts, collector);
            }
            _ => {}
        }
    }

    fn respond(&self, requester: &str, body: Vec<u8>) {
        let channel = if self.shared.specific_response_channel && !requester.is_empty() {
            self.ch.specific_response(requester)
        } else {
            self.ch.response.clone()
        };
        let _ = self.shared.link.publish(channel, body);
    }

    fn on_response(&self, payload: &[u8]) {
        let r = match wire::decode_any(payload) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return self.decode_error("response", "not an object"),
            Err(e) => return self.decode_error("response", &e),
        };
        let Some(id) = r.get("requestId").and_then(wire::room_of) else {
            return;
        };
        let tx = self.requests.lock().unwrap().get(&*id).cloned();
        if let Some(tx) = tx {
            let _ = tx.send(r);
        }
    }

    // ------------------------------------------------------------ requesting

    /// Registers a request, publishes it and returns its answers' receiver.
    fn start_request(
        &self,
        id: &str,
        body: Vec<u8>,
    ) -> Result<(Pending, mpsc::UnboundedReceiver<Value>), AdapterError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.requests.lock().unwrap().insert(id.to_string(), tx);
        let pending = Pending {
            requests: self.requests.clone(),
            id: id.to_string(),
        };
        self.shared.link.publish(self.ch.request.clone(), body)?;
        Ok((pending, rx))
    }

    /// The other servers: `PUBSUB NUMSUB` of the request channel, minus this one.
    async fn others(&self) -> Result<usize, AdapterError> {
        Ok(self
            .shared
            .link
            .numsub(&self.ch.request)
            .await?
            .saturating_sub(1))
    }

    /// Collects `expected` answers (each accepted by `take`) until `timeout`;
    /// false when the time ran out first.
    async fn collect(
        &self,
        rx: &mut mpsc::UnboundedReceiver<Value>,
        expected: usize,
        timeout: Duration,
        mut take: impl FnMut(Value) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut got = 0;
        while got < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(v)) => {
                    if take(v) {
                        got += 1;
                    }
                }
                Ok(None) | Err(_) => {
                    inc(&self.metrics().requests_timed_out, 1);
                    return false;
                }
            }
        }
        true
    }

    async fn fetch(&self, opts: &BroadcastOptions) -> Result<Vec<SocketInfo>, AdapterError> {
        let mut out = self.local.fetch_sockets(opts);
        if opts.local {
            return Ok(out);
        }
        let others = self.others().await?;
        if others == 0 {
            return Ok(out);
        }
        let id = wire::random_id(6);
        let body = serde_json::json!({
            "uid": self.shared.uid,
            "requestId": id,
            "type": req::REMOTE_FETCH,
            "opts": wire::opts_json(opts),
        });
        let (_pending, mut rx) = self.start_request(&id, body.to_string().into_bytes())?;
        let complete = self
            .collect(&mut rx, others, self.shared.request_timeout, |mut r| {
                let Some(Value::Array(sockets)) = r.remove("sockets") else {
                    return false;
                };
                out.extend(sockets.into_iter().filter_map(socket_info));
                true
            })
            .await;
        if !complete {
            return Err(AdapterError::Timeout);
        }
        Ok(out)
    }

    async fn all_rooms(&self) -> Result<Vec<Room>, AdapterError> {
        let mut rooms: std::collections::BTreeSet<Room> = self.local.rooms().into_iter().collect();
        let others = self.others().await?;
        if others == 0 {
            return Ok(rooms.into_iter().collect());
        }
        let id = wire::random_id(6);
        let body =
            serde_json::json!({"uid": self.shared.uid, "requestId": id, "type": req::ALL_ROOMS});
        let (_pending, mut rx) = self.start_request(&id, body.to_string().into_bytes())?;
        let complete = self
            .collect(&mut rx, others, self.shared.request_timeout, |r| {
                let Some(list) = r.get("rooms").and_then(Value::as_array) else {
                    return false;
                };
                rooms.extend(list.iter().filter_map(wire::room_of));
                true
            })
            .await;
        if !complete {
            return Err(AdapterError::Timeout);
        }
        Ok(rooms.into_iter().collect())
    }

    fn publish_request(&self, body: serde_json::Value) -> Result<(), AdapterError> {
        self.shared
            .link
            .publish(self.ch.request.clone(), body.to_string().into_bytes())
    }
}

/// A fetched socket as a peer reported it.
pub(crate) fn socket_info(mut s: Value) -> Option<SocketInfo> {
    let id = s.get("id").and_then(Value::as_str)?.to_string();
    Some(SocketInfo {
        id: id.into(),
        rooms: wire::rooms_of(s.get("rooms")),
        handshake: s.remove("handshake").unwrap_or_default(),
        data: s.remove("data").unwrap_or_default(),
    })
}

/// Forwards this node's client count and client acks to the requester.
struct RemoteAcks {
    ns: Arc<NsAdapter>,
    requester: String,
    request_id: String,
}

impl AckCollector for RemoteAcks {
    fn expect(&self, n: usize) {
        let body = serde_json::json!({
            "type": req::BROADCAST_CLIENT_COUNT,
            "requestId": self.request_id,
            "clientCount": n,
        });
        self.ns
            .respond(&self.requester, body.to_string().into_bytes());
    }

    fn ack(&self, args: Vec<Value>) {
        let mut buf = Vec::with_capacity(32);
        wire::write_map_len(&mut buf, 3);
        wire::write_str(&mut buf, "type");
        wire::write_uint(&mut buf, req::BROADCAST_ACK);
        wire::write_str(&mut buf, "requestId");
        wire::write_str(&mut buf, &self.request_id);
        wire::write_str(&mut buf, "packet");
        encode_msgpack_value(&mut buf, args.first().unwrap_or(&Value::Null));
        self.ns.respond(&self.requester, buf);
    }
}

impl Adapter for NsAdapter {
    fn broadcast<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        local.broadcast(packet, opts);
        let res = if opts.local {
            Ok(())
        } else {
            let msg =
                wire::encode_broadcast(&self.shared.uid, &self.name, packet.data.as_ref(), opts);
            self.shared
                .link
                .publish(self.ch.broadcast_channel(&opts.rooms), msg)
        };
        Box::pin(std::future::ready(res))
    }

    /// Connection state recovery on the classic adapter is per node (Node's
    /// `@socket.io/redis-adapter` has none): the event is recorded in this
    /// node's memory and this node's sockets get it with that offset; it is
    /// published without it, and every other node records it in its own
    /// memory with an offset of its own. A client thus recovers on the node
    /// it left, with every event it missed; on another node it gets a new
    /// socket (use [`crate::RedisStreamsAdapter`] for recovery across nodes).
    fn broadcast_replayable<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        let mut p = packet.clone();
        if let (Some(offset), Some(Value::Array(a))) =
            (local.record_event(packet, opts), &mut p.data)
        {
            a.push(Value::from(offset));
        }
        local.broadcast(&p, opts);
        let res = if opts.local {
            Ok(())
        } else {
            let msg =
                wire::encode_broadcast(&self.shared.uid, &self.name, packet.data.as_ref(), opts);
            self.shared
                .link
                .publish(self.ch.broadcast_channel(&opts.rooms), msg)
        };
        Box::pin(std::future::ready(res))
    }

    fn ready(&self) -> AdapterFuture<'_, Result<(), AdapterError>> {
        let mut rx = self.ready.clone();
        let timeout = self.shared.request_timeout;
        Box::pin(async move {
            let ok = matches!(
                tokio::time::timeout(timeout, rx.wait_for(|s| matches!(s, Some(Ok(()))))).await,
                Ok(Ok(_))
            );
            match ok {
                true => Ok(()),
                false => {
                    let last = rx.borrow().clone();
                    Err(AdapterError::Unavailable(format!(
                        "not subscribed to Redis after {timeout:?}{}",
                        match last {
                            Some(Err(e)) => format!(": {e}"),
                            _ => String::new(),
                        }
                    )))
                }
            }
        })
    }

    fn server_count(&self) -> AdapterFuture<'_, Result<usize, AdapterError>> {
        Box::pin(async move { Ok(self.others().await? + 1) })
    }

    fn broadcast_with_ack<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
        timeout: Duration,
        acks: Arc<dyn AckCollector>,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        local.broadcast_with_ack(packet, opts, acks.clone());
        Box::pin(async move {
            if opts.local {
                return Ok(());
            }
            let others = self.others().await?;
            if others == 0 {
                return Ok(());
            }
            let id = wire::random_id(6);
            let mut buf = Vec::with_capacity(96);
            wire::write_map_len(&mut buf, 5);
            wire::write_str(&mut buf, "uid");
            wire::write_str(&mut buf, &self.shared.uid);
            wire::write_str(&mut buf, "requestId");
            wire::write_str(&mut buf, &id);
            wire::write_str(&mut buf, "type");
            wire::write_uint(&mut buf, req::BROADCAST);
            wire::write_str(&mut buf, "packet");
            wire::write_packet(&mut buf, packet.data.as_ref(), &self.name);
            wire::write_str(&mut buf, "opts");
            wire::write_opts(&mut buf, opts, Some(timeout.as_millis() as u64));
            let (pending, mut rx) = self.start_request(&id, buf)?;
            let deadline = tokio::time::Instant::now() + timeout;
            let mut counts = 0;
            while counts < others {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(r)) => forward_ack(&acks, r, &mut counts),
                    Ok(None) | Err(_) => {
                        inc(&self.metrics().requests_timed_out, 1);
                        return Err(AdapterError::Timeout);
                    }
                }
            }
            // every node reported its count: keep forwarding acks until the timeout
            self.shared.rt.spawn(async move {
                let _pending = pending;
                let mut counts = 0;
                while let Ok(Some(r)) = tokio::time::timeout_at(deadline, rx.recv()).await {
                    forward_ack(&acks, r, &mut counts);
                }
            });
            Ok(())
        })
    }

    fn fetch_sockets<'a>(
        &'a self,
        _local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, AdapterError>> {
        Box::pin(self.fetch(opts))
    }

    fn add_sockets<'a>(
        &'a self,
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        local.add_sockets(opts, rooms);
        let res = if opts.local {
            Ok(())
        } else {
            self.publish_request(serde_json::json!({
                "uid": self.shared.uid,
                "type": req::REMOTE_JOIN,
                "opts": wire::opts_json(opts),
                "rooms": rooms.iter().map(|r| &**r).collect::<Vec<&str>>(),
            }))
        };
        Box::pin(std::future::ready(res))
    }

    fn del_sockets<'a>(
        &'a self,
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        local.del_sockets(opts, rooms);
        let res = if opts.local {
            Ok(())
        } else {
            self.publish_request(serde_json::json!({
                "uid": self.shared.uid,
                "type": req::REMOTE_LEAVE,
                "opts": wire::opts_json(opts),
                "rooms": rooms.iter().map(|r| &**r).collect::<Vec<&str>>(),
            }))
        };
        Box::pin(std::future::ready(res))
    }

    fn disconnect_sockets<'a>(
        &'a self,
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
        close: bool,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        local.disconnect_sockets(opts, close);
        let res = if opts.local {
            Ok(())
        } else {
            self.publish_request(serde_json::json!({
                "uid": self.shared.uid,
                "type": req::REMOTE_DISCONNECT,
                "opts": wire::opts_json(opts),
                "close": close,
            }))
        };
        Box::pin(std::future::ready(res))
    }

    fn rooms<'a>(
        &'a self,
        _local: &'a LocalNamespace,
    ) -> AdapterFuture<'a, Result<Vec<Room>, AdapterError>> {
        Box::pin(self.all_rooms())
    }

    fn server_side_emit<'a>(
        &'a self,
        _local: &'a LocalNamespace,
        args: Vec<Value>,
        ack: Option<Duration>,
    ) -> AdapterFuture<'a, Result<BroadcastAcks, AdapterError>> {
        Box::pin(async move {
            let data = serde_json::Value::from(Value::Array(args));
            let Some(timeout) = ack else {
                self.publish_request(serde_json::json!({
                    "uid": self.shared.uid,
                    "type": req::SERVER_SIDE_EMIT,
                    "data": data,
                }))?;
                return Ok(BroadcastAcks {
                    responses: Vec::new(),
                    complete: true,
                });
            };
            let others = self.others().await?;
            let mut responses = Vec::new();
            if others == 0 {
                return Ok(BroadcastAcks {
                    responses,
                    complete: true,
                });
            }
            let id = wire::random_id(6);
            let body = serde_json::json!({
                "uid": self.shared.uid,
                "requestId": id,
                "type": req::SERVER_SIDE_EMIT,
                "data": data,
            });
            let (_pending, mut rx) = self.start_request(&id, body.to_string().into_bytes())?;
            let complete = self
                .collect(&mut rx, others, timeout, |mut r| {
                    if r.get("type").and_then(Value::as_u64) != Some(req::SERVER_SIDE_EMIT) {
                        return false;
                    }
                    responses.push(vec![r.remove("data").unwrap_or_default()]);
                    true
                })
                .await;
            Ok(BroadcastAcks {
                responses,
                complete,
            })
        })
    }
}
