#![no_main]
//! See `sockio_fuzz::checks::sio_attachments`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sockio_fuzz::checks::sio_attachments(data));
