//! The procedure: the [`crate::Bench`] trait a machine implements, and the curve runner that
//! drives it (interleaving, repetitions, the budget, the searches). It knows no machine: the
//! real one is in [`crate::lab`], the tests drive a fake of known capacity.

pub mod curve;
pub mod sweep;

use crate::{CellResult, CellSpec, Result};

/// The machine the procedure measures on. The harness decides what to run (which row, at which
/// offered rate, for how long, in which order, how often); an implementation only runs it.
///
/// Implementations: `run::RealBench` (this host: loopback or a veth pair between namespaces,
/// see [`crate::lab`]) and, in the tests of [`curve`], a fake receiver of known capacity. A
/// remote sender agent — floods driven on another host over the control channel — is a third
/// implementation of the same two methods; nothing in [`crate::analysis`] or [`crate::render`]
/// changes for it, because everything they read arrives in the [`CellResult`].
///
/// One trial, [`Bench::run_cell`], must:
/// 1. start the receive side for `spec.row` (method, fan-out, sockets, socket options), pinned
///    to `spec.receiver_cpus`, and wait until it is ready;
/// 2. run the flood: `spec.rate` datagrams per second (`None`: as fast as the sender can) for
///    `spec.secs` seconds, over the row's flows, from cores `spec.sender_cpus` (on the sending
///    host, whichever it is);
/// 3. snapshot the kernel and NIC counters of the receiving host around the flood (SNMP UDP
///    counters, softnet, `/proc/stat`, softirqs: see [`crate::lab::procfs`]) and the noise
///    sample ([`crate::lab::noise`]);
/// 4. return one [`CellResult`]: datagrams sent (as the sender counted them), received, lost,
///    kernel drops, the rates, the CPU split (receiver and sender), latency when timestamps
///    were asked for, the counter deltas and the noise record, plus the sender's and the
///    receiver's own reports when there are any.
///
/// A failing trial returns `Err` with one line saying why; the runner records it and goes on.
/// Trials are bounded by `spec.secs` plus set-up and drain: an implementation must not block
/// past that (a remote agent must time out on a silent peer).
pub trait Bench {
    /// Makes setting number `index` of the plan the one in force (sysctls, RPS, GRO on the
    /// veth), on every host the trials touch.
    fn enter_setting(&mut self, index: usize) -> Result<()>;
    /// Runs one trial as described above.
    fn run_cell(&mut self, spec: &CellSpec) -> Result<CellResult>;
}
