//! Small helpers shared by the crate.

/// The namespace as outgoing packets carry it: empty for `/` (both encoders
/// write `/` for it), so the hot path of a root-namespace emit allocates no
/// string for its name.
pub(crate) fn wire_nsp(name: &str) -> String {
    if name == "/" {
        String::new()
    } else {
        name.to_string()
    }
}

/// 20 random base64url characters (the engine's CSPRNG ids).
pub(crate) fn random_id() -> String {
    sockio_engine::Sid::random().as_str().to_owned()
}

/// Splits a query string into URL-decoded pairs (`+` is a space): the
/// engine's parser ([`sockio_engine::Query`]), which the handshake uses too.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    sockio_engine::Query::parse(q).into_pairs()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn query_is_decoded() {
        assert_eq!(
            parse_query("a=1&b=x%20y+z&c&d=%E2%82%AC&e=%zz"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y z".into()),
                ("c".into(), "".into()),
                ("d".into(), "€".into()),
                ("e".into(), "%zz".into()),
            ]
        );
    }
}
