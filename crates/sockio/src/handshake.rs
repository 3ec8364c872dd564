//! [`Handshake`]: what a socket connected with, as Node's `socket.handshake`
//! shows it.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::value::{Map, Value};

/// What the client sent when it connected, in the shape of Node's
/// `socket.handshake` (serialize it, or [`Handshake::to_value`], to get
/// exactly Node's object: `headers`, `time`, `address`, `xdomain`, `secure`,
/// `issued`, `url`, `query`, `auth`).
///
/// Built on demand by [`crate::Socket::handshake`] from the connection's
/// first HTTP request (nothing is copied per socket while it is not asked for).
///
/// ```
/// # fn f(s: sockio::Socket) {
/// let h = s.handshake();
/// let token = h.query("token");                 // first value of ?token=
/// let tags: Vec<&str> = h.query_all("tag");     // every value of ?tag=a&tag=b
/// let ua = h.headers.get("user-agent");
/// let node_shape = h.to_value();                // {"headers": {...}, "time": ..., ...}
/// # let _ = (token, tags, ua, node_shape); }
/// ```
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The HTTP headers of the connection's first request.
    pub headers: http::HeaderMap,
    /// When the socket connected.
    pub issued: SystemTime,
    /// The client's address, when the server knows it.
    pub address: Option<SocketAddr>,
    /// Whether the request came from another origin (it has an `Origin` header).
    pub xdomain: bool,
    /// Whether the connection is encrypted (an `https` request URI, or the
    /// engine was told so by the server in front).
    pub secure: bool,
    /// The request's path and query (`/socket.io/?EIO=4&transport=polling&t=...`).
    pub url: String,
    /// The query, URL-decoded, every value of a repeated key kept, in order.
    pub query_pairs: Vec<(String, String)>,
    /// The CONNECT payload (`auth` in socket.io-client; for 1.x/2.x clients
    /// the query of the namespace URL as an object of strings).
    pub auth: Option<Value>,
}

impl Handshake {
    /// The first value of query parameter `key`.
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of query parameter `key`, in order.
    pub fn query_all(&self, key: &str) -> Vec<&str> {
        self.query_pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// `issued` in milliseconds since the Unix epoch (Node's `issued`).
    pub fn issued_ms(&self) -> u64 {
        self.issued
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }

    /// `issued` as JavaScript's `Date.prototype.toString()` writes it in
    /// UTC (Node's `time`): `Thu Dec 03 2026 10:44:49 GMT+0000 (Coordinated Universal Time)`.
    pub fn time(&self) -> String {
        js_date_string(self.issued)
    }

    /// Node's handshake object.
    pub fn to_value(&self) -> Value {
        crate::protocol::to_value(self).unwrap_or_default()
    }

    /// The query as Node's `querystring.parse` gives it: a repeated key's
    /// values as an array.
    pub fn query_object(&self) -> Value {
        // Positions by key: linear in the number of pairs, however many keys.
        let mut index: std::collections::HashMap<&str, usize> = Default::default();
        let mut entries: Vec<(String, Value)> = Vec::new();
        for (k, v) in &self.query_pairs {
            match index.get(k.as_str()) {
                Some(&i) => match &mut entries[i].1 {
                    Value::Array(a) => a.push(Value::from(v.as_str())),
                    existing => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, Value::from(v.as_str())]);
                    }
                },
                None => {
                    index.insert(k, entries.len());
                    entries.push((k.clone(), Value::from(v.as_str())));
                }
            }
        }
        let mut m = Map::with_capacity(entries.len());
        for (k, v) in entries {
            m.push(k, v); // keys are distinct here
        }
        Value::Object(m)
    }

    /// The headers as Node's `req.headers`: lowercase names, a repeated
    /// header's values joined with `, ` (`set-cookie`: an array).
    pub fn headers_object(&self) -> Value {
        let mut m = Map::new();
        for name in self.headers.keys() {
            let values: Vec<String> = self
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            let v = if name == http::header::SET_COOKIE {
                Value::from(values)
            } else if name == http::header::COOKIE {
                Value::from(values.join("; "))
            } else {
                Value::from(values.join(", "))
            };
            m.insert(name.as_str(), v);
        }
        Value::Object(m)
    }
}

impl Serialize for Handshake {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(9))?;
        m.serialize_entry("headers", &self.headers_object())?;
        m.serialize_entry("time", &self.time())?;
        m.serialize_entry(
            "address",
            &self.address.map(|a| a.ip().to_string()).unwrap_or_default(),
        )?;
        m.serialize_entry("xdomain", &self.xdomain)?;
        m.serialize_entry("secure", &self.secure)?;
        m.serialize_entry("issued", &self.issued_ms())?;
        m.serialize_entry("url", &self.url)?;
        m.serialize_entry("query", &self.query_object())?;
        match &self.auth {
            Some(a) => m.serialize_entry("auth", a)?,
            None => m.serialize_entry("auth", &Map::new())?,
        }
        m.end()
    }
}

/// JavaScript's `Date.prototype.toString()` for a UTC time zone.
pub(crate) fn js_date_string(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{} {} {:02} {} {:02}:{:02}:{:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[(days.rem_euclid(7)) as usize],
        MONTHS[(m - 1) as usize],
        d,
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `t` as JavaScript's `Date.prototype.toJSON()` writes it:
/// `2026-12-03T10:44:49.123Z`.
pub(crate) fn iso_date(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_read_as_javascript_writes_them() {
        let t = UNIX_EPOCH + Duration::from_secs(1_796_294_689); // 2026-12-03T10:44:49Z
        assert_eq!(
            js_date_string(t),
            "Thu Dec 03 2026 10:44:49 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            js_date_string(UNIX_EPOCH),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(js_date_string(leap).starts_with("Tue Feb 29 2000"));
    }

    #[test]
    fn node_shape() {
        let mut headers = http::HeaderMap::new();
        headers.insert("origin", "http://a".parse().unwrap());
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        let h = Handshake {
            headers,
            issued: UNIX_EPOCH + Duration::from_millis(1500),
            address: Some("127.0.0.1:5000".parse().unwrap()),
            xdomain: true,
            secure: false,
            url: "/socket.io/?EIO=4&tag=a&tag=b".into(),
            query_pairs: vec![
                ("EIO".into(), "4".into()),
                ("tag".into(), "a".into()),
                ("tag".into(), "b".into()),
            ],
            auth: None,
        };
        assert_eq!(h.query("tag"), Some("a"));
        assert_eq!(h.query_all("tag"), ["a", "b"]);
        let v = h.to_value();
        let keys: Vec<&str> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["headers", "time", "address", "xdomain", "secure", "issued", "url", "query", "auth"]
        );
        assert_eq!(v["headers"]["x-a"], "1, 2");
        assert_eq!(v["address"], "127.0.0.1");
        assert_eq!(v["issued"], 1500);
        assert_eq!(v["query"], crate::value!({"EIO": "4", "tag": ["a", "b"]}));
        assert_eq!(v["auth"], crate::value!({}));
    }
}
