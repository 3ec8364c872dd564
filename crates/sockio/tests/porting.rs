//! What ports of Node and Flask-SocketIO servers ran into (issue 12), as a
//! client observes it through the in-process TestClient.

use bytes::Bytes;
use serde::Deserialize;
use sockio::{value, Args, Data, SocketIo, TestClient, Value};

fn io() -> SocketIo {
    SocketIo::builder().build().unwrap()
}

#[tokio::test]
async fn binary_survives_in_value_arguments_at_any_depth() {
    #[derive(Deserialize)]
    struct Upload {
        name: String,
        meta: Value,
    }
    let io = io();
    io.on("value", |Data(v): Data<Value>| async move { v });
    io.on(
        "upload",
        |Data(u): Data<Upload>| async move { (u.name, u.meta) },
    );
    io.on("json", |Data(v): Data<serde_json::Value>| async move { v });
    let c = TestClient::connect(&io).await.unwrap();
    let pic = Bytes::from_static(&[0, 159, 146, 150]);

    let sent = value!({"file": pic.clone(), "list": [1, pic.clone()]});
    let ack = c.emit_with_ack("value", &sent).await.unwrap();
    assert_eq!(ack, vec![sent.clone()]);
    assert_eq!(ack[0]["file"], Value::Binary(pic.clone()));
    assert_eq!(ack[0]["list"][1].as_bytes(), Some(&pic));

    let ack = c
        .emit_with_ack("upload", &value!({"name": "a.png", "meta": sent}))
        .await
        .unwrap();
    assert_eq!(ack[0], "a.png");
    assert!(ack[1]["list"][1].is_binary(), "{:?}", ack[1]);

    // serde_json has no binary type: it gets the byte values, documented.
    let ack = c.emit_with_ack("json", &value!({"b": pic})).await.unwrap();
    assert_eq!(ack[0]["b"], value!([0, 159, 146, 150]));
}

#[tokio::test]
async fn value_is_a_dictionary() {
    let io = io();
    io.on("enrich", |Data(mut data): Data<Value>| async move {
        if !data.is_truthy() {
            return value!({"error": "empty"});
        }
        let n = data["n"].as_i64().unwrap_or(0);
        data["n"] = value!(n + 1);
        data.insert("seen", true);
        data.remove("secret");
        data
    });
    io.on(
        "args",
        |Args(args): Args<Vec<Value>>| async move { args.len() },
    );
    let c = TestClient::connect(&io).await.unwrap();
    let ack = c
        .emit_with_ack("enrich", &value!({"n": 1, "secret": "x"}))
        .await
        .unwrap();
    assert_eq!(ack, vec![value!({"n": 2, "seen": true})]);
    let ack = c.emit_with_ack("enrich", &value!({})).await.unwrap();
    assert_eq!(ack, vec![value!({"error": "empty"})]);
    let ack = c.emit_with_ack("args", &(1, "b", [3])).await.unwrap();
    assert_eq!(ack, vec![Value::from(3)]);
}

const QUIET: std::time::Duration = std::time::Duration::from_millis(300);

#[tokio::test]
async fn an_event_without_a_handler_gets_no_ack() {
    let io = io();
    io.on("known", || async { "yes" });
    let c = TestClient::connect(&io).await.unwrap();
    assert!(matches!(
        c.emit_with_ack_timeout("unknown", &1, QUIET).await,
        Err(sockio::TestClientError::Timeout)
    ));
    // The connection is fine and the known event still answers.
    assert_eq!(
        c.emit_with_ack("known", &()).await.unwrap(),
        vec![Value::from("yes")]
    );
}

#[tokio::test]
async fn a_handler_can_ack_later_or_never() {
    use sockio::AckSender;
    let io = io();
    io.on("later", |Data(n): Data<i64>, ack: AckSender| async move {
        assert!(ack.wanted());
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            ack.send(&(n * 2, "done")).unwrap();
        });
        // The return value is not the ack.
        "ignored"
    });
    io.on("never", |_ack: AckSender| async move {});
    io.on("fails", |ack: AckSender| async move {
        let _keep = ack;
        Err::<(), _>("boom")
    });
    io.on_error_default(
        |e: sockio::HandlerError| async move { value!({"handled": e.to_string()}) },
    );
    let c = TestClient::connect(&io).await.unwrap();
    let ack = c.emit_with_ack("later", &21).await.unwrap();
    assert_eq!(ack, vec![Value::from(42), Value::from("done")]);
    assert!(matches!(
        c.emit_with_ack_timeout("never", &(), QUIET).await,
        Err(sockio::TestClientError::Timeout)
    ));
    // A handler that took the ack and failed: the error handler answers.
    let ack = c.emit_with_ack("fails", &()).await.unwrap();
    assert_eq!(ack, vec![value!({"handled": "boom"})]);
    // Without an ack request, AckSender::send does nothing.
    c.emit("later", &1).await.unwrap();
    assert!(c.recv_nothing(QUIET).await.is_none());
}

#[tokio::test]
async fn a_second_ack_is_refused() {
    use sockio::{AckSender, EmitError};
    let io = io();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    io.on("race", move |ack: AckSender| {
        let tx = tx.clone();
        async move {
            // Keep a clone-free handle: the error handler answers first.
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                let r = ack.send(&"late");
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(matches!(r, Err(EmitError::AlreadyAcknowledged)));
                }
            });
            Err::<(), _>("failed first")
        }
    });
    io.on_error(|| async { "from the error handler" });
    let c = TestClient::connect(&io).await.unwrap();
    let ack = c.emit_with_ack("race", &()).await.unwrap();
    assert_eq!(ack, vec![Value::from("from the error handler")]);
    assert!(rx.await.unwrap(), "the late ack is refused");
    assert!(c.recv_nothing(QUIET).await.is_none(), "one ack only");
}

#[tokio::test]
async fn handlers_for_every_namespace_are_fallbacks() {
    use sockio::Socket;
    let io = io();
    io.all_namespaces()
        .on("where", |s: Socket| async move { s.namespace().to_owned() })
        .on_connect(|s: Socket| async move { s.emit("hello", s.namespace()).await });
    io.of("/chat");
    io.of("/own").on("where", || async { "my own" });
    let chat = TestClient::builder(&io)
        .namespace("/chat")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        chat.recv().await.unwrap().arg::<String>(0).unwrap(),
        "/chat"
    );
    assert_eq!(
        chat.emit_with_ack("where", &()).await.unwrap(),
        vec![Value::from("/chat")]
    );
    let own = TestClient::builder(&io)
        .namespace("/own")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        own.emit_with_ack("where", &()).await.unwrap(),
        vec![Value::from("my own")]
    );
    // Not a dynamic namespace: unknown names stay refused...
    assert!(TestClient::builder(&io)
        .namespace("/new")
        .connect()
        .await
        .is_err());
    // ...until one accepts any name.
    io.of_dynamic(|_| true);
    let new = TestClient::builder(&io)
        .namespace("/new")
        .connect()
        .await
        .unwrap();
    assert_eq!(
        new.emit_with_ack("where", &()).await.unwrap(),
        vec![Value::from("/new")]
    );
    assert!(io.get_namespace("/new").is_some());
    assert!(io.get_namespace("/never").is_none());
    assert!(
        io.get_namespace("/never").is_none(),
        "looking does not create it"
    );
}

#[tokio::test]
async fn replies_follow_pythons_rules() {
    use sockio::{Ack, Socket};
    let io = io();
    io.on("none", || async { None::<String> });
    io.on("some", || async { Some("x".to_owned()) });
    io.on("null", || async { Value::Null });
    io.on("ack-none", || async { Ack(None::<u8>) });
    io.on("ack-null", || async { Ack(Value::Null) });
    io.on("one-null", || async { Ack((Value::Null,)) });
    io.on("sid", |s: Socket| async move { s.id().clone() });
    io.on("list", || async { vec![1, 2] });
    io.on("spread", || async { Args(vec![1, 2]) });
    io.on("tuple", || async { (1, "a", true) });
    let c = TestClient::connect(&io).await.unwrap();
    for ev in ["none", "null", "ack-none", "ack-null"] {
        assert_eq!(
            c.emit_with_ack(ev, &()).await.unwrap(),
            Vec::<Value>::new(),
            "{ev}"
        );
    }
    assert_eq!(
        c.emit_with_ack("some", &()).await.unwrap(),
        vec![Value::from("x")]
    );
    assert_eq!(
        c.emit_with_ack("one-null", &()).await.unwrap(),
        vec![Value::Null]
    );
    assert_eq!(
        c.emit_with_ack("sid", &()).await.unwrap(),
        vec![Value::from(c.id())]
    );
    assert_eq!(
        c.emit_with_ack("list", &()).await.unwrap(),
        vec![value!([1, 2])]
    );
    assert_eq!(
        c.emit_with_ack("spread", &()).await.unwrap(),
        vec![Value::from(1), Value::from(2)]
    );
    assert_eq!(
        c.emit_with_ack("tuple", &()).await.unwrap(),
        vec![Value::from(1), Value::from("a"), Value::from(true)]
    );
}

#[tokio::test]
async fn call_takes_several_ack_arguments() {
    use sockio::Socket;
    let io = io();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Arc::new(std::sync::Mutex::new(Some(tx)));
    io.on_connect(move |s: Socket| {
        let tx = tx.clone();
        async move {
            tokio::spawn(async move {
                let pair = s.call::<(String, u32), _>("ask", &()).await;
                let one = s.call::<String, _>("ask-one", &()).await;
                let none = s.call::<Option<u8>, _>("ask-none", &()).await;
                let _ = tx.lock().unwrap().take().unwrap().send((pair, one, none));
            });
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    for _ in 0..3 {
        let r = c.recv().await.unwrap();
        match r.event.as_str() {
            "ask" => c.ack(&r, &("yes", 42)).unwrap(),
            "ask-one" => c.ack(&r, "only").unwrap(),
            _ => c.ack(&r, &()).unwrap(),
        }
    }
    let (pair, one, none) = rx.await.unwrap();
    assert_eq!(pair.unwrap(), ("yes".to_owned(), 42));
    assert_eq!(one.unwrap(), "only");
    assert_eq!(none.unwrap(), None);
}

#[tokio::test]
async fn question_mark_on_an_emit_in_a_connect_handler() {
    use sockio::{ConnectError, Socket};
    let io = io();
    io.on_connect(|s: Socket| async move {
        s.emit("welcome", "hi").await?;
        s.emit("connect", "reserved").await?; // refused: the connection is refused with it
        Ok::<(), ConnectError>(())
    });
    let r = TestClient::connect(&io).await;
    let Err(sockio::TestClientError::Refused(data)) = r else {
        panic!("refused expected")
    };
    assert!(
        data["message"].as_str().unwrap().contains("reserved"),
        "{data}"
    );
}

#[tokio::test]
async fn error_handlers_can_tell_the_error_type() {
    #[derive(Debug, thiserror::Error)]
    #[error("room {0} is full")]
    struct RoomFull(String);
    let io = io();
    io.on("join", |Data(room): Data<String>| async move {
        if room == "full" {
            return Err::<(), _>(sockio::BoxError::from(RoomFull(room)));
        }
        Err("other".into())
    });
    io.on_error(|e: sockio::HandlerError| async move {
        match e.downcast_ref::<RoomFull>() {
            Some(f) => value!({"full": f.0}),
            None => value!({"error": e.to_string()}),
        }
    });
    let c = TestClient::connect(&io).await.unwrap();
    assert_eq!(
        c.emit_with_ack("join", "full").await.unwrap(),
        vec![value!({"full": "full"})]
    );
    assert_eq!(
        c.emit_with_ack("join", "x").await.unwrap(),
        vec![value!({"error": "other"})]
    );
}

#[tokio::test]
async fn server_level_catch_all_and_error_handler() {
    use sockio::Event;
    let io = io();
    io.on_any(|Event(name): Event| async move { format!("any:{name}") });
    io.on("bad", || async { Err::<(), _>("nope") });
    io.on_error(|| async { "root error handler" });
    let c = TestClient::connect(&io).await.unwrap();
    assert_eq!(
        c.emit_with_ack("zzz", &()).await.unwrap(),
        vec![Value::from("any:zzz")]
    );
    assert_eq!(
        c.emit_with_ack("bad", &()).await.unwrap(),
        vec![Value::from("root error handler")]
    );
}

#[tokio::test]
async fn small_conveniences_the_chat_port_asked_for() {
    use sockio::Socket;
    #[derive(Clone)]
    struct Lobby {
        ns: sockio::Namespace,
    }
    let io = io();
    // State that needs the server itself, added after build.
    io.insert_state(Lobby { ns: io.of("/") });
    io.on(
        "enter",
        |s: Socket, sockio::State(l): sockio::State<Lobby>, Data(room): Data<String>| async move {
            s.join(room.as_str());
            assert!(s.in_room(&room));
            // Flask's emit(..., to=room): the sender too.
            s.emit_to(room.as_str(), "entered", &s.id().clone()).await?;
            Ok::<_, sockio::EmitError>((l.ns.room_size(&room), s.in_room("elsewhere")))
        },
    );
    let c = TestClient::connect(&io).await.unwrap();
    c.emit("noise", &1).await.unwrap();
    let (size, elsewhere): (usize, bool) = c.call("enter", "hall").await.unwrap();
    assert_eq!((size, elsewhere), (1, false));
    let entered = c.recv_event("entered").await.unwrap();
    assert_eq!(entered.arg::<String>(0).unwrap(), c.id());
}
