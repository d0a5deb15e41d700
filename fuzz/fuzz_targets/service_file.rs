#![no_main]
//! See `zinit_fuzz::service_file` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| zinit_fuzz::service_file(data));
