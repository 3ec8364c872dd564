//! Tutorial "Flask SocketIO" (seed 003): `@socketio.on('vote')` stores the
//! vote, counts options 1 and 2, and emits `voting bar` with both counts to
//! every client (`broadcast=True`). Page: socket.io 1.4.4, two bars.
//!
//! `cargo run -p sockio-tutorials --bin tutorial-vote`, then http://127.0.0.1:3001/
//! in two windows. NOTES.md maps the lines.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sockio::{Data, Socket, SocketIo, State};
use sockio_tutorials::{init_logging, run, Client};

/// The votes: `storevote` and `countvote` of the tutorial.
#[derive(Clone, Default)]
struct Votes(Arc<[AtomicU64; 2]>);

impl Votes {
    fn store(&self, option: u32) -> Result<(), String> {
        match option {
            1 | 2 => {
                self.0[option as usize - 1].fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(format!("no option {option}: vote 1 or 2")),
        }
    }
    fn count(&self, option: usize) -> u64 {
        self.0[option - 1].load(Ordering::Relaxed)
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    init_logging();
    let io = SocketIo::builder()
        .allow_eio3(true) // socket.io 1.4.4 speaks Engine.IO v3
        .state(Votes::default())
        .build()
        .expect("valid options");

    // @socketio.on('vote')
    // def voting(input):
    io.on(
        "vote",
        |io: SocketIo, Data(input): Data<u32>, State(votes): State<Votes>| async move {
            votes.store(input)?;
            let (result1, result2) = (votes.count(1), votes.count(2));
            // socketio.emit('voting bar', (result1, result2), broadcast=True)
            io.emit("voting bar", &(result1, result2))
                .await
                .map_err(|e| e.to_string())
        },
    );

    // Not in the tutorial: a new page gets the current bars at once.
    io.on_connect(|s: Socket, State(votes): State<Votes>| async move {
        let _ = s
            .emit("voting bar", &(votes.count(1), votes.count(2)))
            .await;
    });

    run(io, include_str!("index.html"), Client::V1_4_4).await
}
