//! Engine options (CONTRACT: builder method names used by `sockio`; STUB to be completed).

use std::time::Duration;

use crate::TransportKind;

/// Validated engine options. Build with [`EngineConfig::builder`].
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Request path the engine answers, with a trailing slash (default `/engine.io/`).
    pub path: String,
    /// Interval between server pings (v4) / announced to v3 clients (default 25 s).
    pub ping_interval: Duration,
    /// How long to wait for a pong (default 20 s).
    pub ping_timeout: Duration,
    /// Largest accepted payload in bytes (default 1,000,000).
    pub max_payload: u64,
    /// Most packets in one polling response (default 16).
    pub max_packets_per_poll: usize,
    /// Outgoing queue length per session (default 1024).
    pub max_buffered_packets: usize,
    /// Transports accepted (default polling and websocket).
    pub transports: Vec<TransportKind>,
    /// Whether polling sessions may upgrade (default true).
    pub allow_upgrades: bool,
    /// How long an upgrade may take (default 10 s).
    pub upgrade_timeout: Duration,
    /// Accept Engine.IO v3 clients (default false).
    pub allow_eio3: bool,
}

/// Builder for [`EngineConfig`].
#[derive(Clone, Debug, Default)]
pub struct EngineConfigBuilder {}

/// An invalid option.
#[derive(Debug, thiserror::Error)]
#[error("invalid engine option: {0}")]
pub struct ConfigError(pub String);

/// Cookie options.
#[derive(Clone, Debug)]
pub struct CookieConfig {}

/// SameSite attribute.
#[derive(Clone, Copy, Debug)]
pub enum SameSite {
    /// Strict
    Strict,
    /// Lax
    Lax,
    /// None
    None,
}

/// CORS options.
#[derive(Clone, Debug)]
pub struct Cors {}
