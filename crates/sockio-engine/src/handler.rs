//! The trait the layer above implements (CONTRACT, relied on by `sockio`).

use std::sync::Arc;

use crate::{DisconnectReason, Message, Socket};

/// Receives the events of every session of an engine.
///
/// Calls for one session come in order (`on_open`, `on_message`..., then
/// `on_close` exactly once) from the task that reads that session's transport:
/// implementations must not block; spawn work that waits. A handler that
/// cannot keep up pauses the session ([`Socket::pause_reading`]) and resumes
/// it later, rather than queueing without bound.
///
/// Only `Data` and [`on_message`](Self::on_message) must be written:
///
/// ```
/// use std::sync::Arc;
/// use sockio_engine::{EngineHandler, Message, Socket};
///
/// struct Echo;
/// impl EngineHandler for Echo {
///     type Data = ();
///     fn on_message(&self, socket: &Arc<Socket<()>>, msg: Message) {
///         let _ = socket.send(msg);
///     }
/// }
/// ```
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session state, created with `Default` at handshake and reachable
    /// through [`Socket::data`].
    type Data: Default + Send + Sync + 'static;

    /// A session was opened (the handshake has been queued to the client).
    /// Default: nothing.
    fn on_open(&self, socket: &Arc<Socket<Self::Data>>) {
        let _ = socket;
    }

    /// A message packet arrived.
    fn on_message(&self, socket: &Arc<Socket<Self::Data>>, msg: Message);

    /// The session ended; called exactly once per session. Default: nothing.
    fn on_close(&self, socket: &Arc<Socket<Self::Data>>, reason: DisconnectReason) {
        let _ = (socket, reason);
    }

    /// An ASCII-only text equivalent to `text`, if the layer above knows one.
    ///
    /// Engine.IO v3 text polling payloads are read differently by
    /// socket.io-client 1.x (which UTF-8-decodes each record once more) and 2.x
    /// (which does not), and the server cannot tell them apart. A message
    /// made of ASCII reads the same to both, so for those sessions the engine
    /// asks for it; a JSON-based layer can escape non-ASCII characters as
    /// `\uXXXX`. The default keeps the text as it is (what Node does).
    fn ascii_text(&self, text: &str) -> Option<String> {
        let _ = text;
        None
    }
}
