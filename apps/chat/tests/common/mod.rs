//! Helpers shared by the chat's Rust tests: an app on a fresh database, a
//! client that speaks JSON, and PostgreSQL databases made (and dropped) per test.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value as Json;
use sockio::{SocketIo, TestClient};
use sockio_chat::{AppConfig, ChatConfig, Store};

/// Cheap argon2 parameters: the tests check behaviour, not hashing cost.
pub fn test_config() -> AppConfig {
    AppConfig {
        chat: ChatConfig {
            hash_params: argon2::Params::new(1024, 1, 1, None).unwrap(),
            user_list_delay: Duration::from_millis(10),
            ..ChatConfig::default()
        },
        ..AppConfig::default()
    }
}

/// A running chat (no HTTP listener: clients connect in process).
pub struct TestApp {
    pub io: SocketIo,
    pub app: sockio_chat::App,
}

impl TestApp {
    pub async fn start(url: &str) -> TestApp {
        Self::start_with(url, test_config()).await
    }

    pub async fn start_with(url: &str, cfg: AppConfig) -> TestApp {
        let store = Store::connect(url, 4).await.expect("database opens");
        let app = sockio_chat::build(store, cfg).await.expect("app builds");
        TestApp {
            io: app.io.clone(),
            app,
        }
    }

    /// Closes every socket, waits for the writer, closes the database.
    pub async fn stop(self) {
        self.io.close().await;
        self.app.chat.flush().await;
        self.app.chat.store().close().await;
    }

    /// A client connected to `/chat`, its `connected` event consumed.
    pub async fn client(&self) -> Client {
        let c = TestClient::builder(&self.io)
            .namespace("/chat")
            .connect()
            .await
            .expect("connects to /chat");
        let c = Client { c };
        let hello = c.next("connected").await;
        assert!(hello["max_message_chars"].as_u64().is_some(), "{hello}");
        c
    }

    /// A client registered (or logged in) as `name`, in room General.
    pub async fn user_in_general(&self, name: &str) -> Client {
        let c = self.client().await;
        let r = c
            .call(
                "register",
                &serde_json::json!({"username": name, "password": "secret-pw"}),
            )
            .await;
        if r["ok"] != true {
            let r = c
                .call(
                    "login",
                    &serde_json::json!({"username": name, "password": "secret-pw"}),
                )
                .await;
            assert_eq!(r["ok"], true, "{r}");
        }
        c.next("logsuc").await;
        let r = c
            .call("join room", &serde_json::json!({"room": "General"}))
            .await;
        assert_eq!(r["ok"], true, "{r}");
        c.next("populate").await;
        c
    }
}

pub struct Client {
    pub c: TestClient,
}

impl Client {
    /// Emits on /chat and returns the acknowledgement's first argument.
    pub async fn call<T: serde::Serialize + ?Sized>(&self, event: &str, data: &T) -> Json {
        let args = self
            .c
            .emit_with_ack_in("/chat", event, data)
            .await
            .unwrap_or_else(|e| panic!("no ack for {event}: {e}"));
        let all = serde_json::to_value(&args).expect("ack is JSON");
        all.get(0).cloned().unwrap_or(Json::Null)
    }

    /// Emits on /chat without asking for an acknowledgement.
    pub async fn emit<T: serde::Serialize + ?Sized>(&self, event: &str, data: &T) {
        self.c.emit_in("/chat", event, data).await.unwrap();
    }

    /// The next `event` (others before it are skipped), its first argument.
    pub async fn next(&self, event: &str) -> Json {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut skipped = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.c.recv_timeout_in("/chat", left).await {
                Ok(Some(r)) if r.event == event => {
                    return r.arg::<Json>(0).expect("JSON argument");
                }
                Ok(Some(r)) => skipped.push(r.event),
                _ => panic!("no `{event}` within 5 s (got {skipped:?})"),
            }
        }
    }

    /// Every event received within `wait`, as (name, first argument).
    pub async fn drain(&self, wait: Duration) -> Vec<(String, Json)> {
        let mut out = Vec::new();
        while let Ok(Some(r)) = self.c.recv_timeout_in("/chat", wait).await {
            let a = r.arg::<Json>(0).unwrap_or(Json::Null);
            out.push((r.event, a));
        }
        out
    }
}

/// A fresh SQLite database file in a temporary directory.
pub fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("chat.db").display())
}

/// The PostgreSQL server the tests use: `CHAT_TEST_POSTGRES_URL`, else the
/// machine's (127.0.0.1:5432, database `test`, trust auth).
pub fn postgres_admin_url() -> String {
    std::env::var("CHAT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database (dropped by [`PgDb::drop_db`]), or `None`
/// (with a SKIPPED line) when no server answers.
pub struct PgDb {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDb {
    pub async fn create(test: &str) -> Option<PgDb> {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let conn =
            tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin)).await;
        let mut conn = match conn {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                eprintln!("SKIPPED {test} on PostgreSQL: no server at {admin} ({e}); set CHAT_TEST_POSTGRES_URL");
                return None;
            }
            Err(_) => {
                eprintln!("SKIPPED {test} on PostgreSQL: {admin} did not answer within 5 s");
                return None;
            }
        };
        let name = format!(
            "sockio_chat_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        let _ = conn.close().await;
        let base = admin
            .rsplit_once('/')
            .map(|(b, _)| b.to_string())
            .unwrap_or(admin.clone());
        Some(PgDb {
            url: format!("{base}/{name}"),
            name,
            admin,
        })
    }

    pub async fn drop_db(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

/// The names in a `user-list`, guests marked `(guest)`.
pub fn names(list: &Json) -> Vec<String> {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{}{}",
                u["username"].as_str().unwrap(),
                if u["guest"] == true { " (guest)" } else { "" }
            )
        })
        .collect()
}

/// Reads `user-list` events until one matches `want`.
pub async fn list_until(c: &Client, want: &[&str]) -> Json {
    let mut last = Json::Null;
    for _ in 0..20 {
        last = c.next("user-list").await;
        if names(&last) == want {
            return last;
        }
    }
    panic!("user-list never became {want:?}; last {last}");
}

/// A private `redis-server` (sockio-redis's test helper).
#[path = "../../../../crates/sockio-redis/tests/support/mod.rs"]
mod redis_support;
#[allow(unused_imports)] // used by tests/cluster.rs only
pub use redis_support::RedisServer;
