//! The durable variant, on Redis Streams, in the wire format of Node's
//! `@socket.io/redis-streams-adapter` 0.3.x.
//!
//! What must not be lost (broadcasts, joins, leaves, disconnections) goes into
//! one stream (`XADD socket.io MAXLEN ~ 10000 * uid .. nsp .. type .. data ..`)
//! that every server reads from its last offset (`XREAD BLOCK`): a server whose
//! connection drops reads what it missed when it is back, and what a server
//! emits while Redis is away leaves once Redis is back (within
//! `publish_timeout`). Requests that only make sense now (broadcasts with acks,
//! fetch sockets, server-side emits) go over pub/sub on `<prefix>#<nsp>#`,
//! answers on the requester's `<prefix>#<nsp>#<uid>#`, msgpack-encoded. The
//! server count is `PUBSUB NUMSUB <prefix>#<nsp>#`.
//!
//! ## Connection state recovery across servers
//!
//! With [`sockio::SocketIoBuilder::connection_state_recovery`] on, a client
//! that comes back to *any* server of the cluster within the window gets its
//! socket id, rooms, session data and missed events, exactly as with Node's
//! streams adapter (same keys and encodings, so sockio and Node servers
//! recover each other's clients):
//!
//! - **Offsets are stream entry ids.** A replayable emit
//!   ([`Adapter::broadcast_replayable`]) is written first (`XADD`, in order
//!   with every other entry), then this server's sockets get it with the
//!   entry id as last argument; the other servers append the id of the entry
//!   they read. While Redis is away (or does not answer within
//!   `request_timeout`) this server's sockets get the event at once without
//!   an offset, and the entry leaves when Redis is back.
//! - **Sessions live in Redis**: `SET sio:session:<pid> <state> PX <window>`,
//!   the state being the base64 of the msgpack map `{sid, pid, rooms, data}`
//!   ([`RedisStreamsAdapterBuilder::session_key_prefix`]).
//! - **Restoring** takes the session (`MULTI GET DEL`), checks that the offset
//!   is still in the stream, and reads the entries after it (`XRANGE`, 1,000 at
//!   a time, at most 100 reads): the broadcasts of this namespace, without
//!   ack, not volatile, to one of the socket's rooms (or to all) and excepting
//!   none. An offset trimmed away (`max_len`), an unknown or expired session
//!   give a new socket. Another server's entries that this server's reader
//!   has not handed over yet are left out: they reach the socket live once it
//!   is back in its rooms (Node replays them too, so a lagging reader could
//!   deliver them twice).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Duration;

use base64::Engine as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind};
use sockio::adapter::{
    AckCollector, Adapter, AdapterFactory, AdapterFuture, BroadcastOptions, LocalNamespace,
    SocketInfo,
};
use sockio::protocol::{decode_msgpack_value, encode_msgpack_value, Packet, PacketKind, Value};
use sockio::{AdapterError, BroadcastAcks, RecoveryConfig, Room, SessionState, SocketId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::link::{inc, Link, LinkOptions, Out, PushHandler, RedisMetrics};
use crate::wire;

/// Message types of socket.io-adapter's `ClusterAdapter`.
mod ty {
    pub const BROADCAST: u64 = 3;
    pub const SOCKETS_JOIN: u64 = 4;
    pub const SOCKETS_LEAVE: u64 = 5;
    pub const DISCONNECT_SOCKETS: u64 = 6;
    pub const FETCH_SOCKETS: u64 = 7;
    pub const FETCH_SOCKETS_RESPONSE: u64 = 8;
    pub const SERVER_SIDE_EMIT: u64 = 9;
    pub const SERVER_SIDE_EMIT_RESPONSE: u64 = 10;
    pub const BROADCAST_CLIENT_COUNT: u64 = 11;
    pub const BROADCAST_ACK: u64 = 12;
}

/// Options of [`RedisStreamsAdapter`]; start with [`RedisStreamsAdapter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RedisStreamsAdapterBuilder {
    url: String,
    stream_name: String,
    channel_prefix: String,
    max_len: usize,
    read_count: usize,
    block_time: Duration,
    request_timeout: Duration,
    publish_timeout: Duration,
    session_key_prefix: String,
}

impl RedisStreamsAdapterBuilder {
    /// The stream (default `socket.io`, Node's `streamName`).
    pub fn stream_name(mut self, name: impl Into<String>) -> Self {
        self.stream_name = name.into();
        self
    }
    /// Prefix of the pub/sub channels (default `socket.io`, Node's `channelPrefix`).
    pub fn channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = prefix.into();
        self
    }
    /// Approximate length the stream is trimmed to (default 10,000, Node's `maxLen`).
    pub fn max_len(mut self, n: usize) -> Self {
        self.max_len = n;
        self
    }
    /// Entries read per `XREAD` (default 100, Node's `readCount`).
    pub fn read_count(mut self, n: usize) -> Self {
        self.read_count = n;
        self
    }
    /// How long one `XREAD` blocks (default 5 s, Node's `blockTimeInMs`).
    pub fn block_time(mut self, d: Duration) -> Self {
        self.block_time = d;
        self
    }
    /// How long a cluster request waits for the other servers (default 5 s).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// A stream entry not written within this time (Redis away) is dropped
    /// (default 30 s).
    pub fn publish_timeout(mut self, d: Duration) -> Self {
        self.publish_timeout = d;
        self
    }

    /// Prefix of the keys that keep disconnected sockets' state for
    /// connection state recovery (default `sio:session:`, Node's
    /// `sessionKeyPrefix`; the key is the prefix and the private id).
    pub fn session_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.session_key_prefix = prefix.into();
        self
    }

    /// Connects to Redis and starts reading the stream.
    pub async fn build(self) -> Result<RedisStreamsAdapter, AdapterError> {
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
                publish_queue: 65_536,
                publish_timeout: self.publish_timeout,
                command_timeout: self.request_timeout,
            },
            Some(on_push),
        )
        .await?;
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| AdapterError::Other(format!("invalid Redis URL {}: {e}", self.url)))?;
        let reader = ConnectionManager::new_with_config(
            client,
            ConnectionManagerConfig::new()
                .set_min_delay(Duration::from_millis(50))
                .set_max_delay(Duration::from_millis(500))
                .set_response_timeout(Some(self.block_time + Duration::from_secs(2))),
        )
        .await
        .map_err(|e| {
            AdapterError::Unavailable(format!("cannot connect to Redis at {}: {e}", self.url))
        })?;
        let shared = Arc::new(Shared {
            uid: hex_id(),
            opts: self,
            link,
            namespaces: RwLock::default(),
            rt: tokio::runtime::Handle::current(),
            reading: watch::channel(false).0,
            read_up_to: Mutex::new((0, 0)),
        });
        let _ = cell.set(Arc::downgrade(&shared));
        tokio::spawn(read_stream(Arc::downgrade(&shared), reader));
        Ok(RedisStreamsAdapter { shared })
    }
}

/// The durable adapter on Redis Streams (Node's
/// `@socket.io/redis-streams-adapter` 0.3.x format): what a server broadcasts,
/// and room changes, go through a stream that every server reads from its last
/// offset, so a connection to Redis that drops loses nothing; with connection
/// state recovery on, a client recovers on any server (see the module docs).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let io = sockio::SocketIo::builder()
///     .adapter(sockio_redis::RedisStreamsAdapter::new("redis://127.0.0.1:6379").await?)
///     .build()?;
/// io.adapter_ready().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStreamsAdapter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RedisStreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreamsAdapter")
            .field("uid", &self.shared.uid)
            .field("stream", &self.shared.opts.stream_name)
            .finish()
    }
}

impl RedisStreamsAdapter {
    /// Connects with the default options.
    pub async fn new(url: &str) -> Result<RedisStreamsAdapter, AdapterError> {
        Self::builder(url).build().await
    }

    /// Starts building an adapter for the Redis at `url`.
    pub fn builder(url: &str) -> RedisStreamsAdapterBuilder {
        RedisStreamsAdapterBuilder {
            url: url.to_string(),
            stream_name: "socket.io".into(),
            channel_prefix: "socket.io".into(),
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            publish_timeout: Duration::from_secs(30),
            session_key_prefix: "sio:session:".into(),
        }
    }

    /// This server's id in the cluster.
    pub fn uid(&self) -> &str {
        &self.shared.uid
    }

    /// The adapter's counters.
    pub fn metrics(&self) -> RedisMetrics {
        self.shared.link.health.snapshot()
    }
}

fn hex_id() -> String {
    use rand::Rng;
    let b: [u8; 8] = rand::rng().random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl AdapterFactory for RedisStreamsAdapter {
    fn create(&self, local: LocalNamespace) -> Arc<dyn Adapter> {
        let name = local.name();
        let public = format!("{}#{}#", self.shared.opts.channel_prefix, name);
        let private = format!("{public}{}#", self.shared.uid);
        let (ready_tx, ready_rx) = watch::channel(None);
        let ns = Arc::new(NsStreams {
            shared: self.shared.clone(),
            recovery: local.recovery_config(),
            local,
            wire_nsp: if name == "/" {
                String::new()
            } else {
                name.clone()
            },
            name,
            public,
            private,
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

async fn subscribe(ns: Weak<NsStreams>, ready: watch::Sender<Option<Result<(), String>>>) {
    loop {
        let Some(n) = ns.upgrade() else { return };
        let Some(mut sub) = n.shared.link.sub.clone() else {
            return;
        };
        match sub
            .subscribe(&[n.public.clone(), n.private.clone()][..])
            .await
        {
            Ok(()) => {
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

/// Reads the stream from its end, then from each entry read. The end is
/// resolved to an entry id first (not `$`), so that entries added while the
/// reader reconnects are read too.
async fn read_stream(shared: Weak<Shared>, mut conn: ConnectionManager) {
    let mut offset = loop {
        let Some(s) = shared.upgrade() else { return };
        let cmd = redis::cmd("XREVRANGE")
            .arg(&s.opts.stream_name)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .clone();
        drop(s);
        match cmd.query_async::<redis::Value>(&mut conn).await {
            Ok(v) => {
                let end = stream_entries(v)
                    .pop()
                    .map_or_else(|| "0-0".to_string(), |(id, _)| id);
                if let Some(s) = shared.upgrade() {
                    // what is already in the stream is not for the reader
                    if let Some(end) = parse_id(&end) {
                        *s.read_up_to.lock().unwrap() = end;
                    }
                    s.reading.send_replace(true);
                }
                break end;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    loop {
        let Some(s) = shared.upgrade() else { return };
        let cmd = {
            let mut c = redis::cmd("XREAD");
            c.arg("BLOCK")
                .arg(s.opts.block_time.as_millis() as u64)
                .arg("COUNT")
                .arg(s.opts.read_count)
                .arg("STREAMS")
                .arg(&s.opts.stream_name)
                .arg(&offset);
            c
        };
        drop(s);
        match cmd.query_async::<redis::Value>(&mut conn).await {
            Ok(v) => {
                let Some(s) = shared.upgrade() else { return };
                for (id, fields) in xread_entries(v) {
                    s.on_entry(&id, fields);
                    if let Some(read) = parse_id(&id) {
                        *s.read_up_to.lock().unwrap() = read;
                    }
                    offset = id;
                }
            }
            Err(e) => {
                tracing::debug!("XREAD failed: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// The entries of an `XRANGE` reply: (id, fields).
fn stream_entries(v: redis::Value) -> Vec<(String, HashMap<String, Vec<u8>>)> {
    fn bytes(v: redis::Value) -> Option<Vec<u8>> {
        match v {
            redis::Value::BulkString(b) => Some(b),
            redis::Value::SimpleString(s) => Some(s.into_bytes()),
            _ => None,
        }
    }
    fn entry(v: redis::Value) -> Option<(String, HashMap<String, Vec<u8>>)> {
        let redis::Value::Array(mut e) = v else {
            return None;
        };
        if e.len() != 2 {
            return None;
        }
        let fields = e.pop()?;
        let id = String::from_utf8(bytes(e.pop()?)?).ok()?;
        let redis::Value::Array(kv) = fields else {
            return None;
        };
        let mut map = HashMap::new();
        let mut it = kv.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let (Some(k), Some(v)) = (bytes(k), bytes(v)) {
                map.insert(String::from_utf8_lossy(&k).into_owned(), v);
            }
        }
        Some((id, map))
    }
    match v {
        redis::Value::Array(list) => list.into_iter().filter_map(entry).collect(),
        _ => Vec::new(),
    }
}

/// The entries of an `XREAD` reply (one stream).
fn xread_entries(v: redis::Value) -> Vec<(String, HashMap<String, Vec<u8>>)> {
    let mut out = Vec::new();
    match v {
        redis::Value::Array(streams) => {
            for s in streams {
                if let redis::Value::Array(mut pair) = s {
                    if let Some(list) = pair.pop() {
                        out.extend(stream_entries(list));
                    }
                }
            }
        }
        redis::Value::Map(streams) => {
            for (_, list) in streams {
                out.extend(stream_entries(list));
            }
        }
        _ => {}
    }
    out
}

struct Shared {
    uid: String,
    opts: RedisStreamsAdapterBuilder,
    link: Link,
    namespaces: RwLock<HashMap<String, Weak<NsStreams>>>,
    rt: tokio::runtime::Handle,
    /// Set once the reader knows where the stream ends (entries after that are read).
    reading: watch::Sender<bool>,
    /// The id of the last entry the reader handed to the namespaces.
    read_up_to: Mutex<(u64, u64)>,
}

impl Shared {
    fn ns(&self, name: &str) -> Option<Arc<NsStreams>> {
        self.namespaces
            .read()
            .unwrap()
            .get(name)
            .and_then(Weak::upgrade)
    }

    fn on_push(&self, p: PushInfo) {
        let payload = match (p.kind, p.data.as_slice()) {
            (PushKind::Message, [_, redis::Value::BulkString(m)]) => m,
            (PushKind::Disconnection, _) => {
                self.link
                    .health
                    .mark_down("the subscriber connection closed");
                return;
            }
            _ => return,
        };
        let msg = match decode_msgpack_value(payload, &wire::limits()) {
            Ok(v) => v,
            Err(e) => {
                inc(&self.link.health.counters.decode_errors, 1);
                tracing::warn!("ignoring a malformed cluster message: {e}");
                return;
            }
        };
        let Some(ns) = msg
            .get("nsp")
            .and_then(Value::as_str)
            .and_then(|n| self.ns(n))
        else {
            return;
        };
        ns.on_message(msg, None);
    }

    fn on_entry(&self, id: &str, mut fields: HashMap<String, Vec<u8>>) {
        let Some(nsp) = fields.get("nsp").and_then(|n| std::str::from_utf8(n).ok()) else {
            return;
        };
        let Some(ns) = self.ns(nsp) else { return };
        match decode_entry(&mut fields) {
            Ok(msg) => ns.on_message(msg, Some(id)),
            Err(e) => {
                inc(&self.link.health.counters.decode_errors, 1);
                tracing::warn!("ignoring a malformed stream entry {id}: {e}");
            }
        }
    }
}

/// A stream entry as a message `{uid, nsp, type, data}`.
fn decode_entry(fields: &mut HashMap<String, Vec<u8>>) -> Result<Value, String> {
    let text = |f: &mut HashMap<String, Vec<u8>>, k: &str| {
        f.remove(k)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    let ty: u64 = text(fields, "type")
        .and_then(|t| t.parse().ok())
        .ok_or("no type")?;
    let mut m = sockio::value::Map::new();
    m.insert("uid", text(fields, "uid").unwrap_or_default());
    m.insert("nsp", text(fields, "nsp").unwrap_or_default());
    m.insert("type", ty);
    if let Some(data) = fields.remove("data") {
        let v = if data.first() == Some(&b'{') {
            serde_json::from_slice::<Value>(&data).map_err(|e| e.to_string())?
        } else {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(&data)
                .map_err(|e| e.to_string())?;
            decode_msgpack_value(&raw, &wire::limits()).map_err(|e| e.to_string())?
        };
        m.insert("data", v);
    }
    Ok(Value::Object(m))
}

/// Most `XRANGE` calls (of 1,000 entries) a restoration makes (Node's
/// `RESTORE_SESSION_MAX_XRANGE_CALLS`): entries added faster than they are
/// read must not keep it going forever.
const RESTORE_MAX_XRANGE_CALLS: usize = 100;

/// A stream entry id: `<milliseconds>-<sequence>`.
fn valid_offset(offset: &str) -> bool {
    offset.split_once('-').is_some_and(|(ms, seq)| {
        [ms, seq]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// A stream entry id as (milliseconds, sequence), which order as ids do.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (ms, seq) = id.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// The smallest id after `offset` (exclusive ranges need Redis 6.2).
fn next_offset(offset: &str) -> String {
    let (ms, seq) = offset.split_once('-').unwrap_or((offset, "0"));
    match (ms.parse::<u64>(), seq.parse::<u64>()) {
        (Ok(ms), Ok(seq)) => match seq.checked_add(1) {
            Some(seq) => format!("{ms}-{seq}"),
            None => format!("{}-0", ms.saturating_add(1)),
        },
        _ => format!("({offset}"),
    }
}

/// A session as Node's streams adapter stores it: base64 of the msgpack
/// map `{sid, pid, rooms, data}`.
fn encode_session(session: &SessionState) -> String {
    let value = obj(vec![
        ("sid", Value::from(session.id.as_str())),
        ("pid", Value::from(session.pid.as_str())),
        (
            "rooms",
            Value::Array(session.rooms.iter().map(|r| Value::from(&**r)).collect()),
        ),
        ("data", session.data.clone()),
    ]);
    let mut raw = Vec::with_capacity(64);
    encode_msgpack_value(&mut raw, &value);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn decode_session(raw: &[u8], pid: &str, nsp: &str) -> Option<SessionState> {
    let raw = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
    let mut v = decode_msgpack_value(&raw, &wire::limits()).ok()?;
    let id = SocketId::from(v.get("sid")?.as_str()?);
    let rooms = wire::rooms_of(v.get("rooms"));
    Some(SessionState {
        pid: pid.to_string(),
        id,
        namespace: nsp.to_string(),
        rooms,
        data: v.remove("data").unwrap_or_default(),
        missed: Vec::new(),
    })
}

type Requests = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>>;

struct Pending {
    requests: Requests,
    id: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.requests.lock().unwrap().remove(&self.id);
    }
}

struct NsStreams {
    shared: Arc<Shared>,
    /// Connection state recovery's options, when it is on.
    recovery: Option<RecoveryConfig>,
    local: LocalNamespace,
    name: String,
    wire_nsp: String,
    public: String,
    private: String,
    requests: Requests,
    ready: watch::Receiver<Option<Result<(), String>>>,
}

impl Drop for NsStreams {
    fn drop(&mut self) {
        {
            let mut map = self.shared.namespaces.write().unwrap();
            if map.get(&self.name).is_some_and(|w| w.strong_count() == 0) {
                map.remove(&self.name);
            }
        }
        if let Some(mut sub) = self.shared.link.sub.clone() {
            let channels = [self.public.clone(), self.private.clone()];
            self.shared.rt.spawn(async move {
                let _ = sub.unsubscribe(&channels[..]).await;
            });
        }
    }
}

fn opts_value(opts: &BroadcastOptions, timeout_ms: Option<u64>) -> Value {
    let rooms = |r: &[Room]| Value::Array(r.iter().map(|x| Value::from(&**x)).collect());
    let mut flags = sockio::value::Map::new();
    if opts.volatile {
        flags.insert("volatile", true);
    }
    if let Some(ms) = timeout_ms {
        flags.insert("timeout", ms);
    }
    let mut m = sockio::value::Map::new();
    m.insert("rooms", rooms(&opts.rooms));
    m.insert("except", rooms(&opts.except));
    m.insert("flags", Value::Object(flags));
    Value::Object(m)
}

fn packet_value(data: Option<&Value>, nsp: &str) -> Value {
    let mut m = sockio::value::Map::new();
    m.insert("type", 2u8);
    m.insert("data", data.cloned().unwrap_or(Value::Array(Vec::new())));
    m.insert("nsp", nsp);
    Value::Object(m)
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut m = sockio::value::Map::new();
    for (k, v) in pairs {
        m.insert(k, v);
    }
    Value::Object(m)
}

fn has_binary(v: &Value) -> bool {
    match v {
        Value::Binary(_) => true,
        Value::Array(a) => a.iter().any(has_binary),
        Value::Object(m) => m.values().any(has_binary),
        _ => false,
    }
}

impl NsStreams {
    fn counters(&self) -> &crate::link::Counters {
        &self.shared.link.health.counters
    }

    /// `{uid, nsp, type, data}` as msgpack.
    fn envelope(&self, t: u64, data: Value) -> Vec<u8> {
        let mut buf = Vec::with_capacity(64);
        encode_msgpack_value(
            &mut buf,
            &obj(vec![
                ("uid", Value::from(self.shared.uid.as_str())),
                ("nsp", Value::from(self.name.as_str())),
                ("type", Value::from(t)),
                ("data", data),
            ]),
        );
        buf
    }

    /// An ephemeral message on the public channel.
    fn publish(&self, t: u64, data: Value) -> Result<(), AdapterError> {
        self.shared
            .link
            .publish(self.public.clone(), self.envelope(t, data))
    }

    /// A durable message: a stream entry (queued while Redis is away).
    fn append(&self, t: u64, data: Value) -> Result<(), AdapterError> {
        self.append_entry(t, data, None)
    }

    /// As [`NsStreams::append`], sending the new entry's id to `id` once
    /// Redis has it.
    fn append_entry(
        &self,
        t: u64,
        data: Value,
        id: Option<oneshot::Sender<String>>,
    ) -> Result<(), AdapterError> {
        let binary_ok = matches!(t, ty::BROADCAST);
        let data = if binary_ok && has_binary(&data) {
            let mut raw = Vec::new();
            encode_msgpack_value(&mut raw, &data);
            base64::engine::general_purpose::STANDARD
                .encode(raw)
                .into_bytes()
        } else {
            data.to_string().into_bytes()
        };
        self.shared.link.send(
            Out::XAdd {
                stream: self.shared.opts.stream_name.clone(),
                max_len: self.shared.opts.max_len,
                fields: vec![
                    ("uid", self.shared.uid.clone().into_bytes()),
                    ("nsp", self.name.clone().into_bytes()),
                    ("type", t.to_string().into_bytes()),
                    ("data", data),
                ],
                id,
            },
            true,
        )
    }

    /// The data (name, arguments, entry id last) of a stream entry that a
    /// socket in `rooms` would have received: a broadcast of this namespace
    /// without ack, not volatile, to one of its rooms (or to all) and not
    /// excepting any.
    fn missed_packet(
        &self,
        id: &str,
        mut fields: HashMap<String, Vec<u8>>,
        rooms: &[Room],
    ) -> Option<Vec<Value>> {
        let ours = fields
            .get("nsp")
            .is_some_and(|n| *n == self.name.as_bytes())
            && fields.get("type").is_some_and(|t| t.as_slice() == b"3"); // ty::BROADCAST
        if !ours {
            return None;
        }
        let mut msg = decode_entry(&mut fields).ok()?;
        let mut data = msg.remove("data")?;
        if data.get("requestId").is_some() {
            return None;
        }
        let opts = wire::opts_of(data.get("opts"));
        let included = opts.rooms.is_empty() || rooms.iter().any(|r| opts.rooms.contains(r));
        let excluded = rooms.iter().any(|r| opts.except.contains(r));
        if opts.volatile || !included || excluded {
            return None;
        }
        let Some(Value::Array(mut args)) = data.get_mut("packet")?.remove("data") else {
            return None;
        };
        if !matches!(args.first(), Some(Value::String(_))) {
            return None;
        }
        args.push(Value::from(id));
        Some(args)
    }

    fn respond(&self, requester: &str, t: u64, data: Value) {
        let channel = format!("{}{requester}#", self.public);
        let _ = self.shared.link.publish(channel, self.envelope(t, data));
    }

    fn event_packet(&self, packet: Option<&mut Value>) -> Option<Packet> {
        let packet = packet?;
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

    fn on_message(self: &Arc<Self>, mut msg: Value, offset: Option<&str>) {
        let uid = msg
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if uid == self.shared.uid {
            inc(&self.counters().skipped, 1);
            return;
        }
        let t = msg.get("type").and_then(Value::as_u64).unwrap_or(0);
        let mut data = msg.remove("data").unwrap_or_default();
        let request_id = data.get("requestId").and_then(wire::room_of);
        let opts = wire::opts_of(data.get("opts"));
        inc(&self.counters().received, 1);
        match t {
            ty::BROADCAST => {
                let Some(packet) = self.event_packet(data.get_mut("packet")) else {
                    inc(&self.counters().decode_errors, 1);
                    return;
                };
                match request_id {
                    None => {
                        let mut packet = packet;
                        // Connection state recovery: the entry id is the offset
                        // (as the sender's own clients get it).
                        if let (Some(_), Some(offset), false, Some(Value::Array(a))) =
                            (&self.recovery, offset, opts.volatile, &mut packet.data)
                        {
                            a.push(Value::from(offset));
                        }
                        self.local.broadcast(&packet, &opts)
                    }
                    Some(id) => {
                        let acks = Arc::new(RemoteAcks {
                            ns: self.clone(),
                            requester: uid,
                            request_id: id.to_string(),
                        });
                        self.local.broadcast_with_ack(&packet, &opts, acks);
                    }
                }
            }
            ty::SOCKETS_JOIN => self
                .local
                .add_sockets(&opts, &wire::rooms_of(data.get("rooms"))),
            ty::SOCKETS_LEAVE => self
                .local
                .del_sockets(&opts, &wire::rooms_of(data.get("rooms"))),
            ty::DISCONNECT_SOCKETS => self
                .local
                .disconnect_sockets(&opts, data.get("close").is_some_and(Value::is_truthy)),
            ty::FETCH_SOCKETS => {
                let Some(id) = request_id else { return };
                let sockets: Vec<Value> = self
                    .local
                    .fetch_sockets(&opts)
                    .into_iter()
                    .map(|s| {
                        obj(vec![
                            ("id", Value::from(s.id.as_str())),
                            ("handshake", s.handshake),
                            (
                                "rooms",
                                Value::Array(s.rooms.iter().map(|r| Value::from(&**r)).collect()),
                            ),
                            ("data", s.data),
                        ])
                    })
                    .collect();
                self.respond(
                    &uid,
                    ty::FETCH_SOCKETS_RESPONSE,
                    obj(vec![
                        ("requestId", Value::from(&*id)),
                        ("sockets", Value::Array(sockets)),
                    ]),
                );
            }
            ty::SERVER_SIDE_EMIT => {
                let Some(Value::Array(args)) = data.remove("packet") else {
                    return;
                };
                let fut = self.local.server_side_event(args);
                let Some(id) = request_id else {
                    self.shared.rt.spawn(fut);
                    return;
                };
                let ns = self.clone();
                self.shared.rt.spawn(async move {
                    let Some(reply) = fut.await else { return };
                    let packet = reply.into_iter().next().unwrap_or_default();
                    ns.respond(
                        &uid,
                        ty::SERVER_SIDE_EMIT_RESPONSE,
                        obj(vec![("requestId", Value::from(&*id)), ("packet", packet)]),
                    );
                });
            }
            ty::FETCH_SOCKETS_RESPONSE
            | ty::SERVER_SIDE_EMIT_RESPONSE
            | ty::BROADCAST_CLIENT_COUNT
            | ty::BROADCAST_ACK => {
                let Some(id) = request_id else { return };
                let tx = self.requests.lock().unwrap().get(&*id).cloned();
                if let Some(tx) = tx {
                    data.insert("type", t);
                    let _ = tx.send(data);
                }
            }
            _ => {}
        }
    }

    fn start_request(
        &self,
        id: &str,
        t: u64,
        data: Value,
    ) -> Result<(Pending, mpsc::UnboundedReceiver<Value>), AdapterError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.requests.lock().unwrap().insert(id.to_string(), tx);
        let pending = Pending {
            requests: self.requests.clone(),
            id: id.to_string(),
        };
        self.publish(t, data)?;
        Ok((pending, rx))
    }

    async fn others(&self) -> Result<usize, AdapterError> {
        Ok(self
            .shared
            .link
            .numsub(&self.public)
            .await?
            .saturating_sub(1))
    }

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
                Ok(Some(v)) => got += usize::from(take(v)),
                _ => {
                    inc(&self.counters().requests_timed_out, 1);
                    return false;
                }
            }
        }
        true
    }
}

struct RemoteAcks {
    ns: Arc<NsStreams>,
    requester: String,
    request_id: String,
}

impl AckCollector for RemoteAcks {
    fn expect(&self, n: usize) {
        self.ns.respond(
            &self.requester,
            ty::BROADCAST_CLIENT_COUNT,
            obj(vec![
                ("requestId", Value::from(self.request_id.as_str())),
                ("clientCount", Value::from(n)),
            ]),
        );
    }
    fn ack(&self, args: Vec<Value>) {
        self.ns.respond(
            &self.requester,
            ty::BROADCAST_ACK,
            obj(vec![
                ("requestId", Value::from(self.request_id.as_str())),
                ("packet", args.into_iter().next().unwrap_or_default()),
            ]),
        );
    }
}

fn forward_ack(acks: &Arc<dyn AckCollector>, mut r: Value, counts: &mut usize) {
    match r.get("type").and_then(Value::as_u64) {
        Some(ty::BROADCAST_CLIENT_COUNT) => {
            acks.expect(r.get("clientCount").and_then(Value::as_u64).unwrap_or(0) as usize);
            *counts += 1;
        }
        Some(ty::BROADCAST_ACK) => acks.ack(vec![r.remove("packet").unwrap_or_default()]),
        _ => {}
    }
}

impl Adapter for NsStreams {
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
            self.append(
                ty::BROADCAST,
                obj(vec![
                    ("packet", packet_value(packet.data.as_ref(), &self.name)),
                    ("opts", opts_value(opts, None)),
                ]),
            )
        };
        Box::pin(std::future::ready(res))
    }

    fn ready(&self) -> AdapterFuture<'_, Result<(), AdapterError>> {
        let mut rx = self.ready.clone();
        let mut reading = self.shared.reading.subscribe();
        let timeout = self.shared.opts.request_timeout;
        Box::pin(async move {
            let both = async {
                rx.wait_for(|s| matches!(s, Some(Ok(())))).await.is_ok()
                    && reading.wait_for(|r| *r).await.is_ok()
            };
            let ok = matches!(tokio::time::timeout(timeout, both).await, Ok(true));
            if ok {
                Ok(())
            } else {
                Err(AdapterError::Unavailable(format!(
                    "not subscribed to Redis after {timeout:?}"
                )))
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
            let id = hex_id();
            let data = obj(vec![
                ("packet", packet_value(packet.data.as_ref(), &self.name)),
                ("requestId", Value::from(id.as_str())),
                ("opts", opts_value(opts, Some(timeout.as_millis() as u64))),
            ]);
            let (pending, mut rx) = self.start_request(&id, ty::BROADCAST, data)?;
            let deadline = tokio::time::Instant::now() + timeout;
            let mut counts = 0;
            while counts < others {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(r)) => forward_ack(&acks, r, &mut counts),
                    _ => {
                        inc(&self.counters().requests_timed_out, 1);
                        return Err(AdapterError::Timeout);
                    }
                }
            }
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
        local: &'a LocalNamespace,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<Vec<SocketInfo>, AdapterError>> {
        Box::pin(async move {
            let mut out = local.fetch_sockets(opts);
            if opts.local {
                return Ok(out);
            }
            let others = self.others().await?;
            if others == 0 {
                return Ok(out);
            }
            let id = hex_id();
            let data = obj(vec![
                ("opts", opts_value(opts, None)),
                ("requestId", Value::from(id.as_str())),
            ]);
            let (_pending, mut rx) = self.start_request(&id, ty::FETCH_SOCKETS, data)?;
            let complete = self
                .collect(
                    &mut rx,
                    others,
                    self.shared.opts.request_timeout,
                    |mut r| {
                        if r.get("type").and_then(Value::as_u64) != Some(ty::FETCH_SOCKETS_RESPONSE)
                        {
                            return false;
                        }
                        if let Some(Value::Array(list)) = r.remove("sockets") {
                            out.extend(list.into_iter().filter_map(crate::classic::socket_info));
                        }
                        true
                    },
                )
                .await;
            if !complete {
                return Err(AdapterError::Timeout);
            }
            Ok(out)
        })
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
            self.append(
                ty::SOCKETS_JOIN,
                obj(vec![
                    ("opts", opts_value(opts, None)),
                    (
                        "rooms",
                        Value::Array(rooms.iter().map(|r| Value::from(&**r)).collect()),
                    ),
                ]),
            )
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
            self.append(
                ty::SOCKETS_LEAVE,
                obj(vec![
                    ("opts", opts_value(opts, None)),
                    (
                        "rooms",
                        Value::Array(rooms.iter().map(|r| Value::from(&**r)).collect()),
                    ),
                ]),
            )
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
            self.append(
                ty::DISCONNECT_SOCKETS,
                obj(vec![
                    ("opts", opts_value(opts, None)),
                    ("close", Value::from(close)),
                ]),
            )
        };
        Box::pin(std::future::ready(res))
    }

    /// The stream entry's id is the offset: the entry is written first, then
    /// this server's targets get the packet with the id as its last argument
    /// (what Node's streams adapter does). While Redis is away (or does not
    /// answer within `request_timeout`) they get it at once without an
    /// offset, and the entry leaves when Redis is back.
    fn broadcast_replayable<'a>(
        &'a self,
        local: &'a LocalNamespace,
        packet: &'a Packet,
        opts: &'a BroadcastOptions,
    ) -> AdapterFuture<'a, Result<(), AdapterError>> {
        Box::pin(async move {
            if opts.local {
                // not in the stream, so not replayable (as Node)
                local.broadcast(packet, opts);
                return Ok(());
            }
            let data = obj(vec![
                ("packet", packet_value(packet.data.as_ref(), &self.name)),
                ("opts", opts_value(opts, None)),
            ]);
            if !self.shared.link.health.is_up() {
                local.broadcast(packet, opts);
                return self.append(ty::BROADCAST, data);
            }
            let (tx, rx) = oneshot::channel();
            if let Err(e) = self.append_entry(ty::BROADCAST, data, Some(tx)) {
                local.broadcast(packet, opts);
                return Err(e);
            }
            match tokio::time::timeout(self.shared.opts.request_timeout, rx).await {
                Ok(Ok(id)) => {
                    let mut p = packet.clone();
                    if let Some(Value::Array(a)) = &mut p.data {
                        a.push(Value::from(id));
                    }
                    local.broadcast(&p, opts);
                }
                _ => local.broadcast(packet, opts),
            }
            Ok(())
        })
    }

    /// `SET <session_key_prefix><pid> <base64 of msgpack {sid, pid, rooms,
    /// data}> PX <max_disconnection_duration>`, as Node's streams adapter.
    fn persist_session<'a>(
        &'a self,
        _local: &'a LocalNamespace,
        session: SessionState,
    ) -> AdapterFuture<'a, ()> {
        Box::pin(async move {
            let Some(config) = &self.recovery else { return };
            let key = format!("{}{}", self.shared.opts.session_key_prefix, session.pid);
            let value = encode_session(&session);
            let ms = config.max_disconnection_duration.as_millis().max(1);
            let ms = u64::try_from(ms).unwrap_or(u64::MAX);
            let set = redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(ms)
                .clone();
            if let Err(e) = self.shared.link.command::<redis::Value>(&set).await {
                tracing::warn!(
                    nsp = %self.name,
                    sid = %session.id,
                    "cannot keep the session for connection state recovery: {e}"
                );
            }
        })
    }

    /// Takes the session (`GET` and `DEL` in one transaction), checks that
    /// the offset is still in the stream, then reads the entries after it
    /// (`XRANGE`) for the broadcasts the socket would have received.
    fn restore_session<'a>(
        &'a self,
        _local: &'a LocalNamespace,
        pid: &'a str,
        offset: &'a str,
    ) -> AdapterFuture<'a, Result<Option<SessionState>, AdapterError>> {
        Box::pin(async move {
            if !valid_offset(offset) {
                return Ok(None);
            }
            let link = &self.shared.link;
            let stream = &self.shared.opts.stream_name;
            let key = format!("{}{pid}", self.shared.opts.session_key_prefix);
            let mut take = redis::pipe();
            take.atomic().get(&key).del(&key).ignore();
            let at_offset = redis::cmd("XRANGE")
                .arg(stream)
                .arg(offset)
                .arg(offset)
                .clone();
            let ((raw,), known) = tokio::try_join!(
                link.pipeline::<(Option<Vec<u8>>,)>(&take),
                link.command::<redis::Value>(&at_offset),
            )?;
            let Some(raw) = raw else { return Ok(None) };
            if stream_entries(known).is_empty() {
                return Ok(None);
            }
            let Some(mut session) = decode_session(&raw, pid, &self.name) else {
                inc(&self.counters().decode_errors, 1);
                tracing::warn!(nsp = %self.name, "ignoring a malformed recovery session");
                return Ok(None);
            };
            // Another server's entry that this server's reader has not handed
            // over yet reaches the socket live (it is in its rooms by then):
            // replaying it too would deliver it twice. This server's own
            // entries reached its sockets when written, so they are replayed.
            let read_up_to = *self.shared.read_up_to.lock().unwrap();
            const COUNT: usize = 1000;
            let mut from = offset.to_string();
            for _ in 0..RESTORE_MAX_XRANGE_CALLS {
                let read = redis::cmd("XRANGE")
                    .arg(stream)
                    .arg(next_offset(&from))
                    .arg("+")
                    .arg("COUNT")
                    .arg(COUNT)
                    .clone();
                let entries = stream_entries(link.command::<redis::Value>(&read).await?);
                let n = entries.len();
                for (id, fields) in entries {
                    let live = parse_id(&id).is_none_or(|e| e > read_up_to)
                        && fields.get("uid").map(Vec::as_slice) != Some(self.shared.uid.as_bytes());
                    if live {
                        from = id;
                        continue;
                    }
                    if let Some(data) = self.missed_packet(&id, fields, &session.rooms) {
                        session.missed.push(data);
                    }
                    from = id;
                }
                if n < COUNT {
                    break;
                }
            }
            Ok(Some(session))
        })
    }

    fn server_side_emit<'a>(
        &'a self,
        _local: &'a LocalNamespace,
        args: Vec<Value>,
        ack: Option<Duration>,
    ) -> AdapterFuture<'a, Result<BroadcastAcks, AdapterError>> {
        Box::pin(async move {
            let Some(timeout) = ack else {
                self.publish(
                    ty::SERVER_SIDE_EMIT,
                    obj(vec![("packet", Value::Array(args))]),
                )?;
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
            let id = hex_id();
            let data = obj(vec![
                ("requestId", Value::from(id.as_str())),
                ("packet", Value::Array(args)),
            ]);
            let (_pending, mut rx) = self.start_request(&id, ty::SERVER_SIDE_EMIT, data)?;
            let complete = self
                .collect(&mut rx, others, timeout, |mut r| {
                    if r.get("type").and_then(Value::as_u64) != Some(ty::SERVER_SIDE_EMIT_RESPONSE)
                    {
                        return false;
                    }
                    responses.push(vec![r.remove("packet").unwrap_or_default()]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stream_entry_ids() {
        assert!(valid_offset("1700000000000-0"));
        assert!(!valid_offset("1700000000000"));
        assert!(!valid_offset("abc-1"));
        assert!(!valid_offset("-1"));
        assert!(!valid_offset("1-2-3"));
        assert_eq!(next_offset("5-9"), "5-10");
        assert_eq!(next_offset(&format!("5-{}", u64::MAX)), "6-0");
    }

    #[test]
    fn a_session_is_node_s_msgpack_map_in_base64() {
        let s = SessionState {
            pid: "p1".into(),
            id: SocketId::from("s1"),
            namespace: "/".into(),
            rooms: vec![Room::from("s1"), Room::from("r")],
            data: obj(vec![("n", Value::from(1))]),
            missed: Vec::new(),
        };
        let b64 = encode_session(&s);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&b64)
            .unwrap();
        let v = decode_msgpack_value(&raw, &wire::limits()).unwrap();
        let keys: Vec<&str> = match &v {
            Value::Object(m) => m.keys().collect(),
            _ => panic!("{v:?}"),
        };
        assert_eq!(keys, ["sid", "pid", "rooms", "data"]);
        let back = decode_session(b64.as_bytes(), "p1", "/").unwrap();
        assert_eq!(
            (back.id.as_str(), back.rooms, back.data),
            ("s1", s.rooms, s.data)
        );
    }
}
