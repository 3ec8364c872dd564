#![no_main]
//! See `sockio_fuzz::checks::eio_v3_text_payload`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockio_fuzz::checks::eio_v3_text_payload(data));
