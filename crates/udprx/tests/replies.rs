//! Send-side parity (issue 24): `Replier::send_segments` with UDP GSO (one `sendmsg` for many
//! datagrams) and with GSO off (one message per segment) delivers the same datagrams, each of
//! the segment size with the right bytes, carrying the ECN codepoint asked for; queued replies
//! carry `set_ecn`'s. Checked by a udprx receiver with `ecn(true)` (IP_RECVTOS), on IPv4 and,
//! where the host has it, IPv6 loopback.
//!
//! Self-contained (std, libc and udprx only) so it also runs from the published package.

#[path = "support/skip.rs"]
mod skip;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use udprx::{Method, PullReceiver, Receiver, Replier};

const ECT0: u8 = 2;
const ECT1: u8 = 1;

fn receiver(addr: &str) -> Option<PullReceiver> {
    let b = Receiver::builder(addr.parse().unwrap())
        .method(Method::Recvmmsg)
        .cpus(vec![])
        .ecn(true)
        .idle_interval(Duration::from_millis(20));
    match b.build() {
        Ok(rx) => Some(rx.into_pull().unwrap().remove(0)),
        Err(e) if addr.starts_with('[') => {
            skip::skip_part(skip::Need::Feature, "ipv6", &format!("no IPv6 loopback: {e}"));
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// Receives `n` datagrams (bounded: 10 s): (payload, ecn) each.
fn take(p: &mut PullReceiver, n: usize) -> Vec<(Vec<u8>, Option<u8>)> {
    let mut out = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while out.len() < n && Instant::now() < end {
        match p.recv_batch() {
            Ok(b) => out.extend(b.iter().map(|d| (d.payload.to_vec(), d.ecn))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("{e}"),
        }
    }
    out
}

fn segments_arrive_as_sent(bind: &str) {
    let Some(mut rx) = receiver(bind) else { return };
    let dst: SocketAddr = rx.local_addr();
    let server = UdpSocket::bind(SocketAddr::new(dst.ip(), 0)).unwrap();
    let mut replier = Replier::new(&server).unwrap();
    // 150 segments of 100 bytes and a last one of 40: more than one GSO send (64 at most).
    let payload: Vec<u8> = (0..15_040u32).map(|i| (i % 251) as u8).collect();
    for (gso, ecn) in [(true, ECT0), (false, ECT1)] {
        replier.set_gso(gso);
        let n = replier.send_segments(&payload, 100, dst, None, Some(ecn)).expect("send");
        assert_eq!(n, 151, "{bind} gso {gso}: datagrams sent");
        let got = take(&mut rx, 151);
        assert_eq!(got.len(), 151, "{bind} gso {gso}: datagrams received");
        for (i, (bytes, e)) in got.iter().enumerate() {
            let want = &payload[i * 100..((i + 1) * 100).min(payload.len())];
            assert_eq!(bytes.as_slice(), want, "{bind} gso {gso}: datagram {i} content");
            assert_eq!(*e, Some(ecn), "{bind} gso {gso}: datagram {i} ECN");
        }
        if gso {
            assert!(replier.gso() || replier.gso_refusal().is_some());
        }
    }
    // Queued replies carry set_ecn's codepoint.
    replier.set_ecn(Some(ECT0));
    replier.queue(b"queued", dst, None).unwrap();
    assert_eq!(replier.flush().unwrap(), 1);
    let got = take(&mut rx, 1);
    assert_eq!(got, vec![(b"queued".to_vec(), Some(ECT0))], "{bind}: queued reply");
}

#[test]
fn gso_and_ecn_replies_arrive_as_sent_v4() {
    segments_arrive_as_sent("127.0.0.1:0");
}

#[test]
fn gso_and_ecn_replies_arrive_as_sent_v6() {
    segments_arrive_as_sent("[::1]:0");
}

#[test]
fn bad_segment_size_is_refused() {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut r = Replier::new(&s).unwrap();
    let to = s.local_addr().unwrap();
    let e = r.send_segments(b"x", 0, to, None, None).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}
