//! [`Value`]: the dynamic value of an event's arguments, JSON with binary data.
//!
//! What a Python handler gets as `data` (a `dict`, a `list`, a `str`, `bytes`,
//! ...), a sockio handler gets as a [`Value`] when it does not name a typed
//! struct: objects keep their keys in order, binary data stays binary (it
//! travels as Socket.IO binary attachments), numbers keep JavaScript's forms.
//!
//! | Python (Flask-SocketIO) | sockio |
//! |---|---|
//! | `data['room']` | `data["room"]` (`Value::Null` when missing) |
//! | `data.get('room')` | `data.get("room")` (`Option<&Value>`) |
//! | `data['n'] = 1` | `data["n"] = value!(1)` or `data.insert("n", 1)` |
//! | `del data['n']` / `data.pop('n')` | `data.remove("n")` |
//! | `'n' in data` | `data.contains_key("n")` |
//! | `if data:` | `if data.is_truthy()` |
//! | `{'a': 1, 'b': [True, None]}` | `value!({"a": 1, "b": [true, null]})` |
//! | `isinstance(x, bytes)` | `x.is_binary()` / `x.as_bytes()` |
//!
//! ```
//! use sockio::{value, Value};
//!
//! let mut msg = value!({"room": "General", "text": "hi", "tags": ["a", "b"]});
//! assert_eq!(msg["room"], "General");
//! assert_eq!(msg["tags"][1], "b");
//! assert!(msg["missing"].is_null());
//! msg["likes"] = value!(3);
//! msg.insert("file", bytes::Bytes::from_static(b"\x00\x01"));
//! assert_eq!(msg.remove("text"), Some(Value::from("hi")));
//! assert!(msg["file"].is_binary());
//! assert_eq!(msg.to_string(), r#"{"room":"General","tags":["a","b"],"likes":3,"file":{"type":"Buffer","data":[0,1]}}"#);
//! ```
//!
//! A typed struct (`Data<T>` with `#[derive(Deserialize)]`) is usually the
//! better argument type; [`Value`] is for data whose shape varies, and for
//! passing arguments on unchanged.

use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A dynamic value: JSON plus binary data. See the [module docs](self).
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// `null` (also what JavaScript's `undefined` arrives as).
    #[default]
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// Binary data (a `Buffer`, `ArrayBuffer` or `Blob` in JavaScript, `bytes`
    /// in Python). Sent as a Socket.IO binary attachment.
    Binary(Bytes),
    /// An array.
    Array(Vec<Value>),
    /// An object, its keys in insertion order.
    Object(Map),
}

// ---------------------------------------------------------------------------
// Number
// ---------------------------------------------------------------------------

/// A number: an integer that fits in 64 bits, or a float. Equality is
/// numeric, as in JavaScript (`1 == 1.0`).
///
/// ```
/// use sockio::value::Number;
/// assert_eq!(Number::from(3u8).as_i64(), Some(3));
/// assert_eq!(Number::from(2.5).as_i64(), None);
/// assert_eq!(Number::from(2.0), Number::from(2));
/// ```
#[derive(Clone, Copy)]
pub struct Number(N);

#[derive(Clone, Copy)]
pub(crate) enum N {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
    /// Kept as `f32` so that it is written with its own shortest digits.
    Float32(f32),
}

impl Number {
    pub(crate) fn repr(self) -> N {
        self.0
    }

    /// A float (NaN and infinities are allowed; JSON writes them as `null`).
    pub fn from_f64(f: f64) -> Self {
        Number(N::Float(f))
    }

    /// The value as an `i64`, if it is an integer in range (a float with an
    /// integral value counts, as JavaScript has one number type).
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::PosInt(u) => i64::try_from(u).ok(),
            N::NegInt(i) => Some(i),
            N::Float(f) => integral(f).and_then(|r| match r {
                Ok(u) => i64::try_from(u).ok(),
                Err(i) => Some(i),
            }),
            N::Float32(f) => Number(N::Float(f64::from(f))).as_i64(),
        }
    }

    /// The value as a `u64`, if it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::PosInt(u) => Some(u),
            N::NegInt(_) => None,
            N::Float(f) => integral(f).and_then(Result::ok),
            N::Float32(f) => integral(f64::from(f)).and_then(Result::ok),
        }
    }

    /// The value as an `f64` (always possible, maybe rounded).
    pub fn as_f64(&self) -> f64 {
        match self.0 {
            N::PosInt(u) => u as f64,
            N::NegInt(i) => i as f64,
            N::Float(f) => f,
            N::Float32(f) => f64::from(f),
        }
    }

    /// Whether it was written or sent as a float (`1.5`, or `1.0` from Rust).
    pub fn is_f64(&self) -> bool {
        matches!(self.0, N::Float(_) | N::Float32(_))
    }
}

/// `Some(Ok(u))` / `Some(Err(i))` when `f` is integral and fits 64 bits.
pub(crate) fn integral(f: f64) -> Option<Result<u64, i64>> {
    if f.fract() != 0.0 || !f.is_finite() {
        None
    } else if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
        Some(Ok(f as u64))
    } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
        Some(Err(f as i64))
    } else {
        None
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (N::PosInt(a), N::PosInt(b)) => a == b,
            (N::NegInt(a), N::NegInt(b)) => a == b,
            (N::PosInt(_), N::NegInt(_)) | (N::NegInt(_), N::PosInt(_)) => false,
            _ => self.as_f64() == other.as_f64(),
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::with_capacity(24);
        crate::protocol::write_json_number(&mut buf, *self);
        f.write_str(std::str::from_utf8(&buf).unwrap_or("null"))
    }
}

macro_rules! number_from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Self { Number(N::PosInt(n as u64)) }
        }
    )*};
}
number_from_unsigned!(u8, u16, u32, u64, usize);

macro_rules! number_from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Self {
                if n >= 0 { Number(N::PosInt(n as u64)) } else { Number(N::NegInt(n as i64)) }
            }
        }
    )*};
}
number_from_signed!(i8, i16, i32, i64, isize);

impl From<f64> for Number {
    fn from(f: f64) -> Self {
        Number(N::Float(f))
    }
}

impl From<f32> for Number {
    fn from(f: f32) -> Self {
        Number(N::Float32(f))
    }
}

// ---------------------------------------------------------------------------
// Map
// ---------------------------------------------------------------------------

/// An object's entries, in insertion order. Small objects are the rule, so
/// this is a vector of pairs: lookups are linear, iteration is in order.
///
/// ```
/// use sockio::value::Map;
/// use sockio::Value;
/// let mut m = Map::new();
/// m.insert("b", 1);
/// m.insert("a", 2);
/// m.insert("b", 3); // replaces, keeps the position
/// assert_eq!(m.keys().collect::<Vec<_>>(), ["b", "a"]);
/// assert_eq!(m.get("b"), Some(&Value::from(3)));
/// ```
#[derive(Clone, Default, PartialEq)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Map::default()
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Map {
            entries: Vec::with_capacity(n),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.entries
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; returns the previous value. A new key goes at
    /// the end; an existing one keeps its position.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// Appends an entry without looking for the key (decoders: input order,
    /// duplicates kept as sent).
    pub(crate) fn push(&mut self, key: String, value: Value) {
        self.entries.push((key, value));
    }

    /// Removes `key` and returns its value; the other entries keep their order.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// Keeps the entries for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&str, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| f(k, v));
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> + '_ {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries with mutable values, in order.
    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&String, &mut Value)> + '_ {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// The values, in order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> + '_ {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = Map::new();
        m.extend(iter);
        m
    }
}

impl<K: Into<String>, V: Into<Value>> Extend<(K, V)> for Map {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

// ---------------------------------------------------------------------------
// Value: accessors
// ---------------------------------------------------------------------------

static NULL: Value = Value::Null;

impl Value {
    /// Converts any serializable Rust value (`bytes::Bytes` and `Vec<u8>`
    /// fields marked `serde_bytes` become [`Value::Binary`]).
    ///
    /// # Panics
    ///
    /// When the type's `Serialize` fails (a map with keys that are not
    /// strings or numbers, an integer over 64 bits). Use
    /// [`crate::protocol::to_value`] to get the error instead.
    #[track_caller]
    pub fn from_serialize<T: Serialize + ?Sized>(data: &T) -> Value {
        match crate::protocol::to_value(data) {
            Ok(v) => v,
            Err(e) => panic!("value!: cannot convert to a Value: {e}"),
        }
    }

    /// Deserializes into a Rust type (see [`crate::protocol::from_value`]).
    ///
    /// ```
    /// use sockio::value;
    /// #[derive(serde::Deserialize)]
    /// struct Join { room: String }
    /// let j: Join = value!({"room": "General"}).into_typed().unwrap();
    /// assert_eq!(j.room, "General");
    /// ```
    pub fn into_typed<T: de::DeserializeOwned>(self) -> Result<T, crate::protocol::ProtocolError> {
        crate::protocol::from_value(self)
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
    /// Whether this is a boolean.
    pub fn is_bool(&self) -> bool {
        matches!(self, Value::Bool(_))
    }
    /// Whether this is a number.
    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }
    /// Whether this is a string.
    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }
    /// Whether this is binary data.
    pub fn is_binary(&self) -> bool {
        matches!(self, Value::Binary(_))
    }
    /// Whether this is an array.
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }
    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    /// The number as `i64`, if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    /// The number as `u64`, if it is a non-negative integer in range.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    /// The number as `f64`, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(n.as_f64()),
            _ => None,
        }
    }
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    /// The binary data, if this is binary.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Binary(b) => Some(b),
            _ => None,
        }
    }
    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    /// The elements, mutably, if this is an array.
    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    /// The entries, if this is an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }
    /// The entries, mutably, if this is an object.
    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key` if this is an object that has it (Python's
    /// `data.get(key)`).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object()?.get(key)
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.as_object_mut()?.get_mut(key)
    }

    /// Whether this is an object with `key` (Python's `key in data`).
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` (Python's `data[key] = value`); returns the previous value.
    /// `null` becomes an empty object first.
    ///
    /// # Panics
    ///
    /// When this is neither an object nor `null` (Python raises `TypeError`;
    /// in a handler, the panic goes to the error handler).
    #[track_caller]
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.object_for_write().insert(key, value)
    }

    /// Removes `key` from an object and returns its value (Python's
    /// `data.pop(key, None)`); `None` for other values.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.as_object_mut()?.remove(key)
    }

    /// Takes the value out, leaving `null`.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// Python's truthiness: `null`, `false`, `0`, NaN, `""`, empty binary,
    /// `[]` and `{}` are false; everything else is true (`if data:`).
    ///
    /// ```
    /// use sockio::value;
    /// assert!(!value!(null).is_truthy());
    /// assert!(!value!("").is_truthy());
    /// assert!(!value!([]).is_truthy());
    /// assert!(value!({"a": 0}).is_truthy());
    /// ```
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => {
                let f = n.as_f64();
                f != 0.0 && !f.is_nan()
            }
            Value::String(s) => !s.is_empty(),
            Value::Binary(b) => !b.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(m) => !m.is_empty(),
        }
    }

    #[track_caller]
    fn object_for_write(&mut self) -> &mut Map {
        if self.is_null() {
            *self = Value::Object(Map::new());
        }
        match self {
            Value::Object(m) => m,
            other => panic!("cannot set a key on {}", other.kind_name()),
        }
    }

    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Binary(_) => "binary data",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Binary(a), Value::Binary(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

/// Writes the value as compact JSON, as `JSON.stringify` would (binary data
/// as Node's `Buffer.toJSON()`).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = Vec::new();
        crate::protocol::write_json_value(&mut buf, self);
        f.write_str(&String::from_utf8_lossy(&buf))
    }
}

// ---------------------------------------------------------------------------
// Indexing
// ---------------------------------------------------------------------------

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// `data["key"]`: the value, or `null` when this is not an object or has
    /// no such key.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::IndexMut<&str> for Value {
    /// `data["key"] = v`: inserts `null` first when the key is missing; `null`
    /// becomes an object. Panics on other values.
    #[track_caller]
    fn index_mut(&mut self, key: &str) -> &mut Value {
        let m = self.object_for_write();
        if !m.contains_key(key) {
            m.push(key.to_owned(), Value::Null);
        }
        m.get_mut(key).unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;
    /// `data[i]`: the element, or `null` when out of range or not an array.
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

impl std::ops::IndexMut<usize> for Value {
    /// Panics when this is not an array or `i` is out of range.
    #[track_caller]
    fn index_mut(&mut self, i: usize) -> &mut Value {
        let kind = self.kind_name();
        match self.as_array_mut() {
            Some(a) => {
                let len = a.len();
                a.get_mut(i)
                    .unwrap_or_else(|| panic!("index {i} out of range for an array of {len}"))
            }
            None => panic!("cannot index {kind} by position"),
        }
    }
}

// ---------------------------------------------------------------------------
// Comparisons with plain values
// ---------------------------------------------------------------------------

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}
impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}
impl PartialEq<String> for Value {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == Some(other.as_str())
    }
}
impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}
impl PartialEq<Value> for &str {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}
impl PartialEq<Value> for str {
    fn eq(&self, other: &Value) -> bool {
        other == self
    }
}

macro_rules! eq_number {
    ($($t:ty),*) => {$(
        impl PartialEq<$t> for Value {
            fn eq(&self, other: &$t) -> bool {
                match self {
                    Value::Number(n) => *n == Number::from(*other),
                    _ => false,
                }
            }
        }
        impl PartialEq<Value> for $t {
            fn eq(&self, other: &Value) -> bool {
                other == self
            }
        }
    )*};
}
eq_number!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

// ---------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------

impl From<()> for Value {
    fn from((): ()) -> Self {
        Value::Null
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}
macro_rules! value_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(n: $t) -> Self { Value::Number(Number::from(n)) }
        }
    )*};
}
value_from_number!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, f32, f64);

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::String(s.clone())
    }
}
impl From<std::borrow::Cow<'_, str>> for Value {
    fn from(s: std::borrow::Cow<'_, str>) -> Self {
        Value::String(s.into_owned())
    }
}
impl From<char> for Value {
    fn from(c: char) -> Self {
        Value::String(c.to_string())
    }
}
/// Binary data.
impl From<Bytes> for Value {
    fn from(b: Bytes) -> Self {
        Value::Binary(b)
    }
}
/// Binary data (a byte *slice*; a `Vec<u8>` is an array of numbers, as any `Vec`).
impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Binary(Bytes::copy_from_slice(b))
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Value::Array(iter.into_iter().map(Into::into).collect())
    }
}
impl From<&crate::SocketId> for Value {
    fn from(id: &crate::SocketId) -> Self {
        Value::String(id.as_str().to_owned())
    }
}
impl From<crate::SocketId> for Value {
    fn from(id: crate::SocketId) -> Self {
        Value::String(id.as_str().to_owned())
    }
}

/// From JSON: every JSON value has its `Value`.
impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(if let Some(u) = n.as_u64() {
                Number(N::PosInt(u))
            } else if let Some(i) = n.as_i64() {
                Number(N::NegInt(i))
            } else {
                Number(N::Float(n.as_f64().unwrap_or(f64::NAN)))
            }),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => {
                let mut out = Map::with_capacity(m.len());
                for (k, v) in m {
                    out.push(k, Value::from(v)); // serde_json's keys are distinct
                }
                Value::Object(out)
            }
        }
    }
}

/// To JSON: binary data becomes an array of byte values (JSON has no binary),
/// NaN and infinities become `null`.
impl From<Value> for serde_json::Value {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(b),
            Value::Number(n) => match n.0 {
                N::PosInt(u) => u.into(),
                N::NegInt(i) => i.into(),
                N::Float(_) | N::Float32(_) => serde_json::Number::from_f64(n.as_f64())
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
            },
            Value::String(s) => serde_json::Value::String(s),
            Value::Binary(b) => b.iter().map(|&x| serde_json::Value::from(x)).collect(),
            Value::Array(a) => a.into_iter().map(serde_json::Value::from).collect(),
            Value::Object(m) => serde_json::Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k, serde_json::Value::from(v)))
                    .collect(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// serde
// ---------------------------------------------------------------------------

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            N::PosInt(u) => s.serialize_u64(u),
            N::NegInt(i) => s.serialize_i64(i),
            N::Float(f) => s.serialize_f64(f),
            N::Float32(f) => s.serialize_f32(f),
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Binary data serializes as bytes (`serde_json` then writes an array of numbers).
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(v) => s.serialize_str(v),
            Value::Binary(b) => s.serialize_bytes(b),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => m.serialize(s),
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any sockio value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::from)
            .or_else(|_| u64::try_from(v).map(Value::from))
            .map_err(|_| E::custom("integer does not fit in 64 bits"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| E::custom("integer does not fit in 64 bits"))
    }
    fn visit_f32<E>(self, v: f32) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::copy_from_slice(v)))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Binary(Bytes::from(v)))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        while let Some(k) = map.next_key::<KeyString>()? {
            out.push(k.0, map.next_value()?);
        }
        Ok(Value::Object(out))
    }
}

/// A map key as a string: strings as they are, numbers and booleans written
/// as JavaScript names them (object keys are strings there).
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyString;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyString, E> {
                Ok(KeyString(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<KeyString, E> {
                Ok(KeyString(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<KeyString, E> {
                Ok(KeyString(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<KeyString, E> {
                Ok(KeyString(Number::from(v).to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyString, E> {
                Ok(KeyString("null".into()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Binary data arrives as bytes from deserializers that have them (sockio's
/// own, msgpack), as an array of numbers from JSON text.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Map, D::Error> {
        match Value::deserialize(d)? {
            Value::Object(m) => Ok(m),
            other => Err(de::Error::custom(format!(
                "expected an object, found {}",
                other.kind_name()
            ))),
        }
    }
}

// ---------------------------------------------------------------------------
// value! macro
// ---------------------------------------------------------------------------

/// Builds a [`Value`] with JSON syntax, like `serde_json::json!`: `null`,
/// arrays, objects with string keys, and any Rust expression that is
/// `Serialize` (a `bytes::Bytes` stays binary).
///
/// ```
/// use sockio::{value, Value};
/// let room = "General";
/// let file = bytes::Bytes::from_static(b"png");
/// let v = value!({
///     "room": room,
///     "count": 1 + 1,
///     "members": ["ada", "bob"],
///     "file": file,
///     "extra": null,
/// });
/// assert_eq!(v["count"], 2);
/// assert_eq!(v["file"], Value::Binary(bytes::Bytes::from_static(b"png")));
/// ```
#[macro_export]
macro_rules! value {
    (null) => {
        $crate::Value::Null
    };
    ([]) => {
        $crate::Value::Array(::std::vec::Vec::new())
    };
    ([ $($tt:tt)+ ]) => {
        $crate::Value::Array($crate::__value_array!([] () $($tt)+))
    };
    ({}) => {
        $crate::Value::Object($crate::value::Map::new())
    };
    ({ $($tt:tt)+ }) => {{
        let mut map = $crate::value::Map::new();
        $crate::__value_object!(map () $($tt)+);
        $crate::Value::Object(map)
    }};
    ($other:expr) => {
        $crate::Value::from_serialize(&$other)
    };
}

/// Elements of [`value!`]'s arrays: `[done...] (current tokens) rest...`.
#[doc(hidden)]
#[macro_export]
macro_rules! __value_array {
    ([$($e:expr),*] ()) => {
        ::std::vec![$($e),*]
    };
    ([$($e:expr),*] ($($cur:tt)+)) => {
        ::std::vec![$($e,)* $crate::value!($($cur)+)]
    };
    ([$($e:expr),*] ($($cur:tt)+) , $($rest:tt)*) => {
        $crate::__value_array!([$($e,)* $crate::value!($($cur)+)] () $($rest)*)
    };
    ([$($e:expr),*] ($($cur:tt)*) $next:tt $($rest:tt)*) => {
        $crate::__value_array!([$($e),*] ($($cur)* $next) $($rest)*)
    };
}

/// Entries of [`value!`]'s objects: `map (key tokens) rest...`, then
/// `@val map (key) (value tokens) rest...`.
#[doc(hidden)]
#[macro_export]
macro_rules! __value_object {
    (@val $map:ident ($($k:tt)+) ($($v:tt)+)) => {
        $map.insert($($k)+, $crate::value!($($v)+));
    };
    (@val $map:ident ($($k:tt)+) ($($v:tt)+) , $($rest:tt)*) => {
        $map.insert($($k)+, $crate::value!($($v)+));
        $crate::__value_object!($map () $($rest)*);
    };
    (@val $map:ident ($($k:tt)+) ($($v:tt)*) $next:tt $($rest:tt)*) => {
        $crate::__value_object!(@val $map ($($k)+) ($($v)* $next) $($rest)*)
    };
    ($map:ident ()) => {};
    ($map:ident ($($k:tt)+) : $($rest:tt)*) => {
        $crate::__value_object!(@val $map ($($k)+) () $($rest)*)
    };
    ($map:ident ($($k:tt)*) $next:tt $($rest:tt)*) => {
        $crate::__value_object!($map ($($k)* $next) $($rest)*)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_builds_nested_values() {
        let n = 5;
        let v = value!({
            "a": [1, "two", null, true, {"b": n * 2}],
            "c": {},
            "d": [],
            "e": -1.5,
        });
        assert_eq!(v["a"][0], 1);
        assert_eq!(v["a"][1], "two");
        assert!(v["a"][2].is_null());
        assert_eq!(v["a"][3], true);
        assert_eq!(v["a"][4]["b"], 10);
        assert_eq!(v["c"], Value::Object(Map::new()));
        assert_eq!(v["d"], Value::Array(vec![]));
        assert_eq!(v["e"], -1.5);
        assert_eq!(
            v.to_string(),
            r#"{"a":[1,"two",null,true,{"b":10}],"c":{},"d":[],"e":-1.5}"#
        );
        assert_eq!(value!([1, 2,]), Value::from(vec![1, 2]));
    }

    #[test]
    fn dictionary_operations() {
        let mut v = Value::Null;
        v["x"] = value!(1);
        assert_eq!(v.insert("y", "z"), None);
        assert_eq!(v.insert("x", 2), Some(Value::from(1)));
        assert_eq!(
            v.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["x", "y"]
        );
        assert!(v.contains_key("y"));
        assert_eq!(v.remove("y"), Some(Value::from("z")));
        assert_eq!(v.remove("y"), None);
        assert_eq!(v.get("x"), Some(&Value::from(2)));
        assert_eq!(Value::from("s").get("x"), None);
        assert!(Value::from(3).remove("x").is_none());
    }

    #[test]
    #[should_panic(expected = "cannot set a key on a string")]
    fn insert_into_a_string_panics() {
        Value::from("s").insert("k", 1);
    }

    #[test]
    fn numbers_compare_as_javascript_does() {
        assert_eq!(Value::from(1), Value::from(1.0));
        assert_ne!(Value::from(1), Value::from(-1));
        assert_eq!(Value::from(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Value::from(-3i8).as_i64(), Some(-3));
        assert_eq!(Value::from(2.5).as_i64(), None);
        assert_eq!(Value::from(0.1f32).to_string(), "0.1");
        assert_eq!(Value::from(f64::NAN).to_string(), "null");
    }

    #[test]
    fn truthiness_is_pythons() {
        for falsy in [
            value!(null),
            value!(false),
            value!(0),
            value!(0.0),
            value!(""),
            value!([]),
            value!({}),
            Value::Binary(Bytes::new()),
        ] {
            assert!(!falsy.is_truthy(), "{falsy:?}");
        }
        for truthy in [
            value!(true),
            value!(-1),
            value!("0"),
            value!([0]),
            value!({"a": null}),
        ] {
            assert!(truthy.is_truthy(), "{truthy:?}");
        }
    }

    #[test]
    fn json_conversions() {
        let j = serde_json::json!({"a": [1, -2, 2.5, "x", null, false]});
        let v = Value::from(j.clone());
        assert_eq!(serde_json::Value::from(v.clone()), j);
        let parsed: Value = serde_json::from_str(r#"{"a":[1,-2,2.5,"x",null,false]}"#).unwrap();
        assert_eq!(parsed, v);
        assert_eq!(serde_json::to_string(&v).unwrap(), j.to_string());
        let bin = serde_json::Value::from(Value::Binary(Bytes::from_static(&[1, 2])));
        assert_eq!(bin, serde_json::json!([1, 2]));
    }
}
