//! The Socket.IO API as a client observes it, through the in-process TestClient
//! (real engine, real codec).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sockio::{
    Ack, Args, Auth, ConnectError, Data, DisconnectReason, Event, HandlerError, Socket, SocketIo,
    State, TestClient, TestClientError, Value,
};

const QUIET: Duration = Duration::from_millis(300);

fn io() -> SocketIo {
    SocketIo::builder().build().unwrap()
}

fn j(v: &Value) -> serde_json::Value {
    sockio::protocol::from_value(v.clone()).unwrap()
}

#[tokio::test]
async fn returned_value_is_the_ack_and_unit_acks_with_no_arguments() {
    let io = io();
    io.on("add", |Data(a): Data<i64>, Data(b): Data<i64>| async move {
        a + b
    });
    io.on("nothing", || async {});
    io.on("pair", || async { ("x", 2) });
    io.on("one-tuple", || async { Ack((1, "two")) });
    let c = TestClient::connect(&io).await.unwrap();
    assert_eq!(
        c.emit_with_ack("add", &(2, 3)).await.unwrap(),
        vec![Value::from(5)]
    );
    assert_eq!(
        c.emit_with_ack("nothing", &()).await.unwrap(),
        Vec::<Value>::new()
    );
    assert_eq!(
        c.emit_with_ack("pair", &()).await.unwrap(),
        vec![Value::from("x"), Value::from(2)]
    );
    assert_eq!(
        c.emit_with_ack("one-tuple", &()).await.unwrap(),
        vec![Value::from(1), Value::from("two")]
    );
}

#[tokio::test]
async fn bad_arguments_go_to_the_error_handler_whose_value_is_the_ack() {
    let io = io();
    io.on("num", |Data(n): Data<u32>| async move { n });
    let c = TestClient::connect(&io).await.unwrap();
    // Default error handler: an ack with {"error": ...}, never silence.
    let ack = c.emit_with_ack("num", &"not a number").await.unwrap();
    let err = j(&ack[0]);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("invalid arguments for event `num`"),
        "{err}"
    );

    io.of("/")
        .on_error(|e: HandlerError| async move { format!("sorry: {}", e.event) });
    let ack = c.emit_with_ack("num", &"still not").await.unwrap();
    assert_eq!(ack, vec![Value::from("sorry: num")]);
}

#[tokio::test]
async fn handler_errors_and_panics_reach_the_error_handler_and_the_server_stays_up() {
    let io = io();
    io.on("fail", || async { Err::<(), _>("database is down") });
    io.on("panic", || async {
        if true {
            panic!("boom");
        }
    });
    io.on("ok", || async { "fine" });
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    io.on_error_default(move |e: HandlerError| {
        let seen = seen2.clone();
        async move {
            seen.lock().unwrap().push(e.message());
            Ack(json!({"failed": e.event}))
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    assert_eq!(
        j(&c.emit_with_ack("fail", &()).await.unwrap()[0]),
        json!({"failed": "fail"})
    );
    assert_eq!(
        j(&c.emit_with_ack("panic", &()).await.unwrap()[0]),
        json!({"failed": "panic"})
    );
    assert_eq!(
        c.emit_with_ack("ok", &()).await.unwrap(),
        vec![Value::from("fine")]
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen[0], "database is down");
    assert!(seen[1].contains("boom"), "{seen:?}");
}

#[tokio::test]
async fn refusal_with_data_reaches_the_client_as_message_and_data() {
    let io = io();
    io.of("/admin")
        .on_connect(|Auth(a): Auth<Option<serde_json::Value>>| async move {
            match a {
                Some(a) if a["token"] == "ok" => Ok(()),
                _ => Err(ConnectError::new("not authorized").with_data(json!({"code": 401}))),
            }
        });
    io.of("/bool").on_connect(|| async { false });
    let c = TestClient::connect(&io).await.unwrap();
    match c.connect_namespace("/admin", None).await {
        Err(TestClientError::Refused(v)) => {
            assert_eq!(
                j(&v),
                json!({"message": "not authorized", "data": {"code": 401}})
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match c.connect_namespace("/bool", None).await {
        Err(TestClientError::Refused(v)) => {
            assert_eq!(j(&v), json!({"message": "Connection rejected by server"}))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match c.connect_namespace("/nowhere", None).await {
        Err(TestClientError::Refused(v)) => {
            assert_eq!(j(&v), json!({"message": "Invalid namespace"}))
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let auth = sockio::protocol::to_value(&json!({"token": "ok"})).unwrap();
    assert!(c.connect_namespace("/admin", Some(auth)).await.is_ok());
}

#[tokio::test]
async fn middlewares_run_in_order_and_the_first_refusal_wins() {
    let io = io();
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o1, o2) = (order.clone(), order.clone());
    io.of("/m")
        .middleware(move || {
            let o = o1.clone();
            async move { o.lock().unwrap().push(1) }
        })
        .middleware(move |Auth(a): Auth<Option<serde_json::Value>>| {
            let o = o2.clone();
            async move {
                o.lock().unwrap().push(2);
                if a.is_some_and(|a| a["pass"] == "letmein") {
                    Ok(())
                } else {
                    Err("who are you")
                }
            }
        });
    let c = TestClient::connect(&io).await.unwrap();
    assert!(matches!(
        c.connect_namespace("/m", None).await,
        Err(TestClientError::Refused(_))
    ));
    let pass = sockio::protocol::to_value(&json!({"pass": "letmein"})).unwrap();
    assert!(c.connect_namespace("/m", Some(pass)).await.is_ok());
    assert_eq!(*order.lock().unwrap(), vec![1, 2, 1, 2]);
}

#[tokio::test]
async fn emits_in_the_connect_handler_follow_the_connect_reply() {
    let io = io();
    io.on_connect(
        |s: Socket, Auth(a): Auth<Option<serde_json::Value>>| async move {
            s.emit("auth", &a.unwrap_or(json!({})))
                .await
                .map_err(|e| e.to_string())
        },
    );
    let c = TestClient::builder(&io)
        .auth(&json!({"token": "123"}))
        .connect()
        .await
        .unwrap();
    let r = c.recv().await.unwrap();
    assert_eq!(r.event, "auth");
    assert_eq!(j(&r.args[0]), json!({"token": "123"}));
}

#[tokio::test]
async fn socket_ids_are_per_namespace_and_never_the_session_id() {
    let io = io();
    io.of("/other");
    let c = TestClient::connect(&io).await.unwrap();
    let other = c.connect_namespace("/other", None).await.unwrap();
    assert_eq!(c.id().len(), 20);
    assert_ne!(c.id(), other);
    assert_ne!(c.id(), c.engine_id());
    assert_ne!(other, c.engine_id());
}

#[tokio::test]
async fn broadcast_never_leaves_its_namespace() {
    let io = io();
    io.of("/a").on("shout", |s: Socket| async move {
        s.broadcast().emit("heard", &"a").await
    });
    io.of("/b");
    let sender = TestClient::builder(&io)
        .namespace("/a")
        .connect()
        .await
        .unwrap();
    let in_a = TestClient::builder(&io)
        .namespace("/a")
        .connect()
        .await
        .unwrap();
    let in_b = TestClient::builder(&io)
        .namespace("/b")
        .connect()
        .await
        .unwrap();
    sender.emit("shout", &()).await.unwrap();
    assert_eq!(in_a.recv().await.unwrap().event, "heard");
    assert!(in_b.recv_nothing(QUIET).await.is_none());
    // Node's broadcast leaves the sender out.
    assert!(sender.recv_nothing(QUIET).await.is_none());
}

#[tokio::test]
async fn rooms_include_self_skip_sid_and_leave() {
    let io = io();
    io.on("join", |s: Socket, Data(r): Data<String>| async move {
        s.join(r.as_str())
    });
    io.on("leave", |s: Socket, Data(r): Data<String>| async move {
        s.leave(r.as_str())
    });
    io.on("node-style", |s: Socket, Data(r): Data<String>| async move {
        s.to(r.as_str()).emit("msg", &"node").await
    });
    io.on(
        "flask-style",
        |s: Socket, Data(r): Data<String>| async move {
            s.to(r.as_str()).include_self().emit("msg", &"flask").await
        },
    );
    io.on(
        "skip",
        |s: Socket, Data(r): Data<String>, Data(skip): Data<String>| async move {
            s.to(r.as_str())
                .include_self()
                .skip_sid(&skip)
                .emit("msg", &"skip")
                .await
        },
    );
    let a = TestClient::connect(&io).await.unwrap();
    let b = TestClient::connect(&io).await.unwrap();
    let outsider = TestClient::connect(&io).await.unwrap();
    a.emit_with_ack("join", &"r").await.unwrap();
    b.emit_with_ack("join", &"r").await.unwrap();

    a.emit_with_ack("node-style", &"r").await.unwrap();
    assert_eq!(b.recv().await.unwrap().args, vec![Value::from("node")]);
    assert!(a.recv_nothing(QUIET).await.is_none());

    a.emit_with_ack("flask-style", &"r").await.unwrap();
    assert_eq!(a.recv().await.unwrap().args, vec![Value::from("flask")]);
    assert_eq!(b.recv().await.unwrap().args, vec![Value::from("flask")]);

    a.emit_with_ack("skip", &("r", b.id())).await.unwrap();
    assert_eq!(a.recv().await.unwrap().args, vec![Value::from("skip")]);
    assert!(b.recv_nothing(QUIET).await.is_none());

    b.emit_with_ack("leave", &"r").await.unwrap();
    a.emit_with_ack("flask-style", &"r").await.unwrap();
    assert_eq!(a.recv().await.unwrap().args, vec![Value::from("flask")]);
    assert!(b.recv_nothing(QUIET).await.is_none());
    assert!(outsider
        .recv_nothing(Duration::from_millis(50))
        .await
        .is_none());
}

#[tokio::test]
async fn every_socket_is_in_its_own_room_and_server_emits_reach_it() {
    let io = io();
    let c = TestClient::connect(&io).await.unwrap();
    let other = TestClient::connect(&io).await.unwrap();
    let s = io.of("/").socket(&c.id()).unwrap();
    assert_eq!(s.rooms(), vec![sockio::Room::from(c.id().as_str())]);
    io.to(c.id().as_str())
        .emit("private", &"for you")
        .await
        .unwrap();
    assert_eq!(c.recv().await.unwrap().event, "private");
    assert!(other.recv_nothing(QUIET).await.is_none());
    // From a background task, outside any handler.
    let io2 = io.clone();
    tokio::spawn(async move { io2.emit("news", &"all").await.unwrap() })
        .await
        .unwrap();
    assert_eq!(c.recv().await.unwrap().event, "news");
    assert_eq!(other.recv().await.unwrap().event, "news");
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct File {
    name: String,
    data: Bytes,
    parts: Vec<Bytes>,
}

#[tokio::test]
async fn binary_round_trips_nested_in_user_structs() {
    let io = io();
    io.on("file", |Data(f): Data<File>| async move {
        assert_eq!(f.data.len(), 3);
        Ack(f)
    });
    io.on("raw", |a: Args<Vec<Value>>| async move { a });
    let c = TestClient::connect(&io).await.unwrap();
    let f = File {
        name: "x".into(),
        data: Bytes::from_static(&[1, 2, 3]),
        parts: vec![Bytes::new(), Bytes::from(vec![0u8; 300_000])],
    };
    let ack = c.emit_with_ack("file", &f).await.unwrap();
    let back: File = sockio::protocol::from_value(ack[0].clone()).unwrap();
    assert_eq!(back, f);
    let nested = sockio::value!({"deep": [Bytes::from_static(&[9, 8]), 1]});
    let ack = c
        .emit_with_ack(
            "raw",
            &Args(vec![nested.clone(), Value::Binary(Bytes::new())]),
        )
        .await
        .unwrap();
    assert_eq!(ack, vec![nested, Value::Binary(Bytes::new())]);
}

#[tokio::test]
async fn json_keys_with_escapes_and_non_ascii_survive() {
    let io = io();
    io.on("echo", |a: Args<Vec<Value>>| async move { a });
    let c = TestClient::connect(&io).await.unwrap();
    let pairs = [
        ("quo\"te", "back\\slash"),
        ("ünï", "日本語 😀"),
        ("ctl\n", "\t\u{1}"),
        ("/", "</script>"),
    ];
    let v = Value::Object(pairs.iter().copied().collect());
    let ack = c.emit_with_ack("echo", &v).await.unwrap();
    assert_eq!(ack[0], v);
    let keys: Vec<&str> = ack[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["quo\"te", "ünï", "ctl\n", "/"], "key order kept");
}

#[tokio::test]
async fn catch_all_gets_the_event_name() {
    let io = io();
    io.on("known", || async { "known" });
    io.of("/")
        .on_any(|Event(name): Event, Args(a): Args<Vec<Value>>| async move { (name, a.len()) });
    let c = TestClient::connect(&io).await.unwrap();
    assert_eq!(
        c.emit_with_ack("known", &()).await.unwrap(),
        vec![Value::from("known")]
    );
    assert_eq!(
        c.emit_with_ack("whatever", &(1, 2)).await.unwrap(),
        vec![Value::from("whatever"), Value::from(2)]
    );
}

#[tokio::test]
async fn send_is_the_message_event() {
    let io = io();
    io.on("message", |s: Socket, Data(m): Data<String>| async move {
        s.send(&m.to_uppercase()).await
    });
    let c = TestClient::connect(&io).await.unwrap();
    c.emit("message", &"hi").await.unwrap();
    let r = c.recv().await.unwrap();
    assert_eq!(
        (r.event.as_str(), r.args.clone()),
        ("message", vec![Value::from("HI")])
    );
}

#[tokio::test]
async fn serialized_handlers_finish_in_arrival_order() {
    let io = SocketIo::builder().async_handlers(false).build().unwrap();
    io.on("n", |s: Socket, Data(n): Data<u32>| async move {
        // Handlers that wait must not be overtaken by the next event.
        if n % 3 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        s.emit("n", &n).await
    });
    let c = TestClient::connect(&io).await.unwrap();
    for n in 0..20u32 {
        c.emit("n", &n).await.unwrap();
    }
    for n in 0..20u32 {
        assert_eq!(c.recv().await.unwrap().arg::<u32>(0).unwrap(), n);
    }
}

#[tokio::test]
async fn server_acks_are_answered_by_the_client_and_time_out() {
    let io = io();
    io.on("ask", |s: Socket| async move {
        let answer: Result<String, _> = s
            .timeout(Duration::from_secs(2))
            .call("question", &"name?")
            .await;
        answer.unwrap_or_else(|e| format!("error: {e}"))
    });
    io.on("ask-silent", |s: Socket| async move {
        match s
            .timeout(Duration::from_millis(100))
            .emit_with_ack("question", &())
            .await
        {
            Err(sockio::AckError::Timeout) => "timeout".to_string(),
            other => format!("{other:?}"),
        }
    });
    let c = Arc::new(TestClient::connect(&io).await.unwrap());
    let c2 = c.clone();
    let pending = tokio::spawn(async move { c2.emit_with_ack("ask", &()).await.unwrap() });
    let q = c.recv().await.unwrap();
    assert_eq!(q.event, "question");
    c.ack(&q, &"ada").unwrap();
    assert_eq!(pending.await.unwrap(), vec![Value::from("ada")]);
    assert_eq!(
        c.emit_with_ack("ask-silent", &()).await.unwrap(),
        vec![Value::from("timeout")]
    );
}

#[tokio::test]
async fn broadcast_with_acks_collects_every_answer() {
    let io = io();
    let clients = [
        TestClient::connect(&io).await.unwrap(),
        TestClient::connect(&io).await.unwrap(),
        TestClient::connect(&io).await.unwrap(),
    ];
    let io2 = io.clone();
    let poll = tokio::spawn(async move {
        io2.of("/")
            .timeout(Duration::from_secs(3))
            .emit_with_ack("vote", &())
            .await
            .unwrap()
    });
    for (i, c) in clients.iter().enumerate() {
        let r = c.recv().await.unwrap();
        c.ack(&r, &(i as u32)).unwrap();
    }
    let acks = poll.await.unwrap();
    assert!(acks.complete);
    let mut got: Vec<u32> = acks.first_args().unwrap();
    got.sort();
    assert_eq!(got, vec![0, 1, 2]);
}

#[tokio::test]
async fn disconnect_handler_gets_the_reason_and_still_sees_rooms() {
    let io = io();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    io.on("join", |s: Socket| async move { s.join("lobby") });
    io.on("kick-me", |s: Socket| async move { s.disconnect() });
    io.on_disconnect(move |s: Socket, reason: DisconnectReason| {
        let seen = seen2.clone();
        async move {
            seen.lock()
                .unwrap()
                .push((reason.as_str().to_string(), s.rooms().len()));
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    c.emit_with_ack("join", &()).await.unwrap();
    c.disconnect_namespace("/").unwrap();
    let c2 = TestClient::connect(&io).await.unwrap();
    c2.emit("kick-me", &()).await.unwrap();
    let r = c2.recv().await.unwrap();
    assert_eq!(
        (r.event.as_str(), r.args.clone()),
        ("disconnect", vec![Value::from("io server disconnect")])
    );
    let c3 = TestClient::connect(&io).await.unwrap();
    c3.close();
    // A disconnect handler without the reason works too.
    io.of("/plain").on_disconnect(|| async {});
    for _ in 0..50 {
        if seen.lock().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("client namespace disconnect".to_string(), 2),
            ("server namespace disconnect".to_string(), 1),
            ("transport close".to_string(), 1),
        ]
    );
}

#[tokio::test]
async fn session_state_and_handshake_context() {
    #[derive(Clone)]
    struct Db(&'static str);
    let io = SocketIo::builder().state(Db("sqlite")).build().unwrap();
    io.on("login", |s: Socket, Data(name): Data<String>| async move {
        s.session().insert("user", &name);
    });
    io.on("whoami", |s: Socket, State(db): State<Db>| async move {
        let user: Option<String> = s.session().get("user");
        (
            user,
            db.0,
            s.query("room"),
            s.cookie("sid"),
            s.headers()
                .get("x-app")
                .map(|v| v.to_str().unwrap().to_string()),
        )
    });
    let c = TestClient::builder(&io)
        .query("room", "blue")
        .cookie("sid", "abc")
        .header("x-app", "test")
        .connect()
        .await
        .unwrap();
    c.emit_with_ack("login", &"ada").await.unwrap();
    let ack = c.emit_with_ack("whoami", &()).await.unwrap();
    assert_eq!(
        ack,
        vec![
            Value::from("ada"),
            Value::from("sqlite"),
            Value::from("blue"),
            Value::from("abc"),
            Value::from("test")
        ]
    );
}

#[tokio::test]
async fn dynamic_namespaces_share_handlers_and_keep_rooms_apart() {
    let io = io();
    let ws = io.of_dynamic(|n| n.starts_with("/ws-"));
    ws.on(
        "where",
        |s: Socket| async move { s.namespace().to_string() },
    );
    ws.on("shout", |s: Socket| async move {
        s.broadcast().emit("heard", &()).await
    });
    let a = TestClient::builder(&io)
        .namespace("/ws-1")
        .connect()
        .await
        .unwrap();
    let b = TestClient::builder(&io)
        .namespace("/ws-2")
        .connect()
        .await
        .unwrap();
    let a2 = TestClient::builder(&io)
        .namespace("/ws-1")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        a.emit_with_ack("where", &()).await.unwrap(),
        vec![Value::from("/ws-1")]
    );
    assert_eq!(
        b.emit_with_ack("where", &()).await.unwrap(),
        vec![Value::from("/ws-2")]
    );
    a.emit("shout", &()).await.unwrap();
    assert_eq!(a2.recv().await.unwrap().event, "heard");
    assert!(b.recv_nothing(QUIET).await.is_none());
    assert!(matches!(
        TestClient::builder(&io).namespace("/other").connect().await,
        Err(TestClientError::Refused(_))
    ));
}

#[tokio::test]
async fn reserved_event_names_cannot_be_emitted() {
    let io = io();
    io.on("try", |s: Socket| async move {
        match s.emit("disconnect", &()).await {
            Err(sockio::EmitError::ReservedEvent(_)) => "refused",
            _ => "sent",
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    assert_eq!(
        c.emit_with_ack("try", &()).await.unwrap(),
        vec![Value::from("refused")]
    );
}

#[tokio::test]
async fn server_side_socket_operations_on_a_selection() {
    let io = io();
    io.on("join", |s: Socket, Data(r): Data<String>| async move {
        s.join(r.as_str())
    });
    let a = TestClient::connect(&io).await.unwrap();
    let b = TestClient::connect(&io).await.unwrap();
    a.emit_with_ack("join", &"red").await.unwrap();
    b.emit_with_ack("join", &"blue").await.unwrap();
    let red = io.to("red").fetch_sockets().await.unwrap();
    assert_eq!(red.len(), 1);
    assert_eq!(red[0].id.as_str(), a.id());
    io.to("red").join("green").await.unwrap();
    io.to("green").emit("g", &()).await.unwrap();
    assert_eq!(a.recv().await.unwrap().event, "g");
    assert!(b.recv_nothing(QUIET).await.is_none());
    io.close_room("green").await.unwrap();
    io.to("green").emit("g", &()).await.unwrap();
    assert!(a.recv_nothing(QUIET).await.is_none());
    io.to("blue").disconnect_sockets().await.unwrap();
    assert_eq!(b.recv().await.unwrap().event, "disconnect");
    assert_eq!(io.of("/").sockets().len(), 1);
}

struct Counter {
    start: i64,
}

impl Counter {
    async fn on_connect(
        this: sockio::This<Counter>,
        s: Socket,
        Auth(auth): Auth<Option<Value>>,
    ) -> Result<(), ConnectError> {
        if auth.is_some() {
            return Err(ConnectError::new("no auth expected"));
        }
        s.session().insert("n", &this.start);
        Ok(())
    }
    async fn on_add(s: Socket, Data(by): Data<i64>) -> i64 {
        let n = s.session().get::<i64>("n").unwrap_or(0) + by;
        s.session().insert("n", &n);
        n
    }
}

impl sockio::NamespaceHandler for Counter {
    fn register(ns: &sockio::Namespace) {
        ns.on_connect(Self::on_connect).on("add", Self::on_add);
    }
}

#[tokio::test]
async fn a_namespace_can_be_a_type_with_methods() {
    let io = io();
    io.of("/count").handler(Counter { start: 10 });
    let c = TestClient::builder(&io)
        .namespace("/count")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        c.emit_with_ack("add", &5).await.unwrap(),
        vec![Value::from(15)]
    );
    assert_eq!(
        c.emit_with_ack("add", &1).await.unwrap(),
        vec![Value::from(16)]
    );
    let err = c.emit_with_ack("add", &"x").await.unwrap();
    assert!(j(&err[0])["error"].is_string());
    assert!(matches!(
        c.emit_with_ack_timeout("nope", &(), QUIET).await,
        Err(TestClientError::Timeout)
    ));
    assert!(matches!(
        TestClient::builder(&io)
            .namespace("/count")
            .auth(&json!({"a": 1}))
            .connect()
            .await,
        Err(TestClientError::Refused(_))
    ));
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_its_reason() {
    let io = io();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let r2 = reasons.clone();
    io.on_disconnect(move |reason: DisconnectReason| {
        let r = r2.clone();
        async move { r.lock().unwrap().push(reason.to_string()) }
    });
    let a = TestClient::connect(&io).await.unwrap();
    let b = TestClient::connect(&io).await.unwrap();
    io.close().await;
    assert!(a.closed(Duration::from_secs(3)).await);
    assert!(b.closed(Duration::from_secs(3)).await);
    for _ in 0..50 {
        if reasons.lock().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(*reasons.lock().unwrap(), vec!["server shutting down"; 2]);
}
