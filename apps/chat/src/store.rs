//! Storage: users, login tokens, rooms, messages, polls and votes, through sqlx
//! on SQLite (the default, one file, nothing to install) or PostgreSQL (when
//! the database URL says `postgres://`). The schema lives in `migrations/`,
//! one directory per backend, applied at start.
//!
//! Every query is written once with `$N` placeholders, which both backends
//! accept; [`Store`] dispatches to the pool of the backend in use.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, Row};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The username is already registered (compared without case).
    #[error("this username is taken")]
    UsernameTaken,
    /// A room of that name exists (compared without case).
    #[error("a room with this name exists")]
    RoomExists,
    /// The database URL is not one this app knows.
    #[error(
        "unsupported database URL `{0}`: use sqlite://FILE (or a file path) or postgres://..."
    )]
    BadUrl(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// Database id.
    pub id: i64,
    /// The name as registered.
    pub username: String,
}

/// A room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    /// Database id.
    pub id: i64,
    /// The name as created.
    pub name: String,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// Database id (increasing in insertion order).
    pub id: i64,
    /// The room's id.
    pub room_id: i64,
    /// The author's name.
    pub author: String,
    /// The text, as sent.
    pub body: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A message to insert.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Room id.
    pub room_id: i64,
    /// Author's user id.
    pub user_id: i64,
    /// The text.
    pub body: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A poll with its options and their vote counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollRow {
    /// Database id.
    pub id: i64,
    /// The room's id.
    pub room_id: i64,
    /// Who asked.
    pub author: String,
    /// The question.
    pub question: String,
    /// Option labels, in order.
    pub options: Vec<String>,
    /// Votes per option, in the same order.
    pub counts: Vec<i64>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// A vote to insert.
#[derive(Debug, Clone)]
pub struct NewVote {
    /// Poll id.
    pub poll_id: i64,
    /// Voter.
    pub user_id: i64,
    /// Option index (0-based).
    pub option: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// The database, SQLite or PostgreSQL.
#[derive(Clone, Debug)]
pub enum Store {
    /// An SQLite file.
    Sqlite(Pool<Sqlite>),
    /// A PostgreSQL server.
    Postgres(Pool<Postgres>),
}

/// Runs the same code on whichever pool is in use.
macro_rules! on_pool {
    ($store:expr, $p:ident => $body:expr) => {
        match $store {
            Store::Sqlite($p) => $body,
            Store::Postgres($p) => $body,
        }
    };
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Opens the database at `url` and applies the migrations:
    /// `sqlite://FILE`, `sqlite:FILE` or a bare file path (created if missing,
    /// WAL journal), or `postgres://` / `postgresql://`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Store::Postgres(pool)
        } else {
            let opts = if url.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(url)?
            } else if url.contains("://") {
                return Err(StoreError::BadUrl(url.to_string()));
            } else {
                SqliteConnectOptions::new().filename(url)
            };
            let opts = opts
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL + NORMAL: a commit survives the app's crash or restart;
                // only a power cut can lose the last transactions.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .connect_with(opts)
                .await?;
            Store::Sqlite(pool)
        };
        match &store {
            Store::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Store::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(store)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool (waits for connections in use).
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    // ---- users -----------------------------------------------------------

    /// Registers a user; [`StoreError::UsernameTaken`] if the name (without case) exists.
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<UserRow, StoreError> {
        let r = on_pool!(self, p => sqlx::query(
            "INSERT INTO users (username, username_key, password_hash, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(username)
        .bind(username.to_lowercase())
        .bind(password_hash)
        .bind(now)
        .fetch_one(p)
        .await
        .map(|row| row.get::<i64, _>(0)));
        match r {
            Ok(id) => Ok(UserRow {
                id,
                username: username.to_string(),
            }),
            Err(e) if unique_violation(&e) => Err(StoreError::UsernameTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// The user of that name (without case) and their password hash.
    pub async fn find_user(&self, username: &str) -> Result<Option<(UserRow, String)>, StoreError> {
        let row: Option<(i64, String, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, username, password_hash FROM users WHERE username_key = $1",
        )
        .bind(username.to_lowercase())
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(id, username, hash)| (UserRow { id, username }, hash)))
    }

    /// Stores a login token (its hash) for a user.
    pub async fn create_token(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query(
            "INSERT INTO auth_tokens (token_hash, user_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The user a token (its hash) logs in, if it was issued after `not_before`.
    pub async fn user_by_token(
        &self,
        token_hash: &str,
        not_before: i64,
    ) -> Result<Option<UserRow>, StoreError> {
        let row: Option<(i64, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT u.id, u.username FROM auth_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.created_at >= $2",
        )
        .bind(token_hash)
        .bind(not_before)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(id, username)| UserRow { id, username }))
    }

    /// Forgets a token (logout).
    pub async fn delete_token(&self, token_hash: &str) -> Result<(), StoreError> {
        on_pool!(self, p => sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    // ---- rooms -----------------------------------------------------------

    /// Every room, by name.
    pub async fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, name FROM rooms ORDER BY name_key",
        )
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| RoomRow { id, name })
            .collect())
    }

    /// The room of that name (without case).
    pub async fn find_room(&self, name: &str) -> Result<Option<RoomRow>, StoreError> {
        let row: Option<(i64, String)> = on_pool!(self, p => sqlx::query_as(
            "SELECT id, name FROM rooms WHERE name_key = $1",
        )
        .bind(name.to_lowercase())
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(id, name)| RoomRow { id, name }))
    }

    /// Creates a room; [`StoreError::RoomExists`] if the name (without case) exists.
    pub async fn create_room(
        &self,
        name: &str,
        created_by: i64,
        now: i64,
    ) -> Result<RoomRow, StoreError> {
        let r = on_pool!(self, p => sqlx::query(
            "INSERT INTO rooms (name, name_key, created_by, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(name.to_lowercase())
        .bind(created_by)
        .bind(now)
        .fetch_one(p)
        .await
        .map(|row| row.get::<i64, _>(0)));
        match r {
            Ok(id) => Ok(RoomRow {
                id,
                name: name.to_string(),
            }),
            Err(e) if unique_violation(&e) => Err(StoreError::RoomExists),
            Err(e) => Err(e.into()),
        }
    }

    // ---- messages --------------------------------------------------------

    /// Inserts messages in one transaction, in order; returns their ids.
    pub async fn insert_messages(&self, batch: &[NewMessage]) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(batch.len());
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for m in batch {
                let row = sqlx::query(
                    "INSERT INTO messages (room_id, user_id, body, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .bind(m.room_id)
                .bind(m.user_id)
                .bind(&m.body)
                .bind(m.created_at)
                .fetch_one(&mut *tx)
                .await?;
                ids.push(row.get::<i64, _>(0));
            }
            tx.commit().await?;
        });
        Ok(ids)
    }

    /// The last `limit` messages of a room, oldest first.
    pub async fn history(&self, room_id: i64, limit: i64) -> Result<Vec<MessageRow>, StoreError> {
        let mut rows: Vec<(i64, String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT m.id, u.username, m.body, m.created_at FROM messages m \
             JOIN users u ON u.id = m.user_id \
             WHERE m.room_id = $1 ORDER BY m.id DESC LIMIT $2",
        )
        .bind(room_id)
        .bind(limit)
        .fetch_all(p)
        .await)?;
        rows.reverse();
        Ok(rows
            .into_iter()
            .map(|(id, author, body, created_at)| MessageRow {
                id,
                room_id,
                author,
                body,
                created_at,
            })
            .collect())
    }

    // ---- polls -----------------------------------------------------------

    /// Creates a poll and its options in one transaction.
    pub async fn create_poll(
        &self,
        room_id: i64,
        user_id: i64,
        question: &str,
        options: &[String],
        now: i64,
    ) -> Result<i64, StoreError> {
        let id = on_pool!(self, p => {
            let mut tx = p.begin().await?;
            let id: i64 = sqlx::query(
                "INSERT INTO polls (room_id, user_id, question, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(room_id)
            .bind(user_id)
            .bind(question)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .get(0);
            for (i, label) in options.iter().enumerate() {
                sqlx::query("INSERT INTO poll_options (poll_id, idx, label) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(i as i64)
                    .bind(label)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    /// A poll's room and number of options.
    pub async fn poll_meta(&self, poll_id: i64) -> Result<Option<(i64, i64)>, StoreError> {
        let row: Option<(i64, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT p.room_id, (SELECT COUNT(*) FROM poll_options o WHERE o.poll_id = p.id) \
             FROM polls p WHERE p.id = $1",
        )
        .bind(poll_id)
        .fetch_optional(p)
        .await)?;
        Ok(row)
    }

    /// Inserts votes in one transaction; for each, whether it counted (false:
    /// that user had already voted in that poll).
    pub async fn insert_votes(&self, batch: &[NewVote]) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(batch.len());
        on_pool!(self, p => {
            let mut tx = p.begin().await?;
            for v in batch {
                let r = sqlx::query(
                    "INSERT INTO votes (poll_id, user_id, idx, created_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (poll_id, user_id) DO NOTHING",
                )
                .bind(v.poll_id)
                .bind(v.user_id)
                .bind(v.option)
                .bind(v.created_at)
                .execute(&mut *tx)
                .await?;
                out.push(r.rows_affected() == 1);
            }
            tx.commit().await?;
        });
        Ok(out)
    }

    /// Votes per option of a poll (`n` options).
    pub async fn vote_counts(&self, poll_id: i64, n: usize) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<(i64, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT idx, COUNT(*) FROM votes WHERE poll_id = $1 GROUP BY idx",
        )
        .bind(poll_id)
        .fetch_all(p)
        .await)?;
        let mut counts = vec![0; n];
        for (i, c) in rows {
            if let Some(slot) = counts.get_mut(i as usize) {
                *slot = c;
            }
        }
        Ok(counts)
    }

    /// The option a user voted for in a poll, if any.
    pub async fn vote_of(&self, poll_id: i64, user_id: i64) -> Result<Option<i64>, StoreError> {
        let row: Option<(i64,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT idx FROM votes WHERE poll_id = $1 AND user_id = $2",
        )
        .bind(poll_id)
        .bind(user_id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|r| r.0))
    }

    /// The polls of a room (the last `limit`, oldest first) with their counts.
    pub async fn room_polls(&self, room_id: i64, limit: i64) -> Result<Vec<PollRow>, StoreError> {
        let mut heads: Vec<(i64, String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT p.id, u.username, p.question, p.created_at FROM polls p \
             JOIN users u ON u.id = p.user_id WHERE p.room_id = $1 ORDER BY p.id DESC LIMIT $2",
        )
        .bind(room_id)
        .bind(limit)
        .fetch_all(p)
        .await)?;
        heads.reverse();
        let mut out = Vec::with_capacity(heads.len());
        for (id, author, question, created_at) in heads {
            let options: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
                "SELECT label FROM poll_options WHERE poll_id = $1 ORDER BY idx",
            )
            .bind(id)
            .fetch_all(p)
            .await)?;
            let options: Vec<String> = options.into_iter().map(|o| o.0).collect();
            let counts = self.vote_counts(id, options.len()).await?;
            out.push(PollRow {
                id,
                room_id,
                author,
                question,
                options,
                counts,
                created_at,
            });
        }
        Ok(out)
    }

    /// One poll with its counts.
    pub async fn poll(&self, poll_id: i64) -> Result<Option<PollRow>, StoreError> {
        let head: Option<(i64, String, String, i64)> = on_pool!(self, p => sqlx::query_as(
            "SELECT p.room_id, u.username, p.question, p.created_at FROM polls p \
             JOIN users u ON u.id = p.user_id WHERE p.id = $1",
        )
        .bind(poll_id)
        .fetch_optional(p)
        .await)?;
        let Some((room_id, author, question, created_at)) = head else {
            return Ok(None);
        };
        let options: Vec<(String,)> = on_pool!(self, p => sqlx::query_as(
            "SELECT label FROM poll_options WHERE poll_id = $1 ORDER BY idx",
        )
        .bind(poll_id)
        .fetch_all(p)
        .await)?;
        let options: Vec<String> = options.into_iter().map(|o| o.0).collect();
        let counts = self.vote_counts(poll_id, options.len()).await?;
        Ok(Some(PollRow {
            id: poll_id,
            room_id,
            author,
            question,
            options,
            counts,
            created_at,
        }))
    }
}
