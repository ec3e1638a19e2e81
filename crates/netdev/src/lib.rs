//! Network devices for udprx: what the NIC is and where its queues interrupt, what it counted,
//! and where every sent datagram went.
//!
//! - [`discover`](mod@discover): an interface's driver, rx/tx queues, each queue's IRQ(s) and their CPUs,
//!   its NUMA node; [`placement`]: receive threads on the queues' cores, one socket per queue
//!   with by-CPU steering, a printable map and a NUMA-crossing flag.
//! - [`counters`]: snapshots of the device counters (`/sys/class/net/DEV/statistics`, the same
//!   numbers as rtnetlink stats64), per-queue driver statistics (`ethtool -S` text) and softnet
//!   per CPU (the `udprx-stats` parser), and their deltas.
//! - [`books`]: `sent = received + socket drops + backlog drops + NIC drops + unaccounted`,
//!   each term naming its source counter, the remainder explained.
//! - [`settings`]: NIC and interrupt settings read, checked, applied and restored; [`rss`]: the
//!   RSS hash fields and indirection table as ethtool prints and sets them; [`genl`]: the
//!   per-NAPI settings (IRQ suspension) through the netdev generic netlink family.
//!
//! Everything reads through a [`Sys`] root, so tests run on recorded trees and texts
//! (`tests/fixtures/`) as well as on the live `/sys` and `/proc`.
#![deny(missing_docs)]

pub mod books;
pub mod counters;
pub mod discover;
pub mod ethtool;
pub mod genl;
pub mod placement;
pub mod rss;
pub mod settings;
pub mod sys;

pub use books::{Books, Term, balance};
pub use counters::{DevCounters, NicDelta, NicSnapshot, nic_drops};
pub use discover::{Irq, NicInfo, discover};
pub use placement::{Placement, propose};
pub use settings::{RestoreRecord, Setting, Settings, validate_record};
pub use sys::{Sys, parse_cpu_list};

/// Why something about a device could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NetdevError {
    /// No such interface.
    #[error("no network interface '{0}' (see ip link)")]
    NoDevice(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file did not have the expected format.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
}
