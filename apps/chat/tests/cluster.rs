//! Two chat servers on one database and one Redis (`--redis-url`), a private
//! `redis-server` started by the test: users on either server are in one chat.
//! Messages, typing, new rooms and poll bars cross servers; user lists, member
//! counts and `new-user` count every server's members, a user once.

mod common;

use std::time::Duration;

use common::{list_until, sqlite_url, test_config, RedisServer, TestApp};
use serde_json::json;
use sockio_chat::AppConfig;

const QUIET: Duration = Duration::from_millis(200);

#[tokio::test]
async fn two_servers_on_one_redis_are_one_chat() {
    let redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(&dir);
    let cfg = || AppConfig {
        redis_url: Some(redis.url()),
        ..test_config()
    };
    let a = TestApp::start_with(&db, cfg()).await;
    let b = TestApp::start_with(&db, cfg()).await;

    let alice = a.user_in_general("alice").await;
    list_until(&alice, &["alice"]).await;
    let bob = b.user_in_general("bob").await;
    let nu = alice.next("new-user").await;
    assert_eq!(
        nu,
        json!({"room": "General", "username": "bob", "guest": false}),
        "alice (server A) hears of bob joining on server B"
    );
    list_until(&alice, &["alice", "bob"]).await;
    list_until(&bob, &["alice", "bob"]).await;
    for c in [&alice, &bob] {
        let r = c.call("rooms", &json!(null)).await;
        assert_eq!(
            r["rooms"],
            json!([{"name": "General", "members": 2}]),
            "{r}"
        );
    }

    // a second tab of alice, on the other server: still one alice, no new-user
    alice.drain(QUIET).await;
    bob.drain(QUIET).await;
    let alice2 = b.user_in_general("alice").await;
    list_until(&alice2, &["alice", "bob"]).await;
    for c in [&alice, &bob] {
        let got: Vec<String> = c.drain(QUIET).await.into_iter().map(|e| e.0).collect();
        assert!(!got.contains(&"new-user".to_string()), "{got:?}");
    }
    let r = bob.call("rooms", &json!(null)).await;
    assert_eq!(r["rooms"][0]["members"], 2, "{r}");

    // a message sent on A reaches the room on both servers, the sender included
    let r = alice
        .call(
            "message",
            &json!({"room": "General", "text": "hello from A"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    for c in [&alice, &bob, &alice2] {
        let m = c.next("new-message").await;
        assert_eq!(
            (m["id"].clone(), m["text"].clone()),
            (r["id"].clone(), json!("hello from A"))
        );
        assert_eq!(m["author"], "alice");
    }
    // typing on B reaches the others on A
    let r = bob.call("typing", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(alice.next("typing").await["username"], "bob");

    // a room created on B is announced on A and can be joined there
    let r = bob.call("create-room", &json!({"name": "Ops"})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(alice.next("new-room").await["name"], "Ops");
    let r = alice.call("join room", &json!({"room": "Ops"})).await;
    assert_eq!(r, json!({"ok": true, "room": "Ops", "members": 1}));
    alice.next("populate").await;

    // a poll made on A, votes from both servers: the bars move everywhere
    let r = alice
        .call(
            "create-poll",
            &json!({"room": "General", "question": "Lunch?", "options": ["pizza", "sushi"]}),
        )
        .await;
    let poll = r["poll"].as_i64().unwrap_or_else(|| panic!("{r}"));
    for c in [&alice, &bob] {
        assert_eq!(c.next("new-poll").await["id"], poll);
    }
    let r = bob.call("vote", &json!({"poll": poll, "option": 1})).await;
    assert_eq!(r["ok"], true, "{r}");
    for c in [&alice, &bob] {
        assert_eq!(c.next("voting bar").await["counts"], json!([0, 1]));
    }
    // one user, one vote, whichever server the tab is on
    let r = alice
        .call("vote", &json!({"poll": poll, "option": 0}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let r = alice2
        .call("vote", &json!({"poll": poll, "option": 0}))
        .await;
    assert_eq!(r["code"], "already_voted", "{r}");
    for c in [&alice, &bob] {
        assert_eq!(c.next("voting bar").await["counts"], json!([1, 1]));
    }

    // bob leaves (his only tab, on B): A's alice sees him go
    bob.c.close();
    list_until(&alice, &["alice"]).await;
    // alice's tab on B closes; her tab on A keeps her in the room
    alice2.c.close();
    alice.drain(QUIET).await;
    let r = alice.call("rooms", &json!(null)).await;
    let general = r["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "General")
        .cloned();
    assert_eq!(
        general,
        Some(json!({"name": "General", "members": 1})),
        "{r}"
    );

    // server B stops: A keeps serving, alone
    b.stop().await;
    let r = alice
        .call("message", &json!({"room": "General", "text": "still here"}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(alice.next("new-message").await["text"], "still here");
    a.stop().await;
}
