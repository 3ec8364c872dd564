//! The HTTP long-polling transport: GET waits for queued packets, POST
//! carries the client's packets. One GET and one POST at a time per session.
//!
//! Orders that must not change an answer (what Node, single-threaded, always
//! answers):
//! - a session closed by the client's close packet keeps its sid for
//!   `close_grace`; a GET in that time is answered `6`, as one pending at the
//!   close is;
//! - once the upgrade probe is answered, a GET pending then is answered `6`
//!   (the client pauses polling), and a GET arriving later is held while the
//!   upgrade settles: 400 if it succeeds (a request on the old transport), a
//!   normal poll if it fails, and `6` if it is still pending after
//!   `upgrade_hold` (a real client's GET that was on its way when the probe
//!   was answered: the client sends `5` only once that poll ends, as Node's
//!   100 ms upgrade check lets it).
//!
//! A POST body must arrive within `request_body_timeout` (else 408 and the
//! session closes), and its reading is abandoned when the session closes.
//! While the layer above has paused reading, a POST stops dispatching its
//! packets and is answered once resumed (400 if the session closes first).
//! Each request becomes the session's current request
//! ([`crate::Socket::current_request`]).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::Full;

use crate::codec::{self, Packet};
use crate::http_util::{self, error_response, BodyError, BoxError, ErrorCode};
use crate::socket::{DispatchLock, Upgrade};
use crate::{
    DisconnectReason, Engine, EngineHandler, ProtocolVersion, RefusalReason, Socket, TransportKind,
};

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
        {
            let mut st = self.shared.state();
            st.get_pending = false;
            // A `6` owed to this GET (pending at the probe) is moot once it ended.
            st.noop_owed = false;
        }
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

/// Replaces the session's current request; the old one is dropped by the
/// caller, outside the lock.
fn set_current(
    st: &mut crate::socket::State,
    req: &Arc<http::request::Parts>,
) -> Option<Arc<http::request::Parts>> {
    st.current.replace(req.clone())
}

/// A polling GET with a sid.
pub(crate) async fn get<H: EngineHandler>(
    engine: &Arc<Engine<H>>,
    socket: &Arc<Socket<H::Data>>,
    req: Arc<http::request::Parts>,
) -> Response<Full<Bytes>> {
    let sh = &socket.shared;
    let max = engine.config().max_packets_per_poll;
    let previous;
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
                return payload_response(engine, socket, &req, &out);
            }
            if reason == DisconnectReason::TransportClose && st.transport == TransportKind::Polling
            {
                // Within `close_grace` of the client's close packet: the
                // answer a GET pending at the close got.
                drop(st);
                return payload_response(engine, socket, &req, &[Packet::Noop]);
            }
            drop(st);
            return engine.refuse(RefusalReason::UnknownSid, false, &req);
        }
        if st.transport != TransportKind::Polling {
            drop(st);
            return engine.refuse(RefusalReason::BadRequest, false, &req);
        }
        if st.get_pending {
            drop(st);
            tracing::debug!(parent: &sh.span, "overlapping GET requests, closing");
            sh.close(DisconnectReason::ProtocolViolation);
            return engine.refuse(RefusalReason::OverlappingRequest, false, &req);
        }
        st.get_pending = true;
        previous = set_current(&mut st, &req);
    }
    drop(previous);
    let mut guard = GetGuard {
        shared: sh,
        answered: false,
    };
    // Set while this GET is held after the upgrade probe (boxed: rare).
    let mut hold: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    let mut hold_over = false;
    loop {
        // Set when this answer ends a closed session's drain: the driver
        // waits for that (and only that) before it drops the session.
        let mut drained = false;
        let notified = sh.writer.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let out: Result<Option<Vec<Packet>>, ()> = {
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
                drained = true;
                Ok(Some(v))
            } else if st.noop_owed {
                // Pending when the probe was answered: `6` lets the client
                // pause polling and finish the upgrade.
                st.noop_owed = false;
                Ok(Some(vec![Packet::Noop]))
            } else if st.transport != TransportKind::Polling {
                // Held while the upgrade settled, and it succeeded: a
                // request on the old transport (Node's transport mismatch).
                Err(())
            } else if st.upgrade == Upgrade::Probed {
                if hold_over {
                    // No `5` within `upgrade_hold`: a client that waits for
                    // this poll to end before it sends `5` (its GET was on
                    // the way when the probe was answered) gets its `6`.
                    Ok(Some(vec![Packet::Noop]))
                } else {
                    // Arrived after the probe was answered: held while the
                    // upgrade settles, so that its answer does not depend
                    // on whether `5` was read first.
                    if hold.is_none() {
                        hold = Some(Box::pin(tokio::time::sleep(engine.config().upgrade_hold)));
                    }
                    Ok(None)
                }
            } else if !st.queue.is_empty() {
                let n = st.queue.len().min(max);
                Ok(Some(st.queue.drain(..n).collect()))
            } else {
                Ok(None)
            }
        };
        match out {
            Ok(Some(out)) => {
                guard.answered = true;
                drop(guard);
                if drained {
                    sh.driver.notify_one();
                }
                return payload_response(engine, socket, &req, &out);
            }
            Err(()) => {
                guard.answered = true;
                drop(guard);
                return engine.refuse(RefusalReason::BadRequest, false, &req);
            }
            Ok(None) => match hold.as_mut().filter(|_| !hold_over) {
                Some(h) => {
                    tokio::select! {
                        _ = notified => {}
                        _ = h.as_mut() => hold_over = true,
                    }
                }
                None => notified.await,
            },
        }
    }
}

/// A polling POST with a sid.
pub(crate) async fn post<H, B>(
    engine: &Arc<Engine<H>>,
    socket: &Arc<Socket<H::Data>>,
    req: Arc<http::request::Parts>,
    body: B,
) -> Response<Full<Bytes>>
where
    H: EngineHandler,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let sh = &socket.shared;
    let previous;
    {
        let mut st = sh.state();
        if st.closed.is_some() {
            drop(st);
            return engine.refuse(RefusalReason::UnknownSid, false, &req);
        }
        if st.transport != TransportKind::Polling {
            drop(st);
            return engine.refuse(RefusalReason::BadRequest, false, &req);
        }
        if st.post_pending {
            drop(st);
            tracing::debug!(parent: &sh.span, "overlapping POST requests, closing");
            sh.close(DisconnectReason::ProtocolViolation);
            return engine.refuse(RefusalReason::OverlappingRequest, false, &req);
        }
        st.post_pending = true;
        previous = set_current(&mut st, &req);
    }
    drop(previous);
    let _guard = PostGuard(sh);
    let binary = req.headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .eq_ignore_ascii_case(b"application/octet-stream")
    });
    let v3 = sh.protocol == ProtocolVersion::V3;
    if binary && !v3 {
        engine.stats.parse_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(parent: &sh.span, "binary POST body on a v4 session");
        sh.close(DisconnectReason::ParseError);
        return error_response(ErrorCode::BadRequest, None);
    }
    let cfg = engine.config();
    let read = http_util::read_body_limited(body, cfg.max_payload);
    tokio::pin!(read);
    // Most bodies are complete on arrival: no timer for them.
    let first = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
    let result = match first {
        Poll::Ready(r) => r,
        // Boxed: the deadline's timer and the close watch only for bodies
        // still arriving, outside the future of every request.
        Poll::Pending => match Box::pin(slow_body(engine, sh, read)).await {
            Some(r) => r,
            None => return http_util::status_response(StatusCode::REQUEST_TIMEOUT),
        },
    };
    let data = match result {
        Ok(d) => d,
        Err(BodyError::TooLarge) => {
            engine
                .stats
                .payloads_too_large
                .fetch_add(1, Ordering::Relaxed);
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
            engine.stats.parse_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(parent: &sh.span, error = %e, "invalid payload");
            sh.close(DisconnectReason::ParseError);
            return error_response(ErrorCode::BadRequest, None);
        }
    };
    for p in packets {
        if sh.is_paused() && !Box::pin(sh.resumed()).await {
            // Closed while paused: the rest of the payload is dropped.
            return error_response(ErrorCode::UnknownSid, None);
        }
        // The dispatch lock per packet: it must not be held across the await.
        if !engine.on_packet(socket, p, &mut DispatchLock::new(sh)) {
            break;
        }
    }
    let mut r = Response::new(Full::new(Bytes::from_static(b"ok")));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    engine.add_headers(false, r.headers_mut(), &req);
    r
}

/// The rest of a POST body that was not complete on arrival, within
/// `request_body_timeout`; `None` when the deadline passed (the session is
/// closed). A session that closes meanwhile ends the reading.
async fn slow_body<H, F>(
    engine: &Engine<H>,
    sh: &crate::socket::Shared,
    read: std::pin::Pin<&mut F>,
) -> Option<Result<Bytes, BodyError>>
where
    H: EngineHandler,
    F: Future<Output = Result<Bytes, BodyError>>,
{
    let timeout = engine.config().request_body_timeout;
    // Counted from now: the request arrived a moment ago.
    let deadline = tokio::time::Instant::now() + timeout;
    tokio::select! {
        r = read => Some(r),
        _ = tokio::time::sleep_until(deadline) => {
            engine.stats.body_timeouts.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(parent: &sh.span, ?timeout, "POST body not received in time: closing");
            sh.close(DisconnectReason::TransportError);
            None
        }
        _ = sh.closed() => {
            tracing::debug!(parent: &sh.span, "session closed while a POST body was read");
            Some(Err(BodyError::Failed("the session closed".into())))
        }
    }
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

/// A 200 answer to a polling GET carrying packets, with the `on_headers` hook applied.
fn payload_response<H: EngineHandler>(
    engine: &Engine<H>,
    socket: &Socket<H::Data>,
    req: &http::request::Parts,
    packets: &[Packet],
) -> Response<Full<Bytes>> {
    let mut r = encode_response(engine, socket, &req.headers, packets);
    engine.add_headers(false, r.headers_mut(), req);
    r
}

/// A 200 answer carrying packets, encoded for the session's protocol and
/// compressed when allowed.
pub(crate) fn encode_response<H: EngineHandler>(
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
