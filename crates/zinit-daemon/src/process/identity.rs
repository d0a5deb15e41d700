//! The process attributes of a run, prepared in the parent: the service's
//! `user` and `group` looked up (names, primary group, supplementary
//! groups as `initgroups` would set them, the account's variables) and its
//! limits, `nice`, `oom_score_adj` and `umask` as raw values, so the child
//! only makes system calls between `fork` and `exec`.
//!
//! Never silently zinit's own user: an unknown name, or another user or
//! group asked of a zinit that is not root, is an error (the run fails
//! with it as its reason), and [`load_warnings`] says so at load when it
//! can already be known.

use nix::unistd::{Gid, Group, Uid, User};
use std::ffi::CString;
use zinit_core::spec::{Account, Limit, Resource, ServiceSpec};

/// What the child sets before exec, beyond the clean start every child
/// gets. The default changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChildSetup {
    /// Resource limits: the key's name, the resource, soft and hard.
    pub limits: Vec<RawLimit>,
    pub nice: Option<i32>,
    pub oom_score_adj: Option<i32>,
    pub umask: Option<u32>,
    /// `None`: keep zinit's user and groups.
    pub credentials: Option<Credentials>,
}

/// One resource limit as setrlimit(2) takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLimit {
    pub resource: Resource,
    pub soft: u64,
    pub hard: u64,
}

impl RawLimit {
    /// `limits.nofile`, for messages.
    pub fn key(&self) -> String {
        format!("limits.{}", self.resource.name())
    }

    pub fn text(&self) -> String {
        let show = |v: u64| match v {
            libc::RLIM_INFINITY => "unlimited".to_owned(),
            v => v.to_string(),
        };
        if self.soft == self.hard {
            show(self.soft)
        } else {
            format!("{}:{}", show(self.soft), show(self.hard))
        }
    }
}

/// The user and groups a run switches to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// `None`: only the group changes (`group` without `user`).
    pub uid: Option<u32>,
    pub gid: u32,
    /// Supplementary groups; `None`: keep zinit's.
    pub groups: Option<Vec<u32>>,
}

/// A run's identity: what the child switches to and the account's
/// variables (`HOME`, `USER`, `LOGNAME`, `SHELL`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub credentials: Option<Credentials>,
    pub env: Vec<(String, String)>,
}

/// Everything the child sets up for `spec`, with its identity resolved;
/// an error is the reason the run fails.
pub fn prepare(spec: &ServiceSpec) -> Result<(ChildSetup, Vec<(String, String)>), String> {
    let identity = resolve(spec.user.as_ref(), spec.group.as_ref())?;
    let raw = |l: Limit| match l {
        Limit::Value(v) => v,
        Limit::Unlimited => libc::RLIM_INFINITY,
    };
    let setup = ChildSetup {
        limits: spec
            .limits
            .iter()
            .map(|(resource, limit)| RawLimit {
                resource: *resource,
                soft: raw(limit.soft),
                hard: raw(limit.hard),
            })
            .collect(),
        nice: spec.nice,
        oom_score_adj: spec.oom_score_adj,
        umask: spec.umask,
        credentials: identity.credentials,
    };
    Ok((setup, identity.env))
}

/// Look up `user` and `group`, and check that zinit may switch to them.
pub fn resolve(user: Option<&Account>, group: Option<&Account>) -> Result<Identity, String> {
    let group_id = match group {
        None => None,
        Some(Account::Id(id)) => Some(*id),
        Some(Account::Name(name)) => match Group::from_name(name) {
            Ok(Some(g)) => Some(g.gid.as_raw()),
            Ok(None) => return Err(format!("unknown group {name:?}")),
            Err(e) => return Err(format!("cannot look up group {name:?}: {e}")),
        },
    };
    let mut identity = Identity::default();
    let credentials = match user {
        None => group_id.map(|gid| Credentials {
            uid: None,
            gid,
            groups: None,
        }),
        Some(account) => {
            let found = match account {
                Account::Name(name) => match User::from_name(name) {
                    Ok(Some(u)) => Some(u),
                    Ok(None) => return Err(format!("unknown user {name:?}")),
                    Err(e) => return Err(format!("cannot look up user {name:?}: {e}")),
                },
                Account::Id(id) => User::from_uid(Uid::from_raw(*id))
                    .map_err(|e| format!("cannot look up user {id}: {e}"))?,
            };
            Some(match found {
                Some(u) => {
                    let gid = group_id.unwrap_or(u.gid.as_raw());
                    identity.env = vec![
                        ("HOME".to_owned(), u.dir.to_string_lossy().into_owned()),
                        ("USER".to_owned(), u.name.clone()),
                        ("LOGNAME".to_owned(), u.name.clone()),
                        ("SHELL".to_owned(), u.shell.to_string_lossy().into_owned()),
                    ];
                    Credentials {
                        uid: Some(u.uid.as_raw()),
                        gid,
                        groups: Some(supplementary_groups(&u.name, gid)?),
                    }
                }
                // A bare id without an account: no name to list groups of.
                None => {
                    let Account::Id(id) = account else {
                        unreachable!("names were looked up above")
                    };
                    Credentials {
                        uid: Some(*id),
                        gid: group_id.unwrap_or(*id),
                        groups: Some(Vec::new()),
                    }
                }
            })
        }
    };
    identity.credentials = credentials.map(check_allowed).transpose()?;
    Ok(identity)
}

/// The groups the group database lists for `user`, and `gid`.
fn supplementary_groups(user: &str, gid: u32) -> Result<Vec<u32>, String> {
    let name = CString::new(user).map_err(|_| format!("invalid user name {user:?}"))?;
    let groups = nix::unistd::getgrouplist(&name, Gid::from_raw(gid))
        .map_err(|e| format!("cannot list the groups of user {user:?}: {e}"))?;
    Ok(groups.into_iter().map(Gid::as_raw).collect())
}

/// A zinit that is not root can only "switch" to itself; it keeps its
/// supplementary groups then (it may not change them).
fn check_allowed(mut creds: Credentials) -> Result<Credentials, String> {
    let (euid, egid) = (Uid::effective().as_raw(), Gid::effective().as_raw());
    if euid == 0 {
        return Ok(creds);
    }
    if let Some(uid) = creds.uid.filter(|uid| *uid != euid) {
        return Err(format!(
            "cannot run as user {uid}: zinit runs as user {euid}, not root"
        ));
    }
    if creds.gid != egid {
        return Err(format!(
            "cannot run with group {}: zinit runs with group {egid}, not as root",
            creds.gid
        ));
    }
    creds.groups = None;
    Ok(creds)
}

/// What can already be known at load time to make every run of `spec`
/// fail: an unknown user or group, or one a zinit that is not root cannot
/// switch to. Each as `(key, message)`.
pub fn load_warnings(spec: &ServiceSpec) -> Vec<(&'static str, String)> {
    if spec.user.is_none() && spec.group.is_none() {
        return Vec::new();
    }
    match resolve(spec.user.as_ref(), spec.group.as_ref()) {
        Ok(_) => Vec::new(),
        Err(reason) => {
            let about_group = [
                "unknown group",
                "cannot look up group",
                "cannot run with group",
            ];
            let key = if spec.user.is_none() || about_group.iter().any(|p| reason.starts_with(p)) {
                "group"
            } else {
                "user"
            };
            vec![(key, format!("{reason}: every start will fail"))]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_are_errors() {
        let missing = Account::Name("zinit-no-such-user".into());
        assert_eq!(
            resolve(Some(&missing), None),
            Err("unknown user \"zinit-no-such-user\"".to_owned())
        );
        let missing = Account::Name("zinit-no-such-group".into());
        assert_eq!(
            resolve(None, Some(&missing)),
            Err("unknown group \"zinit-no-such-group\"".to_owned())
        );
    }

    #[test]
    fn our_own_user_is_always_allowed() {
        let me = Uid::effective().as_raw();
        let identity = resolve(Some(&Account::Id(me)), None).unwrap();
        let creds = identity.credentials.unwrap();
        assert_eq!(creds.uid, Some(me));
        if me != 0 {
            assert_eq!(creds.groups, None);
        }
    }

    #[test]
    fn a_named_account_sets_its_variables() {
        let root = resolve(Some(&Account::Name("root".into())), None).unwrap();
        assert!(root.env.contains(&("USER".to_owned(), "root".to_owned())));
        assert!(root
            .env
            .contains(&("LOGNAME".to_owned(), "root".to_owned())));
        assert!(root.env.iter().any(|(k, _)| k == "HOME"));
        assert!(root.env.iter().any(|(k, _)| k == "SHELL"));
    }

    #[test]
    fn limits_are_raw_values() {
        let mut spec = zinit_core::config::parse_service(
            "t.yaml",
            "exec: x\nlimits: {nofile: \"10:20\", core: unlimited}\nnice: 3\numask: \"077\"\n",
        )
        .unwrap()
        .spec;
        spec.oom_score_adj = Some(5);
        let (setup, env) = prepare(&spec).unwrap();
        assert!(env.is_empty());
        assert_eq!(setup.nice, Some(3));
        assert_eq!(setup.umask, Some(0o077));
        assert_eq!(setup.oom_score_adj, Some(5));
        assert_eq!(setup.credentials, None);
        let texts: Vec<_> = setup.limits.iter().map(|l| (l.key(), l.text())).collect();
        assert_eq!(
            texts,
            [
                ("limits.core".to_owned(), "unlimited".to_owned()),
                ("limits.nofile".to_owned(), "10:20".to_owned())
            ]
        );
    }
}
