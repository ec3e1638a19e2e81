//! A DNS-style echo server on the udprx engine: every datagram is answered to its source with
//! the same bytes, from the address it was sent to (PKTINFO), one `sendmmsg` per received batch.
//!
//! ```text
//! cargo run --release -p udprx --example echo -- 127.0.0.1:5353 10 [method] [sockets]
//! ```
//! (address, seconds, method: auto, recvfrom, recvmmsg or uring; sockets: 1 by default).
//! Try it with `socat - UDP:127.0.0.1:5353`. Bound to `0.0.0.0:5353`, it answers each query
//! from the address the query was sent to, as a DNS server on a multi-address host must.
//!
//! `tests/echo.rs` includes this file and runs [`serve`] with the same handler.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use udprx::{Batch, Flow, Handler, Method, Receiver, Replier, RunOutput, StopHandle};

/// Per-thread echo state: the thread's replier and its counters.
#[derive(Debug)]
pub struct Echo {
    replier: Replier,
    /// Datagrams answered.
    pub answered: u64,
    /// Replies the kernel refused (counted, never fatal).
    pub send_errors: u64,
}

impl Handler for Echo {
    fn on_batch(&mut self, batch: &Batch<'_>) -> Flow {
        for d in batch.iter() {
            // A real server would parse the query and build its answer here; the copy into the
            // replier's slot is what lets the answer outlive the received buffer.
            if self.replier.queue_reply(&d, d.payload).is_err() {
                self.send_errors += 1;
            }
        }
        match self.replier.flush() {
            Ok(n) => self.answered += n as u64,
            Err(_) => self.send_errors += 1,
        }
        Flow::Continue
    }
}

/// Serves echo on `addr` with `method` over `sockets` threads until `duration` passes or `stop`
/// fires; `ready` is told the bound address once the sockets exist.
pub fn serve(
    addr: SocketAddr,
    method: Method,
    sockets: usize,
    pktinfo: bool,
    duration: Duration,
    stop: StopHandle,
    ready: impl FnOnce(SocketAddr),
) -> Result<RunOutput<Echo>, udprx::Error> {
    let rx = Receiver::builder(addr)
        .method(method)
        .sockets(sockets)
        .pktinfo(pktinfo)
        .duration(Some(duration))
        .stop_handle(stop)
        .build()?;
    ready(rx.local_addr());
    rx.run(|info| Echo {
        // A socket method always has a socket; XDP is not offered by this example.
        replier: info.replier().expect("socket methods reply through their socket"),
        answered: 0,
        send_errors: 0,
    })
}

fn usage(msg: &str) -> ! {
    eprintln!("echo: {msg}\nusage: echo ADDR SECONDS [auto|recvfrom|recvmmsg|uring] [SOCKETS]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .first()
        .map(|a| a.parse().unwrap_or_else(|e| usage(&format!("bad address '{a}': {e}"))))
        .unwrap_or_else(|| "127.0.0.1:5353".parse().expect("literal"));
    let secs: f64 = args
        .get(1)
        .map(|s| s.parse().unwrap_or_else(|e| usage(&format!("bad seconds '{s}': {e}"))))
        .unwrap_or(10.0);
    let duration = Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() && d.as_secs() <= 86_400)
        .unwrap_or_else(|| usage(&format!("seconds must be in (0, 86400], got {secs}")));
    let method: Method = args
        .get(2)
        .map(|m| m.parse().unwrap_or_else(|e: String| usage(&e)))
        .unwrap_or(Method::Auto);
    if method.is_xdp() || method == Method::UringRecv {
        usage(&format!("{method} cannot reply: it has no source address per datagram"));
    }
    let sockets: usize = args
        .get(3)
        .map(|s| s.parse().unwrap_or_else(|e| usage(&format!("bad sockets '{s}': {e}"))))
        .unwrap_or(1);
    let out = serve(addr, method, sockets, true, duration, StopHandle::new(), |a| {
        eprintln!("echo on {a} with {method} for {secs} s")
    });
    match out {
        Ok(out) => {
            let answered: u64 = out.handlers.iter().map(|h| h.answered).sum();
            let errors: u64 = out.handlers.iter().map(|h| h.send_errors).sum();
            println!("answered {answered} datagrams ({errors} send errors)");
        }
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(if e.is_config() { 2 } else { 1 });
        }
    }
}
