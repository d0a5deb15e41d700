#![no_main]
//! See `zinit_fuzz::jsonrpc_stream` for what is checked.

libfuzzer_sys::fuzz_target!(|data: &[u8]| zinit_fuzz::jsonrpc_stream(data));
