//! HTTP plumbing shared by the transports: query parsing, Node's error
//! responses, CORS headers, response compression and bounded body reading.
//! Stateless helpers; no session logic lives here.

use std::io::Write as _;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full};

use crate::config::{Cors, CorsOrigin};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Node's error codes (`Server.errors`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    Forbidden = 4,
    UnsupportedProtocolVersion = 5,
}

impl ErrorCode {
    pub(crate) fn message(self) -> &'static str {
        match self {
            ErrorCode::UnknownTransport => "Transport unknown",
            ErrorCode::UnknownSid => "Session ID unknown",
            ErrorCode::BadHandshakeMethod => "Bad handshake method",
            ErrorCode::BadRequest => "Bad request",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }
}

/// The answer to a refused polling request, as Node's `abortRequest`:
/// 400 (403 for Forbidden) with `{"code":N,"message":"..."}`.
pub(crate) fn error_response(code: ErrorCode, message: Option<&str>) -> Response<Full<Bytes>> {
    let status = if code == ErrorCode::Forbidden {
        StatusCode::FORBIDDEN
    } else {
        StatusCode::BAD_REQUEST
    };
    let message = message.filter(|m| !m.is_empty()).unwrap_or(code.message());
    let body = format!(
        "{{\"code\":{},\"message\":{}}}",
        code as u8,
        serde_json::Value::from(message)
    );
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The answer to a refused WebSocket request, as Node's `abortUpgrade`:
/// 400 with the message as `text/html` and `Connection: close`.
pub(crate) fn upgrade_error_response(
    code: ErrorCode,
    message: Option<&str>,
) -> Response<Full<Bytes>> {
    let message = message.filter(|m| !m.is_empty()).unwrap_or(code.message());
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(message.as_bytes())));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

pub(crate) fn status_response(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// The value of `sid` in a request's query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SidParam {
    /// No `sid` (or an empty one): a handshake.
    Absent,
    /// Not the form of a sid (length, alphabet): no session has it.
    Invalid,
    Valid(crate::Sid),
}

/// `EIO` in a request's query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eio {
    V3,
    V4,
    Other,
}

/// The query parameters the engine routes on, read without allocating for
/// ordinary requests (see [`crate::Query`] for the whole query).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RouteQuery {
    pub(crate) eio: Eio,
    /// `None`: missing or not a transport name.
    pub(crate) transport: Option<crate::TransportKind>,
    pub(crate) sid: SidParam,
    pub(crate) b64: bool,
}

impl RouteQuery {
    pub(crate) fn parse(q: Option<&str>) -> RouteQuery {
        use crate::query::{decode_component, pairs};
        let mut eio = None;
        let mut transport = None;
        let mut sid = None;
        let mut b64 = false;
        // Each value is read as it came first: the values clients send (`4`,
        // `polling`, a 20-character id) have nothing to decode, so an
        // ordinary request never scans them for escapes.
        fn read<T>(v: &str, f: impl Fn(&str) -> Option<T>) -> Option<T> {
            f(v).or_else(|| f(&decode_component(v)))
        }
        for (k, v) in pairs(q.unwrap_or("")) {
            match k {
                "EIO" if eio.is_none() => {
                    let version = |v: &str| match v {
                        "4" => Some(Eio::V4),
                        "3" => Some(Eio::V3),
                        _ => None,
                    };
                    eio = Some(read(v, version).unwrap_or(Eio::Other));
                }
                "transport" if transport.is_none() => {
                    let kind = |v: &str| match v {
                        "polling" => Some(crate::TransportKind::Polling),
                        "websocket" => Some(crate::TransportKind::WebSocket),
                        _ => None,
                    };
                    transport = Some(read(v, kind));
                }
                "sid" if sid.is_none() => {
                    // Decoding never empties a value: an empty sid is `sid=`.
                    sid = Some(match read(v, crate::Sid::parse) {
                        Some(id) => SidParam::Valid(id),
                        None if v.is_empty() => SidParam::Absent,
                        None => SidParam::Invalid,
                    });
                }
                // Node tests the value's truthiness: any non-empty string.
                "b64" => b64 = !v.is_empty(),
                _ => {}
            }
        }
        RouteQuery {
            eio: eio.unwrap_or(Eio::Other),
            transport: transport.flatten(),
            sid: sid.unwrap_or(SidParam::Absent),
            b64,
        }
    }
}

/// The answer to a handshake past `max_connections`: 503 with Node's JSON
/// shape (polling) or the message as text (WebSocket).
pub(crate) fn too_many_connections(upgrade: bool) -> Response<Full<Bytes>> {
    const MSG: &str = "Too many connections";
    let mut r = if upgrade {
        upgrade_error_response(ErrorCode::BadRequest, Some(MSG))
    } else {
        error_response(ErrorCode::BadRequest, Some(MSG))
    };
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r
}

/// Node's `checkInvalidHeaderChar` on the Origin header.
pub(crate) fn origin_is_invalid(headers: &HeaderMap) -> bool {
    headers.get(header::ORIGIN).is_some_and(|v| {
        v.as_bytes()
            .iter()
            .any(|&c| !(c == b'\t' || (32..=126).contains(&c) || c >= 128))
    })
}

/// Whether the request asks for a WebSocket upgrade.
pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

fn append_vary(h: &mut HeaderMap, value: &'static str) {
    h.append(header::VARY, HeaderValue::from_static(value));
}

/// Sets the origin and credentials headers (what `cors` does on every
/// request), given the request's `Origin` header.
pub(crate) fn apply_cors(cors: &Cors, origin: Option<&HeaderValue>, h: &mut HeaderMap) {
    let origin = origin.and_then(|v| v.to_str().ok());
    match &cors.origin {
        CorsOrigin::Any => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        other => {
            let allowed = origin.filter(|o| match other {
                CorsOrigin::List(l) => l.iter().any(|a| a == o),
                CorsOrigin::Predicate(f) => f(o),
                CorsOrigin::Any => true,
            });
            if let Some(v) = allowed.and_then(|o| HeaderValue::from_str(o).ok()) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
            }
            append_vary(h, "Origin");
        }
    }
    if cors.credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

/// The answer to an `OPTIONS` preflight: 204 with the CORS headers.
pub(crate) fn preflight(cors: &Cors, req: &HeaderMap) -> Response<Full<Bytes>> {
    let mut r = status_response(StatusCode::NO_CONTENT);
    let h = r.headers_mut();
    apply_cors(cors, req.get(header::ORIGIN), h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
    );
    match &cors.allowed_headers {
        Some(list) => {
            if let Ok(v) = HeaderValue::from_str(&list.join(",")) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        None => {
            append_vary(h, "Access-Control-Request-Headers");
            if let Some(v) = req.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
            }
        }
    }
    if let Some(age) = cors.max_age {
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(age.as_secs()),
        );
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// A content coding for a polling response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
}

/// Picks gzip or deflate from `Accept-Encoding` (highest q wins, gzip on ties),
/// as the npm `accepts` package does for `["gzip", "deflate"]`.
pub(crate) fn negotiate_coding(req: &HeaderMap) -> Option<Coding> {
    let mut gzip: Option<f32> = None;
    let mut deflate: Option<f32> = None;
    let mut star: Option<f32> = None;
    for v in req.get_all(header::ACCEPT_ENCODING) {
        let Ok(s) = v.to_str() else { continue };
        for item in s.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(val) = p.trim().strip_prefix("q=") {
                    q = val.trim().parse().unwrap_or(0.0);
                }
            }
            match name.as_str() {
                "gzip" => gzip = Some(q),
                "deflate" => deflate = Some(q),
                "*" => star = Some(q),
                _ => {}
            }
        }
    }
    let g = gzip.or(star).unwrap_or(0.0);
    let d = deflate.or(star).unwrap_or(0.0);
    if g <= 0.0 && d <= 0.0 {
        None
    } else if g >= d {
        Some(Coding::Gzip)
    } else {
        Some(Coding::Deflate)
    }
}

pub(crate) fn compress(data: &[u8], coding: Coding) -> Option<Vec<u8>> {
    let level = flate2::Compression::default();
    match coding {
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 2), level);
            e.write_all(data).ok()?;
            e.finish().ok()
        }
        Coding::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::with_capacity(data.len() / 2), level);
            e.write_all(data).ok()?;
            e.finish().ok()
        }
    }
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    TooLarge,
    Failed(BoxError),
}

/// Reads a body frame by frame, giving up as soon as it passes `limit` bytes
/// (nothing past the limit is ever buffered).
pub(crate) async fn read_body_limited<B>(body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if body.size_hint().lower() > limit {
        return Err(BodyError::TooLarge);
    }
    let body = std::pin::pin!(body);
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut buf: Option<BytesMut> = None;
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Failed(e.into()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len() as u64;
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        if data.is_empty() {
            continue;
        }
        match (&mut first, &mut buf) {
            (None, None) => first = Some(data),
            (Some(f), None) => {
                let mut b = BytesMut::with_capacity(f.len() + data.len());
                b.extend_from_slice(f);
                b.extend_from_slice(&data);
                first = None;
                buf = Some(b);
            }
            (_, Some(b)) => b.extend_from_slice(&data),
        }
    }
    Ok(match (first, buf) {
        (_, Some(b)) => b.freeze(),
        (Some(f), None) => f,
        (None, None) => Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_query() {
        let q = RouteQuery::parse(Some(
            "EIO=4&transport=polling&t=abc&sid=AAAAAAAAAAAAAAAAAA%2D_&b64=1",
        ));
        assert_eq!(q.eio, Eio::V4);
        assert_eq!(q.transport, Some(crate::TransportKind::Polling));
        assert_eq!(
            q.sid,
            SidParam::Valid(crate::Sid::parse("AAAAAAAAAAAAAAAAAA-_").unwrap())
        );
        assert!(q.b64);
        let q = RouteQuery::parse(None);
        assert_eq!(q.eio, Eio::Other);
        assert_eq!(q.transport, None);
        assert_eq!(q.sid, SidParam::Absent);
        assert!(!q.b64);
        let q = RouteQuery::parse(Some("EIO=3&EIO=4&transport=websocket&sid=&b64="));
        assert_eq!(q.eio, Eio::V3);
        assert_eq!(q.transport, Some(crate::TransportKind::WebSocket));
        assert_eq!(q.sid, SidParam::Absent);
        assert!(!q.b64);
        let q = RouteQuery::parse(Some("transport=ws&sid=short&EIO=%34"));
        assert_eq!(q.transport, None);
        let encoded = RouteQuery::parse(Some("transport=pol%6Cing&sid=%25"));
        assert_eq!(encoded.transport, Some(crate::TransportKind::Polling));
        assert_eq!(encoded.sid, SidParam::Invalid);
        assert_eq!(q.sid, SidParam::Invalid);
        assert_eq!(q.eio, Eio::V4);
    }

    #[test]
    fn errors_are_node_json() {
        let r = error_response(ErrorCode::UnknownSid, None);
        assert_eq!(r.status(), 400);
        let r = error_response(ErrorCode::Forbidden, Some("nope \"x\""));
        assert_eq!(r.status(), 403);
    }

    #[test]
    fn coding() {
        let mut h = HeaderMap::new();
        assert_eq!(negotiate_coding(&h), None);
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br"),
        );
        assert_eq!(negotiate_coding(&h), Some(Coding::Gzip));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0.5, deflate"),
        );
        assert_eq!(negotiate_coding(&h), Some(Coding::Deflate));
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert_eq!(negotiate_coding(&h), None);
    }
}
