#![no_main]
//! See `zinit_fuzz::envfile` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| zinit_fuzz::envfile(data));
