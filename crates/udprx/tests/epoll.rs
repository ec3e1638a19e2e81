//! Method `epoll` (issue 22): wake-ups are counted, epoll busy polling (EPIOCSPARAMS, Linux 6.9)
//! is applied and read back or its refusal reported, and a receive over a veth with GRO on
//! (which gives the veth NAPI) with busy polling on takes every datagram.
//!
//! Every datagram counted, idle, stop and deadline for `epoll` are in tests/engine.rs (the
//! matrix and the idle tests), the pull API blocking and non-blocking in tests/pull.rs.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use std::fs::File;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use common::*;
use udprx::{Method, Receiver};

fn kernel() -> (u32, u32) {
    let s = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = s.trim().split(['.', '-']);
    let major = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn epoll_builder(addr: SocketAddr) -> udprx::ReceiverBuilder {
    Receiver::builder(addr).method(Method::Epoll).rcvbuf(Some(RCVBUF)).cpus(vec![])
}

#[test]
fn wakeups_are_counted_and_no_busy_poll_without_a_time() {
    let rx = epoll_builder("127.0.0.1:0".parse().unwrap()).build().expect("build");
    assert_eq!(rx.setup().method, Method::Epoll);
    assert_eq!(rx.setup().epoll_busy_poll, None, "no busy-poll time: nothing set");
    assert!(rx.setup().drops_source.starts_with("SO_RXQ_OVFL"));
    let expected = expected_set(0..2, 200);
    let out = run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..2, 200, 18, None)));
    assert_eq!(all_seen(&out), expected);
    let t = &out.threads[0];
    assert!(t.epoll_wakeups >= 1, "{t:?}");
    // Each wake-up is followed by at least one batch; a full batch is drained without waiting.
    assert!(t.epoll_wakeups <= t.batches, "{t:?}");
    assert!(!t.napi);
    // busy_poll 0 is off: no parameters set.
    let rx = epoll_builder("127.0.0.1:0".parse().unwrap()).busy_poll(Some(0)).build().unwrap();
    assert_eq!(rx.setup().epoll_busy_poll, None);
    // Other methods have no epoll instance.
    let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
        .method(Method::Recvmmsg)
        .busy_poll(Some(50))
        .build()
        .unwrap();
    assert_eq!(rx.setup().epoll_busy_poll, None);
}

#[test]
fn epoll_busy_poll_parameters_are_applied_and_read_back() {
    if !root_or_skip("SO_PREFER_BUSY_POLL") {
        return;
    }
    let rx = epoll_builder("127.0.0.1:0".parse().unwrap())
        .busy_poll(Some(50))
        .busy_poll_budget(16)
        .prefer_busy_poll(true)
        .build()
        .expect("build");
    let s = rx.setup();
    assert!(s.prefer_busy_poll);
    assert_eq!(s.busy_poll_budget, Some(16));
    let line = s.epoll_busy_poll.clone().expect("epoll with busy poll reports its parameters");
    assert!(!line.contains('\n'), "{line}");
    let applied = line
        == "EPIOCSPARAMS busy_poll_usecs=50 busy_poll_budget=16 prefer_busy_poll=1 (read back)";
    if kernel() >= (6, 9) {
        assert!(applied, "a {:?} kernel has EPIOCSPARAMS: {line}", kernel());
    } else {
        assert!(line.starts_with("epoll busy polling off: EPIOCSPARAMS refused"), "{line}");
        skip_part(Need::Feature, "epoll busy poll", &line);
    }
    // Loopback has no NAPI to poll, but the instance holds the parameters and the receive works.
    let expected = expected_set(0..2, 100);
    let out = run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..2, 100, 18, None)));
    assert_eq!(all_seen(&out), expected);
    assert_eq!(out.threads[0].napi, applied, "the thread's instance did what the probe said");
}

#[test]
fn bad_busy_poll_settings_are_refused_before_any_socket() {
    for b in [
        Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(Method::Xdp)
            .prefer_busy_poll(true),
        Receiver::builder("127.0.0.1:0".parse().unwrap()).method(Method::Xdp).busy_poll_budget(8),
    ] {
        let e = b.build().expect_err("refused");
        assert!(e.is_config(), "{e}");
        assert!(e.to_string().contains("busy_poll"), "{e}");
    }
}

/// Two namespaces joined by a veth pair (198.18.0.1 ↔ 198.18.0.2), GRO on the receiving end
/// (a veth has NAPI only then); deleted on drop.
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    fn up() -> Result<Veth, String> {
        let id = std::process::id();
        let v = Veth { a: format!("udprx-epa{id}"), b: format!("udprx-epb{id}") };
        let (da, db) = (format!("epa{id}"), format!("epb{id}"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["ip", "netns", "add", &v.a],
            vec!["ip", "netns", "add", &v.b],
            vec!["ip", "link", "add", &da, "netns", &v.a, "type", "veth", "peer", "name", &db],
            vec!["ip", "link", "set", &db, "netns", &v.b],
            vec!["ip", "-n", &v.a, "addr", "add", "198.18.0.1/30", "dev", &da],
            vec!["ip", "-n", &v.b, "addr", "add", "198.18.0.2/30", "dev", &db],
            vec!["ip", "-n", &v.a, "link", "set", &da, "up"],
            vec!["ip", "-n", &v.b, "link", "set", &db, "up"],
            vec!["ip", "netns", "exec", &v.b, "ethtool", "-K", &db, "gro", "on"],
        ];
        for s in steps {
            let out =
                Command::new(s[0]).args(&s[1..]).output().map_err(|e| format!("{s:?}: {e}"))?;
            if !out.status.success() {
                return Err(format!("{s:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        Ok(v)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.a]).output();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).output();
    }
}

fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).expect("open netns");
        // SAFETY: `file` is an open namespace file; setns only moves this thread.
        assert_eq!(unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        f()
    })
    .join()
    .expect("namespace thread")
}

#[test]
fn busy_polling_over_a_gro_veth_receives_everything() {
    if !root_or_skip("veth namespaces") {
        return;
    }
    let veth = match Veth::up() {
        Ok(v) => v,
        Err(e) => {
            skip(Need::Setup, &format!("veth pair: {e}"));
            return;
        }
    };
    const PER_FLOW: u64 = 500;
    let a = veth.a.clone();
    let (out, setup) = in_ns(&veth.b, move || {
        let rx = epoll_builder("198.18.0.2:0".parse().unwrap())
            .busy_poll(Some(50))
            .busy_poll_budget(16)
            .prefer_busy_poll(true)
            .idle_interval(Duration::from_millis(20))
            .build()
            .expect("build");
        let setup = rx.setup().clone();
        let expected = expected_set(0..2, PER_FLOW).len();
        let out = run_collect(rx, expected, move |dst| {
            in_ns(&a, move || {
                // Senders in the other namespace: over the veth, not loopback.
                for flow in 0..2u8 {
                    let s = std::net::UdpSocket::bind("198.18.0.1:0").expect("bind sender");
                    s.connect(dst).expect("connect");
                    let mut buf = [0u8; 64];
                    for seq in 0..PER_FLOW {
                        stamp(&mut buf, flow, seq);
                        s.send(&buf).expect("send");
                        if seq % 32 == 31 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
            })
        });
        (out, setup)
    });
    assert_eq!(all_seen(&out), expected_set(0..2, PER_FLOW), "every datagram once");
    let t = &out.threads[0];
    assert!(t.epoll_wakeups >= 1, "{t:?}");
    assert_eq!(t.kernel_drops, 0);
    if kernel() >= (6, 9) {
        assert!(t.napi, "busy polling set on the epoll instance: {:?}", setup.epoll_busy_poll);
    }
}

/// A full batch is drained again without waiting; a short one (or EAGAIN after a full one)
/// goes back to `epoll_wait`; only wake-ups with data are counted.
#[test]
fn full_batches_drain_without_waiting_and_wakeups_count_waits() {
    let rx = epoll_builder("127.0.0.1:0".parse().unwrap())
        .batch(4)
        .idle_interval(Duration::from_millis(500))
        .build()
        .expect("build");
    let addr = rx.local_addr();
    let mut pull = rx.into_pull().expect("into_pull").remove(0);
    assert_eq!(pull.method(), Method::Epoll);
    pull.set_nonblocking(false);
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..8u8 {
        tx.send_to(&[i; 18], addr).unwrap();
    }
    assert_eq!(pull.recv_batch().expect("first batch").len(), 4);
    assert_eq!(pull.counters().epoll_wakeups, 1);
    // Full: taken without a second wait.
    assert_eq!(pull.recv_batch().expect("second batch").len(), 4);
    assert_eq!(pull.counters().epoll_wakeups, 1);
    // Full again, so the next call finds EAGAIN and goes on to wait (not an idle return): a
    // datagram sent while it waits is what it returns.
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.send_to(&[9; 18], addr).unwrap();
        tx
    });
    assert_eq!(pull.recv_batch().expect("the datagram sent during the wait").len(), 1);
    let tx = late.join().unwrap();
    assert_eq!(pull.counters().epoll_wakeups, 2);
    // Short batch, nothing queued: the wait times out.
    let e = pull.recv_batch().expect_err("nothing left");
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(pull.counters().epoll_wakeups, 2, "a timed-out wait is no wake-up");
    // Non-blocking: never waits, never counts.
    pull.set_nonblocking(true);
    assert_eq!(pull.recv_batch().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    tx.send_to(&[10; 18], addr).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(pull.recv_batch().expect("queued").len(), 1);
    assert_eq!(pull.counters().epoll_wakeups, 2);
}
