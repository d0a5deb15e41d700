//! Measurement loops for `bench-tool` (see `bench/bench.py`): each function
//! runs one hot loop in Rust, with std threads only, and returns a result
//! that serialises to the one JSON object the subcommand prints.
//!
//! Latencies are in microseconds with one decimal; rates are whole requests
//! (or lines) per second.

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod echo;
pub mod load;
pub mod pipe;
pub mod rpc;
pub mod spawn;
pub mod summary;

pub use summary::{Failure, Rate, Summary, Throughput};
