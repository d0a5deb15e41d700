//! How many control connections are open, and which of them are idle.
//!
//! A connection is *idle* while it waits for a request line and has no log
//! stream: it costs a file descriptor and does nothing. When every slot is
//! taken, the connection idle the longest is closed to make room, so
//! thousands of silent or trickling clients never lock out the one with a
//! real request. A connection that streams logs or is being answered is
//! never closed for room; when all of them are, a new one is refused.
//!
//! Must not: block (a plain mutex around a small map, held for a few
//! instructions).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::Notify;

/// Open connections at most, whatever the fd limit allows.
pub const MAX_CONNECTIONS: usize = 512;

/// How many descriptors the control socket may take, derived from the
/// soft `RLIMIT_NOFILE`: connections served, connections closed for room
/// that have not gone yet, and refused ones being told why together stay
/// within half of it. The other half is the reserve supervision needs: two
/// pipes per running service, the pipes and `/dev/null` of each spawn, log
/// files, /proc reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Connections served at once.
    pub connections: usize,
    /// Connections closed for room that may still be open on top.
    pub closing: usize,
    /// Refused connections waiting for their request, at once.
    pub refusing: usize,
}

impl Budget {
    /// The budget under a soft limit of `nofile` descriptors.
    pub fn for_nofile(nofile: u64) -> Budget {
        // connections * (1 + 1/8 + 1/16) <= nofile / 2
        let half = usize::try_from(nofile / 2).unwrap_or(usize::MAX);
        let connections = (half / 19).saturating_mul(16).clamp(1, MAX_CONNECTIONS);
        Budget {
            connections,
            closing: (connections / 8).max(1),
            refusing: (connections / 16).max(1),
        }
    }

    /// The budget under the fd limit zinit has right now (it may be
    /// changed from outside with prlimit(1)).
    pub fn current() -> Budget {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit into the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            Budget::for_nofile(limit.rlim_cur)
        } else {
            Budget::for_nofile(u64::MAX)
        }
    }
}

/// Every open connection, and the idle ones by the time they became idle.
#[derive(Default)]
pub struct Slots {
    inner: Mutex<Inner>,
    /// Signalled whenever a connection closes or becomes idle.
    changed: Notify,
}

#[derive(Default)]
struct Inner {
    open: usize,
    /// Admitted, not yet looked at by their own task.
    fresh: usize,
    /// Told to close for room, not gone yet.
    evicting: usize,
    next_id: u64,
    /// (idle since, id) -> how to tell that connection to close.
    idle: BTreeMap<(Instant, u64), Arc<Notify>>,
}

/// What a new connection gets.
pub enum Admission {
    Admitted(Slot),
    /// Every connection is busy (answering or streaming logs): refuse.
    Full {
        limit: usize,
    },
    /// Connections are about to close or to show whether they are idle:
    /// wait for [`Slots::changed`], then ask again.
    Wait,
}

impl Slots {
    /// A slot for a new connection within `budget`: a free one, or the one
    /// of the connection idle the longest, which is told to close.
    pub fn admit(self: &Arc<Self>, budget: Budget) -> Admission {
        let limit = budget.connections;
        let mut inner = self.lock();
        if inner.open >= limit {
            if !inner.idle.is_empty() && inner.open < limit + budget.closing {
                inner.evict_oldest();
            } else if inner.fresh > 0 || inner.evicting > 0 || !inner.idle.is_empty() {
                return Admission::Wait;
            } else {
                return Admission::Full { limit };
            }
        }
        inner.open += 1;
        inner.fresh += 1;
        inner.next_id += 1;
        let id = inner.next_id;
        drop(inner);
        Admission::Admitted(Slot {
            slots: self.clone(),
            id,
            state: State::Fresh,
            close: Arc::new(Notify::new()),
        })
    }

    /// Resolves once a connection closed or became idle since the last
    /// call (or now).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Wake every accept loop waiting in [`changed`](Self::changed) (one
    /// per socket path), or the next one to wait if none is.
    fn signal_change(&self) {
        self.changed.notify_waiters();
        self.changed.notify_one();
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().open
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The counts stay consistent even if a holder panicked.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn evict_oldest(&mut self) {
        if let Some((_, close)) = self.idle.pop_first() {
            self.evicting += 1;
            // A stored permit: the connection sees it at its next wait
            // even if it is not waiting at this very instant.
            close.notify_one();
        }
    }
}

/// Where one connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Fresh,
    Idle((Instant, u64)),
    Busy,
    /// Chosen to make room; it closes at its next wait.
    Evicted,
}

/// One open connection's place; freed when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    state: State,
    close: Arc<Notify>,
}

impl Slot {
    /// The connection waits for a request: it may be closed for room.
    pub fn idle(&mut self) {
        let mut inner = self.slots.lock();
        match self.state {
            State::Fresh => inner.fresh -= 1,
            State::Busy => {}
            State::Idle(_) | State::Evicted => return,
        }
        let key = (Instant::now(), self.id);
        inner.idle.insert(key, self.close.clone());
        self.state = State::Idle(key);
        drop(inner);
        self.slots.signal_change();
    }

    /// The connection is being answered or streams logs: it is kept.
    pub fn busy(&mut self) {
        let mut inner = self.slots.lock();
        self.state = match self.state {
            State::Fresh => {
                inner.fresh -= 1;
                State::Busy
            }
            State::Idle(key) if inner.idle.remove(&key).is_some() => State::Busy,
            // Evicted meanwhile: still counted as closing.
            State::Idle(_) | State::Evicted => State::Evicted,
            State::Busy => State::Busy,
        };
    }

    /// Resolves when the connection was chosen to make room.
    pub async fn evicted(&self) {
        self.close.notified().await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.slots.lock();
        match self.state {
            State::Fresh => inner.fresh -= 1,
            State::Idle(key) if inner.idle.remove(&key).is_some() => {}
            State::Idle(_) | State::Evicted => inner.evicting -= 1,
            State::Busy => {}
        }
        inner.open -= 1;
        drop(inner);
        self.slots.signal_change();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const EVICTION_SLACK: usize = 4;

    fn budget(connections: usize, closing: usize) -> Budget {
        Budget {
            connections,
            closing,
            refusing: 1,
        }
    }

    #[test]
    fn the_socket_takes_at_most_half_the_fd_limit() {
        let b = |n| {
            let b = Budget::for_nofile(n);
            (b.connections, b.closing, b.refusing)
        };
        assert_eq!(b(64), (16, 2, 1));
        assert_eq!(b(1024), (416, 52, 26));
        assert_eq!(b(1216), (512, 64, 32));
        assert_eq!(b(1 << 20), (512, 64, 32));
        assert_eq!(b(u64::MAX), (512, 64, 32));
        assert_eq!(b(0), (1, 1, 1));
        for n in [64, 100, 1000, 1024, 4096, 65536] {
            let (c, x, r) = b(n);
            assert!(c + x + r <= n as usize / 2, "{n}: {c}+{x}+{r}");
        }
    }

    fn admitted(admission: Admission) -> Slot {
        match admission {
            Admission::Admitted(slot) => slot,
            Admission::Full { .. } => panic!("full"),
            Admission::Wait => panic!("wait"),
        }
    }

    #[tokio::test]
    async fn fresh_connections_are_waited_for_not_refused() {
        let slots = Arc::new(Slots::default());
        let mut first = admitted(slots.admit(budget(1, EVICTION_SLACK)));
        // Its task has not run yet: neither idle nor busy.
        assert!(matches!(
            slots.admit(budget(1, EVICTION_SLACK)),
            Admission::Wait
        ));
        first.idle();
        tokio::time::timeout(Duration::from_secs(5), slots.changed())
            .await
            .unwrap();
        let second = admitted(slots.admit(budget(1, EVICTION_SLACK)));
        tokio::time::timeout(Duration::from_secs(5), first.evicted())
            .await
            .unwrap();
        // Closing for room but read its request meanwhile: answered, then
        // closed; still counted as leaving.
        first.busy();
        assert!(matches!(
            slots.admit(budget(1, EVICTION_SLACK)),
            Admission::Wait
        ));
        drop(first);
        assert_eq!(slots.open(), 1);
        drop(second);
        assert_eq!(slots.open(), 0);
    }

    #[tokio::test]
    async fn the_longest_idle_connection_makes_room_and_busy_ones_never_do() {
        let slots = Arc::new(Slots::default());
        let mut first = admitted(slots.admit(budget(2, 64)));
        let mut second = admitted(slots.admit(budget(2, 64)));
        first.busy();
        second.busy();
        // Both busy: no room.
        assert!(matches!(
            slots.admit(budget(2, 64)),
            Admission::Full { limit: 2 }
        ));
        first.idle();
        second.idle();
        let mut third = admitted(slots.admit(budget(2, 64)));
        third.busy();
        assert_eq!(
            slots.open(),
            3,
            "the evicted one holds its slot until it closes"
        );
        tokio::time::timeout(Duration::from_secs(5), first.evicted())
            .await
            .expect("the oldest idle connection is told to close");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), second.evicted())
                .await
                .is_err(),
            "only one is closed per new connection"
        );
        drop(first);
        assert_eq!(slots.open(), 2);
        // Busy again: no longer a candidate.
        second.busy();
        assert!(matches!(slots.admit(budget(2, 64)), Admission::Full { .. }));
        drop((second, third));
        assert_eq!(slots.open(), 0);
    }

    #[tokio::test]
    async fn eviction_overshoot_is_bounded() {
        let slots = Arc::new(Slots::default());
        let mut kept = Vec::new();
        for _ in 0..(1 + EVICTION_SLACK) {
            let mut slot = admitted(slots.admit(budget(1, EVICTION_SLACK)));
            slot.idle();
            kept.push(slot);
        }
        // None of the evicted ones has closed yet: wait for one to go.
        assert!(matches!(
            slots.admit(budget(1, EVICTION_SLACK)),
            Admission::Wait
        ));
        drop(kept.remove(0));
        tokio::time::timeout(Duration::from_secs(5), slots.changed())
            .await
            .unwrap();
        admitted(slots.admit(budget(1, EVICTION_SLACK)));
    }
}
