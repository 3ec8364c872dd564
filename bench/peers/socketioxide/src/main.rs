//! socketioxide peer for the sockio benchmark: the three events of BENCH-SERVER.md
//! (`echo`, `join`, `bcast`) on 127.0.0.1:$PORT, default settings, no logging.

use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |s: SocketRef| {
        s.on("echo", async |Data::<Value>(data), ack: AckSender| {
            ack.send(&data).ok();
        });
        s.on(
            "join",
            async |s: SocketRef, Data::<String>(room), ack: AckSender| {
                s.join(room);
                ack.send("ok").ok();
            },
        );
        s.on("bcast", async |io: SocketIo, Data::<Value>(payload)| {
            io.to("bench").emit("msg", &payload).await.ok();
        });
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1:$PORT");
    eprintln!("socketioxide peer listening on 127.0.0.1:{port}");
    axum::serve(listener, app).await.expect("serve");
}
