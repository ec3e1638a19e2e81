//! udprx: a UDP receive engine and benchmark.
//!
//! Compares receive paths (`recvfrom`, batched `recvmmsg`, `SO_REUSEPORT` fan-out, io_uring
//! multishot receive) with one pinned thread per socket, and measures packets per second,
//! latency, loss, reorder and kernel drops. The same loop is a library an application can embed:
//! see [`Receiver`] and [`batch::Handler`]. Past the socket layer, `--method xdp` receives through
//! an AF_XDP socket and `--method xdp-drop` measures the driver-level ceiling (see [`xdp`]).
#![deny(missing_docs)]

pub mod batch;
pub mod bench;
pub mod cbpf;
pub mod control;
pub mod engine;
pub mod error;
pub mod kernel;
pub mod measure;
mod method;
pub mod report;
pub mod stats;
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
pub use method::Method;
