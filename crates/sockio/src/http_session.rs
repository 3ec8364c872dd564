//! The page's HTTP session at connect, from [tower-sessions]: Flask-SocketIO's
//! managed session (a copy the socket keeps, the default) or the live HTTP
//! session itself (`manage_session=False`).
//!
//! Behind the `tower-sessions` feature (`sockio = { features =
//! ["tower-sessions"] }`). Mount sockio inside tower-sessions'
//! `SessionManagerLayer` (so the Socket.IO requests carry the session), and
//! give the builder the same store:
//!
//! ```
//! use sockio::{Socket, SocketIo};
//! use tower_sessions::{MemoryStore, SessionManagerLayer};
//!
//! let store = MemoryStore::default();
//! let io = SocketIo::builder().http_sessions(store.clone()).build().unwrap();
//! io.on("whoami", |s: Socket| async move {
//!     // what the login route put in the HTTP session, copied at connect
//!     s.session().get::<String>("user")
//! });
//! let app: axum::Router = axum::Router::new()
//!     // .route("/login", post(login))
//!     .layer(io.layer())
//!     .layer(SessionManagerLayer::new(store));
//! # let _ = app;
//! ```
//!
//! [tower-sessions]: https://docs.rs/tower-sessions

use std::sync::Arc;

use tower_sessions_core::SessionStore;

use crate::extract::{Context, FromContext};
use crate::Socket;

/// The HTTP session store and how sockets use it.
#[derive(Clone)]
pub(crate) struct HttpSessions {
    pub store: Arc<dyn SessionStore>,
    /// Copy the HTTP session into the socket's session at connect.
    pub copy: bool,
}

impl std::fmt::Debug for HttpSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSessions")
            .field("copy", &self.copy)
            .finish()
    }
}

impl HttpSessions {
    /// Copies the HTTP session of the socket's handshake into its session.
    pub(crate) async fn copy_into(&self, socket: &Socket) {
        if !self.copy {
            return;
        }
        let Some(http) = socket.http_extension::<tower_sessions_core::Session>() else {
            tracing::debug!("no HTTP session on the handshake request (is SessionManagerLayer outside sockio's layer?)");
            return;
        };
        let Some(id) = http.id() else { return };
        match self.store.load(&id).await {
            Ok(Some(record)) => {
                for (k, v) in record.data {
                    socket.session().insert_value(&k, crate::Value::from(v));
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot load the HTTP session: {e}"),
        }
    }
}

/// The live HTTP session of the page that opened the connection (the
/// `tower_sessions::Session` its handshake request carried): reads see what
/// HTTP routes wrote, writes are seen by them after
/// [`save`](tower_sessions_core::Session::save) (Flask-SocketIO's
/// `manage_session=False`). The handler fails (to the error handler) when
/// the request had no session: mount sockio inside `SessionManagerLayer`.
#[derive(Debug, Clone)]
pub struct HttpSession(pub tower_sessions_core::Session);

impl std::ops::Deref for HttpSession {
    type Target = tower_sessions_core::Session;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromContext for HttpSession {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        ctx.socket
            .as_ref()
            .and_then(|s| s.http_extension::<tower_sessions_core::Session>())
            .map(HttpSession)
            .ok_or_else(|| {
                "no HTTP session: mount sockio's layer inside tower-sessions' SessionManagerLayer"
                    .into()
            })
    }
}
