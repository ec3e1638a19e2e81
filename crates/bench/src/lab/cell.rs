//! One measurement cell over the real libraries: the only module that touches the sender
//! (`udpflood`), the receive engine ([`udprx::Receiver`]) and the stats layer
//! ([`udprx_stats::measure::run`], [`udprx_stats::report::Report`]). Everything else in the harness sees
//! [`CellSpec`] in and [`CellResult`] out.
//!
//! A cell: a thread enters the receiver's namespace, builds the receiver (sockets bound there),
//! reads the namespace's UDP counters and runs; a second thread enters the sender's namespace,
//! sends one warm-up datagram (neighbour resolution) and floods for the cell's time; after a
//! short drain the receiver is stopped. `/proc/stat` and `/proc/softirqs` are sampled around the
//! cell for the softirq share of the receiver's cores.

use crate::lab::noise::{NoiseSample, trial_noise};
use crate::lab::procfs::{parse_net_rx, parse_stat_softirq};
use crate::lab::topology::{self, Topology};
use crate::{CellResult, CellSpec, CpuSplit, Error, Fanout, Result, SnmpDelta};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use udprx::{Method, Receiver};
use udprx_stats::kernel::SoftnetSample;
use udprx_stats::measure::Measure;
use udprx_stats::report::Report;
use udprx_stats::stats::StatsMode;

/// Time the receiver keeps draining after the sender stopped.
const DRAIN: Duration = Duration::from_millis(250);

/// What a udprx cell needs besides its spec.
#[derive(Debug, Clone, Copy)]
pub struct UdprxPath {
    /// Receive method.
    pub method: Method,
    /// Fan-out.
    pub fanout: Fanout,
    /// UDP_GRO.
    pub gro: bool,
    /// Busy-spin.
    pub spin: bool,
    /// Read each datagram's source address and the drop counter per datagram (`+sources`).
    pub sources: bool,
    /// XDP rows on veth: turn threaded NAPI on and pin its thread to the receiver's core (the
    /// XDP counterpart of RPS); otherwise XDP runs in the sender's softirq.
    pub threaded_napi: bool,
}

/// Per-CPU counters sampled around a cell.
#[derive(Debug, Clone, Default)]
pub struct CpuSample {
    /// softirq ticks per CPU (`/proc/stat`).
    pub softirq_ticks: Vec<u64>,
    /// Busy ticks per CPU (`/proc/stat`: user + nice + system + irq + softirq).
    pub busy_ticks: Vec<u64>,
    /// NET_RX softirq counts per CPU (`/proc/softirqs`).
    pub net_rx: Vec<u64>,
    /// The host's packet backlog counters (`/proc/net/softnet_stat`), when sampled here: a
    /// udprx cell leaves them to the stats layer, which samples them around the receiver.
    pub softnet: Option<SoftnetSample>,
}

impl CpuSample {
    /// Reads `/proc/stat` and `/proc/softirqs` (missing files give empty vectors), and
    /// `/proc/net/softnet_stat` when `softnet` is set.
    pub fn read(softnet: bool) -> CpuSample {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let softirqs = std::fs::read_to_string("/proc/softirqs").unwrap_or_default();
        CpuSample {
            softirq_ticks: parse_stat_softirq(&stat),
            busy_ticks: crate::lab::procfs::parse_stat_busy(&stat),
            net_rx: parse_net_rx(&softirqs),
            softnet: if softnet { SoftnetSample::read().ok() } else { None },
        }
    }

    /// Busy ticks per CPU now (`/proc/stat`), for a window narrower than the whole cell.
    pub fn busy_now() -> Vec<u64> {
        crate::lab::procfs::parse_stat_busy(
            &std::fs::read_to_string("/proc/stat").unwrap_or_default(),
        )
    }

    /// Backlog drops on every CPU since `before` (0 unless both sampled softnet).
    pub fn backlog_drops_since(&self, before: &CpuSample) -> u64 {
        match (&self.softnet, &before.softnet) {
            (Some(a), Some(b)) => a.delta(b).total.dropped,
            _ => 0,
        }
    }
}

fn sum_delta(after: &[u64], before: &[u64], cpus: &[usize]) -> u64 {
    cpus.iter()
        .map(|&c| {
            after.get(c).copied().unwrap_or(0).saturating_sub(before.get(c).copied().unwrap_or(0))
        })
        .sum()
}

/// The CPU split of a cell from the samples and the receiving threads' own CPU time.
pub fn cpu_split(
    before: &CpuSample,
    after: &CpuSample,
    spec: &CellSpec,
    app_user_ns: u64,
    app_sys_ns: u64,
    received: u64,
) -> CpuSplit {
    let tick_ns = 1_000_000_000 / crate::lab::sys::clock_ticks_per_sec();
    let mut rx_cpus = spec.receiver_cpus.clone();
    rx_cpus.sort_unstable();
    rx_cpus.dedup();
    let tx_cpus: Vec<usize> =
        spec.sender_cpus.iter().copied().filter(|c| !rx_cpus.contains(c)).collect();
    let rx_softirq_ns = sum_delta(&after.softirq_ticks, &before.softirq_ticks, &rx_cpus) * tick_ns;
    let tx_softirq_ns = sum_delta(&after.softirq_ticks, &before.softirq_ticks, &tx_cpus) * tick_ns;
    // Whole receive side: every tick the receive cores were busy, whoever ran (USER_HZ
    // resolution: up to one tick per core at each end of the trial).
    let rx_busy_ns = sum_delta(&after.busy_ticks, &before.busy_ticks, &rx_cpus) * tick_ns;
    let per = |ns: u64| if received == 0 { 0.0 } else { ns as f64 / received as f64 };
    CpuSplit {
        app_user_ns,
        app_sys_ns,
        rx_softirq_ns,
        tx_softirq_ns,
        rx_net_rx: sum_delta(&after.net_rx, &before.net_rx, &rx_cpus),
        app_ns_per_dgram: per(app_user_ns + app_sys_ns),
        softirq_ns_per_dgram: per(rx_softirq_ns),
        rx_busy_ns,
        rx_busy_ns_per_dgram: per(rx_busy_ns),
    }
}

/// Floods `dest` from the sender's namespace with the cell's traffic, on the calling thread
/// (which enters `tx_ns` first), until the cell's time is up or `stop` is set. The same flood
/// feeds every udprx row and the sockperf reference row.
pub(super) fn flood(
    tx_ns: Option<&std::path::Path>,
    dest: SocketAddr,
    spec: &CellSpec,
    traffic: &crate::Traffic,
    stop: &AtomicBool,
) -> Result<udpflood::FloodReport> {
    if let Some(p) = tx_ns {
        crate::lab::sys::enter_netns(p)
            .map_err(|e| Error::Topology(format!("entering {}: {e}", p.display())))?;
    }
    warm_up(dest);
    let flood = udpflood::Flood::builder(dest)
        .payload_size(traffic.payload)
        .flows(traffic.flows)
        .threads(spec.sender_cpus.len().max(1))
        .cpus(Some(spec.sender_cpus.clone()).filter(|c| !c.is_empty()))
        .batch(traffic.batch)
        .gso(traffic.gso)
        .rate(spec.rate)
        .duration(Some(Duration::from_secs_f64(spec.secs.max(0.1))))
        .build()
        .map_err(|e| Error::Cell(format!("sender: {e}")))?;
    let flood_stop = flood.stop_handle();
    // Ctrl-C stops the flood early; the watcher ends with the flood.
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if stop.load(Ordering::Relaxed) {
                    flood_stop.stop();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let r = flood.run().map_err(|e| Error::Cell(format!("sender: {e}")));
        done.store(true, Ordering::Relaxed);
        r
    })
}

/// Sends one datagram to the receiver's address from the sender's namespace so the neighbour
/// entry exists before the flood (otherwise the first datagrams queue on an unresolved entry
/// and some are dropped).
fn warm_up(dest: SocketAddr) {
    if let Ok(s) = std::net::UdpSocket::bind((std::net::Ipv4Addr::UNSPECIFIED, 0)) {
        let _ = s.send_to(b"udprx-bench warm-up", dest);
    }
    std::thread::sleep(Duration::from_millis(20));
}

/// Called around a cell's measured window: just before the sender starts and right after it
/// ends (the receiver is built and running; its set-up and drain are outside the window).
pub trait CellWindow {
    /// The sender is about to start.
    fn open(&mut self);
    /// The sender has ended.
    fn close(&mut self);
}

/// A window nobody watches.
struct Unwatched;

impl CellWindow for Unwatched {
    fn open(&mut self) {}
    fn close(&mut self) {}
}

/// Runs one udprx cell.
pub fn run_udprx(
    topo: &Topology,
    spec: &CellSpec,
    path: UdprxPath,
    stop: &AtomicBool,
) -> Result<CellResult> {
    run_udprx_watched(topo, spec, path, stop, &mut Unwatched)
}

/// Runs one udprx cell, calling `window` around its measured window (the profiler's hook).
pub fn run_udprx_watched(
    topo: &Topology,
    spec: &CellSpec,
    path: UdprxPath,
    stop: &AtomicBool,
    window: &mut dyn CellWindow,
) -> Result<CellResult> {
    run_udprx_with(topo, spec, path, stop, window, None)
}

/// Runs one udprx cell whose flood comes from sender agents on other hosts
/// ([`crate::lab::remote`]): the receiver binds the topology's address on this host, the
/// agents flood it, and the trial's NIC books and clock correction are added.
pub fn run_udprx_remote(
    topo: &Topology,
    spec: &CellSpec,
    path: UdprxPath,
    stop: &AtomicBool,
    agents: &mut crate::lab::remote::Agents,
) -> Result<CellResult> {
    run_udprx_with(topo, spec, path, stop, &mut Unwatched, Some(agents))
}

fn run_udprx_with(
    topo: &Topology,
    spec: &CellSpec,
    path: UdprxPath,
    stop: &AtomicBool,
    window: &mut dyn CellWindow,
    agents: Option<&mut crate::lab::remote::Agents>,
) -> Result<CellResult> {
    // Remote floods: the receiving interface, the clock correction, the agent count.
    let remote = agents.as_ref().map(|a| (a.iface.clone(), a.clocks.clone(), a.addrs().len()));
    let nic_before = remote.as_ref().and_then(|r| crate::lab::remote::snapshot(r.0.as_deref()));
    let traffic = spec.row.scenario.traffic();
    let rx_ns = topo.rx_netns();
    let tx_ns = topo.tx_netns();
    let bind = SocketAddr::new(topo.rx_addr(), 0);
    let secs = spec.secs.max(0.1);
    let interval = Duration::from_secs_f64((secs / 6.0).clamp(0.1, 1.0));
    let fanout = path.fanout.with_sockets(spec.sockets);
    let sockets = fanout.sockets;
    let setup = serde_json::json!({
        "bench_row": spec.row,
        "method": path.method.as_str(),
        "fanout": path.fanout.name(),
        "sockets": sockets,
        "gro": path.gro,
        "spin": path.spin,
        "sources": path.sources,
        "topology": topo.kind().name(),
        "receiver_cpus": spec.receiver_cpus,
        "sender_cpus": spec.sender_cpus,
        "rate": spec.rate,
        "secs": secs,
    });
    // XDP on veth runs in the veth's NAPI poll, on the sender's core unless threaded NAPI
    // moves it to a kernel thread, which is pinned to the receiver's core below and whose CPU
    // time counts as the receive side's kernel work.
    // (The veth has NAPI instances only once the program is attached: threaded NAPI is turned
    // on after the receiver is built.)
    let threaded_napi =
        path.threaded_napi && path.method.is_xdp() && topo.kind() == topology::Kind::Veth;
    let napi_ticks = std::sync::Mutex::new((Vec::<i32>::new(), 0u64, None::<String>));
    let mut before_cpu = CpuSample::read(false);
    // The receive cores' busy ticks over the flood and its drain only: the receiver's set-up
    // and teardown are not datagram work.
    let busy_window = std::sync::Mutex::new(None::<(Vec<u64>, Vec<u64>)>);
    let noise_after_slot = std::sync::Mutex::new(None);
    let (addr_tx, addr_rx) =
        crossbeam_channel::bounded::<Result<(SocketAddr, udprx::StopHandle)>>(1);

    let (rx_result, tx_result) = std::thread::scope(|s| {
        let rx_ns = rx_ns.as_deref();
        let receiver = s.spawn(move || -> Result<Report> {
            let built = (|| {
                if let Some(p) = rx_ns {
                    crate::lab::sys::enter_netns(p)
                        .map_err(|e| Error::Topology(format!("entering {}: {e}", p.display())))?;
                }
                let mut b = Receiver::builder(bind)
                    .method(path.method)
                    .fanout(fanout)
                    .cpus(spec.receiver_cpus.clone())
                    .gro(path.gro)
                    .spin(path.spin)
                    // Bare receive calls unless the row asks for sources: the CPU cells then
                    // measure the receive API, as its C twin does (issue 23).
                    .source_addresses(path.sources)
                    .drops_per_interval(!path.sources && !path.method.is_xdp())
                    .timestamps(spec.timestamps)
                    // SO_BUSY_POLL is a UDP socket's: the XDP rows run without it (noted).
                    .busy_poll(spec.sockopts.busy_poll.filter(|_| !path.method.is_xdp()))
                    .prefer_busy_poll(
                        spec.sockopts.prefer_busy_poll == Some(true) && !path.method.is_xdp(),
                    )
                    .rcvbuf(spec.sockopts.rcvbuf)
                    // A safety net: the harness stops it after the drain.
                    .duration(Some(Duration::from_secs_f64(secs + 30.0)));
                if let Some(n) = spec.sockopts.busy_poll_budget.filter(|_| !path.method.is_xdp()) {
                    b = b.busy_poll_budget(n);
                }
                b.build().map_err(|e| Error::Cell(format!("receiver: {e}")))
            })();
            let receiver = match built {
                Ok(r) => r,
                Err(e) => {
                    let _ = addr_tx.send(Err(Error::Cell(e.to_string())));
                    return Err(e);
                }
            };
            let _ = addr_tx.send(Ok((receiver.local_addr(), receiver.stop_handle())));
            // Recorders per thread, the namespace's Udp counters sampled around the run (this
            // thread is inside the receiver's namespace).
            let mode = spec.sockopts.stats.unwrap_or(StatsMode::Full);
            let measure = Measure { mode, interval, ..Measure::default() };
            udprx_stats::measure::run(receiver, &measure, None)
                .map_err(|e| Error::Cell(format!("receiver: {e}")))
        });
        let (dest, rx_stop) = match addr_rx.recv() {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return (receiver.join().unwrap_or(Err(e)), None),
            Err(_) => {
                return (
                    receiver
                        .join()
                        .unwrap_or_else(|_| Err(Error::Cell("receiver thread panicked".into()))),
                    None,
                );
            }
        };
        if threaded_napi {
            let failed = match topo.set_threaded_napi(true) {
                Ok(why) => why,
                Err(e) => Some(e.to_string()),
            };
            let pids = if failed.is_none() { topo.napi_threads() } else { Vec::new() };
            if let Some(&cpu) = spec.receiver_cpus.first() {
                for &p in &pids {
                    let _ = crate::lab::sys::pin_task(p, cpu);
                }
            }
            let t: u64 = pids.iter().map(|&p| crate::lab::sys::task_ticks(p)).sum();
            *napi_ticks.lock().unwrap_or_else(|e| e.into_inner()) = (pids, t, failed);
        }
        let tx_ns = tx_ns.as_deref();
        let traffic = &traffic;
        // Noise of the receive threads over the flood: sampled once they all run and have
        // pinned themselves (a pin after the first sample would count as a migration).
        let started = std::time::Instant::now();
        let mut noise_before = NoiseSample::read();
        while noise_before.threads.len() < sockets && started.elapsed() < Duration::from_millis(500)
        {
            std::thread::sleep(Duration::from_millis(2));
            noise_before = NoiseSample::read();
        }
        std::thread::sleep(Duration::from_millis(5));
        let noise_before = NoiseSample::read();
        let busy_open = CpuSample::busy_now();
        window.open();
        let sender = s.spawn(move || match agents {
            Some(a) => a.flood(dest, spec, traffic, stop),
            None => flood(tx_ns, dest, spec, traffic, stop),
        });
        let tx =
            sender.join().unwrap_or_else(|_| Err(Error::Cell("sender thread panicked".into())));
        window.close();
        *noise_after_slot.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((noise_before, NoiseSample::read()));
        std::thread::sleep(DRAIN);
        *busy_window.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((busy_open, CpuSample::busy_now()));
        if threaded_napi {
            let mut g = napi_ticks.lock().unwrap_or_else(|e| e.into_inner());
            let after: u64 = g.0.iter().map(|&p| crate::lab::sys::task_ticks(p)).sum();
            g.1 = after.saturating_sub(g.1);
        }
        rx_stop.stop();
        let rx =
            receiver.join().unwrap_or_else(|_| Err(Error::Cell("receiver thread panicked".into())));
        (rx, Some(tx))
    });
    let mut after_cpu = CpuSample::read(false);
    if let Some((open, close)) = busy_window.into_inner().unwrap_or_else(|e| e.into_inner()) {
        before_cpu.busy_ticks = open;
        after_cpu.busy_ticks = close;
    }
    let nic_after = remote.as_ref().and_then(|r| crate::lab::remote::snapshot(r.0.as_deref()));
    if threaded_napi {
        let _ = topo.set_threaded_napi(false);
    }
    let (napi_pids, napi_ticks, napi_failed) =
        napi_ticks.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut report = rx_result?;
    let flood = tx_result.ok_or_else(|| Error::Cell("sender did not start".into()))??;
    if let serde_json::Value::Object(m) = &mut report.setup {
        m.insert("bench".into(), setup);
    } else {
        report.setup = serde_json::json!({ "engine": report.setup.clone(), "bench": setup });
    }
    report.sent = Some(flood.packets);
    let (app_user, app_sys) = (report.totals.cpu_user_ns, report.totals.cpu_sys_ns);
    let delta = report.kernel.clone();
    let summary = report.summary();
    // xdp-drop hands no payload to user space: its count is the program's counter.
    let received =
        if path.method == Method::XdpDrop { report.totals.datagrams } else { summary.received };
    let snmp = delta.as_ref().map(SnmpDelta::of);
    // On loopback the counters are the whole host's (other programs too): only the sockets'
    // own drop counts are used there; in the benchmark's namespace both agree.
    let kernel_drops = match (topo.kind(), snmp) {
        (topology::Kind::Veth, Some(s)) => summary.kernel_drops.max(s.rcvbuf_errors),
        _ => summary.kernel_drops,
    };
    let mut notes = Vec::new();
    if let Some(r) = &flood.gso_fallback_reason {
        notes.push(format!("sender GSO not used: {r}"));
    }
    if flood.errors.total() > 0 {
        notes.push(format!("sender errors: {:?}", flood.errors));
    }
    if flood.interrupted {
        notes.push("interrupted".into());
    }
    let mut cpu = cpu_split(&before_cpu, &after_cpu, spec, app_user, app_sys, received);
    if threaded_napi {
        if napi_pids.is_empty() {
            notes.push(format!(
                "threaded NAPI not in use ({}): XDP ran in the veth's NAPI on the sender's core",
                napi_failed.as_deref().unwrap_or("no napi/ kernel thread found")
            ));
        } else {
            // The NAPI thread's time is the receive-side kernel work (XDP, and for xdp the
            // copy into the UMEM): it takes the softirq's place in the split.
            let ns = napi_ticks * (1_000_000_000 / crate::lab::sys::clock_ticks_per_sec());
            cpu.rx_softirq_ns += ns;
            cpu.softirq_ns_per_dgram =
                if received == 0 { 0.0 } else { cpu.rx_softirq_ns as f64 / received as f64 };
            notes.push(format!(
                "threaded NAPI pinned to the receiver's core ({} thread(s))",
                napi_pids.len()
            ));
        }
    }
    let window = flood.duration_s.max(1e-3);
    let noise = noise_after_slot
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .map(|(b, a)| trial_noise(&b, &a, &spec.receiver_cpus, window));
    let mut latency = summary.latency_ns;
    let mut receiver_report = serde_json::to_value(&report).unwrap_or_default();
    if let Some((iface, clocks, n)) = &remote {
        match clocks.correction_ns() {
            Some(ns) => {
                if let Some(l) = latency.as_mut() {
                    crate::lab::remote::correct_latency(l, ns);
                }
            }
            None => latency = None,
        }
        match (&nic_before, &nic_after) {
            (Some(b), Some(a)) => {
                let books =
                    crate::lab::remote::books(b, a, flood.packets, received, kernel_drops, *n);
                notes.push(crate::lab::remote::books_line(&books));
                if let serde_json::Value::Object(m) = &mut receiver_report {
                    m.insert("nic_books".into(), serde_json::to_value(&books).unwrap_or_default());
                    m.insert(
                        "nic_delta".into(),
                        serde_json::to_value(a.delta(b)).unwrap_or_default(),
                    );
                }
            }
            _ => notes.push(format!(
                "NIC books left out: the counters of {} could not be read",
                iface.as_deref().unwrap_or("the receive interface (not found)")
            )),
        }
    }
    Ok(CellResult {
        sent: flood.packets,
        received,
        lost: flood.packets.saturating_sub(received).max(summary.lost),
        kernel_drops,
        backlog_drops: report.softnet.as_ref().map_or(0, |d| d.total.dropped),
        sent_pps: flood.pps,
        rx_pps: received as f64 / window,
        rx_pps_median_interval: summary.pps_median.map(|v| v as f64),
        latency,
        snmp,
        cpu,
        elapsed_s: report.elapsed_s,
        notes,
        sender_report: serde_json::to_value(&flood).unwrap_or_default(),
        receiver_report,
        noise,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_side_busy_time_sums_every_tick_of_the_receive_cores_only() {
        let stat =
            "cpu  9 9 9 9 9 9 9 9 9 9\ncpu0 1 2 3 100 7 4 5 8 0 0\ncpu1 10 0 20 5 0 0 30 0 0 0\n";
        // user + nice + system + irq + softirq; idle, iowait and steal are not work.
        assert_eq!(crate::lab::procfs::parse_stat_busy(stat), vec![15, 60]);
        let spec = CellSpec {
            row: crate::Row::udprx(
                crate::Scenario::Classic,
                crate::Method::Recvmmsg,
                crate::Fanout::One,
                false,
            ),
            sockets: 1,
            rate: None,
            secs: 1.0,
            sender_cpus: vec![0],
            receiver_cpus: vec![1],
            timestamps: false,
            sockopts: crate::SockOpts::default(),
        };
        let tick = 1_000_000_000 / crate::lab::sys::clock_ticks_per_sec();
        let sample = |busy: Vec<u64>, sirq: Vec<u64>| CpuSample {
            softirq_ticks: sirq,
            busy_ticks: busy,
            ..CpuSample::default()
        };
        // Core 1 (receive) busy 50 ticks, 30 of them softirq; core 0 (sender) busy 90.
        let c = cpu_split(
            &sample(vec![0, 0], vec![0, 0]),
            &sample(vec![90, 50], vec![40, 30]),
            &spec,
            2 * tick,
            3 * tick,
            1000,
        );
        assert_eq!(c.rx_busy_ns, 50 * tick);
        assert_eq!(c.rx_softirq_ns, 30 * tick);
        assert!((c.rx_busy_ns_per_dgram - (50 * tick) as f64 / 1000.0).abs() < 1e-9);
        assert!((c.whole_ns_per_dgram() - c.rx_busy_ns_per_dgram).abs() < 1e-9);
        // Tick sampling that undercounts: never below the parts measured apart.
        let c = cpu_split(
            &sample(vec![0, 0], vec![0, 0]),
            &sample(vec![0, 1], vec![0, 1]),
            &spec,
            5 * tick,
            0,
            1000,
        );
        assert!((c.whole_ns_per_dgram() - (6 * tick) as f64 / 1000.0).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn proc_parsers() {
        let stat = "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 0 0 0 0 0 11 0 0 0\ncpu1 1 0 0 0 0 0 22 0 0 0\nintr 5\n";
        assert_eq!(parse_stat_softirq(stat), vec![11, 22]);
        let s = "                    CPU0       CPU1\n          HI:          0          1\n      NET_TX:         5          6\n      NET_RX:     100        200\n";
        assert_eq!(parse_net_rx(s), vec![100, 200]);
        let live = CpuSample::read(true);
        assert!(!live.softirq_ticks.is_empty());
        assert!(live.softnet.is_some(), "/proc/net/softnet_stat is readable on Linux");
        assert_eq!(live.backlog_drops_since(&CpuSample::read(false)), 0);
    }
}
