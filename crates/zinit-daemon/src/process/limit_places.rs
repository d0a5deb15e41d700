//! Where each controller of a service's limits lives on this machine, and
//! putting a service's limits there before each run.
//!
//! A controller that zinit's cgroup2 base offers (`cgroup.controllers`) is
//! enabled in the base's `cgroup.subtree_control` the first time a service
//! needs it, and its limits are written into the service's cgroup2
//! directory. One that cgroup2 does not offer, but that has a v1 hierarchy
//! (a hybrid host), is used there: the service gets `NAME.service` in that
//! hierarchy too, below zinit's own v1 cgroup (and the base's name, when
//! the base is not zinit's own cgroup), and joins it between fork and exec
//! like its cgroup2 directory. A controller with neither leaves its limits
//! unapplied, reported by key: a service is never refused for it.

use super::cgroup::dir_name;
use super::cgroup_v1::own_v1_dir;
use super::limits::{self, Controller, NotApplied};
use super::mountinfo::parse_mountinfo;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use zinit_core::spec::Resources;

/// zinit's own leaf when it must leave a cgroup2 base it sits in, so the
/// base can delegate controllers to its children ("no internal processes").
/// Not a `.service` name, so never taken for a service.
pub const OWN_LEAF: &str = "init.scope";

/// Where each controller is, found once at start.
#[derive(Debug)]
pub struct LimitPlaces {
    base: PathBuf,
    /// zinit's own process is in `base` (PID 1 using its own cgroup).
    base_is_own: bool,
    /// Controllers the cgroup2 base offers.
    v2: BTreeSet<Controller>,
    /// Controllers served by a v1 hierarchy instead: the directory the
    /// service cgroups go into.
    v1: BTreeMap<Controller, PathBuf>,
    /// blkio's weight file, when blkio is used from v1.
    v1_io_file: Option<&'static str>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    enabled: BTreeSet<Controller>,
    /// v1 directories zinit made (removed at exit, deepest first).
    made: BTreeSet<PathBuf>,
    /// The limits last written for each service.
    last: HashMap<String, Resources>,
}

/// What [`LimitPlaces::prepare`] did for one run.
#[derive(Debug, Default)]
pub struct Prepared {
    /// v1 cgroups the run joins, besides its cgroup2 directory.
    pub join: Vec<PathBuf>,
    /// The limits not in force, and why.
    pub not_applied: Vec<NotApplied>,
    /// The v1 memory cgroup, when memory is limited there (OOM counter and
    /// memory figures come from it).
    pub v1_memory: Option<PathBuf>,
}

impl LimitPlaces {
    /// Look at the base's controllers and the v1 hierarchies.
    pub fn discover(base: &Path, base_is_own: bool) -> LimitPlaces {
        let offered = std::fs::read_to_string(base.join("cgroup.controllers")).unwrap_or_default();
        let v2: BTreeSet<Controller> = Controller::ALL
            .into_iter()
            .filter(|c| offered.split_whitespace().any(|o| o == c.v2_name()))
            .collect();
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .map(|t| parse_mountinfo(&t))
            .unwrap_or_default();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let suffix = (!base_is_own).then(|| base.file_name()).flatten();
        let mut v1 = BTreeMap::new();
        let mut v1_io_file = None;
        for controller in Controller::ALL.into_iter().filter(|c| !v2.contains(c)) {
            let Some(own_dir) = own_v1_dir(&mounts, &own, controller.v1_name()) else {
                continue;
            };
            if controller == Controller::Io {
                v1_io_file = ["blkio.bfq.weight", "blkio.weight"]
                    .into_iter()
                    .find(|f| own_dir.join(f).exists());
            }
            let dir = match suffix {
                Some(name) => own_dir.join(name),
                None => own_dir,
            };
            v1.insert(controller, dir);
        }
        LimitPlaces {
            base: base.to_owned(),
            base_is_own,
            v2,
            v1,
            v1_io_file,
            state: Mutex::new(State::default()),
        }
    }

    /// No controller anywhere (tests, and `--cgroup` on a bare mount).
    #[cfg(test)]
    pub fn none(base: &Path) -> LimitPlaces {
        LimitPlaces {
            base: base.to_owned(),
            base_is_own: false,
            v2: BTreeSet::new(),
            v1: BTreeMap::new(),
            v1_io_file: None,
            state: Mutex::new(State::default()),
        }
    }

    /// One line for zinit's log: which controller is used from where.
    pub fn describe(&self) -> String {
        let part = |c: Controller| match (self.v2.contains(&c), self.v1.get(&c)) {
            (true, _) => format!("{} (cgroup2)", c.v2_name()),
            (false, Some(dir)) => format!("{} (cgroup v1, {})", c.v2_name(), dir.display()),
            (false, None) => format!("{} (none)", c.v2_name()),
        };
        let parts: Vec<String> = Controller::ALL.into_iter().map(part).collect();
        format!("resource limits: {}", parts.join(", "))
    }

    /// The limits of `r` that this machine cannot apply, and why, known
    /// without starting anything (for warnings at load).
    pub fn unsupported(&self, r: &Resources) -> Vec<NotApplied> {
        let mut missing = Vec::new();
        for controller in Controller::needed_by(r) {
            if self.v2.contains(&controller) {
                continue;
            }
            if self.v1.contains_key(&controller) {
                let io = self.v1_io_file;
                missing.extend(limits::v1_writes(r, controller, io).1);
            } else {
                missing.extend(self.nowhere(r, controller));
            }
        }
        missing
    }

    fn nowhere(&self, r: &Resources, controller: Controller) -> Vec<NotApplied> {
        controller
            .keys_set(r)
            .into_iter()
            .map(|key| NotApplied {
                key,
                reason: format!(
                    "no {} controller: the cgroup2 base {} does not offer it and no cgroup v1 \
                     {} hierarchy is mounted",
                    controller.v2_name(),
                    self.base.display(),
                    controller.v1_name()
                ),
            })
            .collect()
    }

    /// Put `r` in force for the next run of service `name`, whose cgroup2
    /// directory is `dir`. Limits dropped from the file since the last run
    /// are lifted. Nothing is written for a service that never had limits.
    pub fn prepare(&self, name: &str, dir: &Path, r: &Resources) -> Prepared {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = state.last.insert(name.to_owned(), *r).unwrap_or_default();
        let mut prepared = Prepared::default();
        if !r.any() && !previous.any() {
            return prepared;
        }
        let mut controllers = Controller::needed_by(r);
        for c in Controller::needed_by(&previous) {
            if !controllers.contains(&c) {
                controllers.push(c);
            }
        }
        for controller in controllers {
            let needed = Controller::needed_by(r).contains(&controller);
            if self.v2.contains(&controller) {
                match self.enable(&mut state, controller) {
                    Ok(()) => prepared
                        .not_applied
                        .extend(limits::apply(dir, &limits::v2_writes(r, controller))),
                    Err(e) if needed => {
                        prepared
                            .not_applied
                            .extend(controller.keys_set(r).into_iter().map(|key| NotApplied {
                                key,
                                reason: format!(
                                    "cannot enable the {} controller in {}: {e}",
                                    controller.v2_name(),
                                    self.base.join("cgroup.subtree_control").display()
                                ),
                            }));
                    }
                    Err(_) => {}
                }
            } else if let Some(v1_base) = self.v1.get(&controller) {
                if !needed {
                    // The run does not join it: nothing to lift.
                    continue;
                }
                let v1_dir = v1_base.join(dir_name(name));
                if let Err(e) = make_dirs(&mut state.made, v1_base, &v1_dir) {
                    prepared
                        .not_applied
                        .extend(controller.keys_set(r).into_iter().map(|key| NotApplied {
                            key,
                            reason: format!("cannot create cgroup {}: {e}", v1_dir.display()),
                        }));
                    continue;
                }
                let (writes, missing) = limits::v1_writes(r, controller, self.v1_io_file);
                prepared.not_applied.extend(missing);
                prepared.not_applied.extend(limits::apply(&v1_dir, &writes));
                if controller == Controller::Memory {
                    prepared.v1_memory = Some(v1_dir.clone());
                }
                prepared.join.push(v1_dir);
            } else if needed {
                prepared.not_applied.extend(self.nowhere(r, controller));
            }
        }
        prepared
    }

    /// `+controller` in the base's `cgroup.subtree_control`, once. A base
    /// that holds zinit itself cannot delegate ("no internal processes"):
    /// zinit first moves into its own leaf, [`OWN_LEAF`].
    fn enable(&self, state: &mut State, controller: Controller) -> io::Result<()> {
        if state.enabled.contains(&controller) {
            return Ok(());
        }
        let control = self.base.join("cgroup.subtree_control");
        let line = format!("+{}", controller.v2_name());
        let result = match std::fs::write(&control, &line) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && self.base_is_own => {
                let leaf = self.base.join(OWN_LEAF);
                match std::fs::create_dir(&leaf) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
                std::fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())?;
                tracing::info!(
                    "moved zinit into {} so that {} can delegate controllers",
                    leaf.display(),
                    self.base.display()
                );
                std::fs::write(&control, &line)
            }
            other => other,
        };
        result.map(|()| {
            state.enabled.insert(controller);
        })
    }

    /// The v1 directory of `controller` for service `name`, if limits put
    /// the service there (it may not exist).
    pub fn v1_dir(&self, controller: Controller, name: &str) -> Option<PathBuf> {
        self.v1
            .get(&controller)
            .map(|base| base.join(dir_name(name)))
    }

    /// Service `name` is gone: remove its v1 directories (empty by now, or
    /// soon: this runs off the actor after its cgroup2 directory emptied).
    pub fn forget(&self, name: &str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last.remove(name);
        for base in self.v1.values() {
            let dir = base.join(dir_name(name));
            if state.made.remove(&dir) {
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }

    /// At exit: remove every v1 directory zinit made, deepest first.
    pub fn clean_up_at_exit(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for dir in std::mem::take(&mut state.made).iter().rev() {
            if let Err(e) = std::fs::remove_dir(dir) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::debug!("cannot remove cgroup {}: {e}", dir.display());
                }
            }
        }
    }
}

/// Create `base` (if missing) and `dir` in it, remembering what was made.
fn make_dirs(made: &mut BTreeSet<PathBuf>, base: &Path, dir: &Path) -> io::Result<()> {
    for path in [base, dir] {
        match std::fs::create_dir(path) {
            Ok(()) => {
                made.insert(path.to_owned());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // A predecessor's: ours to remove as well.
                made.insert(path.to_owned());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zinit_core::spec::CpuQuota;

    fn fake(dir: &Path, v2: &[Controller], v1: &[(Controller, PathBuf)]) -> LimitPlaces {
        let mut places = LimitPlaces::none(dir);
        places.v2 = v2.iter().copied().collect();
        places.v1 = v1.iter().cloned().collect();
        places
    }

    #[test]
    fn v2_limits_enable_the_controller_and_are_lifted_when_dropped() {
        let base = tempfile::tempdir().unwrap();
        let service = base.path().join("web.service");
        std::fs::create_dir(&service).unwrap();
        let places = fake(base.path(), &[Controller::Pids, Controller::Cpu], &[]);
        let r = Resources {
            pids_max: Some(10),
            cpu: Some(CpuQuota(250_000)),
            ..Resources::default()
        };
        let prepared = places.prepare("web", &service, &r);
        assert!(
            prepared.not_applied.is_empty(),
            "{:?}",
            prepared.not_applied
        );
        assert!(prepared.join.is_empty());
        let read = |f: &str| std::fs::read_to_string(service.join(f)).unwrap();
        assert_eq!(read("pids.max"), "10");
        assert_eq!(read("cpu.max"), "25000 100000");
        // A regular file stands in for cgroup.subtree_control: the last
        // write wins, and both controllers were enabled once.
        let control = std::fs::read_to_string(base.path().join("cgroup.subtree_control")).unwrap();
        assert!(control == "+cpu" || control == "+pids", "{control}");
        // Dropped from the file: lifted at the next run.
        let prepared = places.prepare("web", &service, &Resources::default());
        assert!(prepared.not_applied.is_empty());
        assert_eq!(read("pids.max"), "max");
        assert_eq!(read("cpu.max"), "max 100000");
        // A service that never had limits gets no writes at all.
        let other = base.path().join("other.service");
        let prepared = places.prepare("other", &other, &Resources::default());
        assert!(prepared.not_applied.is_empty());
        assert!(!other.exists());
    }

    #[test]
    fn v1_limits_go_to_a_directory_the_run_joins() {
        let root = tempfile::tempdir().unwrap();
        let v1_base = root.path().join("memory").join("zinit-x");
        std::fs::create_dir(root.path().join("memory")).unwrap();
        let places = fake(root.path(), &[], &[(Controller::Memory, v1_base.clone())]);
        let r = Resources {
            memory_max: Some(1 << 20),
            memory_high: Some(1 << 19),
            pids_max: Some(5),
            ..Resources::default()
        };
        let prepared = places.prepare("web", &root.path().join("web.service"), &r);
        let dir = v1_base.join("web.service");
        assert_eq!(prepared.join, vec![dir.clone()]);
        assert_eq!(prepared.v1_memory, Some(dir.clone()));
        assert_eq!(
            std::fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap(),
            "1048576"
        );
        let keys: Vec<&str> = prepared.not_applied.iter().map(|n| n.key).collect();
        assert_eq!(keys, vec!["resources.memory_high", "resources.pids_max"]);
        assert!(prepared.not_applied[1]
            .reason
            .contains("no pids controller"));
        assert_eq!(
            places
                .unsupported(&r)
                .iter()
                .map(|n| n.key)
                .collect::<Vec<_>>(),
            keys
        );
        // cgroupfs removes a directory with its interface files; a temp
        // dir needs them gone first.
        for entry in std::fs::read_dir(&dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        places.forget("web");
        assert!(!dir.exists());
        places.clean_up_at_exit();
        assert!(!v1_base.exists());
    }
}
