//! The chat of the Flask-SocketIO tutorials, on sockio: pick a name and a
//! room, see who joins and leaves, exchange messages with the room.
//!
//! `bash scripts/run.sh` (installs the browser client from npm, then runs
//! this example on http://127.0.0.1:3001).
//!
//! The Flask-SocketIO original, handler by handler:
//!
//! ```python
//! @socketio.on('join', namespace='/chat')
//! def join(message):
//!     join_room(message['room'])
//!     session['name'], session['room'] = message['name'], message['room']
//!     emit('status', {'msg': session['name'] + ' has entered the room.'}, to=message['room'])
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sockio::{Data, DisconnectReason, Socket, SocketIo};

#[derive(Deserialize)]
struct Join {
    name: String,
    room: String,
}

#[derive(Serialize)]
struct Status {
    msg: String,
}

#[derive(Serialize)]
struct ChatMessage {
    name: String,
    msg: String,
}

fn clean(s: &str, max: usize) -> String {
    s.trim().chars().take(max).collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let io = SocketIo::builder().max_payload(100_000).build()?;
    let chat = io.of("/chat");

    chat.on("join", |s: Socket, Data(j): Data<Join>| async move {
        let (name, room) = (clean(&j.name, 32), clean(&j.room, 32));
        if name.is_empty() || room.is_empty() {
            return Err("a name and a room are needed".to_string());
        }
        if let Some(old) = s.session().get::<String>("room") {
            s.leave(old.as_str());
            let msg = format!("{name} has left the room.");
            let _ = s.to(old.as_str()).emit("status", &Status { msg }).await;
        }
        s.join(room.as_str());
        s.session().insert("name", &name);
        s.session().insert("room", &room);
        let msg = format!("{name} has entered the room.");
        s.to(room.as_str())
            .include_self()
            .emit("status", &Status { msg })
            .await
            .map_err(|e| e.to_string())
    });

    chat.on("text", |s: Socket, Data(text): Data<String>| async move {
        let (Some(name), Some(room)) = (
            s.session().get::<String>("name"),
            s.session().get::<String>("room"),
        ) else {
            return Err("join a room first".to_string());
        };
        let msg = clean(&text, 2000);
        if msg.is_empty() {
            return Err("empty message".to_string());
        }
        s.to(room.as_str())
            .include_self()
            .emit("message", &ChatMessage { name, msg })
            .await
            .map_err(|e| e.to_string())
    });

    chat.on_disconnect(|s: Socket, reason: DisconnectReason| async move {
        if let (Some(name), Some(room)) = (
            s.session().get::<String>("name"),
            s.session().get::<String>("room"),
        ) {
            tracing::info!(%name, %room, %reason, "left");
            let msg = format!("{name} has left the room.");
            let _ = s.to(room.as_str()).emit("status", &Status { msg }).await;
        }
    });

    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/chat");
    println!("chat on http://127.0.0.1:{port}");
    sockio::serve(io, ("127.0.0.1", port))
        .static_dir(dir)
        .await?;
    Ok(())
}
