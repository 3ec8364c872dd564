//! The store on both backends: the same checks on a fresh SQLite file and on a
//! fresh PostgreSQL database (skipped, with a SKIPPED line, where none answers).

mod common;

use common::{sqlite_url, PgDb};
use sockio_chat::store::{NewMessage, NewVote};
use sockio_chat::{Store, StoreError};

async fn check_store(url: &str) {
    let s = Store::connect(url, 3).await.expect("connects and migrates");
    // migrations are idempotent
    let s2 = Store::connect(url, 1).await.expect("second open");
    s2.close().await;

    // users
    let alice = s.create_user("Alice", "hash-a", 1).await.unwrap();
    assert!(matches!(
        s.create_user("ALICE", "hash-b", 2).await,
        Err(StoreError::UsernameTaken)
    ));
    let (found, hash) = s.find_user("alice").await.unwrap().unwrap();
    assert_eq!((found.clone(), hash.as_str()), (alice.clone(), "hash-a"));
    assert!(s.find_user("nobody").await.unwrap().is_none());
    let bob = s.create_user("bob", "hash-b", 3).await.unwrap();

    // tokens
    s.create_token("t1", alice.id, 1000).await.unwrap();
    assert_eq!(
        s.user_by_token("t1", 500).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.user_by_token("t1", 2000).await.unwrap(), None, "expired");
    s.delete_token("t1").await.unwrap();
    assert_eq!(s.user_by_token("t1", 0).await.unwrap(), None);

    // rooms: General comes with the schema
    let rooms = s.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1);
    let general = &rooms[0];
    assert_eq!(general.name, "General");
    let rust = s.create_room("Rust", alice.id, 5).await.unwrap();
    assert!(matches!(
        s.create_room("rust", bob.id, 6).await,
        Err(StoreError::RoomExists)
    ));
    assert_eq!(s.find_room("RUST").await.unwrap(), Some(rust.clone()));
    let names: Vec<String> = s
        .rooms()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["General", "Rust"]);

    // messages: a batch keeps its order; history is the last N, oldest first
    let batch: Vec<NewMessage> = (0..10)
        .map(|i| NewMessage {
            room_id: general.id,
            user_id: if i % 2 == 0 { alice.id } else { bob.id },
            body: format!("m{i} <b>é</b>"),
            created_at: 100 + i,
        })
        .collect();
    let ids = s.insert_messages(&batch).await.unwrap();
    assert_eq!(ids.len(), 10);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    s.insert_messages(&[NewMessage {
        room_id: rust.id,
        user_id: bob.id,
        body: "elsewhere".into(),
        created_at: 200,
    }])
    .await
    .unwrap();
    let h = s.history(general.id, 4).await.unwrap();
    let bodies: Vec<&str> = h.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["m6 <b>é</b>", "m7 <b>é</b>", "m8 <b>é</b>", "m9 <b>é</b>"]
    );
    assert_eq!(h[0].author, "Alice");
    assert_eq!(h[1].author, "bob");
    assert_eq!(h[3].id, ids[9]);
    assert_eq!(s.history(rust.id, 50).await.unwrap().len(), 1);

    // a batch that breaks a constraint stores nothing
    let bad = [
        NewMessage {
            room_id: general.id,
            user_id: alice.id,
            body: "fine".into(),
            created_at: 300,
        },
        NewMessage {
            room_id: 9999,
            user_id: alice.id,
            body: "no such room".into(),
            created_at: 301,
        },
    ];
    assert!(s.insert_messages(&bad).await.is_err());
    assert_eq!(s.history(general.id, 50).await.unwrap().len(), 10);

    // polls and votes: one per user
    let options = vec!["yes".to_string(), "no".to_string(), "maybe".to_string()];
    let poll = s
        .create_poll(general.id, alice.id, "Ship it?", &options, 400)
        .await
        .unwrap();
    assert_eq!(s.poll_meta(poll).await.unwrap(), Some((general.id, 3)));
    assert_eq!(s.poll_meta(poll + 100).await.unwrap(), None);
    let votes = [
        NewVote {
            poll_id: poll,
            user_id: alice.id,
            option: 0,
            created_at: 1,
        },
        NewVote {
            poll_id: poll,
            user_id: bob.id,
            option: 2,
            created_at: 2,
        },
        NewVote {
            poll_id: poll,
            user_id: alice.id,
            option: 1,
            created_at: 3,
        },
    ];
    assert_eq!(s.insert_votes(&votes).await.unwrap(), [true, true, false]);
    assert_eq!(s.vote_counts(poll, 3).await.unwrap(), [1, 0, 1]);
    assert_eq!(s.vote_of(poll, alice.id).await.unwrap(), Some(0));
    let polls = s.room_polls(general.id, 20).await.unwrap();
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0].question, "Ship it?");
    assert_eq!(polls[0].options, options);
    assert_eq!(polls[0].counts, [1, 0, 1]);
    assert_eq!(polls[0].author, "Alice");
    assert_eq!(s.poll(poll).await.unwrap().unwrap(), polls[0]);
    assert!(s.room_polls(rust.id, 20).await.unwrap().is_empty());
    s.close().await;

    // everything is still there after reopening
    let s = Store::connect(url, 1).await.unwrap();
    assert_eq!(s.history(general.id, 50).await.unwrap().len(), 10);
    assert_eq!(s.vote_counts(poll, 3).await.unwrap(), [1, 0, 1]);
    assert!(s.find_user("bob").await.unwrap().is_some());
    s.close().await;
}

#[tokio::test]
async fn store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    check_store(&sqlite_url(&dir)).await;
    // a bare path is an SQLite file too
    let path = dir.path().join("bare.db");
    let s = Store::connect(path.to_str().unwrap(), 1).await.unwrap();
    assert_eq!(s.backend(), "sqlite");
    s.close().await;
    assert!(path.exists());
}

#[tokio::test]
async fn store_on_postgres() {
    let Some(db) = PgDb::create("store_on_postgres").await else {
        return;
    };
    check_store(&db.url).await;
    let s = Store::connect(&db.url, 1).await.unwrap();
    assert_eq!(s.backend(), "postgres");
    s.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn unknown_database_urls_are_refused_clearly() {
    let e = Store::connect("mysql://localhost/x", 1).await.unwrap_err();
    assert!(e.to_string().contains("unsupported database URL"), "{e}");
}
