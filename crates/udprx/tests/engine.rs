//! Receive engine on loopback: every method, fan-out and option delivers each datagram once.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use udprx::{Flow, Method, Receiver, Steer};

const FLOWS: u8 = 4;
const PER_FLOW: u64 = 300;

fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn v6() -> SocketAddr {
    "[::1]:0".parse().unwrap()
}

fn builder(
    addr: SocketAddr,
    method: Method,
    sockets: usize,
    steer: Steer,
    gro: bool,
) -> udprx::ReceiverBuilder {
    Receiver::builder(addr)
        .method(method)
        .sockets(sockets)
        .steer(steer)
        .gro(gro)
        .rcvbuf(Some(RCVBUF))
}

/// K stamped datagrams from several flows are all received exactly once.
fn exactly_once(addr: SocketAddr, method: Method, sockets: usize, steer: Steer, gro: bool) {
    let b = builder(addr, method, sockets, steer, gro);
    let Some(rx) = build_or_skip(b, method) else { return };
    assert_eq!(rx.setup().method, method);
    assert_eq!(rx.setup().sockets, sockets);
    let expected = expected_set(0..FLOWS, PER_FLOW);
    let out =
        run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..FLOWS, PER_FLOW, 64, None)));
    let seen = all_seen(&out);
    assert_eq!(seen.len(), expected.len(), "received count (duplicates or losses)");
    assert_eq!(seen, expected, "every (flow, seq) exactly once");
    assert_eq!(out.threads.len(), sockets);
    let buffers: u64 = out.threads.iter().map(|t| t.buffers).sum();
    assert_eq!(buffers as usize, expected.len());
    assert!(out.threads.iter().all(|t| t.kernel_drops == 0));
    assert!(out.handlers.iter().all(|h| h.foreign == 0 && h.truncated == 0));
}

macro_rules! matrix {
    ($($name:ident: $method:expr, $sockets:expr, $steer:expr, $gro:expr;)*) => {$(
        #[test]
        fn $name() {
            exactly_once(v4(), $method, $sockets, $steer, $gro);
        }
    )*};
}

matrix! {
    recvfrom_1: Method::Recvfrom, 1, Steer::Hash, false;
    recvfrom_2_hash: Method::Recvfrom, 2, Steer::Hash, false;
    recvfrom_2_cpu: Method::Recvfrom, 2, Steer::Cpu, false;
    recvfrom_1_gro: Method::Recvfrom, 1, Steer::Hash, true;
    recvfrom_2_hash_gro: Method::Recvfrom, 2, Steer::Hash, true;
    recvfrom_2_cpu_gro: Method::Recvfrom, 2, Steer::Cpu, true;
    recvmmsg_1: Method::Recvmmsg, 1, Steer::Hash, false;
    recvmmsg_2_hash: Method::Recvmmsg, 2, Steer::Hash, false;
    recvmmsg_2_cpu: Method::Recvmmsg, 2, Steer::Cpu, false;
    recvmmsg_1_gro: Method::Recvmmsg, 1, Steer::Hash, true;
    recvmmsg_2_hash_gro: Method::Recvmmsg, 2, Steer::Hash, true;
    recvmmsg_2_cpu_gro: Method::Recvmmsg, 2, Steer::Cpu, true;
    uring_1: Method::Uring, 1, Steer::Hash, false;
    uring_2_hash: Method::Uring, 2, Steer::Hash, false;
    uring_2_cpu: Method::Uring, 2, Steer::Cpu, false;
    uring_1_gro: Method::Uring, 1, Steer::Hash, true;
    uring_2_hash_gro: Method::Uring, 2, Steer::Hash, true;
    uring_2_cpu_gro: Method::Uring, 2, Steer::Cpu, true;
    uring_recv_1: Method::UringRecv, 1, Steer::Hash, false;
    uring_recv_2_hash: Method::UringRecv, 2, Steer::Hash, false;
    uring_recv_2_cpu: Method::UringRecv, 2, Steer::Cpu, false;
    epoll_1: Method::Epoll, 1, Steer::Hash, false;
    epoll_2_hash: Method::Epoll, 2, Steer::Hash, false;
    epoll_2_cpu: Method::Epoll, 2, Steer::Cpu, false;
    epoll_1_gro: Method::Epoll, 1, Steer::Hash, true;
}

/// uring-recv reads no control messages: what needs them is refused before any socket exists.
fn refused_for_uring_recv(m: Method, b: &udprx::ReceiverBuilder) -> bool {
    if m != Method::UringRecv {
        return false;
    }
    let e = b.clone().build().expect_err("uring-recv with GRO or timestamps must be refused");
    assert!(e.is_config(), "{e}");
    true
}

#[test]
fn uring_recv_reports_no_source_address() {
    let b = builder(v4(), Method::UringRecv, 1, Steer::Hash, false);
    let Some(rx) = build_or_skip(b, Method::UringRecv) else { return };
    assert!(rx.setup().drops_source.contains("no control messages"));
    let sources = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let dst = rx.local_addr();
    let sender = std::thread::spawn(move || join(send_flows(dst, 0..1, 20, 18, None)));
    let seen = sources.clone();
    let out = rx
        .run(move |_| {
            let seen = seen.clone();
            move |b: &udprx::Batch<'_>| {
                let mut v = seen.lock().unwrap();
                v.extend(b.iter().map(|d| (d.source, d.payload.len())));
                if v.len() >= 20 { Flow::Stop } else { Flow::Continue }
            }
        })
        .expect("run");
    sender.join().unwrap();
    let v = sources.lock().unwrap();
    assert_eq!(v.len(), 20, "{:?}", out.threads);
    assert!(v.iter().all(|&(src, len)| src.ip().is_unspecified() && src.port() == 0 && len == 18));
}

#[test]
fn napi_busy_poll_registers_or_reports_the_refusal() {
    for m in [Method::Uring, Method::UringRecv] {
        let b = builder(v4(), m, 1, Steer::Hash, false).busy_poll(Some(50));
        let Some(rx) = build_or_skip(b, m) else { continue };
        let napi = rx.setup().uring_napi.clone().expect("uring with busy poll reports NAPI");
        let registered = napi.starts_with("IORING_REGISTER_NAPI busy_poll_to=50us");
        assert!(registered || napi.contains("refused"), "{m}: {napi}");
        if !registered {
            skip_part(Need::Feature, "napi", &napi);
        }
        let expected = expected_set(0..2, 100);
        let out = run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..2, 100, 18, None)));
        assert_eq!(all_seen(&out), expected, "{m} with busy poll");
        assert_eq!(out.threads[0].napi, registered, "{m}: the ring did what the probe said");
    }
    // Busy polling 0 µs is off: no NAPI registration, no NAPI line.
    if let Some(rx) = build_or_skip(
        builder(v4(), Method::Uring, 1, Steer::Hash, false).busy_poll(Some(0)),
        Method::Uring,
    ) {
        assert_eq!(rx.setup().uring_napi, None);
    }
    // Other methods do not touch io_uring: no NAPI line.
    let rx = builder(v4(), Method::Recvmmsg, 1, Steer::Hash, false)
        .busy_poll(Some(50))
        .build()
        .expect("build");
    assert_eq!(rx.setup().uring_napi, None);
}

#[test]
fn ipv6_every_method() {
    for m in Method::ALL {
        exactly_once(v6(), m, 1, Steer::Hash, false);
    }
}

#[test]
fn spin_every_method() {
    for m in Method::ALL {
        let b = builder(v4(), m, 1, Steer::Hash, false).spin(true).cpus(vec![]);
        let Some(rx) = build_or_skip(b, m) else { continue };
        assert!(rx.setup().spin);
        let expected = expected_set(0..2, 200);
        let out = run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..2, 200, 18, None)));
        assert_eq!(all_seen(&out), expected, "{m} spin");
    }
}

#[test]
fn timestamps_every_method() {
    for m in Method::ALL {
        let b = builder(v4(), m, 1, Steer::Hash, false).timestamps(true);
        if refused_for_uring_recv(m, &b) {
            continue;
        }
        let Some(rx) = build_or_skip(b, m) else { continue };
        let out = run_collect(rx, 100, |dst| join(send_flows(dst, 0..1, 100, 18, None)));
        let h = &out.handlers[0];
        assert_eq!(h.seen.len(), 100, "{m}");
        assert_eq!(h.timestamps, 100, "{m}: every datagram carries a kernel timestamp");
    }
}

#[test]
fn gso_sender_with_gro_receiver_counts_segments() {
    for m in Method::ALL {
        let b = builder(v4(), m, 1, Steer::Hash, true);
        if refused_for_uring_recv(m, &b) {
            continue;
        }
        let Some(rx) = build_or_skip(b, m) else { continue };
        let (count, segs) = (20u64, 8u64);
        let out =
            run_collect(rx, (count * segs) as usize, |dst| send_gso(dst, 7, count, segs, 100));
        let seen = all_seen(&out);
        let expected: Vec<(u8, u64)> = (0..count * segs).map(|s| (7, s)).collect();
        assert_eq!(seen, expected, "{m}: every GRO segment counted once");
        assert!(out.handlers[0].max_segments > 1, "{m}: buffers hold coalesced segments");
        assert!(out.threads[0].buffers < count * segs, "{m}: fewer buffers than datagrams");
    }
}

#[test]
fn hash_steering_spreads_flows() {
    for m in Method::ALL {
        let b = builder(v4(), m, 2, Steer::Hash, false);
        let Some(rx) = build_or_skip(b, m) else { continue };
        let expected = expected_set(0..16, 50);
        let out = run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..16, 50, 18, None)));
        assert_eq!(all_seen(&out), expected);
        for h in &out.handlers {
            assert!(!h.seen.is_empty(), "{m}: socket {} got nothing from 16 flows", h.socket);
        }
        // The hash keeps each flow on one socket.
        for f in 0..16u8 {
            let holders =
                out.handlers.iter().filter(|h| h.seen.iter().any(|&(x, _)| x == f)).count();
            assert_eq!(holders, 1, "{m}: flow {f} split across sockets");
        }
    }
}

#[test]
fn cpu_steering_lands_on_the_senders_core() {
    if udprx_ncpus() < 2 {
        return skip(Need::Feature, "CPU steering needs 2 CPUs");
    }
    for m in Method::ALL {
        let b = builder(v4(), m, 2, Steer::Cpu, false);
        let rx = match b.build() {
            Ok(r) => r,
            Err(udprx::Error::UringUnavailable(why)) => {
                skip_part(Need::Feature, "uring", &format!("io_uring unavailable: {why}"));
                continue;
            }
            Err(udprx::Error::CbpfRefused(why)) => {
                return skip(Need::Feature, &format!("CBPF refused: {why}"));
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(rx.setup().cpus, vec![Some(0), Some(1)]);
        let expected = expected_set(0..4, 100);
        let out = run_collect(rx, expected.len(), |dst| {
            // Flows 0,1 from core 0; flows 2,3 from core 1.
            let mut hs = send_flows(dst, 0..2, 100, 18, Some(0));
            hs.extend(send_flows(dst, 2..4, 100, 18, Some(1)));
            join(hs);
        });
        assert_eq!(all_seen(&out), expected);
        for h in &out.handlers {
            for &(flow, _) in &h.seen {
                assert_eq!(flow as usize / 2, h.socket, "{m}: flow {flow} on socket {}", h.socket);
            }
        }
    }
}

fn udprx_ncpus() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

#[test]
fn uring_survives_buffer_exhaustion() {
    for m in [Method::Uring, Method::UringRecv] {
        uring_buffer_exhaustion(m);
    }
}

fn uring_buffer_exhaustion(m: Method) {
    let b = Receiver::builder(v4()).method(m).ring_buffers(4).rcvbuf(Some(RCVBUF));
    let Some(rx) = build_or_skip(b, m) else { return };
    // The burst queues in the socket before the request is armed, so the first arm drains 4
    // buffers and then finds the ring empty.
    let dst = rx.local_addr();
    let s = sender_socket(dst);
    let mut buf = [0u8; 18];
    for seq in 0..64 {
        stamp(&mut buf, 0, seq);
        s.send(&buf).unwrap();
    }
    let out = run_collect(rx, 128, |dst| join(send_flows(dst, 1..2, 64, 18, None)));
    let t = &out.threads[0];
    assert!(t.enobufs > 0, "{m}: ENOBUFS counted: {t:?}");
    assert!(t.rearms > 0, "{m}: re-armed: {t:?}");
    let seen = all_seen(&out);
    let mut expected = expected_set(0..2, 64);
    expected.sort_unstable();
    assert_eq!(seen, expected, "{m}: the burst and the later datagrams all arrive");
}

#[test]
fn truncated_and_foreign_are_delivered_flagged() {
    for m in Method::ALL {
        let b = builder(v4(), m, 1, Steer::Hash, false).buffer_size(64);
        let Some(rx) = build_or_skip(b, m) else { continue };
        let out = run_collect(rx, 4, |dst| {
            let s = sender_socket(dst);
            let mut big = vec![0u8; 500];
            stamp(&mut big, 3, 0);
            s.send(&big).unwrap();
            s.send(b"hello, not a probe").unwrap();
            s.send(&[1, 2, 3]).unwrap();
            let mut ok = [0u8; 18];
            stamp(&mut ok, 3, 1);
            s.send(&ok).unwrap();
        });
        let h = &out.handlers[0];
        assert_eq!(h.truncated, 1, "{m}: the 500-byte datagram is flagged truncated");
        assert_eq!(h.foreign, 2, "{m}: foreign datagrams delivered");
        assert_eq!(all_seen(&out), vec![(3, 0), (3, 1)], "{m}");
    }
}

#[test]
fn duration_ends_an_idle_run() {
    for m in Method::ALL.into_iter().chain([Method::Epoll]) {
        for spin in [false, true] {
            let b = Receiver::builder(v4())
                .method(m)
                .spin(spin)
                .cpus(vec![])
                .duration(Some(Duration::from_millis(300)));
            let Some(rx) = build_or_skip(b, m) else { continue };
            let t0 = Instant::now();
            let out = rx.run(|_| |_: &udprx::Batch<'_>| Flow::Continue).expect("run");
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{m} spin={spin}: took {:?}",
                t0.elapsed()
            );
            assert!(out.elapsed >= Duration::from_millis(300));
        }
    }
}

#[test]
fn stop_handle_ends_an_idle_run_and_on_idle_is_called() {
    struct Idle(u64);
    impl udprx::Handler for Idle {
        fn on_batch(&mut self, _: &udprx::Batch<'_>) -> Flow {
            Flow::Continue
        }
        fn on_idle(&mut self, _: u64) -> Flow {
            self.0 += 1;
            Flow::Continue
        }
    }
    for m in Method::ALL.into_iter().chain([Method::Epoll]) {
        let b = Receiver::builder(v4()).method(m).sockets(2);
        let Some(rx) = build_or_skip(b, m) else { continue };
        let stop = rx.stop_handle();
        let t = std::thread::spawn(move || rx.run(|_| Idle(0)));
        std::thread::sleep(Duration::from_millis(500));
        let t0 = Instant::now();
        stop.stop();
        let out = t.join().unwrap().expect("run");
        assert!(t0.elapsed() < Duration::from_secs(3), "{m}: stop took {:?}", t0.elapsed());
        assert!(stop.is_stopped());
        assert!(out.handlers.iter().all(|h| h.0 >= 1), "{m}: on_idle called while idle");
    }
}

/// A handler (or factory) that panics on one thread stops the others, and `run()` returns the
/// panic as an error instead of waiting forever for threads nothing stops (issue 25 row 5).
#[test]
fn a_panicking_handler_or_factory_ends_the_run_with_an_error() {
    struct PanicsWhenIdle(bool);
    impl udprx::Handler for PanicsWhenIdle {
        fn on_batch(&mut self, _: &udprx::Batch<'_>) -> Flow {
            Flow::Continue
        }
        fn on_idle(&mut self, _: u64) -> Flow {
            assert!(!self.0, "handler fails on purpose");
            Flow::Continue
        }
    }
    for m in Method::ALL.into_iter().chain([Method::Epoll]) {
        for in_factory in [false, true] {
            // No duration: only the panic can end the run.
            let b = Receiver::builder(v4()).method(m).sockets(2).cpus(vec![]);
            let Some(rx) = build_or_skip(b, m) else { continue };
            let (tx, done) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let r = rx.run(|t| {
                    assert!(!(in_factory && t.socket == 1), "factory fails on purpose");
                    PanicsWhenIdle(t.socket == 1)
                });
                let _ = tx.send(r.map(|o| o.threads.len()));
            });
            let r = done.recv_timeout(Duration::from_secs(20));
            let r = r.unwrap_or_else(|_| panic!("{m} factory={in_factory}: run() never returned"));
            assert!(matches!(r, Err(udprx::Error::ThreadPanicked(1))), "{m}: {r:?}");
        }
    }
}

#[test]
fn handler_stop_ends_every_thread() {
    for m in Method::ALL.into_iter().chain([Method::Epoll]) {
        let b = builder(v4(), m, 2, Steer::Hash, false).duration(Some(Duration::from_secs(30)));
        let Some(rx) = build_or_skip(b, m) else { continue };
        let dst = rx.local_addr();
        let t0 = Instant::now();
        let sender = std::thread::spawn(move || join(send_flows(dst, 0..8, 50, 18, None)));
        let out = rx.run(|_| |_: &udprx::Batch<'_>| Flow::Stop).expect("run");
        sender.join().unwrap();
        assert!(t0.elapsed() < Duration::from_secs(10), "{m}");
        assert!(out.threads.iter().map(|t| t.batches).sum::<u64>() >= 1);
    }
}

#[test]
fn bad_settings_are_config_errors() {
    let cases = [
        Receiver::builder(v4()).sockets(0),
        Receiver::builder(v4()).batch(0),
        Receiver::builder(v4()).ring_buffers(1000),
        Receiver::builder(v4()).buffer_size(0),
        Receiver::builder(v4()).cpus(vec![4096]),
    ];
    for b in cases {
        let e = b.build().expect_err("must be refused");
        assert!(e.is_config(), "{e}");
    }
}

#[test]
fn auto_resolves_and_port_zero_is_resolved() {
    let rx = Receiver::builder(v4())
        .method(Method::Auto)
        .duration(Some(Duration::from_millis(1500)))
        .build()
        .expect("build");
    let s = rx.setup();
    // "recvmmsg unless io_uring is shown cheaper": recvmmsg, with the reason.
    assert_eq!(s.method, Method::Recvmmsg);
    let why = s.fallback_reason.as_deref().expect("auto says why");
    assert!(why.contains("less CPU per datagram") && why.contains("io_uring"), "{why}");
    assert_eq!(s.uring_mode, None, "auto makes no io_uring call");
    assert_ne!(rx.local_addr().port(), 0);
    assert!(s.rcvbuf[0] > 0);
    let json = serde_json::to_string(s).unwrap();
    assert!(json.contains("\"method\""));
    let back: udprx::SetupInfo = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, s);
}

#[test]
fn kernel_drops_are_counted() {
    for m in Method::ALL {
        // The smallest receive buffer the kernel allows: a burst overflows it.
        let b = Receiver::builder(v4()).method(m).rcvbuf(Some(1));
        let Some(rx) = build_or_skip(b, m) else { continue };
        let s = sender_socket(rx.local_addr());
        let burst = 300u64;
        let mut buf = [0u8; 18];
        for seq in 0..burst {
            stamp(&mut buf, 0, seq);
            s.send(&buf).unwrap();
        }
        // SO_RXQ_OVFL reports the drop count as of each datagram's enqueue, so datagrams sent
        // after the burst carry it; the /proc counter is read at the end either way.
        let out = run_collect(rx, 1, |_| {
            std::thread::sleep(Duration::from_millis(200));
            for seq in burst..burst + 3 {
                stamp(&mut buf, 0, seq);
                s.send(&buf).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        let received = all_seen(&out).len() as u64;
        let drops = out.threads[0].kernel_drops;
        assert!(drops > 0, "{m}: drops counted");
        assert_eq!(received + drops, burst + 3, "{m}: received + dropped = sent");
        let h = &out.handlers[0];
        if matches!(m, Method::Recvfrom | Method::UringRecv) {
            assert_eq!(h.last_kernel_drops, None, "{m} reads no control messages");
        } else if all_seen(&out).contains(&(0, burst + 2)) {
            // The last datagram was queued after every drop, so it carries the full count.
            assert_eq!(h.last_kernel_drops, Some(drops as u32), "{m}: SO_RXQ_OVFL in batches");
        } else {
            // A very slow start let the trailing datagrams drop too: the count still shows.
            let d = h.last_kernel_drops.expect("SO_RXQ_OVFL present");
            assert!(d > 0 && d as u64 <= drops, "{m}: {d} vs {drops}");
        }
    }
}

#[test]
fn recvmmsg_full_batch_delivers_everything() {
    let b = builder(v4(), Method::Recvmmsg, 1, Steer::Hash, false).full_batch(true).batch(16);
    let rx = b.build().expect("build");
    assert!(rx.setup().full_batch);
    let expected = expected_set(0..2, 150);
    let out = run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..2, 150, 18, None)));
    assert_eq!(all_seen(&out), expected);
    // Full batches of 16 (except the tail): far fewer batches than datagrams.
    assert!(out.threads[0].batches <= 300 / 16 + 10, "{:?}", out.threads[0]);
}

#[test]
fn uring_without_defer_taskrun() {
    for (m, spin) in
        [Method::Uring, Method::UringRecv].into_iter().flat_map(|m| [(m, false), (m, true)])
    {
        let b = builder(v4(), m, 1, Steer::Hash, false)
            .uring_defer_taskrun(false)
            .spin(spin)
            .cpus(vec![]);
        let Some(rx) = build_or_skip(b, m) else { return };
        assert_ne!(rx.setup().uring_mode.as_deref(), Some("single_issuer+defer_taskrun"));
        let expected = expected_set(0..2, 200);
        let out = run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..2, 200, 18, None)));
        assert_eq!(all_seen(&out), expected, "{m} spin={spin}");
    }
}

/// Bare receive (no source address, no control messages: what the bench's statistics use):
/// K datagrams of several flows, each (flow, seq) exactly once, every source `0.0.0.0:0`,
/// drops read by SO_MEMINFO.
#[test]
fn bare_receive_delivers_exactly_once_without_addresses() {
    for (m, sockets) in [
        (Method::Recvfrom, 1),
        (Method::Recvmmsg, 1),
        (Method::Recvmmsg, 2),
        (Method::Uring, 1),
        (Method::UringRecv, 1),
    ] {
        let b = builder(v4(), m, sockets, Steer::Hash, false)
            .source_addresses(false)
            .drops_per_interval(true);
        let Some(rx) = build_or_skip(b, m) else { continue };
        assert!(!rx.setup().source_addresses, "{m}");
        assert!(rx.setup().drops_source.contains("SO_MEMINFO"), "{m}");
        let expected = expected_set(0..FLOWS, PER_FLOW);
        let out = run_collect(rx, expected.len(), |dst| {
            join(send_flows(dst, 0..FLOWS, PER_FLOW, 64, None))
        });
        let seen = all_seen(&out);
        assert_eq!(seen, expected, "{m} ×{sockets}: every (flow, seq) exactly once");
        for f in 0..FLOWS {
            let n = seen.iter().filter(|(flow, _)| *flow == f).count() as u64;
            assert_eq!(n, PER_FLOW, "{m}: flow {f}");
        }
        for h in &out.handlers {
            assert!(
                h.sources.keys().all(|s| s.ip().is_unspecified() && s.port() == 0),
                "{m}: no source address was asked for: {:?}",
                h.sources
            );
            if h.buffers > 0 {
                // SO_MEMINFO was read on the first batch: the batches carry a drop count.
                assert_eq!(h.last_kernel_drops, Some(0), "{m}");
            }
        }
        assert!(out.threads.iter().all(|t| t.kernel_drops == 0), "{m}");
    }
}

/// Bare receive keeps the drop count exact: a burst overflows the smallest receive buffer
/// before the loop starts; received + dropped = sent, and the first batch already carries the
/// SO_MEMINFO count (no control message in sight).
#[test]
fn bare_receive_drops_are_exact() {
    for m in [Method::Recvfrom, Method::Recvmmsg, Method::Uring, Method::UringRecv] {
        let b = Receiver::builder(v4())
            .method(m)
            .source_addresses(false)
            .drops_per_interval(true)
            .rcvbuf(Some(1));
        let Some(rx) = build_or_skip(b, m) else { continue };
        let s = sender_socket(rx.local_addr());
        let burst = 300u64;
        let mut buf = [0u8; 18];
        for seq in 0..burst {
            stamp(&mut buf, 0, seq);
            s.send(&buf).unwrap();
        }
        let out = run_collect(rx, 1, |_| {});
        let received = all_seen(&out).len() as u64;
        let drops = out.threads[0].kernel_drops;
        assert!(received > 0 && drops > 0, "{m}: {received} received, {drops} dropped");
        assert_eq!(received + drops, burst, "{m}: received + dropped = sent");
        assert_eq!(
            out.handlers[0].last_kernel_drops,
            Some(drops as u32),
            "{m}: the batches carry the SO_MEMINFO count"
        );
    }
}

/// `auto` whose first multishot request is refused at run time (the refusal injected as the
/// kernel's EINVAL) goes on with recvmmsg on every socket, receives everything exactly once and
/// says so in each thread's result; an explicit `uring` fails with `UringUnavailable` instead.
#[test]
fn auto_falls_back_to_recvmmsg_when_multishot_is_refused_at_run_time() {
    let b = builder(v4(), Method::Auto, 2, Steer::Hash, false).inject_multishot_einval(true);
    let rx = b.build().expect("build");
    if rx.setup().method != Method::Uring {
        skip_part(Need::Feature, "uring", "io_uring unavailable: auto chose recvmmsg at build");
        return;
    }
    let expected = expected_set(0..FLOWS, PER_FLOW);
    let out =
        run_collect(rx, expected.len(), |dst| join(send_flows(dst, 0..FLOWS, PER_FLOW, 64, None)));
    assert_eq!(all_seen(&out), expected, "every (flow, seq) exactly once after the fallback");
    for t in &out.threads {
        let why = t.fallback.as_deref().expect("the fallback is reported");
        assert!(why.contains("EINVAL") && why.contains("recvmmsg"), "{why}");
        assert_eq!(t.kernel_drops, 0);
    }

    let rx = builder(v4(), Method::Uring, 1, Steer::Hash, false)
        .inject_multishot_einval(true)
        .build()
        .expect("build");
    let Err(err) = rx.run(|_| |_: &udprx::Batch<'_>| Flow::Continue) else {
        panic!("explicit uring does not fall back");
    };
    assert!(matches!(err, udprx::Error::UringUnavailable(_)), "{err}");

    // Without the fault, nothing falls back.
    let rx = builder(v4(), Method::Auto, 1, Steer::Hash, false).build().expect("build");
    let out = run_collect(rx, 10, |dst| join(send_flows(dst, 0..1, 10, 64, None)));
    assert!(out.threads.iter().all(|t| t.fallback.is_none()));
}

/// A pull receiver made by `auto` falls back the same way: one `WouldBlock`, then recvmmsg.
#[test]
fn pull_auto_falls_back_after_a_multishot_refusal() {
    let rx = builder(v4(), Method::Auto, 1, Steer::Hash, false)
        .inject_multishot_einval(true)
        .build()
        .expect("build");
    if rx.setup().method != Method::Uring {
        skip_part(Need::Feature, "uring", "io_uring unavailable: auto chose recvmmsg at build");
        return;
    }
    let dst = rx.local_addr();
    let mut pull = rx.into_pull().expect("pull").remove(0);
    join(send_flows(dst, 0..1, 20, 64, None));
    let mut got = 0;
    let t0 = Instant::now();
    while got < 20 && t0.elapsed() < Duration::from_secs(10) {
        match pull.recv_batch() {
            Ok(b) => got += b.len(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, 20);
    assert_eq!(pull.method(), Method::Recvmmsg);
    assert!(pull.fallback().is_some_and(|w| w.contains("EINVAL")), "{:?}", pull.fallback());
}
