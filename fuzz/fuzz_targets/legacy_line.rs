#![no_main]
//! See `zinit_fuzz::legacy_line` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| zinit_fuzz::legacy_line(data));
