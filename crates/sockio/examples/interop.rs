//! The interop example server (`../shared/INTEROP-SERVER.md` and
//! `LEGACY-SERVER.md`): namespaces `/`, `/chat` and `/private` (auth token
//! `secret`), the `welcome` event on connect, and the events `echo`,
//! `echo-emit`, `join`, `leave`, `to-room`, `request-ack`, `disconnect-me`.
//! Socket.IO v5 and (for socket.io-client 1.x/2.x) v4 clients on `--port`;
//! the same contract with the msgpack parser on `--msgpack-port`, and with
//! connection state recovery on `--recovery-port`, and with WebSocket
//! permessage-deflate on `--deflate-port`.
//!
//! With `--redis-url` the server is one node of a cluster on that Redis
//! (`../shared/CLUSTER-SERVER.md`): sockio-redis's adapter, wire-compatible
//! with Node's `@socket.io/redis-adapter`, and the cluster events
//! `broadcast`, `count-sockets`, `remote-join`, `remote-disconnect`,
//! `server-side-emit`, `bcast-ack`, plus `ping-servers` between nodes.
//!
//! `cargo run --release -p sockio --example interop -- --port 3001 --msgpack-port 3002`
//! `cargo run -p sockio --example interop -- --port 3001 --redis-url redis://127.0.0.1:6379 --name A`
//! (`--adapter streams --recovery`: Redis Streams, connection state recovery across nodes)

use std::time::Duration;

use clap::Parser as _;
use sockio::{Parser, SocketIo};

#[path = "shared/contracts.rs"]
mod contracts;

#[derive(clap::Parser)]
struct Opts {
    /// Port of the main (JSON parser, Engine.IO v3 and v4) endpoint.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    port: u16,
    /// Port of the msgpack endpoint (none when absent).
    #[arg(long)]
    msgpack_port: Option<u16>,
    /// Port of an endpoint with connection state recovery on (none when
    /// absent): the same contract, each event carrying its offset last.
    #[arg(long)]
    recovery_port: Option<u16>,
    /// Port of an endpoint with WebSocket permessage-deflate on (none when
    /// absent): the same contract.
    #[arg(long)]
    deflate_port: Option<u16>,
    /// Join the cluster on this Redis (`redis://127.0.0.1:6379`).
    #[arg(long, env = "REDIS_URL")]
    redis_url: Option<String>,
    /// This node's name, returned by `ping-servers` (default `node-<port>`).
    #[arg(long, env = "NAME")]
    name: Option<String>,
    /// Adapter channel prefix (and, for `--adapter streams`, the stream's name).
    #[arg(long, default_value = "socket.io")]
    key: String,
    /// `classic` (Redis pub/sub, Node's `@socket.io/redis-adapter`) or
    /// `streams` (Redis Streams, Node's `@socket.io/redis-streams-adapter`).
    #[arg(long, default_value = "classic")]
    adapter: String,
    /// Connection state recovery on the cluster node (with `--adapter
    /// streams`, a client recovers on any node of the cluster).
    #[arg(long)]
    recovery: bool,
}

fn server(parser: Parser, eio3: bool) -> Result<SocketIo, sockio::ConfigError> {
    let io = builder(parser, eio3).build()?;
    contracts::interop_handlers(&io);
    Ok(io)
}

fn builder(parser: Parser, eio3: bool) -> sockio::SocketIoBuilder {
    SocketIo::builder()
        .ping_interval(Duration::from_millis(1000))
        .ping_timeout(Duration::from_millis(2000))
        .max_payload(2_000_000)
        .allow_eio3(eio3)
        .parser(parser)
        .cors_allowed_origins(["*"])
}

fn spawn_endpoint(io: SocketIo, port: u16, what: &'static str) {
    tokio::spawn(async move {
        if let Err(e) = sockio::serve(io, ("127.0.0.1", port)).await {
            eprintln!("{what} endpoint: {e}");
            std::process::exit(1);
        }
    });
}

/// The main endpoint as one node of a cluster on the Redis at `url`.
async fn cluster_node(opts: &Opts, url: &str) -> Result<SocketIo, Box<dyn std::error::Error>> {
    let mut b = builder(Parser::Json, true);
    if opts.recovery {
        b = b.connection_state_recovery(sockio::RecoveryConfig::default());
    }
    let b = match opts.adapter.as_str() {
        "streams" => b.adapter(
            sockio_redis::RedisStreamsAdapter::builder(url)
                .stream_name(opts.key.clone())
                .channel_prefix(opts.key.clone())
                .build()
                .await?,
        ),
        "classic" => b.adapter(
            sockio_redis::RedisAdapter::builder(url)
                .key(opts.key.clone())
                .build()
                .await?,
        ),
        other => return Err(format!("--adapter {other}: use classic or streams").into()),
    };
    let io = b.build()?;
    contracts::interop_handlers(&io);
    let name = opts
        .name
        .clone()
        .unwrap_or_else(|| format!("node-{}", opts.port));
    contracts::cluster_handlers(&io, &name);
    io.adapter_ready().await?;
    eprintln!(
        "cluster node {name} on Redis {url} ({} adapter{})",
        opts.adapter,
        if opts.recovery { ", recovery" } else { "" }
    );
    Ok(io)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let opts = Opts::parse();
    if let Some(port) = opts.msgpack_port {
        spawn_endpoint(server(Parser::MsgPack, false)?, port, "msgpack");
    }
    if let Some(port) = opts.recovery_port {
        let io = builder(Parser::Json, false)
            .connection_state_recovery(sockio::RecoveryConfig::default())
            .build()?;
        contracts::interop_handlers(&io);
        spawn_endpoint(io, port, "recovery");
    }
    if let Some(port) = opts.deflate_port {
        let io = builder(Parser::Json, false)
            .per_message_deflate(true)
            .build()?;
        contracts::interop_handlers(&io);
        spawn_endpoint(io, port, "deflate");
    }
    let io = match &opts.redis_url {
        Some(url) => cluster_node(&opts, url).await?,
        None => server(Parser::Json, true)?,
    };
    eprintln!("interop server on http://127.0.0.1:{}", opts.port);
    sockio::serve(io, ("127.0.0.1", opts.port)).await?;
    Ok(())
}
