//! Three sockio servers in one process on a private Redis (a `redis-server` started on a
//! free port by each test; `REDIS_SERVER` names the binary, default `redis-server`),
//! with in-process clients on each: every cluster operation through the Rust API, the
//! emitter, and a Redis outage.

use std::time::Duration;

use sockio::{Data, SocketIo, TestClient, Value};
use sockio_redis::{Emitter, RedisAdapter};

mod support;
use support::RedisServer;

async fn node(url: &str, key: &str, name: &'static str) -> (SocketIo, RedisAdapter) {
    let adapter = RedisAdapter::builder(url)
        .key(key)
        .request_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let io = SocketIo::builder()
        .adapter(adapter.clone())
        .build()
        .unwrap();
    io.on_server_side("who", move || async move { name });
    io.of("/chat");
    io.adapter_ready().await.unwrap();
    (io, adapter)
}

async fn cluster(url: &str, key: &str) -> Vec<(SocketIo, RedisAdapter)> {
    let mut out = Vec::new();
    for name in ["A", "B", "C"] {
        out.push(node(url, key, name).await);
    }
    out
}

/// The next event named `event` (skipping others), within 3 s.
async fn next(c: &TestClient, event: &str) -> sockio::Received {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.recv_timeout_in("/", left).await.unwrap() {
            Some(r) if r.event == event => return r,
            Some(_) => continue,
            None => panic!("no `{event}` within 3 s"),
        }
    }
}

async fn answer(c: &TestClient, label: &str) {
    let r = next(c, "q").await;
    c.ack(&r, &label).unwrap();
}

async fn nothing(c: &TestClient, event: &str) {
    while let Some(r) = c.recv_nothing(Duration::from_millis(300)).await {
        assert_ne!(r.event, event, "unexpected {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_share_rooms_broadcasts_and_requests() {
    let redis = RedisServer::start().await;
    let nodes = cluster(&redis.url(), "t-ops").await;
    let io: Vec<&SocketIo> = nodes.iter().map(|(io, _)| io).collect();
    let c: Vec<TestClient> = futures_util::future::join_all(io.iter().map(|io| {
        TestClient::builder(io)
            .auth(&serde_json::json!({"user": "u"}))
            .connect()
    }))
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let ids: Vec<String> = c.iter().map(TestClient::id).collect();

    assert_eq!(io[0].server_count().await.unwrap(), 3);

    // join: one local socket, one on another server through the cluster
    io[0].of("/").socket(&ids[0]).unwrap().join("r");
    io[1].to(ids[2].as_str()).join("r").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut rooms: Vec<String> = io[1]
        .of("/")
        .rooms()
        .await
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    rooms.sort();
    assert!(rooms.contains(&"r".to_string()), "{rooms:?}");

    // broadcast to a room from a server with no member
    io[1].to("r").emit("hello", &(1, "one")).await.unwrap();
    for i in [0, 2] {
        let r = next(&c[i], "hello").await;
        assert_eq!(r.args, vec![Value::from(1), Value::from("one")]);
    }
    nothing(&c[1], "hello").await;
    nothing(&c[0], "hello").await; // once

    // except, with a binary
    let bin = bytes::Bytes::from_static(&[0, 1, 255]);
    io[2]
        .of("/")
        .except("r")
        .emit("x", &Value::Binary(bin.clone()))
        .await
        .unwrap();
    assert_eq!(next(&c[1], "x").await.args, vec![Value::Binary(bin)]);
    nothing(&c[0], "x").await;
    nothing(&c[2], "x").await;

    // fetch_sockets: every server's sockets, with rooms and handshake
    let mut all = io[0].fetch_sockets().await.unwrap();
    all.sort_by(|a, b| a.id().as_str().cmp(b.id().as_str()));
    let mut want = ids.clone();
    want.sort();
    assert_eq!(
        all.iter().map(|s| s.id().to_string()).collect::<Vec<_>>(),
        want
    );
    let remote2 = all.iter().find(|s| s.id().as_str() == ids[2]).unwrap();
    assert!(remote2.rooms().iter().any(|r| &**r == "r"));
    assert_eq!(remote2.handshake["auth"]["user"], "u");
    assert_eq!(io[2].to("r").fetch_sockets().await.unwrap().len(), 2);

    // RemoteSocket operations reach the socket where it lives
    let remote1 = all.iter().find(|s| s.id().as_str() == ids[1]).unwrap();
    remote1.emit("direct", "hi").await.unwrap();
    assert_eq!(next(&c[1], "direct").await.args, vec![Value::from("hi")]);
    remote2.leave("r").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(io[1].to("r").fetch_sockets().await.unwrap().len(), 1);

    // broadcast with acks: every client of every server answers
    let op = io[0].of("/").timeout(Duration::from_secs(2));
    let ask = op.emit_with_ack("q", &());
    let (acks, (), (), ()) = tokio::join!(
        ask,
        answer(&c[0], "a"),
        answer(&c[1], "b"),
        answer(&c[2], "c"),
    );
    let acks = acks.unwrap();
    assert!(acks.complete);
    let mut got: Vec<String> = acks.first_args().unwrap();
    got.sort();
    assert_eq!(got, ["a", "b", "c"]);

    // server-side emit with acks: the other servers' handlers answer
    let acks = io[1]
        .server_side_emit_with_ack("who", &(), Duration::from_secs(2))
        .await
        .unwrap();
    assert!(acks.complete);
    let mut names: Vec<String> = acks.first_args().unwrap();
    names.sort();
    assert_eq!(names, ["A", "C"]);

    // disconnect a socket on another server
    io[0]
        .to(ids[1].as_str())
        .disconnect_sockets()
        .await
        .unwrap();
    let r = next(&c[1], "disconnect").await;
    assert_eq!(r.args, vec![Value::from("io server disconnect")]);
    assert_eq!(io[2].fetch_sockets().await.unwrap().len(), 2);

    // namespaces are separate
    let chat = TestClient::builder(io[2])
        .namespace("/chat")
        .connect()
        .await
        .unwrap();
    io[0].of("/chat").emit("in-chat", &1).await.unwrap();
    let r = chat.recv_in("/chat").await.unwrap();
    assert_eq!(r.event, "in-chat");
    nothing(&c[0], "in-chat").await;
    for (_, a) in &nodes {
        let m = a.metrics();
        assert_eq!(m.decode_errors, 0);
        assert!(m.connected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emitter_reaches_every_server() {
    let redis = RedisServer::start().await;
    let nodes = cluster(&redis.url(), "t-emitter").await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (io, _) in &nodes {
        let tx = tx.clone();
        io.on_server_side("reload", move |Data(v): Data<u32>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(v);
            }
        });
    }
    let c: Vec<TestClient> =
        futures_util::future::join_all(nodes.iter().map(|(io, _)| TestClient::connect(io)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let emitter = Emitter::builder(&redis.url())
        .key("t-emitter")
        .build()
        .await
        .unwrap();

    emitter.emit("news", &("all", 1)).await.unwrap();
    for cl in &c {
        assert_eq!(
            next(cl, "news").await.args,
            vec![Value::from("all"), Value::from(1)]
        );
    }
    emitter
        .to(c[1].id().as_str())
        .sockets_join("vip")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    emitter.to("vip").emit("vip-only", &()).await.unwrap();
    emitter.except("vip").emit("not-vip", &()).await.unwrap();
    next(&c[1], "vip-only").await;
    next(&c[0], "not-vip").await;
    next(&c[2], "not-vip").await;
    nothing(&c[1], "not-vip").await;
    nothing(&c[0], "vip-only").await;
    emitter
        .to(c[1].id().as_str())
        .sockets_leave("vip")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(nodes[0]
        .0
        .to("vip")
        .fetch_sockets()
        .await
        .unwrap()
        .is_empty());

    emitter.server_side_emit("reload", &7).await.unwrap();
    for _ in 0..3 {
        let v = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .unwrap();
        assert_eq!(v, Some(7));
    }

    emitter
        .to(c[2].id().as_str())
        .disconnect_sockets(false)
        .await
        .unwrap();
    assert_eq!(
        next(&c[2], "disconnect").await.args,
        vec![Value::from("io server disconnect")]
    );
    assert!(matches!(
        emitter.emit("disconnect", &()).await,
        Err(sockio::EmitError::ReservedEvent(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_keeps_local_delivery_fails_requests_and_heals() {
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let nodes = cluster(&redis.url(), "t-outage").await;
    let c: Vec<TestClient> =
        futures_util::future::join_all(nodes.iter().map(|(io, _)| TestClient::connect(io)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    for (i, (io, _)) in nodes.iter().enumerate() {
        io.of("/").socket(&c[i].id()).unwrap().join("room");
    }

    redis.stop();
    let started = std::time::Instant::now();
    // until the outage is seen, an emit may still be queued; then it fails at once
    let err = loop {
        match nodes[0].0.to("room").emit("m", &0).await {
            Err(e) => break e,
            Ok(()) => {
                assert!(
                    started.elapsed() < Duration::from_secs(5),
                    "the outage was not noticed"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(
        matches!(
            err,
            sockio::EmitError::Adapter(sockio::AdapterError::Unavailable(_))
        ),
        "{err}"
    );
    // local delivery went on meanwhile
    next(&c[0], "m").await;
    let t = std::time::Instant::now();
    let fetched = nodes[1].0.fetch_sockets().await;
    assert!(
        matches!(fetched, Err(sockio::AdapterError::Unavailable(_))),
        "{fetched:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "a cluster request hung for {:?}",
        t.elapsed()
    );
    assert!(!nodes[0].1.is_connected());
    assert!(nodes[0].1.metrics().outages >= 1);

    // Redis back on the same port: the servers reconnect and resubscribe by themselves
    let _redis = RedisServer::start_on(port).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut n = 100;
    'heal: loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no recovery within 30 s"
        );
        n += 1;
        let _ = nodes[1].0.to("room").emit("probe", &n).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for cl in [&c[0], &c[2]] {
            let mut got = false;
            while let Some(r) = cl.recv_nothing(Duration::from_millis(10)).await {
                got |= r.event == "probe" && r.args == vec![Value::from(n)];
            }
            if !got {
                continue 'heal;
            }
        }
        break;
    }
    // then exactly once per emit
    nodes[2].0.to("room").emit("once", &1).await.unwrap();
    for cl in &c {
        next(cl, "once").await;
        nothing(cl, "once").await;
    }
    let m = nodes[0].1.metrics();
    assert!(m.recoveries >= 1 && m.connected, "{m:?}");
    assert_eq!(nodes[2].0.fetch_sockets().await.unwrap().len(), 3);
}

async fn streams_node(url: &str, key: &str, name: &'static str) -> SocketIo {
    let adapter = sockio_redis::RedisStreamsAdapter::builder(url)
        .stream_name(key)
        .channel_prefix(key)
        .request_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let io = SocketIo::builder().adapter(adapter).build().unwrap();
    io.on_server_side("who", move || async move { name });
    io.adapter_ready().await.unwrap();
    io
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_adapter_shares_everything_and_reads_what_it_missed() {
    let redis = RedisServer::start().await;
    let mut io = Vec::new();
    for name in ["A", "B", "C"] {
        io.push(streams_node(&redis.url(), "t-streams", name).await);
    }
    let c: Vec<TestClient> = futures_util::future::join_all(io.iter().map(TestClient::connect))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let ids: Vec<String> = c.iter().map(TestClient::id).collect();
    assert_eq!(io[0].server_count().await.unwrap(), 3);

    io[0].to(ids[1].as_str()).join("s").await.unwrap();
    io[2].of("/").socket(&ids[2]).unwrap().join("s");
    tokio::time::sleep(Duration::from_millis(200)).await;
    io[0]
        .to("s")
        .emit("hi", &bytes::Bytes::from_static(b"\x01\x02"))
        .await
        .unwrap();
    for i in [1, 2] {
        let r = next(&c[i], "hi").await;
        assert_eq!(
            r.args,
            vec![Value::Binary(bytes::Bytes::from_static(b"\x01\x02"))]
        );
    }
    nothing(&c[0], "hi").await;
    assert_eq!(io[1].to("s").fetch_sockets().await.unwrap().len(), 2);

    let acks = io[2]
        .server_side_emit_with_ack("who", &(), Duration::from_secs(2))
        .await
        .unwrap();
    let mut names: Vec<String> = acks.first_args().unwrap();
    names.sort();
    assert_eq!(
        (names, acks.complete),
        (vec!["A".to_string(), "B".to_string()], true)
    );

    // drop the servers' stream readers (blocked in XREAD): entries added
    // meanwhile are read once they are back, from their last offset
    let mut admin = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut admin)
        .await
        .unwrap();
    let readers: Vec<&str> = list
        .lines()
        .filter(|l| l.contains("cmd=xread"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert_eq!(readers.len(), 3, "{list}");
    for id in readers {
        let _: redis::Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut admin)
            .await
            .unwrap();
    }
    for n in 0..5 {
        io[1].of("/").emit("after", &n).await.unwrap();
    }
    for i in [0, 2] {
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(next(&c[i], "after").await.arg::<u32>(0).unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3, 4], "client {i}");
        nothing(&c[i], "after").await;
    }

    io[1]
        .to(ids[0].as_str())
        .disconnect_sockets()
        .await
        .unwrap();
    assert_eq!(
        next(&c[0], "disconnect").await.args,
        vec![Value::from("io server disconnect")]
    );
}
