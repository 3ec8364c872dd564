//! Pure Engine.IO codecs: packets, v4 payloads and v3 payloads (text and XHR2
//! binary). No I/O, no session state: bytes in, packets out and back.
//!
//! This module is public for benchmarks, fuzzing and tests. Applications do
//! not need it: the engine encodes and decodes for them.
//!
//! ```
//! use bytes::Bytes;
//! use sockio_engine::codec::{self, Packet};
//! use sockio_engine::Message;
//!
//! let packets = codec::v4::decode_payload(Bytes::from_static(b"4hello\x1ebAQID")).unwrap();
//! assert_eq!(packets, vec![
//!     Packet::Message(Message::text("hello")),
//!     Packet::Message(Message::binary(vec![1u8, 2, 3])),
//! ]);
//! assert_eq!(codec::v4::encode_payload(&packets), b"4hello\x1ebAQID");
//! ```

mod packet;
pub mod v3;
pub mod v4;

pub(crate) use packet::{b64_len, encode_b64};
pub use packet::{DecodeError, Packet};

use base64::engine::{GeneralPurpose, GeneralPurposeConfig};

/// Standard base64 with padding on output, padding optional on input (as
/// Node's `Buffer.from(s, "base64")` is lenient about it).
pub(crate) const B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);
