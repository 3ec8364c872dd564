#![no_main]
//! See `sockio_fuzz::checks::query`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockio_fuzz::checks::query(data));
