//! URL query strings: [`Query`], parsed as Node's `querystring.parse` does
//! (the parser Node's engine.io and socket.io read handshakes with).
//!
//! Pure functions over strings; the engine's own routing uses the borrowing
//! [`decode_component`] so that an ordinary request allocates nothing here.

use std::borrow::Cow;

/// A parsed query string: every `key=value` pair in order, keys and values
/// percent-decoded, a repeated key keeping all its values.
///
/// Rules (those of Node's `querystring.parse`, which engine.io and socket.io
/// use on handshakes):
/// - pairs are separated by `&`; empty pairs (`a=1&&b=2`) are skipped;
/// - a pair without `=` is a key with the empty value (`flag` → `("flag", "")`);
///   only the first `=` separates key and value (`a=b=c` → `("a", "b=c")`);
/// - `+` is a space; `%XX` (two hex digits, either case) is the byte `XX`;
/// - an invalid escape (`%zz`, a `%` near the end) is kept as it is;
/// - bytes that do not form UTF-8 after decoding become U+FFFD.
///
/// ```
/// use sockio_engine::Query;
///
/// let q = Query::parse("room=a&room=b&name=J%C3%BCrgen+M&flag&bad=%zz");
/// assert_eq!(q.get("name"), Some("Jürgen M"));
/// assert_eq!(q.get_all("room").collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(q.get("room"), Some("a")); // the first value
/// assert_eq!(q.get("flag"), Some(""));
/// assert_eq!(q.get("bad"), Some("%zz"));
/// assert_eq!(q.get("missing"), None);
/// assert_eq!(q.len(), 5);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a query string (without the leading `?`; a leading `?` is
    /// ignored).
    pub fn parse(query: &str) -> Query {
        let query = query.strip_prefix('?').unwrap_or(query);
        Query {
            pairs: pairs(query)
                .map(|(k, v)| {
                    (
                        decode_component(k).into_owned(),
                        decode_component(v).into_owned(),
                    )
                })
                .collect(),
        }
    }

    /// Parses the query of a URI (empty when it has none).
    pub fn from_uri(uri: &http::Uri) -> Query {
        Query::parse(uri.query().unwrap_or(""))
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present (with any value, even empty).
    pub fn contains_key(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs (a repeated key counts once per value).
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The pairs, in order.
    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }
}

impl<'a> IntoIterator for &'a Query {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, String)>,
        fn(&'a (String, String)) -> (&'a str, &'a str),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair(p: &(String, String)) -> (&str, &str) {
            (p.0.as_str(), p.1.as_str())
        }
        self.pairs.iter().map(pair)
    }
}

impl FromIterator<(String, String)> for Query {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Query {
            pairs: iter.into_iter().collect(),
        }
    }
}

/// The raw (still encoded) `key`, `value` pairs of a query, empty pairs skipped.
pub(crate) fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    // Plain byte scans: a routing query is three or four short pairs, where
    // `memchr`'s set-up per call and `str::split`'s searcher cost more
    // (callgrind: ~900 -> ~700 instructions for a polling request's
    // `EIO=4&transport=polling&sid=...`).
    let mut rest = query;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let amp = rest.bytes().position(|c| c == b'&').unwrap_or(rest.len());
        // `&` and `=` are ASCII: every cut falls on a char boundary.
        let part = &rest[..amp];
        rest = rest.get(amp + 1..).unwrap_or("");
        if part.is_empty() {
            continue;
        }
        return Some(match part.bytes().position(|c| c == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, ""),
        });
    })
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes one query component: `+` is a space, `%XX` a byte, invalid escapes
/// are kept, invalid UTF-8 becomes U+FFFD. Borrows when there is nothing to
/// decode.
///
/// ```
/// use sockio_engine::query::decode_component;
/// assert_eq!(decode_component("a%20b+c"), "a b c");
/// assert_eq!(decode_component("100%"), "100%");
/// assert_eq!(decode_component("%E2%82%AC"), "€");
/// assert_eq!(decode_component("%FF"), "\u{FFFD}");
/// assert!(matches!(decode_component("plain"), std::borrow::Cow::Borrowed(_)));
/// ```
pub fn decode_component(s: &str) -> Cow<'_, str> {
    // Most components have nothing to decode: one SIMD scan says so.
    if memchr::memchr2(b'%', b'+', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs_of(q: &str) -> Vec<(String, String)> {
        Query::parse(q).into_pairs()
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn empty_and_separators() {
        assert!(Query::parse("").is_empty());
        assert!(Query::parse("?").is_empty());
        assert!(Query::parse("&&&").is_empty());
        assert_eq!(pairs_of("?a=1"), vec![p("a", "1")]);
        assert_eq!(pairs_of("a=1&&b=2&"), vec![p("a", "1"), p("b", "2")]);
        assert_eq!(pairs_of("a"), vec![p("a", "")]);
        assert_eq!(pairs_of("a="), vec![p("a", "")]);
        assert_eq!(pairs_of("=v"), vec![p("", "v")]);
        assert_eq!(pairs_of("a=b=c"), vec![p("a", "b=c")]);
    }

    #[test]
    fn percent_and_plus() {
        assert_eq!(pairs_of("a=x%20y+z"), vec![p("a", "x y z")]);
        assert_eq!(pairs_of("a%5B%5D=1"), vec![p("a[]", "1")]);
        assert_eq!(pairs_of("k=%e2%82%ac"), vec![p("k", "€")]);
        assert_eq!(pairs_of("k=%2B"), vec![p("k", "+")]);
        assert_eq!(pairs_of("k=%26%3D"), vec![p("k", "&=")]);
        assert_eq!(pairs_of("k=%00"), vec![p("k", "\0")]);
    }

    #[test]
    fn invalid_escapes_are_kept() {
        assert_eq!(decode_component("%"), "%");
        assert_eq!(decode_component("%4"), "%4");
        assert_eq!(decode_component("a%zzb"), "a%zzb");
        assert_eq!(decode_component("%g1"), "%g1");
        assert_eq!(decode_component("%%41"), "%A");
        assert_eq!(decode_component("x%"), "x%");
        assert_eq!(decode_component("%41%"), "A%");
        assert_eq!(decode_component("%41%4"), "A%4");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(decode_component("%FF"), "\u{FFFD}");
        assert_eq!(decode_component("a%C3"), "a\u{FFFD}");
        assert_eq!(decode_component("%C3%A9%FF"), "é\u{FFFD}");
        // Raw non-ASCII (already UTF-8 in the &str) passes through.
        assert_eq!(decode_component("é+ü"), "é ü");
    }

    #[test]
    fn repeated_keys_keep_every_value() {
        let q = Query::parse("a=1&b=2&a=3&a");
        assert_eq!(q.get("a"), Some("1"));
        assert_eq!(q.get_all("a").collect::<Vec<_>>(), ["1", "3", ""]);
        assert_eq!(q.get_all("b").collect::<Vec<_>>(), ["2"]);
        assert_eq!(q.get_all("c").count(), 0);
        assert!(q.contains_key("b") && !q.contains_key("c"));
        let all: Vec<(&str, &str)> = (&q).into_iter().collect();
        assert_eq!(all, vec![("a", "1"), ("b", "2"), ("a", "3"), ("a", "")]);
    }

    #[test]
    fn borrowed_when_plain() {
        assert!(matches!(decode_component("abc"), Cow::Borrowed("abc")));
        assert!(matches!(decode_component(""), Cow::Borrowed("")));
    }

    #[test]
    fn long_queries_parse_linearly() {
        let q = "k=v&".repeat(10_000);
        assert_eq!(Query::parse(&q).len(), 10_000);
        let enc = "%41".repeat(10_000);
        assert_eq!(decode_component(&enc).len(), 10_000);
    }
}
