//! The `/chat` protocol (PROTOCOL.md) as a client sees it, through sockio's
//! in-process TestClient, on SQLite (and the persistence case on PostgreSQL too).

mod common;

use std::time::Duration;

use common::{list_until, sqlite_url, PgDb, TestApp};
use serde_json::{json, Value as Json};

const QUIET: Duration = Duration::from_millis(150);

#[tokio::test]
async fn register_login_and_failures_answer_with_logsuc_or_logfail() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;
    let c = t.client().await;

    let r = c
        .call(
            "register",
            &json!({"username": "Alice", "password": "secret-pw"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["username"], "Alice");
    let ev = c.next("logsuc").await;
    assert_eq!(ev, r, "the ack is the logsuc payload");
    let token = r["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 40);

    // the same name in another case is taken
    let d = t.client().await;
    let r = d
        .call(
            "register",
            &json!({"username": "alice", "password": "other-pw"}),
        )
        .await;
    assert_eq!(r["code"], "username_taken", "{r}");
    assert_eq!(d.next("logfail").await, r);

    // a wrong password and an unknown user get the same answer
    let wrong = d
        .call(
            "login",
            &json!({"username": "alice", "password": "nope-nope"}),
        )
        .await;
    assert_eq!(d.next("logfail").await, wrong);
    let unknown = d
        .call(
            "login",
            &json!({"username": "nobody", "password": "nope-nope"}),
        )
        .await;
    assert_eq!(d.next("logfail").await, unknown);
    assert_eq!(wrong, unknown);
    assert_eq!(
        wrong,
        json!({"ok": false, "code": "bad_credentials", "reason": "wrong username or password"})
    );

    // the right password (name without case) logs in as the registered name
    let r = d
        .call(
            "login",
            &json!({"username": "ALICE", "password": "secret-pw"}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["username"], "Alice");
    d.next("logsuc").await;

    // the token logs in again (what the page does after a reload)
    let e = t.client().await;
    let r = e.call("login", &json!({"token": token})).await;
    assert_eq!(
        (r["ok"].clone(), r["username"].clone()),
        (json!(true), json!("Alice")),
        "{r}"
    );
    let r = e.call("login", &json!({"token": "forged"})).await;
    assert_eq!(r["code"], "bad_token", "{r}");

    // registration rules
    for (u, p, code) in [
        ("ab", "secret-pw", "invalid_username"),
        ("has space", "secret-pw", "invalid_username"),
        ("<script>", "secret-pw", "invalid_username"),
        ("bob", "short", "weak_password"),
    ] {
        let r = e
            .call("register", &json!({"username": u, "password": p}))
            .await;
        assert_eq!(r["code"], code, "{u}/{p}: {r}");
    }
    let r = e.call("login", &json!({"username": "alice"})).await;
    assert_eq!(r["code"], "bad_request", "{r}");
    let r = e.call("login", &json!("alice")).await;
    assert_eq!(r["code"], "bad_request", "a string is malformed: {r}");

    // logout forgets the token
    let r = c.call("logout", &json!(null)).await;
    assert_eq!(r["ok"], true, "{r}");
    let r = t
        .client()
        .await
        .call("login", &json!({"token": token}))
        .await;
    assert_eq!(r["code"], "bad_token", "{r}");
    t.stop().await;
}

#[tokio::test]
async fn messages_go_to_the_whole_room_after_they_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;
    let alice = t.user_in_general("alice").await;
    let bob = t.user_in_general("bob").await;

    let text = "<b>hi</b> & <script>alert(1)</script>";
    let ack = alice
        .call("message", &json!({"room": "general", "text": text}))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    for c in [&alice, &bob] {
        let m = c.next("new-message").await;
        assert_eq!(m["id"], ack["id"]);
        assert_eq!(m["room"], "General");
        assert_eq!(m["author"], "alice");
        assert_eq!(m["text"], text, "stored and sent verbatim");
        assert!(m["time"].as_i64().unwrap() > 1_600_000_000_000);
    }

    // a third user gets the history on join, in order
    let r = bob
        .call("message", &json!({"room": "General", "text": "second"}))
        .await;
    assert_eq!(r["ok"], true);
    let carol = t.client().await;
    carol
        .call(
            "register",
            &json!({"username": "carol", "password": "secret-pw"}),
        )
        .await;
    let r = carol.call("join room", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true, "{r}");
    let p = carol.next("populate").await;
    assert_eq!(p["room"], "General");
    let texts: Vec<&str> = p["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, [text, "second"]);
    t.stop().await;
}

#[tokio::test]
async fn a_socket_s_messages_arrive_in_the_order_it_sent_them() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;
    let alice = t.user_in_general("alice").await;
    let bob = t.user_in_general("bob").await;
    for i in 0..60 {
        alice
            .emit(
                "message",
                &json!({"room": "General", "text": format!("m{i}")}),
            )
            .await;
    }
    let mut last_id = 0;
    for i in 0..60 {
        let m = bob.next("new-message").await;
        assert_eq!(m["text"], format!("m{i}"));
        let id = m["id"].as_i64().unwrap();
        assert!(id > last_id, "ids grow with the order");
        last_id = id;
    }
    t.stop().await;
}

#[tokio::test]
async fn bad_input_gets_an_error_ack_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;

    // not logged in
    let anon = t.client().await;
    for (ev, data, code) in [
        (
            "message",
            json!({"room": "General", "text": "hi"}),
            "not_logged_in",
        ),
        ("create-room", json!({"name": "x"}), "not_logged_in"),
        (
            "create-poll",
            json!({"room": "General", "question": "q", "options": ["a", "b"]}),
            "not_logged_in",
        ),
        ("vote", json!({"poll": 1, "option": 0}), "not_logged_in"),
        ("typing", json!({"room": "General"}), "not_logged_in"),
        ("join room", json!({"room": "General"}), "not_identified"),
        ("logout", json!(null), "not_logged_in"),
    ] {
        let r = anon.call(ev, &data).await;
        assert_eq!(
            (r["ok"].clone(), r["code"].clone()),
            (json!(false), json!(code)),
            "{ev}: {r}"
        );
        assert!(r["reason"].as_str().is_some_and(|s| !s.is_empty()));
    }

    let alice = t.user_in_general("alice").await;
    let bob = t.user_in_general("bob").await;
    let long = "é".repeat(2001);
    let cases = [
        (
            "message",
            json!({"room": "General", "text": ""}),
            "empty_message",
        ),
        (
            "message",
            json!({"room": "General", "text": " \n\t "}),
            "empty_message",
        ),
        (
            "message",
            json!({"room": "General", "text": long}),
            "message_too_long",
        ),
        (
            "message",
            json!({"room": "Nowhere", "text": "hi"}),
            "unknown_room",
        ),
        (
            "message",
            json!({"room": "General", "text": 42}),
            "bad_request",
        ),
        ("message", json!({"room": "General"}), "bad_request"),
        ("message", json!("just a string"), "bad_request"),
        ("message", json!(null), "bad_request"),
        ("join room", json!({"room": "Nowhere"}), "unknown_room"),
        ("join room", json!(12), "bad_request"),
        ("leave room", json!({"room": "Nowhere"}), "unknown_room"),
        ("create-room", json!({"name": ""}), "invalid_room_name"),
        (
            "create-room",
            json!({"name": "x".repeat(41)}),
            "invalid_room_name",
        ),
        ("create-room", json!({"name": "general"}), "room_exists"),
        (
            "create-poll",
            json!({"room": "General", "question": "q", "options": ["only one"]}),
            "invalid_poll",
        ),
        (
            "create-poll",
            json!({"room": "General", "question": "", "options": ["a", "b"]}),
            "invalid_poll",
        ),
        (
            "create-poll",
            json!({"room": "General", "question": "q", "options": ["a", ""]}),
            "invalid_poll",
        ),
        (
            "create-poll",
            json!({"room": "General", "question": "q", "options": (0..11).map(|i| i.to_string()).collect::<Vec<_>>()}),
            "invalid_poll",
        ),
        (
            "create-poll",
            json!({"room": "General", "question": "q", "options": "a,b"}),
            "bad_request",
        ),
        ("vote", json!({"poll": 999, "option": 0}), "unknown_poll"),
        ("vote", json!({"poll": "1", "option": 0}), "bad_request"),
        ("identify", json!("alice2"), "already_logged_in"),
    ];
    for (ev, data, code) in cases {
        let r = alice.call(ev, &data).await;
        assert_eq!(
            (r["ok"].clone(), r["code"].clone()),
            (json!(false), json!(code)),
            "{ev} {data}: {r}"
        );
    }
    // exactly 2000 characters is fine
    let r = alice
        .call(
            "message",
            &json!({"room": "General", "text": "é".repeat(2000)}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    bob.next("new-message").await;

    // not in the room
    let r = alice.call("create-room", &json!({"name": "Side"})).await;
    assert_eq!(r["ok"], true, "{r}");
    let r = alice
        .call("message", &json!({"room": "Side", "text": "hi"}))
        .await;
    assert_eq!(r["code"], "not_in_room", "{r}");
    let r = alice.call("leave room", &json!({"room": "Side"})).await;
    assert_eq!(r["code"], "not_in_room", "{r}");

    // nothing of that reached bob but the one good message and the new room, and
    // the history holds only the good message
    let got: Vec<String> = bob.drain(QUIET).await.into_iter().map(|e| e.0).collect();
    assert!(
        got.iter().all(|e| e == "new-room" || e == "user-list"),
        "{got:?}"
    );
    let r = bob.call("join room", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true);
    let p = bob.next("populate").await;
    assert_eq!(p["messages"].as_array().unwrap().len(), 1, "{p}");
    assert_eq!(p["polls"].as_array().unwrap().len(), 0, "{p}");

    // the server is still up for everyone
    let r = bob
        .call("message", &json!({"room": "General", "text": "still here"}))
        .await;
    assert_eq!(r["ok"], true);
    t.stop().await;
}

#[tokio::test]
async fn typing_reaches_the_others_only() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;
    let alice = t.user_in_general("alice").await;
    let bob = t.user_in_general("bob").await;
    alice.drain(QUIET).await;
    let r = alice.call("typing", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        bob.next("typing").await,
        json!({"room": "General", "username": "alice"})
    );
    let got: Vec<String> = alice.drain(QUIET).await.into_iter().map(|e| e.0).collect();
    assert!(!got.contains(&"typing".to_string()), "{got:?}");
    t.stop().await;
}

#[tokio::test]
async fn the_user_list_shows_each_user_once_and_follows_joins_and_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;
    let alice = t.user_in_general("alice").await;
    list_until(&alice, &["alice"]).await;
    let bob = t.user_in_general("bob").await;
    let nu = alice.next("new-user").await;
    assert_eq!(
        nu,
        json!({"room": "General", "username": "bob", "guest": false})
    );
    let l = list_until(&alice, &["alice", "bob"]).await;
    assert_eq!(l["count"], 2);
    assert_eq!(l["room"], "General");

    // a second tab of alice: still one alice, and no new-user for it
    bob.drain(QUIET).await;
    let alice2 = t.user_in_general("alice").await;
    list_until(&alice2, &["alice", "bob"]).await;
    let got: Vec<String> = bob.drain(QUIET).await.into_iter().map(|e| e.0).collect();
    assert!(!got.contains(&"new-user".to_string()), "{got:?}");

    // a guest reads along
    let guest = t.client().await;
    let r = guest.call("identify", &json!("  Zed ")).await;
    assert_eq!(r, json!({"ok": true, "name": "Zed"}));
    let r = guest.call("join room", &json!("General")).await;
    assert_eq!(r["ok"], true, "the tutorial's bare room name works: {r}");
    guest.next("populate").await;
    list_until(&bob, &["alice", "bob", "Zed (guest)"]).await;
    let r = guest
        .call("message", &json!({"room": "General", "text": "hi"}))
        .await;
    assert_eq!(r["code"], "not_logged_in", "guests read only: {r}");

    // the rooms list counts members
    let r = bob.call("rooms", &json!(null)).await;
    assert_eq!(
        r["rooms"],
        json!([{"name": "General", "members": 3}]),
        "{r}"
    );

    // one tab of alice closes: alice stays; the other closes: alice leaves
    alice.c.close();
    bob.drain(QUIET).await;
    let r = bob.call("rooms", &json!(null)).await;
    assert_eq!(r["rooms"][0]["members"], 3, "{r}");
    alice2.c.close();
    list_until(&bob, &["bob", "Zed (guest)"]).await;
    let r = guest.call("leave room", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true, "{r}");
    list_until(&bob, &["bob"]).await;
    t.stop().await;
}

#[tokio::test]
async fn polls_count_one_vote_per_user_and_push_voting_bars() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;
    let alice = t.user_in_general("alice").await;
    let bob = t.user_in_general("bob").await;
    let r = alice
        .call(
            "create-poll",
            &json!({"room": "General", "question": "Lunch?", "options": ["pizza", " sushi "]}),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    let id = r["poll"].as_i64().unwrap();
    for c in [&alice, &bob] {
        let p = c.next("new-poll").await;
        assert_eq!(p["id"], id);
        assert_eq!(p["question"], "Lunch?");
        assert_eq!(p["options"], json!(["pizza", "sushi"]));
        assert_eq!(p["counts"], json!([0, 0]));
        assert_eq!(p["author"], "alice");
    }

    let r = bob.call("vote", &json!({"poll": id, "option": 1})).await;
    assert_eq!(r, json!({"ok": true, "poll": id, "option": 1}));
    for c in [&alice, &bob] {
        assert_eq!(
            c.next("voting bar").await,
            json!({"poll": id, "counts": [0, 1], "total": 1})
        );
    }
    let r = alice.call("vote", &json!({"poll": id, "option": 0})).await;
    assert_eq!(r["ok"], true, "{r}");
    for c in [&alice, &bob] {
        assert_eq!(c.next("voting bar").await["counts"], json!([1, 1]));
    }

    // a second vote is refused and moves nothing
    let r = bob.call("vote", &json!({"poll": id, "option": 0})).await;
    assert_eq!(r["code"], "already_voted", "{r}");
    let r = bob.call("vote", &json!({"poll": id, "option": 2})).await;
    assert_eq!(r["code"], "invalid_option", "{r}");
    let r = bob.call("vote", &json!({"poll": id, "option": -1})).await;
    assert_eq!(r["code"], "invalid_option", "{r}");
    let got: Vec<String> = alice.drain(QUIET).await.into_iter().map(|e| e.0).collect();
    assert!(!got.contains(&"voting bar".to_string()), "{got:?}");

    // the poll, its counts and my vote come back with the room's history
    let r = bob.call("join room", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true);
    let p = bob.next("populate").await;
    let poll = &p["polls"][0];
    assert_eq!(poll["counts"], json!([1, 1]), "{p}");
    assert_eq!(poll["voted"], 1, "{p}");
    t.stop().await;
}

#[tokio::test]
async fn rooms_are_created_announced_and_joined() {
    let dir = tempfile::tempdir().unwrap();
    let t = TestApp::start(&sqlite_url(&dir)).await;
    let alice = t.user_in_general("alice").await;
    let bob = t.user_in_general("bob").await;
    let r = alice.call("create-room", &json!({"name": " Rust "})).await;
    assert_eq!(
        r,
        json!({"ok": true, "room": {"name": "Rust", "members": 0}})
    );
    assert_eq!(
        bob.next("new-room").await,
        json!({"name": "Rust", "members": 0})
    );
    let r = bob.call("rooms", &json!(null)).await;
    let names: Vec<&str> = r["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["General", "Rust"]);

    // messages stay in their room
    let r = bob.call("join room", &json!({"room": "rust"})).await;
    assert_eq!(r["ok"], true);
    bob.next("populate").await;
    let r = bob
        .call("message", &json!({"room": "Rust", "text": "in rust"}))
        .await;
    assert_eq!(r["ok"], true);
    let m = bob.next("new-message").await;
    assert_eq!(m["room"], "Rust");
    let got: Vec<(String, Json)> = alice.drain(QUIET).await;
    assert!(got.iter().all(|(e, _)| e != "new-message"), "{got:?}");
    t.stop().await;
}

async fn everything_survives_a_restart(url: &str) {
    let t = TestApp::start(url).await;
    let alice = t.user_in_general("alice").await;
    let r = alice.call("create-room", &json!({"name": "Kept"})).await;
    assert_eq!(r["ok"], true, "{r}");
    for i in 0..3 {
        let r = alice
            .call(
                "message",
                &json!({"room": "General", "text": format!("kept {i}")}),
            )
            .await;
        assert_eq!(r["ok"], true, "{r}");
    }
    let r = alice
        .call(
            "create-poll",
            &json!({"room": "General", "question": "Again?", "options": ["yes", "no"]}),
        )
        .await;
    let poll = r["poll"].as_i64().unwrap();
    let r = alice
        .call("vote", &json!({"poll": poll, "option": 0}))
        .await;
    assert_eq!(r["ok"], true, "{r}");
    t.stop().await;

    let t = TestApp::start(url).await;
    let c = t.client().await;
    let r = c
        .call(
            "login",
            &json!({"username": "alice", "password": "secret-pw"}),
        )
        .await;
    assert_eq!(r["ok"], true, "the account survived: {r}");
    let r = c.call("rooms", &json!(null)).await;
    assert!(
        r["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Kept"),
        "{r}"
    );
    let r = c.call("join room", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true);
    let p = c.next("populate").await;
    let texts: Vec<&str> = p["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["kept 0", "kept 1", "kept 2"]);
    assert_eq!(p["polls"][0]["counts"], json!([1, 0]));
    assert_eq!(p["polls"][0]["voted"], 0);
    let r = c.call("vote", &json!({"poll": poll, "option": 1})).await;
    assert_eq!(r["code"], "already_voted", "the vote survived: {r}");
    t.stop().await;
}

#[tokio::test]
async fn everything_survives_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    everything_survives_a_restart(&sqlite_url(&dir)).await;
}

#[tokio::test]
async fn everything_survives_a_restart_on_postgres() {
    let Some(db) = PgDb::create("everything_survives_a_restart").await else {
        return;
    };
    everything_survives_a_restart(&db.url).await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_history_is_the_last_messages_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::test_config();
    cfg.chat.history = 5;
    let t = TestApp::start_with(&sqlite_url(&dir), cfg).await;
    let alice = t.user_in_general("alice").await;
    for i in 0..8 {
        alice
            .emit(
                "message",
                &json!({"room": "General", "text": format!("n{i}")}),
            )
            .await;
    }
    for _ in 0..8 {
        alice.next("new-message").await;
    }
    let r = alice.call("join room", &json!({"room": "General"})).await;
    assert_eq!(r["ok"], true);
    let p = alice.next("populate").await;
    let texts: Vec<&str> = p["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["n3", "n4", "n5", "n6", "n7"]);
    t.stop().await;
}
