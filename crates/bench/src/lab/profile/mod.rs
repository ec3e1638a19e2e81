//! Where the receive cores' time goes: `perf record -e cpu-clock` over a measured window,
//! stacks collapsed and drawn with `inferno`, every sample put in one category by its stack.
//!
//! The pieces:
//! - [`Profiler::new`]: finds `perf` and checks permission up front; without either the caller
//!   gets one line saying why and goes on without a profile;
//! - [`PerfSession`]: a `perf record` started with its events disabled and steered through
//!   two named pipes (`--control fifo:ctl,ack`), so the samples cover exactly the window
//!   between [`PerfSession::enable`] and [`PerfSession::disable`], not perf's own start-up or
//!   the receiver's set-up and drain;
//! - [`PerfSession::finish`]: `perf script` piped through inferno's perf collapser (sample
//!   periods as weights, so a collapsed count is nanoseconds of sampled CPU time);
//! - [`classify`] and [`RULES`]: the one table of kernel and udprx function-name patterns that
//!   decides each sample's [`Category`];
//! - [`ProfileTable`]: the shares (of all sampled time and of the busy, non-idle time) and the
//!   nanoseconds per received datagram of each category; [`flame_graph`]: the SVG.
//!
//! `cpu-clock` is a software timer event: it works in VMs without hardware counters, but
//! samples land only where interrupts are enabled, so time with interrupts off (parts of the
//! softirq and of the scheduler) is credited to the code that re-enables them.

mod rules;
mod session;
mod table;
#[cfg(test)]
mod tests;

pub use crate::model::profile::{Category, PathProfile, ProfileRun, ProfileTable, Share};
pub use rules::{RULES, USER_RULES, classify};
pub use session::{PerfSession, Profiler, Unavailable, collapse, flame_graph, slug};
pub use table::Collapsed;

/// Default sampling frequency, Hz (not a multiple of the timer tick, so sampling does not
/// lock step with periodic kernel work).
pub const DEFAULT_FREQ: u32 = 1999;

/// Lowest and highest accepted sampling frequency, Hz.
pub const FREQ_RANGE: std::ops::RangeInclusive<u32> = 10..=20_000;

/// Seconds of the profiled trial at least (more samples than a short curve trial gives).
pub const PROFILE_SECS: f64 = 2.0;
