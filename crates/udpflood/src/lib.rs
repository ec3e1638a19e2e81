//! udpflood: a UDP flood sender whose every datagram carries flow, sequence and send time.
//!
//! ```no_run
//! use std::time::Duration;
//! let report = udpflood::Flood::builder("127.0.0.1:9000".parse().unwrap())
//!     .rate(Some(100_000))
//!     .duration(Some(Duration::from_secs(2)))
//!     .flows(4)
//!     .build()?
//!     .run()?;
//! println!("{report}");
//! # Ok::<(), udpflood::Error>(())
//! ```
//!
//! Each sender thread owns one or more flows (connected UDP sockets with distinct source ports),
//! stamps a batch of datagrams with the [`udpprobe`] header (flow, gap-free 48-bit sequence per
//! flow, send time read once per batch) and hands the batch to the kernel with one `sendmmsg`,
//! optionally as UDP GSO buffers. With a rate, batches leave on a schedule computed from the start
//! time and the count sent ([`pace`]).
#![deny(missing_docs)]

pub mod config;
mod error;
mod flood;
pub mod pace;
pub mod report;
mod send;
pub mod units;

pub use config::{Config, FloodBuilder};
pub use error::Error;
pub use flood::{Flood, StopHandle};
pub use report::{FloodReport, FlowSent, IntervalReport, SendErrors};
pub use udpprobe;
pub use udpprobe::Clock;

/// Largest UDP payload (IPv4: 65535 less 20 bytes of IP and 8 of UDP header).
pub const MAX_PAYLOAD: usize = 65_507;
/// Most flows: the flow id is one byte.
pub const MAX_FLOWS: usize = 256;
/// Most packets in one sendmmsg batch (the kernel's UIO_MAXIOV).
pub const MAX_BATCH: usize = 1024;
/// Largest `--burst`: 2^20 datagrams back to back (a tenth of a second at 10 Mpps).
pub const MAX_BURST: usize = 1 << 20;
/// Shortest live-report interval (a shorter one is refused; 0 turns live reports off).
pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);
