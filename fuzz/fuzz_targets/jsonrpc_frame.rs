#![no_main]
//! See `zinit_fuzz::jsonrpc_frame` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| zinit_fuzz::jsonrpc_frame(data));
