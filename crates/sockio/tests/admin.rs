//! The admin UI's namespace, driven as the `@socket.io/admin-ui` page does
//! (its events and actions), through the in-process test client. The Node
//! and Chromium side is in scripts/interop.sh (interop/node/admin-ui.mjs).

use std::time::Duration;

use sockio::admin::{AdminMode, AdminUi};
use sockio::{Data, Socket, SocketIo, TestClient, TestClientError, Value};

const PASSWORD: &str = "s3cret";

fn hash() -> String {
    // Cost 4: the lowest bcrypt allows, for a quick test.
    bcrypt::hash(PASSWORD, 4).unwrap()
}

fn server(admin: AdminUi) -> SocketIo {
    let io = SocketIo::builder().admin_ui(admin).build().unwrap();
    io.of("/chat")
        .on("hello", |s: Socket, Data(name): Data<String>| async move {
            s.emit("hi", &name).await
        });
    io
}

async fn admin(io: &SocketIo, auth: Value) -> Result<TestClient, TestClientError> {
    TestClient::builder(io)
        .namespace("/admin")
        .auth(&auth)
        .connect()
        .await
}

fn good() -> Value {
    sockio::value!({"username": "admin", "password": PASSWORD})
}

async fn chat(io: &SocketIo) -> TestClient {
    TestClient::builder(io)
        .namespace("/chat")
        .connect()
        .await
        .unwrap()
}

#[test]
fn authentication_must_be_chosen_and_be_a_bcrypt_hash() {
    let err = SocketIo::builder()
        .admin_ui(AdminUi::new())
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("basic_auth"), "{err}");
    let err = SocketIo::builder()
        .admin_ui(AdminUi::new().basic_auth("admin", "plain text"))
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("bcrypt"), "{err}");
    assert!(SocketIo::builder()
        .admin_ui(AdminUi::new().no_auth())
        .build()
        .is_ok());
}

#[tokio::test]
async fn bad_credentials_are_refused_good_ones_get_a_session() {
    let io = server(AdminUi::new().basic_auth("admin", hash()));
    for auth in [
        sockio::value!({"username": "admin", "password": "wrong"}),
        sockio::value!({"username": "root", "password": PASSWORD}),
        sockio::value!({"sessionId": "made-up"}),
        Value::Null,
    ] {
        match admin(&io, auth.clone()).await {
            Err(TestClientError::Refused(v)) => {
                assert_eq!(v.get("message"), Some(&Value::from("invalid credentials")))
            }
            other => panic!("{auth:?}: {:?}", other.map(|_| ())),
        }
    }
    let a = admin(&io, good()).await.unwrap();
    let session: String = a.recv_event("session").await.unwrap().arg(0).unwrap();
    // The UI reconnects with the session id alone.
    let again = admin(&io, sockio::value!({ "sessionId": session })).await;
    assert!(again.is_ok());
}

#[tokio::test]
async fn config_all_sockets_and_server_stats_at_connect() {
    let io = server(
        AdminUi::new()
            .basic_auth("admin", hash())
            .server_id("node-1"),
    );
    let c = chat(&io).await;
    let chat_id = c.id_in("/chat").unwrap();
    c.emit_in("/chat", "hello", "ada").await.unwrap();
    c.recv_in("/chat").await.unwrap();

    let a = admin(&io, good()).await.unwrap();
    let config = a.recv_event("config").await.unwrap();
    let features: Vec<String> = config.args[0]
        .get("supportedFeatures")
        .map(|f| sockio::protocol::from_value(f.clone()).unwrap())
        .unwrap();
    for f in [
        "EMIT",
        "JOIN",
        "LEAVE",
        "DISCONNECT",
        "MJOIN",
        "MDISCONNECT",
        "ALL_EVENTS",
    ] {
        assert!(features.iter().any(|x| x == f), "{f} in {features:?}");
    }

    let all = a.recv_event("all_sockets").await.unwrap();
    let Value::Array(sockets) = &all.args[0] else {
        panic!("{all:?}")
    };
    let s = sockets
        .iter()
        .find(|s| s.get("id") == Some(&Value::from(chat_id.as_str())))
        .expect("the /chat socket listed");
    assert_eq!(s.get("nsp"), Some(&Value::from("/chat")));
    assert_eq!(s.get("transport"), Some(&Value::from("websocket")));
    let rooms = s.get("rooms").unwrap();
    assert_eq!(rooms, &Value::Array(vec![Value::from(chat_id.as_str())]));
    assert!(s.get("handshake").unwrap().get("headers").is_some());
    assert!(s.get("handshake").unwrap().get("auth").is_none());

    let stats = a.recv_event("server_stats").await.unwrap().args.remove(0);
    assert_eq!(stats.get("serverId"), Some(&Value::from("node-1")));
    assert_eq!(stats.get("pid"), Some(&Value::from(std::process::id())));
    assert_eq!(stats.get("clientsCount"), Some(&Value::from(2u64)));
    assert_eq!(stats.get("pollingClientsCount"), Some(&Value::from(0u64)));
    let namespaces: Vec<(String, u64)> = match stats.get("namespaces") {
        Some(Value::Array(v)) => v
            .iter()
            .map(|n| {
                (
                    n.get("name").unwrap().as_str().unwrap().to_owned(),
                    sockio::protocol::from_value(n.get("socketsCount").unwrap().clone()).unwrap(),
                )
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    assert!(namespaces.contains(&("/chat".into(), 1)), "{namespaces:?}");
    assert!(namespaces.contains(&("/admin".into(), 1)), "{namespaces:?}");
    // Connections and packets since the server started.
    let Some(Value::Array(events)) = stats.get("aggregatedEvents") else {
        panic!("{stats:?}")
    };
    let count = |kind: &str| -> u64 {
        events
            .iter()
            .filter(|e| e.get("type") == Some(&Value::from(kind)))
            .map(|e| sockio::protocol::from_value::<u64>(e.get("count").unwrap().clone()).unwrap())
            .sum()
    };
    assert_eq!(count("rawConnection"), 2);
    assert!(count("packetsIn") >= 2, "{events:?}");
    assert!(count("bytesOut") > 0, "{events:?}");
}

#[tokio::test]
async fn live_reports_of_sockets_rooms_and_events() {
    let io = server(AdminUi::new().no_auth());
    let a = admin(&io, Value::Null).await.unwrap();
    a.recv_event("config").await.unwrap();

    let c = chat(&io).await;
    let id = c.id_in("/chat").unwrap();
    // The admin socket itself is reported first.
    let connected = loop {
        let c = a.recv_event("socket_connected").await.unwrap();
        if c.args[0].get("nsp") == Some(&Value::from("/chat")) {
            break c;
        }
    };
    assert_eq!(connected.args[0].get("id"), Some(&Value::from(id.as_str())));
    assert_eq!(connected.args[0].get("nsp"), Some(&Value::from("/chat")));

    c.emit_in("/chat", "hello", "ada").await.unwrap();
    let got = a.recv_event("event_received").await.unwrap();
    assert_eq!(got.args[0], Value::from("/chat"));
    assert_eq!(got.args[1], Value::from(id.as_str()));
    assert_eq!(
        got.args[2],
        Value::Array(vec![Value::from("hello"), Value::from("ada")])
    );
    let sent = a.recv_event("event_sent").await.unwrap();
    assert_eq!(
        sent.args[2],
        Value::Array(vec![Value::from("hi"), Value::from("ada")])
    );

    io.of("/chat").socket(&id).unwrap().join("lobby");
    let joined = loop {
        let j = a.recv_event("room_joined").await.unwrap();
        if j.args[1] == "lobby" {
            break j;
        }
    };
    assert_eq!(joined.args[0], Value::from("/chat"));
    assert_eq!(joined.args[2], Value::from(id.as_str()));

    c.disconnect_namespace("/chat").unwrap();
    let gone = a.recv_event("socket_disconnected").await.unwrap();
    assert_eq!(gone.args[1], Value::from(id.as_str()));
    assert_eq!(gone.args[2], Value::from("client namespace disconnect"));
    loop {
        let l = a.recv_event("room_left").await.unwrap();
        if l.args[1] == "lobby" {
            break;
        }
    }
}

#[tokio::test]
async fn actions_join_leave_emit_disconnect() {
    let io = server(AdminUi::new().basic_auth("admin", hash()));
    let c1 = chat(&io).await;
    let c2 = chat(&io).await;
    let (id1, id2) = (c1.id_in("/chat").unwrap(), c2.id_in("/chat").unwrap());
    let a = admin(&io, good()).await.unwrap();
    a.recv_event("config").await.unwrap();
    let sock = |id: &str| io.of("/chat").socket(id).unwrap();

    // The UI's "join" on one socket: the filter is the socket's own room.
    a.emit("join", &("/chat", "vip", id1.as_str()))
        .await
        .unwrap();
    wait_until(|| sock(&id1).in_room("vip")).await;
    assert!(!sock(&id2).in_room("vip"));
    // On every socket of the namespace (no filter).
    a.emit("join", &("/chat", "everyone", Value::Null))
        .await
        .unwrap();
    wait_until(|| io.of("/chat").room_size("everyone") == 2).await;
    a.emit("leave", &("/chat", "vip", id1.as_str()))
        .await
        .unwrap();
    wait_until(|| !sock(&id1).in_room("vip")).await;

    // Emit to a room.
    a.emit("emit", &("/chat", "everyone", "notice", "hello all"))
        .await
        .unwrap();
    for c in [&c1, &c2] {
        let r = c.recv_in("/chat").await.unwrap();
        assert_eq!(
            (r.event.as_str(), r.args[0].clone()),
            ("notice", Value::from("hello all"))
        );
    }

    // Disconnect one socket.
    a.emit("_disconnect", &("/chat", false, id2.as_str()))
        .await
        .unwrap();
    let r = c2.recv_in("/chat").await.unwrap();
    assert_eq!(r.event, "disconnect");
    wait_until(|| io.of("/chat").socket(&id2).is_none()).await;
    assert!(io.of("/chat").socket(&id1).is_some());
}

#[tokio::test]
async fn read_only_offers_and_does_no_action() {
    let io = server(
        AdminUi::new()
            .basic_auth("admin", hash())
            .read_only(true)
            .mode(AdminMode::Production),
    );
    let c = chat(&io).await;
    let id = c.id_in("/chat").unwrap();
    let a = admin(&io, good()).await.unwrap();
    let config = a.recv_event("config").await.unwrap();
    assert_eq!(
        config.args[0].get("supportedFeatures"),
        Some(&Value::Array(vec![Value::from("AGGREGATED_EVENTS")]))
    );
    a.emit("join", &("/chat", "vip", id.as_str()))
        .await
        .unwrap();
    a.emit("_disconnect", &("/chat", false, id.as_str()))
        .await
        .unwrap();
    // Stats still come (production mode: no all_sockets, no live reports).
    a.recv_event("server_stats").await.unwrap();
    c.emit_in("/chat", "hello", "x").await.unwrap();
    c.recv_in("/chat").await.unwrap();
    let s = io.of("/chat").socket(&id).expect("still connected");
    assert!(!s.in_room("vip"));
    // Nothing but the session id was sent besides (no live reports).
    let rest = a.recv_nothing(Duration::from_millis(50)).await;
    assert!(
        rest.as_ref().is_none_or(|r| r.event == "session"),
        "{rest:?}"
    );
}

#[tokio::test]
async fn stats_arrive_periodically() {
    let io = server(
        AdminUi::new()
            .no_auth()
            .stats_interval(Duration::from_millis(20)),
    );
    let a = admin(&io, Value::Null).await.unwrap();
    for _ in 0..3 {
        a.recv_event("server_stats").await.unwrap();
    }
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn malformed_actions_change_nothing_and_the_server_keeps_serving() {
    let io = server(AdminUi::new().basic_auth("admin", hash()));
    let c1 = chat(&io).await;
    let id1 = c1.id_in("/chat").unwrap();
    let a = admin(&io, good()).await.unwrap();
    a.recv_event("config").await.unwrap();
    // Wrong types, missing arguments, unknown namespaces, nested garbage.
    a.emit("join", &(42, Value::Null)).await.unwrap();
    a.emit("join", &("/nope", "vip", Value::Null))
        .await
        .unwrap();
    a.emit("leave", &()).await.unwrap();
    a.emit("emit", &("/chat", Value::Null, 7)).await.unwrap();
    a.emit(
        "_disconnect",
        &(sockio::value!({"a": [1, {"b": null}]}), "yes"),
    )
    .await
    .unwrap();
    a.emit("_disconnect", &("/chat", "true", 12)).await.unwrap();
    // The socket is still connected and in no new room; a well-formed action
    // after the garbage still works.
    a.emit("join", &("/chat", "after", id1.as_str()))
        .await
        .unwrap();
    wait_until(|| {
        io.of("/chat")
            .socket(&id1)
            .is_some_and(|s| s.in_room("after"))
    })
    .await;
    assert!(!io.of("/chat").socket(&id1).unwrap().in_room("vip"));
    assert_eq!(io.of("/chat").room_size("vip"), 0);
}
