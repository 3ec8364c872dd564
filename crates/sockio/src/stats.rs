//! Counters of what the Socket.IO layer refused, dropped or saw fail, read
//! with [`crate::SocketIo::stats`] (the metrics endpoint exports them).
//! Each is a relaxed atomic bumped off the hot path (on a refusal, a
//! failure, a pause), never per delivered message.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// The live counters.
        #[derive(Debug, Default)]
        pub(crate) struct Counters {
            $(pub $name: AtomicU64,)*
        }

        /// A snapshot of the Socket.IO layer's counters since the server
        /// started. Field names are stable (metrics use them).
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Stats {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Counters {
            pub(crate) fn snapshot(&self) -> Stats {
                Stats { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl Stats {
            /// Every counter as `(name, value)`, in declaration order.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$((stringify!($name), self.$name),)*].into_iter()
            }
        }
    };
}

counters! {
    /// CONNECTs to a namespace that does not exist ("Invalid namespace").
    connect_refused_invalid_namespace,
    /// CONNECTs refused by a middleware or connect handler.
    connect_refused_by_handler,
    /// CONNECTs past `max_namespaces_per_connection`.
    connect_refused_too_many_namespaces,
    /// Socket.IO packets that did not decode (the connection was closed).
    packets_invalid,
    /// Packets in a state the protocol forbids (an event before CONNECT, a
    /// second CONNECT): the connection was closed.
    packets_out_of_order,
    /// Events with no handler (ignored).
    events_unhandled,
    /// Event handlers that failed: bad arguments, an error returned, a panic.
    handler_failures,
    /// Of those, panics.
    handler_panics,
    /// Emits with an ack whose answer did not come in time.
    acks_timed_out,
    /// Emits with an ack refused past `max_pending_acks`.
    acks_refused_too_many,
    /// Times a connection's reading was paused at `max_in_flight_events`.
    reads_paused,
    /// Volatile packets dropped for a full send queue.
    volatile_dropped,
    /// Connections closed because their send queue was full ("send queue full").
    send_queue_full,
    /// Sockets that left their namespace at the client's request ("client
    /// namespace disconnect").
    namespace_disconnects_by_client,
    /// Sockets the server disconnected from their namespace ("server
    /// namespace disconnect").
    namespace_disconnects_by_server,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
