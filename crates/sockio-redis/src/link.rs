//! The connections to Redis, their health and their counters.
//!
//! Two connections, as Node's adapter has a pub and a sub client:
//! - the **publisher** (RESP2) sends what the adapter publishes and its
//!   commands (`PUBSUB NUMSUB`, ...). Publications go through one bounded
//!   queue to one task that pipelines them: an emit never waits on Redis, and
//!   messages leave in the order they were made. A batch that fails is not
//!   sent again (Redis may have taken it before the connection broke), so
//!   nothing is delivered twice.
//! - the **subscriber** (RESP3, `redis::aio::ConnectionManager` with
//!   automatic resubscription): after a reconnection the manager subscribes
//!   again to every channel and pattern before it serves anything else.
//!   Messages are handed to the adapter in the connection's own task (no
//!   extra hop per message).
//!
//! Both managers reconnect by themselves; a health task pings them (every
//! second, every 200 ms during an outage) so that a reconnection is tried
//! even when nothing is published, and so that the outage's end is seen,
//! logged and counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo};
use sockio::AdapterError;
use tokio::sync::{mpsc, oneshot};

/// Counters of a Redis adapter or emitter, since it was created
/// ([`crate::RedisAdapter::metrics`]). Monotonic, except `connected`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisMetrics {
    /// Whether Redis answers now.
    pub connected: bool,
    /// Messages published (broadcasts, requests, responses).
    pub published: u64,
    /// Messages that could not be published (Redis unreachable, queue full,
    /// or older than `publish_timeout`): their local part was delivered, the
    /// other nodes did not get them.
    pub publish_dropped: u64,
    /// Messages received from other nodes and applied.
    pub received: u64,
    /// Messages skipped without decoding (own messages, rooms with no local member).
    pub skipped: u64,
    /// Messages that did not decode (logged, ignored).
    pub decode_errors: u64,
    /// Cluster requests that failed because Redis was unreachable.
    pub requests_failed: u64,
    /// Cluster requests that timed out waiting for other nodes.
    pub requests_timed_out: u64,
    /// Outages seen (Redis stopped answering).
    pub outages: u64,
    /// Outages that ended (connections back, channels subscribed again).
    pub recoveries: u64,
    /// Duration of the last outage that ended, in milliseconds.
    pub last_outage_ms: u64,
    /// Total duration of the outages that ended, in milliseconds.
    pub total_outage_ms: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub publish_dropped: AtomicU64,
    pub received: AtomicU64,
    pub skipped: AtomicU64,
    pub decode_errors: AtomicU64,
    pub requests_failed: AtomicU64,
    pub requests_timed_out: AtomicU64,
    pub outages: AtomicU64,
    pub recoveries: AtomicU64,
    pub last_outage_ms: AtomicU64,
    pub total_outage_ms: AtomicU64,
}

pub(crate) fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Shared health state of the connections.
pub(crate) struct Health {
    pub label: String,
    up: AtomicBool,
    down_since: Mutex<Option<Instant>>,
    pub counters: Counters,
}

impl Health {
    fn new(label: String) -> Self {
        Health {
            label,
            up: AtomicBool::new(true),
            down_since: Mutex::new(None),
            counters: Counters::default(),
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    pub fn mark_down(&self, why: &str) {
        if self.up.swap(false, Ordering::AcqRel) {
            *self.down_since.lock().unwrap() = Some(Instant::now());
            inc(&self.counters.outages, 1);
            tracing::warn!(
                redis = %self.label,
                "Redis unreachable ({why}): local delivery goes on, cluster messages are dropped \
                 and cluster requests fail until it is back"
            );
        }
    }

    pub fn mark_up(&self) {
        if !self.up.swap(true, Ordering::AcqRel) {
            let since = self.down_since.lock().unwrap().take();
            let ms = since.map_or(0, |t| t.elapsed().as_millis() as u64);
            inc(&self.counters.recoveries, 1);
            self.counters.last_outage_ms.store(ms, Ordering::Relaxed);
            inc(&self.counters.total_outage_ms, ms);
            tracing::warn!(redis = %self.label, outage_ms = ms, "Redis reachable again, channels resubscribed");
        }
    }

    pub fn unavailable(&self) -> AdapterError {
        AdapterError::Unavailable(format!(
            "Redis at {} is unreachable; the adapter reconnects by itself",
            self.label
        ))
    }

    pub fn snapshot(&self) -> RedisMetrics {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RedisMetrics {
            connected: self.is_up(),
            published: l(&c.published),
            publish_dropped: l(&c.publish_dropped),
            received: l(&c.received),
            skipped: l(&c.skipped),
            decode_errors: l(&c.decode_errors),
            requests_failed: l(&c.requests_failed),
            requests_timed_out: l(&c.requests_timed_out),
            outages: l(&c.outages),
            recoveries: l(&c.recoveries),
            last_outage_ms: l(&c.last_outage_ms),
            total_outage_ms: l(&c.total_outage_ms),
        }
    }
}

/// Connection options shared by the adapters and the emitter.
#[derive(Debug, Clone)]
pub(crate) struct LinkOptions {
    pub url: String,
    pub publish_queue: usize,
    pub publish_timeout: Duration,
    pub command_timeout: Duration,
}

/// A command the publisher task sends.
pub(crate) enum Out {
    /// `PUBLISH channel payload`.
    Publish { channel: String, payload: Vec<u8> },
    /// `XADD stream MAXLEN ~ max_len * field value ...`; with `id`, the new
    /// entry's id is sent there (dropped unanswered when the entry could not
    /// be written).
    XAdd {
        stream: String,
        max_len: usize,
        fields: Vec<(&'static str, Vec<u8>)>,
        id: Option<oneshot::Sender<String>>,
    },
}

struct Outgoing {
    cmd: Out,
    at: Instant,
}

/// What receives the subscriber's pushes (messages, disconnections).
pub(crate) type PushHandler = Arc<dyn Fn(PushInfo) + Send + Sync>;

/// The connections of one adapter (or emitter).
pub(crate) struct Link {
    pub health: Arc<Health>,
    /// The publisher connection (commands).
    pub conn: ConnectionManager,
    /// The subscriber connection, if any.
    pub sub: Option<ConnectionManager>,
    queue: mpsc::Sender<Outgoing>,
    pub opts: LinkOptions,
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
        .set_number_of_retries(8)
        .set_connection_timeout(Some(Duration::from_secs(1)))
}

fn open_error(url: &str, e: redis::RedisError) -> AdapterError {
    AdapterError::Unavailable(format!(
        "cannot connect to Redis at {}: {e}",
        without_password(url)
    ))
}

/// `url` with its password (if any) replaced by `***`, for messages and logs.
fn without_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let host_start = match rest.find('/') {
        Some(slash) => rest[..slash].rfind('@'),
        None => rest.rfind('@'),
    };
    match host_start {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!(
                "{}{}:***{}",
                &url[..scheme_end],
                &rest[..colon],
                &rest[at..]
            ),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

impl Link {
    /// Connects the publisher and, with `on_push`, the subscriber.
    pub async fn connect(
        opts: LinkOptions,
        on_push: Option<PushHandler>,
    ) -> Result<Link, AdapterError> {
        let url = opts.url.clone();
        let info = url
            .as_str()
            .into_connection_info()
            .map_err(|e| AdapterError::Other(format!("invalid Redis URL {url}: {e}")))?;
        let label = format!("{:?}", info.addr());
        let label = label
            .trim_start_matches("Tcp(")
            .trim_end_matches(')')
            .to_string();
        let client = redis::Client::open(info.clone()).map_err(|e| open_error(&url, e))?;
        let conn = ConnectionManager::new_with_config(
            client,
            manager_config().set_response_timeout(Some(opts.command_timeout)),
        )
        .await
        .map_err(|e| open_error(&url, e))?;
        let sub = match on_push {
            Some(handler) => {
                let settings = info
                    .redis_settings()
                    .clone()
                    .set_protocol(ProtocolVersion::RESP3);
                let info = info.set_redis_settings(settings);
                let client = redis::Client::open(info).map_err(|e| open_error(&url, e))?;
                let sender = move |p: PushInfo| -> Result<(), std::convert::Infallible> {
                    handler(p);
                    Ok(())
                };
                let config = manager_config()
                    .set_response_timeout(Some(opts.command_timeout))
                    .set_push_sender(sender)
                    .set_automatic_resubscription();
                Some(
                    ConnectionManager::new_with_config(client, config)
                        .await
                        .map_err(|e| open_error(&url, e))?,
                )
            }
            None => None,
        };
        let health = Arc::new(Health::new(label));
        let (tx, rx) = mpsc::channel(opts.publish_queue.max(1));
        tokio::spawn(publisher(
            rx,
            conn.clone(),
            health.clone(),
            opts.publish_timeout,
        ));
        let mut watched = vec![conn.clone()];
        watched.extend(sub.clone());
        tokio::spawn(health_check(
            Arc::downgrade(&health),
            watched,
            opts.command_timeout,
        ));
        Ok(Link {
            health,
            conn,
            sub,
            queue: tx,
            opts,
        })
    }

    /// Queues a publication. Fails at once (counted) when Redis is known to
    /// be unreachable or the queue is full.
    pub fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), AdapterError> {
        self.send(Out::Publish { channel, payload }, false)
    }

    /// Queues a command; with `keep_when_down`, also while Redis is
    /// unreachable (it leaves once Redis is back, if within `publish_timeout`).
    pub fn send(&self, cmd: Out, keep_when_down: bool) -> Result<(), AdapterError> {
        if !keep_when_down && !self.health.is_up() {
            inc(&self.health.counters.publish_dropped, 1);
            return Err(self.health.unavailable());
        }
        let out = Outgoing {
            cmd,
            at: Instant::now(),
        };
        self.queue.try_send(out).map_err(|e| {
            inc(&self.health.counters.publish_dropped, 1);
            match e {
                mpsc::error::TrySendError::Full(_) => AdapterError::Unavailable(format!(
                    "the Redis publish queue is full ({} messages waiting): Redis at {} is too slow or unreachable",
                    self.opts.publish_queue, self.health.label
                )),
                mpsc::error::TrySendError::Closed(_) => {
                    AdapterError::Other("the Redis publisher stopped".into())
                }
            }
        })
    }

    /// Runs one command on the publisher connection, bounded by the command
    /// timeout; fails at once when Redis is known to be unreachable.
    pub async fn command<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, AdapterError> {
        let mut conn = self.conn.clone();
        self.bounded(async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    /// As [`Link::command`], for a pipeline (or a `MULTI` transaction).
    pub async fn pipeline<T: redis::FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, AdapterError> {
        let mut conn = self.conn.clone();
        self.bounded(async move { pipe.query_async::<T>(&mut conn).await })
            .await
    }

    async fn bounded<T>(
        &self,
        query: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, AdapterError> {
        if !self.health.is_up() {
            inc(&self.health.counters.requests_failed, 1);
            return Err(self.health.unavailable());
        }
        match tokio::time::timeout(self.opts.command_timeout, query).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                inc(&self.health.counters.requests_failed, 1);
                if e.is_io_error() || e.is_unrecoverable_error() || e.is_timeout() {
                    self.health.mark_down(&e.to_string());
                    Err(self.health.unavailable())
                } else {
                    Err(AdapterError::Other(format!("Redis command failed: {e}")))
                }
            }
            Err(_) => {
                inc(&self.health.counters.requests_failed, 1);
                Err(AdapterError::Unavailable(format!(
                    "Redis at {} did not answer within {:?}",
                    self.health.label, self.opts.command_timeout
                )))
            }
        }
    }

    /// `PUBSUB NUMSUB channel`: how many connections subscribe to it.
    pub async fn numsub(&self, channel: &str) -> Result<usize, AdapterError> {
        let v: redis::Value = self
            .command(redis::cmd("PUBSUB").arg("NUMSUB").arg(channel))
            .await?;
        let n = match v {
            redis::Value::Array(a) => a.get(1).and_then(int_of),
            redis::Value::Map(m) => m.first().and_then(|(_, v)| int_of(v)),
            _ => None,
        };
        n.ok_or_else(|| AdapterError::Other("unexpected PUBSUB NUMSUB reply".into()))
    }
}

fn int_of(v: &redis::Value) -> Option<usize> {
    match v {
        redis::Value::Int(i) => usize::try_from(*i).ok(),
        redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        redis::Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

async fn publisher(
    mut rx: mpsc::Receiver<Outgoing>,
    mut conn: ConnectionManager,
    health: Arc<Health>,
    publish_timeout: Duration,
) {
    const BATCH: usize = 256;
    let mut batch: Vec<Outgoing> = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // during an outage, wait for Redis (what was queued meanwhile leaves then)
        while !health.is_up() && batch.iter().any(|m| m.at.elapsed() < publish_timeout) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let before = batch.len();
        batch.retain(|m| m.at.elapsed() < publish_timeout);
        inc(
            &health.counters.publish_dropped,
            (before - batch.len()) as u64,
        );
        if batch.is_empty() {
            continue;
        }
        let mut pipe = redis::pipe();
        // the senders of the entry ids asked for, in the order of their replies
        let mut ids = Vec::new();
        for m in &mut batch {
            match &mut m.cmd {
                Out::Publish { channel, payload } => {
                    pipe.cmd("PUBLISH")
                        .arg(&*channel)
                        .arg(&payload[..])
                        .ignore();
                }
                Out::XAdd {
                    stream,
                    max_len,
                    fields,
                    id,
                } => {
                    let c = pipe
                        .cmd("XADD")
                        .arg(&*stream)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(*max_len)
                        .arg("*");
                    for (k, v) in fields.iter() {
                        c.arg(*k).arg(&v[..]);
                    }
                    match id.take() {
                        Some(tx) => ids.push(tx),
                        None => {
                            c.ignore();
                        }
                    }
                }
            }
        }
        let n = batch.len() as u64;
        let sent = tokio::time::timeout(publish_timeout, async {
            if ids.is_empty() {
                pipe.exec_async(&mut conn).await.map(|()| Vec::new())
            } else {
                pipe.query_async::<Vec<redis::Value>>(&mut conn).await
            }
        });
        match sent.await {
            Ok(Ok(replies)) => {
                inc(&health.counters.published, n);
                health.mark_up();
                for (tx, reply) in ids.into_iter().zip(replies) {
                    if let Ok(id) = redis::from_redis_value::<String>(reply) {
                        let _ = tx.send(id);
                    }
                }
            }
            Ok(Err(e)) => {
                inc(&health.counters.publish_dropped, n);
                tracing::debug!(redis = %health.label, "publish failed: {e}");
                health.mark_down(&e.to_string());
            }
            Err(_) => {
                inc(&health.counters.publish_dropped, n);
                health.mark_down("publish timed out");
            }
        }
        batch.clear();
    }
}

async fn health_check(health: Weak<Health>, conns: Vec<ConnectionManager>, timeout: Duration) {
    loop {
        let up = match health.upgrade() {
            Some(h) => h.is_up(),
            None => return,
        };
        tokio::time::sleep(if up {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(200)
        })
        .await;
        let mut ok = true;
        let mut why = String::new();
        for c in &conns {
            let mut c = c.clone();
            match tokio::time::timeout(
                timeout,
                redis::cmd("PING").query_async::<redis::Value>(&mut c),
            )
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    ok = false;
                    why = e.to_string();
                }
                Err(_) => {
                    ok = false;
                    why = "ping timed out".into();
                }
            }
        }
        let Some(h) = health.upgrade() else { return };
        if ok {
            h.mark_up();
        } else {
            h.mark_down(&why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_url_s_password_is_hidden() {
        assert_eq!(
            without_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(without_password("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(without_password("rediss://u:p@ss@h"), "rediss://u:***@h");
        assert_eq!(without_password("redis://u@h"), "redis://u@h");
        assert_eq!(without_password("not a url"), "not a url");
    }
}
