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
/// `/socket.io/` by default); the Prometheus metrics at `/metrics` when the
/// server was built with [`crate::SocketIoBuilder::metrics`]`(true)` (see
/// [`Serve::metrics_path`]); the routes of [`Serve::router`]; the files of
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
    metrics_path: Option<String>,
    mounts: Vec<(String, PathBuf)>,
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
            metrics_path: None,
            mounts: Vec::new(),
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

    /// Serves the Prometheus metrics ([`SocketIo::metrics`]) at `path`
    /// (default `/metrics`, served when the server was built with
    /// `metrics(true)`; setting a path serves them either way, without the
    /// per-message series then). The router must not have a route at the
    /// same path (axum refuses overlapping routes).
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = Some(path.into());
        self
    }

    /// Serves the files of `dir` under the URL prefix `path` (`index.html`
    /// for the prefix itself), e.g. a built single-page app such as the
    /// Socket.IO admin UI at `/admin-ui`.
    pub fn mount_dir(mut self, path: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        self.mounts.push((path.into(), dir.into()));
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

/// Serves `dir` under `prefix`: `prefix` redirects to `prefix/` (so that a
/// page's relative links resolve under it), `prefix/...` are the files.
pub(crate) fn mount_dir(app: axum::Router, prefix: &str, dir: PathBuf) -> axum::Router {
    let prefix = format!("/{}", prefix.trim_matches('/'));
    if prefix == "/" {
        return app.fallback_service(tower_http::services::ServeDir::new(dir));
    }
    let strip = prefix.clone();
    let files = tower::ServiceBuilder::new()
        .map_request(move |mut req: http::Request<axum::body::Body>| {
            let pq = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let rest = pq.strip_prefix(strip.as_str()).unwrap_or(pq);
            if let Ok(uri) = rest.parse::<http::Uri>() {
                *req.uri_mut() = uri;
            }
            req
        })
        .service(tower_http::services::ServeDir::new(dir));
    let to = format!("{prefix}/");
    app.route(
        &prefix,
        axum::routing::get(move || {
            let to = to.clone();
            async move { axum::response::Redirect::permanent(&to) }
        }),
    )
    .route_service(&format!("{prefix}/"), files.clone())
    .route_service(&format!("{prefix}/{{*path}}"), files)
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
                metrics_path,
                mounts,
            } = self;
            let mut app = router.unwrap_or_default();
            let metrics_path =
                metrics_path.or_else(|| io.config().metrics.then(|| "/metrics".into()));
            if let Some(path) = metrics_path {
                app = app.route_service(&path, io.metrics());
            }
            for (path, dir) in mounts {
                app = mount_dir(app, &path, dir);
            }
            if let Some(dir) = static_dir {
                app = app.fallback_service(tower_http::services::ServeDir::new(dir));
            }
            let service = io.layer().layer(app);
            server.run(service, || io.close()).await
        })
    }
}
