#![no_main]
//! See `sockio_fuzz::checks::eio_packet`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockio_fuzz::checks::eio_packet(data));
