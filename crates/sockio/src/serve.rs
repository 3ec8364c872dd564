//! [`serve`]: the standalone server (Flask-SocketIO's `socketio.run(app)`),
//! on one or several addresses, with the app's own axum routes and a static
//! directory beside the Socket.IO endpoint, and one shutdown for all of it.
//!
//! The listeners, the accept loop and the graceful shutdown are
//! [`sockio_engine::Server`]'s; this module puts the Socket.IO endpoint, the
//! router and the files together.

use std::future::{Future, IntoFuture};
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::{TcpListener, ToSocketAddrs};

use crate::SocketIo;

/// Serves `io` on `addr` (every address it resolves to) over HTTP/1.1 with
/// WebSocket upgrades; `.await` it. Stops on Ctrl-C or SIGTERM (or
/// [`Serve::shutdown_signal`]): stops accepting, closes every connection with
/// "server shutting down" (their disconnect handlers run), lets HTTP requests
/// in flight finish.
///
/// Requests go, in this order, to: the Socket.IO endpoint (its path,
/// `/socket.io/` by default); the routes of [`Serve::router`]; the files of
/// [`Serve::static_dir`] (the router's fallback: it replaces a fallback set
/// on the router); else 404.
///
/// ```no_run
/// # async fn f() -> std::io::Result<()> {
/// use axum::routing::get;
/// let io = sockio::SocketIo::builder().build().unwrap();
/// io.on("ping", || async { "pong" });
/// let app = axum::Router::new().route("/health", get(|| async { "ok" }));
/// sockio::serve(io, "127.0.0.1:3001")
///     .bind("[::1]:3001")
///     .router(app)
///     .static_dir("static")
///     .await
/// # }
/// ```
pub fn serve<A: ToSocketAddrs + Send + 'static>(io: SocketIo, addr: A) -> Serve {
    Serve::new(io, sockio_engine::Server::new().bind(addr))
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
pub fn serve_listener(io: SocketIo, listener: TcpListener) -> Serve {
    Serve::new(io, sockio_engine::Server::new().listener(listener))
}

/// A server being configured; `.await` runs it. See [`serve`].
#[must_use = "a server does nothing until awaited"]
pub struct Serve {
    io: SocketIo,
    server: sockio_engine::Server,
    router: Option<axum::Router>,
    static_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("server", &self.server)
            .field("router", &self.router.is_some())
            .field("static_dir", &self.static_dir)
            .finish_non_exhaustive()
    }
}

impl Serve {
    fn new(io: SocketIo, server: sockio_engine::Server) -> Self {
        Serve {
            io,
            server,
            router: None,
            static_dir: None,
        }
    }

    /// Also listens on `addr` (every address it resolves to).
    pub fn bind<A: ToSocketAddrs + Send + 'static>(mut self, addr: A) -> Self {
        self.server = self.server.bind(addr);
        self
    }

    /// Also listens on `port` of every interface, IPv6 and IPv4 (one
    /// dual-stack socket where the system allows it, else two).
    pub fn dual_stack(mut self, port: u16) -> Self {
        self.server = self.server.dual_stack(port);
        self
    }

    /// Also serves on a listener bound by the caller.
    pub fn listener(mut self, listener: TcpListener) -> Self {
        self.server = self.server.listener(listener);
        self
    }

    /// The app's own routes: requests that are not for the Socket.IO
    /// endpoint go to this router (its middlewares, state and fallback
    /// included), with the static directory, if any, as its fallback.
    pub fn router(mut self, router: axum::Router) -> Self {
        self.router = Some(router);
        self
    }

    /// Serves the files of `dir` for the paths nothing else answers
    /// (`index.html` for `/`).
    pub fn static_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.static_dir = Some(dir.into());
        self
    }

    /// Stops on this future instead of Ctrl-C / SIGTERM.
    ///
    /// ```no_run
    /// # async fn f(io: sockio::SocketIo) -> std::io::Result<()> {
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// # drop(stop);
    /// sockio::serve(io, "127.0.0.1:3001")
    ///     .shutdown_signal(async { let _ = stopped.await; })
    ///     .await
    /// # }
    /// ```
    pub fn shutdown_signal(mut self, signal: impl Future<Output = ()> + Send + 'static) -> Self {
        self.server = self.server.shutdown_signal(signal);
        self
    }

    /// How long the shutdown waits for HTTP requests in flight (default 10 s).
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.server = self.server.shutdown_timeout(d);
        self
    }
}

impl IntoFuture for Serve {
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            use tower_layer::Layer;
            let Serve {
                io,
                server,
                router,
                static_dir,
            } = self;
            let mut app = router.unwrap_or_default();
            if let Some(dir) = static_dir {
                app = app.fallback_service(tower_http::services::ServeDir::new(dir));
            }
            let service = io.layer().layer(app);
            server.run(service, || io.close()).await
        })
    }
}
