//! sockio's peer for the side-by-side benchmarks (`../shared/BENCH-SERVER.md`):
//! `echo` acks its arguments, `join` puts the socket in room `bench`, `bcast`
//! emits `msg` to the room. Listens on 127.0.0.1:$PORT with ship settings.
//!
//! With `REDIS_URL` set it joins a cluster on that Redis (sockio-redis's adapter),
//! for the cross-node broadcast scenario (`bench/cluster.sh`).
//!
//! `cargo build --release -p sockio --example bench_peer && PORT=3000 target/release/examples/bench_peer`

use sockio::{Args, Socket, SocketIo, Value};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let threads: usize = std::env::var("WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut builder = SocketIo::builder();
        // For A/B runs of the WebSocket read buffer size.
        if let Some(n) = std::env::var("WS_READ_BUFFER")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            builder = builder.engine_options(|e| e.websocket_read_buffer(n));
        }
        // The features whose cost on the hot path is benchmarked (bench/run.sh
        // peers sockio-metrics and sockio-recovery).
        if std::env::var_os("METRICS").is_some() {
            builder = builder.metrics(true);
        }
        if std::env::var_os("RECOVERY").is_some() {
            builder = builder.connection_state_recovery(sockio::RecoveryConfig::default());
        }
        // PER_MESSAGE_DEFLATE=1: the option on (clients that offer the
        // extension get it; the load generator offers nothing).
        if std::env::var("PER_MESSAGE_DEFLATE").is_ok_and(|v| v == "1") {
            builder = builder.per_message_deflate(true);
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            builder = builder.adapter(sockio_redis::RedisAdapter::new(&url).await?);
        }
        let io = builder.build()?;
        io.on("echo", |a: Args<Vec<Value>>| async move { a });
        io.on("join", |s: Socket| async move { s.join("bench") });
        io.on(
            "bcast",
            |s: Socket, Args(args): Args<Vec<Value>>| async move {
                s.to("bench").include_self().emit("msg", &Args(args)).await
            },
        );
        io.adapter_ready().await?;
        let port: u16 = std::env::var("PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(3000);
        sockio::serve(io, ("127.0.0.1", port)).await?;
        Ok(())
    })
}
