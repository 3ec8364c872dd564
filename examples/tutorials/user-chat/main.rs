//! Tutorial "Socket IO" practical (seed 004): the unnamed events `message` and
//! `json`, the custom event `user-connected` on `/` and on the `/user`
//! namespace (where it answers `new-user` with a delivery callback and
//! broadcasts it), `my response` on connect, `join-room` / `leave-room`, and
//! the simple chat app on `/chat` (`message` in, `new-message` out to
//! everyone). Page: socket.io 4.0.1, as the tutorial loaded it.
//!
//! `cargo run -p sockio-tutorials --bin tutorial-user-chat`, then
//! http://127.0.0.1:3001/ in two windows. NOTES.md maps the lines.

use serde::Deserialize;
use serde_json::{json, Value};
use sockio::{Data, DisconnectReason, Socket, SocketIo};
use sockio_tutorials::{init_logging, run, Client};

#[derive(Deserialize)]
struct JoinRoom {
    username: String,
    #[serde(rename = "roomName")]
    room_name: String,
}

#[derive(Deserialize)]
struct LeaveRoom {
    username: String,
    room: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    init_logging();
    // io = SocketIO(app, cors_allowed_origins='*')
    let io = SocketIo::builder()
        .cors_allowed_origins(["*"])
        .build()
        .expect("valid options");

    // @io.on('message') / @io.on('json'): the unnamed events
    io.on("message", |Data(msg): Data<Value>| async move {
        println!("{}", json!({ "message": msg }));
    });
    io.on("json", |Data(data): Data<Value>| async move {
        println!("{}", json!({ "json": data }));
    });

    // @io.on('user-connected')
    io.on("user-connected", |Data(data): Data<Value>| async move {
        println!("{}", json!({ "data": data }));
    });

    // @io.on('join-room')
    io.on(
        "join-room",
        |s: Socket, Data(d): Data<JoinRoom>| async move {
            s.join(d.room_name.as_str());
            let msg = json!({ "message": format!("{} Joined the room.", d.username) });
            // emit('new-user', ..., broadcast=True, to=room)
            s.to(d.room_name.as_str())
                .include_self()
                .emit("new-user", &msg)
                .await
        },
    );

    // @io.on('leave-room')
    io.on(
        "leave-room",
        |s: Socket, Data(d): Data<LeaveRoom>| async move {
            s.leave(d.room.as_str());
            // emit(username + ' has left the room.', to=room): as in the tutorial,
            // the sentence is the event's *name*, with no arguments
            s.to(d.room.as_str())
                .emit(&format!("{} has left the room.", d.username), &())
                .await
        },
    );

    let user = io.of("/user");
    // @io.on('connect', namespace='/user')
    user.on_connect(|s: Socket| async move {
        let _ = s.emit("my response", &json!({ "data": "Connected" })).await;
    });
    // @io.on('disconnect', namespace='/user')
    user.on_disconnect(|_: DisconnectReason| async move {
        println!("Client disconnected");
    });
    // @io.on('user-connected', namespace='/user')
    user.on(
        "user-connected",
        |s: Socket, Data(data): Data<Value>| async move {
            println!("{}", json!({ "data": data }));
            // emit('new-user', data, broadcast=True) reaches the others ...
            let _ = s.broadcast().emit("new-user", &data).await;
            // ... and emit('new-user', data, callback=...) the sender, whose
            // acknowledgement runs the callback
            match s.emit_with_ack("new-user", &data).await {
                Ok(_) => println!("message was received"),
                Err(e) => println!("new-user to {}: {e}", s.id()),
            }
        },
    );

    // @io.on('message', namespace='/chat'): emit('new-message', message, broadcast=True)
    io.of("/chat").on(
        "message",
        |s: Socket, Data(message): Data<Value>| async move {
            s.broadcast()
                .include_self()
                .emit("new-message", &message)
                .await
        },
    );

    run(io, include_str!("index.html"), Client::V4_0_1).await
}
