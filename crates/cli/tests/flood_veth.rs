//! A flood across the veth pair of `scripts/netns.sh` (two namespaces, 198.18.0.1 -> 198.18.0.2):
//! the sender runs in the tx namespace, a receiver thread in the rx namespace gets every datagram.
//! Needs root and iproute2; skips visibly (see testsupport/skip.rs) otherwise.

#[path = "../../../testsupport/skip.rs"]
mod skip;

use std::fs::File;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_udpflood");
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn netns_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/netns.sh")
}

/// Namespaces made by scripts/netns.sh, removed on drop (also when the test fails).
struct Topology {
    prefix: String,
}

impl Topology {
    /// The topology, or what is missing and why.
    fn up() -> Result<Topology, (skip::Need, String)> {
        if !skip::is_root() {
            return Err((skip::Need::Root, "network namespaces need root".into()));
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err((skip::Need::Setup, "iproute2 not installed".into()));
        }
        let prefix =
            format!("uft-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let out = Command::new("bash")
            .arg(netns_script())
            .args(["up", "--name", &prefix])
            .output()
            .map_err(|e| (skip::Need::Setup, format!("running netns.sh: {e}")))?;
        let topo = Topology { prefix };
        if !out.status.success() {
            return Err((
                skip::Need::Root,
                format!("netns.sh up failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            ));
        }
        Ok(topo)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(netns_script())
            .args(["down", "--name", &self.prefix])
            .output();
    }
}

/// Runs udpflood in the tx namespace with `args` (plus `-n k --flows 2`), receives in the rx
/// namespace, checks both flows arrived complete and in order; returns the sender's report.
fn flood_across(topo: &Topology, k: u64, args: &[&str]) -> udpflood::FloodReport {
    let rx_ns = format!("/var/run/netns/{}-rx", topo.prefix);
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let ns = File::open(&rx_ns).expect("open rx namespace");
        // SAFETY: a valid namespace fd; setns only moves this thread into the rx namespace.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let sock = UdpSocket::bind("198.18.0.2:0").expect("bind in rx namespace");
        sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let size: libc::c_int = 16 << 20;
        // SAFETY: valid socket fd; `size` outlives the call and its length is passed exactly.
        // As root (checked before) SO_RCVBUFFORCE may exceed rmem_max, so nothing is dropped.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        port_tx.send(sock.local_addr().unwrap().port()).unwrap();
        let mut seqs: Vec<Vec<u64>> = vec![Vec::new(); 2];
        let mut buf = vec![0u8; 65536];
        let mut last = Instant::now();
        let mut got = 0;
        while got < k && last.elapsed() < Duration::from_secs(5) {
            if let Ok(n) = sock.recv(&mut buf) {
                let r = udpprobe::Repr::from_bytes(&buf[..n]).expect("probe datagram");
                seqs[r.flow as usize].push(r.seq);
                got += 1;
                last = Instant::now();
            }
        }
        seqs
    });
    let port = port_rx.recv_timeout(Duration::from_secs(10)).expect("receiver ready");
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{}-tx", topo.prefix), BIN])
        .arg(format!("198.18.0.2:{port}"))
        .args(["-n", &k.to_string(), "--flows", "2", "--json", "-i", "0"])
        .args(args)
        .output()
        .expect("run udpflood in the tx namespace");
    assert!(out.status.success(), "udpflood: {}", String::from_utf8_lossy(&out.stderr));
    let report: udpflood::FloodReport = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.packets, k);
    let seqs = receiver.join().unwrap();
    for (flow, s) in seqs.iter().enumerate() {
        let want: Vec<u64> = (0..k / 2).collect();
        assert!(s == &want, "flow {flow}: {} of {} datagrams in order", s.len(), k / 2);
    }
    report
}

macro_rules! topology_or_skip {
    () => {
        match Topology::up() {
            Ok(t) => t,
            Err((need, reason)) => return skip::skip(need, &reason),
        }
    };
}

#[test]
fn flood_crosses_the_veth_pair_complete() {
    let topo = topology_or_skip!();
    let report = flood_across(&topo, 3000, &["-b", "10k"]);
    assert_eq!(report.errors.total(), 0);
}

#[test]
fn gso_refused_at_send_time_falls_back_and_delivers() {
    let topo = topology_or_skip!();
    // 2000-byte segments exceed the veth's 1500-byte MTU: the kernel refuses the GSO send
    // (EMSGSIZE); plain sendmmsg then sends them as fragmented datagrams.
    let report = flood_across(&topo, 600, &["-b", "5k", "--gso", "-l", "2000"]);
    assert!(report.gso_requested && !report.gso_active);
    assert!(report.gso_fallback_reason.is_some());
}

#[test]
fn gso_on_veth_delivers_every_segment() {
    let topo = topology_or_skip!();
    let report = flood_across(&topo, 4000, &["-b", "10k", "--gso", "--batch", "32"]);
    assert!(report.gso_active, "{:?}", report.gso_fallback_reason);
}
