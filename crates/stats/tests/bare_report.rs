//! Receive without source addresses through the statistics layer: flows keyed by the probe
//! header's sender id and flow id, exact per-flow counts, and a report that says so.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use udpprobe::{Clock, Repr, now_ns};
use udprx::{Method, Receiver};
use udprx_stats::measure::{self, Measure};

const FLOWS: u8 = 3;
const PER_FLOW: u64 = 300;
const SENDERS: [u16; 2] = [0x1111, 0x2222];

/// Two senders stamping the same flow ids and the same sequence numbers, one socket each.
fn send_two_senders(dst: SocketAddr) {
    let handles: Vec<_> = SENDERS
        .iter()
        .map(|&sender| {
            std::thread::spawn(move || {
                let s = sender_socket(dst);
                let mut buf = [0u8; 64];
                for seq in 0..PER_FLOW {
                    for flow in 0..FLOWS {
                        let r = Repr {
                            flow,
                            seq,
                            sender,
                            tx_ns: now_ns(Clock::Monotonic),
                            clock: Clock::Monotonic,
                        };
                        r.emit_into(&mut buf).unwrap();
                        s.send(&buf).expect("send");
                    }
                    if seq % 16 == 15 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        })
        .collect();
    join(handles);
}

/// Without source addresses, two senders using the same flow ids stay apart by their sender
/// ids: one flow per (sender, flow id) at source `-`, each with exact counts (no duplicates,
/// no reorder from mixing), and the report states what was not read.
#[test]
fn flows_without_addresses_are_kept_apart_by_sender_id() {
    for m in [Method::Recvfrom, Method::Recvmmsg, Method::Uring] {
        let b = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(m)
            .rcvbuf(Some(RCVBUF))
            .source_addresses(false)
            .drops_per_interval(true)
            .duration(Some(Duration::from_secs(20)));
        let rx = match b.build() {
            Ok(rx) => rx,
            Err(udprx::Error::UringUnavailable(why)) => {
                skip_part(Need::Feature, "uring", &why);
                continue;
            }
            Err(e) => panic!("{m}: {e}"),
        };
        let dst = rx.local_addr();
        let stop = rx.stop_handle();
        let sender = std::thread::spawn(move || {
            // Wait until the loop is surely in its receive call, then send and let it drain.
            std::thread::sleep(Duration::from_millis(100));
            send_two_senders(dst);
            std::thread::sleep(Duration::from_millis(500));
            stop.stop();
        });
        let report = measure::run(rx, &Measure::default(), None).expect("measure run");
        sender.join().unwrap();
        assert_eq!(report.setup["source_addresses"], false, "{m}");
        assert_eq!(
            report.flows.len(),
            SENDERS.len() * FLOWS as usize,
            "{m}: one flow per (sender, flow id): {:?}",
            report.flows
        );
        for f in &report.flows {
            assert_eq!(f.source, "-", "{m}");
            assert!(SENDERS.contains(&f.sender), "{m}: sender {}", f.sender);
            assert_eq!(
                (f.counts.received, f.counts.lost, f.counts.duplicates, f.counts.reordered),
                (PER_FLOW, 0, 0, 0),
                "{m}: sender {} flow {}",
                f.sender,
                f.flow
            );
        }
        assert_eq!(report.totals.kernel_drops, 0, "{m}");
        assert!(
            report.warnings.iter().any(|w| w.starts_with("source addresses not read")),
            "{m}: {:?}",
            report.warnings
        );
        let table = report.to_table();
        assert!(table.contains("sender id"), "{m}");
        assert!(table.contains("kernel drops (SO_MEMINFO per interval) 0"), "{m}: {table}");
    }
}
