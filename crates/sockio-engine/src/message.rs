//! Engine.IO messages: what the layer above sends and receives.

use bytes::Bytes;

/// One Engine.IO `message` packet (type `4`), text or binary.
///
/// A text message keeps its bytes *with* the leading packet type `4`, so the
/// same [`Bytes`] can be written as a WebSocket frame or a polling record without
/// copying, and one broadcast can be shared by every receiver (cloning a
/// `Message` only bumps a reference count).
///
/// ```
/// use sockio_engine::Message;
/// let m = Message::text("hello");
/// assert_eq!(m.as_text(), Some("hello"));
/// assert_eq!(&m.framed()[..], b"4hello");
/// let b = Message::binary(vec![1u8, 2, 3]);
/// assert_eq!(b.as_binary().map(|b| &b[..]), Some(&[1u8, 2, 3][..]));
/// ```
///
/// A message may be compressed on a WebSocket that negotiated
/// permessage-deflate (see
/// [`EngineConfigBuilder::per_message_deflate`](crate::EngineConfigBuilder::per_message_deflate));
/// [`Message::with_compress`]`(false)` sends it as is (Node's `compress: false`).
#[derive(Clone, PartialEq, Eq)]
pub struct Message(Repr);

/// The `bool` is the compress flag (true by default); it shares the tag's
/// word, so a `Message` stays the size of a `Bytes` plus a word.
#[derive(Clone, PartialEq, Eq)]
enum Repr {
    /// Valid UTF-8, first byte is `b'4'`.
    Text(Bytes, bool),
    /// Raw binary data, without any type prefix.
    Binary(Bytes, bool),
}

impl Message {
    /// A text message with the given content.
    pub fn text(s: impl AsRef<str>) -> Self {
        let s = s.as_ref();
        let mut v = Vec::with_capacity(s.len() + 1);
        v.push(b'4');
        v.extend_from_slice(s.as_bytes());
        Message(Repr::Text(Bytes::from(v), true))
    }

    /// A text message from bytes that already start with the message type `4`
    /// (as a Socket.IO encoder writes them). Returns `None` when the bytes do
    /// not start with `4` or are not valid UTF-8.
    pub fn from_framed_text(framed: Bytes) -> Option<Self> {
        if framed.first() != Some(&b'4') || std::str::from_utf8(&framed).is_err() {
            return None;
        }
        Some(Message(Repr::Text(framed, true)))
    }

    /// A text message from bytes known to be UTF-8 and to start with `4`,
    /// without checking them again (an encoder that writes UTF-8 uses it on
    /// the hot path).
    ///
    /// # Safety
    ///
    /// `framed` must be valid UTF-8 and start with `b'4'`; [`Message::as_text`]
    /// relies on it.
    pub unsafe fn from_framed_text_unchecked(framed: Bytes) -> Self {
        debug_assert!(framed.first() == Some(&b'4') && std::str::from_utf8(&framed).is_ok());
        Message(Repr::Text(framed, true))
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message(Repr::Binary(data.into(), true))
    }

    /// The text content (without the `4`), or `None` for a binary message.
    pub fn as_text(&self) -> Option<&str> {
        match &self.0 {
            // SAFETY: a text message is valid UTF-8 starting with the ASCII `4`
            // (checked at construction, or promised by the unsafe constructor),
            // so what follows the `4` is valid UTF-8 too.
            Repr::Text(b, _) => Some(unsafe { std::str::from_utf8_unchecked(&b[1..]) }),
            Repr::Binary(..) => None,
        }
    }

    /// The binary content, or `None` for a text message.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Binary(b, _) => Some(b),
            Repr::Text(..) => None,
        }
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self.0, Repr::Binary(..))
    }

    /// The bytes as they go on the wire in Engine.IO v4: for text, `4` followed
    /// by the content; for binary, the raw data.
    pub fn framed(&self) -> &Bytes {
        match &self.0 {
            Repr::Text(b, _) | Repr::Binary(b, _) => b,
        }
    }

    /// This message with the compress flag set to `on` (default true): with
    /// `false` it is never compressed, even on a WebSocket that negotiated
    /// permessage-deflate (Node's `socket.compress(false)`).
    ///
    /// ```
    /// use sockio_engine::Message;
    /// let m = Message::text("already compressed bytes").with_compress(false);
    /// assert!(!m.compress());
    /// assert!(Message::binary(vec![1u8]).compress());
    /// ```
    #[must_use]
    pub fn with_compress(mut self, on: bool) -> Self {
        match &mut self.0 {
            Repr::Text(_, c) | Repr::Binary(_, c) => *c = on,
        }
        self
    }

    /// The compress flag (see [`Message::with_compress`]).
    pub fn compress(&self) -> bool {
        match self.0 {
            Repr::Text(_, c) | Repr::Binary(_, c) => c,
        }
    }

    /// [`Message::framed`], by value: whether it was text, and its bytes.
    pub(crate) fn into_framed(self) -> (bool, Bytes) {
        match self.0 {
            Repr::Text(b, _) => (true, b),
            Repr::Binary(b, _) => (false, b),
        }
    }

    /// Length of the content in bytes (without the `4` of a text message).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Text(b, _) => b.len() - 1,
            Repr::Binary(b, _) => b.len(),
        }
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Repr::Text(..) => f
                .debug_tuple("Text")
                .field(&self.as_text().unwrap_or(""))
                .finish(),
            Repr::Binary(b, _) => f.debug_tuple("Binary").field(b).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compress_flag_costs_no_space() {
        assert_eq!(
            std::mem::size_of::<Message>(),
            std::mem::size_of::<Bytes>() + std::mem::size_of::<usize>()
        );
    }
}
