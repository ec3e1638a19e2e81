//! A trial's noise record and the thresholds that call it disturbed, as data (sampled by
//! `lab::noise`).

use serde::{Deserialize, Serialize};

/// Thresholds for calling a trial disturbed. A trial is disturbed when a value is strictly
/// above its threshold.
///
/// The defaults come from loopback runs on the 2-core, `CONFIG_HZ=250` VM the bench targets
/// (one-second windows, receive threads pinned, sender pinned):
/// - a blocking receive thread (recvfrom, recvmmsg, uring) saw 0 involuntary switches/s idle
///   and 0–30/s under a flood, even on the sender's core;
/// - a spinning receive thread saw 2/s idle and 80–165/s under a flood: it shares its core at
///   tick rate with the sender or the process's own helper threads (HZ/2 = 125/s for one
///   competitor); two spinning threads summed 185–230/s;
/// - disturbed seconds (a build starting on the machine) showed 560–6500/s summed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Largest steal share of the receiver's cores. Default 0.02 (2 %): on a quiet host steal
    /// stays at 0–1 tick per second; 2 % of a 0.5 s window on one core is a single 10 ms tick,
    /// so two ticks flag even the shortest trial.
    pub max_steal_share: f64,
    /// Largest rate of involuntary context switches, summed over the receive threads, per
    /// second of the window. Default 400: about twice the largest quiet value measured (two
    /// spinning threads sharing their cores at tick rate), well below a preemption storm. A
    /// steady CPU hog on a receive core is not reliably caught by this counter (it preempts a
    /// spinning thread only at tick rate, and a blocking thread mostly not at all): the
    /// throughput and the steal share show it.
    pub max_involuntary_per_s: f64,
    /// Largest number of migrations of the receive threads. Default 0: they are pinned, so a
    /// migration means the pinning failed or the CPU went offline.
    pub max_migrations: u64,
}

/// What disturbed a trial, from two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TrialNoise {
    /// Steal time on the given CPUs, ns (resolution: one USER_HZ tick, 10 ms, per CPU).
    pub steal_ns: u64,
    /// `steal_ns / (window_ns × CPUs)`: the share of the receiver's cores' time stolen.
    pub steal_share: f64,
    /// Involuntary context switches, summed over the threads present in both samples.
    pub involuntary: u64,
    /// Migrations summed over the threads present in both samples; `None` when no such thread
    /// had a migration count in both.
    pub migrations: Option<u64>,
    /// The window between the samples, seconds.
    pub window_s: f64,
}
