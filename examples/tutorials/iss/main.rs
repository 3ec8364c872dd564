//! Tutorials "SocketIOOOO!" and "SocketIO" (seeds 000 and 002): the `/iss`
//! namespace of an AngularJS + Flask-SocketIO chat. `connect` gives the
//! session a uuid and emits `connected`; `identify` names the user; `join`
//! remembers the room in the session, joins it and emits `populate` with the
//! room's messages. `message` and `leave` complete the chat the tutorials
//! describe. Page: socket.io 1.4.4, as the tutorial loaded it.
//!
//! `cargo run -p sockio-tutorials --bin tutorial-iss`, then http://127.0.0.1:3001/
//! (NOTES.md maps each Python line to its Rust line.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use sockio::{Data, Socket, SocketIo, State};
use sockio_tutorials::{init_logging, run, Client};

/// `users = {}` of the tutorial: session uuid → user.
#[derive(Clone, Default)]
struct Users(Arc<Mutex<HashMap<String, String>>>);

/// The tutorial's "fancy stuff with databases", in memory: room → messages.
#[derive(Clone, Default)]
struct Messages(Arc<Mutex<HashMap<String, Vec<Message>>>>);

#[derive(Clone, Serialize)]
struct Message {
    username: String,
    text: String,
}

/// A random uuid (version 4) for the session, as `uuid.uuid1()` gave one.
fn uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    init_logging();
    let io = SocketIo::builder()
        .allow_eio3(true) // the page's socket.io 1.4.4 speaks Engine.IO v3
        .state(Users::default())
        .state(Messages::default())
        .build()
        .expect("valid options");
    let iss = io.of("/iss");

    // @socketio.on('connect', namespace='/iss')
    iss.on_connect(|s: Socket| async move {
        s.session().insert("uuid", &uuid());
        let _ = s.emit("connected", &()).await;
    });

    // @socketio.on('identify', namespace='/iss')
    iss.on(
        "identify",
        |s: Socket, Data(user): Data<String>, State(users): State<Users>| async move {
            println!("Identify: {user}");
            let uuid: String = s.session().get("uuid").unwrap_or_default();
            users.0.lock().unwrap().insert(uuid, user);
        },
    );

    // @socketio.on('join', namespace='/iss')
    iss.on(
        "join",
        |s: Socket, Data(room): Data<String>, State(db): State<Messages>| async move {
            s.session().insert("room", &room);
            println!("{room}");
            s.join(room.as_str());
            let messages = db.0.lock().unwrap().get(&room).cloned().unwrap_or_default();
            s.emit("populate", &messages).await
        },
    );

    // leave_room(room), the counterpart the tutorial describes
    iss.on("leave", |s: Socket, Data(room): Data<String>| async move {
        s.leave(room.as_str());
        s.session().remove("room");
    });

    // a message to the session's room: stored, then sent to the room
    iss.on(
        "message",
        |s: Socket,
         Data(text): Data<String>,
         State(users): State<Users>,
         State(db): State<Messages>| async move {
            let Some(room) = s.session().get::<String>("room") else {
                return Err("join a room first".to_string());
            };
            let uuid: String = s.session().get("uuid").unwrap_or_default();
            let username = users
                .0
                .lock()
                .unwrap()
                .get(&uuid)
                .cloned()
                .unwrap_or_else(|| "anonymous".into());
            let m = Message { username, text };
            db.0.lock()
                .unwrap()
                .entry(room.clone())
                .or_default()
                .push(m.clone());
            s.to(room.as_str())
                .include_self()
                .emit("message", &m)
                .await
                .map_err(|e| e.to_string())
        },
    );

    run(io, include_str!("index.html"), Client::V1_4_4).await
}
