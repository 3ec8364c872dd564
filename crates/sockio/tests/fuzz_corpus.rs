//! Replays the fuzzers' committed seed corpus (`fuzz/seeds/<target>/`) and
//! their regression inputs (`fuzz/regressions/<target>/`) through the same
//! checks the fuzz targets run (`fuzz/src/checks.rs`: no panic, round trips,
//! packet shapes, attachment reassembly, memory bounded by the input), in
//! the ordinary test run. The fuzzing itself is `fuzz/README.md`.

#[allow(dead_code)]
#[path = "../../../fuzz/src/checks.rs"]
mod checks;

use std::path::Path;

#[global_allocator]
static ALLOC: checks::alloc::Counting = checks::alloc::Counting;

#[test]
fn seed_corpus_and_regressions_pass_every_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut total = 0;
    for (name, check) in checks::TARGETS {
        let mut n = 0;
        for dir in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            let mut files: Vec<_> = entries.map(|e| e.expect("dir entry").path()).collect();
            files.sort();
            for f in files {
                let data = std::fs::read(&f).expect("read corpus file");
                let r = std::panic::catch_unwind(|| check(&data));
                assert!(r.is_ok(), "{name}: {} fails its check", f.display());
                n += 1;
            }
        }
        assert!(n > 0, "no seeds for fuzz target {name}");
        total += n;
    }
    assert!(total >= 50, "only {total} corpus files");
}

#[test]
fn the_allocation_counter_sees_allocations() {
    // The memory bound is only a check if the counter counts.
    let (v, peak) = checks::alloc::measure(|| vec![0u8; 100_000]);
    assert!(peak >= 100_000, "counted {peak}");
    drop(v);
}

/// Fuzzer finding (`fuzz/regressions/sio_msgpack`): every nested msgpack
/// array or map reserved room for all the input bytes left, so nested
/// headers declaring huge lengths made one packet reserve depth × 32 bytes
/// per input byte (about 2 GB for a 1 MB packet).
#[test]
fn nested_msgpack_containers_reserve_no_more_than_their_input() {
    use sockio::protocol::{decode_msgpack, Limits};
    for header in [
        &[0xdd, 0xff, 0xff, 0xff, 0xff][..],
        &[0xdf, 0xff, 0xff, 0xff, 0xff],
    ] {
        // {"type": 2, "nsp": "/", "data": <nested headers>, then padding}
        let mut b = vec![
            0x83, 0xa4, b't', b'y', b'p', b'e', 0x02, 0xa3, b'n', b's', b'p',
        ];
        b.extend_from_slice(&[0xa1, b'/', 0xa4, b'd', b'a', b't', b'a']);
        for _ in 0..60 {
            b.extend_from_slice(header);
        }
        b.resize(1 << 20, 0xc0);
        let (res, peak) = checks::alloc::measure(|| decode_msgpack(&b, &Limits::default()));
        assert!(res.is_err());
        // before the fix: about 2.5 GB here
        assert!(
            peak <= checks::ALLOC_FACTOR * b.len(),
            "decoding {} bytes held {peak} bytes",
            b.len()
        );
    }
}
