//! Micro-benchmarks of the Socket.IO codecs (`sockio::protocol`): the hot path of
//! every message.
//!
//! Run with `cargo bench -p sockio --bench codec`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sockio::protocol::{
    decode_json, decode_msgpack, encode_json, encode_msgpack, Decoded, Limits, Packet, Revision,
    Value,
};

fn small_event() -> Packet {
    Packet::event(
        "/",
        "message",
        vec![
            Value::from(1),
            Value::from("2"),
            sockio::value!({"3": [true]}),
        ],
        Some(12),
    )
}

fn big_string_event() -> Packet {
    let text: String = "lorem ipsum \"dolor\" sit amet, é ☃\n"
        .chars()
        .cycle()
        .take(1024)
        .collect();
    Packet::event(
        "/chat",
        "chat message",
        vec![sockio::value!({"user": "alice", "text": text, "ts": 1_700_000_000_123u64})],
        None,
    )
}

fn binary_event() -> Packet {
    Packet::event(
        "/",
        "upload",
        vec![
            sockio::value!({"name": "a.bin", "data": Bytes::from(vec![7u8; 4096])}),
            Value::Binary(Bytes::from_static(&[1, 2, 3])),
        ],
        Some(3),
    )
}

fn encode_text(p: &Packet) -> (String, Vec<Bytes>) {
    let mut buf = Vec::new();
    let bins = encode_json(&mut buf, p);
    (String::from_utf8(buf).expect("utf-8"), bins)
}

fn bench_json(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("json");
    for (name, packet) in [
        ("small_event", small_event()),
        ("string_1k_event", big_string_event()),
        ("binary_event", binary_event()),
    ] {
        let (text, bins) = encode_text(&packet);
        group.throughput(Throughput::Bytes(text.len() as u64));
        let mut buf = Vec::with_capacity(2048);
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| {
                buf.clear();
                buf.push(b'4');
                black_box(encode_json(&mut buf, black_box(&packet)));
            })
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| {
                match decode_json(black_box(&text), Revision::V5, &limits).expect("valid") {
                    Decoded::Complete(p) => black_box(p),
                    Decoded::NeedsAttachments(mut partial) => {
                        let mut out = None;
                        for bin in &bins {
                            out = partial.push(bin.clone()).expect("attachment");
                        }
                        black_box(out.expect("complete"))
                    }
                };
            })
        });
    }
    group.finish();
}

fn bench_msgpack(c: &mut Criterion) {
    let limits = Limits::default();
    let mut group = c.benchmark_group("msgpack");
    for (name, packet) in [
        ("small_event", small_event()),
        ("string_1k_event", big_string_event()),
        ("binary_event", binary_event()),
    ] {
        let bytes = encode_msgpack(&packet);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("encode/{name}"), |b| {
            b.iter(|| black_box(encode_msgpack(black_box(&packet))))
        });
        group.bench_function(format!("decode/{name}"), |b| {
            b.iter(|| black_box(decode_msgpack(black_box(&bytes), &limits).expect("valid")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_json, bench_msgpack);
criterion_main!(benches);
