//! [`serve`]: the one-line standalone server (Flask-SocketIO's `socketio.run(app)`).

use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, ToSocketAddrs};
use tower::ServiceExt;

use crate::SocketIo;

/// Serves `io` on `addr` over HTTP/1.1 (with WebSocket upgrades); chain
/// [`Serve::static_dir`] to also serve files, then `.await` it. Stops on
/// Ctrl-C or SIGTERM, closing every connection with "server shutting down".
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let io = sockio::SocketIo::builder().build().unwrap();
/// io.on("ping", || async { "pong" });
/// sockio::serve(io, "127.0.0.1:3001").static_dir("static").await
/// # }
/// ```
pub fn serve<A: ToSocketAddrs + Send + 'static>(io: SocketIo, addr: A) -> Serve<A> {
    Serve {
        io,
        bind: Bind::Addr(addr),
        static_dir: None,
    }
}

/// As [`serve`], on a listener you bound yourself (port 0 in tests, say).
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let port = listener.local_addr()?.port();
/// let io = sockio::SocketIo::builder().build().unwrap();
/// tokio::spawn(sockio::serve_listener(io, listener).into_future());
/// # let _ = port; Ok(())
/// # }
/// # use std::future::IntoFuture;
/// ```
pub fn serve_listener(io: SocketIo, listener: TcpListener) -> Serve<SocketAddr> {
    Serve {
        io,
        bind: Bind::Listener(listener),
        static_dir: None,
    }
}

enum Bind<A> {
    Addr(A),
    Listener(TcpListener),
}

/// A server being configured; `.await` runs it. See [`serve`].
#[must_use = "a server does nothing until awaited"]
pub struct Serve<A> {
    io: SocketIo,
    bind: Bind<A>,
    static_dir: Option<PathBuf>,
}

impl<A> Serve<A> {
    /// Serves the files of `dir` for other paths (`index.html` for `/`).
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = Some(dir.into());
        self
    }
}

impl<A: ToSocketAddrs + Send + 'static> IntoFuture for Serve<A> {
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let listener = match self.bind {
                Bind::Addr(a) => TcpListener::bind(a).await?,
                Bind::Listener(l) => l,
            };
            tracing::info!("listening on http://{}", listener.local_addr()?);
            match self.static_dir {
                Some(dir) => {
                    let files = tower_http::services::ServeDir::new(dir);
                    run(self.io.clone(), listener, self.io.layer_around(files)).await
                }
                None => run(self.io.clone(), listener, self.io.service()).await,
            }
        })
    }
}

impl SocketIo {
    fn layer_around<S>(&self, inner: S) -> sockio_engine::EngineService<crate::SioHandler, S> {
        use tower_layer::Layer;
        self.layer().layer(inner)
    }
}

async fn run<S, B>(io: SocketIo, listener: TcpListener, svc: S) -> std::io::Result<()>
where
    S: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = svc
            .clone()
            .map_request(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert::<SocketAddr>(peer);
                req
            });
        tokio::spawn(async move {
            // HTTP/1.1 (what browsers speak to a plain-HTTP Socket.IO server);
            // the engine then takes the TCP stream itself for WebSockets.
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!("connection from {peer}: {e}");
            }
        });
    }
    tracing::info!("shutting down");
    io.close().await;
    Ok(())
}

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
