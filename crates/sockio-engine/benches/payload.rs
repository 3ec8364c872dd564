//! Codec micro-benchmarks: v4 and v3 payload encoders and decoders.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sockio_engine::codec::{v3, v4, Packet};
use sockio_engine::Message;

fn packets(n: usize) -> Vec<Packet> {
    (0..n)
        .map(|i| {
            if i % 4 == 3 {
                Packet::Message(Message::binary(vec![i as u8; 64]))
            } else {
                Packet::Message(Message::text(format!(
                    "2[\"chat\",{{\"user\":\"u{i}\",\"text\":\"héllo wörld {i}\"}}]"
                )))
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("payload");
    for n in [1usize, 16] {
        let p = packets(n);
        let enc4 = Bytes::from(v4::encode_payload(&p));
        let enc3t = Bytes::from(v3::encode_text_payload(&p));
        let enc3b = Bytes::from(v3::encode_binary_payload(&p));
        g.throughput(Throughput::Bytes(enc4.len() as u64));
        g.bench_with_input(BenchmarkId::new("v4_encode", n), &p, |b, p| {
            b.iter(|| v4::encode_payload(p))
        });
        g.bench_with_input(BenchmarkId::new("v4_decode", n), &enc4, |b, e| {
            b.iter(|| v4::decode_payload(e.clone()).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("v3_text_encode", n), &p, |b, p| {
            b.iter(|| v3::encode_text_payload(p))
        });
        g.bench_with_input(BenchmarkId::new("v3_text_decode", n), &enc3t, |b, e| {
            b.iter(|| v3::decode_text_payload(e.clone()).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("v3_binary_encode", n), &p, |b, p| {
            b.iter(|| v3::encode_binary_payload(p))
        });
        g.bench_with_input(BenchmarkId::new("v3_binary_decode", n), &enc3b, |b, e| {
            b.iter(|| v3::decode_binary_payload(e.clone()).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
