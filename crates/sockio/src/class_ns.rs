//! A namespace as a type with methods ([`NamespaceHandler`]), the alternative
//! to closures for those who like Flask-SocketIO's class-based `Namespace`.
//!
//! ```
//! use sockio::{ConnectError, DisconnectReason, EventResult, NamespaceHandler, Reply, Socket, SocketIo, Value};
//! use sockio::protocol::from_value;
//!
//! struct Chat { greeting: String }
//!
//! impl NamespaceHandler for Chat {
//!     async fn on_connect(&self, s: &Socket, _auth: Option<Value>) -> Result<(), ConnectError> {
//!         s.emit("hello", &self.greeting).await.map_err(|e| ConnectError::new(e.to_string()))
//!     }
//!     // Flask-SocketIO's `on_<event>` methods: one arm per event.
//!     async fn on_event(&self, s: &Socket, event: &str, args: Vec<Value>) -> EventResult {
//!         match event {
//!             "join" => {
//!                 let room: String = from_value(args.into_iter().next().unwrap_or(Value::Null))?;
//!                 s.join(room.as_str());
//!                 Reply::ack(&room)
//!             }
//!             _ => Ok(Reply::Unhandled),
//!         }
//!     }
//!     async fn on_disconnect(&self, s: &Socket, reason: DisconnectReason) {
//!         println!("{} left: {reason}", s.id());
//!     }
//! }
//!
//! let io = SocketIo::builder().build().unwrap();
//! io.of("/chat").handler(Chat { greeting: "welcome".into() });
//! ```

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::errors::{ConnectError, HandlerErrorKind};
use crate::extract::{Args, Auth, Event};
use crate::handler::IntoReply;
use crate::ns::Namespace;
use crate::protocol::{self, Value};
use crate::socket::{DisconnectReason, Socket};

/// What [`NamespaceHandler::on_event`] answers.
#[derive(Debug)]
pub enum Reply {
    /// The acknowledgement arguments (sent if the client asked for one).
    Ack(Vec<Value>),
    /// This namespace has no handler for the event.
    Unhandled,
}

impl Reply {
    /// Acknowledge with `data` (a tuple is several arguments, `()` none).
    pub fn ack<T: Serialize + ?Sized>(data: &T) -> EventResult {
        Ok(Reply::Ack(protocol::to_args(data)?))
    }
}

/// The result of [`NamespaceHandler::on_event`]: `?` works on any error, which
/// then goes to the namespace's error handler.
pub type EventResult = Result<Reply, Box<dyn std::error::Error + Send + Sync>>;

struct EventOutcome(EventResult);

impl IntoReply for EventOutcome {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        match self.0 {
            Ok(Reply::Ack(args)) => Ok(args),
            Ok(Reply::Unhandled) => Err(HandlerErrorKind::NoHandler),
            Err(e) => Err(HandlerErrorKind::Failed(e.to_string())),
        }
    }
}

/// A namespace written as a type: connect, events and disconnect as methods
/// (Flask-SocketIO's class-based `Namespace`). Register it with
/// [`Namespace::handler`]; it replaces the namespace's closures for connect,
/// disconnect and every event (as the catch-all handler; closures registered
/// with [`Namespace::on`] for a given event still take precedence).
pub trait NamespaceHandler: Send + Sync + 'static {
    /// A client connects with the CONNECT payload; `Err` refuses it.
    fn on_connect(
        &self,
        socket: &Socket,
        auth: Option<Value>,
    ) -> impl Future<Output = Result<(), ConnectError>> + Send {
        let _ = (socket, auth);
        async { Ok(()) }
    }

    /// An event arrived; dispatch on its name.
    fn on_event(
        &self,
        socket: &Socket,
        event: &str,
        args: Vec<Value>,
    ) -> impl Future<Output = EventResult> + Send;

    /// The socket left the namespace (its rooms are still readable).
    fn on_disconnect(
        &self,
        socket: &Socket,
        reason: DisconnectReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (socket, reason);
        async {}
    }
}

impl Namespace {
    /// Uses a [`NamespaceHandler`] for this namespace.
    pub fn handler<N: NamespaceHandler>(&self, handler: N) -> &Self {
        let h = Arc::new(handler);
        let h1 = h.clone();
        self.on_connect(move |s: Socket, Auth(auth): Auth<Option<Value>>| {
            let h = h1.clone();
            async move { h.on_connect(&s, auth).await }
        });
        let h2 = h.clone();
        self.on_any(
            move |s: Socket, Event(event): Event, Args(args): Args<Vec<Value>>| {
                let h = h2.clone();
                async move { EventOutcome(h.on_event(&s, &event, args).await) }
            },
        );
        self.on_disconnect(move |s: Socket, reason: DisconnectReason| {
            let h = h.clone();
            async move { h.on_disconnect(&s, reason).await }
        });
        self
    }
}
