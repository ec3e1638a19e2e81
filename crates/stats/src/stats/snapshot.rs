//! Live output: per-thread interval snapshots and the aggregator that merges them into one line
//! per interval.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crossbeam_channel::Receiver;
use hdrhistogram::Histogram;

/// What one thread sends at the end of an interval (at most one per interval, several empty
/// intervals in one). Counts are for the interval; `lost`, `reordered`, `duplicates` and
/// `kernel_drops` are the thread's running totals (the aggregator takes differences, since a
/// late packet can lower `lost`).
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Sending thread's socket index.
    pub socket: usize,
    /// Interval index since the run's epoch; the thread has finished every interval up to it.
    pub index: u64,
    /// Part of the interval the thread covered, in ns (the full interval except at the end).
    pub covered_ns: u64,
    /// Datagrams received in the interval.
    pub datagrams: u64,
    /// Bytes received in the interval.
    pub bytes: u64,
    /// Running total of lost sequence numbers.
    pub lost: u64,
    /// Running total of reordered datagrams.
    pub reordered: u64,
    /// Running total of duplicates.
    pub duplicates: u64,
    /// Running total of kernel (SO_RXQ_OVFL) drops.
    pub kernel_drops: u64,
    /// One-way latency of the interval's datagrams, if any.
    pub latency: Option<Histogram<u64>>,
}

/// One line of live output: the whole receiver over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalLine {
    /// Interval index since the epoch.
    pub index: u64,
    /// Start of the interval, seconds since the epoch.
    pub start_s: f64,
    /// End of the interval (earlier than a full interval for the last one).
    pub end_s: f64,
    /// Datagrams received.
    pub datagrams: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Datagrams per second.
    pub pps: f64,
    /// Payload megabits per second.
    pub mbit_s: f64,
    /// Change of the loss count (negative when late packets arrived).
    pub lost: i64,
    /// Reordered datagrams.
    pub reordered: u64,
    /// Duplicates.
    pub duplicates: u64,
    /// Kernel drops (SO_RXQ_OVFL).
    pub kernel_drops: u64,
    /// 99th percentile one-way latency, ns.
    pub p99_ns: Option<u64>,
}

impl IntervalLine {
    /// Column headings matching [`IntervalLine`]'s `Display`.
    pub fn header() -> String {
        format!(
            "{:>15} {:>12} {:>10} {:>9} {:>8} {:>9} {:>11}",
            "Interval", "pps", "Mbit/s", "lost", "loss%", "drops", "p99 lat"
        )
    }

    /// Loss in percent of the datagrams expected in the interval.
    pub fn loss_percent(&self) -> f64 {
        let expected = self.datagrams as f64 + self.lost.max(0) as f64;
        if expected == 0.0 { 0.0 } else { self.lost.max(0) as f64 * 100.0 / expected }
    }
}

impl fmt::Display for IntervalLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span = format!("{:.2}-{:.2} s", self.start_s, self.end_s);
        let p99 = self.p99_ns.map(crate::units::fmt_ns).unwrap_or_else(|| "-".into());
        write!(
            f,
            "{:>15} {:>12.0} {:>10.2} {:>9} {:>7.3}% {:>9} {:>11}",
            span,
            self.pps,
            self.mbit_s,
            self.lost,
            self.loss_percent(),
            self.kernel_drops,
            p99
        )
    }
}

#[derive(Debug, Default)]
struct Acc {
    covered_ns: u64,
    datagrams: u64,
    bytes: u64,
    lost: i64,
    reordered: u64,
    duplicates: u64,
    drops: u64,
    latency: Option<Histogram<u64>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Last {
    index: Option<u64>,
    lost: u64,
    reordered: u64,
    duplicates: u64,
    drops: u64,
}

/// Merges the threads' [`Snapshot`]s into one [`IntervalLine`] per interval, in order.
///
/// An interval is complete when every one of the `threads` sockets has sent a snapshot for it or
/// a later one; intervals no thread reported on come out as zero lines.
#[derive(Debug)]
pub struct Aggregator {
    threads: usize,
    interval_ns: u64,
    last: BTreeMap<usize, Last>,
    pending: BTreeMap<u64, Acc>,
    /// Next interval to emit; set from the first snapshots, so an epoch far in the past does not
    /// produce a flood of empty lines.
    next: Option<u64>,
}

impl Aggregator {
    /// An aggregator expecting snapshots from `threads` sockets (the interval is taken as the
    /// recorders take it, see [`super::interval_ns`]).
    pub fn new(threads: usize, interval: Duration) -> Aggregator {
        Aggregator {
            threads: threads.max(1),
            interval_ns: super::interval_ns(interval),
            last: BTreeMap::new(),
            pending: BTreeMap::new(),
            next: None,
        }
    }

    /// Takes one snapshot and returns the lines it completed.
    pub fn push(&mut self, s: Snapshot) -> Vec<IntervalLine> {
        let last = self.last.entry(s.socket).or_default();
        let acc = self.pending.entry(s.index).or_default();
        acc.covered_ns = acc.covered_ns.max(s.covered_ns);
        acc.datagrams = acc.datagrams.saturating_add(s.datagrams);
        acc.bytes = acc.bytes.saturating_add(s.bytes);
        let dlost = (s.lost as i128 - last.lost as i128).clamp(i64::MIN as i128, i64::MAX as i128);
        acc.lost = acc.lost.saturating_add(dlost as i64);
        acc.reordered = acc.reordered.saturating_add(s.reordered.saturating_sub(last.reordered));
        acc.duplicates =
            acc.duplicates.saturating_add(s.duplicates.saturating_sub(last.duplicates));
        acc.drops = acc.drops.saturating_add(s.kernel_drops.saturating_sub(last.drops));
        if let Some(h) = s.latency {
            match &mut acc.latency {
                Some(a) => {
                    let _ = a.add(&h);
                }
                None => acc.latency = Some(h),
            }
        }
        *last = Last {
            index: Some(last.index.map_or(s.index, |i| i.max(s.index))),
            lost: s.lost,
            reordered: s.reordered,
            duplicates: s.duplicates,
            drops: s.kernel_drops,
        };
        let done = if self.last.len() < self.threads {
            None
        } else {
            self.last.values().map(|l| l.index).min().flatten()
        };
        match done {
            Some(d) => self.emit_through(d),
            None => Vec::new(),
        }
    }

    /// Emits every interval up to `through`: one line per interval some thread reported on,
    /// and one zero line per run of intervals no thread reported on (however long the run),
    /// so the work and the memory depend on the snapshots received, not on the number of
    /// intervals between them.
    fn emit_through(&mut self, through: u64) -> Vec<IntervalLine> {
        let mut out = Vec::new();
        let Some(mut next) = self.next.or_else(|| self.pending.keys().next().copied()) else {
            return out;
        };
        while next <= through {
            let Some(acc) = self.pending.remove(&next) else {
                // A gap: up to the next reported interval (or `through`) in one line.
                let end = match self.pending.range(next..).next() {
                    Some((&k, _)) => k.min(through.saturating_add(1)),
                    None => through.saturating_add(1),
                };
                out.push(self.gap_line(next, end));
                if end == next {
                    break; // `through` is u64::MAX: nothing can follow.
                }
                next = end;
                continue;
            };
            // An empty interval covered for only a sliver (the run ended just after a
            // boundary) says nothing and would print as a 0-pps line: leave it out.
            let sliver = acc.covered_ns != 0 && acc.covered_ns < self.interval_ns / 10;
            if !(sliver && acc.datagrams == 0) {
                out.push(self.line(next, acc));
            }
            match next.checked_add(1) {
                Some(n) => next = n,
                None => break,
            }
        }
        self.next = Some(next);
        out
    }

    /// The zero line of intervals `start..end` (one interval or several) no thread reported.
    fn gap_line(&self, start: u64, end: u64) -> IntervalLine {
        let n = end.saturating_sub(start).max(1);
        let start_s = start as f64 * self.interval_ns as f64 / 1e9;
        IntervalLine {
            index: start,
            start_s,
            end_s: start_s + n as f64 * self.interval_ns as f64 / 1e9,
            datagrams: 0,
            bytes: 0,
            pps: 0.0,
            mbit_s: 0.0,
            lost: 0,
            reordered: 0,
            duplicates: 0,
            kernel_drops: 0,
            p99_ns: None,
        }
    }

    fn line(&self, index: u64, acc: Acc) -> IntervalLine {
        let covered = if acc.covered_ns == 0 { self.interval_ns } else { acc.covered_ns };
        let secs = covered as f64 / 1e9;
        let start_s = index as f64 * self.interval_ns as f64 / 1e9;
        IntervalLine {
            index,
            start_s,
            end_s: start_s + secs,
            datagrams: acc.datagrams,
            bytes: acc.bytes,
            pps: acc.datagrams as f64 / secs,
            mbit_s: acc.bytes as f64 * 8.0 / secs / 1e6,
            lost: acc.lost,
            reordered: acc.reordered,
            duplicates: acc.duplicates,
            kernel_drops: acc.drops,
            p99_ns: acc.latency.filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(0.99)),
        }
    }

    /// Returns every line still pending (called when the threads are gone).
    pub fn finish(&mut self) -> Vec<IntervalLine> {
        match self.pending.keys().next_back().copied() {
            Some(last) => self.emit_through(last),
            None => Vec::new(),
        }
    }

    /// Receives snapshots until every sender is dropped, calling `out` for each line in order.
    pub fn run(mut self, rx: Receiver<Snapshot>, mut out: impl FnMut(&IntervalLine)) {
        for s in rx.iter() {
            for l in self.push(s) {
                out(&l);
            }
        }
        for l in self.finish() {
            out(&l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(socket: usize, index: u64, datagrams: u64, lost: u64, p: Option<u64>) -> Snapshot {
        let latency = p.map(|v| {
            let mut h = crate::stats::latency::latency_histogram();
            h.record(v).unwrap();
            h
        });
        Snapshot {
            socket,
            index,
            covered_ns: 1_000_000_000,
            datagrams,
            bytes: datagrams * 100,
            lost,
            reordered: 0,
            duplicates: 0,
            kernel_drops: lost / 2,
            latency,
        }
    }

    #[test]
    fn merges_threads_per_interval_in_order() {
        let mut a = Aggregator::new(2, Duration::from_secs(1));
        assert!(a.push(snap(0, 0, 100, 0, Some(1_000))).is_empty());
        let l = a.push(snap(1, 0, 50, 4, Some(90_000)));
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].datagrams, l[0].bytes, l[0].lost, l[0].kernel_drops), (150, 15_000, 4, 2));
        assert!((l[0].pps - 150.0).abs() < 1e-9);
        assert!((l[0].mbit_s - 0.12).abs() < 1e-9);
        assert!(l[0].p99_ns.unwrap() >= 89_000);
        // Socket 0 jumps to interval 2 (1 was empty for it); socket 1 reports 1 and 2.
        assert!(a.push(snap(0, 2, 10, 0, None)).is_empty());
        let l = a.push(snap(1, 2, 10, 2, None));
        assert_eq!(
            l.iter().map(|x| (x.index, x.datagrams, x.lost)).collect::<Vec<_>>(),
            vec![(1, 0, 0), (2, 20, -2)]
        );
        assert!(a.push(snap(0, 3, 5, 0, None)).is_empty());
        let rest = a.finish();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].datagrams, 5);
    }

    #[test]
    fn starts_at_the_first_interval_seen() {
        let mut a = Aggregator::new(1, Duration::from_secs(1));
        let l = a.push(snap(0, 1_000_000, 7, 0, None));
        assert_eq!(l.len(), 1);
        assert_eq!((l[0].index, l[0].datagrams), (1_000_000, 7));
        assert!(a.finish().is_empty());
    }

    #[test]
    fn a_long_gap_is_one_line_not_one_per_interval() {
        // A trillion intervals no thread reported on (a thread's clock jumped, or a tiny
        // interval): one zero line spanning them, in constant time and memory.
        let mut a = Aggregator::new(1, Duration::from_millis(10));
        let mut out = a.push(snap(0, 0, 5, 0, None));
        out.extend(a.push(snap(0, 1_000_000_000_001, 7, 0, None)));
        out.extend(a.finish());
        let got: Vec<_> = out.iter().map(|l| (l.index, l.datagrams)).collect();
        assert_eq!(got, [(0, 5), (1, 0), (1_000_000_000_001, 7)]);
        let gap = &out[1];
        assert!((gap.start_s - 0.01).abs() < 1e-9, "{gap:?}");
        assert!((gap.end_s - 1e10).abs() < 1.0, "{gap:?}");
        assert_eq!(gap.pps, 0.0);
        // Two threads, each reporting every other interval: no gaps, a line per interval.
        let mut a = Aggregator::new(2, Duration::from_secs(1));
        let mut n = 0;
        for i in 0..6 {
            n += a.push(snap(i % 2, i as u64, 1, 0, None)).len();
        }
        n += a.finish().len();
        assert_eq!(n, 6);
    }

    #[test]
    fn forged_running_totals_saturate() {
        let mut a = Aggregator::new(1, Duration::from_secs(1));
        let mut s = snap(0, 0, u64::MAX, u64::MAX, None);
        s.bytes = u64::MAX;
        let l = a.push(s).remove(0);
        assert_eq!((l.datagrams, l.lost), (u64::MAX, i64::MAX));
        let l = a.push(snap(0, 1, 1, 0, None)).remove(0);
        assert_eq!(l.lost, i64::MIN);
    }

    #[test]
    fn an_empty_sliver_at_the_end_is_left_out() {
        let lines = |tail: Snapshot| {
            let mut a = Aggregator::new(1, Duration::from_secs(1));
            let mut out = a.push(snap(0, 0, 10, 0, None));
            out.extend(a.push(tail));
            out.extend(a.finish());
            out.iter().map(|l| (l.index, l.datagrams)).collect::<Vec<_>>()
        };
        // A 2 ms empty tail prints nothing ...
        assert_eq!(lines(Snapshot { covered_ns: 2_000_000, ..snap(0, 1, 0, 0, None) }), [(0, 10)]);
        // ... but a short tail with traffic, or an empty full interval, is kept.
        let short = Snapshot { covered_ns: 2_000_000, ..snap(0, 1, 3, 0, None) };
        assert_eq!(lines(short), [(0, 10), (1, 3)]);
        assert_eq!(lines(snap(0, 1, 0, 0, None)), [(0, 10), (1, 0)]);
    }

    #[test]
    fn live_line_has_the_columns() {
        let mut a = Aggregator::new(1, Duration::from_secs(1));
        let l = a.push(snap(0, 0, 1000, 10, Some(25_000))).remove(0);
        let text = l.to_string();
        let head = IntervalLine::header();
        for col in ["Interval", "pps", "Mbit/s", "lost", "loss%", "drops", "p99 lat"] {
            assert!(head.contains(col), "{col}");
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(fields, vec!["0.00-1.00", "s", "1000", "0.80", "10", "0.990%", "5", "25.0µs"]);
    }

    #[test]
    fn run_drains_the_channel() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let t2 = tx.clone();
        tx.send(snap(0, 0, 1, 0, None)).unwrap();
        t2.send(snap(1, 0, 2, 0, None)).unwrap();
        tx.send(snap(0, 1, 3, 0, None)).unwrap();
        drop((tx, t2));
        let mut lines = Vec::new();
        Aggregator::new(2, Duration::from_secs(1)).run(rx, |l| lines.push(l.datagrams));
        assert_eq!(lines, vec![3, 3]);
    }
}
