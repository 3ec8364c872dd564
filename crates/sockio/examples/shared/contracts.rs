//! The handlers of the example servers that independent checks drive
//! (`shared/INTEROP-SERVER.md`, `shared/CONFORMANCE-SERVER.md`), shared by the
//! examples and the tests that build the same servers in process.
#![allow(dead_code)] // each includer uses one of them

use std::time::Duration;

use sockio::{value, Args, Auth, ConnectError, Data, Socket, SocketIo, Value};

/// The interop contract on `/`, `/chat` and `/private`: `welcome` on connect
/// (`/private` needs auth `{"token": "secret"}`), and the events `echo`,
/// `echo-emit`, `join`, `leave`, `to-room`, `request-ack`, `disconnect-me`.
pub fn interop_handlers(io: &SocketIo) {
    for nsp in ["/", "/chat", "/private"] {
        let ns = io.of(nsp);
        ns.on_connect(|s: Socket, Auth(auth): Auth<Value>| async move {
            if s.namespace() == "/private" && auth["token"] != "secret" {
                return Err(ConnectError::new("invalid token"));
            }
            let welcome = value!({"sid": s.id(), "namespace": s.namespace()});
            s.emit("welcome", &welcome)
                .await
                .map_err(|e| ConnectError::new(e.to_string()))
        });
        ns.on("echo", |a: Args<Vec<Value>>| async move { a });
        ns.on(
            "echo-emit",
            |s: Socket, Args(args): Args<Vec<Value>>| async move {
                s.emit("echo-back", &Args(args)).await
            },
        );
        ns.on("join", |s: Socket, Data(room): Data<String>| async move {
            s.join(room.as_str());
            room
        });
        ns.on("leave", |s: Socket, Data(room): Data<String>| async move {
            s.leave(room.as_str());
            room
        });
        ns.on(
            "to-room",
            |s: Socket,
             Data(room): Data<String>,
             Data(event): Data<String>,
             Args(args): Args<Vec<Value>>| async move {
                s.to(room.as_str())
                    .include_self()
                    .emit(&event, &Args(args))
                    .await
            },
        );
        ns.on(
            "request-ack",
            |s: Socket, Args(args): Args<Vec<Value>>| async move {
                match s
                    .timeout(Duration::from_secs(5))
                    .emit_with_ack("ack-request", &Args(args))
                    .await
                {
                    Ok(answer) => Args(answer),
                    Err(_) => Args(vec![Value::from("timeout")]),
                }
            },
        );
        ns.on("disconnect-me", |s: Socket| async move { s.disconnect() });
    }
}

/// The conformance contract on `/` and `/custom`: the `auth` event right after
/// the CONNECT reply, `message` echoed as `message-back`, `message-with-ack`
/// acknowledged with its arguments.
pub fn conformance_handlers(io: &SocketIo) {
    for nsp in ["/", "/custom"] {
        let ns = io.of(nsp);
        ns.on_connect(|s: Socket, Auth(auth): Auth<Option<Value>>| async move {
            let auth = auth.unwrap_or_else(|| value!({}));
            s.emit("auth", &auth).await.map_err(|e| e.to_string())
        });
        ns.on(
            "message",
            |s: Socket, Args(args): Args<Vec<Value>>| async move {
                s.emit("message-back", &Args(args)).await
            },
        );
        ns.on("message-with-ack", |a: Args<Vec<Value>>| async move { a });
    }
}
