//! What the server tells the embedding program: [`ServerEvent`]s through an [`Observer`].

use std::net::SocketAddr;
use std::sync::Arc;

use super::record::RunRecord;
use crate::msg::ErrorReply;

/// Something the server did, for logging by the embedding program.
#[derive(Debug, Clone)]
pub enum ServerEvent {
    /// A connection was answered with an error and closed (or refused at once).
    ///
    /// Rejections reach the observer at most [`REJECT_LOG_PER_SEC`] per second on average
    /// (bursts of [`REJECT_LOG_BURST`]); the others are only counted.
    Rejected {
        /// Peer address.
        peer: SocketAddr,
        /// Why; peer-supplied text in the message is already escaped.
        error: ErrorReply,
        /// Rejections held back by the rate limit since the previous `Rejected` event.
        suppressed: u64,
    },
    /// A run started (all senders joined).
    RunStarted {
        /// Run name (validated: `[A-Za-z0-9._-]`, or made up by the server).
        run_id: String,
        /// Data port.
        data_port: u16,
        /// The senders' control addresses.
        peers: Vec<SocketAddr>,
    },
    /// A run ended (successfully or not); the record is what the report file holds.
    RunFinished(Box<RunRecord>),
    /// A sender agent started a flood.
    FloodStarted {
        /// The controller's address.
        peer: SocketAddr,
        /// Where the datagrams go.
        target: SocketAddr,
        /// Requested rate, datagrams/s.
        rate_pps: u64,
        /// Requested duration, ms.
        duration_ms: u64,
    },
    /// A sender agent's flood ended.
    FloodFinished {
        /// The controller's address.
        peer: SocketAddr,
        /// Datagrams sent.
        sent: u64,
        /// Failed send calls.
        send_errors: u64,
        /// Stopped before its duration (controller left or aborted).
        stopped_early: bool,
    },
}

/// Average rate at which rejections are passed to the observer.
pub const REJECT_LOG_PER_SEC: f64 = 5.0;

/// Rejections passed to the observer at once before the rate limit applies.
pub const REJECT_LOG_BURST: u32 = 20;

/// Callback for [`ServerEvent`]s.
pub type Observer = Arc<dyn Fn(&ServerEvent) + Send + Sync>;

/// Calls the observer; a panicking observer (e.g. printing to a closed stdout) must not take
/// the run's bookkeeping down with it.
pub(super) fn notify(obs: &Observer, ev: &ServerEvent) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obs(ev)));
}
