//! sockio's fuzz targets: the checks live in [`checks`] (shared with the
//! corpus replay in the workspace tests); each `fuzz_targets/*.rs` hands
//! libFuzzer's input to one of them. See `fuzz/README.md`.

pub mod checks;

/// Counts live bytes so the checks can bound what a decoder allocates.
#[global_allocator]
static ALLOC: checks::alloc::Counting = checks::alloc::Counting;
