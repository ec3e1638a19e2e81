//! udprx: a UDP receive engine and benchmark.
//!
//! Compares receive paths (`recvfrom`, batched `recvmmsg`, `SO_REUSEPORT` fan-out, io_uring
//! multishot receive) with one pinned thread per socket, and measures packets per second,
//! latency, loss, reorder and kernel drops. The same loop is a library an application can embed:
//! see [`batch::Handler`].
#![deny(missing_docs)]

pub mod batch;
pub mod bench;

pub use batch::{Batch, Datagram, Flow, Handler, RecvMeta};
