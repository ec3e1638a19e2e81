//! A statsd-style collector on tokio: one task per `SO_REUSEPORT` socket, each receiving with
//! `AsyncReceiver::recv_batch().await` and summing `name:value|c` counters; every second the
//! totals are printed. Needs the `tokio` feature.
//!
//! ```text
//! cargo run --release -p udprx --features tokio --example tokio_collector -- 127.0.0.1:8125 4 10 [method]
//! ```
//! (address, sockets, seconds, method: auto, recvfrom, recvmmsg, uring or uring-recv). Try it
//! with `printf 'hits:1|c\nbytes:512|c' | nc -u -w0 127.0.0.1 8125`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use udprx::{Method, Receiver};

fn usage(msg: &str) -> ! {
    eprintln!("tokio_collector: {msg}\nusage: tokio_collector ADDR SOCKETS SECONDS [METHOD]");
    std::process::exit(2)
}

/// Adds every `name:value|c` line of `payload` to `totals` (other lines are counted as bad).
fn parse(payload: &[u8], totals: &mut HashMap<String, i64>, bad: &mut u64) {
    for line in payload.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let parsed = std::str::from_utf8(line).ok().and_then(|l| {
            let (name, rest) = l.split_once(':')?;
            let (value, kind) = rest.split_once('|')?;
            (kind == "c").then_some((name, value.parse::<i64>().ok()?))
        });
        match parsed {
            Some((name, v)) => match totals.get_mut(name) {
                Some(t) => *t += v,
                None => {
                    totals.insert(name.to_string(), v);
                }
            },
            None => *bad += 1,
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        usage("missing arguments");
    }
    let addr: SocketAddr =
        args[0].parse().unwrap_or_else(|e| usage(&format!("bad address '{}': {e}", args[0])));
    let sockets: usize = args[1].parse().unwrap_or_else(|e| usage(&format!("bad sockets: {e}")));
    let secs: u64 = args[2].parse().unwrap_or_else(|e| usage(&format!("bad seconds: {e}")));
    if secs == 0 || secs > 86_400 {
        usage("seconds must be in 1..=86400");
    }
    let method: Method = args
        .get(3)
        .map(|m| m.parse().unwrap_or_else(|e: String| usage(&e)))
        .unwrap_or(Method::Auto);
    let rx = Receiver::builder(addr)
        .method(method)
        .sockets(sockets)
        .build()
        .unwrap_or_else(|e| usage(&e.to_string()));
    eprintln!("collecting on {} with {} x {}", rx.local_addr(), sockets, rx.setup().method);
    let receivers = rx.into_async().unwrap_or_else(|e| usage(&e.to_string()));
    let (tx, mut updates) = tokio::sync::mpsc::channel::<HashMap<String, i64>>(64);
    let mut tasks = Vec::new();
    for mut r in receivers {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            let (mut totals, mut bad, mut datagrams) = (HashMap::new(), 0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    // Cancel-safe: when the tick wins, no datagram was taken.
                    batch = r.recv_batch() => match batch {
                        Ok(batch) => {
                            for d in batch.iter() {
                                datagrams += 1;
                                parse(d.payload, &mut totals, &mut bad);
                            }
                        }
                        Err(e) => {
                            eprintln!("socket {}: {e}", r.index());
                            break;
                        }
                    },
                    _ = tick.tick() => {
                        if !totals.is_empty() && tx.send(std::mem::take(&mut totals)).await.is_err() {
                            break;
                        }
                    }
                }
            }
            (datagrams, bad)
        }));
    }
    drop(tx);
    let mut all: HashMap<String, i64> = HashMap::new();
    let end = tokio::time::sleep(Duration::from_secs(secs));
    tokio::pin!(end);
    let mut print = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            Some(update) = updates.recv() => {
                for (k, v) in update {
                    *all.entry(k).or_default() += v;
                }
            }
            _ = print.tick() => {
                let mut names: Vec<_> = all.iter().collect();
                names.sort();
                println!("{names:?}");
            }
            _ = &mut end => break,
        }
    }
    for t in tasks {
        t.abort();
    }
}
