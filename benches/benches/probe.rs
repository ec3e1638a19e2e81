//! Probe header encode and decode: the per-datagram cost both tools pay.
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use udpprobe::{Clock, HEADER_LEN, Packet, Repr};

fn probe(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe");
    g.throughput(Throughput::Elements(1));
    let repr =
        Repr { flow: 3, seq: 123_456, sender: 9, tx_ns: 987_654_321, clock: Clock::Monotonic };
    let mut buf = [0u8; HEADER_LEN];
    repr.emit_into(&mut buf).unwrap();
    g.bench_function("parse", |b| b.iter(|| Repr::from_bytes(black_box(&buf[..]))));
    g.bench_function("emit", |b| {
        let mut out = [0u8; HEADER_LEN];
        b.iter(|| {
            let mut p = Packet::new_unchecked(&mut out[..]);
            black_box(&repr).emit(&mut p);
            black_box(&out);
        })
    });
    g.bench_function("stamp_seq_and_time", |b| {
        let mut out = buf;
        let mut seq = 0u64;
        b.iter(|| {
            let mut p = Packet::new_unchecked(&mut out[..]);
            p.set_seq(seq);
            p.set_tx_ns(seq);
            seq += 1;
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group!(benches, probe);
criterion_main!(benches);
