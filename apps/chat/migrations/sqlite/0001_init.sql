-- sockio-chat schema (SQLite). Times are milliseconds since the Unix epoch.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE auth_tokens (
    token_hash TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

CREATE TABLE rooms (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    name_key   TEXT    NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL
);

CREATE TABLE messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    INTEGER NOT NULL REFERENCES rooms(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX messages_by_room ON messages (room_id, id);

CREATE TABLE polls (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    INTEGER NOT NULL REFERENCES rooms(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    question   TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX polls_by_room ON polls (room_id, id);

CREATE TABLE poll_options (
    poll_id INTEGER NOT NULL REFERENCES polls(id),
    idx     INTEGER NOT NULL,
    label   TEXT    NOT NULL,
    PRIMARY KEY (poll_id, idx)
);

CREATE TABLE votes (
    poll_id    INTEGER NOT NULL REFERENCES polls(id),
    user_id    INTEGER NOT NULL REFERENCES users(id),
    idx        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (poll_id, user_id)
);

INSERT INTO rooms (name, name_key, created_by, created_at) VALUES ('General', 'general', NULL, 0);
