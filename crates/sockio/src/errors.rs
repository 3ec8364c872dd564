//! Errors of the Socket.IO layer: one enum per concern, messages that say what to do.

use crate::protocol::{ProtocolError, Value};

/// An emit could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The data could not be turned into Socket.IO arguments.
    #[error("cannot serialize the emitted data: {0}")]
    Serialize(#[from] ProtocolError),
    /// The socket is disconnected.
    #[error("the socket is disconnected")]
    Disconnected,
    /// The event name is reserved (`connect`, `connect_error`, `disconnect`,
    /// `disconnecting`, `newListener`, `removeListener`): the client would not
    /// deliver it to its handlers. Pick another name.
    #[error("`{0}` is a reserved event name; pick another name")]
    ReservedEvent(String),
    /// The acknowledgement was already sent (by the error handler, after the
    /// handler failed).
    #[error("the acknowledgement was already sent")]
    AlreadyAcknowledged,
    /// The cluster adapter failed to publish the packet (local sockets were still served).
    #[error("adapter error: {0}")]
    Adapter(#[from] AdapterError),
}

/// Waiting for an acknowledgement failed.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// The client did not answer within the timeout.
    #[error("no acknowledgement within the timeout")]
    Timeout,
    /// The socket disconnected before answering.
    #[error("the socket disconnected before acknowledging")]
    Disconnected,
    /// The packet could not be sent.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The socket already owes `max_pending_acks` acknowledgements (a
    /// client that does not answer them): this emit was not sent.
    #[error("too many acknowledgements pending for this socket")]
    TooManyPending,
    /// The acknowledgement arguments did not decode into the expected type.
    #[error("cannot decode the acknowledgement: {0}")]
    Decode(ProtocolError),
}

/// A cluster adapter operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The broker could not be reached.
    #[error("the adapter's broker is unreachable: {0}")]
    Unavailable(String),
    /// Not every node answered a cluster request in time.
    #[error("the cluster request timed out")]
    Timeout,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// The server refused a connection to a namespace: the client receives a
/// CONNECT_ERROR packet `{"message": ..., "data": ...}` (a plain string for
/// protocol v4 clients).
///
/// ```
/// use sockio::ConnectError;
/// let e = ConnectError::new("invalid token").with_data(serde_json::json!({"retry": false}));
/// assert_eq!(e.message(), "invalid token");
/// ```
#[derive(Debug, Clone)]
pub struct ConnectError {
    message: String,
    data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }
    /// Attaches data the client receives as `err.data`.
    pub fn with_data<T: serde::Serialize>(mut self, data: T) -> Self {
        self.data = crate::protocol::to_value(&data).ok();
        self
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The data, if any.
    pub fn data(&self) -> Option<&Value> {
        self.data.as_ref()
    }
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// `?` on an emit in a connect handler refuses the connection with the
/// error's text.
impl From<EmitError> for ConnectError {
    fn from(e: EmitError) -> Self {
        ConnectError::new(e.to_string())
    }
}

impl From<AckError> for ConnectError {
    fn from(e: AckError) -> Self {
        ConnectError::new(e.to_string())
    }
}

impl From<AdapterError> for ConnectError {
    fn from(e: AdapterError) -> Self {
        ConnectError::new(e.to_string())
    }
}

impl From<ProtocolError> for ConnectError {
    fn from(e: ProtocolError) -> Self {
        ConnectError::new(e.to_string())
    }
}

impl From<std::io::Error> for ConnectError {
    fn from(e: std::io::Error) -> Self {
        ConnectError::new(e.to_string())
    }
}

/// What went wrong in an event handler; given to the error handlers
/// ([`crate::Namespace::on_error`], [`crate::SocketIo::on_error_default`]).
///
/// The error a handler returned is kept as it was: an error handler can
/// tell its type, as Flask-SocketIO's `isinstance(e, ...)`:
///
/// ```
/// use sockio::{Data, HandlerError, Value, value};
/// #[derive(Debug, thiserror::Error)]
/// #[error("room {0} is full")]
/// struct RoomFull(String);
/// # fn f(io: &sockio::SocketIo) {
/// io.on("join", |Data(room): Data<String>| async move {
///     Err::<(), _>(RoomFull(room))
/// });
/// io.on_error_default(|e: HandlerError| async move {
///     match e.downcast_ref::<RoomFull>() {
///         Some(full) => value!({"error": "full", "room": full.0}),
///         None => value!({"error": e.to_string()}),
///     }
/// });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct HandlerError {
    /// The event being handled.
    pub event: String,
    /// What failed.
    pub kind: HandlerErrorKind,
}

/// The kind of a [`HandlerError`].
#[derive(Debug, Clone)]
pub enum HandlerErrorKind {
    /// The event's arguments did not decode into the handler's types.
    BadArguments(String),
    /// The handler returned an error (kept, for [`HandlerError::downcast_ref`]).
    Failed(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>),
    /// The handler panicked.
    Panicked(String),
}

impl HandlerError {
    /// A one-line description, as sent in the default error acknowledgement.
    pub fn message(&self) -> String {
        match &self.kind {
            HandlerErrorKind::BadArguments(m) => {
                format!("invalid arguments for event `{}`: {m}", self.event)
            }
            HandlerErrorKind::Failed(e) => e.to_string(),
            HandlerErrorKind::Panicked(m) => format!("handler for `{}` panicked: {m}", self.event),
        }
    }

    /// The error the handler returned, if it returned one of type `E`.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match &self.kind {
            HandlerErrorKind::Failed(e) => e.downcast_ref::<E>(),
            _ => None,
        }
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for HandlerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            HandlerErrorKind::Failed(e) => Some(&**e),
            _ => None,
        }
    }
}

/// An invalid server option.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An Engine.IO option is invalid.
    #[error(transparent)]
    Engine(#[from] sockio_engine::ConfigError),
    /// A Socket.IO option is invalid.
    #[error("invalid option: {0}")]
    Invalid(String),
}
