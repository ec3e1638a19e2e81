//! Lean receive through the statistics layer: flows keyed by the probe header's flow id alone,
//! exact per-flow counts, and a report that states what lean mode traded away.

#[path = "../../../testsupport/rx_common.rs"]
mod common;

use std::time::Duration;

use common::*;
use udprx::{Method, Receiver};
use udprx_stats::measure::{self, Measure};

const FLOWS: u8 = 4;
const PER_FLOW: u64 = 300;

/// Through the statistics layer, a lean run keys flows by the header's flow id alone: one flow
/// per id at `0.0.0.0:0`, each with exact counts, and the report says what lean traded away.
#[test]
fn lean_report_keys_flows_by_flow_id() {
    for m in [Method::Recvfrom, Method::Recvmmsg] {
        let rx = Receiver::builder("127.0.0.1:0".parse().unwrap())
            .method(m)
            .rcvbuf(Some(RCVBUF))
            .lean(true)
            .duration(Some(Duration::from_secs(20)))
            .build()
            .expect("build");
        let dst = rx.local_addr();
        let stop = rx.stop_handle();
        let sender = std::thread::spawn(move || {
            // Wait until the loop is surely in its receive call, then send and let it drain.
            std::thread::sleep(Duration::from_millis(100));
            join(send_flows(dst, 0..FLOWS, PER_FLOW, 64, None));
            std::thread::sleep(Duration::from_millis(500));
            stop.stop();
        });
        let report = measure::run(rx, &Measure::default(), None).expect("measure run");
        sender.join().unwrap();
        assert_eq!(report.setup["lean"], true, "{m}");
        assert_eq!(report.flows.len(), FLOWS as usize, "{m}: one flow per id: {:?}", report.flows);
        for f in &report.flows {
            assert_eq!(f.source, "0.0.0.0:0", "{m}");
            assert_eq!(
                (f.counts.received, f.counts.lost, f.counts.duplicates),
                (PER_FLOW, 0, 0),
                "{m}: flow {}",
                f.flow
            );
        }
        assert_eq!(report.totals.kernel_drops, 0, "{m}");
        assert!(report.warnings.iter().any(|w| w.starts_with("lean mode:")), "{m}");
        assert!(report.to_table().contains("flow id alone"), "{m}");
    }
}
