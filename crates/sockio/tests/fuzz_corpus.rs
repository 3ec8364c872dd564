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
