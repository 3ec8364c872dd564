//! The chat protocol on namespace `/chat` (see `PROTOCOL.md`): accounts,
//! rooms with history, messages, presence and polls.
//!
//! Handlers run concurrently (a handler that waits on the database does not
//! hold back the socket's next event), so nothing here relies on a socket's
//! events being handled one after another. What must be ordered goes through
//! one writer task ([`crate::writer`]): messages, polls, votes and room joins.
//! Handlers hand it their command synchronously, before their first `.await`,
//! so a socket's commands reach it in the order the socket sent them; it
//! stores them in batches (one transaction each) and emits `new-message` /
//! `voting bar` in order after each commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use sha2::Digest;
use sockio::{Ack, Data, HandlerError, HandlerErrorKind, Namespace, Socket, SocketIo};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::store::{RoomRow, Store, StoreError};
use crate::writer::{self, Cmd};

/// The namespace of the chat protocol.
pub const NAMESPACE: &str = "/chat";

/// Limits and tunables of the chat; every one has a command-line flag.
#[derive(Debug, Clone)]
pub struct ChatConfig {
    /// Longest message, in characters (default 2000).
    pub max_message_chars: usize,
    /// Messages sent on `join room` (default 50).
    pub history: usize,
    /// Polls sent on `join room` (default 20).
    pub poll_history: usize,
    /// Most names listed in a `user-list` (default 100; `count` has the total).
    pub max_user_list: usize,
    /// Delay that coalesces a room's presence changes into one `user-list` (default 50 ms).
    pub user_list_delay: Duration,
    /// Commands waiting for the writer; past it a message is refused with `busy` (default 4096).
    pub write_queue: usize,
    /// Most commands stored in one transaction (default 256).
    pub write_batch: usize,
    /// How long a login token stays valid (default 30 days).
    pub token_ttl: Duration,
    /// Password hashes computed at once (default: the number of CPUs).
    pub hash_concurrency: usize,
    /// Argon2id parameters for new passwords (default: the argon2 crate's, m=19 MiB, t=2, p=1).
    pub hash_params: argon2::Params,
    /// Most options in a poll (default 10).
    pub max_poll_options: usize,
    /// How long to wait for the other servers of a cluster to report who is
    /// in their rooms (default 1 s); a server that does not answer in time is
    /// left out of that user list or count.
    pub cluster_timeout: Duration,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_message_chars: 2000,
            history: 50,
            poll_history: 20,
            max_user_list: 100,
            user_list_delay: Duration::from_millis(50),
            write_queue: 4096,
            write_batch: 256,
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            hash_params: argon2::Params::default(),
            max_poll_options: 10,
            cluster_timeout: Duration::from_secs(1),
        }
    }
}

/// The logged-in user, as kept in the socket's session under `"user"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionUser {
    /// Database id.
    pub id: i64,
    /// Name as registered.
    pub name: String,
    /// Hash of the login token this socket holds (deleted on logout).
    #[serde(default)]
    pub token_hash: String,
}

/// Who a socket is: a registered user or a guest who picked a name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    User(SessionUser),
    Guest(String),
}

impl Who {
    fn key(&self) -> String {
        match self {
            Who::User(u) => format!("u:{}", u.id),
            Who::Guest(g) => format!("g:{}", g.to_lowercase()),
        }
    }
    fn name(&self) -> &str {
        match self {
            Who::User(u) => &u.name,
            Who::Guest(g) => g,
        }
    }
    fn guest(&self) -> bool {
        matches!(self, Who::Guest(_))
    }
}

/// A refused request: the acknowledgement `{ok: false, code, reason}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    /// Machine-readable code (see PROTOCOL.md).
    pub code: &'static str,
    /// What went wrong, for people.
    pub reason: String,
}

impl Fail {
    pub(crate) fn new(code: &'static str, reason: impl Into<String>) -> Self {
        Fail {
            code,
            reason: reason.into(),
        }
    }
    fn not_logged_in() -> Self {
        Fail::new("not_logged_in", "log in first")
    }
    pub(crate) fn storage(e: &StoreError) -> Self {
        tracing::error!("storage: {e}");
        Fail::new("storage", "the server could not store this; try again")
    }
    fn busy() -> Self {
        Fail::new("busy", "the server is busy; try again")
    }
    fn to_json(&self) -> Json {
        json!({"ok": false, "code": self.code, "reason": self.reason})
    }
}

/// `{ok: true, ...fields}` or `{ok: false, code, reason}`.
fn answer<T: Serialize>(r: Result<T, Fail>) -> Ack<Json> {
    match r {
        Ok(t) => {
            let mut v = serde_json::to_value(t).unwrap_or_else(|_| json!({}));
            if let Json::Object(m) = &mut v {
                m.insert("ok".into(), Json::Bool(true));
                Ack(v)
            } else {
                Ack(json!({"ok": true}))
            }
        }
        Err(f) => Ack(f.to_json()),
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The sockio room of a chat room: prefixed, so that no room name can be a
/// socket id (whose own room would then leak its private emits).
pub(crate) fn room_key(id: i64) -> String {
    format!("r:{id}")
}

fn token_hash(token: &str) -> String {
    let d = sha2::Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

// ---- incoming payloads ------------------------------------------------------

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// A room given as `{room}` or as a bare name (the tutorial's `emit('join', room)`).
#[derive(Deserialize)]
#[serde(untagged)]
enum RoomArg {
    Name(String),
    Obj { room: String },
}

impl RoomArg {
    fn name(&self) -> &str {
        match self {
            RoomArg::Name(n) | RoomArg::Obj { room: n } => n,
        }
    }
}

#[derive(Deserialize)]
struct CreateRoomIn {
    name: String,
}

#[derive(Deserialize)]
struct MessageIn {
    room: String,
    text: String,
}

#[derive(Deserialize)]
struct CreatePollIn {
    room: String,
    question: String,
    options: Vec<String>,
}

#[derive(Deserialize)]
struct VoteIn {
    poll: i64,
    option: i64,
}

// ---- outgoing payloads ------------------------------------------------------

#[derive(Serialize)]
struct LoggedIn {
    username: String,
    token: String,
}

#[derive(Serialize, Clone)]
struct UserEntry {
    username: String,
    guest: bool,
}

#[derive(Serialize)]
struct RoomEntry {
    name: String,
    members: usize,
}

// ---- presence ---------------------------------------------------------------
//
// Each server knows who is in its rooms through its own sockets. With several
// servers (`--redis-url`), a user list or member count merges this server's
// members with what the others report to the server-side request
// [`PRESENCE_EVENT`], asked fresh each time: a server that stops takes its
// members with it, and nothing has to be cleaned up in Redis. The server that
// sees a change pushes the room's merged `user-list` to the whole room.

/// The server-side event (between the chat's servers) that asks for each
/// server's members of some rooms.
const PRESENCE_EVENT: &str = "chat:presence";

/// One member as a server reports it: identity key, name, guest.
type Reported = (String, String, bool);

/// Members of some rooms, by room id and identity key: (name, guest).
type Merged = HashMap<i64, BTreeMap<String, (String, bool)>>;

struct Member {
    name: String,
    guest: bool,
    conns: usize,
}

#[derive(Default)]
struct RoomPresence {
    name: String,
    /// By identity key; a user with two tabs is one member with two connections.
    members: BTreeMap<String, Member>,
    push_scheduled: bool,
}

// ---- the chat ---------------------------------------------------------------

/// The chat's state, shared by every handler.
#[derive(Clone)]
pub struct Chat(Arc<Inner>);

struct Inner {
    store: Store,
    cfg: ChatConfig,
    rooms: RwLock<HashMap<String, RoomRow>>,
    presence: Mutex<HashMap<i64, RoomPresence>>,
    writer: mpsc::Sender<Cmd>,
    ns: OnceLock<Namespace>,
    hashing: Semaphore,
    dummy_hash: String,
}

impl Chat {
    /// Registers the `/chat` handlers on `io` and starts the writer task.
    pub async fn install(io: &SocketIo, store: Store, cfg: ChatConfig) -> Result<Chat, StoreError> {
        let (tx, rx) = mpsc::channel(cfg.write_queue.max(1));
        let rooms = store
            .rooms()
            .await?
            .into_iter()
            .map(|r| (r.name.to_lowercase(), r))
            .collect();
        // Verified against when the user does not exist, so that an unknown
        // user and a wrong password take the same time.
        let dummy_hash = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            cfg.hash_params.clone(),
        )
        .hash_password(b"not a password", &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .unwrap_or_default();
        let chat = Chat(Arc::new(Inner {
            store: store.clone(),
            hashing: Semaphore::new(cfg.hash_concurrency.max(1)),
            cfg,
            rooms: RwLock::new(rooms),
            presence: Mutex::default(),
            writer: tx,
            ns: OnceLock::new(),
            dummy_hash,
        }));
        let ns = io.of(NAMESPACE);
        let _ = chat.0.ns.set(ns.clone());
        let limits = writer::Limits {
            batch: chat.0.cfg.write_batch.max(1),
            history: chat.0.cfg.history as i64,
            poll_history: chat.0.cfg.poll_history as i64,
        };
        tokio::spawn(writer::run(store, ns.clone(), rx, limits));
        chat.register_handlers(&ns);
        Ok(chat)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// The configuration.
    pub fn config(&self) -> &ChatConfig {
        &self.0.cfg
    }

    /// Waits until the writer has stored every command queued so far.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.0.writer.send(Cmd::Flush { done: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }

    fn ns(&self) -> &Namespace {
        self.0.ns.get().expect("set at install")
    }

    fn register_handlers(&self, ns: &Namespace) {
        let max = self.0.cfg.max_message_chars;
        ns.on_connect(move |s: Socket| async move {
            let _ = s
                .emit(
                    "connected",
                    &json!({"id": s.id().as_str(), "max_message_chars": max}),
                )
                .await;
        });
        ns.on_error(|e: HandlerError| async move {
            let f = match &e.kind {
                HandlerErrorKind::BadArguments(m) => Fail::new(
                    "bad_request",
                    format!("malformed arguments for `{}`: {m}", e.event),
                ),
                other => {
                    tracing::error!(event = %e.event, "handler failed: {other:?}");
                    Fail::new("internal", "internal error")
                }
            };
            Ack(f.to_json())
        });
        macro_rules! on {
            ($event:literal, $method:ident, $ty:ty) => {{
                let chat = self.clone();
                ns.on($event, move |s: Socket, Data(d): Data<$ty>| {
                    let chat = chat.clone();
                    async move { answer(chat.$method(&s, d).await) }
                });
            }};
            ($event:literal, $method:ident) => {{
                let chat = self.clone();
                ns.on($event, move |s: Socket| {
                    let chat = chat.clone();
                    async move { answer(chat.$method(&s).await) }
                });
            }};
        }
        on!("identify", identify, String);
        on!("register", register, Credentials);
        on!("login", login, Credentials);
        on!("logout", logout);
        on!("rooms", rooms);
        on!("create-room", create_room, CreateRoomIn);
        on!("join room", join_room, RoomArg);
        on!("leave room", leave_room, RoomArg);
        on!("message", message, MessageIn);
        on!("typing", typing, RoomArg);
        on!("create-poll", create_poll, CreatePollIn);
        on!("vote", vote, VoteIn);
        let chat = self.clone();
        ns.on_server_side(
            PRESENCE_EVENT,
            move |Data(rooms): Data<Option<Vec<i64>>>| {
                let chat = chat.clone();
                async move { chat.local_presence(rooms.as_deref()) }
            },
        );
        let chat = self.clone();
        ns.on_disconnect(move |s: Socket| {
            let chat = chat.clone();
            async move { chat.disconnected(&s) }
        });
    }

    // ---- identity ---------------------------------------------------------

    fn who(s: &Socket) -> Option<Who> {
        if let Some(u) = s.session().get::<SessionUser>("user") {
            return Some(Who::User(u));
        }
        s.session().get::<String>("guest").map(Who::Guest)
    }

    fn user(s: &Socket) -> Result<SessionUser, Fail> {
        s.session()
            .get::<SessionUser>("user")
            .ok_or_else(Fail::not_logged_in)
    }

    /// The chat rooms this socket is in, by id.
    fn joined(s: &Socket) -> Vec<i64> {
        s.rooms()
            .iter()
            .filter_map(|r| r.strip_prefix("r:")?.parse().ok())
            .collect()
    }

    fn is_in(s: &Socket, room_id: i64) -> bool {
        let key = room_key(room_id);
        s.rooms().iter().any(|r| **r == *key)
    }

    /// Moves the socket's presence in its rooms from `old` to `new`.
    fn rekey(&self, s: &Socket, old: Option<&Who>, new: Option<&Who>) {
        if old == new {
            return;
        }
        for id in Self::joined(s) {
            if let Some(o) = old {
                self.presence_remove(id, o);
            }
            if let Some(n) = new {
                self.presence_add(id, "", n);
            }
            self.schedule_user_list(id);
        }
    }

    async fn identify(&self, s: &Socket, name: String) -> Result<Json, Fail> {
        let name = name.trim().to_string();
        let n = name.chars().count();
        if n == 0 || n > 32 || name.chars().any(char::is_control) {
            return Err(Fail::new(
                "invalid_name",
                "a guest name has 1 to 32 characters",
            ));
        }
        if s.session().contains("user") {
            return Err(Fail::new(
                "already_logged_in",
                "you are logged in; log out to be a guest",
            ));
        }
        let old = Self::who(s);
        s.session().insert("guest", &name);
        self.rekey(s, old.as_ref(), Some(&Who::Guest(name.clone())));
        Ok(json!({ "name": name }))
    }

    async fn hash(&self, password: String) -> Result<String, Fail> {
        let _permit = self.0.hashing.acquire().await.map_err(|_| Fail::busy())?;
        let params = self.0.cfg.hash_params.clone();
        tokio::task::spawn_blocking(move || {
            Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
                .map(|h| h.to_string())
        })
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| Fail::new("internal", "could not hash the password"))
    }

    async fn verify(&self, password: String, hash: String) -> bool {
        let Ok(_permit) = self.0.hashing.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|h| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false)
    }

    /// Answers a login or registration: the event `logsuc` / `logfail` and the
    /// same payload as the acknowledgement.
    async fn logged(&self, s: &Socket, r: Result<LoggedIn, Fail>) -> Result<Json, Fail> {
        match r {
            Ok(l) => {
                let v = json!({"ok": true, "username": l.username, "token": l.token});
                let _ = s.emit("logsuc", &v).await;
                Ok(v)
            }
            Err(f) => {
                let _ = s.emit("logfail", &f.to_json()).await;
                Err(f)
            }
        }
    }

    async fn start_session(
        &self,
        s: &Socket,
        user: crate::store::UserRow,
        token: Option<String>,
    ) -> Result<LoggedIn, Fail> {
        let token = match token {
            Some(t) => t,
            None => {
                let t = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(rand::random::<[u8; 32]>());
                self.0
                    .store
                    .create_token(&token_hash(&t), user.id, now_ms())
                    .await
                    .map_err(|e| Fail::storage(&e))?;
                t
            }
        };
        let su = SessionUser {
            id: user.id,
            name: user.username.clone(),
            token_hash: token_hash(&token),
        };
        let old = Self::who(s);
        s.session().remove("guest");
        s.session().insert("user", &su);
        self.rekey(s, old.as_ref(), Some(&Who::User(su)));
        Ok(LoggedIn {
            username: user.username,
            token,
        })
    }

    async fn register(&self, s: &Socket, c: Credentials) -> Result<Json, Fail> {
        let r = self.register_inner(s, c).await;
        self.logged(s, r).await
    }

    async fn register_inner(&self, s: &Socket, c: Credentials) -> Result<LoggedIn, Fail> {
        let (Some(username), Some(password)) = (c.username, c.password) else {
            return Err(Fail::new(
                "bad_request",
                "register needs {username, password}",
            ));
        };
        let username = username.trim().to_string();
        let n = username.chars().count();
        if !(3..=32).contains(&n)
            || !username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(Fail::new(
                "invalid_username",
                "a username has 3 to 32 letters, digits, '_', '-' or '.'",
            ));
        }
        let n = password.chars().count();
        if !(6..=256).contains(&n) {
            return Err(Fail::new(
                "weak_password",
                "a password has 6 to 256 characters",
            ));
        }
        if self
            .0
            .store
            .find_user(&username)
            .await
            .map_err(|e| Fail::storage(&e))?
            .is_some()
        {
            return Err(Fail::new("username_taken", "this username is taken"));
        }
        let hash = self.hash(password).await?;
        let user = match self.0.store.create_user(&username, &hash, now_ms()).await {
            Ok(u) => u,
            Err(StoreError::UsernameTaken) => {
                return Err(Fail::new("username_taken", "this username is taken"))
            }
            Err(e) => return Err(Fail::storage(&e)),
        };
        self.start_session(s, user, None).await
    }

    async fn login(&self, s: &Socket, c: Credentials) -> Result<Json, Fail> {
        let r = self.login_inner(s, c).await;
        self.logged(s, r).await
    }

    async fn login_inner(&self, s: &Socket, c: Credentials) -> Result<LoggedIn, Fail> {
        let bad = || Fail::new("bad_credentials", "wrong username or password");
        if let Some(token) = c.token {
            let not_before = now_ms() - self.0.cfg.token_ttl.as_millis() as i64;
            let user = self
                .0
                .store
                .user_by_token(&token_hash(&token), not_before)
                .await
                .map_err(|e| Fail::storage(&e))?
                .ok_or_else(|| Fail::new("bad_token", "this login has expired; log in again"))?;
            return self.start_session(s, user, Some(token)).await;
        }
        let (Some(username), Some(password)) = (c.username, c.password) else {
            return Err(Fail::new(
                "bad_request",
                "login needs {username, password} or {token}",
            ));
        };
        if password.len() > 1024 || username.len() > 256 {
            return Err(bad());
        }
        let found = self
            .0
            .store
            .find_user(username.trim())
            .await
            .map_err(|e| Fail::storage(&e))?;
        let (user, hash) = match found {
            Some((u, h)) => (Some(u), h),
            None => (None, self.0.dummy_hash.clone()),
        };
        let ok = self.verify(password, hash).await;
        match (ok, user) {
            (true, Some(user)) => self.start_session(s, user, None).await,
            _ => Err(bad()),
        }
    }

    async fn logout(&self, s: &Socket) -> Result<Json, Fail> {
        let user = Self::user(s)?;
        if !user.token_hash.is_empty() {
            self.0
                .store
                .delete_token(&user.token_hash)
                .await
                .map_err(|e| Fail::storage(&e))?;
        }
        let old = Self::who(s);
        s.session().remove("user");
        self.rekey(s, old.as_ref(), None);
        for id in Self::joined(s) {
            s.leave(room_key(id));
        }
        Ok(json!({}))
    }

    // ---- rooms --------------------------------------------------------------

    /// The room of that name: from the cache, else the database (another
    /// server may have created it).
    async fn room(&self, name: &str) -> Result<RoomRow, Fail> {
        let key = name.trim().to_lowercase();
        if let Some(r) = self.0.rooms.read().unwrap().get(&key) {
            return Ok(r.clone());
        }
        match self.0.store.find_room(&key).await {
            Ok(Some(r)) => {
                self.0.rooms.write().unwrap().insert(key, r.clone());
                Ok(r)
            }
            Ok(None) => Err(Fail::new(
                "unknown_room",
                format!("no room named `{}`", name.trim()),
            )),
            Err(e) => Err(Fail::storage(&e)),
        }
    }

    async fn rooms(&self, _s: &Socket) -> Result<Json, Fail> {
        let rooms = self.0.store.rooms().await.map_err(|e| Fail::storage(&e))?;
        let presence = self.presence(None).await;
        let list: Vec<RoomEntry> = rooms
            .into_iter()
            .map(|r| RoomEntry {
                members: presence.get(&r.id).map_or(0, BTreeMap::len),
                name: r.name,
            })
            .collect();
        Ok(json!({ "rooms": list }))
    }

    async fn create_room(&self, s: &Socket, c: CreateRoomIn) -> Result<Json, Fail> {
        let user = Self::user(s)?;
        let name = c.name.trim().to_string();
        let n = name.chars().count();
        if n == 0 || n > 40 || name.chars().any(char::is_control) {
            return Err(Fail::new(
                "invalid_room_name",
                "a room name has 1 to 40 characters",
            ));
        }
        let room = match self.0.store.create_room(&name, user.id, now_ms()).await {
            Ok(r) => r,
            Err(StoreError::RoomExists) => {
                return Err(Fail::new(
                    "room_exists",
                    format!("a room named `{name}` exists"),
                ))
            }
            Err(e) => return Err(Fail::storage(&e)),
        };
        self.0
            .rooms
            .write()
            .unwrap()
            .insert(name.to_lowercase(), room.clone());
        let entry = RoomEntry {
            name: room.name,
            members: 0,
        };
        let _ = self.ns().emit("new-room", &entry).await;
        Ok(json!({ "room": entry }))
    }

    async fn join_room(&self, s: &Socket, r: RoomArg) -> Result<Json, Fail> {
        let Some(who) = Self::who(s) else {
            return Err(Fail::new(
                "not_identified",
                "log in, or pick a guest name with `identify`, first",
            ));
        };
        let room = self.room(r.name()).await?;
        let (tx, rx) = oneshot::channel();
        let user_id = match &who {
            Who::User(u) => Some(u.id),
            Who::Guest(_) => None,
        };
        self.send(Cmd::Join {
            socket: s.clone(),
            room: room.clone(),
            user_id,
            done: tx,
        })?;
        let was_member = rx.await.map_err(|_| Fail::busy())??;
        let first_here = !was_member && self.presence_add(room.id, &room.name, &who);
        let remote = self.remote_presence(Some(&[room.id])).await;
        if first_here {
            // `new-user` once per user, however many tabs and servers.
            let key = who.key();
            let elsewhere = remote
                .iter()
                .flat_map(|report| report.iter().filter(|(id, _)| *id == room.id))
                .any(|(_, members)| members.iter().any(|(k, _, _)| *k == key));
            if !elsewhere {
                let _ = self
                    .ns()
                    .to(room_key(room.id))
                    .emit(
                        "new-user",
                        &json!({"room": room.name, "username": who.name(), "guest": who.guest()}),
                    )
                    .await;
            }
        }
        if !was_member {
            self.schedule_user_list(room.id);
        }
        let merged = self.merge(Some(&[room.id]), remote);
        let members = merged.get(&room.id).map_or(0, BTreeMap::len);
        Ok(json!({"room": room.name, "members": members}))
    }

    async fn leave_room(&self, s: &Socket, r: RoomArg) -> Result<Json, Fail> {
        let room = self.room(r.name()).await?;
        if !Self::is_in(s, room.id) {
            return Err(Fail::new(
                "not_in_room",
                format!("you are not in `{}`", room.name),
            ));
        }
        s.leave(room_key(room.id));
        if let Some(who) = Self::who(s) {
            self.presence_remove(room.id, &who);
            self.schedule_user_list(room.id);
        }
        Ok(json!({"room": room.name}))
    }

    fn disconnected(&self, s: &Socket) {
        if let Some(who) = Self::who(s) {
            for id in Self::joined(s) {
                self.presence_remove(id, &who);
                self.schedule_user_list(id);
            }
        }
    }

    // ---- messages ------------------------------------------------------------

    /// Queues a command for the writer without waiting (keeps the socket's order).
    fn send(&self, cmd: Cmd) -> Result<(), Fail> {
        self.0.writer.try_send(cmd).map_err(|_| Fail::busy())
    }

    /// The room, from the cache when possible, and the check that the socket is in it.
    async fn joined_room(&self, s: &Socket, name: &str) -> Result<RoomRow, Fail> {
        let room = self.room(name).await?;
        if !Self::is_in(s, room.id) {
            return Err(Fail::new(
                "not_in_room",
                format!("join `{}` first", room.name),
            ));
        }
        Ok(room)
    }

    async fn message(&self, s: &Socket, m: MessageIn) -> Result<Json, Fail> {
        let user = Self::user(s)?;
        if m.text.trim().is_empty() {
            return Err(Fail::new("empty_message", "the message is empty"));
        }
        let max = self.0.cfg.max_message_chars;
        if m.text.len() > max && m.text.chars().count() > max {
            return Err(Fail::new(
                "message_too_long",
                format!("a message has at most {max} characters"),
            ));
        }
        let room = self.joined_room(s, &m.room).await?;
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Post {
            room,
            user_id: user.id,
            author: user.name,
            text: m.text,
            done: tx,
        })?;
        let id = rx.await.map_err(|_| Fail::busy())??;
        Ok(json!({ "id": id }))
    }

    async fn typing(&self, s: &Socket, r: RoomArg) -> Result<Json, Fail> {
        let user = Self::user(s)?;
        let room = self.joined_room(s, r.name()).await?;
        let _ = s
            .to(room_key(room.id))
            .volatile()
            .emit("typing", &json!({"room": room.name, "username": user.name}))
            .await;
        Ok(json!({}))
    }

    // ---- polls ---------------------------------------------------------------

    async fn create_poll(&self, s: &Socket, p: CreatePollIn) -> Result<Json, Fail> {
        let user = Self::user(s)?;
        let question = p.question.trim().to_string();
        let n = question.chars().count();
        if n == 0 || n > 200 {
            return Err(Fail::new(
                "invalid_poll",
                "a question has 1 to 200 characters",
            ));
        }
        let max = self.0.cfg.max_poll_options;
        let options: Vec<String> = p.options.iter().map(|o| o.trim().to_string()).collect();
        if options.len() < 2 || options.len() > max {
            return Err(Fail::new(
                "invalid_poll",
                format!("a poll has 2 to {max} options"),
            ));
        }
        if options
            .iter()
            .any(|o| o.is_empty() || o.chars().count() > 100)
        {
            return Err(Fail::new(
                "invalid_poll",
                "an option has 1 to 100 characters",
            ));
        }
        let room = self.joined_room(s, &p.room).await?;
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::CreatePoll {
            room,
            user_id: user.id,
            author: user.name,
            question,
            options,
            done: tx,
        })?;
        let id = rx.await.map_err(|_| Fail::busy())??;
        Ok(json!({ "poll": id }))
    }

    async fn vote(&self, s: &Socket, v: VoteIn) -> Result<Json, Fail> {
        let user = Self::user(s)?;
        let (room_id, n) = self
            .0
            .store
            .poll_meta(v.poll)
            .await
            .map_err(|e| Fail::storage(&e))?
            .ok_or_else(|| Fail::new("unknown_poll", format!("no poll {}", v.poll)))?;
        if v.option < 0 || v.option >= n {
            return Err(Fail::new(
                "invalid_option",
                format!("poll {} has options 0 to {}", v.poll, n - 1),
            ));
        }
        if !Self::is_in(s, room_id) {
            return Err(Fail::new("not_in_room", "join the poll's room first"));
        }
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Vote {
            room_id,
            poll_id: v.poll,
            options: n as usize,
            user_id: user.id,
            option: v.option,
            done: tx,
        })?;
        rx.await.map_err(|_| Fail::busy())??;
        Ok(json!({"poll": v.poll, "option": v.option}))
    }

    // ---- presence --------------------------------------------------------------

    /// This server's members of `rooms` (every room when `None`).
    fn local_presence(&self, rooms: Option<&[i64]>) -> Vec<(i64, Vec<Reported>)> {
        let p = self.0.presence.lock().unwrap();
        let report = |(id, rp): (&i64, &RoomPresence)| {
            let members = rp
                .members
                .iter()
                .map(|(k, m)| (k.clone(), m.name.clone(), m.guest))
                .collect();
            (*id, members)
        };
        match rooms {
            Some(ids) => ids
                .iter()
                .filter_map(|id| p.get_key_value(id))
                .map(report)
                .collect(),
            None => p
                .iter()
                .filter(|(_, rp)| !rp.members.is_empty())
                .map(report)
                .collect(),
        }
    }

    /// What the other servers of the cluster report for `rooms`, one report
    /// per server that answered in time (none without `--redis-url`).
    async fn remote_presence(&self, rooms: Option<&[i64]>) -> Vec<Vec<(i64, Vec<Reported>)>> {
        let asked = self
            .ns()
            .server_side_emit_with_ack(PRESENCE_EVENT, &(rooms,), self.0.cfg.cluster_timeout)
            .await;
        let acks = match asked {
            Ok(acks) => acks,
            Err(e) => {
                tracing::warn!("presence of the other servers unknown: {e}");
                return Vec::new();
            }
        };
        if !acks.complete {
            tracing::warn!("a server did not report its presence in time");
        }
        acks.first_args().unwrap_or_else(|e| {
            tracing::warn!("unreadable presence report: {e}");
            Vec::new()
        })
    }

    /// This server's members of `rooms` merged with `remote`'s.
    fn merge(&self, rooms: Option<&[i64]>, remote: Vec<Vec<(i64, Vec<Reported>)>>) -> Merged {
        let mut merged = Merged::new();
        for (id, members) in remote
            .into_iter()
            .flatten()
            .chain(self.local_presence(rooms))
        {
            let room = merged.entry(id).or_default();
            for (key, name, guest) in members {
                room.insert(key, (name, guest));
            }
        }
        merged
    }

    /// Who is in `rooms` on every server.
    async fn presence(&self, rooms: Option<&[i64]>) -> Merged {
        let remote = self.remote_presence(rooms).await;
        self.merge(rooms, remote)
    }

    /// Adds a connection of `who` to a room; true if `who` was not there yet.
    fn presence_add(&self, room_id: i64, room_name: &str, who: &Who) -> bool {
        let mut p = self.0.presence.lock().unwrap();
        let rp = p.entry(room_id).or_default();
        if !room_name.is_empty() {
            rp.name = room_name.to_string();
        }
        let m = rp.members.entry(who.key()).or_insert(Member {
            name: who.name().to_string(),
            guest: who.guest(),
            conns: 0,
        });
        m.conns += 1;
        m.conns == 1
    }

    fn presence_remove(&self, room_id: i64, who: &Who) {
        let mut p = self.0.presence.lock().unwrap();
        if let Some(rp) = p.get_mut(&room_id) {
            let key = who.key();
            if let Some(m) = rp.members.get_mut(&key) {
                m.conns -= 1;
                if m.conns == 0 {
                    rp.members.remove(&key);
                }
            }
        }
    }

    /// Sends the room's `user-list` soon, once for all changes until then.
    fn schedule_user_list(&self, room_id: i64) {
        {
            let mut p = self.0.presence.lock().unwrap();
            let Some(rp) = p.get_mut(&room_id) else {
                return;
            };
            if rp.push_scheduled {
                return;
            }
            rp.push_scheduled = true;
        }
        let chat = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(chat.0.cfg.user_list_delay).await;
            let name = {
                let mut p = chat.0.presence.lock().unwrap();
                let Some(rp) = p.get_mut(&room_id) else {
                    return;
                };
                rp.push_scheduled = false;
                rp.name.clone()
            };
            let merged = chat.presence(Some(&[room_id])).await;
            let mut users: Vec<UserEntry> = merged
                .get(&room_id)
                .into_iter()
                .flatten()
                .map(|(_, (name, guest))| UserEntry {
                    username: name.clone(),
                    guest: *guest,
                })
                .collect();
            users.sort_by(|a, b| {
                (a.guest, a.username.to_lowercase()).cmp(&(b.guest, b.username.to_lowercase()))
            });
            let count = users.len();
            users.truncate(chat.0.cfg.max_user_list);
            let list = json!({"room": name, "count": count, "users": users});
            let _ = chat
                .ns()
                .to(room_key(room_id))
                .emit("user-list", &list)
                .await;
        });
    }
}
