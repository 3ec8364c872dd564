//! Per-socket session storage (Flask-SocketIO's `session`, Node's `socket.data`).

use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::protocol::{self, Value};

/// Key → value storage private to one socket. Values are stored serialized,
/// so a cluster node can report them (`fetch_sockets`) and a recovered
/// connection can get them back.
///
/// ```
/// # fn f(s: sockio::Socket) {
/// s.session().insert("user", &"ada");
/// let user: Option<String> = s.session().get("user");
/// # }
/// ```
#[derive(Default)]
pub struct Session {
    map: Mutex<Vec<(String, Value)>>,
}

impl Session {
    /// Stores `value` under `key`, replacing what was there.
    pub fn insert<T: Serialize + ?Sized>(&self, key: &str, value: &T) {
        let Ok(v) = protocol::to_value(value) else {
            tracing::warn!(key, "session value is not serializable; not stored");
            return;
        };
        self.insert_value(key, v);
    }

    /// Stores a [`Value`] under `key` as it is.
    pub fn insert_value(&self, key: &str, value: Value) {
        let mut m = self.map.lock().unwrap();
        match m.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => m.push((key.to_string(), value)),
        }
    }

    /// The [`Value`] under `key`.
    pub fn get_value(&self, key: &str) -> Option<Value> {
        let m = self.map.lock().unwrap();
        m.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    /// The keys, in insertion order.
    pub fn keys(&self) -> Vec<String> {
        self.map
            .lock()
            .unwrap()
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The value under `key`, if present and of type `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let m = self.map.lock().unwrap();
        let v = m.iter().find(|(k, _)| k == key)?.1.clone();
        drop(m);
        protocol::from_value(v).ok()
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&self, key: &str) -> bool {
        let mut m = self.map.lock().unwrap();
        let n = m.len();
        m.retain(|(k, _)| k != key);
        m.len() != n
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.map.lock().unwrap().iter().any(|(k, _)| k == key)
    }

    /// Empties the session.
    pub fn clear(&self) {
        self.map.lock().unwrap().clear();
    }

    /// The whole session as one map value.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.map
                .lock()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect(),
        )
    }
}
