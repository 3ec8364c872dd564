//! The HTTP/1.1 server under [`serve`] and `sockio::serve`: listeners (one or
//! several addresses, dual-stack), an accept loop that puts the peer's
//! [`SocketAddr`] in each request's extensions, hyper's HTTP/1.1 with
//! upgrades (WebSocket), and one shutdown signal for all of it.
//!
//! What it is not: a general web server. It serves one tower service; routing,
//! static files and TLS belong to that service or to a proxy in front.

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::watch;

use crate::http_util::BoxError;
use crate::{DisconnectReason, Engine, EngineHandler};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

enum Listen {
    /// Every address the name resolves to.
    Resolve(BoxFuture<io::Result<Vec<SocketAddr>>>),
    /// `[::]:port` accepting IPv4 too, or `0.0.0.0:port` and `[::]:port`.
    DualStack(u16),
    Listener(TcpListener),
}

/// Where a connection is in the server's life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Phase {
    Serving = 0,
    /// Finish the request in flight, then close.
    Draining = 1,
    /// Drop the connection now.
    Abort = 2,
}

/// The server's phase as its connections see it. A connection registers its
/// task's waker once and then reads the phase with one atomic load per
/// wake-up: no lock on the request path (a `watch` or `Notify` future would
/// take one each time the connection's task is polled).
#[derive(Default)]
struct Lifecycle {
    phase: std::sync::atomic::AtomicU8,
    conns: std::sync::Mutex<Conns>,
    /// Signalled when the last connection ends.
    idle: tokio::sync::Notify,
}

#[derive(Default)]
struct Conns {
    next: u64,
    wakers: std::collections::HashMap<u64, std::task::Waker>,
}

impl Lifecycle {
    fn phase(&self) -> Phase {
        match self.phase.load(std::sync::atomic::Ordering::Acquire) {
            0 => Phase::Serving,
            1 => Phase::Draining,
            _ => Phase::Abort,
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, Conns> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, waker: &std::task::Waker) -> u64 {
        let mut c = self.conns();
        c.next += 1;
        let id = c.next;
        c.wakers.insert(id, waker.clone());
        id
    }

    fn deregister(&self, id: u64) {
        let empty = {
            let mut c = self.conns();
            c.wakers.remove(&id);
            c.wakers.is_empty()
        };
        if empty {
            self.idle.notify_waiters();
        }
    }

    fn count(&self) -> usize {
        self.conns().wakers.len()
    }

    /// Moves every connection to `phase` and wakes them.
    fn enter(&self, phase: Phase) {
        self.phase
            .store(phase as u8, std::sync::atomic::Ordering::Release);
        let wakers: Vec<std::task::Waker> = self.conns().wakers.values().cloned().collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves when no connection is left.
    async fn all_closed(&self) {
        loop {
            let n = self.idle.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            n.await;
        }
    }
}

/// An HTTP/1.1 server for one tower service, with graceful shutdown.
///
/// Each accepted connection gets `TCP_NODELAY`, and every request on it the
/// peer's address as a [`SocketAddr`] extension (IPv4 peers of a dual-stack
/// listener as plain IPv4), which [`crate::Socket::remote_addr`] reads.
/// A request head must arrive within [`header_read_timeout`](Server::header_read_timeout)
/// (default 30 s; a client that trickles its headers, or an idle keep-alive
/// connection, is disconnected) and fit in [`max_header_size`](Server::max_header_size)
/// (default 64 KiB; larger heads get 431).
///
/// On the shutdown signal (default: Ctrl-C or SIGTERM) it stops accepting,
/// runs the `on_shutdown` future given to [`Server::run`] (close the
/// sessions), lets the requests in flight finish, closes idle connections,
/// and after [`shutdown_timeout`](Server::shutdown_timeout) drops whatever is
/// left.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use sockio_engine::Server;
/// let service = sockio_engine::NotFound; // any tower service
/// Server::new()
///     .bind("127.0.0.1:3000")
///     .bind("[::1]:3000")
///     .shutdown_signal(async { /* e.g. a oneshot receiver */ })
///     .run(service, || async {})
///     .await
/// # }
/// ```
#[must_use = "a server does nothing until run"]
pub struct Server {
    listen: Vec<Listen>,
    signal: Option<BoxFuture<()>>,
    shutdown_timeout: Duration,
    conn: ConnConfig,
}

/// What every connection is served with.
#[derive(Clone, Copy, Debug)]
struct ConnConfig {
    header_read_timeout: Duration,
    max_header_size: usize,
}

impl Default for Server {
    fn default() -> Self {
        Server::new()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listeners", &self.listen.len())
            .field("custom_signal", &self.signal.is_some())
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("header_read_timeout", &self.conn.header_read_timeout)
            .field("max_header_size", &self.conn.max_header_size)
            .finish()
    }
}

impl Server {
    /// A server with no address yet.
    pub fn new() -> Self {
        Server {
            listen: Vec::new(),
            signal: None,
            shutdown_timeout: Duration::from_secs(10),
            conn: ConnConfig {
                header_read_timeout: Duration::from_secs(30),
                max_header_size: 64 * 1024,
            },
        }
    }

    /// Listens on every address `addr` resolves to (`"localhost:3000"` may
    /// give `127.0.0.1` and `::1`). May be called several times. An address
    /// that cannot be bound is an error of [`run`](Self::run).
    pub fn bind<A: ToSocketAddrs + Send + 'static>(mut self, addr: A) -> Self {
        self.listen.push(Listen::Resolve(Box::pin(async move {
            Ok(tokio::net::lookup_host(addr).await?.collect())
        })));
        self
    }

    /// Listens on `port` of every interface, IPv6 and IPv4: one socket on
    /// `[::]` with `IPV6_V6ONLY` off where the system allows it, else two
    /// sockets (`0.0.0.0` and `[::]`), else IPv4 alone.
    pub fn dual_stack(mut self, port: u16) -> Self {
        self.listen.push(Listen::DualStack(port));
        self
    }

    /// Serves on a listener bound by the caller (port 0 in tests, or a
    /// socket handed over by systemd).
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.listen.push(Listen::Listener(listener));
        self
    }

    /// Stops on this future instead of Ctrl-C / SIGTERM.
    pub fn shutdown_signal(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long the shutdown waits for requests in flight before dropping
    /// their connections (default 10 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// How long a request head (request line and headers) may take to
    /// arrive, counted from the first byte of a request or from the end of
    /// the previous one on a kept-alive connection (default 30 s).
    pub fn header_read_timeout(mut self, d: Duration) -> Self {
        self.conn.header_read_timeout = d;
        self
    }

    /// Largest request head in bytes (default 64 KiB, at least 8 KiB);
    /// larger ones are answered 431. The query of a handshake is part of it.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.conn.max_header_size = bytes.max(8192);
        self
    }

    /// Binds every address given so far; the listeners, in order.
    async fn listeners(listen: Vec<Listen>) -> io::Result<Vec<TcpListener>> {
        if listen.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on: call bind(), dual_stack() or listener()",
            ));
        }
        let mut out = Vec::new();
        for l in listen {
            match l {
                Listen::Listener(l) => out.push(l),
                Listen::Resolve(addrs) => {
                    let addrs = addrs.await?;
                    if addrs.is_empty() {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "the address resolved to nothing",
                        ));
                    }
                    for a in addrs {
                        out.push(bind_one(a, None).map_err(|e| with_addr(e, a))?);
                    }
                }
                Listen::DualStack(port) => out.extend(bind_dual_stack(port)?),
            }
        }
        Ok(out)
    }

    /// Runs `service` until the shutdown signal, then `on_shutdown()`, then
    /// the graceful end of the connections (see [`Server`]).
    pub async fn run<S, B, F, Fut>(self, service: S, on_shutdown: F) -> io::Result<()>
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = ()>,
    {
        let Server {
            listen,
            signal,
            shutdown_timeout,
            conn,
        } = self;
        let listeners = Self::listeners(listen).await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let life = Arc::new(Lifecycle::default());
        for listener in listeners {
            if let Ok(a) = listener.local_addr() {
                tracing::info!("listening on http://{a}");
            }
            tokio::spawn(accept_loop(
                listener,
                service.clone(),
                stop_rx.clone(),
                life.clone(),
                conn,
            ));
        }
        drop(stop_rx);
        match signal {
            Some(s) => s.await,
            None => shutdown_signal().await,
        }
        tracing::info!("shutting down");
        // Stop accepting (the accept loops drop their listeners), then let
        // every connection finish the request it is serving.
        let _ = stop_tx.send(true);
        stop_tx.closed().await;
        life.enter(Phase::Draining);
        on_shutdown().await;
        if tokio::time::timeout(shutdown_timeout, life.all_closed())
            .await
            .is_err()
        {
            tracing::warn!(
                connections = life.count(),
                "connections still busy after the shutdown timeout: dropping them"
            );
            life.enter(Phase::Abort);
            let _ = tokio::time::timeout(Duration::from_secs(1), life.all_closed()).await;
        }
        Ok(())
    }
}

fn with_addr(e: io::Error, a: SocketAddr) -> io::Error {
    io::Error::new(e.kind(), format!("cannot listen on {a}: {e}"))
}

/// Binds one address; `v6only` is set on IPv6 sockets when given.
fn bind_one(addr: SocketAddr, v6only: Option<bool>) -> io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let s = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    if let (true, Some(only)) = (addr.is_ipv6(), v6only) {
        s.set_only_v6(only)?;
    }
    #[cfg(unix)]
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

fn bind_dual_stack(port: u16) -> io::Result<Vec<TcpListener>> {
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    if let Ok(l) = bind_one(v6, Some(false)) {
        return Ok(vec![l]);
    }
    let first = bind_one(v4, None).map_err(|e| with_addr(e, v4))?;
    // The port chosen for IPv4 (port 0 asks for any) is the one for IPv6.
    let port = first.local_addr()?.port();
    let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    match bind_one(v6, Some(true)) {
        Ok(second) => Ok(vec![first, second]),
        Err(e) => {
            tracing::warn!("no IPv6 ({e}): listening on IPv4 only");
            Ok(vec![first])
        }
    }
}

async fn accept_loop<S, B>(
    listener: TcpListener,
    service: S,
    mut stop: watch::Receiver<bool>,
    life: Arc<Lifecycle>,
    conn: ConnConfig,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        let svc = WithPeer {
            inner: service.clone(),
            peer,
        };
        tokio::spawn(serve_connection(stream, svc, life.clone(), conn));
    }
}

async fn serve_connection<S, B>(
    stream: tokio::net::TcpStream,
    svc: WithPeer<S>,
    life: Arc<Lifecycle>,
    config: ConnConfig,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let peer = svc.peer;
    // HTTP/1.1 (what browsers speak to a plain-HTTP Socket.IO server); the
    // engine then takes the TCP stream itself for WebSockets.
    let conn = hyper::server::conn::http1::Builder::new()
        // One registered timer per connection, not one per request.
        .timer(crate::conn_timer::ConnTimer::default())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(config.max_header_size)
        .serve_connection(TokioIo::new(stream), svc)
        .with_upgrades();
    tokio::pin!(conn);
    let mut id = None;
    let mut seen = Phase::Serving;
    let result = std::future::poll_fn(|cx| {
        if id.is_none() {
            // Once: the task's waker does not change while it runs.
            id = Some(life.register(cx.waker()));
        }
        let now = life.phase();
        if now != seen {
            seen = now;
            match now {
                Phase::Serving => {}
                Phase::Draining => conn.as_mut().graceful_shutdown(),
                Phase::Abort => return std::task::Poll::Ready(None),
            }
        }
        conn.as_mut().poll(cx).map(Some)
    })
    .await;
    if let Some(id) = id {
        life.deregister(id);
    }
    if let Some(Err(e)) = result {
        tracing::debug!("connection from {peer}: {e}");
    }
}

/// The service of one connection: puts the peer's address in each request.
struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S> hyper::service::Service<Request<Incoming>> for WithPeer<S>
where
    S: tower_service::Service<Request<Incoming>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = Infallible;
    type Future = Oneshot<S, Request<Incoming>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert::<SocketAddr>(self.peer);
        Oneshot {
            state: OneshotState::NotReady {
                svc: self.inner.clone(),
                req: Some(req),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// `poll_ready` then `call` on a clone of the service (tower's `Oneshot`,
    /// without a dependency on `tower` and without boxing).
    struct Oneshot<S: tower_service::Service<R>, R> {
        #[pin]
        state: OneshotState<S, R>,
    }
}

pin_project_lite::pin_project! {
    #[project = OneshotProj]
    enum OneshotState<S: tower_service::Service<R>, R> {
        NotReady { svc: S, req: Option<R> },
        Called { #[pin] fut: S::Future },
    }
}

impl<S: tower_service::Service<R>, R> Future for Oneshot<S, R> {
    type Output = Result<S::Response, S::Error>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                OneshotProj::NotReady { svc, req } => {
                    std::task::ready!(svc.poll_ready(cx))?;
                    let Some(req) = req.take() else {
                        unreachable!("Oneshot polled after its request was sent");
                    };
                    let fut = svc.call(req);
                    this.state.set(OneshotState::Called { fut });
                }
                OneshotProj::Called { fut } => return fut.poll(cx),
            }
        }
    }
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Serves an engine alone on `addr` (every address it resolves to), until
/// Ctrl-C or SIGTERM; then every session is closed with "server shutting
/// down" ([`DisconnectReason::ServerShutdown`]). Other paths get 404. Chain
/// the methods of [`Serve`] for more addresses or another signal, then
/// `.await` it.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use sockio_engine::{Engine, EngineConfig, EngineHandler, Message, Socket};
/// # struct Echo;
/// # impl EngineHandler for Echo {
/// #     type Data = ();
/// #     fn on_message(&self, s: &Arc<Socket<()>>, m: Message) { let _ = s.send(m); }
/// # }
/// # async fn f() -> std::io::Result<()> {
/// let engine = Engine::new(EngineConfig::default(), Echo);
/// sockio_engine::serve(engine, "127.0.0.1:3000")
///     .bind("[::1]:3000")
///     .await
/// # }
/// ```
pub fn serve<H: EngineHandler, A: ToSocketAddrs + Send + 'static>(
    engine: Arc<Engine<H>>,
    addr: A,
) -> Serve<H> {
    Serve {
        engine,
        server: Server::new().bind(addr),
    }
}

/// An engine being served; `.await` runs it. See [`serve`].
#[must_use = "a server does nothing until awaited"]
pub struct Serve<H: EngineHandler> {
    engine: Arc<Engine<H>>,
    server: Server,
}

impl<H: EngineHandler> std::fmt::Debug for Serve<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl<H: EngineHandler> Serve<H> {
    /// Also listens on `addr` ([`Server::bind`]).
    pub fn bind<A: ToSocketAddrs + Send + 'static>(mut self, addr: A) -> Self {
        self.server = self.server.bind(addr);
        self
    }
    /// Also listens on `port` over IPv6 and IPv4 ([`Server::dual_stack`]).
    pub fn dual_stack(mut self, port: u16) -> Self {
        self.server = self.server.dual_stack(port);
        self
    }
    /// Also serves on a listener bound by the caller ([`Server::listener`]).
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.server = self.server.listener(listener);
        self
    }
    /// Stops on this future instead of Ctrl-C / SIGTERM.
    pub fn shutdown_signal(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.server = self.server.shutdown_signal(signal);
        self
    }
    /// The server's other settings ([`Server::shutdown_timeout`],
    /// [`Server::header_read_timeout`], [`Server::max_header_size`]).
    pub fn server(mut self, f: impl FnOnce(Server) -> Server) -> Self {
        self.server = f(self.server);
        self
    }
}

impl<H: EngineHandler> IntoFuture for Serve<H> {
    type Output = io::Result<()>;
    type IntoFuture = BoxFuture<io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        let Serve { engine, server } = self;
        Box::pin(async move {
            let service = engine.service();
            server
                .run(service, || {
                    engine.close_all(DisconnectReason::ServerShutdown)
                })
                .await
        })
    }
}
