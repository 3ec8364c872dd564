//! Prometheus metrics: [`Metrics`], read with [`crate::SocketIo::metrics`].
//!
//! Most series are read at scrape time from what the server keeps anyway
//! (the engine's and the Socket.IO layer's counters, the session table, the
//! namespaces' socket and room tables): they cost the hot path nothing.
//! Per-message series (packets and bytes in and out, the event handler
//! latency histogram) exist only when the server was built with
//! [`crate::SocketIoBuilder::metrics`]`(true)`: each thread counts in a shard
//! of its own (no locked instruction per message), and a server without them
//! pays one predictable branch.
//!
//! The text is made by the `prometheus-client` crate (Prometheus text format
//! 0.0.4).

use std::cell::RefCell;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use sockio_engine::{DisconnectReason as EngineReason, Engine, RefusalReason, TransportKind};

use crate::client::SioHandler;
use crate::io::IoInner;

/// Upper bounds of the event handler latency histogram's buckets, in
/// nanoseconds (the hot path compares integers; the text shows seconds).
const LATENCY_BUCKETS: [u64; 12] = [
    10_000,
    50_000,
    100_000,
    500_000,
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

/// One thread's per-message counters (their own cache lines). Only that
/// thread writes them, by a relaxed load and store: no locked instruction
/// per message. Scrapes read them.
#[repr(align(128))]
#[derive(Default)]
struct Shard {
    packets_in: AtomicU64,
    bytes_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_out: AtomicU64,
    /// Handler runs per bucket (not cumulative), the last one is +Inf.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_ns: AtomicU64,
    /// Its thread has ended: the next scrape folds it into the totals kept.
    retired: AtomicBool,
}

/// Adds to a counter that only the calling thread writes.
#[inline]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl Shard {
    fn add_to(&self, t: &mut TrafficTotals) {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        t.packets_in += load(&self.packets_in);
        t.bytes_in += load(&self.bytes_in);
        t.packets_out += load(&self.packets_out);
        t.bytes_out += load(&self.bytes_out);
        for (sum, c) in t.latency.iter_mut().zip(&self.latency) {
            *sum += load(c);
        }
        t.latency_sum_ns += load(&self.latency_sum_ns);
    }
}

/// The per-message counters, present only with `metrics(true)` (or the
/// admin UI): a shard per thread that counted something.
#[derive(Default)]
pub(crate) struct Traffic {
    shards: Mutex<Shards>,
}

#[derive(Default)]
struct Shards {
    live: Vec<Arc<Shard>>,
    /// What the shards of ended threads counted.
    retired: TrafficTotals,
}

/// A thread's shard of one [`Traffic`].
struct LocalShard {
    traffic: Weak<Traffic>,
    shard: Arc<Shard>,
}

impl Drop for LocalShard {
    fn drop(&mut self) {
        // After the thread's last write (it is this thread).
        self.shard.retired.store(true, Ordering::Release);
    }
}

thread_local! {
    static LOCAL: RefCell<Vec<LocalShard>> = const { RefCell::new(Vec::new()) };
}

impl Traffic {
    /// Runs `f` on this thread's shard, made at the thread's first count.
    /// A thread whose locals are already gone (counting from a destructor
    /// at its exit) gets a shard of its own that is retired at once.
    #[inline]
    fn with_shard(self: &Arc<Self>, f: impl FnOnce(&Shard)) {
        let me = Arc::as_ptr(self);
        let mut f = Some(f);
        let counted = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            let count = f.take().expect("counted once");
            // A live `Weak` keeps its allocation: no other `Traffic` can
            // have this address while the entry exists.
            if let Some(l) = local.iter().find(|l| Weak::as_ptr(&l.traffic) == me) {
                return count(&l.shard);
            }
            // The entries of servers that are gone go in this rare step.
            local.retain(|l| l.traffic.strong_count() > 0);
            let shard = self.new_shard();
            count(&shard);
            local.push(LocalShard {
                traffic: Arc::downgrade(self),
                shard,
            });
        });
        if let (Err(_), Some(count)) = (counted, f) {
            let shard = self.new_shard();
            count(&shard);
            shard.retired.store(true, Ordering::Release);
        }
    }

    /// A shard that scrapes read from now on.
    fn new_shard(&self) -> Arc<Shard> {
        let shard = Arc::new(Shard::default());
        self.shards.lock().unwrap().live.push(shard.clone());
        shard
    }

    /// One Engine.IO message received (`bytes` of content).
    #[inline]
    pub(crate) fn received(self: &Arc<Self>, bytes: usize) {
        self.with_shard(|s| {
            bump(&s.packets_in, 1);
            bump(&s.bytes_in, bytes as u64);
        });
    }

    /// Engine.IO messages queued to a client.
    #[inline]
    pub(crate) fn sent(self: &Arc<Self>, packets: usize, bytes: usize) {
        self.with_shard(|s| {
            bump(&s.packets_out, packets as u64);
            bump(&s.bytes_out, bytes as u64);
        });
    }

    /// An event handler ran for `d` (until its result was ready).
    #[inline]
    pub(crate) fn handler_ran(self: &Arc<Self>, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS
            .iter()
            .position(|&b| ns <= b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.with_shard(|s| {
            bump(&s.latency[i], 1);
            bump(&s.latency_sum_ns, ns);
        });
    }

    /// Packets in, bytes in, packets out, bytes out (for the admin UI).
    pub(crate) fn io_totals(&self) -> [u64; 4] {
        let t = self.totals();
        [t.packets_in, t.bytes_in, t.packets_out, t.bytes_out]
    }

    fn totals(&self) -> TrafficTotals {
        let mut shards = self.shards.lock().unwrap();
        let Shards { live, retired } = &mut *shards;
        // A retired shard is read once more (its thread wrote it last), kept
        // in the totals, and dropped.
        live.retain(|s| {
            if s.retired.load(Ordering::Acquire) {
                s.add_to(retired);
                false
            } else {
                true
            }
        });
        let mut t = retired.clone();
        for s in live.iter() {
            s.add_to(&mut t);
        }
        t
    }
}

#[derive(Default, Clone)]
struct TrafficTotals {
    packets_in: u64,
    bytes_in: u64,
    packets_out: u64,
    bytes_out: u64,
    latency: [u64; LATENCY_BUCKETS.len() + 1],
    latency_sum_ns: u64,
}

/// The server's metrics in the Prometheus text format, from
/// [`crate::SocketIo::metrics`]. Cheap to clone.
///
/// Mount it in axum (it is a tower `Service` answering any request with
/// the text), or let [`crate::serve`] serve it at `/metrics`:
///
/// ```
/// let io = sockio::SocketIo::builder().metrics(true).build().unwrap();
/// let app: axum::Router = axum::Router::new()
///     .route_service("/metrics", io.metrics())
///     .layer(io.layer());
/// # drop(app);
/// let text = io.metrics().render();
/// assert!(text.contains("sockio_sockets{namespace=\"/\"} 0"));
/// ```
///
/// Series (all prefixed `sockio_`): `connections{transport}` (open
/// Engine.IO connections), `sockets{namespace}`, `rooms{namespace}` (rooms
/// with a member, sockets' own rooms left out), `connections_opened_total`,
/// `upgrades_total`, `upgrades_failed_total`, `requests_refused_total{reason}`
/// (the engine's refusals), `connects_refused_total{reason}` (CONNECTs to a
/// namespace refused), `disconnects_total{reason}` (socket.io's reason
/// strings: connections closed by the engine, and sockets leaving a
/// namespace), `acks_timed_out_total` and the Socket.IO layer's other
/// counters ([`crate::Stats`]); with `metrics(true)`, also
/// `packets_received_total`, `bytes_received_total`, `packets_sent_total`,
/// `bytes_sent_total` (Engine.IO messages and their content bytes) and the
/// `event_handler_duration_seconds` histogram.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The Content-Type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

impl Metrics {
    pub(crate) fn new(io: &Arc<IoInner>, engine: &Arc<Engine<SioHandler>>) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SockioCollector::new(io, engine)));
        Metrics {
            registry: Arc::new(registry),
        }
    }

    /// Adds the server's series to an application's own registry (so one
    /// endpoint serves both). The collector holds the server weakly.
    pub fn register(io: &crate::SocketIo, registry: &mut Registry) {
        registry.register_collector(Box::new(SockioCollector::new(&io.inner, &io.engine)));
    }

    /// The metrics now, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }

    /// The HTTP response of a scrape.
    pub fn response(&self) -> http::Response<String> {
        let mut res = http::Response::new(self.render());
        res.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(CONTENT_TYPE),
        );
        res
    }
}

impl<B> tower_service::Service<http::Request<B>> for Metrics {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        std::future::ready(Ok(self.response()))
    }
}

/// Reads the server at scrape time.
struct SockioCollector {
    io: Weak<IoInner>,
    engine: Weak<Engine<SioHandler>>,
}

impl std::fmt::Debug for SockioCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SockioCollector").finish_non_exhaustive()
    }
}

impl SockioCollector {
    fn new(io: &Arc<IoInner>, engine: &Arc<Engine<SioHandler>>) -> Self {
        SockioCollector {
            io: Arc::downgrade(io),
            engine: Arc::downgrade(engine),
        }
    }
}

/// The reason strings of the engine's closes, as socket.io names them.
const ENGINE_CLOSES: [EngineReason; 9] = [
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

fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    m.encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// A labelled family: `(label value, value)` pairs under one label name.
fn family<'a>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    label: &'static str,
    values: impl IntoIterator<Item = (&'a str, u64)>,
) -> Result<(), std::fmt::Error> {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for (l, v) in values {
        let labels = [(label, l)];
        let mut f = m.encode_family(&labels)?;
        match kind {
            MetricType::Counter => f.encode_counter::<NoLabelSet, _, u64>(&v, None)?,
            _ => f.encode_gauge(&(v as i64))?,
        }
    }
    Ok(())
}

impl Collector for SockioCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (Some(io), Some(engine)) = (self.io.upgrade(), self.engine.upgrade()) else {
            return Ok(());
        };
        let e = &mut enc;

        // Open connections by transport (one pass over the session table).
        let (mut polling, mut websocket) = (0u64, 0u64);
        engine.for_each_session(|s| match s.transport() {
            TransportKind::Polling => polling += 1,
            TransportKind::WebSocket => websocket += 1,
        });
        family(
            e,
            "sockio_connections",
            "Open Engine.IO connections by transport",
            MetricType::Gauge,
            "transport",
            [("polling", polling), ("websocket", websocket)],
        )?;

        // Sockets and rooms per namespace.
        let namespaces: Vec<_> = io.namespaces.read().unwrap().values().cloned().collect();
        let mut per_ns: Vec<(Arc<str>, u64, u64)> = namespaces
            .iter()
            .map(|ns| {
                let sockets = ns.sockets.read().unwrap();
                let rooms = ns.rooms.read().unwrap();
                let named = rooms
                    .keys()
                    .filter(|r| !sockets.contains_key(&***r))
                    .count();
                (ns.name.clone(), sockets.len() as u64, named as u64)
            })
            .collect();
        per_ns.sort_by(|a, b| a.0.cmp(&b.0));
        family(
            e,
            "sockio_sockets",
            "Sockets connected to each namespace (this node)",
            MetricType::Gauge,
            "namespace",
            per_ns.iter().map(|(n, s, _)| (&**n, *s)),
        )?;
        family(
            e,
            "sockio_rooms",
            "Rooms with a member in each namespace (sockets' own rooms left out)",
            MetricType::Gauge,
            "namespace",
            per_ns.iter().map(|(n, _, r)| (&**n, *r)),
        )?;

        // The engine's counters.
        let es = engine.stats();
        counter(
            e,
            "sockio_connections_opened",
            "Engine.IO connections opened (handshakes accepted)",
            es.sessions_opened,
        )?;
        counter(
            e,
            "sockio_upgrades",
            "Polling connections upgraded to WebSocket",
            es.upgrades,
        )?;
        counter(
            e,
            "sockio_upgrades_failed",
            "Upgrades to WebSocket that did not complete",
            es.upgrades_failed,
        )?;
        counter(
            e,
            "sockio_payloads_too_large",
            "Polling bodies or WebSocket messages over max_payload",
            es.payloads_too_large,
        )?;
        counter(
            e,
            "sockio_parse_errors",
            "Invalid Engine.IO packets or payloads",
            es.parse_errors,
        )?;
        counter(
            e,
            "sockio_body_timeouts",
            "Polling POST bodies not received within request_body_timeout",
            es.body_timeouts,
        )?;
        family(
            e,
            "sockio_requests_refused",
            "HTTP requests the engine refused, by reason",
            MetricType::Counter,
            "reason",
            RefusalReason::ALL.map(|r| (r.name(), es.refused(r))),
        )?;

        // The Socket.IO layer's counters.
        let st = io.stats.snapshot();
        family(
            e,
            "sockio_connects_refused",
            "CONNECTs to a namespace refused, by reason",
            MetricType::Counter,
            "reason",
            [
                ("invalid_namespace", st.connect_refused_invalid_namespace),
                ("by_handler", st.connect_refused_by_handler),
                (
                    "too_many_namespaces",
                    st.connect_refused_too_many_namespaces,
                ),
            ],
        )?;
        let mut reasons: Vec<(&str, u64)> = ENGINE_CLOSES
            .iter()
            .map(|r| (r.as_str(), es.closed(*r)))
            .collect();
        reasons.push((
            crate::DisconnectReason::ClientNamespaceDisconnect.as_str(),
            st.namespace_disconnects_by_client,
        ));
        reasons.push((
            crate::DisconnectReason::ServerNamespaceDisconnect.as_str(),
            st.namespace_disconnects_by_server,
        ));
        family(
            e,
            "sockio_disconnects",
            "Connections closed (engine reasons) and sockets that left a namespace, by socket.io's reason",
            MetricType::Counter,
            "reason",
            reasons,
        )?;
        for (name, value) in st.iter() {
            if name.starts_with("connect_refused_") || name.starts_with("namespace_disconnects_") {
                continue;
            }
            let help = STAT_HELP
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(name, |(_, h)| h);
            counter(e, &format!("sockio_{name}"), help, value)?;
        }

        // Per-message series, when switched on.
        if let Some(t) = &io.traffic {
            let t = t.totals();
            counter(
                e,
                "sockio_packets_received",
                "Engine.IO messages received (attachments count one each)",
                t.packets_in,
            )?;
            counter(
                e,
                "sockio_bytes_received",
                "Content bytes of the messages received",
                t.bytes_in,
            )?;
            counter(
                e,
                "sockio_packets_sent",
                "Engine.IO messages queued to clients (one per receiver of a broadcast)",
                t.packets_out,
            )?;
            counter(
                e,
                "sockio_bytes_sent",
                "Content bytes of the messages queued to clients",
                t.bytes_out,
            )?;
            // The encoders take each bucket's own count and add them up.
            let buckets: Vec<(f64, u64)> = t
                .latency
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let le = LATENCY_BUCKETS
                        .get(i)
                        .map_or(f64::INFINITY, |&ns| ns as f64 / 1e9);
                    (le, *n)
                })
                .collect();
            let count = buckets.iter().map(|(_, n)| n).sum();
            let mut m = e.encode_descriptor(
                "sockio_event_handler_duration_seconds",
                "Time from an event's arrival to its handler's result",
                None,
                MetricType::Histogram,
            )?;
            m.encode_histogram::<NoLabelSet>(t.latency_sum_ns as f64 / 1e9, count, &buckets, None)?;
        }
        Ok(())
    }
}

/// Help texts of the [`crate::Stats`] counters.
const STAT_HELP: [(&str, &str); 10] = [
    (
        "packets_invalid",
        "Socket.IO packets that did not decode (connection closed)",
    ),
    (
        "packets_out_of_order",
        "Packets in a state the protocol forbids (connection closed)",
    ),
    ("events_unhandled", "Events with no handler (ignored)"),
    (
        "handler_failures",
        "Event handlers that failed (bad arguments, an error returned, a panic)",
    ),
    ("handler_panics", "Event handlers that panicked"),
    (
        "acks_timed_out",
        "Emits with an ack whose answer did not come in time",
    ),
    (
        "acks_refused_too_many",
        "Emits with an ack refused past max_pending_acks",
    ),
    (
        "reads_paused",
        "Times a connection's reading was paused at max_in_flight_events",
    ),
    (
        "volatile_dropped",
        "Volatile packets dropped for a full send queue",
    ),
    (
        "send_queue_full",
        "Connections closed because their send queue was full",
    ),
];

/// The messages and bytes of an encoded packet, as [`Traffic::sent`] counts them.
pub(crate) fn tally(msgs: &[sockio_engine::Message]) -> (usize, usize) {
    (msgs.len(), msgs.iter().map(|m| m.len()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_count_apart_and_an_ended_threads_counts_stay() {
        let t = Arc::new(Traffic::default());
        t.received(10);
        let threads: Vec<_> = (0..4u64)
            .map(|k| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        t.received(1);
                        t.sent(2, k as usize);
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        // The ended threads' shards are folded in at this scrape, then kept.
        for _ in 0..2 {
            assert_eq!(t.io_totals(), [4001, 4010, 8000, 6000]);
        }
        assert_eq!(
            t.shards.lock().unwrap().live.len(),
            1,
            "only this thread's is live"
        );
    }

    #[test]
    fn two_servers_on_one_thread_count_apart() {
        let a = Arc::new(Traffic::default());
        let b = Arc::new(Traffic::default());
        a.received(3);
        b.received(5);
        a.received(3);
        assert_eq!(a.io_totals()[..2], [2, 6]);
        assert_eq!(b.io_totals()[..2], [1, 5]);
        // A server that is gone leaves this thread's list at the next new shard.
        let gone = Arc::as_ptr(&b);
        drop(b);
        let c = Arc::new(Traffic::default());
        c.sent(1, 1);
        let here = |p: *const Traffic| {
            LOCAL.with(|l| l.borrow().iter().any(|x| Weak::as_ptr(&x.traffic) == p))
        };
        assert!(here(Arc::as_ptr(&a)) && here(Arc::as_ptr(&c)));
        assert!(!here(gone));
    }

    #[test]
    fn handler_durations_fall_in_their_buckets() {
        let t = Arc::new(Traffic::default());
        for us in [5, 10, 11, 700, 6_000_000] {
            t.handler_ran(Duration::from_micros(us));
        }
        let totals = t.totals();
        let mut expected = [0u64; LATENCY_BUCKETS.len() + 1];
        expected[0] = 2; // 5 µs and 10 µs (a bound is inclusive)
        expected[1] = 1; // 11 µs
        expected[4] = 1; // 700 µs (≤ 1 ms)
        expected[LATENCY_BUCKETS.len()] = 1; // 6 s: +Inf
        assert_eq!(totals.latency, expected);
        assert_eq!(totals.latency_sum_ns, 6_000_726_000);
    }
}
