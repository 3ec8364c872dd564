//! Connection state recovery (socket.io 4.6+): a client that loses its
//! connection and comes back within `max_disconnection_duration` gets its
//! socket id, rooms and session data back, and the events it missed.
//!
//! How it works on the wire: the CONNECT reply carries a private id (`pid`)
//! besides the `sid`; each event the server sends that can be replayed (no
//! ack asked, not volatile) carries an offset as its last argument, which
//! the client remembers; reconnecting, the client sends `{pid, offset}` in
//! its CONNECT auth. The server keeps the state of sockets that left for a
//! reason worth recovering (a transport closed or failed, a ping timed out,
//! the server restarted) and the recent events of each namespace.
//!
//! This module is the in-memory store every namespace uses by default; a
//! cluster adapter keeps the same state where every node finds it (see
//! [`crate::Adapter::persist_session`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::adapter::{BroadcastOptions, Room, SessionState};
use crate::protocol::{Packet, Value};

/// Options of connection state recovery
/// ([`crate::SocketIoBuilder::connection_state_recovery`]), socket.io's
/// `connectionStateRecovery`.
///
/// ```
/// use std::time::Duration;
/// use sockio::{RecoveryConfig, SocketIo};
/// let io = SocketIo::builder()
///     .connection_state_recovery(RecoveryConfig {
///         max_disconnection_duration: Duration::from_secs(60),
///         ..RecoveryConfig::default()
///     })
///     .build()
///     .unwrap();
/// # let _ = io;
/// ```
#[derive(Debug, Clone)]
pub struct RecoveryConfig {
    /// How long a socket's state is kept after its connection is lost
    /// (default 2 minutes).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the connect middlewares (default
    /// true; its connect handler always runs, with
    /// [`crate::Socket::recovered`] true).
    pub skip_middlewares: bool,
    /// Most events a namespace keeps for replay (default 10,000); past it
    /// the oldest go, and a client whose offset went with them reconnects
    /// as a new socket.
    pub max_buffered_events: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_buffered_events: 10_000,
        }
    }
}

/// One replayable event: its offset, targets and data (name, arguments,
/// offset).
struct Logged {
    offset: String,
    at: Instant,
    rooms: Vec<Room>,
    except: Vec<Room>,
    data: Vec<Value>,
}

struct Kept {
    state: SessionState,
    at: Instant,
}

/// A namespace's recent events and the sockets that may come back.
pub(crate) struct RecoveryLog {
    config: RecoveryConfig,
    /// Distinguishes offsets of this process from an earlier one's.
    epoch: String,
    inner: Mutex<LogInner>,
}

#[derive(Default)]
struct LogInner {
    next: u64,
    events: VecDeque<Logged>,
    sessions: HashMap<String, Kept>,
    /// pids in the order they were kept, for expiry.
    order: VecDeque<(Instant, String)>,
}

impl RecoveryLog {
    pub(crate) fn new(config: RecoveryConfig) -> Self {
        RecoveryLog {
            config,
            epoch: crate::util::random_id()[..6].to_owned(),
            inner: Mutex::default(),
        }
    }

    pub(crate) fn config(&self) -> &RecoveryConfig {
        &self.config
    }

    /// Records a replayable event and returns its offset.
    pub(crate) fn record(&self, packet: &Packet, opts: &BroadcastOptions) -> String {
        let now = Instant::now();
        let mut st = self.inner.lock().unwrap();
        st.next += 1;
        let offset = format!("{}-{:x}", self.epoch, st.next);
        let horizon = now.checked_sub(self.config.max_disconnection_duration);
        while st.events.len() >= self.config.max_buffered_events
            || st
                .events
                .front()
                .is_some_and(|e| horizon.is_some_and(|h| e.at < h))
        {
            st.events.pop_front();
        }
        let mut data = match &packet.data {
            Some(Value::Array(a)) => a.clone(),
            _ => Vec::new(),
        };
        data.push(Value::from(offset.as_str()));
        st.events.push_back(Logged {
            offset: offset.clone(),
            at: now,
            rooms: opts.rooms.clone(),
            except: opts.except.clone(),
            data,
        });
        offset
    }

    /// Keeps the state of a socket that lost its connection.
    pub(crate) fn persist(&self, state: SessionState) {
        let now = Instant::now();
        let mut st = self.inner.lock().unwrap();
        self.expire(&mut st, now);
        st.order.push_back((now, state.pid.clone()));
        st.sessions
            .insert(state.pid.clone(), Kept { state, at: now });
    }

    /// The state kept for `pid`, with the events after `offset` that
    /// targeted it; `None` when expired, unknown, or the offset is gone.
    pub(crate) fn restore(&self, pid: &str, offset: &str) -> Option<SessionState> {
        let now = Instant::now();
        let mut st = self.inner.lock().unwrap();
        self.expire(&mut st, now);
        let kept = st.sessions.remove(pid)?;
        let i = st.events.iter().position(|e| e.offset == offset)?;
        let rooms = &kept.state.rooms;
        let missed = st
            .events
            .iter()
            .skip(i + 1)
            .filter(|e| {
                let included = e.rooms.is_empty() || rooms.iter().any(|r| e.rooms.contains(r));
                let excluded = rooms.iter().any(|r| e.except.contains(r));
                included && !excluded
            })
            .map(|e| e.data.clone())
            .collect();
        let mut state = kept.state;
        state.missed = missed;
        Some(state)
    }

    fn expire(&self, st: &mut LogInner, now: Instant) {
        let Some(horizon) = now.checked_sub(self.config.max_disconnection_duration) else {
            return;
        };
        while let Some((at, _)) = st.order.front() {
            if *at >= horizon {
                break;
            }
            if let Some((_, pid)) = st.order.pop_front() {
                if st.sessions.get(&pid).is_some_and(|k| k.at < horizon) {
                    st.sessions.remove(&pid);
                }
            }
        }
    }
}

/// Whether a socket that left for `reason` may come back with its state
/// (socket.io's recoverable reasons).
pub(crate) fn recoverable(reason: crate::DisconnectReason) -> bool {
    use sockio_engine::DisconnectReason as E;
    match reason {
        crate::DisconnectReason::Transport(r) => matches!(
            r,
            E::TransportClose
                | E::TransportError
                | E::PingTimeout
                | E::ServerClose
                | E::ServerShutdown
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> Packet {
        Packet::event("/", "e", vec![Value::from(n)], None)
    }

    fn opts(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            except: except.iter().map(|r| Room::from(*r)).collect(),
            ..Default::default()
        }
    }

    fn state(pid: &str, rooms: &[&str]) -> SessionState {
        SessionState {
            pid: pid.into(),
            id: crate::SocketId::new("sid"),
            namespace: "/".into(),
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            data: Value::Null,
            missed: Vec::new(),
        }
    }

    #[test]
    fn missed_events_are_those_after_the_offset_for_the_socket_s_rooms() {
        let log = RecoveryLog::new(RecoveryConfig::default());
        let first = log.record(&event(0), &opts(&[], &[]));
        log.record(&event(1), &opts(&["a"], &[]));
        log.record(&event(2), &opts(&["b"], &[]));
        log.record(&event(3), &opts(&[], &["a"]));
        let last = log.record(&event(4), &opts(&[], &[]));
        log.persist(state("p", &["sid", "a"]));
        let s = log.restore("p", &first).unwrap();
        let got: Vec<&Value> = s.missed.iter().map(|d| &d[1]).collect();
        assert_eq!(got, [&Value::from(1), &Value::from(4)]);
        assert_eq!(s.missed[1][2], Value::from(last.as_str()), "offset last");
        assert!(
            log.restore("p", &first).is_none(),
            "a session is restored once"
        );
    }

    #[test]
    fn unknown_offsets_and_expired_sessions_do_not_recover() {
        let log = RecoveryLog::new(RecoveryConfig {
            max_disconnection_duration: Duration::from_millis(1),
            ..Default::default()
        });
        let o = log.record(&event(0), &opts(&[], &[]));
        log.persist(state("p", &[]));
        log.persist(state("q", &[]));
        assert!(log.restore("q", "nope").is_none());
        std::thread::sleep(Duration::from_millis(5));
        assert!(log.restore("p", &o).is_none());
    }

    #[test]
    fn the_event_buffer_is_bounded() {
        let log = RecoveryLog::new(RecoveryConfig {
            max_buffered_events: 3,
            ..Default::default()
        });
        let first = log.record(&event(0), &opts(&[], &[]));
        for n in 1..10 {
            log.record(&event(n), &opts(&[], &[]));
        }
        log.persist(state("p", &[]));
        assert!(log.restore("p", &first).is_none(), "the offset is gone");
        assert_eq!(log.inner.lock().unwrap().events.len(), 3);
    }
}
