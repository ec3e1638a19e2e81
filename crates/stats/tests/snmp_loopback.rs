//! The namespace's Udp counters see a receive-buffer overflow on loopback: a socket with a tiny
//! receive buffer that does not read while a burst arrives. Received + RcvbufErrors accounts
//! for everything sent (other processes may add drops of their own, never remove ours).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use udprx_stats::kernel::UdpSample;

#[test]
fn rcvbuf_overflow_shows_in_snmp_deltas() {
    let rx = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    rx.set_recv_buffer_size(4096).unwrap();
    rx.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    let rx: UdpSocket = rx.into();
    let addr = rx.local_addr().unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();

    let before = UdpSample::read().unwrap();
    let payload = [0u8; 1000];
    let sent = 500u64;
    for _ in 0..sent {
        tx.send_to(&payload, addr).unwrap();
    }
    // Now drain what the buffer kept.
    rx.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut buf = [0u8; 2048];
    let mut received = 0u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match rx.recv(&mut buf) {
            Ok(_) => received += 1,
            Err(_) => break,
        }
    }
    let d = UdpSample::read().unwrap().delta(&before);
    let drops = d.get("RcvbufErrors");
    assert!(received < sent, "a 4 KiB buffer cannot hold {sent} KB");
    assert!(drops >= (sent - received) as i64, "RcvbufErrors {drops}, lost {}", sent - received);
    assert!(d.get("InErrors") >= drops);
    assert!(d.get("InDatagrams") >= received as i64);
}
