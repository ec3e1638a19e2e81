//! What the statistics cost per datagram: header parse + flow lookup + sequence window +
//! latency histogram record, alone and over a batch of 64, against the minimal (counts only)
//! mode; `_ktime` adds a kernel receive timestamp to every datagram (two more latency values:
//! send → kernel and kernel → application).
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use udpprobe::{Clock, Packet, Repr};
use udprx::batch::{Batch, Handler, RecvMeta};
use udprx_stats::stats::latency::{LatencyRecorder, realtime_offset_ns};
use udprx_stats::stats::{FlowTable, Recorder, StatsConfig, StatsMode};

const BATCH: usize = 64;
const SIZE: usize = 64;

/// An arena of `BATCH` probe datagrams from `FLOWS` flows (round robin), starting at sequence
/// `seq0`; with `ktime`, each has a kernel receive timestamp (`CLOCK_REALTIME`) between its send
/// time and the batch's receive time (2 ms monotonic).
fn arena<const FLOWS: usize>(seq0: u64, ktime: bool) -> (Vec<u8>, Vec<RecvMeta>) {
    let offset = realtime_offset_ns() as u64;
    let mut buf = vec![0u8; BATCH * SIZE];
    let mut metas = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        let flow = (i % FLOWS) as u8;
        let source = SocketAddr::from(([127, 0, 0, 1], 40_000 + flow as u16));
        let r = Repr {
            flow,
            seq: seq0 + (i / FLOWS) as u64,
            sender: 0,
            tx_ns: 1_000_000 - (i as u64 * 997) % 50_000,
            clock: Clock::Monotonic,
        };
        r.emit_into(&mut buf[i * SIZE..]).unwrap();
        let kernel_rx_ns = ktime.then(|| offset + 1_500_000 + (i as u64 * 131) % 20_000);
        metas.push(RecvMeta {
            offset: i * SIZE,
            len: SIZE,
            source,
            kernel_rx_ns,
            ..RecvMeta::EMPTY
        });
    }
    (buf, metas)
}

fn stats(c: &mut Criterion) {
    let mut g = c.benchmark_group("stats");

    g.throughput(Throughput::Elements(1));
    g.bench_function("record_one_datagram", |b| {
        let mut flows = FlowTable::new(1024);
        let mut lat = LatencyRecorder::new();
        let source = SocketAddr::from(([127, 0, 0, 1], 40_000));
        let mut buf = [0u8; SIZE];
        let mut seq = 0u64;
        b.iter(|| {
            Repr { flow: 0, seq, sender: 0, tx_ns: 1_000, clock: Clock::Monotonic }
                .emit_into(&mut buf)
                .unwrap();
            seq += 1;
            let r = Repr::from_bytes(black_box(&buf[..])).unwrap();
            flows.record(source, r.sender, r.flow, r.seq);
            lat.record(r.clock, r.tx_ns, 1_000 + 25_000 + (seq & 1023), None);
        })
    });

    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, mode, flows, ktime) in [
        ("batch64_full_4flows", StatsMode::Full, 4usize, false),
        ("batch64_full_1flow", StatsMode::Full, 1, false),
        ("batch64_full_1flow_ktime", StatsMode::Full, 1, true),
        ("batch64_minimal", StatsMode::Minimal, 4, false),
    ] {
        g.bench_function(name, |b| {
            // One arena, kept in cache as a receive buffer would be; each iteration re-stamps
            // its 64 sequence numbers (a few ns, the same in both modes) so flows advance.
            let cfg = StatsConfig { epoch_ns: 0, ..StatsConfig::new(mode, Duration::from_secs(1)) };
            let mut rec = Recorder::new(&cfg, 0);
            let (mut buf, metas) =
                if flows == 1 { arena::<1>(0, ktime) } else { arena::<4>(0, ktime) };
            let mut seq0 = 0u64;
            b.iter(|| {
                seq0 += (BATCH / flows) as u64;
                for i in 0..BATCH {
                    Packet::new_unchecked(&mut buf[i * SIZE..]).set_seq(seq0 + (i / flows) as u64);
                }
                let batch = Batch::new(&buf, &metas, 2_000_000, 0);
                black_box(rec.on_batch(&batch));
            });
        });
    }
    g.finish();
}

criterion_group!(benches, stats);
criterion_main!(benches);
