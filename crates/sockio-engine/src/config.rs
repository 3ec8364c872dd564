//! Engine options: [`EngineConfig`] and its builder, [`Cors`] and [`CookieConfig`].
//!
//! This module only describes and validates options; it does no I/O. The
//! defaults are those of the Node.js `engine.io` 6.x server, plus bounds of
//! our own (`max_packets_per_poll`, `max_buffered_packets`, `max_connections`,
//! `request_body_timeout`, `close_grace`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderMap;

use crate::{HandshakeRequest, Refusal, TransportKind};

/// The future an `allow_request` hook returns, boxed.
pub(crate) type AllowFuture = Pin<Box<dyn Future<Output = Result<(), Refusal>> + Send + 'static>>;

/// The hook type of [`EngineConfigBuilder::allow_request`].
pub(crate) type AllowRequestFn =
    Arc<dyn Fn(HandshakeRequest) -> AllowFuture + Send + Sync + 'static>;

/// The hook type of [`EngineConfigBuilder::on_initial_headers`] and
/// [`EngineConfigBuilder::on_headers`].
pub(crate) type HeadersFn =
    Arc<dyn Fn(&mut HeaderMap, &http::request::Parts) + Send + Sync + 'static>;

/// The default `max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;

/// Validated engine options. Build with [`EngineConfig::builder`].
///
/// ```
/// use std::time::Duration;
/// use sockio_engine::{Cors, EngineConfig};
///
/// let config = EngineConfig::builder()
///     .path("/engine.io")
///     .ping_interval(Duration::from_millis(300))
///     .ping_timeout(Duration::from_millis(200))
///     .cors(Cors::any())
///     .build()
///     .unwrap();
/// assert_eq!(config.path, "/engine.io/");
/// assert_eq!(config.max_payload, 1_000_000);
/// ```
#[derive(Clone)]
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
    /// Size of each WebSocket's read buffer, allocated per connection (default
    /// 1024: an idle connection stays small). One read of the socket takes up
    /// to 4 KiB all the same (through a stack buffer, what does not fit is kept
    /// for the next read), or up to this size when it is larger; a message
    /// larger than that takes several reads.
    pub websocket_read_buffer: usize,
    /// Transports accepted (default polling and websocket).
    pub transports: Vec<TransportKind>,
    /// Whether polling sessions may upgrade (default true).
    pub allow_upgrades: bool,
    /// How long an upgrade may take (default 10 s).
    pub upgrade_timeout: Duration,
    /// How long a polling GET that arrives after the upgrade probe is held
    /// waiting for the upgrade's `5` (default 200 ms, at most
    /// `upgrade_timeout`). See [`EngineConfigBuilder::upgrade_hold`].
    pub upgrade_hold: Duration,
    /// Accept Engine.IO v3 clients (default false).
    pub allow_eio3: bool,
    /// CORS policy (default none: no CORS headers, no preflight answer).
    pub cors: Option<Cors>,
    /// Session cookie set on the handshake response (default none).
    pub cookie: Option<CookieConfig>,
    /// Compress polling responses with gzip or deflate (default true).
    pub http_compression: bool,
    /// Smallest polling response compressed, in bytes (default 1024).
    pub compression_threshold: usize,
    /// WebSocket permessage-deflate (RFC 7692) for clients that offer it
    /// (default false, as in Node).
    pub per_message_deflate: bool,
    /// With `per_message_deflate`, the smallest WebSocket message compressed,
    /// in bytes (default 1024, Node's `perMessageDeflate.threshold`).
    pub per_message_deflate_threshold: usize,
    /// How long a session closed by the client over polling (close packet
    /// `1` in a POST) keeps its sid, answering a GET that raced the close
    /// with `6` instead of 400 "Session ID unknown" (default: half of
    /// `ping_timeout`, at most 5 s).
    pub close_grace: Duration,
    /// How long a polling POST body may take to arrive, from the start of the
    /// request; past it the request is answered 408 and the session closed
    /// (default: `ping_timeout`).
    pub request_body_timeout: Duration,
    /// Most sessions open at once; further handshakes are refused with HTTP
    /// 503 (default 100,000; `None`: no limit). See
    /// [`EngineConfigBuilder::max_connections`].
    pub max_connections: Option<usize>,
    pub(crate) allow_request: Option<AllowRequestFn>,
    pub(crate) initial_headers: Option<HeadersFn>,
    pub(crate) headers: Option<HeadersFn>,
}

impl fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("ping_interval", &self.ping_interval)
            .field("ping_timeout", &self.ping_timeout)
            .field("max_payload", &self.max_payload)
            .field("max_packets_per_poll", &self.max_packets_per_poll)
            .field("max_buffered_packets", &self.max_buffered_packets)
            .field("websocket_read_buffer", &self.websocket_read_buffer)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("upgrade_timeout", &self.upgrade_timeout)
            .field("upgrade_hold", &self.upgrade_hold)
            .field("allow_eio3", &self.allow_eio3)
            .field("cors", &self.cors)
            .field("cookie", &self.cookie)
            .field("http_compression", &self.http_compression)
            .field("compression_threshold", &self.compression_threshold)
            .field("per_message_deflate", &self.per_message_deflate)
            .field(
                "per_message_deflate_threshold",
                &self.per_message_deflate_threshold,
            )
            .field("close_grace", &self.close_grace)
            .field("request_body_timeout", &self.request_body_timeout)
            .field("max_connections", &self.max_connections)
            .field("allow_request", &self.allow_request.is_some())
            .field("on_initial_headers", &self.initial_headers.is_some())
            .field("on_headers", &self.headers.is_some())
            .finish()
    }
}

impl Default for EngineConfig {
    /// The Node.js defaults (see the field docs).
    fn default() -> Self {
        EngineConfig {
            path: "/engine.io/".to_owned(),
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            max_payload: 1_000_000,
            max_packets_per_poll: 16,
            max_buffered_packets: 1024,
            websocket_read_buffer: 1024,
            transports: vec![TransportKind::Polling, TransportKind::WebSocket],
            allow_upgrades: true,
            upgrade_timeout: Duration::from_millis(10_000),
            upgrade_hold: Duration::from_millis(200),
            allow_eio3: false,
            cors: None,
            cookie: None,
            http_compression: true,
            compression_threshold: 1024,
            per_message_deflate: false,
            per_message_deflate_threshold: 1024,
            close_grace: default_close_grace(Duration::from_millis(20_000)),
            request_body_timeout: Duration::from_millis(20_000),
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            allow_request: None,
            initial_headers: None,
            headers: None,
        }
    }
}

fn default_close_grace(ping_timeout: Duration) -> Duration {
    (ping_timeout / 2).min(Duration::from_secs(5))
}

impl EngineConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> EngineConfigBuilder {
        EngineConfigBuilder::default()
    }

    /// Whether the transport is enabled.
    pub fn accepts(&self, kind: TransportKind) -> bool {
        self.transports.contains(&kind)
    }
}

/// Builder for [`EngineConfig`]; [`EngineConfigBuilder::build`] validates.
#[derive(Clone, Debug, Default)]
pub struct EngineConfigBuilder {
    config: EngineConfig,
    /// Set explicitly (otherwise derived from `ping_timeout`).
    close_grace: Option<Duration>,
    request_body_timeout: Option<Duration>,
}

impl EngineConfigBuilder {
    /// Request path (default `/engine.io/`); must start with `/`. A trailing
    /// slash is added when missing.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.config.path = path.into();
        self
    }
    /// Interval between pings (default 25 s).
    pub fn ping_interval(mut self, d: Duration) -> Self {
        self.config.ping_interval = d;
        self
    }
    /// How long to wait for a pong (default 20 s).
    pub fn ping_timeout(mut self, d: Duration) -> Self {
        self.config.ping_timeout = d;
        self
    }
    /// Largest accepted payload, polling body or WebSocket message (default 1,000,000).
    pub fn max_payload(mut self, bytes: u64) -> Self {
        self.config.max_payload = bytes;
        self
    }
    /// Most packets in one polling response (default 16); the rest wait for the next GET.
    pub fn max_packets_per_poll(mut self, n: usize) -> Self {
        self.config.max_packets_per_poll = n;
        self
    }
    /// Outgoing queue length per session (default 1024).
    pub fn max_buffered_packets(mut self, n: usize) -> Self {
        self.config.max_buffered_packets = n;
        self
    }
    /// Size of each WebSocket's read buffer (default 1024 bytes; see
    /// [`EngineConfig::websocket_read_buffer`]).
    pub fn websocket_read_buffer(mut self, bytes: usize) -> Self {
        self.config.websocket_read_buffer = bytes;
        self
    }
    /// Enabled transports (default both).
    pub fn transports(mut self, t: impl IntoIterator<Item = TransportKind>) -> Self {
        let mut v: Vec<TransportKind> = Vec::new();
        for k in t {
            if !v.contains(&k) {
                v.push(k);
            }
        }
        self.config.transports = v;
        self
    }
    /// Whether polling sessions may upgrade to WebSocket (default true).
    pub fn allow_upgrades(mut self, allow: bool) -> Self {
        self.config.allow_upgrades = allow;
        self
    }
    /// How long an upgrade may take (default 10 s).
    pub fn upgrade_timeout(mut self, d: Duration) -> Self {
        self.config.upgrade_timeout = d;
        self
    }
    /// How long a polling GET that arrives after the upgrade probe was
    /// answered is held waiting for the upgrade's `5` (default 200 ms; at
    /// most `upgrade_timeout`). If `5` comes, the GET is answered 400 (a
    /// request on the old transport), whether it or `5` was read first; if
    /// the upgrade fails, it polls as usual; if neither happens in time it
    /// is answered `6`, which a client whose GET was on its way when the
    /// probe was answered needs before it sends `5` (Node answers such a GET
    /// within its 100 ms upgrade check).
    pub fn upgrade_hold(mut self, d: Duration) -> Self {
        self.config.upgrade_hold = d;
        self
    }
    /// Accept Engine.IO v3 clients, socket.io-client 1.x/2.x (default false).
    pub fn allow_eio3(mut self, allow: bool) -> Self {
        self.config.allow_eio3 = allow;
        self
    }
    /// CORS policy (default: none).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.cors = Some(cors);
        self
    }
    /// Set a cookie holding the sid on the polling handshake response (default: none).
    pub fn cookie(mut self, cookie: CookieConfig) -> Self {
        self.config.cookie = Some(cookie);
        self
    }
    /// A check run on every handshake request (a request without `sid`),
    /// after Node's own checks (transport, origin, method) and before the
    /// session is created; it may wait (an auth lookup). `Err(refusal)`
    /// refuses it: over polling HTTP 403 `{"code":4,"message":<message>}`,
    /// over WebSocket HTTP 400 with the message (see [`Refusal`]). A hook
    /// that panics refuses the request.
    ///
    /// ```
    /// use sockio_engine::{EngineConfig, HandshakeRequest, Refusal};
    /// let config = EngineConfig::builder()
    ///     .allow_request(|req: HandshakeRequest| async move {
    ///         match req.query.get("token") {
    ///             Some(t) if t == "secret" => Ok(()),
    ///             Some(_) => Err(Refusal::new("invalid token")),
    ///             None => Err(Refusal::forbidden()),
    ///         }
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = config;
    /// ```
    pub fn allow_request<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(HandshakeRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Refusal>> + Send + 'static,
    {
        self.config.allow_request = Some(Arc::new(move |req| Box::pin(f(req))));
        self
    }
    /// Adds headers to the handshake response (Node's `initial_headers`
    /// event): `f(&mut headers, &request)` runs before the response leaves,
    /// polling or WebSocket (101), after the sid cookie is set. Append to
    /// add a header that may repeat, e.g. another `Set-Cookie`.
    ///
    /// ```
    /// use sockio_engine::EngineConfig;
    /// let config = EngineConfig::builder()
    ///     .on_initial_headers(|headers, _req| {
    ///         headers.append(http::header::SET_COOKIE, http::HeaderValue::from_static("a=1"));
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # let _ = config;
    /// ```
    pub fn on_initial_headers(
        mut self,
        f: impl Fn(&mut HeaderMap, &http::request::Parts) + Send + Sync + 'static,
    ) -> Self {
        self.config.initial_headers = Some(Arc::new(f));
        self
    }
    /// Adds headers to every successful response of the engine (Node's
    /// `headers` event): handshakes (after [`on_initial_headers`](Self::on_initial_headers)),
    /// polling GET and POST answers, and WebSocket upgrade (101) answers;
    /// `f(&mut headers, &request)` gets the request being answered. Error
    /// answers (400, 403, ...) and CORS preflights do not run it, as in Node.
    pub fn on_headers(
        mut self,
        f: impl Fn(&mut HeaderMap, &http::request::Parts) + Send + Sync + 'static,
    ) -> Self {
        self.config.headers = Some(Arc::new(f));
        self
    }
    /// How long a session closed by the client over polling keeps its sid so
    /// that a GET racing the close is answered `6` (default: half of
    /// `ping_timeout`, at most 5 s). Zero forgets the sid at once.
    pub fn close_grace(mut self, d: Duration) -> Self {
        self.close_grace = Some(d);
        self
    }
    /// Deadline of a polling POST body, counted from the start of the request
    /// (default: `ping_timeout`): a body that trickles or never ends is
    /// answered 408 and its session closed. A legitimate client must send
    /// `max_payload` bytes within it.
    pub fn request_body_timeout(mut self, d: Duration) -> Self {
        self.request_body_timeout = Some(d);
        self
    }
    /// Most sessions open at once (default 100,000; `None`: no limit).
    /// Handshakes past it are refused with HTTP 503 (counted as
    /// [`crate::RefusalReason::MaxConnections`]). A handshake costs no file
    /// descriptor once answered (a polling client holds none between its
    /// requests), so nothing else bounds how many sessions a flood of
    /// handshakes leaves open for `ping_interval + ping_timeout`; the default
    /// stays well above the 50,000 clients the benchmarks hold while capping
    /// a flood at roughly 100,000 × a few KiB.
    pub fn max_connections(mut self, n: impl Into<Option<usize>>) -> Self {
        self.config.max_connections = n.into();
        self
    }
    /// Compress polling responses per `Accept-Encoding` (gzip, deflate) (default true).
    pub fn http_compression(mut self, on: bool) -> Self {
        self.config.http_compression = on;
        self
    }
    /// Smallest polling response that is compressed, in bytes (default 1024).
    pub fn compression_threshold(mut self, bytes: usize) -> Self {
        self.config.compression_threshold = bytes;
        self
    }
    /// WebSocket permessage-deflate, RFC 7692 (default false, as in Node's
    /// engine.io). When on, a client that offers the extension (browsers and
    /// Node's `ws` do) gets it: messages of at least
    /// [`per_message_deflate_threshold`](Self::per_message_deflate_threshold)
    /// bytes are sent compressed, except those sent with
    /// [`Message::with_compress`](crate::Message::with_compress)`(false)`
    /// (Node's per-emit `compress(false)`), and compressed messages from the
    /// client are accepted (their inflated size is bounded by `max_payload`). Clients that do not offer it, and every
    /// connection while this is off, use the uncompressed fast path.
    pub fn per_message_deflate(mut self, on: bool) -> Self {
        self.config.per_message_deflate = on;
        self
    }
    /// Smallest WebSocket message compressed when `per_message_deflate` is
    /// on, in bytes (default 1024).
    pub fn per_message_deflate_threshold(mut self, bytes: usize) -> Self {
        self.config.per_message_deflate_threshold = bytes;
        self
    }

    /// Validates the options.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sockio_engine::EngineConfig;
    /// let err = EngineConfig::builder().ping_interval(Duration::ZERO).build().unwrap_err();
    /// assert!(err.to_string().contains("ping_interval"));
    /// ```
    pub fn build(self) -> Result<EngineConfig, ConfigError> {
        let mut c = self.config;
        c.close_grace = self
            .close_grace
            .unwrap_or_else(|| default_close_grace(c.ping_timeout));
        c.request_body_timeout = self.request_body_timeout.unwrap_or(c.ping_timeout);
        c.upgrade_hold = c.upgrade_hold.min(c.upgrade_timeout);
        let err = |m: &str| Err(ConfigError(m.to_owned()));
        if !c.path.starts_with('/') {
            return Err(ConfigError(format!(
                "path {:?} must start with '/', e.g. \"/engine.io/\"",
                c.path
            )));
        }
        if c.path.contains('?') || c.path.contains('#') {
            return err("path must not contain '?' or '#': give the path only");
        }
        if !c.path.ends_with('/') {
            c.path.push('/');
        }
        if c.ping_interval.is_zero() {
            return err("ping_interval must be greater than zero (Node's default is 25 s)");
        }
        if c.ping_timeout.is_zero() {
            return err("ping_timeout must be greater than zero (Node's default is 20 s)");
        }
        if c.upgrade_timeout.is_zero() {
            return err("upgrade_timeout must be greater than zero (Node's default is 10 s)");
        }
        if c.max_payload == 0 {
            return err("max_payload must be greater than zero (Node's default is 1000000)");
        }
        if c.max_packets_per_poll == 0 {
            return err("max_packets_per_poll must be at least 1 (default 16)");
        }
        if c.websocket_read_buffer < 128 {
            return err("websocket_read_buffer must be at least 128 bytes (default 1024)");
        }
        if c.max_buffered_packets == 0 {
            return err("max_buffered_packets must be at least 1 (default 1024)");
        }
        if c.transports.is_empty() {
            return err("transports must name at least one transport (polling and/or websocket)");
        }
        if c.request_body_timeout.is_zero() {
            return err("request_body_timeout must be greater than zero (default: ping_timeout)");
        }
        if c.max_connections == Some(0) {
            return err("max_connections must be at least 1 (default 100000; None for no limit)");
        }
        Ok(c)
    }
}

/// An invalid option.
#[derive(Debug, thiserror::Error)]
#[error("invalid engine option: {0}")]
pub struct ConfigError(pub String);

/// Cookie options: the cookie carries the sid, for sticky sessions behind a
/// load balancer. Set on the polling handshake response only, as Node does.
///
/// ```
/// use sockio_engine::{CookieConfig, SameSite};
/// let c = CookieConfig { name: "sid".into(), ..CookieConfig::default() };
/// assert_eq!(c.path.as_deref(), Some("/"));
/// assert!(c.http_only);
/// assert_eq!(c.same_site, Some(SameSite::Lax));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieConfig {
    /// Cookie name (default `io`).
    pub name: String,
    /// `Path` attribute (default `/`; `None` for no attribute).
    pub path: Option<String>,
    /// `HttpOnly` (default true).
    pub http_only: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: Option<SameSite>,
    /// `Secure` (default false).
    pub secure: bool,
    /// `Max-Age` in seconds (default none: a session cookie).
    pub max_age: Option<u64>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        CookieConfig {
            name: "io".to_owned(),
            path: Some("/".to_owned()),
            http_only: true,
            same_site: Some(SameSite::Lax),
            secure: false,
            max_age: None,
        }
    }
}

impl CookieConfig {
    /// The defaults with another cookie name.
    pub fn named(name: impl Into<String>) -> Self {
        CookieConfig {
            name: name.into(),
            ..CookieConfig::default()
        }
    }

    /// The `Set-Cookie` value, attributes in the order of the npm `cookie` package.
    pub(crate) fn header_value(&self, sid: &str) -> String {
        let mut s = format!("{}={}", self.name, sid);
        if let Some(age) = self.max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        if let Some(p) = &self.path {
            s.push_str("; Path=");
            s.push_str(p);
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        if let Some(ss) = self.same_site {
            s.push_str(match ss {
                SameSite::Strict => "; SameSite=Strict",
                SameSite::Lax => "; SameSite=Lax",
                SameSite::None => "; SameSite=None",
            });
        }
        if self.secure {
            s.push_str("; Secure");
        }
        s
    }
}

/// SameSite attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    /// Strict
    Strict,
    /// Lax
    Lax,
    /// None
    None,
}

#[derive(Clone)]
pub(crate) enum CorsOrigin {
    Any,
    List(Arc<[String]>),
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync + 'static>),
}

/// CORS options, applied as the npm `cors` package does for Node's engine.io:
/// `OPTIONS` preflight answered 204, `Access-Control-Allow-Origin` (`*` or the
/// request's origin when allowed, with `Vary: Origin`), credentials, allowed
/// headers (the request's `Access-Control-Request-Headers` reflected unless
/// set), max age.
///
/// ```
/// use std::time::Duration;
/// use sockio_engine::Cors;
/// let any = Cors::any();
/// let some = Cors::origins(["https://example.com"]).credentials(true);
/// let custom = Cors::predicate(|o| o.ends_with(".example.com"))
///     .allowed_headers(["x-token"])
///     .max_age(Duration::from_secs(600));
/// # let _ = (any, some, custom);
/// ```
#[derive(Clone)]
pub struct Cors {
    pub(crate) origin: CorsOrigin,
    pub(crate) credentials: bool,
    pub(crate) allowed_headers: Option<Vec<String>>,
    pub(crate) max_age: Option<Duration>,
}

impl fmt::Debug for Cors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = match &self.origin {
            CorsOrigin::Any => "*".to_owned(),
            CorsOrigin::List(l) => format!("{l:?}"),
            CorsOrigin::Predicate(_) => "<predicate>".to_owned(),
        };
        f.debug_struct("Cors")
            .field("origin", &origin)
            .field("credentials", &self.credentials)
            .field("allowed_headers", &self.allowed_headers)
            .field("max_age", &self.max_age)
            .finish()
    }
}

impl Cors {
    fn with(origin: CorsOrigin) -> Self {
        Cors {
            origin,
            credentials: false,
            allowed_headers: None,
            max_age: None,
        }
    }
    /// Any origin: `Access-Control-Allow-Origin: *`.
    pub fn any() -> Self {
        Cors::with(CorsOrigin::Any)
    }
    /// Only these origins (e.g. `https://example.com`), reflected when they match.
    pub fn origins<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list: Vec<String> = origins.into_iter().map(Into::into).collect();
        Cors::with(CorsOrigin::List(list.into()))
    }
    /// Origins accepted by a function, reflected when it returns true.
    pub fn predicate(f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        Cors::with(CorsOrigin::Predicate(Arc::new(f)))
    }
    /// Send `Access-Control-Allow-Credentials: true` (default false).
    pub fn credentials(mut self, on: bool) -> Self {
        self.credentials = on;
        self
    }
    /// Headers allowed in preflight answers (default: reflect the request's).
    pub fn allowed_headers<I, S>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_headers = Some(headers.into_iter().map(Into::into).collect());
        self
    }
    /// `Access-Control-Max-Age` of preflight answers (default none).
    pub fn max_age(mut self, d: Duration) -> Self {
        self.max_age = Some(d);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_node_defaults() {
        let c = EngineConfig::builder().build().unwrap();
        assert_eq!(c.path, "/engine.io/");
        assert_eq!(c.ping_interval, Duration::from_millis(25_000));
        assert_eq!(c.ping_timeout, Duration::from_millis(20_000));
        assert_eq!(c.max_payload, 1_000_000);
        assert_eq!(c.upgrade_timeout, Duration::from_millis(10_000));
        assert_eq!(
            c.transports,
            vec![TransportKind::Polling, TransportKind::WebSocket]
        );
        assert!(c.allow_upgrades && !c.allow_eio3 && c.cors.is_none() && c.cookie.is_none());
        assert!(c.http_compression);
        assert_eq!(c.compression_threshold, 1024);
        assert_eq!(c.max_packets_per_poll, 16);
        assert_eq!(c.max_buffered_packets, 1024);
        assert_eq!(c.close_grace, Duration::from_secs(5));
        assert_eq!(c.request_body_timeout, Duration::from_secs(20));
        assert_eq!(c.max_connections, Some(100_000));
        assert_eq!(c.upgrade_hold, Duration::from_millis(200));
        assert_eq!(EngineConfig::default().close_grace, c.close_grace);
    }

    #[test]
    fn derived_defaults_follow_ping_timeout() {
        let c = EngineConfig::builder()
            .ping_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        assert_eq!(c.close_grace, Duration::from_millis(100));
        assert_eq!(c.request_body_timeout, Duration::from_millis(200));
        let c = EngineConfig::builder()
            .request_body_timeout(Duration::from_secs(3))
            .close_grace(Duration::ZERO)
            .max_connections(None)
            .build()
            .unwrap();
        assert_eq!(c.close_grace, Duration::ZERO);
        assert_eq!(c.request_body_timeout, Duration::from_secs(3));
        assert_eq!(c.max_connections, None);
    }

    #[test]
    fn validation() {
        let b = EngineConfig::builder;
        assert!(b().path("x").build().is_err());
        assert_eq!(b().path("/sock").build().unwrap().path, "/sock/");
        assert!(b().ping_timeout(Duration::ZERO).build().is_err());
        assert!(b().transports([]).build().is_err());
        assert!(b().max_packets_per_poll(0).build().is_err());
        assert!(b().max_buffered_packets(0).build().is_err());
        assert!(b().max_payload(0).build().is_err());
        assert!(b().max_connections(0).build().is_err());
        assert!(b().request_body_timeout(Duration::ZERO).build().is_err());
        assert!(
            b().per_message_deflate(true)
                .build()
                .unwrap()
                .per_message_deflate
        );
    }

    #[test]
    fn cookie_header() {
        assert_eq!(
            CookieConfig::default().header_value("abc"),
            "io=abc; Path=/; HttpOnly; SameSite=Lax"
        );
    }
}
