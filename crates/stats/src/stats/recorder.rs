//! The per-thread [`Handler`] that records everything about the batches it is given.

use std::net::SocketAddr;

use udpprobe::{Error as ProbeError, HEADER_LEN, MAGIC, Repr, version_is_known};

use super::flow::{FlowStats, FlowTable, SeqCounts};
use super::latency::LatencyRecorder;
use super::snapshot::Snapshot;
use super::{StatsConfig, StatsMode};
use udprx::batch::{Batch, Flow, Handler};

/// Per-thread recorder: counts, per-flow sequence tracking and latency histograms.
///
/// Per datagram it parses the probe header, looks the flow up (a small cache of recent flows,
/// then an open-addressed table), updates the flow's sequence window and counts one latency
/// value in a bucket array (folded into the histograms once per interval): no allocation
/// (except when a new flow appears), no lock, no syscall. The batch's clock
/// reading drives the intervals: when a batch (or [`Handler::on_idle`]) crosses an interval
/// boundary the recorder closes the interval, and, when live output is on, sends one
/// [`Snapshot`].
#[derive(Debug)]
pub struct Recorder {
    socket: usize,
    mode: StatsMode,
    interval_ns: u64,
    epoch_ns: u64,
    live: Option<crossbeam_channel::Sender<Snapshot>>,
    // Totals of closed intervals.
    datagrams: u64,
    bytes: u64,
    // Current interval.
    cur: u64,
    next_boundary: u64,
    iv_datagrams: u64,
    iv_bytes: u64,
    /// Latest clock reading seen (batch or idle): where the last, partial interval ends.
    last_rx_ns: u64,
    foreign: u64,
    truncated: u64,
    truncated_probes: u64,
    flows: FlowTable,
    latency: LatencyRecorder,
    first_interval: u64,
    series: Vec<u64>,
    /// Intervals left out of `series` because it reached [`super::MAX_SERIES`].
    series_dropped: u64,
    drops_raw: Option<u32>,
    drops: u64,
}

/// Everything one thread recorded, handed back by [`Recorder::finish`].
#[derive(Debug, Clone)]
pub struct ThreadStats {
    /// Socket (and thread) index.
    pub socket: usize,
    /// What was measured.
    pub mode: StatsMode,
    /// Interval length in ns.
    pub interval_ns: u64,
    /// Datagrams received (GRO segments counted one by one), foreign and truncated included.
    pub datagrams: u64,
    /// Payload bytes received, each datagram by its real length on the wire (a datagram cut by
    /// the kernel counts whole).
    pub bytes: u64,
    /// Datagrams without our magic/version, neither cut nor too short for the header.
    pub foreign: u64,
    /// Datagrams cut by the kernel (MSG_TRUNC: larger than the receive buffer), whatever they
    /// hold, plus datagrams shorter than the probe header. Never also counted foreign.
    pub truncated: u64,
    /// Of `truncated`, the datagrams the kernel cut whose probe header was still whole: these
    /// are also sequence-tracked and timed like any probe (they arrived; only their padding
    /// was lost). So `datagrams = probes + foreign + truncated - truncated_probes`, where
    /// probes are the datagrams with a whole probe header.
    pub truncated_probes: u64,
    /// Cumulative SO_RXQ_OVFL drop count last reported by the batches, if any was.
    pub kernel_drops: Option<u64>,
    /// Index (since the epoch) of the first interval in `series`.
    pub first_interval: u64,
    /// Datagrams per interval, from the first interval with traffic to the last (at most
    /// [`super::MAX_SERIES`] entries).
    pub series: Vec<u64>,
    /// Intervals after the first [`super::MAX_SERIES`] that the series leaves out (their
    /// datagrams are still in the totals).
    pub series_dropped: u64,
    /// Per-flow results (full mode).
    pub flows: Vec<FlowStats>,
    /// Datagrams of flows beyond the flow-table cap or the run's flow budget (not tracked).
    pub untracked_datagrams: u64,
    /// Most flows the run's recorders could track together (the shared [`FlowBudget`] limit).
    ///
    /// [`FlowBudget`]: super::flow::FlowBudget
    pub flow_budget: u64,
    /// Latency histograms (empty in minimal mode).
    pub latency: LatencyRecorder,
}

impl Recorder {
    /// A recorder for socket `socket`; all histograms are allocated here.
    pub fn new(cfg: &StatsConfig, socket: usize) -> Recorder {
        let interval_ns = cfg.interval_ns();
        Recorder {
            socket,
            mode: cfg.mode,
            interval_ns,
            epoch_ns: cfg.epoch_ns,
            live: cfg.live.clone(),
            datagrams: 0,
            bytes: 0,
            cur: 0,
            next_boundary: cfg.epoch_ns.saturating_add(interval_ns),
            iv_datagrams: 0,
            iv_bytes: 0,
            last_rx_ns: cfg.epoch_ns,
            foreign: 0,
            truncated: 0,
            truncated_probes: 0,
            flows: FlowTable::with_budget(cfg.max_flows, cfg.flow_budget.clone()),
            latency: LatencyRecorder::new(),
            first_interval: 0,
            series: Vec::new(),
            series_dropped: 0,
            drops_raw: None,
            drops: 0,
        }
    }

    /// Socket index this recorder belongs to.
    pub fn socket(&self) -> usize {
        self.socket
    }

    /// Datagrams recorded so far (closed intervals and the current one).
    pub fn datagrams(&self) -> u64 {
        self.datagrams + self.iv_datagrams
    }

    /// Per-flow counters summed over this thread's flows so far.
    pub fn seq_totals(&self) -> SeqCounts {
        self.flows.totals()
    }

    fn close_interval(&mut self, covered_ns: u64) {
        self.datagrams += self.iv_datagrams;
        self.bytes = self.bytes.saturating_add(self.iv_bytes);
        if self.series.is_empty() {
            if self.iv_datagrams > 0 {
                self.first_interval = self.cur;
                self.series.push(self.iv_datagrams);
            }
        } else {
            self.extend_series(self.iv_datagrams, 1);
        }
        self.latency.flush();
        let snapshot_latency = (self.live.is_some() && !self.latency.interval.is_empty())
            .then(|| self.latency.interval.clone());
        self.latency.close_interval();
        if let Some(tx) = &self.live {
            let t = self.flows.totals();
            // Never blocks the receive loop: when the printer lags and the (bounded) channel is
            // full, the snapshot is dropped and its interval prints short (totals are exact).
            let _ = tx.try_send(Snapshot {
                socket: self.socket,
                index: self.cur,
                covered_ns,
                datagrams: self.iv_datagrams,
                bytes: self.iv_bytes,
                lost: t.lost,
                reordered: t.reordered,
                duplicates: t.duplicates,
                kernel_drops: self.drops,
                latency: snapshot_latency,
            });
        }
        self.iv_datagrams = 0;
        self.iv_bytes = 0;
    }

    /// Appends `count` intervals of `n` datagrams to the series, up to [`super::MAX_SERIES`]
    /// entries in all; the rest are only counted (memory stays bounded however long the run).
    fn extend_series(&mut self, n: u64, count: u64) {
        let room = (super::MAX_SERIES.saturating_sub(self.series.len()) as u64).min(count);
        self.series.resize(self.series.len() + room as usize, n);
        self.series_dropped = self.series_dropped.saturating_add(count - room);
    }

    /// Closes every interval that ended before `now_ns`.
    #[cold]
    fn advance(&mut self, now_ns: u64) {
        let k = now_ns.saturating_sub(self.epoch_ns) / self.interval_ns;
        if k <= self.cur {
            return;
        }
        self.close_interval(self.interval_ns);
        // Intervals without any traffic at all: zero in the series (between traffic), and
        // progress for the live aggregator.
        let empty = k - self.cur - 1;
        if !self.series.is_empty() {
            self.extend_series(0, empty);
        }
        if empty > 0
            && let Some(tx) = &self.live
        {
            let t = self.flows.totals();
            // Never blocks the receive loop: when the printer lags and the (bounded) channel is
            // full, the snapshot is dropped and its interval prints short (totals are exact).
            let _ = tx.try_send(Snapshot {
                socket: self.socket,
                index: k - 1,
                covered_ns: self.interval_ns,
                datagrams: 0,
                bytes: 0,
                lost: t.lost,
                reordered: t.reordered,
                duplicates: t.duplicates,
                kernel_drops: self.drops,
                latency: None,
            });
        }
        self.cur = k;
        self.next_boundary = self.epoch_ns.saturating_add((k + 1).saturating_mul(self.interval_ns));
        self.latency.set_offset(super::latency::realtime_offset_ns());
    }

    /// One datagram (or GRO segment) `seg`; `extra` is what the kernel cut off it (its wire
    /// length is `seg.len() + extra`), `cut` whether it was cut at all. Inlined into the batch
    /// loop: as a call per datagram, saving and restoring six registers took about a tenth of
    /// its perf samples (the gain in the loop was within the noise, docs/results.md).
    #[inline(always)]
    fn record_full(
        &mut self,
        seg: &[u8],
        cut: bool,
        extra: usize,
        source: SocketAddr,
        krx: Option<u64>,
        rx: u64,
    ) {
        self.iv_datagrams += 1;
        self.iv_bytes = self.iv_bytes.saturating_add((seg.len() + extra) as u64);
        match Repr::from_bytes(seg) {
            Ok(r) => {
                self.truncated += cut as u64;
                self.truncated_probes += cut as u64;
                self.flows.record(source, r.sender, r.flow, r.seq);
                self.latency.record(r.clock, r.tx_ns, rx, krx);
            }
            Err(ProbeError::Truncated(_)) => self.truncated += 1,
            Err(_) if cut => self.truncated += 1,
            Err(_) => self.foreign += 1,
        }
    }

    /// As [`Recorder::record_full`], counting only.
    #[inline]
    fn record_minimal(&mut self, seg: &[u8], cut: bool, extra: usize) {
        self.iv_datagrams += 1;
        self.iv_bytes = self.iv_bytes.saturating_add((seg.len() + extra) as u64);
        if seg.len() < HEADER_LEN {
            self.truncated += 1;
        } else if u16::from_be_bytes([seg[0], seg[1]]) != MAGIC || !version_is_known(seg[2]) {
            if cut {
                self.truncated += 1;
            } else {
                self.foreign += 1;
            }
        } else {
            self.truncated += cut as u64;
            self.truncated_probes += cut as u64;
        }
    }

    /// Closes the last (partial) interval and returns what this thread recorded.
    pub fn finish(mut self) -> ThreadStats {
        let covered = self.last_rx_ns.saturating_sub(self.next_boundary - self.interval_ns);
        self.close_interval(covered.min(self.interval_ns));
        while self.series.last() == Some(&0) {
            self.series.pop();
        }
        ThreadStats {
            socket: self.socket,
            mode: self.mode,
            interval_ns: self.interval_ns,
            datagrams: self.datagrams,
            bytes: self.bytes,
            foreign: self.foreign,
            truncated: self.truncated,
            truncated_probes: self.truncated_probes,
            kernel_drops: self.drops_raw.map(|_| self.drops),
            first_interval: self.first_interval,
            series: self.series,
            series_dropped: self.series_dropped,
            flows: self.flows.flows(),
            untracked_datagrams: self.flows.untracked_datagrams(),
            flow_budget: self.flows.budget().limit() as u64,
            latency: self.latency,
        }
    }
}

impl Handler for Recorder {
    #[inline]
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        let rx = batch.rx_ns;
        if rx >= self.next_boundary {
            self.advance(rx);
        }
        self.last_rx_ns = rx;
        if let Some(v) = batch.kernel_drops {
            // Cumulative u32 since the socket was created; wraps.
            self.drops += match self.drops_raw {
                Some(last) => v.wrapping_sub(last) as u64,
                None => v as u64,
            };
            self.drops_raw = Some(v);
        }
        for d in batch.iter() {
            // What the kernel cut off (0 unless truncated); it belongs to the last segment.
            let extra = d.wire_len - d.payload.len();
            if d.payload.is_empty() {
                self.iv_datagrams += 1;
                self.iv_bytes = self.iv_bytes.saturating_add(extra as u64);
                self.truncated += 1;
                continue;
            }
            if d.segment_size == 0 {
                // One datagram (no GRO): no segment arithmetic.
                match self.mode {
                    StatsMode::Full => self.record_full(
                        d.payload,
                        d.truncated,
                        extra,
                        d.source,
                        d.kernel_rx_ns,
                        rx,
                    ),
                    StatsMode::Minimal => self.record_minimal(d.payload, d.truncated, extra),
                }
                continue;
            }
            let n = d.segment_count();
            match self.mode {
                StatsMode::Full => {
                    for (i, seg) in d.segments().enumerate() {
                        let last = i + 1 == n;
                        let (cut, extra) = if last { (d.truncated, extra) } else { (false, 0) };
                        self.record_full(seg, cut, extra, d.source, d.kernel_rx_ns, rx);
                    }
                }
                StatsMode::Minimal => {
                    for (i, seg) in d.segments().enumerate() {
                        let last = i + 1 == n;
                        let (cut, extra) = if last { (d.truncated, extra) } else { (false, 0) };
                        self.record_minimal(seg, cut, extra);
                    }
                }
            }
        }
        Flow::Continue
    }

    fn on_counted(&mut self, datagrams: u64, bytes: u64, now_ns: u64) -> Flow {
        if now_ns >= self.next_boundary {
            self.advance(now_ns);
        }
        self.last_rx_ns = self.last_rx_ns.max(now_ns);
        self.iv_datagrams += datagrams;
        self.iv_bytes += bytes;
        Flow::Continue
    }

    fn on_idle(&mut self, now_ns: u64) -> Flow {
        if now_ns >= self.next_boundary {
            self.advance(now_ns);
        }
        self.last_rx_ns = self.last_rx_ns.max(now_ns);
        Flow::Continue
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::flow;
    use std::time::Duration;
    use udpprobe::Clock;
    use udprx::batch::RecvMeta;

    /// Builds an arena of probe datagrams (`flow`, `seq`, `tx_ns`) of `size` bytes each.
    pub(crate) fn arena(
        items: &[(u8, u64, u64)],
        size: usize,
        src: SocketAddr,
    ) -> (Vec<u8>, Vec<RecvMeta>) {
        let mut buf = vec![0u8; items.len() * size];
        let mut metas = Vec::new();
        for (i, &(flow, seq, tx_ns)) in items.iter().enumerate() {
            let r = Repr { flow, seq, sender: 0, tx_ns, clock: Clock::Monotonic };
            r.emit_into(&mut buf[i * size..]).unwrap();
            metas.push(RecvMeta { offset: i * size, len: size, source: src, ..RecvMeta::EMPTY });
        }
        (buf, metas)
    }

    fn cfg(mode: StatsMode) -> StatsConfig {
        StatsConfig { epoch_ns: 0, ..StatsConfig::new(mode, Duration::from_secs(1)) }
    }

    fn src() -> SocketAddr {
        "127.0.0.1:5000".parse().unwrap()
    }

    #[test]
    fn counts_flows_latency_and_foreign() {
        let mut r = Recorder::new(&cfg(StatsMode::Full), 0);
        let (mut buf, mut metas) =
            arena(&[(0, 0, 100), (0, 1, 200), (0, 3, 300), (1, 0, 400)], 64, src());
        // A foreign datagram and a short one.
        buf.extend_from_slice(&[0xAB; 20]);
        metas.push(RecvMeta { offset: 256, len: 20, source: src(), ..RecvMeta::EMPTY });
        metas.push(RecvMeta { offset: 276, len: 4, source: src(), ..RecvMeta::EMPTY });
        buf.extend_from_slice(&[0x55; 4]);
        let mut b = Batch::new(&buf, &metas, 1_100, 0);
        b.kernel_drops = Some(7);
        assert_eq!(r.on_batch(&b), Flow::Continue);
        let s = r.finish();
        assert_eq!((s.datagrams, s.bytes, s.foreign, s.truncated), (6, 280, 1, 1));
        assert_eq!(s.kernel_drops, Some(7));
        assert_eq!(s.flows.len(), 2);
        let f0 = s.flows.iter().find(|f| f.key.flow == 0).unwrap();
        assert_eq!((f0.counts.received, f0.counts.lost), (3, 1));
        assert_eq!(s.latency.one_way.len(), 4);
        assert!(s.latency.one_way.equivalent(s.latency.one_way.max(), 1_000));
        assert_eq!(s.series, vec![6]);
    }

    #[test]
    fn flow_budget_is_per_run_not_per_socket() {
        // Issue 13: the cap was 65,536 flows per socket; 64 sockets × 65,536 flows of forged
        // source ports and flow ids took `udprx serve` to gigabytes. Three recorders of one
        // run, each seeing 30,000 new flows, now share the run's budget.
        let c = cfg(StatsMode::Full);
        let budget = c.flow_budget.clone();
        let mut total_flows = 0;
        let mut untracked = 0;
        let mut received = 0;
        let mut threads = Vec::new();
        for socket in 0..3usize {
            let mut r = Recorder::new(&c, socket);
            for chunk in 0..(30_000 / 250) {
                let mut buf = Vec::new();
                let mut metas = Vec::new();
                for i in 0..250u32 {
                    let n = chunk * 250 + i + socket as u32 * 30_000;
                    let src = SocketAddr::from(([127, 0, (n >> 16) as u8, 1], (n & 0xffff) as u16));
                    let (b, mut m) = arena(&[(socket as u8, 7, 100)], 32, src);
                    m[0].offset = buf.len();
                    buf.extend_from_slice(&b);
                    metas.extend(m);
                }
                r.on_batch(&Batch::new(&buf, &metas, 1_000, socket));
            }
            threads.push(r.finish());
        }
        for s in &threads {
            total_flows += s.flows.len();
            untracked += s.untracked_datagrams;
            received += s.flows.iter().map(|f| f.counts.received).sum::<u64>();
            assert_eq!(s.flow_budget, flow::DEFAULT_FLOW_BUDGET as u64);
        }
        assert_eq!(total_flows, flow::DEFAULT_FLOW_BUDGET);
        assert_eq!(budget.used(), flow::DEFAULT_FLOW_BUDGET);
        assert_eq!(untracked, 90_000 - flow::DEFAULT_FLOW_BUDGET as u64);
        assert_eq!(received + untracked, 90_000);
    }

    #[test]
    fn forged_sequence_and_stamps_are_flagged() {
        let mut r = Recorder::new(&cfg(StatsMode::Full), 0);
        let rx = 2_000_000_000_000u64;
        let (buf, metas) = arena(
            &[
                (0, 0, rx - 1_000),
                (0, 1, rx - 1_000),
                (0, 140_000_000_000_000, rx - 1_000),
                (0, 2, 0),
                (0, 3, u64::MAX),
                (0, 4, rx - 1_000),
            ],
            32,
            src(),
        );
        r.on_batch(&Batch::new(&buf, &metas, rx, 0));
        let s = r.finish();
        let k = s.flows[0].counts;
        assert_eq!((k.received, k.lost, k.seq_anomalies), (5, 0, 1));
        assert_eq!(s.latency.clock_anomalies, 2);
        assert_eq!(s.latency.clock_skew, 0);
        assert_eq!(s.latency.one_way.len(), 4);
        assert!(s.latency.one_way.max() < 2_000);
    }

    #[test]
    fn gro_segments_count_one_by_one() {
        let (buf, _) = arena(&[(0, 0, 1), (0, 1, 1), (0, 2, 1)], 18, src());
        let metas =
            [RecvMeta { offset: 0, len: 54, segment_size: 18, source: src(), ..RecvMeta::EMPTY }];
        for mode in [StatsMode::Full, StatsMode::Minimal] {
            let mut r = Recorder::new(&cfg(mode), 0);
            r.on_batch(&Batch::new(&buf, &metas, 10, 0));
            let s = r.finish();
            assert_eq!((s.datagrams, s.bytes, s.foreign, s.truncated), (3, 54, 0, 0));
            if mode == StatsMode::Full {
                assert_eq!(s.flows[0].counts.received, 3);
            } else {
                assert!(s.flows.is_empty());
                assert!(s.latency.one_way.is_empty());
            }
        }
    }

    #[test]
    fn truncated_flag_counts_but_still_tracks() {
        // A cut probe (header whole) is truncated and tracked; cut junk is truncated, never
        // foreign; bytes count each datagram's wire length, in both modes.
        let (mut buf, mut metas) = arena(&[(0, 0, 1), (0, 1, 1)], 32, src());
        metas[1].truncated = true;
        metas[1].wire_len = 4000;
        buf.extend_from_slice(&[0xAB; 32]);
        metas.push(RecvMeta {
            offset: 64,
            len: 32,
            wire_len: 3000,
            truncated: true,
            source: src(),
            ..RecvMeta::EMPTY
        });
        for mode in [StatsMode::Full, StatsMode::Minimal] {
            let mut r = Recorder::new(&cfg(mode), 0);
            r.on_batch(&Batch::new(&buf, &metas, 10, 0));
            let s = r.finish();
            assert_eq!((s.datagrams, s.bytes), (3, 32 + 4000 + 3000), "{mode:?}");
            assert_eq!((s.foreign, s.truncated, s.truncated_probes), (0, 2, 1), "{mode:?}");
            if mode == StatsMode::Full {
                assert_eq!(s.flows[0].counts.received, 2);
            }
        }
    }

    #[test]
    fn a_tiny_interval_is_raised_and_the_series_is_capped() {
        let c = StatsConfig {
            epoch_ns: 0,
            ..StatsConfig::new(StatsMode::Minimal, Duration::from_nanos(1))
        };
        let mut r = Recorder::new(&c, 0);
        let iv = crate::stats::MIN_INTERVAL.as_nanos() as u64;
        assert_eq!(r.interval_ns, iv);
        let (buf, metas) = arena(&[(0, 0, 1)], 18, src());
        r.on_batch(&Batch::new(&buf, &metas, 5, 0));
        // A batch far later: the idle intervals in between fill the series up to its cap only.
        let far = (crate::stats::MAX_SERIES as u64 + 5_000) * iv;
        r.on_batch(&Batch::new(&buf, &metas, far, 0));
        r.on_idle(far + 1_000_000_000_000);
        let s = r.finish();
        // (Trailing idle intervals are trimmed from the series at the end.)
        assert!(s.series.len() <= crate::stats::MAX_SERIES);
        assert!(s.series_dropped >= 5_000, "{}", s.series_dropped);
        assert_eq!(s.datagrams, 2);
    }

    #[test]
    fn intervals_series_and_snapshots() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let c = StatsConfig { live: Some(tx), ..cfg(StatsMode::Full) };
        let mut r = Recorder::new(&c, 3);
        let s = 1_000_000_000u64;
        let mut seq = 0;
        // interval 0: nothing; 1: 2 datagrams; 2: none (idle); 3: 3 datagrams; finish in 3.
        for (t, n) in [(s + 10, 2u64), (3 * s + 10, 3)] {
            let items: Vec<_> = (0..n)
                .map(|_| {
                    seq += 1;
                    (0u8, seq, t - 5)
                })
                .collect();
            let (buf, metas) = arena(&items, 18, src());
            r.on_batch(&Batch::new(&buf, &metas, t, 3));
        }
        r.on_idle(3 * s + 20);
        let st = r.finish();
        assert_eq!(st.first_interval, 1);
        assert_eq!(st.series, vec![2, 0, 3]);
        assert_eq!(st.datagrams, 5);
        let snaps: Vec<Snapshot> = rx.try_iter().collect();
        let idx: Vec<(u64, u64)> = snaps.iter().map(|s| (s.index, s.datagrams)).collect();
        assert_eq!(idx, vec![(0, 0), (1, 2), (2, 0), (3, 3)]);
        assert!(snaps.iter().all(|x| x.socket == 3));
        assert_eq!(snaps[1].latency.as_ref().unwrap().len(), 2);
    }
}
