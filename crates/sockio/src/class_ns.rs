//! A namespace as a type ([`NamespaceHandler`]), the alternative to loose
//! closures for those who like Flask-SocketIO's class-based `Namespace`: the
//! handlers are the type's associated functions, typed like any handler
//! (extractors in, replies out), and [`This`] gives them the object.
//!
//! ```
//! use sockio::{ConnectError, Data, DisconnectReason, Namespace, NamespaceHandler, Socket, SocketIo, This};
//!
//! // class Chat(Namespace):
//! struct Chat { greeting: String }
//!
//! impl Chat {
//!     // def on_connect(self, auth): emit('hello', self.greeting)
//!     async fn on_connect(this: This<Chat>, s: Socket) -> Result<(), ConnectError> {
//!         s.emit("hello", &this.greeting).await?;
//!         Ok(())
//!     }
//!     // def on_join(self, room): join_room(room); return room
//!     async fn on_join(s: Socket, Data(room): Data<String>) -> String {
//!         s.join(room.as_str());
//!         room
//!     }
//!     // def on_disconnect(self, reason): ...
//!     async fn on_disconnect(s: Socket, reason: DisconnectReason) {
//!         println!("{} left: {reason}", s.id());
//!     }
//! }
//!
//! impl NamespaceHandler for Chat {
//!     fn register(ns: &Namespace) {
//!         ns.on_connect(Self::on_connect)
//!             .on("join", Self::on_join)
//!             .on_disconnect(Self::on_disconnect);
//!     }
//! }
//!
//! let io = SocketIo::builder().build().unwrap();
//! // socketio.on_namespace(Chat('/chat'))
//! io.of("/chat").handler(Chat { greeting: "welcome".into() });
//! ```

use std::any::Any;
use std::sync::Arc;

use crate::extract::{Context, FromContext};
use crate::ns::Namespace;

/// A namespace written as a type (Flask-SocketIO's class-based `Namespace`):
/// [`NamespaceHandler::register`] registers its handlers, which reach the
/// object through [`This`]. Register it with [`Namespace::handler`].
pub trait NamespaceHandler: Send + Sync + 'static {
    /// Registers the type's handlers on `ns` (`ns.on("join", Self::on_join)`, ...).
    fn register(ns: &Namespace);
}

impl Namespace {
    /// Uses a [`NamespaceHandler`] for this namespace: keeps `handler` for
    /// [`This`] and lets it register its handlers.
    pub fn handler<N: NamespaceHandler>(&self, handler: N) -> &Self {
        self.handlers()
            .objects
            .write()
            .unwrap()
            .push(Arc::new(handler) as Arc<dyn Any + Send + Sync>);
        N::register(self);
        self
    }
}

/// The object of the namespace's [`NamespaceHandler`] of type `N` (Python's
/// `self`), for its handlers. Dereferences to `N`.
#[derive(Debug)]
pub struct This<N>(pub Arc<N>);

impl<N> Clone for This<N> {
    fn clone(&self) -> Self {
        This(self.0.clone())
    }
}

impl<N> std::ops::Deref for This<N> {
    type Target = N;
    fn deref(&self) -> &N {
        &self.0
    }
}

impl<N: Send + Sync + 'static> FromContext for This<N> {
    fn from_context(ctx: &mut Context) -> Result<Self, String> {
        let handlers = ctx.handlers();
        let all = ctx.io_inner().ok().map(|io| io.all.clone());
        handlers
            .iter()
            .chain(all.iter())
            .find_map(|h| {
                h.objects
                    .read()
                    .unwrap()
                    .iter()
                    .find_map(|o| o.clone().downcast::<N>().ok())
            })
            .map(This)
            .ok_or_else(|| {
                format!(
                    "no {} was registered with Namespace::handler for this namespace",
                    std::any::type_name::<N>()
                )
            })
    }
}
