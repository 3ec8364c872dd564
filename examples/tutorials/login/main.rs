//! Tutorial "SocketIO Basic Idea" (seed 001): the popup login box. The page
//! emits `login` with two arguments (username, password); the server checks
//! them against its users and answers `logsuc` or `logfail`. The page's
//! `wubalubadubdub` reaches `@socketio.on('wubalubadubdub')`, and the server's
//! `emit('foo', x, y, z)` reaches `socket.on('foo', function(a, b, c))`.
//! Page: socket.io 1.4.4.
//!
//! `cargo run -p sockio-tutorials --bin tutorial-login`, then http://127.0.0.1:3001/
//! (users: rick / wubalubadubdub, morty / aw-jeez). NOTES.md maps the lines.

use std::collections::HashMap;
use std::sync::Arc;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use sockio::{Data, Socket, SocketIo, State};
use sockio_tutorials::{init_logging, run, Client};

/// The tutorial's users table: name → argon2 hash of the password.
#[derive(Clone)]
struct Users(Arc<HashMap<String, String>>);

fn hash(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("hashable")
        .to_string()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    init_logging();
    let users = Users(Arc::new(HashMap::from([
        ("rick".to_string(), hash("wubalubadubdub")),
        ("morty".to_string(), hash("aw-jeez")),
    ])));
    let io = SocketIo::builder()
        .allow_eio3(true) // socket.io 1.4.4 speaks Engine.IO v3
        .state(users)
        .build()
        .expect("valid options");

    // @socketio.on('login')
    // def on_login(un, pw):
    io.on(
        "login",
        |s: Socket, Data(un): Data<String>, Data(pw): Data<String>, State(users): State<Users>| async move {
            let stored = users.0.get(&un).cloned();
            // argon2 is slow on purpose: off the async threads
            let ok = tokio::task::spawn_blocking(move || {
                stored.is_some_and(|h| {
                    PasswordHash::new(&h)
                        .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
                        .unwrap_or(false)
                })
            })
            .await
            .unwrap_or(false);
            if ok {
                s.emit("logsuc", &un).await
            } else {
                s.emit("logfail", "Invalid username or password").await
            }
        },
    );

    // @socketio.on('wubalubadubdub')
    // def on_wuba():
    io.on("wubalubadubdub", |s: Socket| async move {
        println!("wubalubadubdub!");
        // emit('foo', x, y, z): a tuple is three arguments
        s.emit("foo", &("x", 2, ["z"])).await
    });

    run(io, include_str!("index.html"), Client::V1_4_4).await
}
