//! udprx: a fast UDP receive loop.
//!
//! Receives with `recvfrom`, batched `recvmmsg`, `SO_REUSEPORT` fan-out (kernel hash or by-CPU
//! BPF steering), io_uring multishot receive over a provided buffer ring, or past the socket
//! layer through AF_XDP ([`xdp`]), one pinned thread per socket, and hands each batch of
//! datagrams, zero-copy, to the application's [`Handler`]. See [`Receiver`].
//!
//! This crate is the engine only: statistics and reports live in `udprx-stats`, the benchmark
//! harness in `udprx-bench` and the command lines in `udprx-cli`. Its dependencies are libc,
//! socket2, io-uring, thiserror and the probe header crate; `serde` derives for
//! the setup types are behind the `serde` feature.
#![deny(missing_docs)]

pub mod batch;
pub mod cbpf;
pub mod engine;
pub mod error;
pub mod fanout;
mod method;
pub mod pull;
mod sys;
#[cfg(test)]
#[path = "../../../testsupport/skip.rs"]
mod test_skip;
pub mod xdp;

pub use batch::{Batch, Datagram, Flow, Handler, RecvMeta};
pub use engine::{
    Receiver, ReceiverBuilder, RunOutput, SetupInfo, Steer, StopHandle, ThreadInfo, ThreadResult,
};
pub use error::Error;
pub use fanout::Fanout;
pub use method::Method;
pub use pull::{PullReceiver, RecvCounters};
pub use sys::reply::{DEFAULT_REPLY_BATCH, DEFAULT_REPLY_SLOT, Replier};
