use bytes::Bytes;

use super::*;

fn lim() -> Limits {
    Limits::default()
}

fn s(v: &str) -> Value {
    Value::from(v)
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().collect())
}

fn bin(b: &[u8]) -> Value {
    Value::Binary(Bytes::copy_from_slice(b))
}

fn enc(p: &Packet) -> (String, Vec<Bytes>) {
    let mut buf = Vec::new();
    let bins = encode_json(&mut buf, p);
    (String::from_utf8(buf).unwrap(), bins)
}

fn dec(text: &str) -> Result<Packet, ProtocolError> {
    dec_rev(text, Revision::V5)
}

fn dec_rev(text: &str, rev: Revision) -> Result<Packet, ProtocolError> {
    match decode_json(text, rev, &lim())? {
        Decoded::Complete(p) => Ok(p),
        Decoded::NeedsAttachments(_) => panic!("unexpected binary packet for {text}"),
    }
}

fn dec_bin(text: &str, bins: &[&[u8]]) -> Result<Packet, ProtocolError> {
    match decode_json(text, Revision::V5, &lim())? {
        Decoded::Complete(_) => panic!("expected a binary packet"),
        Decoded::NeedsAttachments(mut partial) => {
            assert_eq!(partial.expected(), bins.len());
            let mut out = None;
            for (i, b) in bins.iter().enumerate() {
                let r = partial.push(Bytes::copy_from_slice(b))?;
                if i + 1 < bins.len() {
                    assert!(r.is_none());
                } else {
                    out = r;
                }
            }
            Ok(out.expect("complete after the last attachment"))
        }
    }
}

fn json(text: &str) -> Value {
    json::parse_json_value(text, 64).unwrap()
}

fn json_out(v: &Value) -> String {
    let (text, _) = enc(&Packet::ack("/", vec![v.clone()], 0));
    // "30[" ... "]"
    text[3..text.len() - 1].to_owned()
}

// --- conformance exchanges (CONFORMANCE-SERVER.md §4) ---------------------

#[test]
fn connect_forms() {
    let p = dec("0").unwrap();
    assert_eq!(p, Packet::connect("/", None));
    let p = dec(r#"0{"token":"123"}"#).unwrap();
    assert_eq!(p.data, Some(map(vec![("token", s("123"))])));
    assert_eq!(dec("0/custom,").unwrap(), Packet::connect("/custom", None));
    assert_eq!(dec("0/custom").unwrap(), Packet::connect("/custom", None));
    let p = dec(r#"0/custom,{"token":"abc"}"#).unwrap();
    assert_eq!(p.nsp, "/custom");
    assert_eq!(p.data, Some(map(vec![("token", s("abc"))])));
}

#[test]
fn server_replies_exact_bytes() {
    let sid = map(vec![("sid", s("AbC"))]);
    assert_eq!(
        enc(&Packet::connect("/", Some(sid.clone()))).0,
        r#"0{"sid":"AbC"}"#
    );
    assert_eq!(
        enc(&Packet::connect("/custom", Some(sid))).0,
        r#"0/custom,{"sid":"AbC"}"#
    );
    assert_eq!(
        enc(&Packet::event("/", "auth", vec![map(vec![])], None)).0,
        r#"2["auth",{}]"#
    );
    assert_eq!(
        enc(&Packet::event(
            "/custom",
            "auth",
            vec![map(vec![("token", s("abc"))])],
            None
        ))
        .0,
        r#"2/custom,["auth",{"token":"abc"}]"#
    );
    assert_eq!(
        enc(&Packet::connect_error(
            "/random",
            map(vec![("message", s("Invalid namespace"))])
        ))
        .0,
        r#"4/random,{"message":"Invalid namespace"}"#
    );
    // protocol 4 forms
    assert_eq!(enc(&Packet::connect("/chat", None)).0, "0/chat,");
    assert_eq!(
        enc(&Packet::connect_error("/private", s("invalid token"))).0,
        r#"4/private,"invalid token""#
    );
    assert_eq!(enc(&Packet::disconnect("/")).0, "1");
    assert_eq!(enc(&Packet::disconnect("/chat")).0, "1/chat,");
}

#[test]
fn echo_event_keeps_everything() {
    let p = dec(r#"2["message",1,"2",{"3":[true]}]"#).unwrap();
    assert_eq!(p.event_name(), Some("message"));
    let back = Packet::event("/", "message-back", p.args().to_vec(), None);
    assert_eq!(enc(&back).0, r#"2["message-back",1,"2",{"3":[true]}]"#);
}

#[test]
fn ack_exchange() {
    let p = dec(r#"2456["message-with-ack",1,"2",{"3":[false]}]"#).unwrap();
    assert_eq!(p.id, Some(456));
    let ack = Packet::ack("/", p.args().to_vec(), p.id.unwrap());
    assert_eq!(enc(&ack).0, r#"3456[1,"2",{"3":[false]}]"#);
    assert_eq!(enc(&Packet::ack("/custom", vec![], 7)).0, "3/custom,7[]");
}

#[test]
fn binary_event_exchange() {
    let text = r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let p = dec_bin(text, &[&[1, 2, 3], &[4, 5, 6]]).unwrap();
    assert_eq!(p.kind, PacketKind::Event);
    assert_eq!(p.args(), &[bin(&[1, 2, 3]), bin(&[4, 5, 6])]);
    let back = Packet::event("/", "message-back", p.args().to_vec(), None);
    let (out, bins) = enc(&back);
    assert_eq!(
        out,
        r#"52-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(
        bins,
        vec![
            Bytes::from_static(&[1, 2, 3]),
            Bytes::from_static(&[4, 5, 6])
        ]
    );
}

#[test]
fn binary_ack_exchange() {
    let text =
        r#"52-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let p = dec_bin(text, &[b"a", b"b"]).unwrap();
    assert_eq!(p.id, Some(789));
    let (out, bins) = enc(&Packet::ack("/", p.args().to_vec(), 789));
    assert_eq!(
        out,
        r#"62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    assert_eq!(bins.len(), 2);
    // with a namespace
    let (out, _) = enc(&Packet::ack("/x", vec![bin(&[9])], 3));
    assert_eq!(out, r#"61-/x,3[{"_placeholder":true,"num":0}]"#);
    let p = dec_bin(&out, &[&[9]]).unwrap();
    assert_eq!(p, Packet::ack("/x", vec![bin(&[9])], 3));
}

#[test]
fn encode_appends_after_prefix() {
    let mut buf = b"4".to_vec();
    let bins = encode_json(
        &mut buf,
        &Packet::event("/a", "e", vec![bin(&[1])], Some(2)),
    );
    assert_eq!(buf, br#"451-/a,2["e",{"_placeholder":true,"num":0}]"#);
    assert_eq!(bins.len(), 1);
    let mut buf = b"4".to_vec();
    encode_json(&mut buf, &Packet::connect("/", None));
    assert_eq!(buf, b"40");
}

#[test]
fn nested_binaries_any_depth() {
    let deep = map(vec![
        (
            "a",
            Value::Array(vec![bin(&[1]), map(vec![("b", bin(&[2]))])]),
        ),
        ("c", bin(&[])),
    ]);
    let p = Packet::event("/", "up", vec![deep, bin(&[3, 3])], Some(1));
    let (text, bins) = enc(&p);
    assert!(text.starts_with("54-1[\"up\""), "{text}");
    let refs: Vec<&[u8]> = bins.iter().map(|b| b.as_ref()).collect();
    assert_eq!(refs, vec![&[1u8][..], &[2], &[], &[3, 3]]);
    assert_eq!(dec_bin(&text, &refs).unwrap(), p);
}

#[test]
fn placeholder_reused_and_unused_attachments() {
    // the same attachment referenced twice (Node allows it); attachment 1 unused
    let text = r#"52-["e",{"_placeholder":true,"num":0},[{"_placeholder":true,"num":0}]]"#;
    let p = dec_bin(text, &[b"x", b"y"]).unwrap();
    assert_eq!(p.args(), &[bin(b"x"), Value::Array(vec![bin(b"x")])]);
}

#[test]
fn binary_in_non_event_is_buffer_json() {
    let p = Packet::connect("/", Some(map(vec![("b", bin(&[1, 255]))])));
    let (text, bins) = enc(&p);
    assert!(bins.is_empty());
    assert_eq!(text, r#"0{"b":{"type":"Buffer","data":[1,255]}}"#);
}

// --- errors ----------------------------------------------------------------

#[test]
fn malformed_packets_are_errors() {
    let cases = [
        "",
        "abc",
        "7",
        "9[]",
        "2{}",
        "2",
        "2[]",
        "2[1]",
        "2\"x\"",
        "2abc[\"a\"]",
        "2[\"a\"]x",
        "2[\"a\"",
        "0[]",
        "0\"x\"",
        "1{}",
        "1/a,[]",
        "3{}",
        "3\"x\"",
        "4[]",
        "2[\"disconnect\"]",
        "2[\"connect\",1]",
        "2/a,[\"newListener\"]",
        "2/a,99999999999999999999999[\"a\"]",
        "5[\"a\"]",
        "5-[\"a\"]",
        "50-[\"a\"]",
        "5x-[\"a\"]",
        "51[\"a\"]",
        "511-[\"a\"]",
        "599999999999999999999999-[\"a\"]",
        "6-1[]",
        "2[\"a\",]",
        "2[\"a\"]\u{0}",
    ];
    for c in cases {
        assert!(
            decode_json(c, Revision::V5, &lim()).is_err(),
            "accepted {c:?}"
        );
        assert!(
            decode_json(c, Revision::V4, &lim()).is_err(),
            "accepted {c:?} (v4)"
        );
    }
}

#[test]
fn error_kinds() {
    assert!(matches!(dec(""), Err(ProtocolError::Empty)));
    assert!(matches!(dec("abc"), Err(ProtocolError::UnknownType(_))));
    assert!(matches!(
        dec("2{}"),
        Err(ProtocolError::InvalidPayload {
            kind: PacketKind::Event,
            ..
        })
    ));
    assert!(matches!(dec("2abc[\"a\"]"), Err(ProtocolError::Json(_))));
    assert!(matches!(
        dec("2[\"disconnect\"]"),
        Err(ProtocolError::ReservedEvent(_))
    ));
    assert!(matches!(
        dec("218446744073709551616[\"a\"]"),
        Err(ProtocolError::InvalidAckId)
    ));
    assert_eq!(
        dec("218446744073709551615[\"a\"]").unwrap().id,
        Some(u64::MAX)
    );
    assert!(matches!(
        decode_json("511-[\"a\"]", Revision::V5, &lim()),
        Err(ProtocolError::TooManyAttachments { count: 11, max: 10 })
    ));
    assert!(matches!(
        decode_json("50-[\"a\"]", Revision::V5, &lim()),
        Err(ProtocolError::InvalidAttachmentCount)
    ));
}

#[test]
fn lying_placeholders_are_errors() {
    let bad = [
        r#"51-["e",{"_placeholder":true,"num":1}]"#,
        r#"51-["e",{"_placeholder":true,"num":-1}]"#,
        r#"51-["e",{"_placeholder":true,"num":0.5}]"#,
        r#"51-["e",{"_placeholder":true,"num":"0"}]"#,
        r#"51-["e",{"_placeholder":true}]"#,
        r#"52-["e",[[{"_placeholder":true,"num":2}]]]"#,
        r#"51-["e",{"x":{"_placeholder":true,"num":18446744073709551615}}]"#,
    ];
    for b in bad {
        assert!(
            matches!(
                decode_json(b, Revision::V5, &lim()),
                Err(ProtocolError::InvalidPlaceholder(_))
            ),
            "accepted {b}"
        );
    }
    // `_placeholder: false` is plain data
    let p = dec_bin(r#"51-["e",{"_placeholder":false,"num":9}]"#, &[b"z"]).unwrap();
    assert_eq!(p.args()[0]["num"], Value::from(9));
}

#[test]
fn push_after_complete_is_error() {
    let Decoded::NeedsAttachments(mut p) = decode_json(
        r#"51-["e",{"_placeholder":true,"num":0}]"#,
        Revision::V5,
        &lim(),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(p.remaining(), 1);
    assert!(p.push(Bytes::new()).unwrap().is_some());
    assert!(matches!(
        p.push(Bytes::new()),
        Err(ProtocolError::UnexpectedAttachment)
    ));
}

#[test]
fn attachment_limit_is_configurable() {
    let l = Limits {
        max_attachments: 2,
        ..lim()
    };
    assert!(decode_json("53-[\"e\"]", Revision::V5, &l).is_err());
    assert!(decode_json("52-[\"e\"]", Revision::V5, &l).is_ok());
}

#[test]
fn depth_limit() {
    let nested = |n: usize| format!("2[\"e\",{}1{}]", "[".repeat(n), "]".repeat(n));
    // the outer array is level 1
    let l = Limits {
        max_depth: 5,
        ..lim()
    };
    assert!(decode_json(&nested(4), Revision::V5, &l).is_ok());
    assert!(matches!(
        decode_json(&nested(5), Revision::V5, &l),
        Err(ProtocolError::TooDeep { max: 5 })
    ));
    // default: 64
    assert!(decode_json(&nested(63), Revision::V5, &lim()).is_ok());
    assert!(decode_json(&nested(64), Revision::V5, &lim()).is_err());
    // far beyond serde_json's own limit: an error, no stack overflow
    let huge = Limits {
        max_depth: usize::MAX,
        ..lim()
    };
    assert!(decode_json(&nested(100_000), Revision::V5, &huge).is_err());
    let objs = format!("2[\"e\",{}1{}]", "{\"a\":".repeat(70), "}".repeat(70));
    assert!(decode_json(&objs, Revision::V5, &lim()).is_err());
}

#[test]
fn ack_without_data_has_no_args() {
    let p = dec("35").unwrap();
    assert_eq!(p, Packet::ack("/", vec![], 5));
}

#[test]
fn nsp_and_id_parsing() {
    let p = dec("2/chat,12[\"a\"]").unwrap();
    assert_eq!((p.nsp.as_str(), p.id), ("/chat", Some(12)));
    let p = dec("1/chat,").unwrap();
    assert_eq!(p, Packet::disconnect("/chat"));
    let p = dec("1/chat").unwrap();
    assert_eq!(p, Packet::disconnect("/chat"));
    // whitespace around the JSON is JSON's business
    assert_eq!(dec("2 [\"a\"] ").unwrap().event_name(), Some("a"));
    // a namespace with non-ASCII
    let p = dec("2/ça,[\"é\"]").unwrap();
    assert_eq!(p.nsp, "/ça");
    assert_eq!(enc(&p).0, "2/ça,[\"é\"]");
}

// --- Revision::V4 ------------------------------------------------------------

#[test]
fn v4_connect_query_becomes_auth() {
    let p = dec_rev("0/private?token=secret,", Revision::V4).unwrap();
    assert_eq!(p.nsp, "/private");
    assert_eq!(p.data, Some(map(vec![("token", s("secret"))])));
    let p = dec_rev("0/a?x=1%2B2&y=a+b&z&x=3&e=%E2%82%AC&bad=%zz", Revision::V4).unwrap();
    assert_eq!(p.nsp, "/a");
    assert_eq!(
        p.data,
        Some(map(vec![
            ("x", Value::Array(vec![s("1+2"), s("3")])),
            ("y", s("a b")),
            ("z", s("")),
            ("e", s("€")),
            ("bad", s("%zz")),
        ]))
    );
    let p = dec_rev("0/chat,", Revision::V4).unwrap();
    assert_eq!(p, Packet::connect("/chat", None));
    // v5 keeps the namespace as sent
    assert_eq!(
        dec("0/private?token=secret,").unwrap().nsp,
        "/private?token=secret"
    );
    // v4 error packets carry a string
    let p = dec_rev("4/private,\"invalid token\"", Revision::V4).unwrap();
    assert_eq!(p.data, Some(s("invalid token")));
}

// --- JSON output like JSON.stringify ----------------------------------------

#[test]
fn string_escapes_like_json_stringify() {
    let v = s("q\" b\\ / \u{8}\u{c}\n\r\t \u{0}\u{1f}\u{7f} é ☃ 😀 \u{2028}");
    assert_eq!(
        json_out(&v),
        "\"q\\\" b\\\\ / \\b\\f\\n\\r\\t \\u0000\\u001f\u{7f} é ☃ 😀 \u{2028}\""
    );
    // and back
    assert_eq!(json(&json_out(&v)), v);
}

#[test]
fn numbers_like_javascript() {
    let cases: &[(f64, &str)] = &[
        (1.0, "1"),
        (-1.0, "-1"),
        (0.0, "0"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (-2.25, "-2.25"),
        (0.1, "0.1"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1.5e-7, "1.5e-7"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (0.0000015, "0.0000015"),
        (1.2345e-6, "0.0000012345"),
        (2f64.powi(60), "1152921504606847000"),
        (9007199254740993.0, "9007199254740992"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (5e-324, "5e-324"),
        (-1.5e300, "-1.5e+300"),
        (123.456, "123.456"),
        (f64::NAN, "null"),
        (f64::INFINITY, "null"),
        (f64::NEG_INFINITY, "null"),
    ];
    for (f, want) in cases {
        assert_eq!(json_out(&Value::from(*f)), *want, "for {f:e}");
    }
    assert_eq!(json_out(&Value::from(0.1)), "0.1");
    assert_eq!(json_out(&Value::from(2.0)), "2");
    assert_eq!(json_out(&Value::from(u64::MAX)), "18446744073709551615");
    assert_eq!(json_out(&Value::from(i64::MIN)), "-9223372036854775808");
    assert_eq!(json_out(&Value::from(0)), "0");
}

#[test]
fn keys_keep_order_and_odd_keys_survive() {
    let text = r#"{"z":1,"a":2,"k\"ey":3,"b\\s":4,"ünï😀":5,"":6,"m":{"y":1,"x":2}}"#;
    let v = json(text);
    assert_eq!(json_out(&v), text);
    // non-string keys (from msgpack) are stringified like JavaScript
    // {type: 2, nsp: "/", data: ["e", {1: "a", -2: "b", 1.5: "c", true: "d", nil: "e"}]}
    let mut m = vec![0x83, 0xa4];
    m.extend_from_slice(b"type");
    m.push(0x02);
    m.push(0xa3);
    m.extend_from_slice(b"nsp");
    m.extend_from_slice(&[0xa1, b'/', 0xa4]);
    m.extend_from_slice(b"data");
    m.extend_from_slice(&[0x92, 0xa1, b'e', 0x85]);
    m.extend_from_slice(&[0x01, 0xa1, b'a', 0xfe, 0xa1, b'b', 0xcb]);
    m.extend_from_slice(&1.5f64.to_be_bytes());
    m.extend_from_slice(&[0xa1, b'c', 0xc3, 0xa1, b'd', 0xc0, 0xa1, b'e']);
    let p = decode_msgpack(&m, &lim()).unwrap();
    assert_eq!(
        json_out(&p.args()[0]),
        r#"{"1":"a","-2":"b","1.5":"c","true":"d","null":"e"}"#
    );
}

#[test]
fn json_numbers_decode() {
    let v = json("[1,-1,18446744073709551615,-9223372036854775808,1.5,1.7976931348623157e308,1E2]");
    // beyond the f64 range: serde_json refuses (JavaScript would say Infinity)
    assert!(json::parse_json_value("[1e400]", 64).is_err());
    assert_eq!(
        v,
        Value::Array(vec![
            Value::from(1),
            Value::from(-1),
            Value::from(u64::MAX),
            Value::from(i64::MIN),
            Value::from(1.5),
            Value::from(f64::MAX),
            Value::from(100.0),
        ])
    );
    assert_eq!(
        json_out(&v),
        "[1,-1,18446744073709551615,-9223372036854775808,1.5,1.7976931348623157e+308,100]"
    );
}

// --- msgpack -------------------------------------------------------------------

fn mp_str(out: &mut Vec<u8>, s: &str) {
    assert!(s.len() < 32);
    out.push(0xa0 | s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// A msgpack packet map of `fields` entries, its first two written:
/// `{type: kind, nsp: nsp, ...}`.
fn mp_head(fields: u8, kind: u8, nsp: &str) -> Vec<u8> {
    let mut out = vec![0x80 | fields];
    mp_str(&mut out, "type");
    out.push(kind);
    mp_str(&mut out, "nsp");
    mp_str(&mut out, nsp);
    out
}

#[test]
fn msgpack_exact_bytes() {
    let p = Packet::connect_error("/private", map(vec![("message", s("invalid token"))]));
    let mut want = mp_head(3, 4, "/private");
    mp_str(&mut want, "data");
    want.push(0x81);
    mp_str(&mut want, "message");
    mp_str(&mut want, "invalid token");
    assert_eq!(encode_msgpack(&p), want);

    // ack with id, ints in smallest form, float64 for non-integers
    let p = Packet::ack(
        "/",
        vec![
            Value::from(300),
            Value::from(-1),
            Value::from(-33),
            Value::from(70000),
            Value::from(1.5),
            Value::from(2.0),
            Value::from(-0.0),
            Value::from(1u64 << 40),
        ],
        1,
    );
    let mut want = mp_head(4, 3, "/");
    mp_str(&mut want, "data");
    want.extend_from_slice(&[
        0x98, 0xcd, 0x01, 0x2c, 0xff, 0xd0, 0xdf, 0xce, 0x00, 0x01, 0x11, 0x70, 0xcb,
    ]);
    want.extend_from_slice(&1.5f64.to_be_bytes());
    want.extend_from_slice(&[0x02, 0x00, 0xcf, 0, 0, 1, 0, 0, 0, 0, 0]);
    mp_str(&mut want, "id");
    want.push(1);
    assert_eq!(encode_msgpack(&p), want);

    // disconnect: no data, no id
    let want = mp_head(2, 1, "/chat");
    assert_eq!(encode_msgpack(&Packet::disconnect("/chat")), want);

    // strings and binaries in their size classes
    let long = "x".repeat(40);
    let p = Packet::event("/", &long, vec![bin(&[7; 3])], None);
    let bytes = encode_msgpack(&p);
    let pos = bytes
        .windows(2)
        .position(|w| w == [0xd9, 40])
        .expect("str8");
    assert_eq!(&bytes[pos + 42..pos + 47], &[0xc4, 3, 7, 7, 7]);
}

#[test]
fn msgpack_ack_id_must_be_an_unsigned_integer() {
    for id in [
        &[0xa1, b'7'][..],
        &[0xff],
        &[0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0],
    ] {
        // {type: 2, nsp: "/", data: ["e"], id: <a string, -1, 1.5>}
        let mut b = mp_head(4, 2, "/");
        mp_str(&mut b, "data");
        b.push(0x91);
        mp_str(&mut b, "e");
        mp_str(&mut b, "id");
        b.extend_from_slice(id);
        assert!(
            matches!(decode_msgpack(&b, &lim()), Err(ProtocolError::InvalidAckId)),
            "id bytes {id:02x?}"
        );
    }
}

#[test]
fn msgpack_decodes_any_order_and_width() {
    // Node sends `id` first on acks; every width; notepack undefined
    let mut b = vec![0x84];
    mp_str(&mut b, "id");
    b.extend_from_slice(&[0xcf, 0, 0, 0, 0, 0, 0, 0, 5]);
    mp_str(&mut b, "data");
    b.extend_from_slice(&[0x96, 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
    b.extend_from_slice(&[0xd1, 0x00, 0x05]);
    b.extend_from_slice(&[0xca]);
    b.extend_from_slice(&0.5f32.to_be_bytes());
    b.extend_from_slice(&[0xd4, 0x00, 0x00]);
    b.extend_from_slice(&[0xda, 0x00, 0x01, b'x']);
    b.extend_from_slice(&[0xc5, 0x00, 0x02, 1, 2]);
    mp_str(&mut b, "nsp");
    mp_str(&mut b, "/");
    mp_str(&mut b, "type");
    b.extend_from_slice(&[0xcc, 0x03]);
    let p = decode_msgpack(&b, &lim()).unwrap();
    assert_eq!(p.kind, PacketKind::Ack);
    assert_eq!(p.id, Some(5));
    assert_eq!(
        p.args(),
        &[
            Value::from(-2),
            Value::from(5),
            Value::from(0.5),
            Value::Null,
            s("x"),
            bin(&[1, 2]),
        ]
    );
}

#[test]
fn msgpack_connect_error_with_undefined_survives() {
    // {"type":4,"nsp":"/x","data":{"message":"m","data":undefined}}
    let mut b = mp_head(3, 4, "/x");
    mp_str(&mut b, "data");
    b.push(0x82);
    mp_str(&mut b, "message");
    mp_str(&mut b, "m");
    mp_str(&mut b, "data");
    b.extend_from_slice(&[0xd4, 0x00, 0x00]);
    let p = decode_msgpack(&b, &lim()).unwrap();
    assert_eq!(
        p.data,
        Some(map(vec![("message", s("m")), ("data", Value::Null)]))
    );
}

/// A protocol-4 CONNECT query is read up to 1000 pairs, as Node's
/// `querystring.parse` does (`maxKeys`): merging repeated keys is quadratic,
/// and a 1 MB query of distinct keys took minutes of CPU before the cap.
#[test]
fn v4_connect_query_reads_at_most_1000_pairs() {
    let mut text = String::from("0/private?");
    for i in 0..5000 {
        text.push_str(&format!("k{i}=v&"));
    }
    text.push(',');
    let p = dec_rev(&text, Revision::V4).unwrap();
    let Some(Value::Object(m)) = p.data else {
        panic!("query becomes an object")
    };
    assert_eq!(m.len(), 1000);
    assert_eq!(m.keys().nth(999), Some("k999"));
}

/// Fuzzer finding (`fuzz/regressions/sio_json`, `sio_msgpack`): a
/// CONNECT_ERROR without data was accepted, so a decoded packet lacked the
/// shape [`Packet`] documents (an object or a string).
#[test]
fn connect_error_without_data_is_refused() {
    for rev in [Revision::V5, Revision::V4] {
        for text in ["4", "4/chanot authorized\"", "4/x,", "4/x,12"] {
            assert!(
                matches!(
                    decode_json(text, rev, &lim()),
                    Err(ProtocolError::InvalidPayload { .. })
                ),
                "{text:?} accepted ({rev:?})"
            );
        }
    }
    let b = mp_head(2, 4, "/x");
    assert!(matches!(
        decode_msgpack(&b, &lim()),
        Err(ProtocolError::InvalidPayload { .. })
    ));
}

#[test]
fn msgpack_errors() {
    let good = encode_msgpack(&Packet::event("/", "a", vec![], Some(1)));
    assert!(decode_msgpack(&good, &lim()).is_ok());
    // every truncation fails cleanly
    for n in 0..good.len() {
        assert!(
            decode_msgpack(&good[..n], &lim()).is_err(),
            "truncated at {n}"
        );
    }
    // trailing byte
    let mut t = good.clone();
    t.push(0);
    assert!(decode_msgpack(&t, &lim()).is_err());

    let build = |pairs: &[(&str, &[u8])]| {
        let mut b = vec![0x80 | pairs.len() as u8];
        for (k, v) in pairs {
            mp_str(&mut b, k);
            b.extend_from_slice(v);
        }
        b
    };
    let nsp: &[u8] = &[0xa1, b'/'];
    let ev: &[u8] = &[0x91, 0xa1, b'a'];
    let cases: Vec<Vec<u8>> = vec![
        vec![0x90],                                                            // not a map
        build(&[("nsp", nsp), ("data", ev)]),                                  // no type
        build(&[("type", &[5]), ("nsp", nsp), ("data", ev)]),                  // binary type
        build(&[("type", &[0xff]), ("nsp", nsp)]),                             // negative type
        build(&[("type", &[0xa1, b'2']), ("nsp", nsp), ("data", ev)]),         // type as string
        build(&[("type", &[2]), ("data", ev)]),                                // no nsp
        build(&[("type", &[2]), ("nsp", &[0x01]), ("data", ev)]),              // nsp not a string
        build(&[("type", &[2]), ("nsp", nsp), ("data", &[0x80])]),             // event data a map
        build(&[("type", &[2]), ("nsp", nsp), ("data", &[0x90])]),             // empty event
        build(&[("type", &[2]), ("nsp", nsp), ("data", &[0x91, 0x01])]),       // name not a string
        build(&[("type", &[2]), ("nsp", nsp), ("data", ev), ("id", &[0xff])]), // id negative
        build(&[
            ("type", &[2]),
            ("nsp", nsp),
            ("data", ev),
            ("id", &[0xa1, b'1']),
        ]),
        build(&[("type", &[1]), ("nsp", nsp), ("data", &[0x90])]), // disconnect with data
        build(&[("type", &[0]), ("nsp", nsp), ("data", &[0x90])]), // connect with array
        build(&[("type", &[3]), ("nsp", nsp), ("data", &[0x80])]), // ack not array
        build(&[("type", &[4]), ("nsp", nsp), ("data", &[0x01])]), // connect_error number
        build(&[
            ("type", &[2]),
            ("nsp", nsp),
            ("data", &[0xdd, 0xff, 0xff, 0xff, 0xff]),
        ]), // huge array, no data
        build(&[
            ("type", &[2]),
            ("nsp", nsp),
            ("data", &[0xc6, 0xff, 0xff, 0xff, 0xff]),
        ]),
        build(&[("type", &[2]), ("nsp", nsp), ("data", &[0xc1])]),
    ];
    for (i, c) in cases.iter().enumerate() {
        assert!(decode_msgpack(c, &lim()).is_err(), "case {i} accepted");
    }
    // depth
    let mut deep = build(&[("type", &[2]), ("nsp", nsp)]);
    deep[0] += 1;
    mp_str(&mut deep, "data");
    deep.extend_from_slice(&[0x92, 0xa1, b'a']);
    deep.extend(std::iter::repeat_n(0x91, 100_000));
    deep.push(0x01);
    assert!(matches!(
        decode_msgpack(&deep, &lim()),
        Err(ProtocolError::TooDeep { max: 64 })
    ));
    // id nil is no id; float ids are accepted when integral
    let p = decode_msgpack(
        &build(&[("type", &[2]), ("nsp", nsp), ("data", ev), ("id", &[0xc0])]),
        &lim(),
    )
    .unwrap();
    assert_eq!(p.id, None);
    let mut f = vec![0xcb];
    f.extend_from_slice(&7.0f64.to_be_bytes());
    let p = decode_msgpack(
        &build(&[("type", &[2]), ("nsp", nsp), ("data", ev), ("id", &f)]),
        &lim(),
    )
    .unwrap();
    assert_eq!(p.id, Some(7));
}

// --- serde helpers -----------------------------------------------------------------

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Upload {
    name: String,
    data: Bytes,
    raw: Vec<u8>,
    tags: Vec<String>,
    kind: Kind,
    n: Option<u32>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
enum Kind {
    Plain,
    Sized(u32),
    Pair(u8, u8),
    Named { w: i8 },
}

#[test]
fn to_args_rule() {
    assert_eq!(to_args(&()).unwrap(), Vec::<Value>::new());
    assert_eq!(to_args(&(1,)).unwrap(), vec![Value::from(1)]);
    assert_eq!(
        to_args(&(1, "a", true)).unwrap(),
        vec![Value::from(1), s("a"), Value::Bool(true)]
    );
    assert_eq!(to_args(&5).unwrap(), vec![Value::from(5)]);
    assert!(
        to_args(&None::<u8>).unwrap().is_empty(),
        "None is no argument, as in Python"
    );
    assert_eq!(
        to_args(&Some((1, 2))).unwrap(),
        vec![Value::Array(vec![Value::from(1), Value::from(2)])]
    );
    assert_eq!(
        to_args(&vec![1, 2]).unwrap(),
        vec![Value::Array(vec![Value::from(1), Value::from(2)])]
    );
    assert_eq!(
        to_args(&[1, 2][..]).unwrap(),
        vec![Value::Array(vec![Value::from(1), Value::from(2)])]
    );
    assert_eq!(
        to_args(&Bytes::from_static(b"hi")).unwrap(),
        vec![bin(b"hi")]
    );
    assert_eq!(
        to_args(&(Bytes::from_static(b"a"), ((), 2))).unwrap(),
        vec![bin(b"a"), Value::Array(vec![Value::Null, Value::from(2)])]
    );
    let j = serde_json::json!({"a": [1, 2]});
    assert_eq!(
        to_args(&j).unwrap(),
        vec![map(vec![(
            "a",
            Value::Array(vec![Value::from(1), Value::from(2)])
        )])]
    );
    assert_eq!(to_args(&Kind::Plain).unwrap(), vec![s("Plain")]);
    let mut hm = std::collections::BTreeMap::new();
    hm.insert("k", 1);
    assert_eq!(
        to_args(&hm).unwrap(),
        vec![map(vec![("k", Value::from(1))])]
    );
}

#[test]
fn serde_round_trip() {
    for kind in [
        Kind::Plain,
        Kind::Sized(3),
        Kind::Pair(1, 2),
        Kind::Named { w: -1 },
    ] {
        let u = Upload {
            name: "a\"b".into(),
            data: Bytes::from_static(&[0, 1, 2]),
            raw: vec![9, 8],
            tags: vec!["x".into()],
            kind,
            n: None,
        };
        let v = to_value(&u).unwrap();
        assert_eq!(v["data"], bin(&[0, 1, 2]));
        assert_eq!(v["name"], s("a\"b"));
        let back: Upload = from_value(v.clone()).unwrap();
        assert_eq!(back, u);
        // through the JSON codec and back (binaries as attachments)
        let p = Packet::event("/", "up", vec![v], None);
        let (text, bins) = enc(&p);
        let refs: Vec<&[u8]> = bins.iter().map(|b| b.as_ref()).collect();
        let decoded = dec_bin(&text, &refs).unwrap();
        let back: Upload = from_value(decoded.args()[0].clone()).unwrap();
        assert_eq!(back, u);
        // and msgpack
        let decoded = decode_msgpack(&encode_msgpack(&p), &lim()).unwrap();
        let back: Upload = from_value(decoded.args()[0].clone()).unwrap();
        assert_eq!(back, u);
    }
}

#[test]
fn from_value_targets() {
    let v = json(r#"{"a":[1,2.5,"x",null,true],"b":{"c":-3}}"#);
    let j: serde_json::Value = from_value(v).unwrap();
    assert_eq!(
        j,
        serde_json::json!({"a":[1,2.5,"x",null,true],"b":{"c":-3}})
    );
    // binary into serde_json::Value: an array of numbers
    let j: serde_json::Value = from_value(bin(&[1, 2])).unwrap();
    assert_eq!(j, serde_json::json!([1, 2]));
    // integral floats fit integers; int keys fit string keys and back
    let n: u32 = from_value(Value::from(3.0)).unwrap();
    assert_eq!(n, 3);
    assert!(from_value::<u32>(Value::from(3.5)).is_err());
    assert!(from_value::<u8>(Value::from(300)).is_err());
    let m: std::collections::HashMap<String, u8> =
        from_value(map(vec![("1", Value::from(2))])).unwrap();
    assert_eq!(m["1"], 2);
    let m: std::collections::HashMap<u32, u8> =
        from_value(map(vec![("7", Value::from(2))])).unwrap();
    assert_eq!(m[&7], 2);
    let t: (String, i64) = from_value(Value::Array(vec![s("a"), Value::from(-5)])).unwrap();
    assert_eq!(t, ("a".into(), -5));
    assert!(from_value::<(String, i64)>(Value::Array(vec![s("a")])).is_err());
    assert!(from_value::<String>(Value::from(1.5)).is_err());
    // strict types: a number is no string and a string no number
    assert!(from_value::<String>(Value::from(1)).is_err());
    assert!(from_value::<u32>(s("5")).is_err());
    let m: std::collections::HashMap<bool, i8> =
        from_value(map(vec![("true", Value::from(-1))])).unwrap();
    assert_eq!(m[&true], -1);
    let o: Option<u8> = from_value(Value::Null).unwrap();
    assert_eq!(o, None);
    let unit: () = from_value(Value::Null).unwrap();
    assert_eq!(unit, ());
}

// --- property-style round trips ---------------------------------------------------

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Z",
            "0",
            " ",
            "\"",
            "\\",
            "/",
            "\n",
            "\t",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            "é",
            "☃",
            "😀",
            "\u{2028}",
            "_placeholder",
            "num",
            ",",
            "[",
            "{",
            "%",
        ];
        let n = self.below(8);
        (0..n)
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }
    fn float(&mut self) -> f64 {
        let mantissa = (self.next() as i64 - (1 << 30)) as f64;
        let exp = self.below(80) as i32 - 40;
        mantissa * 10f64.powi(exp)
    }
    /// A value; `bin` allows binaries; JSON cannot carry non-string keys.
    fn value(&mut self, depth: u32, bin: bool, json_keys: bool) -> Value {
        let top = if depth >= 4 { 7 } else { 10 };
        match self.below(top) {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => Value::from(self.next() as i64 - (1 << 30)),
            3 => Value::from(self.next() << 31 | self.next()),
            4 => Value::from(self.float()),
            5 => Value::from(self.string()),
            6 if bin => Value::Binary(
                (0..self.below(5))
                    .map(|_| self.below(256) as u8)
                    .collect::<Vec<u8>>()
                    .into(),
            ),
            6 => Value::from(self.string()),
            7 | 8 => Value::Array(
                (0..self.below(4))
                    .map(|_| self.value(depth + 1, bin, json_keys))
                    .collect(),
            ),
            _ => Value::Object(
                (0..self.below(4))
                    .map(|_| {
                        let k = if json_keys || self.below(3) > 0 {
                            // `_placeholder` is reserved by the binary format
                            self.string().replace("_placeholder", "_p")
                        } else {
                            key_string(&self.value(depth + 2, bin, json_keys))
                        };
                        (k, self.value(depth + 1, bin, json_keys))
                    })
                    .collect(),
            ),
        }
    }
    fn packet(&mut self, bin: bool, json_keys: bool) -> Packet {
        let nsp = if self.below(2) == 0 {
            "/".to_owned()
        } else {
            format!("/{}", self.string().replace([',', '?'], ""))
        };
        let nsp = if nsp.len() > 1 || nsp == "/" {
            nsp
        } else {
            "/".to_owned()
        };
        let args: Vec<Value> = (0..self.below(4))
            .map(|_| self.value(0, bin, json_keys))
            .collect();
        let id = if self.below(2) == 0 {
            Some(self.next() << 20)
        } else {
            None
        };
        match self.below(5) {
            0 => Packet::connect(nsp, Some(map(vec![("k", self.value(1, false, true))]))),
            1 => Packet::disconnect(nsp),
            2 => Packet::ack(nsp, args, id.unwrap_or(0)),
            3 => Packet::connect_error(nsp, map(vec![("message", Value::from(self.string()))])),
            _ => {
                let mut name = self.string();
                if RESERVED_EVENTS.contains(&name.as_str()) {
                    name.push('!');
                }
                Packet::event(nsp, &name, args, id)
            }
        }
    }
}

/// JSON has no -0 / NaN / infinities and loses float-vs-int: compare like JS would.
fn js_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => Some(n.as_f64()),
        _ => None,
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| js_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && js_eq(va, vb))
        }
        _ => match (num(a), num(b)) {
            // serde_json without its `float_roundtrip` feature may be 1 ULP off
            (Some(x), Some(y)) => {
                x == y
                    || (!x.is_finite() && !y.is_finite())
                    || (x.to_bits().abs_diff(y.to_bits()) <= 1 && x.signum() == y.signum())
            }
            (Some(x), None) => !x.is_finite() && *b == Value::Null,
            _ => a == b,
        },
    }
}

fn has_float(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_f64(),
        Value::Array(a) => a.iter().any(has_float),
        Value::Object(m) => m.values().any(has_float),
        _ => false,
    }
}

#[test]
fn json_round_trip_property() {
    let mut rng = Lcg(42);
    for round in 0..3000 {
        let p = rng.packet(true, true);
        let (text, bins) = enc(&p);
        let got = match decode_json(&text, Revision::V5, &lim())
            .unwrap_or_else(|e| panic!("{round}: {text}: {e}"))
        {
            Decoded::Complete(got) => {
                assert!(bins.is_empty());
                got
            }
            Decoded::NeedsAttachments(mut partial) => {
                assert_eq!(partial.expected(), bins.len());
                let mut out = None;
                for b in bins {
                    out = partial.push(b).unwrap();
                }
                out.unwrap()
            }
        };
        assert_eq!(got.kind, p.kind, "{text}");
        assert_eq!(got.nsp, p.nsp, "{text}");
        assert_eq!(got.id, p.id, "{text}");
        let data_eq = match (&got.data, &p.data) {
            (Some(a), Some(b)) => js_eq(a, b),
            (a, b) => a == b,
        };
        assert!(
            data_eq,
            "round {round}: {text}\n{:?}\n{:?}",
            got.data, p.data
        );
        // re-encoding gives the same text (stable output), floats aside (see js_eq)
        if !p.data.as_ref().is_some_and(has_float) {
            assert_eq!(enc(&got).0, text);
        }
    }
}

#[test]
fn msgpack_round_trip_property() {
    let mut rng = Lcg(7);
    for round in 0..3000 {
        let p = rng.packet(true, false);
        let bytes = encode_msgpack(&p);
        let got = decode_msgpack(&bytes, &lim()).unwrap_or_else(|e| panic!("{round}: {e}"));
        assert_eq!(got.kind, p.kind);
        assert_eq!(got.nsp, p.nsp);
        assert_eq!(got.id, p.id);
        let data_eq = match (&got.data, &p.data) {
            (Some(a), Some(b)) => js_eq(a, b),
            (a, b) => a == b,
        };
        assert!(data_eq, "round {round}\n{:?}\n{:?}", got.data, p.data);
        assert_eq!(encode_msgpack(&got), bytes);
    }
}

#[test]
fn decoders_never_panic_on_garbage() {
    let mut rng = Lcg(99);
    let seeds = [
        r#"52-1["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        r#"2/chat,12["a",{"b":[1,2.5e3,"\u00e9"]}]"#,
        "0/private?token=a%20b,",
    ];
    for round in 0..20_000 {
        let mut b = seeds[round % seeds.len()].as_bytes().to_vec();
        for _ in 0..=rng.below(4) {
            let i = rng.below(b.len() as u64) as usize;
            match rng.below(3) {
                0 => b[i] = rng.below(128) as u8,
                1 => {
                    b.remove(i);
                }
                _ => {
                    const INS: &[u8] = b"0-/,[]{}\"\\5:";
                    b.insert(i, INS[rng.below(INS.len() as u64) as usize])
                }
            }
        }
        if let Ok(text) = std::str::from_utf8(&b) {
            for rev in [Revision::V4, Revision::V5] {
                if let Ok(Decoded::NeedsAttachments(mut p)) = decode_json(text, rev, &lim()) {
                    for _ in 0..p.expected() {
                        let _ = p.push(Bytes::from_static(b"x"));
                    }
                }
            }
        }
    }
    let good = encode_msgpack(&Packet::event(
        "/",
        "e",
        vec![map(vec![(
            "a",
            Value::Array(vec![Value::from(1), Value::from(0.5), bin(&[1])]),
        )])],
        Some(3),
    ));
    for _ in 0..20_000 {
        let mut b = good.clone();
        for _ in 0..=rng.below(4) {
            let i = rng.below(b.len() as u64) as usize;
            match rng.below(3) {
                0 => b[i] = rng.below(256) as u8,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, rng.below(256) as u8),
            }
        }
        let _ = decode_msgpack(&b, &lim());
    }
}

#[test]
fn an_event_name_is_read_apart_only_on_the_fast_path() {
    // Plain JSON: the name is borrowed from the input, the data holds only
    // the arguments, and the whole packet is what it always was.
    let text = r#"2/chat,7["say",{"to":"all"},3]"#;
    let parts = decode_json_parts(text, Revision::V5, &lim()).unwrap();
    assert_eq!(parts.event, Some("say"));
    assert_eq!(parts.data, Some(crate::value!([{"to": "all"}, 3])));
    assert_eq!(
        dec(text).unwrap(),
        Packet {
            kind: PacketKind::Event,
            nsp: "/chat".into(),
            id: Some(7),
            data: Some(crate::value!(["say", {"to": "all"}, 3])),
        }
    );
    // A name with an escape goes the general way, with the name in the data.
    let parts = decode_json_parts(r#"2["s\"ay",1]"#, Revision::V5, &lim()).unwrap();
    assert_eq!(parts.event, None);
    assert_eq!(parts.data, Some(crate::value!(["s\"ay", 1])));
    // Both ways refuse a reserved name alike.
    for text in [r#"2["connect",1]"#, r#"2[ "connect",1]"#] {
        assert!(
            matches!(
                decode_json_parts(text, Revision::V5, &lim()),
                Err(ProtocolError::ReservedEvent(name)) if name == "connect"
            ),
            "{text}"
        );
    }
}
