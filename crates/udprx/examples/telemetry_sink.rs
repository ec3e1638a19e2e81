//! A tiny telemetry sink embedding the udprx engine: counts datagrams and bytes per source
//! address on every socket thread, then merges the per-thread tables when the run ends.
//!
//! ```text
//! cargo run --release -p udprx --example telemetry_sink -- 127.0.0.1:9000 10
//! ```
//! (address, seconds). Send it anything, e.g. `udpflood --dst 127.0.0.1:9000`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use udprx::{Batch, Flow, Handler, Method, Receiver, Steer};

/// Per-thread state: owned by one receive thread, so no locks.
#[derive(Default)]
struct PerSource {
    table: HashMap<SocketAddr, (u64, u64)>,
}

impl Handler for PerSource {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        for d in batch.iter() {
            // The table only allocates when a new source appears.
            let e = self.table.entry(d.source).or_default();
            e.0 += d.segment_count() as u64;
            e.1 += d.payload.len() as u64;
        }
        Flow::Continue
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args.next().as_deref().unwrap_or("127.0.0.1:9000").parse()?;
    let secs: u64 = args.next().as_deref().unwrap_or("5").parse()?;
    let rx = Receiver::builder(addr)
        .method(Method::Auto)
        .sockets(2)
        .steer(Steer::Hash)
        .rcvbuf(Some(4 << 20))
        .duration(Some(Duration::from_secs(secs)))
        .build()?;
    let setup = rx.setup();
    eprintln!(
        "listening on {} with {} ({} sockets){}",
        rx.local_addr(),
        setup.method,
        setup.sockets,
        setup
            .fallback_reason
            .as_ref()
            .map(|r| format!(", auto fell back: {r}"))
            .unwrap_or_default()
    );
    let stop = rx.stop_handle();
    let ctrlc = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, ctrlc.clone())?;
    std::thread::spawn(move || {
        while !stop.is_stopped() {
            if ctrlc.load(std::sync::atomic::Ordering::Relaxed) {
                stop.stop();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let out = rx.run(|_info| PerSource::default())?;
    let mut merged: HashMap<SocketAddr, (u64, u64)> = HashMap::new();
    for h in out.handlers {
        for (src, (n, b)) in h.table {
            let e = merged.entry(src).or_default();
            e.0 += n;
            e.1 += b;
        }
    }
    let mut rows: Vec<_> = merged.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.0));
    println!("{:<45} {:>12} {:>14}", "source", "datagrams", "bytes");
    for (src, (n, b)) in rows {
        println!("{:<45} {:>12} {:>14}", src.to_string(), n, b);
    }
    for t in &out.threads {
        println!("socket {}: kernel drops {}", t.socket, t.kernel_drops);
    }
    Ok(())
}
