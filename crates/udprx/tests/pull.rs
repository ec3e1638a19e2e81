//! The pull API on loopback: for every socket method, K stamped datagrams from several flows
//! over two sockets arrive exactly once through `PullReceiver::recv_batch`, both blocking (the
//! call waits up to the idle interval) and non-blocking, driven by an epoll loop on the
//! receivers' descriptors (libc only).

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use udpprobe::Repr;
use udprx::{Method, PullReceiver, Receiver};

const FLOWS: u8 = 4;
const PER_FLOW: u64 = 300;

fn collect(pull: &mut PullReceiver, seen: &mut Vec<(u8, u64)>) -> std::io::Result<usize> {
    let index = pull.index();
    let batch = pull.recv_batch()?;
    assert!(!batch.is_empty(), "a batch is never empty");
    assert_eq!(batch.socket, index);
    for d in batch.iter() {
        let r = Repr::from_bytes(d.payload).expect("a probe datagram");
        seen.push((r.flow, r.seq));
    }
    Ok(batch.len())
}

/// Builds two sockets of `method` and turns them into pull receivers (None: io_uring missing).
fn pulls(method: Method, defer: bool) -> Option<Vec<PullReceiver>> {
    let b = Receiver::builder("127.0.0.1:0".parse().unwrap())
        .method(method)
        .sockets(2)
        .cpus(vec![])
        .rcvbuf(Some(RCVBUF))
        .uring_defer_taskrun(defer)
        .idle_interval(Duration::from_millis(50));
    let rx = build_or_skip(b, method)?;
    let pulls = rx.into_pull().expect("into_pull");
    assert_eq!(pulls.len(), 2);
    Some(pulls)
}

fn check(mut seen: Vec<(u8, u64)>, what: &str) {
    seen.sort_unstable();
    let expected = expected_set(0..FLOWS, PER_FLOW);
    assert_eq!(seen.len(), expected.len(), "{what}: count (duplicates or losses)");
    assert_eq!(seen, expected, "{what}: every (flow, seq) exactly once");
}

fn blocking(method: Method) {
    let Some(mut pulls) = pulls(method, true) else { return };
    let addr = pulls[0].local_addr();
    assert!(pulls.iter().all(|p| p.is_nonblocking() && p.method() == method), "the default");
    for p in pulls.iter_mut() {
        p.set_nonblocking(false);
    }
    let senders = send_flows(addr, 0..FLOWS, PER_FLOW, 64, None);
    let total = FLOWS as usize * PER_FLOW as usize;
    let mut seen = Vec::new();
    let t0 = Instant::now();
    let mut idle = 0;
    // Drain one socket until a wait (at most the idle interval) brings nothing, then the other.
    while t0.elapsed() < Duration::from_secs(20) && (seen.len() < total || idle < 4) {
        for p in pulls.iter_mut() {
            loop {
                match collect(p, &mut seen) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        idle += 1;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("{method}: {e}"),
                }
            }
        }
    }
    join(senders);
    check(seen, &format!("{method} blocking"));
    for p in &pulls {
        assert_eq!(p.counters().kernel_drops.unwrap_or(0), 0);
    }
}

fn nonblocking_epoll(method: Method, defer: bool) {
    let Some(mut pulls) = pulls(method, defer) else { return };
    let addr = pulls[0].local_addr();
    for p in pulls.iter_mut() {
        p.set_nonblocking(true);
        let e = p.recv_batch().expect_err("nothing sent yet");
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock, "{method}");
    }
    // SAFETY: plain epoll system calls on descriptors this test owns.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0);
    for (i, p) in pulls.iter().enumerate() {
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: i as u64 };
        // SAFETY: `ev` is a valid event; the descriptor stays open while registered.
        let rc = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, p.as_raw_fd(), &mut ev) };
        assert_eq!(rc, 0, "epoll_ctl: {}", std::io::Error::last_os_error());
    }
    let senders = send_flows(addr, 0..FLOWS, PER_FLOW, 64, None);
    let total = FLOWS as usize * PER_FLOW as usize;
    let mut seen = Vec::new();
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    let t0 = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    while t0.elapsed() < Duration::from_secs(20) {
        if seen.len() >= total {
            // Linger to catch duplicates.
            let q = *quiet_since.get_or_insert_with(Instant::now);
            if q.elapsed() > Duration::from_millis(300) {
                break;
            }
        }
        // SAFETY: `events` is writable for its length.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 50) };
        for ev in &events[..n.max(0) as usize] {
            let p = &mut pulls[ev.u64 as usize];
            // Drain until WouldBlock, as for any level- or edge-triggered readiness.
            loop {
                match collect(p, &mut seen) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("{method}: {e}"),
                }
            }
        }
    }
    // SAFETY: `ep` is ours and closed once.
    unsafe { libc::close(ep) };
    join(senders);
    check(seen, &format!("{method} non-blocking epoll (defer {defer})"));
}

macro_rules! both {
    ($($b:ident, $nb:ident: $method:expr;)*) => {$(
        #[test]
        fn $b() {
            blocking($method);
        }
        #[test]
        fn $nb() {
            nonblocking_epoll($method, true);
        }
    )*};
}

both! {
    recvfrom_blocking, recvfrom_epoll: Method::Recvfrom;
    recvmmsg_blocking, recvmmsg_epoll: Method::Recvmmsg;
    uring_blocking, uring_epoll: Method::Uring;
    uring_recv_blocking, uring_recv_epoll: Method::UringRecv;
    epoll_blocking, epoll_epoll: Method::Epoll;
}

/// Without DEFER_TASKRUN the descriptor to wait on is the ring's.
#[test]
fn uring_epoll_without_defer_taskrun() {
    nonblocking_epoll(Method::Uring, false);
}

#[test]
fn replier_from_a_pull_receiver() {
    let Some(mut pulls) = pulls(Method::Recvmmsg, true) else { return };
    let p = &mut pulls[0];
    let mut replier = p.replier().expect("replier");
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    // Whichever socket of the group gets it answers.
    for i in 0..10u8 {
        client.send_to(&[i; 20], p.local_addr()).unwrap();
    }
    let mut answered = 0;
    let t0 = Instant::now();
    while answered < 10 && t0.elapsed() < Duration::from_secs(10) {
        for p in pulls.iter_mut() {
            let mut r = p.replier().unwrap();
            if let Ok(batch) = p.recv_batch() {
                for d in batch.iter() {
                    r.queue_reply(&d, d.payload).unwrap();
                }
                answered += r.flush().unwrap();
            }
        }
    }
    assert_eq!(answered, 10);
    let mut got: Vec<u8> =
        (0..10).map(|_| client.recv(&mut buf).map(|_| buf[0]).unwrap()).collect();
    got.sort_unstable();
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
    replier.send_to(b"x", client.local_addr().unwrap()).unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 1);
}

/// Runs `f` with a blocking pull receiver of 64-byte buffers and a socket to send to it from,
/// for every socket method, without and with source addresses (`f` gets the method, whether
/// addresses are read, and a label). Returns early, skipped, when io_uring is missing.
fn each_small_receiver(
    mut f: impl FnMut(&mut PullReceiver, &std::net::UdpSocket, Method, bool, &str),
) {
    for method in
        [Method::Recvfrom, Method::Recvmmsg, Method::Uring, Method::UringRecv, Method::Epoll]
    {
        for names in [false, true] {
            let b = Receiver::builder("127.0.0.1:0".parse().unwrap())
                .method(method)
                .cpus(vec![])
                .buffer_size(64)
                .source_addresses(names)
                .idle_interval(Duration::from_millis(50));
            let Some(rx) = build_or_skip(b, method) else { return };
            let mut pull = rx.into_pull().expect("into_pull").remove(0);
            pull.set_nonblocking(false);
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            f(&mut pull, &s, method, names, &format!("{method} names={names}"));
        }
    }
}

/// The source a datagram from `s` reports: its address when read (`uring-recv` never reads one,
/// as documented on `source_addresses`), `0.0.0.0:0` otherwise.
fn expected_source(s: &std::net::UdpSocket, method: Method, names: bool) -> std::net::SocketAddr {
    if names && method != Method::UringRecv {
        s.local_addr().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    }
}

/// The bare receive paths rewrite only a record's lengths and cut flag from one call to the
/// next (its other fields stay as made): a cut datagram, then a short and an empty one in the
/// same slots, read exactly, for every socket method with and without source addresses.
#[test]
fn records_reused_across_calls_stay_exact() {
    each_small_receiver(|pull, s, method, names, what| {
        // One datagram per call: each goes into the first slot, over the last one's record.
        for (len, cut) in [(500usize, true), (20, false), (0, false), (64, false), (65, true)] {
            s.send_to(&vec![7u8; len], pull.local_addr()).unwrap();
            let t0 = Instant::now();
            let batch = loop {
                match pull.recv_batch() {
                    Ok(b) => break b,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(t0.elapsed() < Duration::from_secs(5), "{what}: {len} never came");
                    }
                    Err(e) => panic!("{what}: {e}"),
                }
            };
            assert_eq!(batch.len(), 1, "{what}: one datagram per call");
            let d = batch.get(0).unwrap();
            assert_eq!(d.payload.len(), len.min(64), "{what}: stored length of {len}");
            assert_eq!(d.wire_len, len, "{what}: wire length of {len}");
            assert_eq!(d.truncated, cut, "{what}: cut flag of {len}");
            assert!(d.payload.iter().all(|&b| b == 7), "{what}: payload of {len}");
            assert_eq!(d.segment_size, 0, "{what}");
            assert_eq!(d.source, expected_source(s, method, names), "{what}: source");
        }
    });
}

#[test]
fn one_call_of_many_datagrams_keeps_each_in_its_slot() {
    // Several datagrams queued before the call: a batched method takes them in one call, and
    // each keeps its own bytes, stored length, wire length and cut flag (the `recvmmsg`
    // batches read these straight from the call's headers).
    let sizes = [(500usize, 1u8), (20, 2), (0, 3), (64, 4), (65, 5), (7, 6)];
    each_small_receiver(|pull, s, method, names, what| {
        for &(len, fill) in &sizes {
            s.send_to(&vec![fill; len], pull.local_addr()).unwrap();
        }
        let mut got = Vec::new();
        let mut most = 0;
        let t0 = Instant::now();
        while got.len() < sizes.len() {
            assert!(t0.elapsed() < Duration::from_secs(5), "{what}: only {} came", got.len());
            let batch = match pull.recv_batch() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => panic!("{what}: {e}"),
            };
            most = most.max(batch.len());
            let by_index: Vec<_> = (0..batch.len()).map(|i| batch.get(i).unwrap()).collect();
            assert!(batch.get(batch.len()).is_none(), "{what}: past the end");
            for (d, e) in batch.iter().zip(&by_index) {
                assert_eq!(
                    (d.payload, d.wire_len, d.truncated),
                    (e.payload, e.wire_len, e.truncated)
                );
                assert_eq!(d.source, expected_source(s, method, names), "{what}: source");
                got.push((d.payload.to_vec(), d.wire_len, d.truncated));
            }
        }
        if method != Method::Recvfrom {
            assert!(most > 1, "{what}: the queued datagrams never came in one batch");
        }
        for (&(len, fill), (payload, wire_len, cut)) in sizes.iter().zip(&got) {
            assert_eq!(payload.len(), len.min(64), "{what}: stored length of {len}");
            assert!(payload.iter().all(|&b| b == fill), "{what}: bytes of datagram {fill}");
            assert_eq!((*wire_len, *cut), (len, len > 64), "{what}: wire length of {len}");
        }
    });
}
