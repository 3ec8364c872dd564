//! Extractors: the types a handler lists as arguments to say what it needs.
//!
//! | extractor | gives | where |
//! |---|---|---|
//! | [`Socket`] | the socket that sent the event | every handler |
//! | [`Data<T>`] | the next positional argument, deserialized | events |
//! | [`Args<T>`] | all remaining arguments as a sequence (`Vec<Value>`, a tuple) | events |
//! | [`Event`] | the event's name (for catch-all handlers) | events |
//! | [`Auth<T>`] | the CONNECT payload (`auth` in the client) | connect handlers, middlewares |
//! | [`DisconnectReason`] | why the socket left | disconnect handler |
//! | [`HandlerError`] | what failed | error handlers |
//! | [`State<T>`] | shared application state given to the builder | every handler |
//! | [`SocketIo`] | the server, to emit anywhere | every handler |
//!
//! Several `Data` arguments take the positional arguments in order:
//!
//! ```
//! use sockio::{Data, Socket};
//! # fn f(io: &sockio::SocketIo) {
//! // client: socket.emit("move", "knight", 3, 4)
//! io.on("move", |s: Socket, Data(piece): Data<String>, Data(x): Data<u8>, Data(y): Data<u8>| async move {
//!     s.emit("moved", &(piece, x, y)).await
//! });
//! # }
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::errors::HandlerError;
use crate::protocol::{self, Value};
use crate::socket::{DisconnectReason, Socket};
use crate::SocketIo;

/// What a handler call can draw from. Built by the server; handlers see it
/// only through extractors.
pub struct Context {
    /// The socket, except for server-side events (from other nodes).
    pub(crate) socket: Option<Socket>,
    /// The server, when there is no socket to reach it through.
    pub(crate) io: Option<std::sync::Arc<crate::io::IoInner>>,
    /// The namespace's handlers, when there is no socket (server-side events).
    pub(crate) ns_handlers: Option<Arc<crate::ns::Handlers>>,
    pub(crate) event: Option<Arc<str>>,
    pub(crate) args: Vec<Value>,
    pub(crate) cursor: usize,
    pub(crate) auth: Option<Value>,
    pub(crate) reason: Option<DisconnectReason>,
    pub(crate) error: Option<HandlerError>,
    /// The ack id of the event being handled.
    pub(crate) ack_id: Option<u64>,
    /// Set when a handler takes the [`AckSender`].
    pub(crate) ack_claim: Option<Arc<AtomicBool>>,
}

impl Context {
    pub(crate) fn new(socket: Socket) -> Self {
        Context {
            socket: Some(socket),
            io: None,
            ns_handlers: None,
            event: None,
            args: Vec::new(),
            cursor: 0,
            auth: None,
            reason: None,
            error: None,
            ack_id: None,
            ack_claim: None,
        }
    }

    /// A context without a socket: a server-side event sent by another node.
    pub(crate) fn server(io: std::sync::Arc<crate::io::IoInner>) -> Self {
        Context {
            socket: None,
            io: Some(io),
            ns_handlers: None,
            event: None,
            args: Vec::new(),
            cursor: 0,
            auth: None,
            reason: None,
            error: None,
            ack_id: None,
            ack_claim: None,
        }
    }

    /// The handlers of the namespace in play.
    pub(crate) fn handlers(&self) -> Option<Arc<crate::ns::Handlers>> {
        match &self.socket {
            Some(s) => Some(s.0.ns.handlers.clone()),
            None => self.ns_handlers.clone(),
        }
    }

    pub(crate) fn io_inner(&self) -> Result<std::sync::Arc<crate::io::IoInner>, String> {
        match (&self.socket, &self.io) {
            (Some(s), _) => Ok(s.io_inner()),
            (None, Some(io)) => Ok(io.clone()),
            (None, None) => Err("the server is gone".into()),
        }
    }

    fn socket(&self) -> Result<&Socket, String> {
        self.socket
            .as_ref()
            .ok_or_else(|| "no Socket here: server-side events come from another server".into())
    }
}

/// A type that a handler can take as an argument.
pub trait FromContext: Sized + Send + 'static {
    /// Extracts the value; an error (a description) sends the event to the
    /// error handler.
    fn from_context(ctx: &mut Context) -> Result<Self, String>;
}

impl FromContext for Socket {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        ctx.socket().cloned()
    }
}

impl FromContext for SocketIo {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        ctx.io_inner().map(SocketIo::from_inner)
    }
}

/// The next positional argument of the event, deserialized into `T`.
/// A missing argument deserializes from `null` (so `Data<Option<T>>` accepts it).
/// Binary values deserialize into `bytes::Bytes` or `Vec<u8>` fields at any
/// depth, and stay [`Value::Binary`] in a [`Value`] (`Data<Value>`, or a
/// `Value` field of a struct).
#[derive(Debug, Clone)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromContext for Data<T> {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        let i = ctx.cursor;
        ctx.cursor += 1;
        let v = ctx.args.get_mut(i).map(Value::take).unwrap_or(Value::Null);
        // `Data<Value>` takes the argument as it is, no conversion.
        let mut slot = Some(v);
        if let Some(t) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<T>>() {
            return Ok(Data(t.take().expect("filled above")));
        }
        protocol::from_value(slot.take().unwrap_or_default())
            .map(Data)
            .map_err(|e| format!("argument {}: {e}", i + 1))
    }
}

/// All remaining arguments of the event, deserialized as a sequence: a
/// `Vec<Value>` to take them verbatim (binaries included), a tuple for a
/// fixed number of arguments.
///
/// Emitted, `Args(vec)` is several arguments (one per element), so an
/// argument list can be passed on unchanged:
///
/// ```
/// use sockio::{Args, Socket, Value};
/// # fn f(io: &sockio::SocketIo) {
/// io.on("echo-emit", |s: Socket, Args(args): Args<Vec<Value>>| async move {
///     s.emit("echo-back", &Args(args)).await
/// });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Args<T>(pub T);

impl<T: serde::Serialize> serde::Serialize for Args<Vec<T>> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(self.0.len())?;
        for v in &self.0 {
            t.serialize_element(v)?;
        }
        t.end()
    }
}

impl<T: DeserializeOwned + Send + 'static> FromContext for Args<T> {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        let start = ctx.cursor.min(ctx.args.len());
        ctx.cursor = ctx.args.len();
        let rest: Vec<Value> = if start == 0 {
            std::mem::take(&mut ctx.args)
        } else {
            ctx.args.drain(start..).collect()
        };
        // Fast path: `Args<Vec<Value>>` takes the arguments as they are.
        let mut slot = Some(rest);
        if let Some(t) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<T>>() {
            return Ok(Args(t.take().expect("filled above")));
        }
        protocol::from_value(Value::Array(slot.take().unwrap_or_default()))
            .map(Args)
            .map_err(|e| format!("arguments: {e}"))
    }
}

/// The acknowledgement of the event being handled, to send when the handler
/// likes (Node's ack callback): move it into a task, send it after a
/// database call, or never. A handler that takes it is not acknowledged by
/// its return value. If the handler fails before sending it, the error
/// handler's return value is the ack, as for other handlers.
///
/// ```
/// use std::time::Duration;
/// use sockio::{AckSender, Data};
/// # fn f(io: &sockio::SocketIo) {
/// // client: socket.emit("slow-add", 2, 3, (sum) => ...)
/// io.on("slow-add", |Data(a): Data<i64>, Data(b): Data<i64>, ack: AckSender| async move {
///     tokio::spawn(async move {
///         tokio::time::sleep(Duration::from_millis(10)).await;
///         let _ = ack.send(&(a + b));
///     });
/// });
/// # }
/// ```
#[must_use = "the client waits for this acknowledgement: send it, or drop it on purpose"]
pub struct AckSender {
    socket: Option<Socket>,
    id: Option<u64>,
    claim: Arc<AtomicBool>,
}

impl AckSender {
    /// Whether the client asked for an acknowledgement (when it did not,
    /// [`AckSender::send`] does nothing).
    pub fn wanted(&self) -> bool {
        self.id.is_some()
    }

    /// Sends the acknowledgement with `data` as its arguments (a tuple is
    /// several arguments, `()` none), once.
    ///
    /// # Errors
    ///
    /// [`EmitError::Disconnected`](crate::EmitError::Disconnected) when the
    /// socket is gone, [`EmitError::Serialize`](crate::EmitError::Serialize)
    /// when `data` does not serialize, [`EmitError::AlreadyAcknowledged`](crate::EmitError::AlreadyAcknowledged)
    /// when the error handler already answered.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), crate::EmitError> {
        let (Some(socket), Some(id)) = (&self.socket, self.id) else {
            return Ok(());
        };
        let args = protocol::to_args(data)?;
        if self.claim.swap(true, Ordering::AcqRel) {
            return Err(crate::EmitError::AlreadyAcknowledged);
        }
        socket.send_ack(id, args)
    }
}

impl std::fmt::Debug for AckSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSender").field("id", &self.id).finish()
    }
}

impl FromContext for AckSender {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        let claim = ctx.ack_claim.get_or_insert_with(Default::default).clone();
        Ok(AckSender {
            socket: ctx.socket.clone(),
            id: ctx.ack_id,
            claim,
        })
    }
}

/// The name of the event being handled (useful in catch-all handlers).
#[derive(Debug, Clone)]
pub struct Event(pub String);

impl FromContext for Event {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        Ok(Event(ctx.event.as_deref().unwrap_or_default().to_owned()))
    }
}

/// The payload the client sent with its CONNECT packet (`auth` in
/// socket.io-client; the query of the namespace URL for 1.x/2.x clients),
/// deserialized into `T`. No payload deserializes from `null`.
#[derive(Debug, Clone)]
pub struct Auth<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromContext for Auth<T> {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        let v = ctx
            .auth
            .clone()
            .or_else(|| ctx.socket.as_ref()?.auth().cloned())
            .unwrap_or(Value::Null);
        protocol::from_value(v)
            .map(Auth)
            .map_err(|e| format!("auth: {e}"))
    }
}

impl FromContext for DisconnectReason {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        ctx.reason
            .ok_or_else(|| "DisconnectReason is only available in disconnect handlers".into())
    }
}

impl FromContext for HandlerError {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        ctx.error
            .take()
            .ok_or_else(|| "HandlerError is only available in error handlers".into())
    }
}

/// Shared application state registered with
/// [`crate::SocketIoBuilder::state`] (Flask's `app` / `g`), cloned for each call:
/// wrap it in an `Arc` or use types that are cheap to clone (a database pool).
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromContext for State<T> {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        ctx.io_inner()?
            .state
            .read()
            .unwrap()
            .get::<T>()
            .cloned()
            .map(State)
            .ok_or_else(|| {
                format!(
                    "no state of type {} was registered (SocketIoBuilder::state or SocketIo::insert_state)",
                    std::any::type_name::<T>()
                )
            })
    }
}
