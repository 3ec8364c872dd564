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
        // As `echo-emit`, sent uncompressed (`compress(false)`).
        ns.on(
            "echo-plain",
            |s: Socket, Args(args): Args<Vec<Value>>| async move {
                s.compress(false).emit("echo-back", &Args(args)).await
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
                match s
                    .to(room.as_str())
                    .include_self()
                    .emit(&event, &Args(args))
                    .await
                {
                    // with a cluster adapter and its broker away: local members got it
                    Err(sockio::EmitError::Adapter(e)) => {
                        tracing::warn!("to-room: other nodes not reached: {e}");
                        Ok(())
                    }
                    other => other,
                }
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

/// The cluster events of `shared/CLUSTER-SERVER.md` on `/`, `/chat` and
/// `/private` (`to-room` is the interop contract's), and the server-side
/// event `ping-servers` on `/`, answered with this node's `name`.
pub fn cluster_handlers(io: &SocketIo, name: &str) {
    let name: std::sync::Arc<str> = name.into();
    {
        let name = name.clone();
        io.on_server_side("ping-servers", move || {
            let name = name.clone();
            async move { name.to_string() }
        });
    }
    for nsp in ["/", "/chat", "/private"] {
        let ns = io.of(nsp);
        ns.on(
            "broadcast",
            |s: Socket, Data(event): Data<String>, Args(args): Args<Vec<Value>>| async move {
                if let Err(e) = s.io().of(s.namespace()).emit(&event, &Args(args)).await {
                    tracing::warn!("broadcast: {e}");
                }
            },
        );
        // not in the contract: the cluster suite's way to broadcast with `except`
        ns.on(
            "broadcast-except",
            |s: Socket,
             Data(room): Data<String>,
             Data(event): Data<String>,
             Args(args): Args<Vec<Value>>| async move {
                let op = s.io().of(s.namespace()).except(room.as_str());
                if let Err(e) = op.emit(&event, &Args(args)).await {
                    tracing::warn!("broadcast-except: {e}");
                }
            },
        );
        ns.on(
            "count-sockets",
            |s: Socket, Args(args): Args<Vec<Value>>| async move {
                let ns = s.io().of(s.namespace());
                let sockets = match args.first().and_then(Value::as_str) {
                    Some(room) => ns.to(room).fetch_sockets().await,
                    None => ns.fetch_sockets().await,
                };
                match sockets {
                    Ok(list) => Value::from(list.len()),
                    Err(e) => value!({"error": e.to_string()}),
                }
            },
        );
        ns.on(
            "remote-join",
            |s: Socket, Data(id): Data<String>, Data(room): Data<String>| async move {
                if let Err(e) = s
                    .io()
                    .of(s.namespace())
                    .to(id.as_str())
                    .join(room.as_str())
                    .await
                {
                    tracing::warn!("remote-join: {e}");
                }
            },
        );
        ns.on(
            "remote-disconnect",
            |s: Socket, Data(id): Data<String>| async move {
                let op = s.io().of(s.namespace()).to(id.as_str());
                if let Err(e) = op.disconnect_sockets().await {
                    tracing::warn!("remote-disconnect: {e}");
                }
            },
        );
        let own = name.clone();
        ns.on(
            "server-side-emit",
            move |s: Socket, Args(args): Args<Vec<Value>>| {
                let own = own.clone();
                async move {
                    let payload = args.into_iter().next().unwrap_or_default();
                    let mut names = vec![own.to_string()];
                    let timed_out = match s
                        .io()
                        .server_side_emit_with_ack("ping-servers", &payload, Duration::from_secs(2))
                        .await
                    {
                        Ok(acks) => {
                            names.extend(acks.responses.iter().filter_map(|r| {
                                r.first().and_then(Value::as_str).map(str::to_string)
                            }));
                            !acks.complete
                        }
                        Err(e) => {
                            tracing::warn!("server-side-emit: {e}");
                            true
                        }
                    };
                    names.sort();
                    (names, timed_out)
                }
            },
        );
        ns.on(
            "bcast-ack",
            |s: Socket, Data(event): Data<String>, Data(payload): Data<Value>| async move {
                let acks = s
                    .io()
                    .of(s.namespace())
                    .timeout(Duration::from_secs(2))
                    .emit_with_ack(&event, &payload)
                    .await;
                match acks {
                    Ok(a) => {
                        let responses: Vec<Value> = a
                            .responses
                            .iter()
                            .map(|r| r.first().cloned().unwrap_or_default())
                            .collect();
                        (responses.len(), responses, !a.complete)
                    }
                    Err(e) => {
                        tracing::warn!("bcast-ack: {e}");
                        (0, Vec::new(), true)
                    }
                }
            },
        );
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
