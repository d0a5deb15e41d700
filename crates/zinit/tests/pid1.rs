//! zinit as PID 1 and as a subreaper, through the real binary: orphan
//! reaping, the signal policy of each mode (daemon, container, machine),
//! the ordered shutdown before exit or reboot(2), container exit codes, and
//! a PID 1 that cannot bind its socket. See docs/pid1.md.
//!
//! PID 1 runs inside `unshare` (helpers in `common/namespace.rs`). Those
//! tests need root and util-linux; without them they print that they
//! skipped and pass, except under CI, where they fail. The tests are split
//! by mode under `pid1/`.

mod common;

#[path = "pid1/container.rs"]
mod container;
#[path = "pid1/daemon.rs"]
mod daemon;
#[path = "pid1/machine.rs"]
mod machine;
#[path = "pid1/reaping.rs"]
mod reaping;

use common::namespace::*;
use common::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
