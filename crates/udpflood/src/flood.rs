//! The send engine: one pinned thread per flow group, paced batches, error handling, reports.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use socket2::Socket;
use udpprobe::{Clock, Repr, now_ns, thread_cpu_ns};

use crate::config::Config;
use crate::pace::{Pacer, Rate};
use crate::report::{FloodReport, FlowSent, IntervalReport, SendErrors, wire_bytes_per_datagram};
use crate::send::{self, Batcher, SendErrorKind};
use crate::{Error, FloodBuilder};

/// Consecutive non-transient send errors after which a flow gives up.
const MAX_OTHER_ERRORS: u32 = 1000;

/// A configured flood, ready to [`run`](Flood::run).
#[derive(Debug)]
pub struct Flood {
    config: Config,
    stop: StopHandle,
}

/// Stops a running flood from another thread or a signal handler. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// Asks every sender thread to stop after its current batch; the run then returns its
    /// report as usual, marked interrupted.
    pub fn stop(&self) {
        self.0.store(true, Relaxed);
    }

    /// True once [`stop`](StopHandle::stop) was called (or the flag was set).
    pub fn is_stopped(&self) -> bool {
        self.0.load(Relaxed)
    }

    /// The underlying flag, e.g. for `signal_hook::flag::register(SIGTERM, handle.flag())`.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl Flood {
    /// Starts configuring a flood towards `dest`.
    pub fn builder(dest: SocketAddr) -> FloodBuilder {
        FloodBuilder::new(dest)
    }

    pub(crate) fn new(config: Config) -> Flood {
        Flood { config, stop: StopHandle::default() }
    }

    /// The validated settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A handle that stops the run early.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs the flood to its end (duration, count or stop) and returns the report.
    pub fn run(self) -> Result<FloodReport, Error> {
        self.run_with(|_| {})
    }

    /// Like [`run`](Flood::run), calling `on_interval` on the calling thread once per configured
    /// interval (never if no interval is set) while the senders run.
    pub fn run_with(
        self,
        mut on_interval: impl FnMut(&IntervalReport),
    ) -> Result<FloodReport, Error> {
        let cfg = &self.config;
        // Sockets first, on this thread: setup errors surface before anything is sent.
        let mut flows = Vec::with_capacity(cfg.flows);
        for f in 0..cfg.flows {
            let (sock, source) = send::open_flow(cfg.dest, cfg.bind, f)?;
            flows.push(FlowSock { id: f as u8, sock, source });
        }
        let mut gso = GsoPlan::Off;
        if cfg.gso {
            gso = match send::gso_segments(cfg.payload_size, cfg.batch) {
                Err(reason) => GsoPlan::Refused(reason),
                Ok(segs) => {
                    match flows.iter().try_for_each(|f| send::set_gso(&f.sock, cfg.payload_size)) {
                        Ok(()) => GsoPlan::On(segs),
                        Err(e) => {
                            flows.iter().for_each(|f| {
                                let _ = send::set_gso(&f.sock, 0);
                            });
                            GsoPlan::Refused(format!("UDP_SEGMENT refused by the kernel: {e}"))
                        }
                    }
                }
            };
        }
        // Flow f goes to thread f % threads.
        let mut groups: Vec<Vec<FlowSock>> = (0..cfg.threads).map(|_| Vec::new()).collect();
        for (i, f) in flows.into_iter().enumerate() {
            groups[i % cfg.threads].push(f);
        }
        let progress: Vec<Progress> = (0..cfg.threads).map(|_| Progress::default()).collect();
        let barrier = Barrier::new(cfg.threads + 1);
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .enumerate()
                .map(|(t, group)| {
                    let ctx = ThreadCtx {
                        cfg,
                        thread: t,
                        flows: group,
                        gso: gso.clone(),
                        stop: &self.stop,
                        progress: &progress[t],
                        barrier: &barrier,
                    };
                    std::thread::Builder::new()
                        .name(format!("udpflood-{t}"))
                        .spawn_scoped(scope, move || sender_thread(ctx))
                })
                .collect();
            barrier.wait();
            let t0 = now_ns(Clock::Monotonic);
            if let Some(every) = cfg.interval {
                live_loop(cfg, t0, every, &progress, &handles, &mut on_interval);
            }
            handles
                .into_iter()
                .enumerate()
                .map(|(t, h)| match h {
                    Ok(h) => h.join().map_err(|_| Error::ThreadPanicked(t))?,
                    Err(e) => Err(Error::Io { context: format!("spawn thread {t}"), source: e }),
                })
                .collect::<Vec<_>>()
        });
        let results = results.into_iter().collect::<Result<Vec<_>, Error>>()?;
        Ok(self.summarise(results, &gso))
    }

    fn summarise(&self, results: Vec<ThreadResult>, gso: &GsoPlan) -> FloodReport {
        let cfg = &self.config;
        let start = results.iter().map(|r| r.start_ns).min().unwrap_or(0);
        let end = results.iter().map(|r| r.end_ns).max().unwrap_or(start);
        let duration_s = (end - start) as f64 / 1e9;
        let packets = results.iter().fold(0u64, |a, r| a.saturating_add(r.packets));
        let cpu_ns = results.iter().fold(0u64, |a, r| a.saturating_add(r.cpu_ns));
        let mut errors = SendErrors::default();
        let mut flows = Vec::new();
        let mut fallback = match gso {
            GsoPlan::Refused(r) => Some(r.clone()),
            _ => None,
        };
        for r in &results {
            errors.add(&r.errors);
            flows.extend(r.flows.iter().cloned());
            if fallback.is_none() {
                fallback = r.gso_fallback.clone();
            }
        }
        flows.sort_by_key(|f| f.flow);
        let wire_bytes =
            packets.saturating_mul(wire_bytes_per_datagram(cfg.payload_size, cfg.dest.is_ipv6()));
        let per_s = |x: f64| if duration_s > 0.0 { x / duration_s } else { 0.0 };
        FloodReport {
            dest: cfg.dest,
            payload_size: cfg.payload_size,
            threads: cfg.threads,
            packets,
            bytes: packets.saturating_mul(cfg.payload_size as u64),
            wire_bytes,
            duration_s,
            pps: per_s(packets as f64),
            wire_gbps: per_s(wire_bytes as f64 * 8.0) / 1e9,
            errors,
            cpu_ns_per_packet: if packets > 0 { cpu_ns as f64 / packets as f64 } else { 0.0 },
            flows,
            gso_requested: cfg.gso,
            gso_active: cfg.gso && fallback.is_none(),
            gso_fallback_reason: fallback,
            clock: cfg.clock,
            sender: cfg.sender,
            rate_requested: cfg.rate,
            interrupted: self.stop.is_stopped(),
        }
    }
}

/// Calls back once per interval until every sender thread has finished.
fn live_loop<T>(
    cfg: &Config,
    t0: u64,
    every: Duration,
    progress: &[Progress],
    handles: &[std::io::Result<std::thread::ScopedJoinHandle<'_, T>>],
    on_interval: &mut impl FnMut(&IntervalReport),
) {
    let every_ns = every.as_nanos().min(u64::MAX as u128) as u64;
    let wire = wire_bytes_per_datagram(cfg.payload_size, cfg.dest.is_ipv6());
    let running = || handles.iter().any(|h| h.as_ref().is_ok_and(|h| !h.is_finished()));
    let (mut last_t, mut last_packets, mut last_errors) = (t0, 0u64, SendErrors::default());
    let mut next = t0.saturating_add(every_ns);
    while running() {
        let now = now_ns(Clock::Monotonic);
        if now < next {
            std::thread::sleep(Duration::from_nanos(next - now).min(Duration::from_millis(20)));
            continue;
        }
        let (packets, errors) = sum_progress(progress);
        let secs = (now - last_t) as f64 / 1e9;
        let n = packets.saturating_sub(last_packets);
        on_interval(&IntervalReport {
            start_s: (last_t - t0) as f64 / 1e9,
            end_s: (now - t0) as f64 / 1e9,
            packets: n,
            pps: n as f64 / secs,
            wire_gbps: n.saturating_mul(wire) as f64 * 8.0 / secs / 1e9,
            errors: errors.since(&last_errors),
            total_packets: packets,
        });
        (last_t, last_packets, last_errors) = (now, packets, errors);
        // Intervals missed while the callback ran (a slow terminal) are folded into the next
        // report instead of being reported back to back.
        next = next.saturating_add(every_ns);
        if next <= now {
            next = now.saturating_add(every_ns);
        }
    }
}

fn sum_progress(progress: &[Progress]) -> (u64, SendErrors) {
    let mut packets = 0;
    let mut e = SendErrors::default();
    for p in progress {
        packets = u64::saturating_add(packets, p.packets.load(Relaxed));
        e.add(&SendErrors {
            enobufs: p.enobufs.load(Relaxed),
            eagain: p.eagain.load(Relaxed),
            econnrefused: p.econnrefused.load(Relaxed),
            other: p.other.load(Relaxed),
        });
    }
    (packets, e)
}

/// A thread's running totals, written by that thread once per batch, read by the live loop.
#[derive(Default)]
#[repr(align(128))]
struct Progress {
    packets: AtomicU64,
    enobufs: AtomicU64,
    eagain: AtomicU64,
    econnrefused: AtomicU64,
    other: AtomicU64,
}

impl Progress {
    fn publish(&self, packets: u64, e: &SendErrors) {
        self.packets.store(packets, Relaxed);
        self.enobufs.store(e.enobufs, Relaxed);
        self.eagain.store(e.eagain, Relaxed);
        self.econnrefused.store(e.econnrefused, Relaxed);
        self.other.store(e.other, Relaxed);
    }
}

#[derive(Debug, Clone)]
enum GsoPlan {
    Off,
    /// Segments per GSO message.
    On(usize),
    Refused(String),
}

struct FlowSock {
    id: u8,
    sock: Socket,
    source: SocketAddr,
}

struct ThreadCtx<'a> {
    cfg: &'a Config,
    thread: usize,
    flows: Vec<FlowSock>,
    gso: GsoPlan,
    stop: &'a StopHandle,
    progress: &'a Progress,
    barrier: &'a Barrier,
}

struct ThreadResult {
    start_ns: u64,
    end_ns: u64,
    packets: u64,
    cpu_ns: u64,
    errors: SendErrors,
    flows: Vec<FlowSent>,
    gso_fallback: Option<String>,
}

/// A flow's state inside its thread.
struct FlowState {
    sock: FlowSock,
    seq: u64,
    remaining: u64,
}

fn sender_thread(ctx: ThreadCtx<'_>) -> Result<ThreadResult, Error> {
    let cfg = ctx.cfg;
    if !cfg.cpus.is_empty() {
        let cpu = cfg.cpus[ctx.thread % cfg.cpus.len()];
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    }
    let total_flows = cfg.flows as u64;
    let mut flows: Vec<FlowState> = ctx
        .flows
        .into_iter()
        .map(|sock| {
            let f = sock.id as u64;
            let remaining = match cfg.count {
                Some(c) => c / total_flows + u64::from(f < c % total_flows),
                None => u64::MAX,
            };
            FlowState { sock, seq: 0, remaining }
        })
        .collect();
    // This thread's share of the rate: rate * my_flows / flows packets per second.
    let rate = cfg.rate.map(|r| Rate::new(r.saturating_mul(flows.len() as u64), total_flows));
    let (mut per_msg, mut gso_fallback) = match &ctx.gso {
        GsoPlan::On(segs) => (*segs, None),
        _ => (1, None),
    };
    let pacer = Pacer::new(rate, cfg.batch, cfg.burst);
    let mut batcher = Batcher::new(cfg.payload_size, cfg.batch, per_msg);
    let clock = cfg.clock;
    let sender = cfg.sender;
    let stop = &ctx.stop.0;

    ctx.barrier.wait();
    let cpu0 = thread_cpu_ns();
    let start = now_ns(Clock::Monotonic);
    let end = cfg.duration.map(|d| start.saturating_add(d.as_nanos().min(u64::MAX as u128) as u64));
    // A paced run of a fixed duration sends at most what is due before its end: a burst that
    // does not divide the run (or is larger than it) cannot push the mean above the rate.
    let budget = match (rate, cfg.duration) {
        (Some(r), Some(d)) => r.due_before(d.as_nanos().min(u64::MAX as u128) as u64),
        _ => u64::MAX,
    };
    let mut sent: u64 = 0;
    let mut errors = SendErrors::default();
    let mut other_streak = 0u32;
    let mut cur = 0usize;
    let mut failure = None;
    let mut gso_cleared = false;

    'run: while !stop.load(Relaxed) {
        if sent >= budget {
            // Everything due is sent: the run still lasts its full duration.
            if let Some(e) = end {
                wait_until(e, stop);
            }
            break;
        }
        // Next flow with datagrams left, round robin per batch.
        let Some(fi) =
            (0..flows.len()).map(|k| (cur + k) % flows.len()).find(|&i| flows[i].remaining > 0)
        else {
            break;
        };
        cur = fi + 1;
        let step = pacer.step(sent, flows[fi].remaining.min(budget - sent));
        if let Some(at) = step.wait_until_ns {
            let deadline = start.saturating_add(at);
            if let Some(e) = end.filter(|&e| deadline >= e) {
                // Nothing more is due before the end: the run still lasts its full duration.
                wait_until(e, stop);
                break;
            }
            if !wait_until(deadline, stop) {
                break;
            }
        }
        let mono = now_ns(Clock::Monotonic);
        if end.is_some_and(|e| mono >= e) {
            break;
        }
        let flow = &mut flows[fi];
        let n = step.packets;
        let tx_ns = if clock == Clock::Monotonic { mono } else { now_ns(clock) };
        stamp(&mut batcher, 0, n, (sender, flow.sock.id), flow.seq, tx_ns, clock);
        let mut done = 0;
        let mut streak = 0u32;
        while done < n {
            match batcher.send(&flow.sock.sock, done, n - done) {
                Ok(k) => {
                    done += k;
                    streak = 0;
                    other_streak = 0;
                }
                Err(e) => {
                    if per_msg > 1 && send::is_gso_refusal(&e) {
                        // The kernel cannot segment here: plain sendmmsg from now on. The
                        // option goes too (with it set, the kernel still checks the segment size
                        // against the MTU); other flows' sockets are cleared after this batch.
                        let _ = send::set_gso(&flow.sock.sock, 0);
                        per_msg = 1;
                        batcher.set_per_msg(1);
                        gso_fallback = Some(format!("GSO send refused by the kernel: {e}"));
                        continue;
                    }
                    streak += 1;
                    match SendErrorKind::of(&e) {
                        SendErrorKind::NoBufs => errors.enobufs += 1,
                        SendErrorKind::Again => errors.eagain += 1,
                        // The error was the pending ICMP; the datagrams were not sent: retry.
                        SendErrorKind::ConnRefused => errors.econnrefused += 1,
                        SendErrorKind::Other => {
                            errors.other += 1;
                            other_streak += 1;
                            if other_streak >= MAX_OTHER_ERRORS {
                                failure = Some(Error::SendFailed {
                                    flow: flow.sock.id,
                                    attempts: other_streak,
                                    source: e,
                                });
                                break 'run;
                            }
                        }
                    }
                    backoff(SendErrorKind::of(&e), streak);
                    if stop.load(Relaxed) || end.is_some_and(|e| now_ns(Clock::Monotonic) >= e) {
                        break;
                    }
                    // Re-stamp what is left with a fresh send time after the pause.
                    let tx_ns = now_ns(clock);
                    let (id, seq) = (flow.sock.id, flow.seq + done as u64);
                    stamp(&mut batcher, done, n - done, (sender, id), seq, tx_ns, clock);
                }
            }
        }
        let flow = &mut flows[fi];
        flow.seq += done as u64;
        flow.remaining -= done as u64;
        sent += done as u64;
        ctx.progress.publish(sent, &errors);
        if gso_fallback.is_some() && !gso_cleared {
            for f in &flows {
                let _ = send::set_gso(&f.sock.sock, 0);
            }
            gso_cleared = true;
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // A paced run of a fixed count ends when the last datagram's time slot does, so that the
    // mean rate is the requested one even for short runs.
    if flows.iter().all(|f| f.remaining == 0)
        && let Some(slot_end) = pacer.end_ns(sent)
    {
        let deadline = start.saturating_add(slot_end);
        wait_until(end.map_or(deadline, |e| e.min(deadline)), stop);
    }
    let end_ns = now_ns(Clock::Monotonic);
    let cpu_ns = thread_cpu_ns() - cpu0;
    Ok(ThreadResult {
        start_ns: start,
        end_ns,
        packets: sent,
        cpu_ns,
        errors,
        flows: flows
            .iter()
            .map(|f| FlowSent { flow: f.sock.id, source: f.sock.source, packets: f.seq })
            .collect(),
        gso_fallback,
    })
}

/// Writes the probe header of packets `seq ..` of (`sender`, `flow`) into slots
/// `first .. first + n`.
#[inline]
fn stamp(
    b: &mut Batcher,
    first: usize,
    n: usize,
    (sender, flow): (u16, u8),
    seq: u64,
    tx_ns: u64,
    clock: Clock,
) {
    for i in 0..n {
        let repr = Repr { flow, seq: seq + i as u64, sender, tx_ns, clock };
        repr.emit(&mut udpprobe::Packet::new_unchecked(b.packet_mut(first + i)));
    }
}

/// Waits until the monotonic clock reaches `deadline`: sleeps while far, spins the last
/// stretch. Returns false if a stop was requested meanwhile.
fn wait_until(deadline: u64, stop: &AtomicBool) -> bool {
    const SPIN_NS: u64 = 50_000;
    loop {
        if stop.load(Relaxed) {
            return false;
        }
        let now = now_ns(Clock::Monotonic);
        if now >= deadline {
            return true;
        }
        let left = deadline - now;
        if left > SPIN_NS {
            // Sleep in slices of at most 50 ms so a stop request is seen promptly.
            std::thread::sleep(Duration::from_nanos((left - SPIN_NS).min(50_000_000)));
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Pause after a failed send: yield for the first few transient errors in a row, then sleep a
/// little longer each time (up to 1 ms). ECONNREFUSED retries at once.
fn backoff(kind: SendErrorKind, streak: u32) {
    match kind {
        SendErrorKind::ConnRefused => {}
        SendErrorKind::Other => std::thread::sleep(Duration::from_millis(1)),
        SendErrorKind::NoBufs | SendErrorKind::Again if streak <= 4 => std::thread::yield_now(),
        SendErrorKind::NoBufs | SendErrorKind::Again => {
            std::thread::sleep(Duration::from_micros((10 * streak as u64).min(1000)))
        }
    }
}
