//! zinit's wire formats, shared by the daemon and every client.
//!
//! Wire types are deliberately separate from the core's domain types: the
//! wire is a compatibility contract with deployed clients, the domain is
//! free to evolve.
//!
//! - [`legacy`]: the one-command-per-connection line protocol.
//! - [`jsonrpc`]: JSON-RPC 2.0 framing, methods and params.
//! - [`errors`]: the one table of error codes and names.
//! - [`wire`]: result objects (status, stats, ...).
//! - [`observe`]: log records, follower items and `why` reports.
//! - [`openrpc`]: the OpenRPC document served by `rpc.discover`.
//! - [`yaml`]: JSON values rendered as YAML text.

pub mod errors;
pub mod jsonrpc;
pub mod legacy;
pub mod observe;
pub mod openrpc;
pub mod wire;
pub mod yaml;
