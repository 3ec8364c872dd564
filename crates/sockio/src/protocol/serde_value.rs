//! Conversions between Rust types (serde) and [`Value`].
//!
//! Structs become maps with their field names as keys (in declaration order),
//! enums follow serde_json's external tagging (`"Unit"`, `{"Variant": ...}`),
//! byte buffers (`bytes::Bytes`, `serde_bytes`) become [`Value::Binary`].

use serde::de::{self, DeserializeOwned, DeserializeSeed, Visitor};
use serde::ser::{self, Serialize};

use bytes::Bytes;

use super::{ProtocolError, Value};
use crate::value::{integral, Map, N};

/// Converts a Rust value into a [`Value`].
///
/// # Errors
///
/// [`ProtocolError::Serde`] when the type's `Serialize` fails, or for a 128-bit
/// integer that does not fit in 64 bits.
///
/// ```
/// use sockio::protocol::{to_value, Value};
/// #[derive(serde::Serialize)]
/// struct Msg { text: &'static str, n: u8 }
/// let v = to_value(&Msg { text: "hi", n: 2 }).unwrap();
/// assert_eq!(v, sockio::value!({"text": "hi", "n": 2}));
/// assert_eq!(to_value(&bytes::Bytes::from_static(b"ab")).unwrap(), Value::Binary(bytes::Bytes::from_static(b"ab")));
/// ```
pub fn to_value<T: Serialize + ?Sized>(data: &T) -> Result<Value, ProtocolError> {
    data.serialize(ValueSerializer)
}

/// Converts the data given to an emit into its list of arguments, with
/// Flask-SocketIO's rule: a tuple is several arguments, `()`, `None` and
/// `null` are none, anything else is one argument.
///
/// Serde cannot tell a fixed-size array (`[T; N]`) from a tuple: it counts as
/// several arguments too. Pass a `Vec` or a slice to send one list.
///
/// # Errors
///
/// As [`to_value`].
///
/// ```
/// use sockio::protocol::{to_args, Value};
/// assert!(to_args(&()).unwrap().is_empty());
/// assert_eq!(to_args(&(1, "a")).unwrap(), vec![Value::from(1), Value::from("a")]);
/// assert_eq!(to_args(&vec![1, 2]).unwrap(), vec![Value::Array(vec![Value::from(1), Value::from(2)])]);
/// assert_eq!(to_args("text").unwrap(), vec![Value::from("text")]);
/// assert!(to_args(&None::<u8>).unwrap().is_empty());
/// assert_eq!(to_args(&(None::<u8>,)).unwrap(), vec![Value::Null]);
/// ```
pub fn to_args<T: Serialize + ?Sized>(data: &T) -> Result<Vec<Value>, ProtocolError> {
    data.serialize(ArgsSerializer)
}

/// Converts a [`Value`] into a Rust type.
///
/// [`Value::Binary`] deserializes into `bytes::Bytes`, `Vec<u8>` or
/// `serde_bytes::ByteBuf` (and, for a self-describing target such as
/// `serde_json::Value`, into an array of numbers). Strict about types, with
/// JavaScript's one exception: a float with an integral value (`3.0`) fits an
/// integer field (JavaScript has one number type). A string never fits a
/// number field nor a number a string field; object keys, which are strings,
/// parse into number or boolean key types (`HashMap<u32, T>`).
///
/// # Errors
///
/// [`ProtocolError::Serde`] when the value does not have the shape `T` wants.
///
/// ```
/// use sockio::protocol::{from_value, Value};
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Upload { name: String, data: bytes::Bytes }
/// let v = sockio::value!({"name": "a.bin", "data": bytes::Bytes::from_static(&[1, 2])});
/// let up: Upload = from_value(v.clone()).unwrap();
/// assert_eq!(up.data.as_ref(), &[1, 2]);
/// let json: serde_json::Value = from_value(v).unwrap();
/// assert_eq!(json["name"], "a.bin");
/// ```
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, ProtocolError> {
    T::deserialize(ValueDeserializer(v))
}

// ---------------------------------------------------------------------------
// Serializer
// ---------------------------------------------------------------------------

struct ValueSerializer;

fn int128(v: i128) -> Result<Value, ProtocolError> {
    if let Ok(n) = i64::try_from(v) {
        Ok(Value::from(n))
    } else if let Ok(n) = u64::try_from(v) {
        Ok(Value::from(n))
    } else {
        Err(ProtocolError::Serde(format!(
            "integer {v} does not fit in 64 bits"
        )))
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ProtocolError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantMapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, ProtocolError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ProtocolError> {
        int128(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ProtocolError> {
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| ProtocolError::Serde(format!("integer {v} does not fit in 64 bits")))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ProtocolError> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ProtocolError> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ProtocolError> {
        Ok(Value::Binary(Bytes::copy_from_slice(v)))
    }
    fn serialize_none(self) -> Result<Value, ProtocolError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ProtocolError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ProtocolError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ProtocolError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ProtocolError> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ProtocolError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ProtocolError> {
        Ok(one_entry(variant, to_value(value)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ProtocolError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ProtocolError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ProtocolError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqBuilder, ProtocolError> {
        Ok(VariantSeqBuilder(
            variant,
            Vec::with_capacity(len.min(4096)),
        ))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, ProtocolError> {
        Ok(MapBuilder {
            entries: Map::with_capacity(len.unwrap_or(0).min(4096)),
            key: None,
        })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<MapBuilder, ProtocolError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantMapBuilder, ProtocolError> {
        Ok(VariantMapBuilder(variant, self.serialize_map(Some(len))?))
    }
}

struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ProtocolError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        self.0.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ProtocolError> {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ProtocolError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ProtocolError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ProtocolError> {
        ser::SerializeSeq::end(self)
    }
}

struct VariantSeqBuilder(&'static str, Vec<Value>);

impl ser::SerializeTupleVariant for VariantSeqBuilder {
    type Ok = Value;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        self.1.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ProtocolError> {
        Ok(one_entry(self.0, Value::Array(self.1)))
    }
}

struct MapBuilder {
    entries: Map,
    key: Option<String>,
}

fn one_entry(key: &str, value: Value) -> Value {
    let mut m = Map::with_capacity(1);
    m.push(key.to_owned(), value);
    Value::Object(m)
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ProtocolError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ProtocolError> {
        self.key = Some(match to_value(key)? {
            Value::String(s) => s,
            k @ (Value::Number(_) | Value::Bool(_) | Value::Null) => super::key_string(&k),
            other => {
                return Err(ProtocolError::Serde(format!(
                    "a map key must be a string, a number or a boolean, not {}",
                    other.kind_name()
                )))
            }
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        let key = self.key.take().ok_or_else(|| {
            ProtocolError::Serde("serialize_value called before serialize_key".into())
        })?;
        self.entries.push(key, to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ProtocolError> {
        Ok(Value::Object(self.entries))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ProtocolError> {
        self.entries.push(key.to_owned(), to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ProtocolError> {
        Ok(Value::Object(self.entries))
    }
}

struct VariantMapBuilder(&'static str, MapBuilder);

impl ser::SerializeStructVariant for VariantMapBuilder {
    type Ok = Value;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ProtocolError> {
        ser::SerializeStruct::serialize_field(&mut self.1, key, value)
    }
    fn end(self) -> Result<Value, ProtocolError> {
        Ok(one_entry(self.0, Value::Object(self.1.entries)))
    }
}

/// The top level of [`to_args`]: tuples spread, unit is empty, the rest is one.
struct ArgsSerializer;

/// A compound value that makes one argument.
struct One<S>(S);

macro_rules! one_arg {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<Vec<Value>, ProtocolError> {
            Ok(vec![ValueSerializer.$method($($arg),*)?])
        })*
    };
}

impl ser::Serializer for ArgsSerializer {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    type SerializeSeq = One<SeqBuilder>;
    type SerializeTuple = SeqBuilderArgs;
    type SerializeTupleStruct = One<SeqBuilder>;
    type SerializeTupleVariant = One<VariantSeqBuilder>;
    type SerializeMap = One<MapBuilder>;
    type SerializeStruct = One<MapBuilder>;
    type SerializeStructVariant = One<VariantMapBuilder>;

    one_arg! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_none(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(Vec::new())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![to_value(value)?])
    }
    fn serialize_unit(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(Vec::new())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![to_value(value)?])
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![
            ValueSerializer.serialize_newtype_variant(name, index, variant, value)?
        ])
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<One<SeqBuilder>, ProtocolError> {
        Ok(One(ValueSerializer.serialize_seq(len)?))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilderArgs, ProtocolError> {
        Ok(SeqBuilderArgs(Vec::with_capacity(len.min(4096))))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<One<SeqBuilder>, ProtocolError> {
        Ok(One(ValueSerializer.serialize_tuple_struct(name, len)?))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<One<VariantSeqBuilder>, ProtocolError> {
        Ok(One(
            ValueSerializer.serialize_tuple_variant(name, index, variant, len)?
        ))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<One<MapBuilder>, ProtocolError> {
        Ok(One(ValueSerializer.serialize_map(len)?))
    }
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<One<MapBuilder>, ProtocolError> {
        Ok(One(ValueSerializer.serialize_struct(name, len)?))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<One<VariantMapBuilder>, ProtocolError> {
        Ok(One(
            ValueSerializer.serialize_struct_variant(name, index, variant, len)?
        ))
    }
}

impl ser::SerializeTuple for SeqBuilderArgs {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        self.0.push(to_value(value)?);
        Ok(())
    }
    fn end(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(self.0)
    }
}

/// The spread tuple of [`to_args`].
struct SeqBuilderArgs(Vec<Value>);

impl ser::SerializeSeq for One<SeqBuilder> {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        ser::SerializeSeq::serialize_element(&mut self.0, value)
    }
    fn end(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![ser::SerializeSeq::end(self.0)?])
    }
}

impl ser::SerializeTupleStruct for One<SeqBuilder> {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        ser::SerializeSeq::serialize_element(&mut self.0, value)
    }
    fn end(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![ser::SerializeSeq::end(self.0)?])
    }
}

impl ser::SerializeTupleVariant for One<VariantSeqBuilder> {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        ser::SerializeTupleVariant::serialize_field(&mut self.0, value)
    }
    fn end(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![ser::SerializeTupleVariant::end(self.0)?])
    }
}

impl ser::SerializeMap for One<MapBuilder> {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ProtocolError> {
        ser::SerializeMap::serialize_key(&mut self.0, key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ProtocolError> {
        ser::SerializeMap::serialize_value(&mut self.0, value)
    }
    fn end(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![ser::SerializeMap::end(self.0)?])
    }
}

impl ser::SerializeStruct for One<MapBuilder> {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ProtocolError> {
        ser::SerializeStruct::serialize_field(&mut self.0, key, value)
    }
    fn end(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![ser::SerializeStruct::end(self.0)?])
    }
}

impl ser::SerializeStructVariant for One<VariantMapBuilder> {
    type Ok = Vec<Value>;
    type Error = ProtocolError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ProtocolError> {
        ser::SerializeStructVariant::serialize_field(&mut self.0, key, value)
    }
    fn end(self) -> Result<Vec<Value>, ProtocolError> {
        Ok(vec![ser::SerializeStructVariant::end(self.0)?])
    }
}

// ---------------------------------------------------------------------------
// Deserializer
// ---------------------------------------------------------------------------

struct ValueDeserializer(Value);

/// Whether the visitor is `serde_json::Value`'s, which has no binary type:
/// it gets binary data as an array of byte values.
fn is_json_value_visitor<'de, V: Visitor<'de>>(visitor: &V) -> bool {
    struct Expecting<'a, V>(&'a V);
    impl<'de, V: Visitor<'de>> std::fmt::Display for Expecting<'_, V> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.expecting(f)
        }
    }
    let mut s = String::with_capacity(24);
    use std::fmt::Write;
    let _ = write!(s, "{}", Expecting(visitor));
    s == "any valid JSON value"
}

fn bytes_to_vec(b: Bytes) -> Vec<u8> {
    // No copy when this is the only reference to a buffer that was a Vec.
    Vec::from(b)
}

impl ValueDeserializer {
    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        if let Value::Number(n) = &self.0 {
            match n.repr() {
                N::PosInt(u) => return visitor.visit_u64(u),
                N::NegInt(i) => return visitor.visit_i64(i),
                N::Float(_) | N::Float32(_) => match integral(n.as_f64()) {
                    Some(Ok(u)) => return visitor.visit_u64(u),
                    Some(Err(i)) => return visitor.visit_i64(i),
                    None => {}
                },
            }
        }
        de::Deserializer::deserialize_any(self, visitor)
    }
}

/// An object key: a string, which a number or boolean key type parses
/// (JavaScript object keys are strings: `{1: "a"}` is `{"1": "a"}`).
struct KeyDe(String);

impl KeyDe {
    fn integer<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        if let Ok(u) = self.0.parse::<u64>() {
            return visitor.visit_u64(u);
        }
        if let Ok(i) = self.0.parse::<i64>() {
            return visitor.visit_i64(i);
        }
        visitor.visit_string(self.0)
    }
}

macro_rules! key_integer_methods {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
            self.integer(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for KeyDe {
    type Error = ProtocolError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        visitor.visit_string(self.0)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        match self.0.as_str() {
            "true" => visitor.visit_bool(true),
            "false" => visitor.visit_bool(false),
            _ => visitor.visit_string(self.0),
        }
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        match self.0.parse::<f64>() {
            Ok(f) => visitor.visit_f64(f),
            Err(_) => visitor.visit_string(self.0),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        use serde::de::IntoDeserializer;
        let d: de::value::StringDeserializer<ProtocolError> = self.0.into_deserializer();
        de::Deserializer::deserialize_enum(d, name, variants, visitor)
    }

    key_integer_methods! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

macro_rules! integer_methods {
    ($($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
            self.integer(visitor)
        })*
    };
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = ProtocolError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => match n.repr() {
                N::PosInt(u) => visitor.visit_u64(u),
                N::NegInt(i) => visitor.visit_i64(i),
                N::Float(f) => visitor.visit_f64(f),
                N::Float32(f) => visitor.visit_f32(f),
            },
            Value::String(s) => visitor.visit_string(s),
            Value::Binary(b) if is_json_value_visitor(&visitor) => {
                visit_seq(b.into_iter().map(Value::from), visitor)
            }
            Value::Binary(b) => visitor.visit_byte_buf(bytes_to_vec(b)),
            Value::Array(a) => visit_seq(a.into_iter(), visitor),
            Value::Object(m) => {
                let mut access = MapDe {
                    iter: m.into_iter(),
                    value: None,
                };
                let out = visitor.visit_map(&mut access)?;
                match access.iter.len() {
                    0 => Ok(out),
                    n => Err(de::Error::invalid_length(n, &"fewer map entries")),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        match self.0 {
            Value::Binary(b) => visitor.visit_byte_buf(bytes_to_vec(b)),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(EnumDe {
                variant: Value::String(s),
                value: None,
            }),
            Value::Object(m) if m.len() == 1 => match m.into_iter().next() {
                Some((variant, value)) => visitor.visit_enum(EnumDe {
                    variant: Value::String(variant),
                    value: Some(value),
                }),
                None => Err(de::Error::custom("empty map for an enum")),
            },
            other => Err(de::Error::custom(format!(
                "expected an enum (a string or a map with one key), found {other}"
            ))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        drop(self);
        visitor.visit_unit()
    }

    integer_methods! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProtocolError> {
        match self.0 {
            // `Vec<u8>` and other sequences of numbers take binary data too.
            Value::Binary(b) => visit_seq(b.into_iter().map(Value::from), visitor),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 char tuple tuple_struct map struct unit_struct
    }
}

fn visit_seq<'de, I, V>(iter: I, visitor: V) -> Result<V::Value, ProtocolError>
where
    I: ExactSizeIterator<Item = Value>,
    V: Visitor<'de>,
{
    let mut access = SeqDe { iter };
    let out = visitor.visit_seq(&mut access)?;
    match access.iter.len() {
        0 => Ok(out),
        n => Err(de::Error::invalid_length(n, &"fewer elements")),
    }
}

struct SeqDe<I> {
    iter: I,
}

impl<'de, I: ExactSizeIterator<Item = Value>> de::SeqAccess<'de> for SeqDe<I> {
    type Error = ProtocolError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ProtocolError> {
        match self.iter.next() {
            Some(v) => seed.deserialize(ValueDeserializer(v)).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDe {
    iter: std::vec::IntoIter<(String, Value)>,
    value: Option<Value>,
}

impl<'de> de::MapAccess<'de> for MapDe {
    type Error = ProtocolError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProtocolError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(KeyDe(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, ProtocolError> {
        seed.deserialize(ValueDeserializer(self.value.take().unwrap_or(Value::Null)))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct EnumDe {
    variant: Value,
    value: Option<Value>,
}

impl<'de> de::EnumAccess<'de> for EnumDe {
    type Error = ProtocolError;
    type Variant = VariantDe;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDe), ProtocolError> {
        let v = seed.deserialize(ValueDeserializer(self.variant))?;
        Ok((v, VariantDe(self.value)))
    }
}

struct VariantDe(Option<Value>);

impl<'de> de::VariantAccess<'de> for VariantDe {
    type Error = ProtocolError;
    fn unit_variant(self) -> Result<(), ProtocolError> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(de::Error::custom(format!(
                "expected a unit variant, found data {other}"
            ))),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ProtocolError> {
        seed.deserialize(ValueDeserializer(self.0.unwrap_or(Value::Null)))
    }
    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        de::Deserializer::deserialize_any(ValueDeserializer(self.0.unwrap_or(Value::Null)), visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProtocolError> {
        de::Deserializer::deserialize_any(ValueDeserializer(self.0.unwrap_or(Value::Null)), visitor)
    }
}
