//! `sockio-rawws`: the transport's limit. A raw WebSocket server on tokio-tungstenite
//! that speaks just enough Engine.IO v4 / Socket.IO v5 for the benchmark contract
//! (open packet, `40`, pings, events `echo`, `join`, `bcast`) with string slicing and
//! no JSON parsing. Not a Socket.IO server: only a floor to compare against.
//!
//! Listens on 127.0.0.1:$PORT. Broadcast frames are built once and shared (`Bytes`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Room = Mutex<HashMap<u64, mpsc::Sender<Message>>>;

const PING_INTERVAL: Duration = Duration::from_secs(25);
const QUEUE: usize = 1024;

/// What one incoming text message asks for.
fn on_text(s: &str, id: u64, tx: &mpsc::Sender<Message>, room: &Room, out: &mut Vec<Message>) {
    if s == "40" || s.starts_with("40{") {
        out.push(Message::text(format!("40{{\"sid\":\"s{id}\"}}")));
        return;
    }
    let Some(rest) = s.strip_prefix("42") else {
        return;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (ack, body) = rest.split_at(digits);
    if let Some(args) = body.strip_prefix("[\"echo\",") {
        if !ack.is_empty() {
            out.push(Message::text(format!("43{ack}[{args}")));
        }
    } else if body.starts_with("[\"join\",") {
        room.lock().unwrap().insert(id, tx.clone());
        if !ack.is_empty() {
            out.push(Message::text(format!("43{ack}[\"ok\"]")));
        }
    } else if let Some(payload) = body.strip_prefix("[\"bcast\",") {
        // Built once; every receiver's queue gets a clone of the same bytes.
        let frame = Message::text(format!("42[\"msg\",{payload}"));
        for q in room.lock().unwrap().values() {
            let _ = q.try_send(frame.clone());
        }
    }
}

/// One connection: a single task reads, answers and writes; a broadcast reaches it
/// through its bounded queue. Replies to one read batch go out in one flush.
async fn handle(stream: TcpStream, id: u64, room: Arc<Room>) {
    let _ = stream.set_nodelay(true);
    let cfg = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(cfg)).await else {
        return;
    };
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let open = format!(
        "0{{\"sid\":\"r{id}\",\"upgrades\":[],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}}"
    );
    let mut out: Vec<Message> = vec![Message::text(open)];
    let mut ping =
        tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
    'conn: loop {
        for m in out.drain(..) {
            if ws.feed(m).await.is_err() {
                break 'conn;
            }
        }
        if ws.flush().await.is_err() {
            break;
        }
        tokio::select! {
            m = ws.next() => {
                let mut m = m;
                loop {
                    match m {
                        Some(Ok(Message::Text(t))) => on_text(t.as_str(), id, &tx, &room, &mut out),
                        Some(Ok(_)) => {}
                        _ => break 'conn,
                    }
                    // More already buffered? Handle it in the same batch.
                    match ws.next().now_or_never() {
                        Some(next) => m = next,
                        None => break,
                    }
                }
            }
            m = rx.recv() => {
                if let Some(m) = m {
                    out.push(m);
                    while let Ok(m) = rx.try_recv() {
                        out.push(m);
                    }
                }
            }
            _ = ping.tick() => out.push(Message::Text(Utf8Bytes::from_static("2"))),
        }
    }
    room.lock().unwrap().remove(&id);
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1:$PORT");
    eprintln!("rawws peer listening on 127.0.0.1:{port}");
    let room: Arc<Room> = Arc::new(Mutex::new(HashMap::new()));
    let next = AtomicU64::new(1);
    loop {
        let Ok((s, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let id = next.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(handle(s, id, room.clone()));
    }
}
