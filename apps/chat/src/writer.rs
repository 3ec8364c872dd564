//! The writer task: the one place where the chat's ordered changes happen.
//!
//! Handlers send it commands (bounded queue); it takes every command waiting
//! (up to the batch size), stores consecutive messages in one transaction,
//! consecutive votes in another, then emits `new-message` / `voting bar` to
//! the rooms in order and answers the senders. A `join room` is served between
//! two batches: the socket joins the room and receives `populate` with the
//! history as committed, so every `new-message` it receives afterwards is
//! newer than the history it got.

use serde::Serialize;
use serde_json::json;
use sockio::{Namespace, Socket};
use tokio::sync::{mpsc, oneshot};

use crate::chat::{now_ms, room_key, Fail};
use crate::store::{MessageRow, NewMessage, NewVote, PollRow, RoomRow, Store};

/// A command for the writer.
pub(crate) enum Cmd {
    /// Store a message, then emit it to its room; answers its id.
    Post {
        room: RoomRow,
        user_id: i64,
        author: String,
        text: String,
        done: oneshot::Sender<Result<i64, Fail>>,
    },
    /// Join a socket to a room and send it the room's history; answers
    /// whether it was in the room already.
    Join {
        socket: Socket,
        room: RoomRow,
        user_id: Option<i64>,
        done: oneshot::Sender<Result<bool, Fail>>,
    },
    /// Store a poll, then emit it to its room; answers its id.
    CreatePoll {
        room: RoomRow,
        user_id: i64,
        author: String,
        question: String,
        options: Vec<String>,
        done: oneshot::Sender<Result<i64, Fail>>,
    },
    /// Store a vote, then emit the poll's counts to its room.
    Vote {
        room_id: i64,
        poll_id: i64,
        options: usize,
        user_id: i64,
        option: i64,
        done: oneshot::Sender<Result<(), Fail>>,
    },
    /// Answers once everything before it is stored.
    Flush { done: oneshot::Sender<()> },
}

/// A message as clients receive it (`new-message`, `populate`).
#[derive(Serialize)]
pub(crate) struct MessageOut<'a> {
    pub id: i64,
    pub room: &'a str,
    pub author: &'a str,
    pub text: &'a str,
    pub time: i64,
}

/// A poll as clients receive it (`new-poll`, `populate`).
#[derive(Serialize)]
pub(crate) struct PollOut<'a> {
    pub id: i64,
    pub room: &'a str,
    pub author: &'a str,
    pub question: &'a str,
    pub options: &'a [String],
    pub counts: &'a [i64],
    pub total: i64,
    pub time: i64,
    /// The option this socket's user voted for (only in `populate`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voted: Option<i64>,
}

fn poll_out<'a>(p: &'a PollRow, room: &'a str, voted: Option<i64>) -> PollOut<'a> {
    PollOut {
        id: p.id,
        room,
        author: &p.author,
        question: &p.question,
        options: &p.options,
        counts: &p.counts,
        total: p.counts.iter().sum(),
        time: p.created_at,
        voted,
    }
}

/// The writer's limits.
pub(crate) struct Limits {
    /// Most commands per batch.
    pub batch: usize,
    /// Messages in `populate`.
    pub history: i64,
    /// Polls in `populate`.
    pub poll_history: i64,
}

struct Post {
    room: RoomRow,
    user_id: i64,
    author: String,
    text: String,
    time: i64,
    done: oneshot::Sender<Result<i64, Fail>>,
}

struct Vote {
    room_id: i64,
    poll_id: i64,
    options: usize,
    user_id: i64,
    option: i64,
    done: oneshot::Sender<Result<(), Fail>>,
}

/// Runs until every sender is gone.
pub(crate) async fn run(store: Store, ns: Namespace, mut rx: mpsc::Receiver<Cmd>, limits: Limits) {
    let batch = limits.batch;
    let mut cmds = Vec::with_capacity(batch);
    let mut posts: Vec<Post> = Vec::new();
    let mut votes: Vec<Vote> = Vec::new();
    while rx.recv_many(&mut cmds, batch).await > 0 {
        for cmd in cmds.drain(..) {
            match cmd {
                Cmd::Post {
                    room,
                    user_id,
                    author,
                    text,
                    done,
                } => {
                    flush_votes(&store, &ns, &mut votes).await;
                    posts.push(Post {
                        room,
                        user_id,
                        author,
                        text,
                        time: now_ms(),
                        done,
                    });
                }
                Cmd::Vote {
                    room_id,
                    poll_id,
                    options,
                    user_id,
                    option,
                    done,
                } => {
                    flush_posts(&store, &ns, &mut posts).await;
                    votes.push(Vote {
                        room_id,
                        poll_id,
                        options,
                        user_id,
                        option,
                        done,
                    });
                }
                other => {
                    flush_posts(&store, &ns, &mut posts).await;
                    flush_votes(&store, &ns, &mut votes).await;
                    single(&store, &ns, other, &limits).await;
                }
            }
        }
        flush_posts(&store, &ns, &mut posts).await;
        flush_votes(&store, &ns, &mut votes).await;
    }
}

async fn flush_posts(store: &Store, ns: &Namespace, posts: &mut Vec<Post>) {
    if posts.is_empty() {
        return;
    }
    let rows: Vec<NewMessage> = posts
        .iter()
        .map(|p| NewMessage {
            room_id: p.room.id,
            user_id: p.user_id,
            body: p.text.clone(),
            created_at: p.time,
        })
        .collect();
    match store.insert_messages(&rows).await {
        Ok(ids) => {
            for (p, id) in posts.drain(..).zip(ids) {
                let m = MessageOut {
                    id,
                    room: &p.room.name,
                    author: &p.author,
                    text: &p.text,
                    time: p.time,
                };
                let _ = ns.to(room_key(p.room.id)).emit("new-message", &m).await;
                let _ = p.done.send(Ok(id));
            }
        }
        Err(e) => {
            let f = Fail::storage(&e);
            for p in posts.drain(..) {
                let _ = p.done.send(Err(f.clone()));
            }
        }
    }
}

async fn flush_votes(store: &Store, ns: &Namespace, votes: &mut Vec<Vote>) {
    if votes.is_empty() {
        return;
    }
    let rows: Vec<NewVote> = votes
        .iter()
        .map(|v| NewVote {
            poll_id: v.poll_id,
            user_id: v.user_id,
            option: v.option,
            created_at: now_ms(),
        })
        .collect();
    let counted = match store.insert_votes(&rows).await {
        Ok(c) => c,
        Err(e) => {
            let f = Fail::storage(&e);
            for v in votes.drain(..) {
                let _ = v.done.send(Err(f.clone()));
            }
            return;
        }
    };
    // The counts of every poll that changed, each once, in order.
    let mut changed: Vec<(i64, i64, usize)> = Vec::new();
    for (v, ok) in votes.iter().zip(&counted) {
        if *ok && !changed.iter().any(|c| c.0 == v.poll_id) {
            changed.push((v.poll_id, v.room_id, v.options));
        }
    }
    for (poll, room_id, n) in changed {
        match store.vote_counts(poll, n).await {
            Ok(counts) => {
                let total: i64 = counts.iter().sum();
                let _ = ns
                    .to(room_key(room_id))
                    .emit(
                        "voting bar",
                        &json!({"poll": poll, "counts": counts, "total": total}),
                    )
                    .await;
            }
            Err(e) => tracing::error!("vote counts of poll {poll}: {e}"),
        }
    }
    for (v, ok) in votes.drain(..).zip(counted) {
        let r = if ok {
            Ok(())
        } else {
            Err(Fail::new("already_voted", "you have voted in this poll"))
        };
        let _ = v.done.send(r);
    }
}

async fn single(store: &Store, ns: &Namespace, cmd: Cmd, limits: &Limits) {
    match cmd {
        Cmd::Join {
            socket,
            room,
            user_id,
            done,
        } => {
            let r = join(store, &socket, &room, user_id, limits).await;
            let _ = done.send(r);
        }
        Cmd::CreatePoll {
            room,
            user_id,
            author,
            question,
            options,
            done,
        } => {
            let now = now_ms();
            match store
                .create_poll(room.id, user_id, &question, &options, now)
                .await
            {
                Ok(id) => {
                    let p = PollRow {
                        id,
                        room_id: room.id,
                        author,
                        question,
                        counts: vec![0; options.len()],
                        options,
                        created_at: now,
                    };
                    let _ = ns
                        .to(room_key(room.id))
                        .emit("new-poll", &poll_out(&p, &room.name, None))
                        .await;
                    let _ = done.send(Ok(id));
                }
                Err(e) => {
                    let _ = done.send(Err(Fail::storage(&e)));
                }
            }
        }
        Cmd::Flush { done } => {
            let _ = done.send(());
        }
        Cmd::Post { .. } | Cmd::Vote { .. } => unreachable!("batched by run()"),
    }
}

async fn join(
    store: &Store,
    s: &Socket,
    room: &RoomRow,
    user_id: Option<i64>,
    limits: &Limits,
) -> Result<bool, Fail> {
    let history: Vec<MessageRow> = store
        .history(room.id, limits.history)
        .await
        .map_err(|e| Fail::storage(&e))?;
    let polls = store
        .room_polls(room.id, limits.poll_history)
        .await
        .map_err(|e| Fail::storage(&e))?;
    let mut voted = Vec::with_capacity(polls.len());
    for p in &polls {
        voted.push(match user_id {
            Some(u) => store
                .vote_of(p.id, u)
                .await
                .map_err(|e| Fail::storage(&e))?,
            None => None,
        });
    }
    let key = room_key(room.id);
    let was_member = s.rooms().iter().any(|r| **r == *key);
    s.join(key);
    let messages: Vec<MessageOut> = history
        .iter()
        .map(|m| MessageOut {
            id: m.id,
            room: &room.name,
            author: &m.author,
            text: &m.body,
            time: m.created_at,
        })
        .collect();
    let polls: Vec<PollOut> = polls
        .iter()
        .zip(voted)
        .map(|(p, v)| poll_out(p, &room.name, v))
        .collect();
    let _ = s
        .emit(
            "populate",
            &json!({"room": room.name, "messages": messages, "polls": polls}),
        )
        .await;
    Ok(was_member)
}
