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

/// Splits a query string into URL-decoded pairs (`+` is a space).
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
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
