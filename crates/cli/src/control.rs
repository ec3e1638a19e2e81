//! The receive behind `udprx serve`: a [`udpctl::RunExecutor`] that runs the engine through
//! [`measure::run`] (one stats recorder per socket) and hands back the run's [`Report`] as the
//! receiver report.
//!
//! The control protocol itself (framing, validation, token, allow-list, the server loop) lives
//! in the `udpctl` crate, below both `udprx` and `udpflood`; this module only plugs the engine
//! in. One engine run serves every sender of an N:1 run: the server gives each sender its own
//! flow ids (`flow_base`) and each udpflood run stamps its own sender id, and the stats layer keys
//! flows by (sender id, flow id) — the receive reads no source address, as `udprx` by default —
//! so several senders' flows never share a sequence space, and the
//! run's single [`Report`] already holds all of them, summed the same way
//! [`Report::merge`] would (nothing is left to merge on the receive side).

use std::net::{IpAddr, SocketAddr};
use std::thread::JoinHandle;
use std::time::Duration;

use udpctl::{
    ExecError, LatencySummary, ReceiverReport, ReceiverSummary, RunExecutor, RunHandle, RunRequest,
    SenderReport,
};

use udprx::{Method, Receiver, StopHandle};
use udprx_stats::measure::{self, Measure};
use udprx_stats::report::{HistData, Report};

/// Receive settings the server applies to every run (the request picks method and sockets).
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// CPUs for the socket threads; `None`: the engine's default; empty: no pinning.
    pub cpus: Option<Vec<usize>>,
    /// Receive buffer size per socket.
    pub rcvbuf: Option<usize>,
    /// Datagrams per `recvmmsg` call.
    pub batch: usize,
    /// Kernel receive timestamps (splits latency into tx → kernel and kernel → app).
    pub timestamps: bool,
    /// What the run measures (mode, rate interval, flow budget). Its `flow_budget` is what a
    /// request without one gets; a request may ask for less or more, up to the server's
    /// `Limits::max_flow_budget` (`udprx serve --flow-budget` sets both).
    pub measure: Measure,
    /// Hard bound on a run beyond its requested duration, in case it is never finished.
    pub safety_margin: Duration,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            cpus: None,
            rcvbuf: None,
            batch: 64,
            timestamps: false,
            measure: Measure::default(),
            safety_margin: Duration::from_secs(120),
        }
    }
}

/// Runs the receive engine for control-channel requests.
#[derive(Debug, Clone, Default)]
pub struct EngineExecutor {
    cfg: ExecutorConfig,
}

impl EngineExecutor {
    /// An executor with these settings.
    pub fn new(cfg: ExecutorConfig) -> Self {
        EngineExecutor { cfg }
    }
}

fn exec_err(e: impl std::fmt::Display) -> ExecError {
    ExecError(e.to_string())
}

impl RunExecutor for EngineExecutor {
    fn methods(&self) -> Vec<String> {
        let mut m: Vec<String> = Method::ALL.iter().map(|m| m.as_str().to_string()).collect();
        // Opt-in methods are named, not defaults: epoll (the event-loop shape) is offered too.
        m.push(Method::Epoll.as_str().to_string());
        m.push(Method::Auto.as_str().to_string());
        m
    }

    fn prepare(&self, req: &RunRequest, bind_ip: IpAddr) -> Result<Box<dyn RunHandle>, ExecError> {
        let method: Method = req.method.parse().map_err(ExecError)?;
        if method.is_xdp() {
            return Err(ExecError(format!(
                "method {method} takes over an interface queue and is not offered over the \
                 control channel; run udprx --method {method} on the receiver itself"
            )));
        }
        let stop = StopHandle::new();
        let mut b = Receiver::builder(SocketAddr::new(bind_ip, req.data_port))
            .method(method)
            .fanout(udprx::Fanout::new(req.sockets as usize, udprx::Steer::Hash))
            .batch(self.cfg.batch)
            .rcvbuf(self.cfg.rcvbuf)
            .timestamps(self.cfg.timestamps)
            // The receive calls of a bare loop, as `udprx` by default: each sender of the run
            // has its own flow ids (`flow_base`), so no source address is needed to keep them
            // apart; drops read per interval, exact at the end.
            .source_addresses(false)
            .drops_per_interval(true)
            .duration(Some(Duration::from_millis(req.duration_ms) + self.cfg.safety_margin))
            .stop_handle(stop.clone());
        if let Some(cpus) = &self.cfg.cpus {
            b = b.cpus(cpus.clone());
        }
        // Validated by udpctl (MIN_BUFFER_SIZE..=MAX_BUFFER_SIZE).
        if let Some(bytes) = req.buffer_size {
            b = b.buffer_size(bytes as usize);
        }
        // Never `share_port`: a request must not take a share of another receiver's datagrams
        // (the engine refuses a data port another socket holds).
        let receiver = b.build().map_err(|e| exec_err(crate::args::cli_message(&e)))?;
        Ok(Box::new(EngineRun {
            port: receiver.local_addr().port(),
            receiver: Some(receiver),
            stop,
            thread: None,
            measure: Measure {
                // Validated by udpctl (1..=the server's own budget, `Limits::max_flow_budget`).
                flow_budget: req.flow_budget.map_or(self.cfg.measure.flow_budget, |n| n as usize),
                ..self.cfg.measure.clone()
            },
            clock: req.clock,
        }))
    }
}

type RunThread = JoinHandle<Result<Report, udprx::Error>>;

struct EngineRun {
    port: u16,
    receiver: Option<Receiver>,
    stop: StopHandle,
    thread: Option<RunThread>,
    measure: Measure,
    clock: udpprobe::Clock,
}

impl RunHandle for EngineRun {
    fn data_port(&self) -> u16 {
        self.port
    }

    fn begin(&mut self) -> Result<(), ExecError> {
        let receiver = self.receiver.take().ok_or_else(|| ExecError("run already begun".into()))?;
        let measure = self.measure.clone();
        // The run thread inherits the server's network namespace, so the kernel counter deltas
        // describe the stack the data arrives on.
        let thread = std::thread::Builder::new()
            .name("udprx-serve-run".into())
            .spawn(move || measure::run(receiver, &measure, None))
            .map_err(exec_err)?;
        self.thread = Some(thread);
        Ok(())
    }

    fn finish(
        mut self: Box<Self>,
        drain: Duration,
        senders: &[SenderReport],
    ) -> Result<ReceiverReport, ExecError> {
        std::thread::sleep(drain);
        self.stop.stop();
        let thread = self.thread.take().ok_or_else(|| ExecError("run never began".into()))?;
        let mut report = thread
            .join()
            .map_err(|_| ExecError("the receive run panicked".into()))?
            .map_err(exec_err)?;
        if !senders.is_empty() {
            // The receiver's own accounting (sent = received + kernel drops + elsewhere).
            report.sent = Some(senders.iter().map(|s| s.summary.sent).sum());
        }
        Ok(receiver_report(&report, self.clock))
    }
}

impl Drop for EngineRun {
    fn drop(&mut self) {
        // A run dropped without `finish` (server error paths) must not keep receiving.
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn latency(h: &HistData) -> LatencySummary {
    LatencySummary {
        samples: h.count,
        min_ns: h.min,
        p50_ns: h.p50,
        p99_ns: h.p99,
        p999_ns: h.p999,
        max_ns: h.max,
        mean_ns: h.mean,
    }
}

/// The control channel's view of a report: the summary fields the combined report reads, and
/// the whole report as `detail`.
///
/// | summary field  | report field                                  |
/// |----------------|-----------------------------------------------|
/// | `datagrams`    | `totals.datagrams`                            |
/// | `received`     | `totals.received` (distinct probe datagrams)  |
/// | `bytes`        | `totals.bytes`                                |
/// | `foreign`      | `totals.foreign`                              |
/// | `truncated`    | `totals.truncated` (cut by the kernel, or too short for a header) |
/// | `seq_lost`     | `totals.lost`                                 |
/// | `reordered`    | `totals.reordered`                            |
/// | `duplicates`   | `totals.duplicates`                           |
/// | `kernel_drops` | `totals.kernel_drops` (SO_RXQ_OVFL)           |
/// | `elapsed_ns`   | `elapsed_s`                                   |
/// | `latency`      | `latency.one_way`                             |
/// | `clock_skew`   | `totals.clock_skew`                           |
///
/// `clock` is the clock the datagrams' headers named (`latency.clock`), or `requested` when
/// no datagram carried a timestamp or they were mixed.
pub fn receiver_report(report: &Report, requested: udpprobe::Clock) -> ReceiverReport {
    let t = &report.totals;
    let clock = report
        .latency
        .clock
        .as_deref()
        .and_then(|c| c.parse::<udpprobe::Clock>().ok())
        .unwrap_or(requested);
    ReceiverReport {
        summary: ReceiverSummary {
            datagrams: t.datagrams,
            received: t.received,
            bytes: t.bytes,
            foreign: t.foreign,
            truncated: t.truncated,
            seq_lost: t.lost,
            reordered: t.reordered,
            duplicates: t.duplicates,
            kernel_drops: t.kernel_drops,
            elapsed_ns: (report.elapsed_s * 1e9) as u64,
            clock,
            latency: report.latency.one_way.as_ref().map(latency),
            clock_skew: t.clock_skew,
        },
        detail: serde_json::to_value(report).unwrap_or_default(),
    }
}
