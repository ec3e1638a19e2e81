//! Profiles as data: where the receive cores' sampled time went, per category, per path. The
//! sampling, the classification rules and the rendering of these tables are in
//! `lab::profile`.

use serde::{Deserialize, Serialize};

/// Where a sample's time went. The order is the table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// NIC/veth driver, RPS inter-processor interrupt, NAPI poll and the softirq entry.
    Softirq,
    /// IPv4/IPv6 receive, routing, netfilter.
    IpReceive,
    /// UDP socket lookup, enqueue in softirq and dequeue in recvmsg (queue lock, memory
    /// accounting, control messages).
    UdpQueue,
    /// Waking the receiver and the scheduling around its sleep.
    Wakeup,
    /// System call entry and exit and the generic socket layer.
    Syscall,
    /// Copying datagrams, addresses and control messages to user space.
    CopyToUser,
    /// io_uring's task work and completion handling.
    UringTaskWork,
    /// Allocating and freeing socket buffers.
    SkbMemory,
    /// udprx's receive loops (methods, engine, batches, the io_uring crate).
    UserLoop,
    /// Probe header parsing.
    UserParse,
    /// The flow table (loss, reordering, duplicates).
    UserFlow,
    /// Latency histograms.
    UserHistogram,
    /// Other statistics code (the recorder).
    UserStats,
    /// Clock reads (`clock_gettime`, vDSO).
    UserClock,
    /// Other user-space code of udprx: the standard library, libc, unresolved frames.
    UserOther,
    /// The idle loop.
    Idle,
    /// Other kernel work: timers, RCU, kernel threads, the sender's path, unresolved frames.
    OtherKernel,
    /// User space of other processes on the receive cores.
    OtherProcess,
}

/// One row of a profile table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// The category.
    pub category: Category,
    /// Sampled CPU time, ns (the sum of the samples' periods).
    pub ns: u64,
    /// Percent of all sampled time on the receive cores.
    pub percent: f64,
    /// Percent of the sampled time that was not idle.
    pub busy_percent: f64,
    /// Sampled time per received datagram, ns (when the datagram count is known).
    pub ns_per_dgram: Option<f64>,
}

/// Where the receive cores' time went over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileTable {
    /// The sampled cores (empty: every CPU).
    pub cpus: Vec<usize>,
    /// Sampling frequency, Hz.
    pub freq: u32,
    /// Length of the sampled window, s.
    pub window_s: f64,
    /// Number of samples.
    pub samples: u64,
    /// Sampled time over all cores, ns.
    pub total_ns: u64,
    /// Datagrams received in the window (0 when unknown).
    pub received: u64,
    /// One row per category that has samples, in [`Category::ALL`] order.
    pub shares: Vec<Share>,
    /// The leaf functions with the most time among unclassified kernel work (for refining
    /// `lab::profile::RULES`), with their ns.
    pub other_top: Vec<(String, u64)>,
    /// Caveats: hidden kernel symbols, few samples.
    pub notes: Vec<String>,
}

/// `udprx bench --profile`: one extra trial per path at the scenario's common paced rate,
/// sampled, outside the curves (perf's overhead never enters the curve figures).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileRun {
    /// Why nothing was sampled (perf missing, no permission), when so.
    pub unavailable: Option<String>,
    /// Sampling frequency, Hz.
    pub freq: u32,
    /// Caveats for every path (hidden kernel symbols, interruption).
    pub notes: Vec<String>,
    /// One entry per udprx path (and setting).
    pub paths: Vec<PathProfile>,
}

/// The profile of one path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathProfile {
    /// The series label (with the setting's name when several were compared).
    pub label: String,
    /// Setting index.
    pub setting: usize,
    /// Offered rate of the profiled trial (`None`: unpaced).
    pub rate: Option<u64>,
    /// Sending time of the profiled trial, s.
    pub secs: f64,
    /// The flame graph's file name in the output directory.
    pub svg: Option<String>,
    /// The shares.
    pub table: Option<ProfileTable>,
    /// Received datagrams per second in the profiled trial (perf's overhead included).
    pub rx_pps: Option<f64>,
    /// Why this path has no table.
    pub error: Option<String>,
}
