//! Connection state recovery across nodes with the Redis Streams adapter: two
//! sockio servers on one private Redis (a `redis-server` on a free port;
//! `REDIS_SERVER` names the binary), a raw WebSocket client speaking what
//! socket.io-client 4.6+ sends (`pid` from the CONNECT reply, the offset of
//! the last event it got, both in the CONNECT auth when it comes back).

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sockio::{Data, RecoveryConfig, Socket, SocketIo, Value};
use sockio_redis::{RedisAdapter, RedisStreamsAdapter};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Bound on every network wait (machines are loaded).
const WAIT: Duration = Duration::from_secs(10);

mod support;
use support::RedisServer;

/// A connection to `redis`, to look at what the adapter stored.
async fn conn(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// One node: the streams adapter on `stream`, recovery on, served on
/// 127.0.0.1:0.
async fn node(redis: &str, stream: &str, window: Duration) -> (SocketIo, SocketAddr) {
    let adapter = RedisStreamsAdapter::builder(redis)
        .stream_name(stream)
        .channel_prefix(stream)
        .request_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    serve_node(SocketIo::builder().adapter(adapter), window).await
}

/// As [`node`] with the classic (pub/sub) adapter.
async fn classic_node(redis: &str, key: &str) -> (SocketIo, SocketAddr) {
    let adapter = RedisAdapter::builder(redis)
        .key(key)
        .request_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    serve_node(
        SocketIo::builder().adapter(adapter),
        Duration::from_secs(60),
    )
    .await
}

async fn serve_node(b: sockio::SocketIoBuilder, window: Duration) -> (SocketIo, SocketAddr) {
    let io = b
        .connection_state_recovery(RecoveryConfig {
            max_disconnection_duration: window,
            ..RecoveryConfig::default()
        })
        .build()
        .unwrap();
    io.on_connect(|s: Socket| async move {
        if !s.recovered() {
            s.session().insert("visits", &1);
        }
        s.emit("hello", &s.recovered()).await
    });
    io.on("join", |s: Socket, Data(room): Data<String>| async move {
        s.join(room.as_str());
    });
    io.on("whoami", |s: Socket| async move {
        let mut rooms: Vec<String> = s.rooms().iter().map(|r| r.to_string()).collect();
        rooms.sort();
        (s.session().get::<u32>("visits"), rooms)
    });
    io.adapter_ready().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sockio::serve_listener(io.clone(), listener).into_future());
    (io, addr)
}

type Ws = WebSocketStream<TcpStream>;

/// A text frame, answering Engine.IO pings.
async fn recv(ws: &mut Ws) -> String {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame within the bound");
        match m {
            Some(Ok(Message::Text(t))) if t.as_str() == "2" => send(ws, "3").await,
            Some(Ok(Message::Text(t))) => return t.as_str().to_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, text: &str) {
    tokio::time::timeout(WAIT, ws.send(Message::text(text.to_owned())))
        .await
        .expect("send within the bound")
        .unwrap();
}

/// The JSON after the packet type digits (and ack id).
fn json(frame: &str) -> Value {
    let j = frame.trim_start_matches(|c: char| c.is_ascii_digit());
    serde_json::from_str::<serde_json::Value>(j).unwrap().into()
}

fn is_stream_id(s: &str) -> bool {
    s.split_once('-').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
    })
}

struct Client {
    ws: Ws,
    sid: String,
    pid: String,
    offset: Option<String>,
}

impl Client {
    /// Connects to `/` with `auth` (a JSON object or empty).
    async fn connect(addr: SocketAddr, auth: &str) -> Client {
        let (tcp, url) = (
            TcpStream::connect(addr).await.unwrap(),
            format!("ws://{addr}/socket.io/?EIO=4&transport=websocket"),
        );
        let (mut ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(url, tcp))
            .await
            .unwrap()
            .unwrap();
        assert!(recv(&mut ws).await.starts_with('0'), "Engine.IO open");
        send(&mut ws, &format!("40{auth}")).await;
        let reply = recv(&mut ws).await;
        assert!(reply.starts_with("40{"), "{reply}");
        let reply = json(&reply);
        Client {
            ws,
            sid: reply["sid"].as_str().unwrap().to_owned(),
            pid: reply["pid"].as_str().expect("a pid").to_owned(),
            offset: None,
        }
    }

    /// The next event's data; keeps its offset (the last argument, a stream
    /// entry id).
    async fn event(&mut self) -> Vec<Value> {
        let f = recv(&mut self.ws).await;
        assert!(f.starts_with("42"), "{f}");
        let a = json(&f).as_array().unwrap().clone();
        let offset = a.last().and_then(Value::as_str).expect("an offset last");
        self.offset = Some(offset.to_owned());
        a
    }

    async fn call(&mut self, id: u32, event: &str, args: &str) -> Value {
        send(&mut self.ws, &format!(r#"42{id}["{event}"{args}]"#)).await;
        loop {
            let f = recv(&mut self.ws).await;
            if f.starts_with(&format!("43{id}")) {
                return json(&f);
            }
            assert!(f.starts_with("42"), "{f}");
        }
    }
}

/// What a client whose connection dropped keeps.
struct Gone {
    sid: String,
    pid: String,
    offset: String,
}

impl Gone {
    fn resume_auth(&self) -> String {
        format!(r#"{{"pid":"{}","offset":"{}"}}"#, self.pid, self.offset)
    }
}

/// Drops the client's connection (no DISCONNECT: a transport close) and
/// waits until `io` let the socket go and its session is in Redis.
async fn drop_connection(c: Client, io: &SocketIo, redis: &RedisServer) -> Gone {
    let gone = Gone {
        sid: c.sid,
        pid: c.pid,
        offset: c.offset.expect("an offset"),
    };
    drop(c.ws);
    let key = format!("sio:session:{}", gone.pid);
    let mut conn = conn(redis).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let kept: bool = redis::cmd("EXISTS")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        if kept && io.of("/").socket(&gone.sid).is_none() {
            return gone;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session was not kept in Redis"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_recovers_on_another_node_with_its_id_rooms_data_and_missed_events() {
    let redis = RedisServer::start().await;
    let window = Duration::from_secs(60);
    let (a, addr_a) = node(&redis.url(), "t-recovery", window).await;
    let (b, addr_b) = node(&redis.url(), "t-recovery", window).await;

    let mut c = Client::connect(addr_a, "").await;
    assert_ne!(c.sid, c.pid);
    assert_eq!(
        c.event().await[..2],
        [Value::from("hello"), Value::from(false)]
    );
    assert_eq!(c.call(1, "join", r#","room1""#).await, Value::Array(vec![]));
    // from the other node, through the stream: the offset is the entry id
    b.to("room1").emit("news", "before").await.unwrap();
    assert_eq!(c.event().await[1], "before");
    let offset = c.offset.as_deref().unwrap();
    assert!(
        is_stream_id(offset),
        "the offset is a stream entry id: {offset}"
    );

    let gone = drop_connection(c, &a, &redis).await;
    // sent from node B while the client is away
    b.to("room1").emit("news", "while away 1").await.unwrap();
    b.emit("news", "while away 2").await.unwrap();
    b.to("elsewhere").emit("news", "not for it").await.unwrap();
    b.of("/").volatile().emit("news", "volatile").await.unwrap();
    b.of("/")
        .except("room1")
        .emit("news", "except its room")
        .await
        .unwrap();
    // and from node A (which it left): B replays it if its stream reader has
    // handed it over already, else delivers it live once the socket is back
    a.to("room1").emit("news", "while away 3").await.unwrap();

    // it comes back on node B
    let mut c = Client::connect(addr_b, &gone.resume_auth()).await;
    assert_eq!(c.sid, gone.sid, "the same socket id");
    assert_eq!(c.pid, gone.pid);
    assert!(b.of("/").socket(&gone.sid).unwrap().recovered());
    let mut got = Vec::new();
    // a marker sent after, from A: anything delivered twice (replayed, and
    // live from the stream) would come before it
    a.to(gone.sid.as_str()).emit("marker", &()).await.unwrap();
    loop {
        let e = c.event().await;
        if e[0] == "marker" {
            break;
        }
        got.push(e);
    }
    let mut news: Vec<&Value> = got
        .iter()
        .filter(|e| e[0] == "news")
        .map(|e| &e[1])
        .collect();
    news.sort_by_key(|v| v.as_str().map(str::to_owned));
    assert_eq!(
        news,
        ["while away 1", "while away 2", "while away 3"],
        "missed, once: {got:?}"
    );
    let hello: Vec<&Vec<Value>> = got.iter().filter(|e| e[0] == "hello").collect();
    assert_eq!(hello.len(), 1, "{got:?}");
    assert_eq!(hello[0][1], true, "recovered() in the connect handler");
    // its rooms and session data are back
    let who = c.call(2, "whoami", "").await;
    assert_eq!(who[0], 1, "session data kept");
    let mut rooms = vec![gone.sid.clone(), "room1".to_owned()];
    rooms.sort();
    assert_eq!(who[1], Value::from(rooms));
    a.to("room1").emit("news", "after").await.unwrap();
    assert_eq!(c.event().await[1], "after", "a member of room1 again");
    // the session was taken: a second attempt gets a new socket
    let again = Client::connect(addr_a, &gone.resume_auth()).await;
    assert_ne!(again.sid, gone.sid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_recovery_after_the_window_or_for_an_unknown_session() {
    let redis = RedisServer::start().await;
    let window = Duration::from_millis(300);
    let (a, addr_a) = node(&redis.url(), "t-expiry", window).await;
    let (b, addr_b) = node(&redis.url(), "t-expiry", window).await;

    let mut c = Client::connect(addr_a, "").await;
    c.event().await;
    let gone = drop_connection(c, &a, &redis).await;
    // the key expires with the window (Redis PX)
    let mut conn = conn(&redis).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while redis::cmd("EXISTS")
        .arg(format!("sio:session:{}", gone.pid))
        .query_async::<bool>(&mut conn)
        .await
        .unwrap()
    {
        assert!(tokio::time::Instant::now() < deadline, "never expired");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = Client::connect(addr_b, &gone.resume_auth()).await;
    assert_ne!(c.sid, gone.sid, "a new socket after the window");
    assert_eq!(c.event().await[1], false, "not recovered");

    // an unknown private id, a malformed offset: new sockets
    let offset = c.offset.clone().unwrap();
    let mut u = Client::connect(
        addr_b,
        &format!(r#"{{"pid":"no-such-pid","offset":"{offset}"}}"#),
    )
    .await;
    assert_eq!(u.event().await[1], false);
    let gone = drop_connection(c, &b, &redis).await;
    let mut m = Client::connect(
        addr_a,
        &format!(r#"{{"pid":"{}","offset":"nope"}}"#, gone.pid),
    )
    .await;
    assert_ne!(m.sid, gone.sid);
    assert_eq!(m.event().await[1], false);
}

/// The classic adapter keeps recovery per node (as Node's has none across
/// nodes): every node records what its sockets get, the other nodes'
/// broadcasts included, so a client that comes back to the node it left
/// gets what they sent meanwhile; on another node it is a new socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_classic_adapter_recovers_on_the_same_node_with_other_nodes_events() {
    let redis = RedisServer::start().await;
    let (a, addr_a) = classic_node(&redis.url(), "t-classic-rec").await;
    let (b, addr_b) = classic_node(&redis.url(), "t-classic-rec").await;

    let mut c = Client::connect(addr_a, "").await;
    c.event().await;
    c.call(1, "join", r#","room1""#).await;
    b.to("room1").emit("news", "before").await.unwrap();
    assert_eq!(c.event().await[1], "before");
    // the offset of a broadcast from B is one of A's log
    let gone = Gone {
        sid: c.sid.clone(),
        pid: c.pid.clone(),
        offset: c.offset.clone().unwrap(),
    };
    drop(c);
    let deadline = tokio::time::Instant::now() + WAIT;
    while a.of("/").socket(&gone.sid).is_some() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A has no member of room1 now: the event is recorded all the same
    b.to("room1").emit("news", "while away").await.unwrap();
    // B's event reaches A (a marker to A's other client shows it arrived)
    let mut w = Client::connect(addr_a, "").await;
    w.event().await;
    w.call(1, "join", r#","room1""#).await;
    b.to("room1").emit("news", "marker").await.unwrap();
    assert_eq!(w.event().await[1], "marker");

    // on another node: a new socket
    let mut elsewhere = Client::connect(addr_b, &gone.resume_auth()).await;
    assert_ne!(elsewhere.sid, gone.sid);
    assert_eq!(elsewhere.event().await[1], false);
    // back on A: recovered, with the event B sent meanwhile
    let mut c = Client::connect(addr_a, &gone.resume_auth()).await;
    assert_eq!(c.sid, gone.sid);
    let mut news = Vec::new();
    for _ in 0..3 {
        let e = c.event().await;
        if e[0] == "hello" {
            assert_eq!(e[1], true, "recovered");
        } else {
            news.push(e[1].clone());
        }
    }
    assert_eq!(news, ["while away", "marker"]);
}

/// While Redis is away, a replayable emit does not wait for it: this node's
/// sockets get the event at once, without an offset; a client that comes
/// back meanwhile gets a new socket (nothing could be kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_away_emits_go_on_without_offsets_and_clients_get_new_sockets() {
    let redis = RedisServer::start().await;
    let adapter = RedisStreamsAdapter::builder(&redis.url())
        .stream_name("t-away")
        .channel_prefix("t-away")
        .request_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    let (io, addr) = serve_node(
        SocketIo::builder().adapter(adapter.clone()),
        Duration::from_secs(60),
    )
    .await;
    let mut c = Client::connect(addr, "").await;
    c.event().await;
    let offset = c.offset.clone().unwrap();
    assert!(is_stream_id(&offset));

    drop(redis); // SIGTERM, waited for
    let deadline = tokio::time::Instant::now() + WAIT;
    while adapter.metrics().connected {
        assert!(tokio::time::Instant::now() < deadline, "outage not seen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    io.emit("news", &7).await.unwrap(); // queued for when Redis is back
    let f = recv(&mut c.ws).await;
    assert_eq!(
        json(&f),
        Value::from(vec![Value::from("news"), Value::from(7)])
    );

    let gone = Gone {
        sid: c.sid.clone(),
        pid: c.pid.clone(),
        offset,
    };
    drop(c);
    let deadline = tokio::time::Instant::now() + WAIT;
    while io.of("/").socket(&gone.sid).is_some() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c = Client::connect(addr, &gone.resume_auth()).await;
    assert_ne!(c.sid, gone.sid, "a new socket");
}
