//! A service's `resources` as cgroup interface files: which file gets which
//! value on cgroup v2, and on the v1 hierarchies of a hybrid host, and
//! writing them. Where each controller lives is [`super::cgroup`]'s
//! business; this module only turns limits into writes and reports what
//! could not be applied, naming the key and the reason.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use zinit_core::spec::{Resources, CPU_PERIOD_MICROS};

/// The controllers zinit's limits use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    Memory,
    Cpu,
    Pids,
    Io,
}

impl Controller {
    pub const ALL: [Controller; 4] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Pids,
        Controller::Io,
    ];

    /// Its name in cgroup v2 (`cgroup.controllers`).
    pub fn v2_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
            Controller::Io => "io",
        }
    }

    /// Its v1 hierarchy's name.
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Io => "blkio",
            other => other.v2_name(),
        }
    }

    /// The keys of `r` this controller serves that `r` sets.
    pub fn keys_set(self, r: &Resources) -> Vec<&'static str> {
        let candidates: &[(bool, &'static str)] = match self {
            Controller::Memory => &[
                (r.memory_max.is_some(), "resources.memory_max"),
                (r.memory_high.is_some(), "resources.memory_high"),
                (r.memory_swap_max.is_some(), "resources.memory_swap_max"),
            ],
            Controller::Cpu => &[
                (r.cpu.is_some(), "resources.cpu"),
                (r.cpu_weight.is_some(), "resources.cpu_weight"),
            ],
            Controller::Pids => &[(r.pids_max.is_some(), "resources.pids_max")],
            Controller::Io => &[(r.io_weight.is_some(), "resources.io_weight")],
        };
        candidates
            .iter()
            .filter(|(set, _)| *set)
            .map(|(_, key)| *key)
            .collect()
    }

    /// The controllers `r` needs.
    pub fn needed_by(r: &Resources) -> Vec<Controller> {
        Controller::ALL
            .into_iter()
            .filter(|c| !c.keys_set(r).is_empty())
            .collect()
    }
}

/// One interface file to write, for the service-file key `key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub key: &'static str,
    pub file: &'static str,
    pub value: String,
}

fn write(key: &'static str, file: &'static str, value: impl ToString) -> Write {
    Write {
        key,
        file,
        value: value.to_string(),
    }
}

/// A limit that is not in force, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotApplied {
    pub key: &'static str,
    pub reason: String,
}

/// cgroup v2 writes of `controller`'s limits in `r`; unset limits get the
/// kernel's defaults, so a limit removed from the file is lifted.
pub fn v2_writes(r: &Resources, controller: Controller) -> Vec<Write> {
    let max_or = |v: Option<u64>| v.map_or_else(|| "max".to_owned(), |b| b.to_string());
    match controller {
        Controller::Memory => vec![
            write("resources.memory_max", "memory.max", max_or(r.memory_max)),
            write(
                "resources.memory_high",
                "memory.high",
                max_or(r.memory_high),
            ),
            write(
                "resources.memory_swap_max",
                "memory.swap.max",
                max_or(r.memory_swap_max),
            ),
        ],
        Controller::Cpu => vec![
            write(
                "resources.cpu",
                "cpu.max",
                format!(
                    "{} {CPU_PERIOD_MICROS}",
                    max_or(r.cpu.map(|q| q.quota_micros()))
                ),
            ),
            write(
                "resources.cpu_weight",
                "cpu.weight",
                r.cpu_weight.unwrap_or(100),
            ),
        ],
        Controller::Pids => vec![write("resources.pids_max", "pids.max", max_or(r.pids_max))],
        Controller::Io => vec![write(
            "resources.io_weight",
            "io.weight",
            format!("default {}", r.io_weight.unwrap_or(100)),
        )],
    }
}

/// cgroup v1 writes of `controller`'s limits in `r` (into its v1
/// hierarchy), and the limits v1 cannot express. Unset limits get v1's
/// defaults. `io_file` is the weight file the blkio hierarchy has
/// (`blkio.bfq.weight` or `blkio.weight`), if any.
pub fn v1_writes(
    r: &Resources,
    controller: Controller,
    io_file: Option<&'static str>,
) -> (Vec<Write>, Vec<NotApplied>) {
    let unlimited = |v: Option<u64>| v.map_or_else(|| "-1".to_owned(), |b| b.to_string());
    let mut writes = Vec::new();
    let mut missing = Vec::new();
    match controller {
        Controller::Memory => {
            // memsw (memory + swap) may never be below the memory limit:
            // lift it first, then set the limit, then memsw.
            writes.push(write(
                "resources.memory_swap_max",
                "memory.memsw.limit_in_bytes",
                "-1",
            ));
            writes.push(write(
                "resources.memory_max",
                "memory.limit_in_bytes",
                unlimited(r.memory_max),
            ));
            match (r.memory_swap_max, r.memory_max) {
                (Some(swap), Some(max)) => writes.push(write(
                    "resources.memory_swap_max",
                    "memory.memsw.limit_in_bytes",
                    max.saturating_add(swap),
                )),
                (Some(_), None) => missing.push(NotApplied {
                    key: "resources.memory_swap_max",
                    reason: "cgroup v1 limits swap only together with resources.memory_max"
                        .to_owned(),
                }),
                (None, _) => {}
            }
            if r.memory_high.is_some() {
                missing.push(NotApplied {
                    key: "resources.memory_high",
                    reason: "cgroup v1 has no memory.high (throttling threshold)".to_owned(),
                });
            }
        }
        Controller::Cpu => {
            writes.push(write(
                "resources.cpu",
                "cpu.cfs_period_us",
                CPU_PERIOD_MICROS,
            ));
            writes.push(write(
                "resources.cpu",
                "cpu.cfs_quota_us",
                unlimited(r.cpu.map(|q| q.quota_micros())),
            ));
            // systemd's conversion: weight 100 is 1024 shares.
            let shares = u64::from(r.cpu_weight.unwrap_or(100)) * 1024 / 100;
            writes.push(write("resources.cpu_weight", "cpu.shares", shares.max(2)));
        }
        Controller::Pids => {
            writes.push(write(
                "resources.pids_max",
                "pids.max",
                r.pids_max
                    .map_or_else(|| "max".to_owned(), |n| n.to_string()),
            ));
        }
        Controller::Io => match io_file {
            // systemd's conversion: weight 100 is blkio's 500, within 10..1000.
            Some(file) => {
                let weight = u64::from(r.io_weight.unwrap_or(100)) * 5;
                writes.push(write("resources.io_weight", file, weight.clamp(10, 1000)));
            }
            None if r.io_weight.is_some() => missing.push(NotApplied {
                key: "resources.io_weight",
                reason: "the blkio hierarchy has no weight file (the I/O scheduler has no \
                         weights)"
                    .to_owned(),
            }),
            None => {}
        },
    }
    (writes, missing)
}

/// Write `writes` into `dir`. A write that fails is reported, and the
/// others still happen.
pub fn apply(dir: &Path, writes: &[Write]) -> Vec<NotApplied> {
    writes
        .iter()
        .filter_map(|w| {
            let path = dir.join(w.file);
            std::fs::write(&path, &w.value).err().map(|e| NotApplied {
                key: w.key,
                reason: format!("cannot write {} to {}: {}", w.value, path.display(), e),
            })
        })
        .collect()
}

/// `oom_kill N` from a `memory.events` (v2) or `memory.oom_control` (v1)
/// text.
pub fn parse_oom_kills(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
}

/// The OOM kill counter of a cgroup: `memory.events` on v2, else
/// `memory.oom_control` on v1.
pub fn oom_kills(dir: &Path) -> io::Result<u64> {
    let text = std::fs::read_to_string(dir.join("memory.events"))
        .or_else(|_| std::fs::read_to_string(dir.join("memory.oom_control")))?;
    parse_oom_kills(&text).ok_or_else(|| io::Error::other("no oom_kill counter"))
}

/// The limits each service's last run could not have, shared between the
/// shell (which writes it at each spawn) and the API (`status`, `why`).
#[derive(Clone, Debug, Default)]
pub struct LimitReports(Arc<Mutex<HashMap<String, Vec<NotApplied>>>>);

impl LimitReports {
    /// Record the report of `service`'s new run; whether it changed.
    pub fn set(&self, service: &str, missing: Vec<NotApplied>) -> bool {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if missing.is_empty() {
            return map.remove(service).is_some();
        }
        let changed = map.get(service) != Some(&missing);
        map.insert(service.to_owned(), missing);
        changed
    }

    /// What `service`'s last run lacked, as `KEY: REASON` lines.
    pub fn get(&self, service: &str) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(service)
            .map(|missing| missing.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    pub fn forget(&self, service: &str) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(service);
    }
}

impl std::fmt::Display for NotApplied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} not applied: {}", self.key, self.reason)
    }
}

/// Every limit of `r`, unapplied because zinit runs without cgroups.
pub fn without_cgroups(r: &Resources) -> Vec<NotApplied> {
    Controller::ALL
        .into_iter()
        .flat_map(|c| c.keys_set(r))
        .map(|key| NotApplied {
            key,
            reason: "zinit runs without cgroups (--cgroup off, or no writable cgroup2 \
                     hierarchy): the service runs unlimited"
                .to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use zinit_core::spec::CpuQuota;

    const MIB: u64 = 1024 * 1024;

    fn limits() -> Resources {
        Resources {
            memory_max: Some(512 * MIB),
            memory_high: Some(400 * MIB),
            memory_swap_max: Some(0),
            cpu: Some(CpuQuota(500_000)),
            cpu_weight: Some(200),
            pids_max: Some(64),
            io_weight: Some(50),
        }
    }

    fn files(writes: &[Write]) -> Vec<(&str, &str)> {
        writes.iter().map(|w| (w.file, w.value.as_str())).collect()
    }

    #[test]
    fn v2_files_and_values() {
        let r = limits();
        let all: Vec<Write> = Controller::ALL
            .iter()
            .flat_map(|c| v2_writes(&r, *c))
            .collect();
        assert_eq!(
            files(&all),
            vec![
                ("memory.max", "536870912"),
                ("memory.high", "419430400"),
                ("memory.swap.max", "0"),
                ("cpu.max", "50000 100000"),
                ("cpu.weight", "200"),
                ("pids.max", "64"),
                ("io.weight", "default 50"),
            ]
        );
        // A removed limit is lifted.
        let lifted: Vec<Write> = Controller::ALL
            .iter()
            .flat_map(|c| v2_writes(&Resources::default(), *c))
            .collect();
        assert_eq!(
            files(&lifted),
            vec![
                ("memory.max", "max"),
                ("memory.high", "max"),
                ("memory.swap.max", "max"),
                ("cpu.max", "max 100000"),
                ("cpu.weight", "100"),
                ("pids.max", "max"),
                ("io.weight", "default 100"),
            ]
        );
    }

    #[test]
    fn v1_files_values_and_what_v1_cannot_do() {
        let r = limits();
        let (memory, missing) = v1_writes(&r, Controller::Memory, None);
        assert_eq!(
            files(&memory),
            vec![
                ("memory.memsw.limit_in_bytes", "-1"),
                ("memory.limit_in_bytes", "536870912"),
                ("memory.memsw.limit_in_bytes", "536870912"),
            ]
        );
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].key, "resources.memory_high");
        let (cpu, _) = v1_writes(&r, Controller::Cpu, None);
        assert_eq!(
            files(&cpu),
            vec![
                ("cpu.cfs_period_us", "100000"),
                ("cpu.cfs_quota_us", "50000"),
                ("cpu.shares", "2048"),
            ]
        );
        let (pids, _) = v1_writes(&r, Controller::Pids, None);
        assert_eq!(files(&pids), vec![("pids.max", "64")]);
        let (io, _) = v1_writes(&r, Controller::Io, Some("blkio.bfq.weight"));
        assert_eq!(files(&io), vec![("blkio.bfq.weight", "250")]);
        let (io, missing) = v1_writes(&r, Controller::Io, None);
        assert!(io.is_empty());
        assert_eq!(missing[0].key, "resources.io_weight");
        let swap_alone = Resources {
            memory_swap_max: Some(MIB),
            ..Resources::default()
        };
        let (_, missing) = v1_writes(&swap_alone, Controller::Memory, None);
        assert!(missing[0]
            .reason
            .contains("only together with resources.memory_max"));
    }

    #[test]
    fn needed_controllers() {
        assert_eq!(Controller::needed_by(&Resources::default()), vec![]);
        assert_eq!(Controller::needed_by(&limits()), Controller::ALL.to_vec());
        let pids = Resources {
            pids_max: Some(3),
            ..Resources::default()
        };
        assert_eq!(Controller::needed_by(&pids), vec![Controller::Pids]);
    }

    #[test]
    fn writes_land_in_files_and_failures_name_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let writes = v2_writes(&limits(), Controller::Pids);
        assert!(apply(dir.path(), &writes).is_empty());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("pids.max")).unwrap(),
            "64"
        );
        let missing = apply(&dir.path().join("absent"), &writes);
        assert_eq!(missing[0].key, "resources.pids_max");
        assert!(
            missing[0].reason.contains("absent/pids.max"),
            "{}",
            missing[0].reason
        );
    }

    #[test]
    fn oom_counters_parse() {
        let v2 = "low 0\nhigh 3\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(parse_oom_kills(v2), Some(1));
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n";
        assert_eq!(parse_oom_kills(v1), Some(4));
        assert_eq!(parse_oom_kills("oom 2\n"), None);
    }
}
