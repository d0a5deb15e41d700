//! The per-service rings behind [`LogHub`](super::LogHub) and the
//! fair-share eviction policy. Everything here runs under the hub's lock.
//!
//! Each service has its own queue of kept lines, oldest first. A line's
//! position among its service's lines ever pushed (its *index*) is never
//! stored: a service's queue always holds indices
//! `first_kept() .. total`, because a service's lines are only ever evicted
//! oldest first. That is what lets a follower of one service (or of all,
//! one cursor per service) know exactly how many lines it missed.

use super::{LogLine, RingLimits, Stream, LINE_OVERHEAD};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

/// What a kept line counts against the byte bound.
pub(super) fn cost(line: &LogLine) -> usize {
    line.text.len() + LINE_OVERHEAD
}

/// One service's kept lines and counters.
pub(super) struct Slot {
    pub name: Arc<str>,
    /// Kept lines, oldest first (ascending seq).
    pub lines: VecDeque<Arc<LogLine>>,
    /// Sum of [`cost`] over `lines`.
    pub bytes: usize,
    /// Lines ever pushed for this service: the index of its next line.
    pub total: u64,
    pub evicted: u64,
    /// Seq of the service's first line ever (0: none yet).
    pub first_seq: u64,
    /// Seq of the newest evicted line (0: none evicted).
    pub last_evicted_seq: u64,
}

impl Slot {
    fn new(name: Arc<str>) -> Slot {
        Slot {
            name,
            lines: VecDeque::new(),
            bytes: 0,
            total: 0,
            evicted: 0,
            first_seq: 0,
            last_evicted_seq: 0,
        }
    }

    /// Index (among the service's lines ever pushed) of the oldest kept
    /// line; equals `total` when nothing is kept.
    pub fn first_kept(&self) -> u64 {
        self.total - self.lines.len() as u64
    }

    /// How many of this service's lines with seq > `after` are no longer
    /// kept, when that can be known: evicted lines are always the oldest
    /// ones, so it is 0 if the newest evicted line is not after `after`,
    /// and all evicted lines if the service's first line is after it.
    /// Otherwise the evicted lines straddle `after` and their seqs are
    /// gone: `None`.
    pub fn missed_after(&self, after: u64) -> Option<u64> {
        let evicted = self.first_kept();
        if evicted == 0 || self.last_evicted_seq <= after {
            Some(0)
        } else if after < self.first_seq {
            Some(evicted)
        } else {
            None
        }
    }
}

/// All services' rings.
pub(super) struct Ring {
    pub slots: Vec<Slot>,
    index: HashMap<Arc<str>, usize>,
    /// The seq the next line gets; seqs start at 1.
    pub next_seq: u64,
    pub kept_lines: usize,
    pub kept_bytes: usize,
    /// Slots holding at least one line.
    holders: usize,
    pub evicted_total: u64,
    pub follower_missed_total: u64,
}

impl Ring {
    pub fn new() -> Ring {
        Ring {
            slots: Vec::new(),
            index: HashMap::new(),
            next_seq: 1,
            kept_lines: 0,
            kept_bytes: 0,
            holders: 0,
            evicted_total: 0,
            follower_missed_total: 0,
        }
    }

    pub fn slot_of(&self, service: &str) -> Option<usize> {
        self.index.get(service).copied()
    }

    /// The slots of a view: every service, or the one named (if known).
    pub fn view(&self, service: Option<&str>) -> Vec<usize> {
        match service {
            None => (0..self.slots.len()).collect(),
            Some(name) => self.slot_of(name).into_iter().collect(),
        }
    }

    fn slot_for(&mut self, service: &Arc<str>) -> usize {
        if let Some(id) = self.index.get(&**service) {
            return *id;
        }
        let id = self.slots.len();
        self.slots.push(Slot::new(Arc::clone(service)));
        self.index.insert(Arc::clone(service), id);
        id
    }

    /// Append a line (already cut) and evict until within `limits`.
    pub fn push(
        &mut self,
        limits: RingLimits,
        service: Arc<str>,
        stream: Stream,
        text: String,
        truncated: bool,
    ) -> Arc<LogLine> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = self.slot_for(&service);
        let line = Arc::new(LogLine {
            seq,
            // Under the lock, so times follow seqs (unless the clock steps).
            time: SystemTime::now(),
            service,
            stream,
            text,
            truncated,
        });
        let cost = cost(&line);
        let slot = &mut self.slots[id];
        if slot.total == 0 {
            slot.first_seq = seq;
        }
        if slot.lines.is_empty() {
            self.holders += 1;
        }
        slot.total += 1;
        slot.bytes += cost;
        slot.lines.push_back(Arc::clone(&line));
        self.kept_lines += 1;
        self.kept_bytes += cost;
        self.enforce(limits, id, cost);
        line
    }

    /// The fair-share policy: while a bound is exceeded, the pusher loses
    /// its own oldest line if it held at least its fair share of that
    /// bound (bound / services holding lines, the pusher included; the
    /// line being pushed not counted), else the service holding the most
    /// (of lines or of bytes, whichever bound is exceeded) loses its
    /// oldest. That service holds at least the average, which is above the
    /// fair share since the bound is exceeded, so a service below its fair
    /// share never loses a line to another service's output. The noisy
    /// path (pusher at or above its share) is O(1).
    fn enforce(&mut self, limits: RingLimits, pusher: usize, new_cost: usize) {
        loop {
            let slot = &self.slots[pusher];
            let victim = if self.kept_lines > limits.max_lines {
                let held = slot.lines.len().saturating_sub(1);
                if holds_fair_share(held, self.holders, limits.max_lines) {
                    pusher
                } else {
                    self.biggest(|s| s.lines.len())
                }
            } else if self.kept_bytes > limits.max_bytes {
                let held = slot.bytes.saturating_sub(new_cost);
                if holds_fair_share(held, self.holders, limits.max_bytes) {
                    pusher
                } else {
                    self.biggest(|s| s.bytes)
                }
            } else {
                return;
            };
            if !self.evict_oldest(victim) {
                return;
            }
        }
    }

    /// The slot holding the most by `key`; on a tie, the one with the
    /// oldest line.
    fn biggest(&self, key: impl Fn(&Slot) -> usize) -> usize {
        let mut best: Option<(usize, usize, u64)> = None;
        for (id, slot) in self.slots.iter().enumerate() {
            let Some(front) = slot.lines.front() else {
                continue;
            };
            let held = key(slot);
            let better = match best {
                None => true,
                Some((_, most, oldest)) => held > most || (held == most && front.seq < oldest),
            };
            if better {
                best = Some((id, held, front.seq));
            }
        }
        best.map_or(0, |(id, _, _)| id)
    }

    fn evict_oldest(&mut self, id: usize) -> bool {
        let slot = &mut self.slots[id];
        let Some(line) = slot.lines.pop_front() else {
            return false;
        };
        let cost = cost(&line);
        slot.bytes -= cost;
        slot.evicted += 1;
        slot.last_evicted_seq = line.seq;
        if slot.lines.is_empty() {
            self.holders -= 1;
        }
        self.kept_lines -= 1;
        self.kept_bytes -= cost;
        self.evicted_total += 1;
        true
    }

    /// The seq of the `n`th newest kept line of the view, or 0 when the
    /// view keeps fewer (`n > 0`).
    pub fn nth_newest_seq(&self, view: &[usize], n: usize) -> u64 {
        let mut heap: BinaryHeap<(u64, usize, usize)> = view
            .iter()
            .filter_map(|&id| {
                let lines = &self.slots[id].lines;
                lines.back().map(|l| (l.seq, id, lines.len() - 1))
            })
            .collect();
        let mut taken = 0;
        while let Some((seq, id, pos)) = heap.pop() {
            taken += 1;
            if taken == n {
                return seq;
            }
            if pos > 0 {
                heap.push((self.slots[id].lines[pos - 1].seq, id, pos - 1));
            }
        }
        0
    }

    /// Merge, in seq order, the kept lines of `view` from per-slot
    /// positions `start` (one per view entry), calling `each` until it
    /// returns false. Returns whether every line was visited.
    pub fn merge(
        &self,
        view: &[usize],
        start: &[usize],
        mut each: impl FnMut(usize, usize, &Arc<LogLine>) -> bool,
    ) -> bool {
        let mut heap: BinaryHeap<Reverse<(u64, usize, usize)>> = view
            .iter()
            .zip(start)
            .filter_map(|(&id, &pos)| {
                self.slots[id]
                    .lines
                    .get(pos)
                    .map(|l| Reverse((l.seq, id, pos)))
            })
            .collect();
        while let Some(Reverse((_, id, pos))) = heap.pop() {
            let lines = &self.slots[id].lines;
            if !each(id, pos, &lines[pos]) {
                return false;
            }
            if let Some(next) = lines.get(pos + 1) {
                heap.push(Reverse((next.seq, id, pos + 1)));
            }
        }
        true
    }
}

/// Whether `held` is at least `bound / holders` (exactly, no rounding).
fn holds_fair_share(held: usize, holders: usize, bound: usize) -> bool {
    held.saturating_mul(holders.max(1)) >= bound
}
