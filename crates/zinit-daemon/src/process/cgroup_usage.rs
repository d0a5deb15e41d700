//! What a service's cgroups say it uses: memory (current, peak, limit),
//! CPU time and throttling, tasks, OOM kills and pressure (PSI). Read from
//! its cgroup2 directory, and from its v1 directories on a hybrid host
//! where a controller lives there. Each figure is `None` where the kernel
//! does not keep it (a controller not enabled, PSI off).

use std::path::{Path, PathBuf};
use zinit_proto::wire::{CgroupUsage, Pressure};

/// The directories of one service's cgroups.
#[derive(Clone, Debug, Default)]
pub struct ServiceCgroups {
    pub v2: PathBuf,
    pub v1_memory: Option<PathBuf>,
    pub v1_cpu: Option<PathBuf>,
    pub v1_pids: Option<PathBuf>,
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file)).ok()
}

fn number(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.trim().parse().ok()
}

/// A limit file: `max` (v2) or a huge v1 "unlimited" value is `None`.
fn limit(dir: &Path, file: &str) -> Option<u64> {
    let text = read(dir, file)?;
    let value: u64 = text.trim().parse().ok()?;
    // v1 writes "unlimited" as the largest page-aligned i64.
    (value < (i64::MAX as u64) & !0xfff).then_some(value)
}

/// `KEY VALUE` lines (cpu.stat, memory.events, memory.oom_control).
pub fn field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `avg10` of the `some` or `full` line of a pressure file.
pub fn pressure_avg10(text: &str, kind: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with(kind))?;
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("avg10="))
        .and_then(|v| v.parse().ok())
}

/// Everything the cgroups of a service say; `None` when its cgroup2
/// directory is gone.
pub fn read_usage(dirs: &ServiceCgroups) -> Option<CgroupUsage> {
    let v2 = &dirs.v2;
    let cpu_stat = read(v2, "cpu.stat")?;
    let mut usage = CgroupUsage {
        cpu_usage_seconds: field(&cpu_stat, "usage_usec").map(|us| us as f64 / 1e6),
        cpu_throttled_seconds: field(&cpu_stat, "throttled_usec").map(|us| us as f64 / 1e6),
        memory_current_bytes: number(v2, "memory.current"),
        memory_peak_bytes: number(v2, "memory.peak"),
        memory_max_bytes: read(v2, "memory.max").and_then(|t| t.trim().parse().ok()),
        pids_current: number(v2, "pids.current"),
        pids_max: read(v2, "pids.max").and_then(|t| t.trim().parse().ok()),
        oom_kills: read(v2, "memory.events").and_then(|t| field(&t, "oom_kill")),
        pressure: None,
    };
    let cpu_pressure = read(v2, "cpu.pressure");
    let memory_pressure = read(v2, "memory.pressure");
    let io_pressure = read(v2, "io.pressure");
    if cpu_pressure.is_some() || memory_pressure.is_some() || io_pressure.is_some() {
        let avg =
            |text: &Option<String>, kind| text.as_deref().and_then(|t| pressure_avg10(t, kind));
        usage.pressure = Some(Pressure {
            cpu_some_avg10: avg(&cpu_pressure, "some"),
            memory_some_avg10: avg(&memory_pressure, "some"),
            memory_full_avg10: avg(&memory_pressure, "full"),
            io_some_avg10: avg(&io_pressure, "some"),
            io_full_avg10: avg(&io_pressure, "full"),
        });
    }
    if let Some(dir) = dirs.v1_memory.as_deref().filter(|d| d.exists()) {
        usage.memory_current_bytes = number(dir, "memory.usage_in_bytes");
        usage.memory_peak_bytes = number(dir, "memory.max_usage_in_bytes");
        usage.memory_max_bytes = limit(dir, "memory.limit_in_bytes");
        usage.oom_kills = read(dir, "memory.oom_control").and_then(|t| field(&t, "oom_kill"));
    }
    if let Some(dir) = dirs.v1_cpu.as_deref().filter(|d| d.exists()) {
        let stat = read(dir, "cpu.stat").unwrap_or_default();
        usage.cpu_throttled_seconds = field(&stat, "throttled_time").map(|ns| ns as f64 / 1e9);
    }
    if let Some(dir) = dirs.v1_pids.as_deref().filter(|d| d.exists()) {
        usage.pids_current = number(dir, "pids.current");
        usage.pids_max = read(dir, "pids.max").and_then(|t| t.trim().parse().ok());
    }
    Some(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_pressure_parse() {
        let stat = "usage_usec 2500000\nuser_usec 2000000\nthrottled_usec 10\n";
        assert_eq!(field(stat, "usage_usec"), Some(2_500_000));
        assert_eq!(field(stat, "user"), None);
        let psi = "some avg10=39.09 avg60=51.81 avg300=46.48 total=2891483039\n\
                   full avg10=0.50 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(pressure_avg10(psi, "some"), Some(39.09));
        assert_eq!(pressure_avg10(psi, "full"), Some(0.5));
        assert_eq!(pressure_avg10("", "some"), None);
    }

    #[test]
    fn usage_from_v2_and_v1_files() {
        let root = tempfile::tempdir().unwrap();
        let v2 = root.path().join("web.service");
        let memory = root.path().join("memory");
        let pids = root.path().join("pids");
        for dir in [&v2, &memory, &pids] {
            std::fs::create_dir(dir).unwrap();
        }
        let write =
            |dir: &Path, file: &str, text: &str| std::fs::write(dir.join(file), text).unwrap();
        write(&v2, "cpu.stat", "usage_usec 1500000\n");
        write(
            &v2,
            "cpu.pressure",
            "some avg10=1.25 avg60=0 avg300=0 total=5\n",
        );
        write(&memory, "memory.usage_in_bytes", "4096\n");
        write(&memory, "memory.max_usage_in_bytes", "8192\n");
        write(&memory, "memory.limit_in_bytes", "9223372036854771712\n");
        write(
            &memory,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        );
        write(&pids, "pids.current", "3\n");
        write(&pids, "pids.max", "max\n");
        let dirs = ServiceCgroups {
            v2: v2.clone(),
            v1_memory: Some(memory),
            v1_cpu: None,
            v1_pids: Some(pids),
        };
        let usage = read_usage(&dirs).unwrap();
        assert_eq!(usage.cpu_usage_seconds, Some(1.5));
        assert_eq!(usage.memory_current_bytes, Some(4096));
        assert_eq!(usage.memory_peak_bytes, Some(8192));
        assert_eq!(usage.memory_max_bytes, None, "v1's unlimited is no limit");
        assert_eq!(usage.oom_kills, Some(2));
        assert_eq!((usage.pids_current, usage.pids_max), (Some(3), None));
        let pressure = usage.pressure.unwrap();
        assert_eq!(pressure.cpu_some_avg10, Some(1.25));
        assert_eq!(pressure.io_some_avg10, None);
        std::fs::remove_file(v2.join("cpu.stat")).unwrap();
        assert!(
            read_usage(&dirs).is_none(),
            "no cgroup2 directory, no figures"
        );
    }
}
