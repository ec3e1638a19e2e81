//! Reference receivers: `iperf3 -s -1`, `sockperf server` and the bare-syscall C receiver
//! `udp_bare` (`peers/c/udp_bare.c`: one bare twin per udprx path, rows `c-recvfrom`, `c-recvmmsg`,
//! `c-recvmmsg-gro`, `c-uring`, `c-uring-recvmsg`, `c-uring-gro`, `c-epoll`), run as child processes in
//! the benchmark's receiver namespace (`ip netns exec`). What is compared is the receiver, so
//! `sockperf server` and `udp_bare` get exactly the flood the udprx rows get (udpflood with the
//! cell's traffic, from the sender namespace); `iperf3 -s` only counts a session its own client
//! opens, so it is
//! fed by `iperf3 -c -u -l 18` (slower than udpflood: its row can be sender-bound, and the report
//! shows its sent rate next to the received one).
//!
//! Received counts come from the receiver namespace's `/proc/net/snmp` InDatagrams delta, read
//! by a thread inside it (exact on veth, where nothing else runs there). On loopback those
//! counters are the whole host's, so iperf3's own report is used, and sockperf's row is marked.
//! CPU time is the server process's user + system time from `wait4`. `udp_bare` also prints its
//! own counts and CPU time in one line ([`parse_udp_bare`]); on loopback its own count is used.
//!
//! `udp_bare` is built by `scripts/setup.sh` into `$CARGO_TARGET_DIR/peers/` (default
//! `target/peers/`); the bench looks there (next to its own executable's target directory), or
//! in `$UDPRX_PEERS_DIR`.

use crate::lab::sys;
use crate::lab::topology::{self, Kind, Topology};
use crate::{CellResult, CellSpec, Error, PeerKind, Result};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use udprx_stats::kernel::UdpSample;

/// True when the peer can run here.
pub fn available(peer: PeerKind) -> bool {
    unavailable(peer).is_none()
}

/// Why the peer cannot run here (one line), or `None` when it can.
pub fn unavailable(peer: PeerKind) -> Option<String> {
    match peer {
        PeerKind::Iperf3 | PeerKind::Sockperf => (!topology::have_program(peer.name()))
            .then(|| format!("{} is not installed (scripts/setup.sh installs it)", peer.name())),
        _ => c_unavailable(peer, udp_bare().as_deref()),
    }
}

/// Why the C peer cannot run with the `udp_bare` at `bin` (none found: `None`).
fn c_unavailable(peer: PeerKind, bin: Option<&std::path::Path>) -> Option<String> {
    let Some(bin) = bin else {
        return Some(format!(
            "{}: udp_bare is not built (scripts/setup.sh builds it into $CARGO_TARGET_DIR/peers \
             when a C compiler is present; or set UDPRX_PEERS_DIR)",
            peer.name()
        ));
    };
    let modes = Command::new(bin)
        .arg("modes")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mode = c_mode(peer);
    (!modes.split_whitespace().any(|m| m == mode)).then(|| {
        format!(
            "{}: {} offers no {mode} mode (built without liburing, or before the mode existed: \
             scripts/setup.sh installs liburing-dev and rebuilds it)",
            peer.name(),
            bin.display()
        )
    })
}

/// The `udp_bare` mode of a C peer.
fn c_mode(peer: PeerKind) -> &'static str {
    peer.c_mode().unwrap_or("recvmmsg")
}

/// Where `udp_bare` is: `$UDPRX_PEERS_DIR/udp_bare`, else `peers/udp_bare` in a target
/// directory above this executable (`target/release/udprx`, `target/release/deps/<test>`), else
/// `$CARGO_TARGET_DIR/peers/udp_bare`.
pub fn udp_bare() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(d) = std::env::var_os("UDPRX_PEERS_DIR") {
        dirs.push(d.into());
    } else {
        if let Ok(exe) = std::env::current_exe() {
            dirs.extend(exe.ancestors().skip(1).take(3).map(|a| a.join("peers")));
        }
        if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
            dirs.push(PathBuf::from(t).join("peers"));
        }
    }
    dirs.into_iter().map(|d| d.join("udp_bare")).find(|p| p.is_file())
}

/// What `udp_bare` reported in its one result line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpBareLine {
    /// Datagrams received.
    pub datagrams: u64,
    /// Payload bytes received.
    pub bytes: u64,
    /// ns from the first datagram's batch to the end.
    pub elapsed_ns: u64,
    /// User CPU time (getrusage), ns.
    pub user_ns: u64,
    /// System CPU time, ns.
    pub sys_ns: u64,
}

/// Parses `udp_bare mode=M datagrams=D bytes=B elapsed_ns=E user_ns=U sys_ns=S` from the
/// program's stdout; `None` when no such line (or a field) is there.
pub fn parse_udp_bare(out: &str) -> Option<UdpBareLine> {
    let line = out.lines().rev().find(|l| l.starts_with("udp_bare "))?;
    let field = |k: &str| -> Option<u64> {
        line.split_whitespace().find_map(|w| w.strip_prefix(k)?.strip_prefix('='))?.parse().ok()
    };
    Some(UdpBareLine {
        datagrams: field("datagrams")?,
        bytes: field("bytes")?,
        elapsed_ns: field("elapsed_ns")?,
        user_ns: field("user_ns")?,
        sys_ns: field("sys_ns")?,
    })
}

fn netns_cmd(ns: Option<&str>, cpu: Option<usize>, program: &std::ffi::OsStr) -> Command {
    let mut c;
    if let Some(ns) = ns {
        c = Command::new("ip");
        c.args(["netns", "exec", ns]);
    } else {
        c = Command::new("env");
    }
    if let Some(cpu) = cpu
        && topology::have_program("taskset")
    {
        c.args(["taskset", "-c", &cpu.to_string()]);
    }
    c.arg(program);
    c.stdin(Stdio::null());
    c
}

/// A free port on the receiver's address (for UDP and TCP: iperf3 needs both), found by
/// binding port 0 inside the receiver namespace.
fn free_port(topo: &Topology) -> Result<u16> {
    let addr = topo.rx_addr();
    topology::in_netns(topo.rx_netns().as_deref(), move || {
        for _ in 0..20 {
            let u = std::net::UdpSocket::bind((addr, 0)).ok()?;
            let port = u.local_addr().ok()?.port();
            if std::net::TcpListener::bind((addr, port)).is_ok() {
                return Some(port);
            }
        }
        None
    })?
    .ok_or_else(|| Error::Cell("no free port for the peer".into()))
}

fn read_counters(topo: &Topology) -> Option<UdpSample> {
    topology::in_netns(topo.rx_netns().as_deref(), UdpSample::read).ok()?.ok()
}

/// Kills (SIGTERM, then SIGKILL) and reaps a child we started.
fn end_child(child: &Child, grace: Duration) -> Option<sys::ChildExit> {
    let pid = child.id();
    if let Ok(Some(e)) = sys::reap_with_usage(pid, Duration::ZERO) {
        return Some(e);
    }
    let _ = sys::signal(pid, libc::SIGTERM);
    if let Ok(Some(e)) = sys::reap_with_usage(pid, grace) {
        return Some(e);
    }
    let _ = sys::signal(pid, libc::SIGKILL);
    sys::reap_with_usage(pid, Duration::from_secs(5)).ok().flatten()
}

fn wait_listening(addr: IpAddr, port: u16, topo: &Topology, tcp: bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let up = topology::in_netns(topo.rx_netns().as_deref(), move || {
            if tcp {
                // Look for the listening socket rather than connecting: `iperf3 -s -1` would
                // take a probe connection for its one client.
                let table =
                    std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap_or_default();
                tcp_listening(&table, port)
            } else {
                // The port is taken once the server bound it.
                std::net::UdpSocket::bind((addr, port)).is_err()
            }
        })
        .unwrap_or(false);
        if up {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True when `/proc/net/tcp` text has a socket in LISTEN state (0A) on `port`.
pub fn tcp_listening(table: &str, port: u16) -> bool {
    let want = format!(":{port:04X}");
    table.lines().skip(1).any(|l| {
        let mut f = l.split_whitespace();
        let local = f.nth(1).unwrap_or("");
        let state = f.nth(1).unwrap_or("");
        local.ends_with(&want) && state == "0A"
    })
}

fn capture(child: &mut Child) -> std::thread::JoinHandle<String> {
    let mut out = child.stdout.take();
    std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = std::io::Read::read_to_string(o, &mut s);
        }
        s
    })
}

/// Runs one reference cell.
// Children are reaped with wait4 (for their CPU usage) by `end_child`/`reap_with_usage`, not
// by `Child::wait`.
#[allow(clippy::zombie_processes)]
pub fn run_peer(
    topo: &Topology,
    spec: &CellSpec,
    peer: PeerKind,
    stop: &AtomicBool,
) -> Result<CellResult> {
    if let Some(why) = unavailable(peer) {
        return Err(Error::Cell(why));
    }
    let (tx_ns, rx_ns) = match topo.ns_names() {
        Some((t, r)) => (Some(t), Some(r)),
        None => (None, None),
    };
    let addr = topo.rx_addr();
    let port = free_port(topo)?;
    let secs = spec.secs.max(1.0).round() as u64;
    let rx_cpu = spec.receiver_cpus.first().copied();
    let tx_cpu = spec.sender_cpus.first().copied();
    let before_cpu = crate::lab::cell::CpuSample::read(true);
    let before = read_counters(topo);
    let mut notes = Vec::new();
    if spec.secs < 1.0 {
        notes.push(format!("{} runs whole seconds: {secs} s", peer.name()));
    }

    let server_args: Vec<String> = match peer {
        PeerKind::Iperf3 => ["-s", "-1", "-J", "-B", &addr.to_string(), "-p", &port.to_string()]
            .map(String::from)
            .to_vec(),
        PeerKind::Sockperf => {
            ["server", "-i", &addr.to_string(), "-p", &port.to_string()].map(String::from).to_vec()
        }
        _ => {
            // A bare C twin. Bounded by itself too: the cell's seconds plus a margin for start-up; it is
            // stopped with SIGTERM as soon as the flood ends.
            let mut a = vec![
                c_mode(peer).to_string(),
                addr.to_string(),
                port.to_string(),
                "--secs".into(),
                (secs + 15).to_string(),
            ];
            if let Some(cpu) = rx_cpu {
                a.extend(["--cpu".into(), cpu.to_string()]);
            }
            // The same socket buffer as the udprx rows of the cell (kernel default unless set).
            if let Some(bytes) = spec.sockopts.rcvbuf {
                a.extend(["--rcvbuf".into(), bytes.to_string()]);
            }
            a
        }
    };
    if peer.fed_by_udpflood() {
        return run_server_fed_by_udpflood(
            topo,
            spec,
            stop,
            (peer, rx_ns, rx_cpu, port, server_args, before, before_cpu, notes),
        );
    }
    // iperf3 -s counts only its own client's session; the client paces payload bits.
    let iperf_rate = spec.rate.map(|r| (r * 18 * 8).to_string()).unwrap_or_else(|| "0".into());
    let client_args: Vec<String> = [
        "-c",
        &addr.to_string(),
        "-p",
        &port.to_string(),
        "-u",
        "-l",
        "18",
        "-b",
        &iperf_rate,
        "-t",
        &secs.to_string(),
        "-J",
    ]
    .map(String::from)
    .to_vec();
    let mut server = netns_cmd(rx_ns, rx_cpu, peer.name().as_ref())
        .args(&server_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Cell(format!("starting {} server: {e}", peer.name())))?;
    let server_out = capture(&mut server);
    wait_listening(addr, port, topo, peer == PeerKind::Iperf3);
    let client = netns_cmd(tx_ns, tx_cpu, peer.name().as_ref())
        .args(&client_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut client = match client {
        Ok(c) => c,
        Err(e) => {
            end_child(&server, Duration::from_secs(1));
            return Err(Error::Cell(format!("starting {} client: {e}", peer.name())));
        }
    };
    let client_out = capture(&mut client);
    // Wait for the client, watching Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(secs + 15);
    let mut client_exit = None;
    while Instant::now() < deadline {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if let Ok(Some(e)) = sys::reap_with_usage(client.id(), Duration::ZERO) {
            client_exit = Some(e);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if client_exit.is_none() {
        end_child(&client, Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(250));
    let after = read_counters(topo);
    let server_exit = end_child(&server, Duration::from_secs(2));
    let after_cpu = crate::lab::cell::CpuSample::read(true);
    let server_text = server_out.join().unwrap_or_default();
    let client_text = client_out.join().unwrap_or_default();
    if stop.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }

    let snmp = match (before, after) {
        (Some(b), Some(a)) => Some(crate::SnmpDelta::of(&a.delta(&b))),
        _ => None,
    };
    let (sent, sent_secs, own_received) = parse_iperf3(&client_text, &server_text);
    let received = match (topo.kind(), snmp, own_received) {
        (Kind::Veth, Some(s), _) => s.in_datagrams,
        (_, _, Some(own)) => own,
        (_, Some(s), None) => {
            notes.push("received count is the host-wide InDatagrams delta (loopback): other UDP traffic on the machine is included".into());
            s.in_datagrams
        }
        _ => 0,
    };
    if sent == 0 {
        let why = serde_json::from_str::<serde_json::Value>(&client_text)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or_else(|| {
                client_text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string()
            });
        return Err(Error::Cell(format!("{}: the client sent nothing: {why}", peer.name())));
    }
    let sender_report =
        serde_json::json!({ "program": peer.name(), "args": client_args, "sent": sent });
    Ok(peer_result(PeerRun {
        topo,
        spec,
        peer,
        server_args,
        exit: server_exit.unwrap_or_default(),
        sent,
        received,
        window: sent_secs,
        snmp,
        cpu: (before_cpu, after_cpu),
        notes,
        sender_report,
    }))
}

/// What a peer cell measured, before it becomes a [`CellResult`].
struct PeerRun<'a> {
    topo: &'a Topology,
    spec: &'a CellSpec,
    peer: PeerKind,
    server_args: Vec<String>,
    exit: sys::ChildExit,
    sent: u64,
    received: u64,
    window: f64,
    snmp: Option<crate::SnmpDelta>,
    cpu: (crate::lab::cell::CpuSample, crate::lab::cell::CpuSample),
    notes: Vec<String>,
    sender_report: serde_json::Value,
}

fn peer_result(r: PeerRun<'_>) -> CellResult {
    let kernel_drops = match (r.topo.kind(), r.snmp) {
        (Kind::Veth, Some(s)) => s.rcvbuf_errors,
        _ => 0,
    };
    let (before_cpu, after_cpu) = &r.cpu;
    let cpu = crate::lab::cell::cpu_split(
        before_cpu,
        after_cpu,
        r.spec,
        r.exit.user_ns,
        r.exit.sys_ns,
        r.received,
    );
    let window = r.window.max(1e-3);
    CellResult {
        sent: r.sent,
        received: r.received,
        lost: r.sent.saturating_sub(r.received),
        kernel_drops,
        backlog_drops: after_cpu.backlog_drops_since(before_cpu),
        sent_pps: r.sent as f64 / window,
        rx_pps: r.received as f64 / window,
        rx_pps_median_interval: None,
        latency: None,
        snmp: r.snmp,
        cpu,
        elapsed_s: window,
        notes: r.notes,
        sender_report: r.sender_report,
        receiver_report: serde_json::json!({
            "program": r.peer.name(),
            "args": r.server_args,
            "received": r.received,
            "cpu_user_ns": r.exit.user_ns,
            "cpu_sys_ns": r.exit.sys_ns,
            "exit_status": r.exit.status,
        }),
        // A peer runs in its own process: its threads' preemptions are not sampled here.
        noise: None,
    }
}

type ServerStart<'a> = (
    PeerKind,
    Option<&'a str>,
    Option<usize>,
    u16,
    Vec<String>,
    Option<UdpSample>,
    crate::lab::cell::CpuSample,
    Vec<String>,
);

/// `sockperf server` or `udp_bare` in the receiver namespace, flooded by udpflood with the
/// cell's traffic.
fn run_server_fed_by_udpflood(
    topo: &Topology,
    spec: &CellSpec,
    stop: &AtomicBool,
    start: ServerStart<'_>,
) -> Result<CellResult> {
    let (peer, rx_ns, rx_cpu, port, server_args, before, before_cpu, mut notes) = start;
    let addr = topo.rx_addr();
    let c_peer = peer.c_mode().is_some();
    let program: std::ffi::OsString = if c_peer {
        udp_bare().ok_or_else(|| Error::Cell(format!("{}: udp_bare is gone", peer.name())))?.into()
    } else {
        peer.name().into()
    };
    // udp_bare pins itself (--cpu); the others are pinned with taskset.
    let mut server = netns_cmd(rx_ns, if c_peer { None } else { rx_cpu }, &program)
        .args(&server_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Cell(format!("starting {} server: {e}", peer.name())))?;
    let server_out = capture(&mut server);
    wait_listening(addr, port, topo, false);
    let traffic = spec.row.scenario.traffic();
    let tx_ns = topo.tx_netns();
    let dest = std::net::SocketAddr::new(addr, port);
    let flood = std::thread::scope(|s| {
        s.spawn(|| crate::lab::cell::flood(tx_ns.as_deref(), dest, spec, &traffic, stop))
            .join()
            .unwrap_or_else(|_| Err(Error::Cell("sender thread panicked".into())))
    });
    std::thread::sleep(Duration::from_millis(250));
    let after = read_counters(topo);
    let server_exit = end_child(&server, Duration::from_secs(2));
    let after_cpu = crate::lab::cell::CpuSample::read(true);
    let server_text = server_out.join().unwrap_or_default();
    if stop.load(Ordering::Relaxed) {
        return Err(Error::Interrupted);
    }
    let flood = flood?;
    let snmp = match (before, after) {
        (Some(b), Some(a)) => Some(crate::SnmpDelta::of(&a.delta(&b))),
        _ => None,
    };
    let own = if c_peer {
        let line = parse_udp_bare(&server_text);
        if line.is_none() {
            notes.push(format!("{} printed no result line", peer.name()));
        }
        line
    } else {
        None
    };
    // A C twin's own count first: it counts every datagram of the flood exactly, GRO segments
    // one by one, where InDatagrams counts a coalesced buffer once (the GRO twins read 1/64
    // of the flood by it).
    let received = match (topo.kind(), snmp, own) {
        (_, _, Some(own)) => own.datagrams,
        (Kind::Veth, Some(s), _) => s.in_datagrams,
        (_, Some(s), None) => {
            notes.push("received count is the host-wide InDatagrams delta (loopback): other UDP traffic on the machine is included".into());
            s.in_datagrams
        }
        _ => 0,
    };
    let mut run = PeerRun {
        topo,
        spec,
        peer,
        server_args,
        exit: server_exit.unwrap_or_default(),
        sent: flood.packets,
        received,
        window: flood.duration_s,
        snmp,
        cpu: (before_cpu, after_cpu),
        notes,
        sender_report: serde_json::to_value(&flood).unwrap_or_default(),
    };
    if let Some(own) = own
        && run.exit.user_ns + run.exit.sys_ns == 0
    {
        // wait4 saw no usage (e.g. reaped elsewhere): the program's own getrusage.
        run.exit.user_ns = own.user_ns;
        run.exit.sys_ns = own.sys_ns;
    }
    let mut result = peer_result(run);
    if let Some(own) = own {
        result.receiver_report["own"] = serde_json::json!({
            "datagrams": own.datagrams,
            "bytes": own.bytes,
            "elapsed_ns": own.elapsed_ns,
            "cpu_user_ns": own.user_ns,
            "cpu_sys_ns": own.sys_ns,
        });
    }
    Ok(result)
}

/// From iperf3's JSON: (sent by the client, its seconds, received per the server's report).
pub fn parse_iperf3(client: &str, server: &str) -> (u64, f64, Option<u64>) {
    let c: serde_json::Value = serde_json::from_str(client).unwrap_or_default();
    let sum = &c["end"]["sum"];
    let sent = sum["packets"].as_u64().unwrap_or(0);
    let secs = sum["seconds"].as_f64().unwrap_or(0.0);
    let s: serde_json::Value = serde_json::from_str(server).unwrap_or_default();
    let ss = &s["end"]["sum"];
    let received = match (ss["packets"].as_u64(), ss["lost_packets"].as_u64()) {
        (Some(p), Some(l)) => Some(p.saturating_sub(l)),
        _ => None,
    };
    (sent, secs, received)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_listeners() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue\n   0: 020012C6:1F90 00000000:0000 0A 00000000:00000000\n   1: 020012C6:1F91 00000000:0000 01 00000000:00000000\n";
        assert!(tcp_listening(t, 0x1F90));
        assert!(!tcp_listening(t, 0x1F91));
        assert!(!tcp_listening(t, 80));
    }

    #[test]
    fn parses_udp_bare() {
        let out = "noise\nudp_bare mode=uring datagrams=1000 bytes=18000 elapsed_ns=5 user_ns=7 sys_ns=9\n";
        let l = parse_udp_bare(out).unwrap();
        assert_eq!(
            l,
            UdpBareLine { datagrams: 1000, bytes: 18000, elapsed_ns: 5, user_ns: 7, sys_ns: 9 }
        );
        assert_eq!(parse_udp_bare(""), None);
        assert_eq!(parse_udp_bare("udp_bare mode=uring datagrams=x bytes=1"), None);
        // A field name that only starts like another is not taken for it.
        assert_eq!(parse_udp_bare("udp_bare datagrams_x=1 bytes=1"), None);
    }

    #[test]
    fn c_peers_are_skipped_with_a_reason_when_not_built() {
        for p in [PeerKind::CRecvmmsg, PeerKind::CUring] {
            let why = c_unavailable(p, None).expect("no udp_bare");
            assert!(why.contains("not built") && why.contains("setup.sh"), "{why}");
        }
        // A build without liburing offers recvmmsg only: c-uring is skipped, c-recvmmsg runs.
        let dir = std::env::temp_dir().join(format!("udprx-cref-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("udp_bare");
        std::fs::write(&fake, "#!/bin/sh\necho recvmmsg\n").unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        // Exec right after writing may meet ETXTBSY while another test thread forks: retry.
        let mut ok = c_unavailable(PeerKind::CRecvmmsg, Some(&fake));
        for _ in 0..20 {
            if ok.is_none() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            ok = c_unavailable(PeerKind::CRecvmmsg, Some(&fake));
        }
        assert_eq!(ok, None);
        let why = c_unavailable(PeerKind::CUring, Some(&fake)).expect("no uring mode");
        assert!(why.contains("no uring mode") && why.contains("liburing"), "{why}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parses_iperf3() {
        let c = r#"{"end":{"sum":{"packets":1000,"seconds":3.0,"lost_packets":0}}}"#;
        let s = r#"{"end":{"sum":{"packets":1000,"lost_packets":150}}}"#;
        assert_eq!(parse_iperf3(c, s), (1000, 3.0, Some(850)));
        assert_eq!(parse_iperf3("", "").0, 0);
    }
}
