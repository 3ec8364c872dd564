//! What `allow_request` sees and answers: [`HandshakeRequest`] and
//! [`Refusal`]. Plain data, no I/O.

use std::borrow::Cow;
use std::net::SocketAddr;

use http::{HeaderMap, Method, StatusCode, Uri};

use crate::Query;

/// A handshake request (a request without `sid`), as the `allow_request`
/// hook receives it: owned, so the hook can move it into an `async` block.
///
/// ```
/// use sockio_engine::HandshakeRequest;
/// let req = http::Request::get("/engine.io/?EIO=4&transport=polling&token=a%20b")
///     .header("x-user", "7")
///     .body(())
///     .unwrap();
/// let (parts, ()) = req.into_parts();
/// let hr = HandshakeRequest::from_parts(&parts);
/// assert_eq!(hr.query.get("token"), Some("a b"));
/// assert_eq!(hr.headers["x-user"], "7");
/// assert_eq!(hr.remote_addr, None);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HandshakeRequest {
    /// The method (always GET for a handshake the engine accepts).
    pub method: Method,
    /// The URI, query included.
    pub uri: Uri,
    /// The headers.
    pub headers: HeaderMap,
    /// The query, parsed (every value of a repeated key kept).
    pub query: Query,
    /// The peer's address, when the server put a [`SocketAddr`] in the
    /// request extensions (as [`crate::serve`] and [`crate::Server`] do).
    pub remote_addr: Option<SocketAddr>,
    /// The request extensions (what middlewares put there).
    pub extensions: http::Extensions,
}

impl HandshakeRequest {
    /// Copies what the hook needs out of a request head.
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        HandshakeRequest {
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            headers: parts.headers.clone(),
            query: Query::from_uri(&parts.uri),
            remote_addr: parts.extensions.get::<SocketAddr>().copied(),
            extensions: parts.extensions.clone(),
        }
    }
}

/// Why `allow_request` refused a handshake. Answered over polling as Node
/// does, HTTP 403 with `{"code":4,"message":<message>}`; over WebSocket
/// HTTP 400 with the message as the body (Node's `abortUpgrade`). A status
/// set with [`with_status`](Self::with_status) replaces both.
///
/// ```
/// use sockio_engine::Refusal;
/// let r = Refusal::new("invalid token");
/// assert_eq!(r.message(), "invalid token");
/// assert_eq!(Refusal::forbidden().message(), "Forbidden");
/// let r: Refusal = "banned".into();
/// let r = r.with_status(http::StatusCode::TOO_MANY_REQUESTS);
/// assert_eq!(r.status(), Some(http::StatusCode::TOO_MANY_REQUESTS));
/// assert_eq!(r.to_string(), "banned");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    message: Cow<'static, str>,
    status: Option<StatusCode>,
}

impl Refusal {
    /// A refusal with Node's message, `Forbidden`.
    pub fn forbidden() -> Self {
        Refusal {
            message: Cow::Borrowed("Forbidden"),
            status: None,
        }
    }

    /// A refusal with this message (sent to the client; `Forbidden` when empty).
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        let message = message.into();
        if message.is_empty() {
            return Refusal::forbidden();
        }
        Refusal {
            message,
            status: None,
        }
    }

    /// Answers with this HTTP status instead of Node's (403 polling, 400 WebSocket).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The status set with [`with_status`](Self::with_status), if any.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

impl Default for Refusal {
    fn default() -> Self {
        Refusal::forbidden()
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refusal {}

impl From<&'static str> for Refusal {
    fn from(m: &'static str) -> Self {
        Refusal::new(m)
    }
}

impl From<String> for Refusal {
    fn from(m: String) -> Self {
        Refusal::new(m)
    }
}
