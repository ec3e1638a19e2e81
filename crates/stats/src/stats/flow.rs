//! Per-flow sequence tracking: loss, reorder and duplicates from the 48-bit probe sequence.
//!
//! A [`SeqTracker`] keeps the next expected sequence number and a ring bitmap of the last
//! [`WINDOW`] sequence numbers below it, one bit per number, set when it was received. Every
//! datagram costs O(1) and allocates nothing:
//!
//! - `seq == next`: in order; received.
//! - `next < seq <= next + WINDOW`: the `seq - next` numbers skipped are counted lost now (their
//!   bits cleared); a late arrival later corrects that.
//! - `seq < next`, within the window: if its bit is set it is a **duplicate**; otherwise it is a
//!   **reorder** (late arrival): received, `reordered += 1`, and `lost -= 1` if it had been
//!   counted lost.
//! - `next - JUMP_WINDOW <= seq < next - WINDOW`: the bitmap no longer knows whether it was
//!   seen. It is counted as a late reorder (`reordered` and `late` += 1, loss corrected) — a
//!   duplicate that old would be miscounted as a reorder, which on real paths is far rarer than a
//!   late packet.
//!
//! **Plausibility.** The data port is unauthenticated, so one forged datagram must not rewrite a
//! flow's figures. A datagram ahead of `next` by more than [`WINDOW`], or behind it by more than
//! [`JUMP_WINDOW`] (2^20), is not applied at once: it becomes a *candidate* for a new position of
//! the stream, and only [`CONFIRM`] consecutive sequence numbers starting there (`s`, `s+1`, ...)
//! confirm it. Until then those datagrams are neither received nor lost; if the candidate is
//! dropped (another implausible datagram that does not continue it) or still pending at the end,
//! its datagrams count as **sequence anomalies** (`seq_anomalies`). On confirmation:
//!
//! - a forward gap of at most [`JUMP_WINDOW`] is a real burst of loss: the skipped numbers count
//!   `lost` and the candidate's datagrams `received`, exactly as if they had been applied;
//! - anything farther (forward or backward) starts a new **epoch**: `seq_restarts += 1`, the
//!   window restarts at the candidate, its datagrams count `received`, and nothing is counted lost
//!   for the jump (a sender that restarted its sequence, or a forger that kept it up).
//!
//! Plausible datagrams in between (the real stream) are applied normally and leave the candidate
//! alone. So one forged datagram costs the figures one `seq_anomalies`, never 2^48 losses; a
//! forger must send [`CONFIRM`] consecutive numbers to move a flow, and even then moves its
//! loss by at most [`JUMP_WINDOW`] per confirmed jump.
//!
//! Numbers before the first one seen are never counted lost (the tracker cannot know whether the
//! sender sent them); if one arrives later it is received and counted as reordered.
//! Distances use [`udpprobe::seq_diff`], so the 2^48 wrap is a step of one. Counters are 64-bit.
//! A sender that restarted its sequence on the same source address and flow id starts a new
//! epoch as above; `udpflood` opens fresh sockets (new source ports) for every run anyway.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use udpprobe::{seq_diff, seq_next};

/// Sequence numbers remembered below the next expected one (a power of two).
pub const WINDOW: u64 = 4096;
const WORDS: usize = (WINDOW / 64) as usize;
/// Largest distance from the expected sequence number that is taken at face value as loss
/// (ahead, after confirmation) or as a late arrival (behind): 2^20 sequence numbers. Farther
/// datagrams are sequence anomalies until [`CONFIRM`] consecutive ones start a new epoch.
pub const JUMP_WINDOW: u64 = 1 << 20;
/// Consecutive sequence numbers that confirm a jump of more than [`WINDOW`] (see the module
/// docs).
pub const CONFIRM: u32 = 3;
// A candidate is confirmed by a continuation, so at least two datagrams.
const _: () = assert!(CONFIRM >= 2);

/// The counters of one flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeqCounts {
    /// Distinct datagrams received (duplicates excluded).
    pub received: u64,
    /// Sequence numbers skipped and not (yet) received.
    pub lost: u64,
    /// Datagrams that arrived after a higher sequence number (late arrivals, including `late`).
    pub reordered: u64,
    /// Of `reordered`, those older than the tracking window (see the module docs).
    pub late: u64,
    /// Datagrams whose sequence number had already been received.
    pub duplicates: u64,
    /// Datagrams discarded as implausible sequence jumps (neither received nor lost; see the
    /// module docs).
    #[serde(default)]
    pub seq_anomalies: u64,
    /// Times the flow's sequence restarted far from where it was (confirmed jumps beyond
    /// [`JUMP_WINDOW`]); nothing is counted lost for such a jump.
    #[serde(default)]
    pub seq_restarts: u64,
}

impl SeqCounts {
    /// Adds another flow's counters (used when combining per-thread or per-report flows).
    pub fn add(&mut self, o: &SeqCounts) {
        // Saturating: forged or merged counts must never wrap.
        self.received = self.received.saturating_add(o.received);
        self.lost = self.lost.saturating_add(o.lost);
        self.reordered = self.reordered.saturating_add(o.reordered);
        self.late = self.late.saturating_add(o.late);
        self.duplicates = self.duplicates.saturating_add(o.duplicates);
        self.seq_anomalies = self.seq_anomalies.saturating_add(o.seq_anomalies);
        self.seq_restarts = self.seq_restarts.saturating_add(o.seq_restarts);
    }
}

/// Loss, reorder and duplicate tracking for one flow's 48-bit sequence.
#[derive(Debug, Clone)]
pub struct SeqTracker {
    started: bool,
    first: u64,
    /// Next expected sequence number; `NOT_STARTED` (outside the 48-bit space, so no
    /// datagram matches it) until the first datagram.
    next: u64,
    seen: [u64; WORDS],
    counts: SeqCounts,
    /// Pending jump: first sequence number, next expected, datagrams so far (0: none).
    cand_first: u64,
    cand_next: u64,
    cand_run: u32,
}

/// `SeqTracker::next` before the first datagram: no 48-bit sequence number equals it.
const NOT_STARTED: u64 = u64::MAX;
const _: () = assert!(NOT_STARTED > udpprobe::SEQ_MAX);

impl Default for SeqTracker {
    fn default() -> Self {
        SeqTracker::new()
    }
}

impl SeqTracker {
    /// A tracker that has seen nothing yet.
    pub fn new() -> SeqTracker {
        SeqTracker {
            started: false,
            first: 0,
            next: NOT_STARTED,
            seen: [0; WORDS],
            counts: SeqCounts::default(),
            cand_first: 0,
            cand_next: 0,
            cand_run: 0,
        }
    }

    /// The counters so far; datagrams of a still unconfirmed jump count as sequence anomalies.
    pub fn counts(&self) -> SeqCounts {
        let mut c = self.counts;
        c.seq_anomalies += self.cand_run as u64;
        c
    }

    /// First sequence number seen, if any.
    pub fn first_seq(&self) -> Option<u64> {
        self.started.then_some(self.first)
    }

    /// Highest sequence number seen (the one before the next expected), if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.started.then(|| self.next.wrapping_sub(1) & udpprobe::SEQ_MAX)
    }

    #[inline]
    fn bit(seq: u64) -> (usize, u64) {
        let i = (seq & (WINDOW - 1)) as usize;
        (i / 64, 1u64 << (i % 64))
    }

    /// Clears the bits of `count` sequence numbers starting at `seq` (count <= WINDOW).
    #[inline]
    fn clear_range(&mut self, seq: u64, count: u64) {
        if count >= WINDOW {
            self.seen = [0; WORDS];
            return;
        }
        let mut i = seq & (WINDOW - 1);
        let mut left = count;
        while left > 0 {
            let off = i % 64;
            let n = left.min(64 - off);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << off };
            self.seen[(i / 64) as usize] &= !mask;
            left -= n;
            i = (i + n) & (WINDOW - 1);
        }
    }

    /// Records one received sequence number.
    #[inline]
    pub fn record(&mut self, seq: u64) {
        let seq = seq & udpprobe::SEQ_MAX;
        // The common case first: the expected number (never true before the first datagram).
        if seq == self.next {
            let (w, b) = Self::bit(seq);
            self.seen[w] |= b;
            self.next = seq_next(seq);
            self.counts.received += 1;
            return;
        }
        self.record_other(seq);
    }

    /// Records `seq` (masked to 48 bits) when it is not the expected number: the first
    /// datagram, loss, a late arrival, a duplicate or an implausible jump.
    fn record_other(&mut self, seq: u64) {
        if !self.started {
            self.started = true;
            self.first = seq;
            self.next = seq_next(seq);
            let (w, b) = Self::bit(seq);
            self.seen[w] |= b;
            self.counts.received = 1;
            return;
        }
        let d = seq_diff(seq, self.next);
        if d >= 0 {
            if d as u64 > WINDOW {
                self.implausible(seq);
                return;
            }
            if d > 0 {
                self.clear_range(self.next, d as u64);
                self.counts.lost += d as u64;
            }
            let (w, b) = Self::bit(seq);
            self.seen[w] |= b;
            self.next = seq_next(seq);
            self.counts.received += 1;
            return;
        }
        // Late: seq < next.
        let age = d.unsigned_abs();
        if age > JUMP_WINDOW {
            self.implausible(seq);
            return;
        }
        let counted_lost = seq_diff(seq, self.first) > 0;
        if age <= WINDOW {
            let (w, b) = Self::bit(seq);
            if self.seen[w] & b != 0 {
                self.counts.duplicates += 1;
                return;
            }
            self.seen[w] |= b;
        } else {
            self.counts.late += 1;
        }
        self.counts.received += 1;
        self.counts.reordered += 1;
        // A number before the first one seen was never counted lost.
        if counted_lost {
            self.counts.lost = self.counts.lost.saturating_sub(1);
        }
    }

    /// A datagram too far from the expected sequence number: a candidate jump (module docs).
    #[cold]
    fn implausible(&mut self, seq: u64) {
        if self.cand_run > 0 && seq == self.cand_next {
            self.cand_run += 1;
            self.cand_next = seq_next(seq);
            if self.cand_run >= CONFIRM {
                self.confirm();
            }
            return;
        }
        // A new candidate; the datagrams of an abandoned one were anomalies.
        self.counts.seq_anomalies += self.cand_run as u64;
        self.cand_first = seq;
        self.cand_next = seq_next(seq);
        self.cand_run = 1;
    }

    /// Applies a confirmed jump: loss when plausible, a new epoch otherwise.
    #[cold]
    fn confirm(&mut self) {
        let run = self.cand_run as u64;
        let gap = seq_diff(self.cand_first, self.next);
        if gap > 0 && gap as u64 <= JUMP_WINDOW {
            self.counts.lost += gap as u64;
        } else {
            self.counts.seq_restarts += 1;
            self.first = self.cand_first;
        }
        self.seen = [0; WORDS];
        let mut s = self.cand_first;
        for _ in 0..run {
            let (w, b) = Self::bit(s);
            self.seen[w] |= b;
            s = seq_next(s);
        }
        self.next = self.cand_next;
        self.counts.received += run;
        self.cand_run = 0;
    }
}

/// What identifies a flow: the sender's address (when the receiver reads it), the probe
/// header's sender id and its flow index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Sender address; `0.0.0.0:0` when the receiver does not read source addresses (the
    /// default of the `udprx` command: the sender id keeps senders apart).
    pub source: SocketAddr,
    /// Sender id from the probe header (0 in a version 1 header).
    pub sender: u16,
    /// Flow index from the probe header.
    pub flow: u8,
}

/// One flow's key and its results, as collected at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowStats {
    /// Which flow.
    pub key: FlowKey,
    /// Its counters.
    pub counts: SeqCounts,
    /// First sequence number seen.
    pub first_seq: u64,
    /// Highest sequence number seen.
    pub last_seq: u64,
}

/// Default cap on the number of flows one thread tracks.
pub const DEFAULT_MAX_FLOWS: usize = 65_536;

/// Largest flow budget a command line (`udprx run --flow-budget`, `udprx serve --flow-budget`)
/// may set: 2^20 flows, about 600 MB of tracking state at most.
pub const MAX_FLOW_BUDGET: usize = 1 << 20;

/// Checks a flow budget given on a command line: 1..=[`MAX_FLOW_BUDGET`] flows. `Err` is the
/// one-line reason, naming `what` (e.g. `--flow-budget`).
pub fn check_flow_budget(what: &str, n: u64) -> Result<usize, String> {
    if n == 0 || n > MAX_FLOW_BUDGET as u64 {
        return Err(format!(
            "{what} must be 1..={MAX_FLOW_BUDGET} flows (each costs about 600 bytes), got {n}"
        ));
    }
    Ok(n as usize)
}

/// Default number of flows one run tracks over all its receive threads (see [`FlowBudget`]).
pub const DEFAULT_FLOW_BUDGET: usize = 65_536;

/// Flow slots shared by every receive thread of a run: the memory bound of flow tracking.
///
/// Each tracked flow costs about 600 bytes (its key, its sequence window of [`WINDOW`] bits and
/// its table slots) plus one entry of the report's `flows`, so a budget of `n` flows bounds both
/// the tables and the report, however many sockets the run has and whatever source addresses
/// and flow ids arrive. A thread takes one slot, with one atomic compare-and-swap, only when it
/// meets a flow it does not know; once the budget is spent it stops asking (a plain flag), and
/// the datagrams of further flows are counted as untracked instead of allocated. Nothing per
/// datagram touches the shared counter. Clones share the same slots; create one budget per run.
#[derive(Debug, Clone)]
pub struct FlowBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    limit: usize,
    used: AtomicUsize,
}

impl Default for FlowBudget {
    fn default() -> Self {
        FlowBudget::new(DEFAULT_FLOW_BUDGET)
    }
}

impl FlowBudget {
    /// A budget of `limit` flows.
    pub fn new(limit: usize) -> FlowBudget {
        FlowBudget { inner: Arc::new(BudgetInner { limit, used: AtomicUsize::new(0) }) }
    }

    /// Most flows the budget allows.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Flow slots taken so far (never above [`FlowBudget::limit`]).
    pub fn used(&self) -> usize {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// Takes one slot; false when the budget is spent.
    pub fn try_take(&self) -> bool {
        let b = &*self.inner;
        let mut cur = b.used.load(Ordering::Relaxed);
        loop {
            if cur >= b.limit {
                return false;
            }
            match b.used.compare_exchange_weak(cur, cur + 1, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }
}

const EMPTY: u32 = u32::MAX;

#[inline]
fn key_hash(source: &SocketAddr, sender: u16, flow: u8) -> u64 {
    let (a, port) = match source {
        SocketAddr::V4(a) => (u32::from(*a.ip()) as u64, a.port()),
        SocketAddr::V6(a) => {
            let x = u128::from(*a.ip());
            ((x as u64) ^ ((x >> 64) as u64).rotate_left(17), a.port())
        }
    };
    let h = (a ^ ((sender as u64) << 24) ^ ((port as u64) << 40) ^ ((flow as u64) << 56))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^ (h >> 31)
}

/// Entries of [`FlowTable`]'s cache of recent flows (a power of two).
const CACHE: usize = 8;

/// Flows of one thread: an open-addressed hash table with linear probing behind a small cache of
/// recent flows (8 entries, one per `(sender id ^ flow id) mod 8`, so a few flows sent round
/// robin each keep their entry). It allocates only when a new flow appears, and only when the
/// run's [`FlowBudget`] (and the table's own `max_flows`) has room; datagrams of further flows
/// are counted as untracked instead.
#[derive(Debug, Clone)]
pub struct FlowTable {
    slots: Vec<u32>,
    keys: Vec<FlowKey>,
    trackers: Vec<SeqTracker>,
    /// Recently used flows and their index; `None` until used.
    cache: [Option<(FlowKey, u32)>; CACHE],
    max_flows: usize,
    budget: FlowBudget,
    /// Set once the budget refused a slot: it never refills during a run.
    spent: bool,
    untracked: u64,
}

impl FlowTable {
    /// An empty table that tracks at most `max_flows` flows, with a budget of its own.
    pub fn new(max_flows: usize) -> FlowTable {
        FlowTable::with_budget(max_flows, FlowBudget::new(max_flows))
    }

    /// An empty table that tracks at most `max_flows` flows, and takes each flow's slot from
    /// `budget` (shared with the run's other tables).
    pub fn with_budget(max_flows: usize, budget: FlowBudget) -> FlowTable {
        FlowTable {
            slots: vec![EMPTY; 64],
            keys: Vec::new(),
            trackers: Vec::new(),
            cache: [None; CACHE],
            max_flows,
            budget,
            spent: false,
            untracked: 0,
        }
    }

    /// The budget this table takes its flows from.
    pub fn budget(&self) -> &FlowBudget {
        &self.budget
    }

    /// Number of flows tracked.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no flow was seen.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Datagrams of flows refused by `max_flows` or the budget, not tracked.
    pub fn untracked_datagrams(&self) -> u64 {
        self.untracked
    }

    /// Records sequence number `seq` of flow (`source`, `sender`, `flow`).
    #[inline]
    pub fn record(&mut self, source: SocketAddr, sender: u16, flow: u8, seq: u64) {
        let c = (sender as usize ^ flow as usize) & (CACHE - 1);
        // The cheap fields first: the address comparison is the longest.
        if let Some((k, i)) = &self.cache[c]
            && k.flow == flow
            && k.sender == sender
            && k.source == source
        {
            let i = *i as usize;
            self.trackers[i].record(seq);
            return;
        }
        self.record_uncached(c, FlowKey { source, sender, flow }, seq);
    }

    /// [`FlowTable::record`] for a flow not in cache entry `c`: looks it up (or adds it) and
    /// caches it there.
    fn record_uncached(&mut self, c: usize, key: FlowKey, seq: u64) {
        match self.lookup_or_insert(key) {
            Some(i) => {
                self.cache[c] = Some((key, i));
                self.trackers[i as usize].record(seq);
            }
            None => self.untracked += 1,
        }
    }

    fn lookup_or_insert(&mut self, key: FlowKey) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut s = key_hash(&key.source, key.sender, key.flow) as usize & mask;
        loop {
            let i = self.slots[s];
            if i == EMPTY {
                break;
            }
            if self.keys[i as usize] == key {
                return Some(i);
            }
            s = (s + 1) & mask;
        }
        if self.spent || self.keys.len() >= self.max_flows {
            return None;
        }
        if !self.budget.try_take() {
            self.spent = true;
            return None;
        }
        let i = self.keys.len() as u32;
        self.keys.push(key);
        self.trackers.push(SeqTracker::new());
        self.slots[s] = i;
        if self.keys.len() * 2 > self.slots.len() {
            self.grow();
        }
        Some(i)
    }

    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        let mask = n - 1;
        let mut slots = vec![EMPTY; n];
        for (i, k) in self.keys.iter().enumerate() {
            let mut s = key_hash(&k.source, k.sender, k.flow) as usize & mask;
            while slots[s] != EMPTY {
                s = (s + 1) & mask;
            }
            slots[s] = i as u32;
        }
        self.slots = slots;
    }

    /// Sum of all flows' counters.
    pub fn totals(&self) -> SeqCounts {
        let mut t = SeqCounts::default();
        for tr in &self.trackers {
            t.add(&tr.counts());
        }
        t
    }

    /// Every flow's results.
    pub fn flows(&self) -> Vec<FlowStats> {
        self.keys
            .iter()
            .zip(&self.trackers)
            .map(|(k, t)| FlowStats {
                key: *k,
                counts: t.counts(),
                first_seq: t.first_seq().unwrap_or(0),
                last_seq: t.last_seq().unwrap_or(0),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use udpprobe::SEQ_MAX;

    fn run(seqs: &[u64]) -> SeqCounts {
        let mut t = SeqTracker::new();
        for &s in seqs {
            t.record(s);
        }
        t.counts()
    }

    fn c(received: u64, lost: u64, reordered: u64, duplicates: u64) -> SeqCounts {
        SeqCounts { received, lost, reordered, late: 0, duplicates, ..SeqCounts::default() }
    }

    #[test]
    fn in_order() {
        assert_eq!(run(&[0, 1, 2, 3, 4]), c(5, 0, 0, 0));
    }

    #[test]
    fn gaps_are_lost() {
        assert_eq!(run(&[0, 1, 4, 5, 9]), c(5, 5, 0, 0));
    }

    #[test]
    fn late_packet_after_gap_corrects_loss() {
        assert_eq!(run(&[0, 1, 4, 2, 5]), c(5, 1, 1, 0));
        assert_eq!(run(&[0, 3, 2, 1, 4]), c(5, 0, 2, 0));
    }

    #[test]
    fn duplicates_are_not_received_twice() {
        assert_eq!(run(&[0, 1, 1, 2, 0, 2]), c(3, 0, 0, 3));
        // A late packet repeated: the first is a reorder, the second a duplicate.
        assert_eq!(run(&[0, 2, 1, 1]), c(3, 0, 1, 1));
    }

    #[test]
    fn sequence_wrap_is_a_step() {
        assert_eq!(run(&[SEQ_MAX - 2, SEQ_MAX - 1, SEQ_MAX, 0, 1]), c(5, 0, 0, 0));
        assert_eq!(run(&[SEQ_MAX - 1, 1, SEQ_MAX, 0]), c(4, 0, 2, 0));
        assert_eq!(run(&[SEQ_MAX, 2]), c(2, 2, 0, 0));
        let mut t = SeqTracker::new();
        t.record(SEQ_MAX);
        t.record(0);
        assert_eq!(t.last_seq(), Some(0));
    }

    #[test]
    fn before_first_is_reorder_not_negative_loss() {
        assert_eq!(run(&[5, 6, 3, 7]), c(4, 0, 1, 0));
        assert_eq!(run(&[5, 3, 3]), c(2, 0, 1, 1));
        // Arrivals before the first do not cancel a real loss (6) elsewhere.
        assert_eq!(run(&[5, 7, 3, 4]), c(4, 1, 2, 0));
        let mut t = SeqTracker::new();
        for s in [5, 3, 6] {
            t.record(s);
        }
        assert_eq!((t.first_seq(), t.last_seq()), (Some(5), Some(6)));
    }

    #[test]
    fn older_than_window_is_late_reorder() {
        let mut seqs: Vec<u64> = vec![0];
        seqs.extend(2..WINDOW + 10);
        seqs.push(1);
        let got = run(&seqs);
        assert_eq!(
            got,
            SeqCounts {
                received: WINDOW + 10,
                lost: 0,
                reordered: 1,
                late: 1,
                duplicates: 0,
                ..SeqCounts::default()
            }
        );
    }

    #[test]
    fn big_jump_clears_window() {
        // A gap wider than the window is counted once confirmed by CONFIRM consecutive numbers.
        let mut t = SeqTracker::new();
        t.record(0);
        for s in 0..CONFIRM as u64 {
            t.record(3 * WINDOW + s);
        }
        let n = CONFIRM as u64;
        assert_eq!(t.counts(), c(1 + n, 3 * WINDOW - 1, 0, 0));
        t.record(3 * WINDOW - 5);
        assert_eq!(t.counts(), c(2 + n, 3 * WINDOW - 2, 1, 0));
        t.record(3 * WINDOW - 5);
        assert_eq!(t.counts().duplicates, 1);
        t.record(3 * WINDOW + 1);
        assert_eq!(t.counts().duplicates, 2);
    }

    #[test]
    fn one_forged_jump_is_an_anomaly_not_loss() {
        // Issue 13: one datagram 1.4e14 ahead reported 1.4e14 "lost (100%)".
        for forged in [140_000_000_000_000u64, 1 << 47, WINDOW * 100, 5 * JUMP_WINDOW] {
            let mut t = SeqTracker::new();
            for s in [1000, 1001, 1002] {
                t.record(s);
            }
            t.record(forged);
            for s in [1003, 1005, 1004, 1006] {
                t.record(s);
            }
            let k = t.counts();
            assert_eq!(
                k,
                SeqCounts { received: 7, reordered: 1, seq_anomalies: 1, ..SeqCounts::default() },
                "forged {forged}"
            );
            assert_eq!(t.last_seq(), Some(1006));
        }
    }

    #[test]
    fn forged_datagram_far_behind_is_an_anomaly() {
        let mut t = SeqTracker::new();
        for s in 5 * JUMP_WINDOW..5 * JUMP_WINDOW + 10 {
            t.record(s);
        }
        t.record(3);
        t.record(5 * JUMP_WINDOW + 10);
        assert_eq!(
            t.counts(),
            SeqCounts { received: 11, seq_anomalies: 1, ..SeqCounts::default() }
        );
        // Within the jump window, a late arrival is still a (late) reorder, never loss.
        t.record(5 * JUMP_WINDOW - 1);
        t.record(4 * JUMP_WINDOW + 20);
        let k = t.counts();
        assert_eq!((k.received, k.reordered, k.late, k.lost), (13, 2, 1, 0));
    }

    #[test]
    fn confirmed_far_jump_starts_an_epoch() {
        let mut t = SeqTracker::new();
        for s in 0..10 {
            t.record(s);
        }
        // The sender restarted far away; three consecutive numbers confirm it.
        let base = 1u64 << 40;
        for s in base..base + 10 {
            t.record(s);
        }
        t.record(base + 12);
        let k = t.counts();
        assert_eq!(k, SeqCounts { received: 21, lost: 2, seq_restarts: 1, ..SeqCounts::default() });
        // Back to the old numbers (a restart backwards) works the same way.
        for s in 10..20 {
            t.record(s);
        }
        assert_eq!(t.counts().seq_restarts, 2);
        assert_eq!(t.counts().received, 31);
        assert_eq!(t.first_seq(), Some(10));
    }

    #[test]
    fn unconfirmed_jumps_stay_anomalies() {
        let mut t = SeqTracker::new();
        t.record(0);
        // Two consecutive forged numbers (one short of CONFIRM), then another pair elsewhere.
        t.record(1 << 40);
        t.record((1 << 40) + 1);
        t.record(1 << 30);
        t.record((1 << 30) + 1);
        t.record(1);
        let k = t.counts();
        assert_eq!(k, SeqCounts { received: 2, seq_anomalies: 4, ..SeqCounts::default() });
    }

    #[test]
    fn table_tracks_flows_apart_and_caps() {
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let b: SocketAddr = "[::1]:1000".parse().unwrap();
        let mut t = FlowTable::new(3);
        for s in 0..10 {
            t.record(a, 0, 0, s);
            t.record(a, 0, 1, s * 2);
            t.record(b, 0, 0, s);
        }
        assert_eq!(t.len(), 3);
        t.record(b, 0, 9, 0);
        t.record(b, 0, 9, 1);
        assert_eq!(t.untracked_datagrams(), 2);
        let flows = t.flows();
        let f1 = flows.iter().find(|f| f.key == FlowKey { source: a, sender: 0, flow: 1 }).unwrap();
        assert_eq!(f1.counts, c(10, 9, 0, 0));
        assert_eq!(t.totals(), c(30, 9, 0, 0));
    }

    #[test]
    fn sender_ids_keep_flows_apart_without_addresses() {
        let none = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut t = FlowTable::new(16);
        // Two senders interleave the same flow id and the same sequence numbers.
        for s in 0..100 {
            t.record(none, 7, 0, s);
            t.record(none, 9, 0, s);
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.totals(), c(200, 0, 0, 0), "no duplicates, no reorder");
    }

    #[test]
    fn flows_sharing_a_cache_entry_stay_apart() {
        // (sender ^ flow) mod CACHE is 0 for all four keys: each datagram evicts the previous.
        let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let keys = [(0u16, 0u8), (0, CACHE as u8), (CACHE as u16, 0), (1, 1)];
        let mut t = FlowTable::new(16);
        for s in 0..50 {
            for (n, &(sender, flow)) in keys.iter().enumerate() {
                // Each flow its own sequence start, so mixing flows up would show as loss.
                t.record(a, sender, flow, s + 1000 * n as u64);
            }
        }
        assert_eq!(t.len(), 4);
        for f in t.flows() {
            assert_eq!(f.counts, c(50, 0, 0, 0), "{:?}", f.key);
        }
    }

    #[test]
    fn tables_share_one_budget() {
        let budget = FlowBudget::new(5);
        let mut a = FlowTable::with_budget(DEFAULT_MAX_FLOWS, budget.clone());
        let mut b = FlowTable::with_budget(DEFAULT_MAX_FLOWS, budget.clone());
        for port in 1..=4u16 {
            let s = SocketAddr::from(([127, 0, 0, 1], port));
            a.record(s, 0, 0, 0);
            b.record(s, 0, 1, 0);
            a.record(s, 0, 0, 1);
        }
        assert_eq!(a.len() + b.len(), 5);
        assert_eq!(budget.used(), 5);
        // a took 3 flows (ports 1-3), b 2 (ports 1-2); everything after that is untracked.
        assert_eq!((a.len(), b.len()), (3, 2));
        assert_eq!((a.untracked_datagrams(), b.untracked_datagrams()), (2, 2));
        assert_eq!(a.totals().received + b.totals().received, 8);
    }

    #[test]
    fn table_grows_past_initial_slots() {
        let mut t = FlowTable::new(DEFAULT_MAX_FLOWS);
        for port in 1..=500u16 {
            let a = SocketAddr::from(([127, 0, 0, 1], port));
            t.record(a, 0, 0, 0);
            t.record(a, 0, 0, 1);
        }
        for port in 1..=500u16 {
            let a = SocketAddr::from(([127, 0, 0, 1], port));
            t.record(a, 0, 0, 2);
        }
        assert_eq!(t.len(), 500);
        assert_eq!(t.totals(), c(1500, 0, 0, 0));
    }

    proptest! {
        #[test]
        fn permutation_with_drops_adds_up(
            n in 2u64..3000,
            drops in proptest::collection::vec(any::<bool>(), 3000),
            swaps in proptest::collection::vec((0usize..3000, 0usize..3000), 0..400),
            start in prop_oneof![Just(0u64), Just(SEQ_MAX - 1000), 0..SEQ_MAX],
        ) {
            // 0 arrives first and n-1 is kept, so every gap is visible to the tracker.
            let mut seqs: Vec<u64> = (1..n - 1).filter(|&i| !drops[i as usize]).collect();
            seqs.push(n - 1);
            let len = seqs.len();
            for (a, b) in swaps {
                seqs.swap(a % len, b % len);
            }
            seqs.insert(0, 0);
            let mut t = SeqTracker::new();
            for &s in &seqs {
                t.record((start + s) & SEQ_MAX);
            }
            let k = t.counts();
            prop_assert_eq!(k.received, seqs.len() as u64);
            prop_assert_eq!(k.received + k.lost, n);
            prop_assert_eq!(k.duplicates, 0);
        }

        #[test]
        fn arbitrary_input_never_panics(seqs in proptest::collection::vec(any::<u64>(), 0..500)) {
            let mut t = SeqTracker::new();
            for &s in &seqs {
                t.record(s);
            }
            let k = t.counts();
            prop_assert_eq!(k.received + k.duplicates + k.seq_anomalies, seqs.len() as u64);
        }
    }
}
