//! Counters of an engine: refused requests by reason, closed sessions by
//! reason, and the limits that fired. Lock-free (relaxed atomics), touched on
//! refusals, opens, closes and errors only, never per message.
//!
//! Read them with [`crate::Engine::stats`]; [`EngineStats::counters`] lists
//! every counter under a stable name for a metrics exporter.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::DisconnectReason;

/// Why the engine refused a request without serving it.
///
/// [`RefusalReason::name`] is a stable identifier (snake case) for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalReason {
    /// `transport` missing, unknown or disabled (Node's code 0).
    UnknownTransport,
    /// A `sid` that is not (or no longer) a session (code 1).
    UnknownSid,
    /// A handshake that is not a GET (code 2).
    BadHandshakeMethod,
    /// A malformed request (code 3): invalid `Origin` header, WebSocket
    /// handshake without the upgrade headers or with a bad key/version, a
    /// method other than GET/POST on a session, a polling request on a session
    /// that upgraded, a second WebSocket for a session.
    BadRequest,
    /// `allow_request` refused it (code 4).
    Forbidden,
    /// `EIO` missing or not a supported version (code 5).
    UnsupportedProtocolVersion,
    /// The handshake would pass `max_connections` (HTTP 503).
    MaxConnections,
    /// A second polling GET (or POST) while one is pending: the session is
    /// closed too.
    OverlappingRequest,
}

impl RefusalReason {
    /// Every reason, in a fixed order.
    pub const ALL: [RefusalReason; 8] = [
        RefusalReason::UnknownTransport,
        RefusalReason::UnknownSid,
        RefusalReason::BadHandshakeMethod,
        RefusalReason::BadRequest,
        RefusalReason::Forbidden,
        RefusalReason::UnsupportedProtocolVersion,
        RefusalReason::MaxConnections,
        RefusalReason::OverlappingRequest,
    ];

    /// Stable snake-case name (`"max_connections"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RefusalReason::UnknownTransport => "unknown_transport",
            RefusalReason::UnknownSid => "unknown_sid",
            RefusalReason::BadHandshakeMethod => "bad_handshake_method",
            RefusalReason::BadRequest => "bad_request",
            RefusalReason::Forbidden => "forbidden",
            RefusalReason::UnsupportedProtocolVersion => "unsupported_protocol_version",
            RefusalReason::MaxConnections => "max_connections",
            RefusalReason::OverlappingRequest => "overlapping_request",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

const CLOSE_REASONS: [DisconnectReason; 9] = [
    DisconnectReason::TransportClose,
    DisconnectReason::TransportError,
    DisconnectReason::PingTimeout,
    DisconnectReason::ParseError,
    DisconnectReason::PayloadTooLarge,
    DisconnectReason::ProtocolViolation,
    DisconnectReason::SlowConsumer,
    DisconnectReason::ServerClose,
    DisconnectReason::ServerShutdown,
];

fn close_index(r: DisconnectReason) -> usize {
    match r {
        DisconnectReason::TransportClose => 0,
        DisconnectReason::TransportError => 1,
        DisconnectReason::PingTimeout => 2,
        DisconnectReason::ParseError => 3,
        DisconnectReason::PayloadTooLarge => 4,
        DisconnectReason::ProtocolViolation => 5,
        DisconnectReason::SlowConsumer => 6,
        DisconnectReason::ServerClose => 7,
        DisconnectReason::ServerShutdown => 8,
    }
}

/// The live counters (inside the engine).
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) sessions_opened: AtomicU64,
    pub(crate) upgrades: AtomicU64,
    pub(crate) upgrades_failed: AtomicU64,
    pub(crate) payloads_too_large: AtomicU64,
    pub(crate) parse_errors: AtomicU64,
    pub(crate) body_timeouts: AtomicU64,
    refused: [AtomicU64; RefusalReason::ALL.len()],
    closed: [AtomicU64; CLOSE_REASONS.len()],
}

pub(crate) fn bump(c: &AtomicU64) -> u64 {
    c.fetch_add(1, Ordering::Relaxed) + 1
}

impl Stats {
    /// Counts a refusal; returns how many of that reason so far.
    pub(crate) fn refused(&self, r: RefusalReason) -> u64 {
        bump(&self.refused[r.index()])
    }

    pub(crate) fn closed(&self, r: DisconnectReason) {
        bump(&self.closed[close_index(r)]);
    }

    pub(crate) fn snapshot(&self, open_sessions: usize) -> EngineStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EngineStats {
            open_sessions: open_sessions as u64,
            sessions_opened: load(&self.sessions_opened),
            upgrades: load(&self.upgrades),
            upgrades_failed: load(&self.upgrades_failed),
            payloads_too_large: load(&self.payloads_too_large),
            parse_errors: load(&self.parse_errors),
            body_timeouts: load(&self.body_timeouts),
            refused: std::array::from_fn(|i| load(&self.refused[i])),
            closed: std::array::from_fn(|i| load(&self.closed[i])),
        }
    }
}

/// A snapshot of an engine's counters ([`crate::Engine::stats`]). Counts are
/// totals since the engine was created, except `open_sessions`.
///
/// ```
/// use sockio_engine::{DisconnectReason, EngineStats, RefusalReason};
/// let s = EngineStats::default();
/// assert_eq!(s.refused(RefusalReason::MaxConnections), 0);
/// assert_eq!(s.closed(DisconnectReason::PingTimeout), 0);
/// let names: Vec<&str> = s.counters().map(|(name, _)| name).collect();
/// assert!(names.contains(&"refused_max_connections"));
/// assert!(names.contains(&"closed_ping_timeout"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Sessions open now (their `on_close` has not run).
    pub open_sessions: u64,
    /// Sessions opened (handshakes accepted).
    pub sessions_opened: u64,
    /// Polling sessions that upgraded to WebSocket.
    pub upgrades: u64,
    /// Upgrades that did not complete (timeout, bad probe, closed WebSocket).
    pub upgrades_failed: u64,
    /// Polling bodies or WebSocket messages over `max_payload`.
    pub payloads_too_large: u64,
    /// Invalid packets or payloads (polling or WebSocket).
    pub parse_errors: u64,
    /// Polling POST bodies not received within `request_body_timeout`.
    pub body_timeouts: u64,
    refused: [u64; RefusalReason::ALL.len()],
    closed: [u64; CLOSE_REASONS.len()],
}

impl EngineStats {
    /// Requests refused for `reason`.
    pub fn refused(&self, reason: RefusalReason) -> u64 {
        self.refused[reason.index()]
    }

    /// Requests refused, all reasons together.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// Sessions closed for `reason`.
    pub fn closed(&self, reason: DisconnectReason) -> u64 {
        self.closed[close_index(reason)]
    }

    /// Sessions closed, all reasons together.
    pub fn closed_total(&self) -> u64 {
        self.closed.iter().sum()
    }

    /// Every counter with a stable name: `open_sessions`, `sessions_opened`,
    /// `upgrades`, `upgrades_failed`, `payloads_too_large`, `parse_errors`,
    /// `body_timeouts`, `refused_<reason>` for each [`RefusalReason::name`],
    /// `closed_<reason>` for each [`DisconnectReason::name`].
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        const REFUSED: [&str; 8] = [
            "refused_unknown_transport",
            "refused_unknown_sid",
            "refused_bad_handshake_method",
            "refused_bad_request",
            "refused_forbidden",
            "refused_unsupported_protocol_version",
            "refused_max_connections",
            "refused_overlapping_request",
        ];
        const CLOSED: [&str; 9] = [
            "closed_transport_close",
            "closed_transport_error",
            "closed_ping_timeout",
            "closed_parse_error",
            "closed_payload_too_large",
            "closed_protocol_violation",
            "closed_slow_consumer",
            "closed_server_close",
            "closed_server_shutdown",
        ];
        [
            ("open_sessions", self.open_sessions),
            ("sessions_opened", self.sessions_opened),
            ("upgrades", self.upgrades),
            ("upgrades_failed", self.upgrades_failed),
            ("payloads_too_large", self.payloads_too_large),
            ("parse_errors", self.parse_errors),
            ("body_timeouts", self.body_timeouts),
        ]
        .into_iter()
        .chain(REFUSED.into_iter().zip(self.refused))
        .chain(CLOSED.into_iter().zip(self.closed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_their_enums() {
        let s = EngineStats::default();
        let names: Vec<&str> = s.counters().map(|(n, _)| n).collect();
        for r in RefusalReason::ALL {
            assert!(
                names.contains(&format!("refused_{}", r.name()).as_str()),
                "{r}"
            );
        }
        for r in CLOSE_REASONS {
            assert!(
                names.contains(&format!("closed_{}", r.name()).as_str()),
                "{r:?}"
            );
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
    }

    #[test]
    fn counts() {
        let st = Stats::default();
        assert_eq!(st.refused(RefusalReason::Forbidden), 1);
        assert_eq!(st.refused(RefusalReason::Forbidden), 2);
        st.closed(DisconnectReason::ProtocolViolation);
        let s = st.snapshot(3);
        assert_eq!(s.refused(RefusalReason::Forbidden), 2);
        assert_eq!(s.refused_total(), 2);
        assert_eq!(s.closed(DisconnectReason::ProtocolViolation), 1);
        assert_eq!(s.closed(DisconnectReason::TransportError), 0);
        assert_eq!(s.open_sessions, 3);
    }
}
