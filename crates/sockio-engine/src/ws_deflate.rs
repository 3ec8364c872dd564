//! permessage-deflate (RFC 7692) WebSockets, for the connections that
//! negotiate it: the server option is on and the client offered the
//! extension. They run on yawc, which implements the extension (negotiation
//! of `server_no_context_takeover`, `client_no_context_takeover` and the
//! window sizes, inflation bounded by `max_payload`); every other connection
//! stays on tokio-tungstenite, the measured fast path.
//!
//! [`Deflated`] presents a yawc connection as the `Stream`/`Sink` of
//! tungstenite messages that the transport loop in `ws` drives, so both kinds
//! share that loop (it is generic, monomorphised once per kind).
//!
//! Node's per-message `compress: false` has no switch in yawc (it compresses
//! every message from the threshold up), so such a message is written around
//! it: once yawc has flushed what it holds, the uncompressed frame (RSV1
//! clear; RFC 7692 lets a sender leave any message uncompressed, and it does
//! not touch the compression context) is queued in [`DeflateIo`], which
//! writes it before any later byte of yawc's.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Sink, Stream};
use http::header;
use hyper::upgrade::OnUpgrade;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use yawc::frame::OpCode;
use yawc::{Frame, WebSocketError};

use crate::EngineConfig;

/// Whether the request offers permessage-deflate (`Sec-WebSocket-Extensions`).
pub(crate) fn offered(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|ext| {
            ext.split(';')
                .next()
                .is_some_and(|name| name.trim().eq_ignore_ascii_case("permessage-deflate"))
        })
}

fn options(config: &EngineConfig) -> yawc::Options {
    // yawc's limits are exclusive, `max_payload` is the largest allowed.
    let max = usize::try_from(config.max_payload)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let mut options = yawc::Options::default()
        .with_max_payload_read(max)
        .with_max_read_buffer(max)
        .with_utf8();
    options.compression = Some(yawc::DeflateOptions {
        level: yawc::CompressionLevel::default(),
        // What the client offered, else the default 15 bits.
        server_max_window_bits: None,
        // A client offering `client_max_window_bits` (browsers, Node's `ws`)
        // is told 15, the full window, as Node's `ws` server implies.
        client_max_window_bits: Some(15),
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        compression_threshold: config.per_message_deflate_threshold,
        pool: None,
    });
    options
}

/// Negotiates the extension with yawc: the 101 answer's headers and the
/// agreed `Sec-WebSocket-Extensions`. `None` when the handshake is not a
/// valid WebSocket one. The request's upgrade future stays in `parts`.
pub(crate) fn accept(
    parts: &http::request::Parts,
    config: &EngineConfig,
) -> Option<(http::HeaderMap, String)> {
    // A copy without the upgrade future: yawc only reads the headers here
    // (its own upgrade future, which finds none, is dropped).
    let mut req = http::Request::new(());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    match yawc::WebSocket::upgrade_with_options(&mut req, options(config)) {
        Ok((resp, _)) if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS => {
            let headers = resp.into_parts().0.headers;
            let agreed = headers
                .get(header::SEC_WEBSOCKET_EXTENSIONS)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            Some((headers, agreed))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(error = %e, "WebSocket handshake refused");
            None
        }
    }
}

/// Waits for the upgrade and starts yawc with the agreed extension.
pub(crate) fn open(
    on_upgrade: OnUpgrade,
    agreed: String,
    config: &EngineConfig,
) -> crate::ws::Opening<Deflated> {
    let options = options(config);
    let threshold = config.per_message_deflate_threshold;
    Box::pin(open_with(on_upgrade, agreed, options, threshold))
}

async fn open_with(
    on_upgrade: OnUpgrade,
    agreed: String,
    options: yawc::Options,
    threshold: usize,
) -> Option<Deflated> {
    let (io, early) = crate::ws::upgraded_io(on_upgrade).await?;
    let inject = Arc::new(Inject::default());
    let io = DeflateIo {
        io,
        early: Bytes::from(early),
        inject: inject.clone(),
        out: Bytes::new(),
    };
    let agreed = (!agreed.is_empty()).then_some(agreed.as_str());
    match yawc::WebSocket::from_stream_with_extensions(io, yawc::Role::Server, agreed, options) {
        Ok(ws) => Some(Deflated {
            ws,
            inject,
            threshold,
            plain_next: false,
            pending: None,
        }),
        Err(e) => {
            tracing::debug!(error = %e, "permessage-deflate setup failed");
            None
        }
    }
}

/// Uncompressed frames waiting to be written before yawc's next bytes.
#[derive(Default)]
struct Inject {
    any: AtomicBool,
    bytes: Mutex<BytesMut>,
}

/// The upgraded connection under yawc: serves the bytes hyper had read past
/// the request first, and writes injected frames before yawc's next bytes.
pub(crate) struct DeflateIo {
    io: crate::ws::Io,
    early: Bytes,
    inject: Arc<Inject>,
    /// Injected bytes being written.
    out: Bytes,
}

impl DeflateIo {
    /// Writes the injected frames, if any.
    fn poll_injected(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.out.is_empty() {
                if !self.inject.any.swap(false, Ordering::Acquire) {
                    return Poll::Ready(Ok(()));
                }
                let mut queued = self.inject.bytes.lock().unwrap_or_else(|e| e.into_inner());
                self.out = queued.split().freeze();
                continue;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
    }
}

impl AsyncRead for DeflateIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.early.is_empty() {
            let n = this.early.len().min(buf.remaining());
            buf.put_slice(&this.early[..n]);
            this.early.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeflateIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_injected(cx))?;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_injected(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_injected(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

/// A permessage-deflate connection as a `Stream`/`Sink` of tungstenite
/// messages. yawc answers pings and closes itself (the pong leaves with the
/// next flush, as with tungstenite).
pub(crate) struct Deflated {
    ws: yawc::WebSocket<DeflateIo>,
    inject: Arc<Inject>,
    threshold: usize,
    /// The next message fed goes uncompressed.
    plain_next: bool,
    /// An uncompressed frame waiting for yawc to flush what it holds.
    pending: Option<BytesMut>,
}

impl Deflated {
    /// Once yawc has written everything it holds, queues the pending
    /// uncompressed frame, so it leaves in order.
    fn poll_settle(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        if self.pending.is_some() {
            ready!(Pin::new(&mut self.ws).poll_flush(cx)).map_err(write_error)?;
            if let Some(frame) = self.pending.take() {
                let mut q = self.inject.bytes.lock().unwrap_or_else(|e| e.into_inner());
                q.unsplit(frame);
                self.inject.any.store(true, Ordering::Release);
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// An unmasked, unfragmented server frame with RSV1 clear.
fn plain_frame(opcode: u8, payload: &[u8]) -> BytesMut {
    let mut f = BytesMut::with_capacity(payload.len() + 10);
    f.extend_from_slice(&[0x80 | opcode]);
    match payload.len() {
        n if n < 126 => f.extend_from_slice(&[n as u8]),
        n if n <= usize::from(u16::MAX) => {
            f.extend_from_slice(&[126]);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.extend_from_slice(&[127]);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

fn to_message(frame: Frame) -> Option<Result<WsMessage, WsError>> {
    let (opcode, _, payload) = frame.into_parts();
    Some(Ok(match opcode {
        // SAFETY: yawc checked text frames are UTF-8 (`with_utf8`).
        OpCode::Text => WsMessage::Text(unsafe { Utf8Bytes::from_bytes_unchecked(payload) }),
        OpCode::Binary => WsMessage::Binary(payload),
        OpCode::Ping => WsMessage::Ping(payload),
        OpCode::Pong => WsMessage::Pong(payload),
        OpCode::Close => WsMessage::Close(None),
        // Fragments arrive reassembled.
        OpCode::Continuation => return None,
    }))
}

/// yawc's read errors as the tungstenite errors the loop maps to a close
/// reason and code (yawc has already sent the close frame).
fn to_error(e: WebSocketError) -> WsError {
    tracing::debug!(error = %e, "permessage-deflate WebSocket read failed");
    match e {
        WebSocketError::FrameTooLarge => WsError::Capacity(CapacityError::MessageTooLong {
            size: 0,
            max_size: 0,
        }),
        WebSocketError::InvalidUTF8 => WsError::Utf8("invalid UTF-8 in a text message".into()),
        WebSocketError::ConnectionClosed => WsError::ConnectionClosed,
        WebSocketError::IoError(e) => WsError::Io(e),
        WebSocketError::HTTPError(_) => WsError::ConnectionClosed,
        WebSocketError::ReservedBitsNotZero => {
            WsError::Protocol(ProtocolError::NonZeroReservedBits)
        }
        WebSocketError::ControlFrameFragmented => {
            WsError::Protocol(ProtocolError::FragmentedControlFrame)
        }
        WebSocketError::PingFrameTooLarge => WsError::Protocol(ProtocolError::ControlFrameTooBig),
        WebSocketError::InvalidOpCode(op) => {
            WsError::Protocol(ProtocolError::UnknownDataFrameType(op))
        }
        WebSocketError::InvalidContinuationFrame | WebSocketError::InvalidFragment => {
            WsError::Protocol(ProtocolError::UnexpectedContinueFrame)
        }
        _ => WsError::Protocol(ProtocolError::InvalidCloseSequence),
    }
}

fn write_error(e: WebSocketError) -> WsError {
    match e {
        WebSocketError::IoError(e) => WsError::Io(e),
        _ => WsError::ConnectionClosed,
    }
}

impl Stream for Deflated {
    type Item = Result<WsMessage, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match ready!(this.ws.poll_next_frame(cx)) {
                Ok(frame) => {
                    if let Some(msg) = to_message(frame) {
                        return Poll::Ready(Some(msg));
                    }
                }
                Err(WebSocketError::ConnectionClosed) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(to_error(e)))),
            }
        }
    }
}

fn to_frame(msg: WsMessage) -> Frame {
    match msg {
        WsMessage::Text(t) => Frame::text(Bytes::from(t)),
        WsMessage::Binary(b) => Frame::binary(b),
        WsMessage::Ping(b) => Frame::ping(b),
        WsMessage::Pong(b) => Frame::pong(b),
        WsMessage::Close(Some(c)) => {
            let code = yawc::close::CloseCode::from(u16::from(c.code));
            Frame::close(code, c.reason.as_bytes())
        }
        WsMessage::Close(None) => Frame::close(yawc::close::CloseCode::Normal, b""),
        WsMessage::Frame(f) => Frame::binary(f.into_payload()),
    }
}

impl Sink<WsMessage> for Deflated {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        ready!(this.poll_settle(cx))?;
        Pin::new(&mut this.ws).poll_ready(cx).map_err(write_error)
    }

    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), WsError> {
        let this = self.get_mut();
        if std::mem::take(&mut this.plain_next) {
            // Below the threshold yawc sends it as is anyway.
            let plain = match &item {
                WsMessage::Text(t) if t.len() >= this.threshold => Some((1, t.as_bytes())),
                WsMessage::Binary(b) if b.len() >= this.threshold => Some((2, &b[..])),
                _ => None,
            };
            if let Some((opcode, payload)) = plain {
                this.pending = Some(plain_frame(opcode, payload));
                return Ok(());
            }
        }
        Pin::new(&mut this.ws)
            .start_send(to_frame(item))
            .map_err(write_error)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        ready!(this.poll_settle(cx))?;
        Pin::new(&mut this.ws).poll_flush(cx).map_err(write_error)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let this = self.get_mut();
        ready!(this.poll_settle(cx))?;
        Pin::new(&mut this.ws).poll_close(cx).map_err(write_error)
    }
}

impl crate::ws::Conn for Deflated {
    fn uncompressed_next(&mut self) {
        self.plain_next = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_detection() {
        let mut h = http::HeaderMap::new();
        assert!(!offered(&h));
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            "permessage-deflate; client_max_window_bits"
                .parse()
                .unwrap(),
        );
        assert!(offered(&h));
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            "x-webkit-deflate-frame, Permessage-Deflate"
                .parse()
                .unwrap(),
        );
        assert!(offered(&h));
        h.insert(
            header::SEC_WEBSOCKET_EXTENSIONS,
            "x-webkit-deflate-frame".parse().unwrap(),
        );
        assert!(!offered(&h));
    }
}
