//! A measured receive run: the engine with one stats [`Recorder`] per socket thread, kernel
//! counters sampled around it, and the per-thread results merged into one [`Report`].
//!
//! This is the one place that joins the receive engine and the measurement layer; the CLI,
//! the bench harness and the control server all call [`run`].

use std::time::Duration;

use crate::kernel::{SoftnetSample, UdpSample};
use crate::report::{Report, ThreadCost};
use crate::stats::FlowBudget;
use crate::stats::{Aggregator, IntervalLine, Recorder, StatsConfig, StatsMode};
use udprx::engine::{Receiver, RunOutput};
use udprx::error::Error;

/// What a measured run records and where its live lines go.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Full statistics or counts only.
    pub mode: StatsMode,
    /// Interval of the rate histogram (and of live lines when `live` is set).
    pub interval: Duration,
    /// Most flows the run tracks over all its threads (the run's [`FlowBudget`]); datagrams of
    /// further flows are counted as untracked. Also each thread's own cap, so one socket may
    /// use the whole budget.
    ///
    /// [`FlowBudget`]: crate::stats::FlowBudget
    pub flow_budget: usize,
}

impl Default for Measure {
    fn default() -> Measure {
        Measure {
            mode: StatsMode::Full,
            interval: Duration::from_secs(1),
            flow_budget: crate::stats::flow::DEFAULT_FLOW_BUDGET,
        }
    }
}

/// Runs `receiver` to its end (duration, stop handle or a handler's stop) with a [`Recorder`]
/// per thread, calling `on_line` for every merged live interval line, and returns the report.
///
/// The Udp counters of the calling thread's network namespace (`/proc/thread-self/net/snmp`)
/// and the host's softnet counters are sampled before and after; call it from a thread inside
/// the receiver's namespace for the kernel deltas to describe the right stack.
pub fn run(
    receiver: Receiver,
    measure: &Measure,
    on_line: Option<&mut (dyn FnMut(&IntervalLine) + Send)>,
) -> Result<Report, Error> {
    let setup = serde_json::to_value(receiver.setup()).unwrap_or(serde_json::Value::Null);
    let sockets = receiver.setup().sockets;
    // The XDP paths take the address from the frame: their setup says true.
    let addresses = receiver.setup().source_addresses;
    let mut cfg = StatsConfig::new(measure.mode, measure.interval);
    cfg.flow_budget = FlowBudget::new(measure.flow_budget);
    cfg.max_flows = measure.flow_budget;
    let interval = Duration::from_nanos(cfg.interval_ns());
    // Bounded, so a printer that lags (a slow terminal, a full pipe) costs dropped live
    // snapshots rather than memory; the recorders never block on it.
    let (tx, rx) = crossbeam_channel::bounded((4 * sockets).clamp(64, 1024));
    if on_line.is_some() {
        cfg.live = Some(tx);
    } else {
        drop(tx);
    }
    let udp_before = UdpSample::read().ok();
    let softnet_before = SoftnetSample::read().ok();

    let output = std::thread::scope(|scope| {
        let printer = on_line
            .map(|out| scope.spawn(move || Aggregator::new(sockets, interval).run(rx, |l| out(l))));
        let result = receiver.run(|info| Recorder::new(&cfg, info.socket));
        // The recorders and the config hold the live senders: drop them so the printer ends.
        let result = result.map(finish);
        drop(cfg);
        if let Some(p) = printer {
            let _ = p.join();
        }
        result
    })?;

    let (threads, elapsed, bad_frames, fallbacks) = output;
    let kernel = match (udp_before, UdpSample::read().ok()) {
        (Some(b), Some(a)) => Some(a.delta(&b)),
        _ => None,
    };
    let mut report = Report::from_threads(threads, kernel, setup, elapsed);
    report.softnet = match (softnet_before, SoftnetSample::read().ok()) {
        (Some(b), Some(a)) => Some(a.delta(&b)),
        _ => None,
    };
    if !addresses {
        report.warnings.push(NO_ADDRESSES_NOTE.to_string());
    }
    // `auto` left io_uring at run time on these sockets: the method in the setup is not the
    // whole story.
    report.warnings.extend(fallbacks);
    if bad_frames > 0 {
        report.warnings.push(format!(
            "{bad_frames} frame(s) reached the AF_XDP socket without being a whole \
             Ethernet/IP/UDP datagram (counted and skipped, not in the datagram totals)"
        ));
    }
    Ok(report)
}

/// What the report of a run without source addresses states (see
/// `udprx::ReceiverBuilder::source_addresses`).
pub const NO_ADDRESSES_NOTE: &str = "source addresses not read (the receive calls a bare loop \
makes): flows are keyed by the probe header's sender id and flow id; senders that stamp no \
sender id (probe header version 1) count as sender 0";

type Finished = (Vec<(crate::stats::ThreadStats, ThreadCost)>, Duration, u64, Vec<String>);

fn finish(out: RunOutput<Recorder>) -> Finished {
    let mut threads = Vec::with_capacity(out.handlers.len());
    for (h, t) in out.handlers.into_iter().zip(out.threads.iter()) {
        let cost = ThreadCost {
            cpu: t.cpu,
            cpu_user_ns: t.cpu_user_ns,
            cpu_sys_ns: t.cpu_sys_ns,
            kernel_drops: t.kernel_drops,
            batches: t.batches,
            epoll_wakeups: t.epoll_wakeups,
        };
        threads.push((h.finish(), cost));
    }
    let bad_frames = out.threads.iter().map(|t| t.bad_frames).sum();
    let fallbacks = out
        .threads
        .iter()
        .filter_map(|t| t.fallback.as_ref().map(|why| format!("socket {}: {why}", t.socket)))
        .collect();
    (threads, out.elapsed, bad_frames, fallbacks)
}
