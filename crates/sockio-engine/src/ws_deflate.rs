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

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};
use http::header;
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

/// Negotiates the extension with yawc: the 101 answer's headers (including
/// `Sec-WebSocket-Extensions`) and the connection to come. `None` when the
/// handshake is not a valid WebSocket one.
pub(crate) fn accept(
    parts: &mut http::request::Parts,
    config: &EngineConfig,
) -> Option<(http::HeaderMap, yawc::UpgradeFut)> {
    let taken = std::mem::replace(parts, http::Request::new(()).into_parts().0);
    let mut req = http::Request::from_parts(taken, ());
    let accepted = yawc::WebSocket::upgrade_with_options(&mut req, options(config));
    *parts = req.into_parts().0;
    match accepted {
        Ok((resp, fut)) if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS => {
            Some((resp.into_parts().0.headers, fut))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::debug!(error = %e, "WebSocket handshake refused");
            None
        }
    }
}

/// Waits for the upgrade and wraps the connection.
pub(crate) async fn open(fut: yawc::UpgradeFut) -> Option<Deflated> {
    match fut.await {
        Ok(ws) => Some(Deflated { ws }),
        Err(e) => {
            tracing::debug!(error = %e, "WebSocket upgrade failed");
            None
        }
    }
}

/// A permessage-deflate connection as a `Stream`/`Sink` of tungstenite
/// messages. yawc answers pings and closes itself (the pong leaves with the
/// next flush, as with tungstenite).
pub(crate) struct Deflated {
    ws: yawc::WebSocket<yawc::HttpStream>,
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
        WsMessage::Frame(f) => Frame::binary(Bytes::from(f.into_payload())),
    }
}

impl Sink<WsMessage> for Deflated {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_ready(cx)
            .map_err(write_error)
    }

    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), WsError> {
        Pin::new(&mut self.get_mut().ws)
            .start_send(to_frame(item))
            .map_err(write_error)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(write_error)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(write_error)
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
