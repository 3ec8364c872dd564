//! The HTTP long-polling transport: GET waits for queued packets, POST
//! carries the client's packets. One GET and one POST at a time per session.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::Full;

use crate::codec::{self, Packet};
use crate::http_util::{self, error_response, BodyError, BoxError, ErrorCode};
use crate::socket::Upgrade;
use crate::{DisconnectReason, Engine, EngineHandler, ProtocolVersion, Socket, TransportKind};

/// Whether a close with this reason lets the next GET collect what is queued.
pub(crate) fn drains(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::ServerClose | DisconnectReason::ServerShutdown
    )
}

/// Clears `get_pending` when the GET ends; a GET dropped before it answered
/// (the client went away) closes the session, as Node does.
struct GetGuard<'a> {
    shared: &'a crate::socket::Shared,
    answered: bool,
}

impl Drop for GetGuard<'_> {
    fn drop(&mut self) {
        self.shared.state().get_pending = false;
        if !self.answered {
            self.shared.close(DisconnectReason::TransportError);
        }
    }
}

struct PostGuard<'a>(&'a crate::socket::Shared);

impl Drop for PostGuard<'_> {
    fn drop(&mut self) {
        self.0.state().post_pending = false;
    }
}

/// A polling GET with a sid.
pub(crate) async fn get<H: EngineHandler>(
    engine: &Arc<Engine<H>>,
    socket: &Arc<Socket<H::Data>>,
    req_headers: &HeaderMap,
) -> Response<Full<Bytes>> {
    let sh = &socket.shared;
    let max = engine.config().max_packets_per_poll;
    {
        let mut st = sh.state();
        if let Some(reason) = st.closed {
            if drains(reason) && !st.drained && st.transport == TransportKind::Polling {
                let mut out: Vec<Packet> = {
                    let n = st.queue.len().min(max.saturating_sub(1));
                    st.queue.drain(..n).collect()
                };
                out.push(Packet::Close);
                st.drained = true;
                drop(st);
                sh.driver.notify_one();
                return payload_response(engine, socket, req_headers, &out);
            }
            return error_response(ErrorCode::UnknownSid, None);
        }
        if st.transport != TransportKind::Polling {
            return error_response(ErrorCode::BadRequest, None);
        }
        if st.get_pending {
            drop(st);
            tracing::debug!(parent: &sh.span, "overlapping GET requests, closing");
            sh.close(DisconnectReason::ProtocolViolation);
            return error_response(ErrorCode::BadRequest, None);
        }
        st.get_pending = true;
    }
    let mut guard = GetGuard {
        shared: sh,
        answered: false,
    };
    loop {
        let notified = sh.writer.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let out: Option<Vec<Packet>> = {
            let mut st = sh.state();
            if let Some(reason) = st.closed {
                let mut v = Vec::new();
                if reason == DisconnectReason::TransportClose {
                    v.push(Packet::Noop);
                } else {
                    if drains(reason) {
                        let n = st.queue.len().min(max.saturating_sub(1));
                        v.extend(st.queue.drain(..n));
                    }
                    v.push(Packet::Close);
                }
                st.drained = true;
                Some(v)
            } else if !st.queue.is_empty() {
                let n = st.queue.len().min(max);
                Some(st.queue.drain(..n).collect())
            } else if matches!(st.upgrade, Upgrade::Probed | Upgrade::Done)
                || st.transport != TransportKind::Polling
            {
                Some(vec![Packet::Noop])
            } else {
                None
            }
        };
        if let Some(out) = out {
            guard.answered = true;
            drop(guard);
            sh.driver.notify_one();
            return payload_response(engine, socket, req_headers, &out);
        }
        notified.await;
    }
}

/// A polling POST with a sid.
pub(crate) async fn post<H, B>(
    engine: &Arc<Engine<H>>,
    socket: &Arc<Socket<H::Data>>,
    req_headers: &HeaderMap,
    body: B,
) -> Response<Full<Bytes>>
where
    H: EngineHandler,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let sh = &socket.shared;
    {
        let mut st = sh.state();
        if st.closed.is_some() {
            return error_response(ErrorCode::UnknownSid, None);
        }
        if st.transport != TransportKind::Polling {
            return error_response(ErrorCode::BadRequest, None);
        }
        if st.post_pending {
            drop(st);
            tracing::debug!(parent: &sh.span, "overlapping POST requests, closing");
            sh.close(DisconnectReason::ProtocolViolation);
            return error_response(ErrorCode::BadRequest, None);
        }
        st.post_pending = true;
    }
    let _guard = PostGuard(sh);
    let binary = req_headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .eq_ignore_ascii_case(b"application/octet-stream")
    });
    let v3 = sh.protocol == ProtocolVersion::V3;
    if binary && !v3 {
        sh.close(DisconnectReason::ParseError);
        return error_response(ErrorCode::BadRequest, None);
    }
    let data = match http_util::read_body_limited(body, engine.config().max_payload).await {
        Ok(d) => d,
        Err(BodyError::TooLarge) => {
            tracing::debug!(parent: &sh.span, "POST body over max_payload");
            sh.close(DisconnectReason::PayloadTooLarge);
            return http_util::status_response(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Err(BodyError::Failed(e)) => {
            tracing::debug!(parent: &sh.span, error = %e, "POST body failed");
            sh.close(DisconnectReason::TransportError);
            return error_response(ErrorCode::BadRequest, None);
        }
    };
    let decoded = match (v3, binary) {
        (false, _) => codec::v4::decode_payload(data),
        (true, false) => codec::v3::decode_text_payload(data),
        (true, true) => codec::v3::decode_binary_payload(data),
    };
    let packets = match decoded {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(parent: &sh.span, error = %e, "invalid payload");
            sh.close(DisconnectReason::ParseError);
            return error_response(ErrorCode::BadRequest, None);
        }
    };
    for p in packets {
        if !engine.on_packet(socket, p) {
            break;
        }
    }
    let mut r = Response::new(Full::new(Bytes::from_static(b"ok")));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    r
}

/// Text messages with non-ASCII characters in their ASCII form when the
/// handler has one (see [`EngineHandler::ascii_text`]).
fn ascii_for_v3<'a, H: EngineHandler>(
    engine: &Engine<H>,
    packets: &'a [Packet],
) -> std::borrow::Cow<'a, [Packet]> {
    let non_ascii = |p: &Packet| match p {
        Packet::Message(m) => m.as_text().is_some_and(|t| !t.is_ascii()),
        _ => false,
    };
    if !packets.iter().any(non_ascii) {
        return std::borrow::Cow::Borrowed(packets);
    }
    let mapped = packets
        .iter()
        .map(|p| match p {
            Packet::Message(m) if non_ascii(p) => {
                let text = m.as_text().unwrap_or_default();
                match engine.handler().ascii_text(text) {
                    Some(a) => Packet::Message(crate::Message::text(a)),
                    None => p.clone(),
                }
            }
            other => other.clone(),
        })
        .collect();
    std::borrow::Cow::Owned(mapped)
}

/// A 200 answer carrying packets, encoded for the session's protocol and
/// compressed when allowed.
pub(crate) fn payload_response<H: EngineHandler>(
    engine: &Engine<H>,
    socket: &Socket<H::Data>,
    req_headers: &HeaderMap,
    packets: &[Packet],
) -> Response<Full<Bytes>> {
    let sh = &socket.shared;
    let (body, content_type) = match sh.protocol {
        ProtocolVersion::V4 => (
            codec::v4::encode_payload(packets),
            "text/plain; charset=UTF-8",
        ),
        ProtocolVersion::V3 if sh.b64 => (
            codec::v3::encode_text_payload(&ascii_for_v3(engine, packets)),
            "text/plain; charset=UTF-8",
        ),
        ProtocolVersion::V3 => (
            codec::v3::encode_binary_payload(packets),
            "application/octet-stream",
        ),
    };
    let cfg = engine.config();
    let mut encoding = None;
    let body = if cfg.http_compression && body.len() >= cfg.compression_threshold {
        match http_util::negotiate_coding(req_headers)
            .and_then(|c| http_util::compress(&body, c).map(|b| (c, b)))
        {
            Some((c, compressed)) => {
                encoding = Some(c);
                compressed
            }
            None => body,
        }
    } else {
        body
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(c) = encoding {
        h.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(match c {
                http_util::Coding::Gzip => "gzip",
                http_util::Coding::Deflate => "deflate",
            }),
        );
    }
    if req_headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ua| ua.contains(";MSIE") || ua.contains("Trident/"))
    {
        h.insert("x-xss-protection", HeaderValue::from_static("0"));
    }
    r
}
