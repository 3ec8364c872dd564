#![no_main]
//! See `sockio_fuzz::checks::eio_v3_binary_payload`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockio_fuzz::checks::eio_v3_binary_payload(data));
