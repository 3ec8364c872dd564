//! Connection state recovery as socket.io-client 4.6+ uses it, from a raw
//! WebSocket client: `pid` in the CONNECT reply, an offset as each event's
//! last argument, `{pid, offset}` in the CONNECT auth to come back.

mod common;

use std::time::Duration;

use common::*;
use sockio::{Data, RecoveryConfig, Socket, SocketIo, Value};

fn server(config: RecoveryConfig) -> SocketIo {
    let io = SocketIo::builder()
        .connection_state_recovery(config)
        .build()
        .unwrap();
    io.on_connect(|s: Socket| async move {
        if !s.recovered() {
            s.session().insert("visits", &1);
        }
        s.emit("hello", &s.recovered()).await
    });
    io.middleware(|s: Socket| async move {
        // Counts middleware runs (skipped for recovered sockets).
        let n = s.session().get::<u32>("mw").unwrap_or(0);
        s.session().insert("mw", &(n + 1));
    });
    io.on("join", |s: Socket, Data(room): Data<String>| async move {
        s.join(room.as_str());
    });
    io.on(
        "to-room",
        |s: Socket, Data(room): Data<String>, Data(text): Data<String>| async move {
            s.to(room.as_str()).emit("news", &text).await
        },
    );
    io.on("whoami", |s: Socket| async move {
        let mut rooms: Vec<String> = s.rooms().iter().map(|r| r.to_string()).collect();
        rooms.sort();
        (
            s.session().get::<u32>("visits"),
            s.session().get::<u32>("mw"),
            rooms,
        )
    });
    io
}

/// `4` + `2[...]`: the event's arguments.
fn args(frame: &str) -> Value {
    let json = frame.trim_start_matches(|c: char| c.is_ascii_digit());
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap()
        .into()
}

struct Client {
    ws: Ws,
    sid: String,
    pid: String,
    offset: Option<String>,
}

async fn connect(addr: std::net::SocketAddr, auth: &str) -> (Ws, Value) {
    let mut ws = ws_connect(addr, "EIO=4&transport=websocket").await;
    ws_recv(&mut ws, true).await;
    ws_send(&mut ws, &format!("40{auth}")).await;
    let reply = ws_recv(&mut ws, true).await;
    assert!(reply.starts_with("40{"), "{reply}");
    (ws, args(&reply))
}

impl Client {
    async fn new(addr: std::net::SocketAddr) -> Client {
        let (ws, reply) = connect(addr, "").await;
        let sid = reply["sid"].as_str().unwrap().to_owned();
        let pid = reply["pid"]
            .as_str()
            .expect("pid in the CONNECT reply")
            .to_owned();
        assert_ne!(sid, pid);
        let mut c = Client {
            ws,
            sid,
            pid,
            offset: None,
        };
        let hello = c.event().await;
        assert_eq!(hello[0], "hello");
        assert_eq!(hello[1], false);
        c
    }

    /// The next event's data; remembers its offset (the last argument).
    async fn event(&mut self) -> Vec<Value> {
        let f = ws_recv(&mut self.ws, true).await;
        assert!(f.starts_with("42"), "{f}");
        let a = args(&f).as_array().unwrap().clone();
        let offset = a.last().and_then(Value::as_str).expect("an offset last");
        self.offset = Some(offset.to_owned());
        a
    }

    async fn ack(&mut self, text: &str) -> Value {
        ws_send(&mut self.ws, text).await;
        let f = ws_recv(&mut self.ws, true).await;
        assert!(f.starts_with("43"), "{f}");
        args(&f)
    }
}

#[tokio::test]
async fn a_client_that_comes_back_gets_its_id_rooms_data_and_missed_events() {
    let io = server(RecoveryConfig::default());
    let addr = serve(io.clone()).await;
    let mut a = Client::new(addr).await;
    let mut b = Client::new(addr).await;
    a.ack(r#"421["join","room1"]"#).await;
    b.ack(r#"421["to-room","room1","before"]"#).await;
    assert_eq!(a.event().await[1], "before");

    // A's connection drops (a transport close, not a disconnect).
    let Client {
        ws,
        sid,
        pid,
        offset,
        ..
    } = a;
    drop(ws);
    let deadline = tokio::time::Instant::now() + WAIT;
    while io.of("/").socket(&sid).is_some() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Sent while A was away: to its room, and to everyone.
    b.ack(r#"422["to-room","room1","while away 1"]"#).await;
    io.emit("news", "while away 2").await.unwrap();
    assert_eq!(b.event().await[1], "while away 2");
    // To a room A is not in: not replayed.
    b.ack(r#"423["to-room","elsewhere","not for a"]"#).await;

    let offset = offset.unwrap();
    let (ws, reply) = connect(addr, &format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#)).await;
    assert_eq!(reply["sid"], sid.as_str(), "same socket id");
    assert_eq!(reply["pid"], pid.as_str());
    let mut a = Client {
        ws,
        sid,
        pid,
        offset: None,
    };
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(a.event().await);
    }
    let texts: Vec<&Value> = got.iter().map(|e| &e[1]).collect();
    assert!(texts.contains(&&Value::from("while away 1")), "{got:?}");
    assert!(texts.contains(&&Value::from("while away 2")), "{got:?}");
    let hello = got.iter().find(|e| e[0] == "hello").unwrap();
    assert_eq!(hello[1], true, "recovered() in the connect handler");
    // Rooms and data are back; the middleware did not run again.
    let who = a.ack(r#"424["whoami"]"#).await;
    assert_eq!(who[0], 1);
    assert_eq!(who[1], 1, "middlewares skipped");
    let mut rooms = vec![a.sid.clone(), "room1".to_owned()];
    rooms.sort();
    assert_eq!(who[2], Value::from(rooms));
    // It is a member again.
    b.ack(r#"424["to-room","room1","after"]"#).await;
    assert_eq!(a.event().await[1], "after");
}

#[tokio::test]
async fn no_recovery_after_the_window_or_a_deliberate_disconnect() {
    let io = server(RecoveryConfig {
        max_disconnection_duration: Duration::from_millis(200),
        ..RecoveryConfig::default()
    });
    let addr = serve(io.clone()).await;
    let mut a = Client::new(addr).await;
    io.emit("news", "x").await.unwrap();
    a.event().await;
    let (pid, offset) = (a.pid.clone(), a.offset.clone().unwrap());
    drop(a.ws);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (mut ws, reply) = connect(addr, &format!(r#"{{"pid":"{pid}","offset":"{offset}"}}"#)).await;
    assert_ne!(
        reply["sid"],
        a.sid.as_str(),
        "a new socket after the window"
    );
    let hello = args(&ws_recv(&mut ws, true).await);
    assert_eq!(hello[1], false);

    // A client that leaves the namespace on purpose is not kept.
    let mut b = Client::new(addr).await;
    io.emit("news", "y").await.unwrap();
    b.event().await;
    ws_send(&mut b.ws, "41").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_ws, reply) = connect(
        addr,
        &format!(r#"{{"pid":"{}","offset":"{}"}}"#, b.pid, b.offset.unwrap()),
    )
    .await;
    assert_ne!(reply["sid"], b.sid.as_str());
}

#[tokio::test]
async fn without_recovery_there_is_no_pid_and_no_offset() {
    let io = SocketIo::builder().build().unwrap();
    io.on_connect(|s: Socket| async move { s.emit("hello", "x").await });
    let addr = serve(io).await;
    let (mut ws, reply) = connect(addr, "").await;
    assert!(reply.get("pid").is_none());
    assert_eq!(ws_recv(&mut ws, true).await, r#"42["hello","x"]"#);
}
