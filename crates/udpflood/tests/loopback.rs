//! Floods on loopback, received by a plain UDP socket in the test: every flow's sequence arrives
//! complete and in order, and a paced run delivers its count at the requested mean rate.

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use udpflood::{Flood, FloodReport};
use udpprobe::Repr;

/// A receiver with a large buffer (SO_RCVBUFFORCE as root, else as much as rmem_max allows).
fn receiver(v6: bool) -> UdpSocket {
    let (domain, addr) = if v6 {
        (Domain::IPV6, "[::1]:0".parse::<SocketAddr>().unwrap())
    } else {
        (Domain::IPV4, "127.0.0.1:0".parse::<SocketAddr>().unwrap())
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    let size: libc::c_int = 64 << 20;
    // SAFETY: valid socket fd, `size` outlives the call and its length is passed exactly.
    let forced = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if forced != 0 {
        let _ = s.set_recv_buffer_size(size as usize);
    }
    s.bind(&addr.into()).unwrap();
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    s
}

/// Receives until `expected` datagrams or 3 s of silence; per flow, the sequence numbers seen.
fn collect(
    rx: UdpSocket,
    expected: u64,
    payload: usize,
) -> thread::JoinHandle<BTreeMap<u8, Vec<u64>>> {
    thread::spawn(move || {
        let mut flows: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
        let mut buf = vec![0u8; 65536];
        let mut got = 0;
        let mut last = Instant::now();
        while got < expected && last.elapsed() < Duration::from_secs(3) {
            match rx.recv(&mut buf) {
                Ok(n) => {
                    assert_eq!(n, payload, "datagram of the wrong size");
                    let r = Repr::from_bytes(&buf[..n]).expect("not a probe datagram");
                    flows.entry(r.flow).or_default().push(r.seq);
                    got += 1;
                    last = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
        flows
    })
}

fn assert_complete(
    flows: &BTreeMap<u8, Vec<u64>>,
    report: &FloodReport,
    nflows: usize,
    total: u64,
) {
    assert_eq!(report.packets, total);
    assert_eq!(report.flows.len(), nflows);
    assert_eq!(flows.len(), nflows, "flows seen: {:?}", flows.keys().collect::<Vec<_>>());
    let mut sum = 0;
    for sent in &report.flows {
        let seqs = &flows[&sent.flow];
        let want: Vec<u64> = (0..sent.packets).collect();
        assert!(
            seqs == &want,
            "flow {}: {} of {} datagrams, first gap/reorder at {:?}",
            sent.flow,
            seqs.len(),
            sent.packets,
            seqs.iter().zip(&want).position(|(a, b)| a != b)
        );
        sum += sent.packets;
    }
    assert_eq!(sum, total);
    // Split evenly: flows differ by at most one datagram.
    let min = report.flows.iter().map(|f| f.packets).min().unwrap();
    let max = report.flows.iter().map(|f| f.packets).max().unwrap();
    assert!(max - min <= 1, "uneven split {min}..{max}");
}

fn count_run(gso: bool, v6: bool, payload: usize) -> (FloodReport, BTreeMap<u8, Vec<u64>>) {
    const K: u64 = 6001;
    let rx = receiver(v6);
    let dest = rx.local_addr().unwrap();
    let handle = collect(rx, K, payload);
    let report = Flood::builder(dest)
        .count(Some(K))
        .flows(4)
        .threads(2)
        .payload_size(payload)
        .rate(Some(10_000))
        .gso(gso)
        .batch(32)
        .build()
        .unwrap()
        .run()
        .unwrap();
    let flows = handle.join().unwrap();
    assert_complete(&flows, &report, 4, K);
    (report, flows)
}

#[test]
fn count_arrives_complete_and_in_order_per_flow() {
    let (report, _) = count_run(false, false, 18);
    assert!(!report.gso_active);
    assert_eq!(report.errors.total(), 0, "{}", report);
}

#[test]
fn count_arrives_complete_over_ipv6_with_padding() {
    let (report, _) = count_run(false, true, 200);
    assert!(report.dest.is_ipv6());
}

#[test]
fn gso_count_arrives_complete_and_in_order_per_flow() {
    let (report, _) = count_run(true, false, 18);
    assert!(report.gso_requested);
    if !report.gso_active {
        // The datagrams still arrived (checked above) through the plain sendmmsg fallback.
        eprintln!("note: GSO fell back: {:?}", report.gso_fallback_reason);
    }
}

#[test]
fn paced_run_delivers_the_count_at_the_requested_rate() {
    const R: u64 = 2000;
    let rx = receiver(false);
    let dest = rx.local_addr().unwrap();
    let handle = collect(rx, R, 18);
    let report = Flood::builder(dest)
        .count(Some(R))
        .rate(Some(R))
        .duration(Some(Duration::from_secs(30)))
        .build()
        .unwrap()
        .run()
        .unwrap();
    let flows = handle.join().unwrap();
    assert_complete(&flows, &report, 1, R);
    let err = (report.pps / R as f64 - 1.0).abs();
    assert!(err < 0.03, "mean rate {} pps for {R} requested", report.pps);
}

#[test]
fn paced_run_for_a_duration_sends_rate_times_duration() {
    const R: u64 = 3000;
    let rx = receiver(false);
    let dest = rx.local_addr().unwrap();
    let handle = collect(rx, u64::MAX, 18);
    let report = Flood::builder(dest)
        .rate(Some(R))
        .duration(Some(Duration::from_secs(1)))
        .threads(2)
        .burst(Some(10))
        .build()
        .unwrap()
        .run()
        .unwrap();
    let flows = handle.join().unwrap();
    let received: usize = flows.values().map(|v| v.len()).sum();
    assert_eq!(received as u64, report.packets, "sent {} received {received}", report.packets);
    let expected = R as f64 * report.duration_s;
    assert!(
        (report.packets as f64 / expected - 1.0).abs() < 0.03,
        "{} packets in {} s at {R} pps",
        report.packets,
        report.duration_s
    );
    assert!((report.pps / R as f64 - 1.0).abs() < 0.03, "mean {} pps", report.pps);
}

#[test]
fn no_listener_is_counted_not_fatal() {
    // Bind a port, then close it: nobody listens there, ICMP port unreachable comes back.
    let dest = UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let report = Flood::builder(dest)
        .count(Some(500))
        .rate(Some(5000))
        .batch(1)
        .build()
        .unwrap()
        .run()
        .unwrap();
    assert_eq!(report.packets, 500);
    assert!(report.errors.econnrefused > 0, "{report}");
}

#[test]
fn stop_handle_ends_an_unbounded_run() {
    let rx = receiver(false);
    let flood = Flood::builder(rx.local_addr().unwrap())
        .duration(Some(Duration::from_secs(60)))
        .rate(Some(1000))
        .build()
        .unwrap();
    let stop = flood.stop_handle();
    let t = thread::spawn(move || flood.run());
    thread::sleep(Duration::from_millis(300));
    stop.stop();
    let report = t.join().unwrap().unwrap();
    assert!(report.interrupted);
    assert!(report.packets > 0 && report.duration_s < 30.0, "{report}");
}
