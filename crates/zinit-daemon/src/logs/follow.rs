//! Followers: cursors over the hub's rings (no broadcast channel, so a
//! follower holds no lines of its own and costs pushers nothing while it
//! is busy).
//!
//! A follower keeps, per service of its view, the index of the next line
//! it expects. Because a service's lines are evicted oldest first, the
//! first kept line at or after that index tells exactly how many lines the
//! follower lost: that is the gap it reports before the line.

use super::ring::Ring;
use super::{LogHub, LogLine};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What a follower yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowItem {
    Line(Arc<LogLine>),
    /// Lines of the view were dropped before this follower read them.
    /// `None` only first, after a resume (`AfterSeq`) on one service whose
    /// count cannot be known (see [`super::LogRead::missed`]).
    Gap {
        missed: Option<u64>,
    },
}

/// A reader that follows a view of the hub. Made by [`LogHub::follow`].
pub struct Follower {
    hub: Arc<LogHub>,
    /// `None`: every service.
    service: Option<Arc<str>>,
    /// For the one-service view, its slot once it exists.
    slot: Option<usize>,
    /// Per slot id: the index of the next line this follower expects.
    /// Slots created after the follower start at 0 (all their lines are
    /// new to it).
    expect: Vec<u64>,
    /// A gap to report first (resuming after a seq).
    initial_gap: Option<Option<u64>>,
}

impl Follower {
    pub(super) fn new(
        hub: Arc<LogHub>,
        service: Option<Arc<str>>,
        expect: Vec<u64>,
        initial_gap: Option<Option<u64>>,
    ) -> Follower {
        Follower {
            hub,
            service,
            slot: None,
            expect,
            initial_gap,
        }
    }

    /// The next items, in seq order: waits until there is at least one,
    /// returns at most `max` (at least 1). Cancel-safe: a dropped call
    /// loses nothing.
    pub async fn next_batch(&mut self, max: usize) -> Vec<FollowItem> {
        let max = max.max(1);
        let hub = Arc::clone(&self.hub);
        loop {
            let notified = hub.notify.notified();
            tokio::pin!(notified);
            {
                let mut ring = hub.lock();
                let items = self.collect(&mut ring, max);
                if !items.is_empty() {
                    return items;
                }
                // Registered before the lock is released: a push after
                // this point sees the waiter and wakes us.
                notified.as_mut().enable();
                hub.waiters.fetch_add(1, Ordering::SeqCst);
            }
            let _waiting = Waiting(&hub.waiters);
            notified.await;
        }
    }

    /// The available items, at most `max`, without waiting.
    pub fn try_next_batch(&mut self, max: usize) -> Vec<FollowItem> {
        let hub = Arc::clone(&self.hub);
        let mut ring = hub.lock();
        self.collect(&mut ring, max.max(1))
    }

    fn collect(&mut self, ring: &mut Ring, max: usize) -> Vec<FollowItem> {
        let mut out = Vec::new();
        let mut missed_total = 0;
        if let Some(missed) = self.initial_gap.take() {
            missed_total += missed.unwrap_or(0);
            out.push(FollowItem::Gap { missed });
        }
        if self.expect.len() < ring.slots.len() {
            self.expect.resize(ring.slots.len(), 0);
        }
        let view: Vec<usize> = match &self.service {
            None => (0..ring.slots.len()).collect(),
            Some(name) => {
                if self.slot.is_none() {
                    self.slot = ring.slot_of(name);
                }
                self.slot.into_iter().collect()
            }
        };
        let start: Vec<usize> = view
            .iter()
            .map(|&id| {
                let first = ring.slots[id].first_kept();
                self.expect[id].saturating_sub(first) as usize
            })
            .collect();
        let expect = &mut self.expect;
        let exhausted = ring.merge(&view, &start, |id, pos, line| {
            let index = ring.slots[id].first_kept() + pos as u64;
            let skipped = index - expect[id];
            if skipped > 0 {
                if !add_gap(&mut out, skipped, max) {
                    return false;
                }
                missed_total += skipped;
                expect[id] = index;
            }
            if out.len() >= max {
                return false;
            }
            out.push(FollowItem::Line(Arc::clone(line)));
            expect[id] = index + 1;
            true
        });
        if exhausted {
            // Every kept line was read: what is left was dropped unread.
            let skipped: u64 = view
                .iter()
                .map(|&id| ring.slots[id].total - expect[id])
                .sum();
            if skipped > 0 && add_gap(&mut out, skipped, max) {
                missed_total += skipped;
                for &id in &view {
                    expect[id] = ring.slots[id].total;
                }
            }
        }
        ring.follower_missed_total += missed_total;
        out
    }
}

/// Report `missed` lines, merged into a gap just reported; false if there
/// is no room.
fn add_gap(out: &mut Vec<FollowItem>, missed: u64, max: usize) -> bool {
    if let Some(FollowItem::Gap {
        missed: Some(before),
    }) = out.last_mut()
    {
        *before += missed;
        return true;
    }
    if out.len() >= max {
        return false;
    }
    out.push(FollowItem::Gap {
        missed: Some(missed),
    });
    true
}

/// One follower waiting; counted down however the wait ends.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
