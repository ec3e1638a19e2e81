//! Measurement inside the receive loops: one [`Recorder`] per receive thread (a
//! [`Handler`](udprx::batch::Handler)), owning its counters, flow table and histograms, so nothing
//! is shared on the hot path. Once per interval each recorder sends a [`Snapshot`] over a channel
//! to an [`Aggregator`] that prints the live line; at the end [`Recorder::finish`] gives a
//! [`ThreadStats`] that [`crate::report::Report::from_threads`] merges into the run's report.

mod buckets;
pub mod flow;
pub mod latency;
pub mod recorder;
pub mod snapshot;

use std::time::Duration;

pub use flow::{FlowBudget, FlowKey, FlowStats, FlowTable, SeqCounts, SeqTracker};
pub use latency::LatencyRecorder;
pub use recorder::{Recorder, ThreadStats};
pub use snapshot::{Aggregator, IntervalLine, Snapshot};

/// Shortest interval the stats layer works with: a shorter one is raised to it. Every interval
/// costs a live line, a snapshot per thread and a slot of the rate series, so an interval of
/// nanoseconds would make a run spend its time (and gigabytes) on bookkeeping; the CLI refuses
/// anything shorter with a usage error.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Longest interval the CLI accepts for live lines and the rate series.
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);

/// Most entries one thread keeps in its rate series (8 MiB; at the 10 ms minimum interval
/// about 2.9 hours, at 1 s about 12 days). Intervals beyond it are still counted in the
/// totals but not in the series, and the report says so.
pub const MAX_SERIES: usize = 1 << 20;

/// How much a recorder measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatsMode {
    /// Counts, per-flow sequence tracking and latency histograms.
    #[default]
    Full,
    /// Only counts (datagrams, bytes, foreign, truncated): the bare-drain reference for
    /// measuring what the full statistics cost.
    Minimal,
}

impl std::str::FromStr for StatsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<StatsMode, String> {
        match s {
            "full" => Ok(StatsMode::Full),
            "minimal" => Ok(StatsMode::Minimal),
            o => Err(format!("unknown stats mode '{o}' (expected full or minimal)")),
        }
    }
}

/// Settings shared by every recorder of a run.
#[derive(Debug, Clone)]
pub struct StatsConfig {
    /// What to measure.
    pub mode: StatsMode,
    /// Interval of the rate histogram and the live line (zero is taken as one second; anything
    /// shorter than [`MIN_INTERVAL`] is raised to it).
    pub interval: Duration,
    /// `CLOCK_MONOTONIC` ns at which interval 0 starts; the same for every thread, so their
    /// intervals line up. [`StatsConfig::new`] sets it to now.
    pub epoch_ns: u64,
    /// Where to send per-interval snapshots for the live line; `None` sends nothing.
    pub live: Option<crossbeam_channel::Sender<Snapshot>>,
    /// Most flows one thread tracks; datagrams of further flows are counted as untracked.
    pub max_flows: usize,
    /// Flow slots shared by every recorder made from this configuration (and its clones): the
    /// run's memory bound for flow tracking, whatever the number of sockets. Datagrams of flows
    /// beyond it are counted as untracked. [`StatsConfig::new`] gives each configuration a fresh
    /// budget of [`flow::DEFAULT_FLOW_BUDGET`] flows, so make one configuration per run.
    pub flow_budget: FlowBudget,
}

impl StatsConfig {
    /// A configuration starting its intervals now, without live output.
    pub fn new(mode: StatsMode, interval: Duration) -> StatsConfig {
        StatsConfig {
            mode,
            interval,
            epoch_ns: udpprobe::now_ns(udpprobe::Clock::Monotonic),
            live: None,
            max_flows: flow::DEFAULT_MAX_FLOWS,
            flow_budget: FlowBudget::default(),
        }
    }

    /// The interval in ns: one second for zero, at least [`MIN_INTERVAL`] otherwise.
    pub fn interval_ns(&self) -> u64 {
        interval_ns(self.interval)
    }
}

/// `interval` in ns as the stats layer uses it: one second for zero, at least
/// [`MIN_INTERVAL`] otherwise, at most `u64::MAX` ns.
pub fn interval_ns(interval: Duration) -> u64 {
    let ns = interval.as_nanos().min(u64::MAX as u128) as u64;
    if ns == 0 { 1_000_000_000 } else { ns.max(MIN_INTERVAL.as_nanos() as u64) }
}
