//! The WebSocket transport (tokio-tungstenite over a hyper upgrade): new
//! sessions, the polling → WebSocket upgrade (probe, `5`), and the loop that
//! reads frames and writes queued packets, one packet per frame.
//!
//! As Node's `ws`: a message over `max_payload` closes with status 1009,
//! invalid UTF-8 with 1007, a protocol error with 1002. A text frame
//! `b<base64>` (v3: `b4<base64>`) is a binary message from a client that
//! cannot send binary frames; a WebSocket opened with `b64=1` gets binary
//! messages that way too. While reading is paused the loop reads no frame
//! (TCP flow control reaches the client) but still writes and notices the
//! close.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

use crate::codec::Packet;
use crate::engine::Slot;
use crate::socket::{DispatchLock, Shared, Upgrade};
use crate::{
    DisconnectReason, Engine, EngineHandler, Message, ProtocolVersion, RefusalReason, Socket,
    TransportKind,
};

type Ws = WebSocketStream<Io>;

/// What the transport loop drives: tokio-tungstenite's stream (every
/// connection without permessage-deflate), or a permessage-deflate
/// connection presented the same way ([`crate::ws_deflate::Deflated`]).
pub(crate) trait Conn:
    futures_util::Stream<Item = Result<WsMessage, WsError>>
    + futures_util::Sink<WsMessage, Error = WsError>
    + Unpin
    + Send
    + 'static
{
    /// The next message fed is sent uncompressed ([`Message::compress`]
    /// false). Nothing to do without permessage-deflate.
    #[inline(always)]
    fn uncompressed_next(&mut self) {}
}

impl Conn for Ws {}

/// How the WebSocket is opened once the 101 is sent.
enum Accepted {
    /// tokio-tungstenite over the upgraded connection.
    Plain(OnUpgrade),
    /// permessage-deflate was offered and the server option is on: the
    /// agreed `Sec-WebSocket-Extensions`.
    Deflate(OnUpgrade, String),
}

/// The upgraded connection: the plain TCP stream when the server is hyper's
/// HTTP/1 over `TokioIo<TcpStream>` (as `sockio::serve` and `axum::serve` run
/// it), so reads and writes skip hyper's boxed, rewindable wrapper and its
/// 8-16 KiB read buffer is freed at once; hyper's `Upgraded` otherwise.
///
/// Reads go through a stack buffer of [`READ_AHEAD`] bytes: the WebSocket
/// reader offers only the free tail of its small buffer (1 KiB by default,
/// [`crate::EngineConfigBuilder::websocket_read_buffer`]), often a few
/// hundred bytes, so a batch of frames that arrived together would otherwise
/// take two system calls about every other time. What does not fit is kept
/// (`spill`, on the heap only until it is handed over) and served before the
/// socket is read again. Boxed: one pointer in every connection's task (the
/// task holds the stream in more than one place), not a `Bytes`'s four words.
pub(crate) struct Io {
    stream: Stream,
    spill: Option<Box<Bytes>>,
}

enum Stream {
    Tcp(tokio::net::TcpStream),
    Upgraded(TokioIo<hyper::upgrade::Upgraded>),
}

/// Most bytes one read of the socket takes (on the stack, see [`Io`]).
const READ_AHEAD: usize = 4096;

impl Io {
    fn new(stream: Stream) -> Io {
        Io {
            stream,
            spill: None,
        }
    }
}

impl tokio::io::AsyncRead for Io {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            // Nothing to read into: take nothing from the socket either.
            return Poll::Ready(Ok(()));
        }
        if let Some(spill) = &mut this.spill {
            let n = spill.len().min(buf.remaining());
            buf.put_slice(&spill[..n]);
            bytes::Buf::advance(&mut **spill, n);
            if spill.is_empty() {
                this.spill = None;
            }
            return Poll::Ready(Ok(()));
        }
        let stream = std::pin::Pin::new(&mut this.stream);
        if buf.remaining() >= READ_AHEAD {
            return stream.poll_read(cx, buf);
        }
        let mut space = [std::mem::MaybeUninit::<u8>::uninit(); READ_AHEAD];
        let mut ahead = tokio::io::ReadBuf::uninit(&mut space);
        std::task::ready!(stream.poll_read(cx, &mut ahead))?;
        let got = ahead.filled();
        let n = got.len().min(buf.remaining());
        buf.put_slice(&got[..n]);
        if n < got.len() {
            this.spill = Some(Box::new(Bytes::copy_from_slice(&got[n..])));
        }
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Io {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Upgraded(s) => std::pin::Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Upgraded(s) => std::pin::Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Upgraded(s) => std::pin::Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Upgraded(s) => std::pin::Pin::new(s).poll_shutdown(cx),
        }
    }
}

fn ws_config(config: &crate::EngineConfig) -> WebSocketConfig {
    let max = usize::try_from(config.max_payload).unwrap_or(usize::MAX);
    WebSocketConfig::default()
        .read_buffer_size(config.websocket_read_buffer)
        // Frames are fed into the write buffer and flushed together (see `run`);
        // past this size tungstenite writes without waiting for the flush.
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

type HttpResponse = Response<Full<Bytes>>;

/// Checks the WebSocket headers and builds the 101 answer; takes the
/// request's upgrade future. `None`: not a valid WebSocket handshake.
fn accept(
    parts: &mut http::request::Parts,
    config: &crate::EngineConfig,
) -> Option<(HttpResponse, Accepted)> {
    if config.per_message_deflate && crate::ws_deflate::offered(&parts.headers) {
        return accept_deflate(parts, config);
    }
    let key = parts.headers.get(header::SEC_WEBSOCKET_KEY)?;
    if parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v != "13")
    {
        return None;
    }
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    Some((r, Accepted::Plain(on_upgrade)))
}

#[cold]
fn accept_deflate(
    parts: &mut http::request::Parts,
    config: &crate::EngineConfig,
) -> Option<(HttpResponse, Accepted)> {
    let (headers, agreed) = crate::ws_deflate::accept(parts, config)?;
    let on_upgrade = parts.extensions.remove::<OnUpgrade>()?;
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *r.headers_mut() = headers;
    Some((r, Accepted::Deflate(on_upgrade, agreed)))
}

/// The upgraded connection, and the bytes the client sent after its request
/// that hyper had already read (rare; hyper's read buffer itself is freed).
pub(crate) async fn upgraded_io(on_upgrade: OnUpgrade) -> Option<(Io, Vec<u8>)> {
    let up = match on_upgrade.await {
        Ok(up) => up,
        Err(e) => {
            tracing::debug!(error = %e, "WebSocket upgrade failed");
            return None;
        }
    };
    Some(match up.downcast::<TokioIo<tokio::net::TcpStream>>() {
        Ok(parts) => (
            Io::new(Stream::Tcp(parts.io.into_inner())),
            parts.read_buf.to_vec(),
        ),
        Err(up) => (Io::new(Stream::Upgraded(TokioIo::new(up))), Vec::new()),
    })
}

/// Opening the WebSocket once the 101 is sent: boxed, so this cold step does
/// not enlarge the connection's task (dropped once it completed).
pub(crate) type Opening<W> = std::pin::Pin<Box<dyn Future<Output = Option<W>> + Send>>;

fn open_ws(on_upgrade: OnUpgrade, config: &crate::EngineConfig) -> Opening<Ws> {
    let config = Some(ws_config(config));
    Box::pin(async move {
        let (io, early) = upgraded_io(on_upgrade).await?;
        Some(WebSocketStream::from_partially_read(io, early, Role::Server, config).await)
    })
}

/// A new session over WebSocket (no sid).
pub(crate) fn handshake<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    mut parts: http::request::Parts,
    protocol: ProtocolVersion,
    b64: bool,
    slot: Slot<H>,
) -> Response<Full<Bytes>> {
    let Some((mut resp, accepted)) = accept(&mut parts, engine.config()) else {
        return engine.refuse(RefusalReason::BadRequest, true, &parts);
    };
    engine.add_headers(true, resp.headers_mut(), &parts);
    match accepted {
        Accepted::Plain(on_upgrade) => {
            let open = open_ws(on_upgrade, engine.config());
            let fut = new_session(engine, parts, protocol, b64, slot, open);
            if std::env::var_os("SOCKIO_SIZES").is_some() {
                eprintln!("ws task future: {} bytes", std::mem::size_of_val(&fut));
            }
            tokio::spawn(fut);
        }
        Accepted::Deflate(on_upgrade, agreed) => {
            let open = crate::ws_deflate::open(on_upgrade, agreed, engine.config());
            tokio::spawn(new_session(engine, parts, protocol, b64, slot, open));
        }
    }
    resp
}

/// The new session's life over its WebSocket: the open packet, then the loop.
async fn new_session<H: EngineHandler, W: Conn>(
    engine: Arc<Engine<H>>,
    parts: http::request::Parts,
    protocol: ProtocolVersion,
    b64: bool,
    slot: Slot<H>,
    open: Opening<W>,
) {
    let Some(mut ws) = open.await else {
        return;
    };
    let socket = engine.open_session(parts, protocol, b64, TransportKind::WebSocket, slot);
    let span = socket.shared.span.clone();
    async move {
        let open = engine.open_packet(socket.id(), TransportKind::WebSocket);
        if Box::pin(ws.send(frame(open, protocol, false)))
            .await
            .is_err()
        {
            socket.shared.close(DisconnectReason::TransportClose);
            return;
        }
        engine.call_open(&socket);
        run(&engine, &socket, ws, b64).await;
    }
    .instrument(span)
    .await;
}

/// A WebSocket for an existing session: the upgrade from polling, or (when
/// the session already upgraded or is upgrading) accepted then closed.
pub(crate) fn upgrade_existing<H: EngineHandler>(
    engine: Arc<Engine<H>>,
    socket: Arc<Socket<H::Data>>,
    mut parts: http::request::Parts,
    b64: bool,
) -> Response<Full<Bytes>> {
    let Some((mut resp, accepted)) = accept(&mut parts, engine.config()) else {
        return engine.refuse(RefusalReason::BadRequest, true, &parts);
    };
    engine.add_headers(false, resp.headers_mut(), &parts);
    let span = socket.shared.span.clone();
    match accepted {
        Accepted::Plain(on_upgrade) => {
            let open = open_ws(on_upgrade, engine.config());
            tokio::spawn(upgrade_session(engine, socket, parts, b64, open).instrument(span))
        }
        Accepted::Deflate(on_upgrade, agreed) => {
            let open = crate::ws_deflate::open(on_upgrade, agreed, engine.config());
            tokio::spawn(upgrade_session(engine, socket, parts, b64, open).instrument(span))
        }
    };
    resp
}

/// The polling session's upgrade over its new WebSocket, then the loop.
async fn upgrade_session<H: EngineHandler, W: Conn>(
    engine: Arc<Engine<H>>,
    socket: Arc<Socket<H::Data>>,
    parts: http::request::Parts,
    b64: bool,
    open: Opening<W>,
) {
    let Some(mut ws) = open.await else {
        return;
    };
    {
        {
            let sh = &socket.shared;
            let can_upgrade = engine.config().allow_upgrades && {
                let mut st = sh.state();
                let ok = st.closed.is_none()
                    && st.upgrade == Upgrade::None
                    && st.transport == TransportKind::Polling;
                if ok {
                    st.upgrade = Upgrade::Attached;
                }
                ok
            };
            if !can_upgrade {
                engine.stats.refused(RefusalReason::BadRequest);
                tracing::debug!(
                    reason = "bad_request",
                    "second WebSocket for the session (or upgrades off): closing it"
                );
                let _ = SinkExt::close(&mut ws).await;
                return;
            }
            let timeout = engine.config().upgrade_timeout;
            let upgraded = tokio::time::timeout(timeout, probe(sh, &mut ws))
                .await
                .unwrap_or(false);
            // The upgrade request becomes the session's current request,
            // copied out of hyper's read buffer (freed at the upgrade).
            let current = upgraded.then(|| Arc::new(crate::socket::compact(parts)));
            let (done, previous) = if upgraded {
                let mut st = sh.state();
                if st.closed.is_none() {
                    st.transport = TransportKind::WebSocket;
                    st.upgrade = Upgrade::Done;
                    st.noop_owed = false;
                    (true, std::mem::replace(&mut st.current, current))
                } else {
                    (false, None)
                }
            } else {
                (false, None)
            };
            drop(previous);
            if !done {
                {
                    let mut st = sh.state();
                    if st.upgrade != Upgrade::Done {
                        st.upgrade = Upgrade::None;
                    }
                }
                engine.stats.upgrades_failed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("upgrade abandoned");
                // A GET held while the upgrade was settling polls again.
                sh.writer.notify_waiters();
                let _ = SinkExt::close(&mut ws).await;
                return;
            }
            engine.stats.upgrades.fetch_add(1, Ordering::Relaxed);
            sh.span.record("transport", "websocket");
            tracing::debug!("upgraded to websocket");
            sh.writer.notify_waiters();
            run(&engine, &socket, ws, b64).await;
        }
    }
}

/// The upgrade exchange: `2probe` → `3probe`, then `5`. True when upgraded.
async fn probe<W: Conn>(sh: &Shared, ws: &mut W) -> bool {
    let mut probed = false;
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(WsMessage::Text(t)) if t.as_str() == "2probe" => {
                if ws
                    .send(WsMessage::Text(Utf8Bytes::from_static("3probe")))
                    .await
                    .is_err()
                {
                    return false;
                }
                probed = true;
                {
                    let mut st = sh.state();
                    st.upgrade = Upgrade::Probed;
                    // A pending GET is answered `6` at once; later ones wait
                    // for the upgrade to settle.
                    st.noop_owed = st.get_pending;
                }
                sh.writer.notify_waiters();
            }
            Ok(WsMessage::Text(t)) if t.as_str() == "5" && probed => return true,
            Ok(WsMessage::Ping(_)) | Ok(WsMessage::Pong(_)) => {
                if ws.flush().await.is_err() {
                    return false;
                }
            }
            _ => return false,
        }
    }
    false
}

/// A packet as one WebSocket frame. With `b64` (the WebSocket request had
/// `b64=1`, a client that cannot take binary frames) a binary message is a
/// text frame `b<base64>` (v4) or `b4<base64>` (v3), as Node sends.
#[inline]
fn frame(p: Packet, protocol: ProtocolVersion, b64: bool) -> WsMessage {
    match p {
        Packet::Message(m) => {
            // By value: the bytes move into the frame, with no reference
            // count (an ack's or an emit's only copy).
            let (text, data) = m.into_framed();
            if text {
                // SAFETY: a text Message holds valid UTF-8 (checked at construction).
                return WsMessage::Text(unsafe { Utf8Bytes::from_bytes_unchecked(data) });
            }
            if b64 {
                return base64_frame(&data, protocol);
            }
            if protocol == ProtocolVersion::V3 {
                let mut v = Vec::with_capacity(data.len() + 1);
                v.push(4);
                v.extend_from_slice(&data);
                return WsMessage::Binary(Bytes::from(v));
            }
            WsMessage::Binary(data)
        }
        Packet::Open(json) => {
            let mut v = Vec::with_capacity(json.len() + 1);
            v.push(b'0');
            v.extend_from_slice(&json);
            // SAFETY: `0` followed by JSON we produced from UTF-8 strings.
            WsMessage::Text(unsafe { Utf8Bytes::from_bytes_unchecked(Bytes::from(v)) })
        }
        other => WsMessage::Text(Utf8Bytes::from_static(other.control_str())),
    }
}

/// A binary message as the text frame `b<base64>` (v3: `b4<base64>`).
#[cold]
fn base64_frame(data: &[u8], protocol: ProtocolVersion) -> WsMessage {
    let mut v = Vec::with_capacity(2 + crate::codec::b64_len(data.len()));
    v.push(b'b');
    if protocol == ProtocolVersion::V3 {
        v.push(b'4');
    }
    crate::codec::encode_b64(data, &mut v);
    // SAFETY: ASCII only.
    WsMessage::Text(unsafe { Utf8Bytes::from_bytes_unchecked(Bytes::from(v)) })
}

/// Polls the WebSocket only after its socket woke us (or when frames may be
/// buffered): the stream is polled with a waker of our own that records the
/// readiness and wakes the task.
struct ReadGate {
    flag: Arc<ReadFlag>,
    waker: Waker,
}

struct ReadFlag {
    ready: AtomicBool,
    task: futures_util::task::AtomicWaker,
}

impl Wake for ReadFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.task.wake();
    }
}

type Frame = Option<Result<WsMessage, WsError>>;

impl ReadGate {
    fn new() -> Self {
        let flag = Arc::new(ReadFlag {
            ready: AtomicBool::new(true),
            task: futures_util::task::AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        ReadGate { flag, waker }
    }

    /// The next frame, if the stream has one without waiting; remembers
    /// whether the stream must be polled again before its socket wakes us.
    fn try_read<W: Conn>(&self, ws: &mut W) -> Option<Frame> {
        if !self.flag.ready.swap(false, Ordering::AcqRel) {
            return None;
        }
        let mut cx = Context::from_waker(&self.waker);
        match ws.poll_next_unpin(&mut cx) {
            Poll::Ready(msg) => {
                // More frames may be buffered: look again next time.
                self.flag.ready.store(true, Ordering::Release);
                Some(msg)
            }
            Poll::Pending => None,
        }
    }

    fn poll_read<W: Conn>(&self, cx: &mut Context<'_>, ws: &mut W) -> Poll<Frame> {
        self.flag.task.register(cx.waker());
        match self.try_read(ws) {
            Some(msg) => Poll::Ready(msg),
            None => Poll::Pending,
        }
    }
}

enum Next {
    Continue,
    Stop,
    /// Stop, closing the WebSocket with this status (1009 for a message over
    /// `max_payload`, as Node's `ws` does).
    StopWith(CloseCode),
}

/// Most packets written per flush, and most frames handled per wake-up,
/// before the loop yields to the other direction.
const BATCH: usize = 64;

/// The session's WebSocket loop: reads frames and writes queued packets, one
/// packet per frame, until the session closes.
///
/// Writes are coalesced: after a wake-up the loop first handles every frame
/// that is already read (no system call), then feeds every queued packet and
/// flushes once, so a burst of acks or broadcasts costs one `write` instead of
/// one per packet.
///
/// While the layer above has paused reading ([`Socket::pause_reading`]) the
/// loop does not read frames (TCP flow control reaches the client) but still
/// writes queued packets and notices the close.
async fn run<H: EngineHandler, W: Conn>(
    engine: &Arc<Engine<H>>,
    socket: &Arc<Socket<H::Data>>,
    mut ws: W,
    b64: bool,
) {
    let sh = &socket.shared;
    let protocol = sh.protocol;
    let mut batch: Vec<Packet> = Vec::new();
    let read_gate = ReadGate::new();
    let mut must_flush = false;
    let mut close_code: Option<CloseCode> = None;
    'outer: loop {
        let notified = sh.writer.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Write what is queued.
        loop {
            let closed_reason = {
                let mut st = sh.state();
                match st.closed {
                    Some(r) if !crate::polling::drains(r) => {
                        st.queue.clear();
                        break 'outer;
                    }
                    c => {
                        let n = st.queue.len().min(BATCH);
                        batch.extend(st.queue.drain(..n));
                        c
                    }
                }
            };
            if batch.is_empty() {
                if closed_reason.is_some() {
                    break 'outer;
                }
                if must_flush {
                    must_flush = false;
                    if ws.flush().await.is_err() {
                        sh.close(DisconnectReason::TransportError);
                        break 'outer;
                    }
                }
                break;
            }
            must_flush = false;
            let write = async {
                for p in batch.drain(..) {
                    if let Packet::Message(m) = &p {
                        if !m.compress() {
                            ws.uncompressed_next();
                        }
                    }
                    ws.feed(frame(p, protocol, b64)).await?;
                }
                ws.flush().await
            };
            let sent = tokio::select! {
                r = write => r.is_ok(),
                _ = sh.closed(), if closed_reason.is_none() => false,
            };
            batch.clear();
            if !sent {
                sh.close(DisconnectReason::TransportError);
                break 'outer;
            }
        }
        // Wait for queued packets or a frame. The WebSocket is only polled
        // when its socket signalled readiness (or may hold buffered frames):
        // polling it otherwise costs tungstenite a 4 KiB buffer fill per
        // wake-up, which a receiver of broadcasts would pay per delivery.
        // While reading is paused only the queue (and a resume) wakes us.
        let first = std::future::poll_fn(|cx| {
            if notified.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            if sh.is_paused() {
                return Poll::Pending;
            }
            match read_gate.poll_read(cx, &mut ws) {
                Poll::Ready(msg) => Poll::Ready(Some(msg)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        if let Some(msg) = first {
            // Answers queued while these frames are handled are written at
            // the top of the loop without a wake-up (see `Shared::reading`).
            sh.reading.store(true, Ordering::Release);
            let stop = handle_frames(engine, socket, &read_gate, &mut ws, &mut must_flush, msg);
            sh.reading.store(false, Ordering::Release);
            match stop {
                None => {}
                Some(code) => {
                    close_code = code;
                    break 'outer;
                }
            }
        }
    }
    // Boxed: a cold path that would otherwise enlarge every connection's task.
    let close = Box::pin(async move {
        let close = async {
            if let Some(code) = close_code {
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::default(),
                };
                let _ = ws.send(WsMessage::Close(Some(frame))).await;
            }
            SinkExt::close(&mut ws).await
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), close).await;
    });
    close.await;
}

/// Handles the frame just read and then those already buffered (no system
/// call), up to [`BATCH`], so their answers share one flush. Stops early
/// when the layer above pauses reading. `Some(code)` ends the session, with
/// that close code if any.
fn handle_frames<H: EngineHandler, W: Conn>(
    engine: &Arc<Engine<H>>,
    socket: &Arc<Socket<H::Data>>,
    read_gate: &ReadGate,
    ws: &mut W,
    must_flush: &mut bool,
    first: Option<Result<WsMessage, WsError>>,
) -> Option<Option<CloseCode>> {
    let mut msg = first;
    let mut lock = DispatchLock::new(&socket.shared);
    for handled in 1.. {
        match on_frame(engine, socket, must_flush, msg, &mut lock) {
            Next::Continue => {}
            Next::Stop => return Some(None),
            Next::StopWith(code) => return Some(Some(code)),
        }
        if handled == BATCH || socket.shared.is_paused() {
            break;
        }
        let Some(next) = read_gate.try_read(ws) else {
            break;
        };
        msg = next;
    }
    None
}

/// Handles one frame. Synchronous, so the connection task stays small: a
/// WebSocket ping's pong, queued by tungstenite, goes out with the next flush.
fn on_frame<H: EngineHandler>(
    engine: &Arc<Engine<H>>,
    socket: &Arc<Socket<H::Data>>,
    must_flush: &mut bool,
    msg: Option<Result<WsMessage, WsError>>,
    lock: &mut DispatchLock,
) -> Next {
    let sh = &socket.shared;
    let v3 = sh.protocol == ProtocolVersion::V3;
    let packet = match msg {
        Some(Ok(WsMessage::Text(t))) => {
            let t = Bytes::from(t);
            let decoded = match t.first() {
                // `b<base64>` (v3: `b4<base64>`): a binary message from a
                // client that cannot send binary frames (forceBase64).
                Some(b'b') if !v3 => Packet::decode_base64(&t[1..]),
                Some(b'b') if t.get(1) == Some(&b'4') => Packet::decode_base64(&t[2..]),
                Some(b'b') => Err(crate::codec::DecodeError::Payload(
                    "v3 base64 packet that is not a message",
                )),
                _ => Packet::decode_text_utf8(t),
            };
            match decoded {
                Ok(p) => p,
                Err(e) => {
                    engine.stats.parse_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "invalid packet");
                    sh.close(DisconnectReason::ParseError);
                    return Next::Stop;
                }
            }
        }
        Some(Ok(WsMessage::Binary(b))) => {
            if v3 {
                if b.first() != Some(&4) {
                    engine.stats.parse_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("v3 binary frame without the message type");
                    sh.close(DisconnectReason::ParseError);
                    return Next::Stop;
                }
                Packet::Message(Message::binary(b.slice(1..)))
            } else {
                Packet::Message(Message::binary(b))
            }
        }
        Some(Ok(WsMessage::Ping(_))) => {
            // tungstenite queued the pong; it leaves with the next flush.
            *must_flush = true;
            return Next::Continue;
        }
        Some(Ok(WsMessage::Pong(_))) | Some(Ok(WsMessage::Frame(_))) => return Next::Continue,
        Some(Ok(WsMessage::Close(_))) | None => {
            sh.close(DisconnectReason::TransportClose);
            return Next::Stop;
        }
        Some(Err(e)) => {
            let (reason, code) = match e {
                WsError::Capacity(_) => (DisconnectReason::PayloadTooLarge, Some(CloseCode::Size)),
                WsError::ConnectionClosed
                | WsError::AlreadyClosed
                | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)
                | WsError::Io(_) => (DisconnectReason::TransportClose, None),
                WsError::Utf8(_) => (DisconnectReason::ParseError, Some(CloseCode::Invalid)),
                WsError::Protocol(_) => {
                    (DisconnectReason::TransportError, Some(CloseCode::Protocol))
                }
                _ => (DisconnectReason::TransportError, None),
            };
            match reason {
                DisconnectReason::PayloadTooLarge => {
                    engine
                        .stats
                        .payloads_too_large
                        .fetch_add(1, Ordering::Relaxed);
                }
                DisconnectReason::ParseError => {
                    engine.stats.parse_errors.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
            tracing::debug!(error = %e, reason = reason.name(), "WebSocket read failed");
            sh.close(reason);
            return match code {
                Some(c) => Next::StopWith(c),
                None => Next::Stop,
            };
        }
    };
    if engine.on_packet(socket, packet, lock) {
        Next::Continue
    } else {
        Next::Stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A connected pair: the server end as an [`Io`], the client end raw.
    async fn pair() -> (Io, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(l.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, l.accept());
        (Io::new(Stream::Tcp(accepted.unwrap().0)), client.unwrap())
    }

    #[tokio::test]
    async fn what_a_small_read_leaves_is_served_before_the_socket_is_read_again() {
        let (mut io, mut client) = pair().await;
        let sent: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
        client.write_all(&sent).await.unwrap();
        // Wait until all 700 bytes are there, so that one read can take them.
        let Stream::Tcp(s) = &io.stream else {
            unreachable!()
        };
        let mut peeked = [0u8; 1024];
        while s.peek(&mut peeked).await.unwrap() < sent.len() {
            tokio::task::yield_now().await;
        }
        // A read into no room takes nothing.
        assert_eq!(io.read(&mut []).await.unwrap(), 0);
        assert!(io.spill.is_none());
        let mut first = [0u8; 300];
        io.read_exact(&mut first).await.unwrap();
        assert_eq!(&first[..], &sent[..300]);
        assert_eq!(
            io.spill.as_ref().map(|s| s.len()),
            Some(400),
            "one read of the socket took all 700 bytes"
        );
        // The rest comes from the spill, in order, then the socket again.
        client.write_all(b"after").await.unwrap();
        let mut rest = vec![0u8; 405];
        io.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest[..400], &sent[300..]);
        assert_eq!(&rest[400..], b"after");
        assert!(io.spill.is_none());
        // A large read goes to the socket directly; end of stream still shows.
        drop(client);
        let mut big = vec![0u8; READ_AHEAD];
        assert_eq!(io.read(&mut big).await.unwrap(), 0);
    }
}
