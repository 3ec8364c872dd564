//! # sockio-redis
//!
//! Scale a [`sockio`] server out over Redis, in the exact wire format of
//! Node's `@socket.io/redis-adapter` 8.x and `@socket.io/redis-emitter` 5.x:
//! sockio servers and Node servers share one cluster, and emitters written
//! for Node (or any language speaking that format) reach sockio clients.
//!
//! - [`RedisAdapter`]: the adapter over Redis pub/sub (Node's classic
//!   `createAdapter`). Enabling it is one line in the builder:
//!   `.adapter(RedisAdapter::new("redis://127.0.0.1:6379").await?)`.
//!   Connection state recovery with it is per server.
//! - [`RedisStreamsAdapter`]: the durable variant on Redis Streams (Node's
//!   `@socket.io/redis-streams-adapter` 0.3.x format): a server whose
//!   connection to Redis drops reads what it missed when it is back, and
//!   with connection state recovery on, a client recovers on any server of
//!   the cluster (sessions in Redis, stream entry ids as offsets).
//! - [`Emitter`]: emits to the cluster's clients from a process that is not a
//!   server (a worker, a script).
//!
//! ## When Redis goes away
//!
//! Local delivery never waits on Redis: an emit reaches this server's
//! sockets first, and its publication is queued for a background task. (One
//! exception: with connection state recovery on, the streams adapter's
//! sockets get an event once its stream entry has an id, their offset; not
//! longer than `request_timeout`, and at once while Redis is known to be
//! away.)
//! While Redis is unreachable, publications fail at once
//! ([`sockio::EmitError::Adapter`], the local part done) and cluster requests
//! (`fetch_sockets`, acks from other servers, `server_side_emit_with_ack`)
//! fail with [`sockio::AdapterError::Unavailable`] instead of hanging. The
//! connections reconnect by themselves and resubscribe to every channel;
//! nothing is published twice. Outages are logged (`tracing`, target
//! `sockio_redis`) and counted ([`RedisAdapter::metrics`]).
//!
//! The Redis client is the `redis` crate's `ConnectionManager` (RESP3 with
//! automatic resubscription for the subscriber).
#![deny(missing_docs)]

mod classic;
mod emitter;
mod link;
mod streams;
mod wire;

pub use classic::{RedisAdapter, RedisAdapterBuilder};
pub use emitter::{Emitter, EmitterBuilder};
pub use link::RedisMetrics;
pub use streams::{RedisStreamsAdapter, RedisStreamsAdapterBuilder};
pub use wire::EMITTER_UID;
