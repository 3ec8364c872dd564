#![no_main]
//! See `sockio_fuzz::checks::sio_msgpack`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockio_fuzz::checks::sio_msgpack(data));
