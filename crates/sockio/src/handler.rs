//! Handlers: async functions whose arguments are extractors ([`FromContext`])
//! and whose return value becomes the acknowledgement ([`IntoReply`]) or the
//! connection's verdict ([`IntoConnect`]).
//!
//! Handlers are registered once per namespace, not per socket, and stored type
//! erased, so neither the adapter nor any other server type shows up in a
//! handler's signature.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;

use crate::errors::{ConnectError, HandlerErrorKind};
use crate::extract::{Context, FromContext};
use crate::protocol::{self, Value};

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An async function usable as a handler: every argument implements
/// [`FromContext`], and the function is `Clone + Send + Sync + 'static`.
///
/// Implemented for functions and closures of up to 8 arguments; you do not
/// implement it yourself.
pub trait Handler<T>: Clone + Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// The function's future.
    type Future: Future<Output = Self::Output> + Send + 'static;
    /// Extracts the arguments from the context and calls the function.
    /// An extraction failure is the error's description.
    fn call(&self, ctx: &mut Context) -> Result<Self::Future, String>;
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_variables, unused_mut)]
        impl<F, Fut, $($ty,)*> Handler<($($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: Send + 'static,
            $($ty: FromContext,)*
        {
            type Output = Fut::Output;
            type Future = Fut;
            fn call(&self, ctx: &mut Context) -> Result<Fut, String> {
                $(let $ty = $ty::from_context(ctx)?;)*
                Ok((self)($($ty,)*))
            }
        }
    };
}

impl_handler!();
impl_handler!(T1);
impl_handler!(T1, T2);
impl_handler!(T1, T2, T3);
impl_handler!(T1, T2, T3, T4);
impl_handler!(T1, T2, T3, T4, T5);
impl_handler!(T1, T2, T3, T4, T5, T6);
impl_handler!(T1, T2, T3, T4, T5, T6, T7);
impl_handler!(T1, T2, T3, T4, T5, T6, T7, T8);

/// What an event handler returns: its acknowledgement arguments, or a failure
/// that goes to the error handler. The rules are Flask-SocketIO's (a Python
/// handler's return value):
///
/// | returned | acknowledged with | Python |
/// |---|---|---|
/// | `()`, `None`, [`Value::Null`] | no arguments (`43<id>[]`) | `return` / `return None` |
/// | `Some(x)` | what `x` gives | |
/// | a tuple `(a, b)` | two arguments | `return a, b` |
/// | a string, number, `bool`, [`Value`], [`crate::SocketId`], `Vec<T>`, a map | one argument (a `Vec` is one array) | `return x` |
/// | [`Ack`]`(x)` for any `Serialize` `x` | one argument (several for a tuple) | |
/// | [`crate::Args`]`(vec)` | one argument per element | |
/// | `Result<T, E>` | `T`'s rule, or `E` to the error handler | `raise` |
///
/// To send `null` itself as the one argument, return `Ack((Value::Null,))`.
/// A handler that takes the [`crate::AckSender`] acknowledges through it,
/// not by its return value.
pub trait IntoReply {
    /// The acknowledgement arguments, or why the handler failed.
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind>;
}

/// Wraps a handler's result that should be sent as the acknowledgement,
/// following Flask-SocketIO's rule: a tuple is several arguments, `()` and
/// `None` none, anything else one argument.
///
/// ```
/// use sockio::{Ack, Data, Socket};
/// # fn f(io: &sockio::SocketIo) {
/// #[derive(serde::Serialize)]
/// struct Score { points: u32 }
/// io.on("score", |Data(name): Data<String>| async move { Ack(Score { points: name.len() as u32 }) });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Ack<T>(pub T);

fn serialize_failed(e: protocol::ProtocolError) -> HandlerErrorKind {
    HandlerErrorKind::Failed(Arc::new(e))
}

impl IntoReply for () {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        Ok(Vec::new())
    }
}

impl<T: Serialize> IntoReply for Ack<T> {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        protocol::to_args(&self.0).map_err(serialize_failed)
    }
}

impl<T: Serialize + 'static> IntoReply for crate::Args<Vec<T>> {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        // `Args<Vec<Value>>` (an echo) moves its values, no conversion.
        let mut slot = Some(self.0);
        if let Some(v) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Vec<Value>>>()
        {
            return Ok(v.take().unwrap_or_default());
        }
        slot.unwrap_or_default()
            .iter()
            .map(protocol::to_value)
            .collect::<Result<_, _>>()
            .map_err(serialize_failed)
    }
}

impl<T: IntoReply> IntoReply for Option<T> {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        match self {
            Some(t) => t.into_reply(),
            None => Ok(Vec::new()),
        }
    }
}

/// The error side of a handler's `Result`: anything that converts into a
/// boxed error (every `std::error::Error`, `String`, `&str`, `anyhow::Error`).
/// The error handler can downcast it ([`crate::HandlerError::downcast_ref`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<T: IntoReply, E: Into<BoxError>> IntoReply for Result<T, E> {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        match self {
            Ok(t) => t.into_reply(),
            Err(e) => Err(HandlerErrorKind::Failed(Arc::from(e.into()))),
        }
    }
}

impl IntoReply for Value {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        Ok(match self {
            Value::Null => Vec::new(),
            v => vec![v],
        })
    }
}

macro_rules! reply_one {
    ($($t:ty),*) => {$(
        impl IntoReply for $t {
            fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
                Ok(vec![Value::from(self)])
            }
        }
    )*};
}
reply_one!(
    String,
    &'static str,
    bool,
    char,
    i8,
    i16,
    i32,
    i64,
    isize,
    u8,
    u16,
    u32,
    u64,
    usize,
    f32,
    f64,
    bytes::Bytes,
    crate::value::Map,
    crate::SocketId,
    serde_json::Value
);

impl<T: Serialize> IntoReply for Vec<T> {
    /// One argument: the array (Python's `return [1, 2]`). Return
    /// [`crate::Args`]`(vec)` for one argument per element.
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        protocol::to_value(&self)
            .map(|v| vec![v])
            .map_err(serialize_failed)
    }
}

impl<K: Serialize, V: Serialize, S> IntoReply for std::collections::HashMap<K, V, S> {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        protocol::to_value(&self)
            .map(|v| vec![v])
            .map_err(serialize_failed)
    }
}

impl<K: Serialize, V: Serialize> IntoReply for std::collections::BTreeMap<K, V> {
    fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
        protocol::to_value(&self)
            .map(|v| vec![v])
            .map_err(serialize_failed)
    }
}

macro_rules! reply_tuple {
    ($($t:ident),+) => {
        #[allow(non_snake_case)]
        impl<$($t: Serialize),+> IntoReply for ($($t,)+) {
            fn into_reply(self) -> Result<Vec<Value>, HandlerErrorKind> {
                let ($($t,)+) = self;
                Ok(vec![$(protocol::to_value(&$t).map_err(serialize_failed)?,)+])
            }
        }
    };
}
reply_tuple!(A);
reply_tuple!(A, B);
reply_tuple!(A, B, C);
reply_tuple!(A, B, C, D);
reply_tuple!(A, B, C, D, E);
reply_tuple!(A, B, C, D, E, F);

/// What a connect handler or middleware returns: accept or refuse.
///
/// - `()` and `true` accept;
/// - `false` refuses with the message "Connection rejected by server"
///   (Flask-SocketIO's `return False`);
/// - `Err(e)` refuses with `e` converted into a [`ConnectError`] (a message
///   and optional data).
pub trait IntoConnect {
    /// `Ok` to accept, the refusal otherwise.
    fn into_connect(self) -> Result<(), ConnectError>;
}

impl IntoConnect for () {
    fn into_connect(self) -> Result<(), ConnectError> {
        Ok(())
    }
}

impl IntoConnect for bool {
    fn into_connect(self) -> Result<(), ConnectError> {
        if self {
            Ok(())
        } else {
            Err(ConnectError::new("Connection rejected by server"))
        }
    }
}

impl<T: IntoConnect, E: Into<ConnectError>> IntoConnect for Result<T, E> {
    fn into_connect(self) -> Result<(), ConnectError> {
        match self {
            Ok(t) => t.into_connect(),
            Err(e) => Err(e.into()),
        }
    }
}

impl From<&str> for ConnectError {
    fn from(s: &str) -> Self {
        ConnectError::new(s)
    }
}

impl From<String> for ConnectError {
    fn from(s: String) -> Self {
        ConnectError::new(s)
    }
}

/// A stored event or error handler: extraction, then one boxed future that
/// runs the handler and hands its result to the [`Completion`] (ack, error
/// handler) made of the context. An extraction failure gives the completion
/// back with the reason.
pub(crate) type ErasedEvent = Arc<
    dyn Fn(Context, CompletionKind) -> Result<BoxFuture<()>, (String, Completion)> + Send + Sync,
>;

/// What a [`Completion`] takes from elsewhere than the handler's context.
pub(crate) struct CompletionKind {
    /// This completes an error handler (whose failure is only logged).
    pub for_error_handler: bool,
    /// When the event arrived, if handler latency is measured (`metrics(true)`).
    pub started: Option<std::time::Instant>,
}

/// What happens with an event handler's result: the acknowledgement, or the
/// error handler (see `client.rs`).
pub(crate) struct Completion {
    pub socket: crate::Socket,
    pub event: Arc<str>,
    pub ack_id: Option<u64>,
    /// Set when the handler took the [`crate::AckSender`]: its return value
    /// is not the ack, and whoever claims this first sends the one ack.
    pub ack_claim: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// This completes an error handler (whose failure is only logged).
    pub for_error_handler: bool,
    /// When the event arrived, if handler latency is measured (`metrics(true)`).
    pub started: Option<std::time::Instant>,
}

impl Completion {
    /// The completion of the event whose handler was called with `ctx`.
    fn new(ctx: Context, kind: CompletionKind) -> Self {
        Completion {
            socket: ctx
                .socket
                .expect("an event handler's context has its socket"),
            event: ctx.event.unwrap_or_default(),
            ack_id: ctx.ack_id,
            ack_claim: ctx.ack_claim,
            for_error_handler: kind.for_error_handler,
            started: kind.started,
        }
    }
}

/// A stored connect handler or middleware.
pub(crate) type ErasedConnect =
    Arc<dyn Fn(&mut Context) -> Result<BoxFuture<Result<(), ConnectError>>, String> + Send + Sync>;
/// A stored server-side event handler (an event another node sent with
/// `server_side_emit`): its reply is the acknowledgement sent back.
pub(crate) type ErasedServerEvent = Arc<
    dyn Fn(&mut Context) -> Result<BoxFuture<Result<Vec<Value>, HandlerErrorKind>>, String>
        + Send
        + Sync,
>;
/// A stored disconnect handler.
pub(crate) type ErasedDisconnect =
    Arc<dyn Fn(&mut Context) -> Result<BoxFuture<()>, String> + Send + Sync>;

pub(crate) fn erase_event<H, T>(h: H) -> ErasedEvent
where
    H: Handler<T>,
    H::Output: IntoReply,
{
    Arc::new(move |mut ctx, kind| {
        let called = h.call(&mut ctx);
        // Extraction is over: the socket and the event name move to the
        // completion, uncopied.
        let done = Completion::new(ctx, kind);
        let fut = match called {
            Ok(fut) => fut,
            Err(e) => return Err((e, done)),
        };
        Ok(Box::pin(async move {
            use futures_util::FutureExt;
            let result = match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                Ok(out) => out.into_reply(),
                Err(p) => Err(HandlerErrorKind::Panicked(crate::socket::panic_message(&p))),
            };
            if let Some(on_error) = done.finish(result) {
                on_error.await;
            }
        }))
    })
}

pub(crate) fn erase_server_event<H, T>(h: H) -> ErasedServerEvent
where
    H: Handler<T>,
    H::Output: IntoReply,
{
    Arc::new(move |ctx| {
        let fut = h.call(ctx)?;
        Ok(Box::pin(async move {
            use futures_util::FutureExt;
            match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
                Ok(out) => out.into_reply(),
                Err(p) => Err(HandlerErrorKind::Panicked(crate::socket::panic_message(&p))),
            }
        }))
    })
}

pub(crate) fn erase_connect<H, T>(h: H) -> ErasedConnect
where
    H: Handler<T>,
    H::Output: IntoConnect,
{
    Arc::new(move |ctx| {
        let fut = h.call(ctx)?;
        Ok(Box::pin(async move { fut.await.into_connect() }))
    })
}

pub(crate) fn erase_disconnect<H, T>(h: H) -> ErasedDisconnect
where
    H: Handler<T>,
{
    Arc::new(move |ctx| {
        let fut = h.call(ctx)?;
        Ok(Box::pin(async move {
            fut.await;
        }))
    })
}
