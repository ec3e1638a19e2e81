//! Several recorder threads feed one aggregator over a channel; the live lines add up to what
//! the threads recorded, and the final report agrees with both.

use std::net::SocketAddr;
use std::time::Duration;

use udpprobe::{Clock, Repr};
use udprx::batch::{Batch, Handler, RecvMeta};
use udprx_stats::report::{Report, ThreadCost};
use udprx_stats::stats::{Aggregator, Recorder, StatsConfig, StatsMode};

const S: u64 = 1_000_000_000;

#[test]
fn threads_snapshots_merge_into_lines() {
    let (tx, rx) = crossbeam_channel::unbounded();
    let cfg = StatsConfig {
        epoch_ns: 100 * S,
        live: Some(tx),
        ..StatsConfig::new(StatsMode::Full, Duration::from_millis(500))
    };
    let agg = std::thread::spawn(move || {
        let mut lines = Vec::new();
        Aggregator::new(3, Duration::from_millis(500)).run(rx, |l| lines.push(l.clone()));
        lines
    });
    let workers: Vec<_> = (0..3usize)
        .map(|socket| {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                let mut r = Recorder::new(&cfg, socket);
                let src = SocketAddr::from(([127, 0, 0, 1], 7000 + socket as u16));
                let mut seq = 0u64;
                // 3 s of traffic, 50 batches of 8 per second; socket 2 skips every 7th seq.
                for step in 0..150u64 {
                    let rx_ns = 100 * S + step * S / 50;
                    let mut arena = vec![0u8; 8 * 32];
                    let mut metas = Vec::new();
                    for i in 0..8 {
                        seq += 1;
                        if socket == 2 && seq.is_multiple_of(7) {
                            seq += 1;
                        }
                        let r = Repr {
                            flow: 0,
                            seq,
                            sender: 0,
                            tx_ns: rx_ns - 20_000,
                            clock: Clock::Monotonic,
                        };
                        r.emit_into(&mut arena[i * 32..]).unwrap();
                        metas.push(RecvMeta {
                            offset: i * 32,
                            len: 32,
                            source: src,
                            ..RecvMeta::EMPTY
                        });
                    }
                    r.on_batch(&Batch::new(&arena, &metas, rx_ns, socket));
                }
                r.on_idle(103 * S + 1);
                r.finish()
            })
        })
        .collect();
    let stats: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    drop(cfg);
    let lines = agg.join().unwrap();
    let total: u64 = lines.iter().map(|l| l.datagrams).sum();
    assert_eq!(total, 3 * 150 * 8);
    // Intervals of 0.5 s since the epoch: six with traffic. The idle call 1 ns past the end
    // opened a seventh, empty and a sliver long, which is left out rather than printed as a
    // 0-pps line.
    assert_eq!(lines.iter().map(|l| l.index).collect::<Vec<_>>(), (0..=5).collect::<Vec<_>>());
    assert!((lines[1].start_s - 0.5).abs() < 1e-9);
    assert_eq!(lines[0].datagrams, 3 * 25 * 8);
    assert!((lines[0].pps - 1200.0).abs() < 1e-6);
    assert!(lines[0].p99_ns.unwrap() >= 19_900);
    let lost_lines: i64 = lines.iter().map(|l| l.lost).sum();
    let report = Report::from_threads(
        stats.into_iter().map(|s| (s, ThreadCost::default())).collect(),
        None,
        serde_json::Value::Null,
        Duration::from_secs(3),
    );
    assert_eq!(report.totals.datagrams, total);
    assert_eq!(report.totals.lost as i64, lost_lines);
    assert!(report.totals.lost > 0);
    assert_eq!(report.flows.len(), 3);
    assert_eq!(report.rate.series, vec![600, 600, 600, 600, 600, 600]);
    let pps = report.rate.pps.unwrap();
    assert_eq!((pps.count, pps.min, pps.max), (4, 1200, 1200));
}
