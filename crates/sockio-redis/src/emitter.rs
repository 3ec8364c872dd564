//! The emitter: emits to a cluster's clients from a process that is not a
//! server, in the format of Node's `@socket.io/redis-emitter` 5.x.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sockio::adapter::BroadcastOptions;
use sockio::protocol::{to_args, Value, RESERVED_EVENTS};
use sockio::{AdapterError, EmitError, IntoRooms};

use crate::link::{Link, LinkOptions};
use crate::wire::{self, req, Channels, EMITTER_UID};

/// Options of an [`Emitter`]; start with [`Emitter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EmitterBuilder {
    url: String,
    key: String,
    timeout: Duration,
}

impl EmitterBuilder {
    /// Channel prefix (default `socket.io`): the servers' `key`.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// How long one publication may wait for Redis (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Connects to Redis.
    pub async fn build(self) -> Result<Emitter, AdapterError> {
        let link = Link::connect(
            LinkOptions {
                url: self.url,
                publish_queue: 1,
                publish_timeout: self.timeout,
                command_timeout: self.timeout,
            },
            None,
        )
        .await?;
        Ok(Emitter {
            link: Arc::new(link),
            key: Arc::from(self.key.as_str()),
            nsp: "/".into(),
            opts: BroadcastOptions::default(),
        })
    }
}

/// Emits to the clients of a cluster of servers (sockio with
/// [`crate::RedisAdapter`], or Node with `@socket.io/redis-adapter`) from a
/// process that serves no client. Cheap to clone; the operators (`of`, `to`,
/// `except`, `volatile`) return a new emitter.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let emitter = sockio_redis::Emitter::new("redis://127.0.0.1:6379").await?;
/// emitter.emit("time", &"12:00").await?;                    // every client of `/`
/// emitter.of("/chat").to("general").emit("message", &("bot", "hi")).await?;
/// emitter.to("lobby").sockets_join("game-1").await?;        // join a room, cluster-wide
/// emitter.server_side_emit("reload-config", &()).await?;    // the servers' handlers
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Emitter {
    link: Arc<Link>,
    key: Arc<str>,
    nsp: Arc<str>,
    opts: BroadcastOptions,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("key", &self.key)
            .field("nsp", &self.nsp)
            .field("opts", &self.opts)
            .finish()
    }
}

impl Emitter {
    /// Connects with the default options.
    pub async fn new(url: &str) -> Result<Emitter, AdapterError> {
        Self::builder(url).build().await
    }

    /// Starts building an emitter for the Redis at `url`.
    pub fn builder(url: &str) -> EmitterBuilder {
        EmitterBuilder {
            url: url.to_string(),
            key: "socket.io".into(),
            timeout: Duration::from_secs(5),
        }
    }

    /// The same emitter on namespace `nsp` (`"/chat"` or `"chat"`), with no
    /// room selected.
    pub fn of(&self, nsp: &str) -> Emitter {
        let nsp = if nsp.starts_with('/') {
            nsp.to_string()
        } else {
            format!("/{nsp}")
        };
        Emitter {
            link: self.link.clone(),
            key: self.key.clone(),
            nsp: nsp.into(),
            opts: BroadcastOptions::default(),
        }
    }

    /// Targets the sockets in `rooms` (adds to the rooms already targeted).
    pub fn to(&self, rooms: impl IntoRooms) -> Emitter {
        let mut e = self.clone();
        e.opts.rooms.extend(rooms.into_rooms());
        e
    }

    /// Leaves out the sockets in `rooms`.
    pub fn except(&self, rooms: impl IntoRooms) -> Emitter {
        let mut e = self.clone();
        e.opts.except.extend(rooms.into_rooms());
        e
    }

    /// Receivers that cannot take the packet now drop it.
    pub fn volatile(&self) -> Emitter {
        let mut e = self.clone();
        e.opts.volatile = true;
        e
    }

    fn channels(&self) -> Channels {
        Channels::new(&self.key, &self.nsp)
    }

    async fn publish(&self, channel: String, payload: Vec<u8>) -> Result<(), AdapterError> {
        self.link
            .command::<redis::Value>(redis::cmd("PUBLISH").arg(channel).arg(payload))
            .await
            .map(drop)
    }

    /// Emits `event` with `data` (a tuple is several arguments) to the
    /// targeted sockets of every server.
    pub async fn emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_string()));
        }
        let mut args = vec![Value::from(event)];
        args.extend(to_args(data)?);
        let data = Value::Array(args);
        let msg = wire::encode_broadcast(EMITTER_UID, &self.nsp, Some(&data), &self.opts);
        let channel = self.channels().broadcast_channel(&self.opts.rooms);
        self.publish(channel, msg).await?;
        Ok(())
    }

    async fn request(&self, body: serde_json::Value) -> Result<(), AdapterError> {
        self.publish(self.channels().request, body.to_string().into_bytes())
            .await
    }

    /// Makes the targeted sockets join `rooms`, on every server.
    pub async fn sockets_join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms: Vec<String> = rooms.into_rooms().iter().map(|r| r.to_string()).collect();
        self.request(serde_json::json!({
            "type": req::REMOTE_JOIN,
            "opts": wire::opts_json(&self.opts),
            "rooms": rooms,
        }))
        .await
    }

    /// Makes the targeted sockets leave `rooms`, on every server.
    pub async fn sockets_leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        let rooms: Vec<String> = rooms.into_rooms().iter().map(|r| r.to_string()).collect();
        self.request(serde_json::json!({
            "type": req::REMOTE_LEAVE,
            "opts": wire::opts_json(&self.opts),
            "rooms": rooms,
        }))
        .await
    }

    /// Disconnects the targeted sockets from their namespace (`close`: also
    /// close their connection), on every server.
    pub async fn disconnect_sockets(&self, close: bool) -> Result<(), AdapterError> {
        self.request(serde_json::json!({
            "type": req::REMOTE_DISCONNECT,
            "opts": wire::opts_json(&self.opts),
            "close": close,
        }))
        .await
    }

    /// Sends the server-side event `event` with `data` to every server of
    /// the namespace (their [`sockio::Namespace::on_server_side`] handlers;
    /// no acknowledgements, as Node's emitter).
    pub async fn server_side_emit<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<(), EmitError> {
        let mut args = vec![Value::from(event)];
        args.extend(to_args(data)?);
        self.request(serde_json::json!({
            "uid": EMITTER_UID,
            "type": req::SERVER_SIDE_EMIT,
            "data": serde_json::Value::from(Value::Array(args)),
        }))
        .await?;
        Ok(())
    }
}
