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

/// What went wrong in an event handler; given to the error handlers
/// ([`crate::Namespace::on_error`], [`crate::SocketIoBuilder::on_error`]).
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
    /// The handler returned an error.
    Failed(String),
    /// The handler panicked.
    Panicked(String),
    /// No handler is registered for the event (only reported when the client asked for an ack).
    NoHandler,
}

impl HandlerError {
    /// A one-line description, as sent in the default error acknowledgement.
    pub fn message(&self) -> String {
        match &self.kind {
            HandlerErrorKind::BadArguments(m) => {
                format!("invalid arguments for event `{}`: {m}", self.event)
            }
            HandlerErrorKind::Failed(m) => m.clone(),
            HandlerErrorKind::Panicked(m) => format!("handler for `{}` panicked: {m}", self.event),
            HandlerErrorKind::NoHandler => format!("no handler for event `{}`", self.event),
        }
    }
}

impl std::fmt::Display for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for HandlerError {}

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
