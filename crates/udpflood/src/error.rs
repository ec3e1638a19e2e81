//! The library's error type.

use std::io;
use std::net::SocketAddr;

/// Why a flood could not be configured or run.
///
/// [`Error::is_usage`] tells configuration mistakes (the command line exits 2) from runtime
/// failures (exit 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload cannot hold the probe header.
    #[error(
        "payload size {0} is too small: every datagram carries the {min}-byte probe header \
         (magic, version, flow, 48-bit sequence, send time), so the size must be at least {min}",
        min = udpprobe::HEADER_LEN
    )]
    PayloadTooSmall(usize),
    /// The payload does not fit in one UDP datagram.
    #[error("payload size {0} is too large: the largest UDP payload is {max} bytes", max = crate::MAX_PAYLOAD)]
    PayloadTooLarge(usize),
    /// `threads(0)`.
    #[error("threads must be at least 1")]
    ZeroThreads,
    /// The flow count is below the thread count or above 256 (the flow id is one byte).
    #[error("flows must be between the thread count ({threads}) and 256, got {flows}")]
    BadFlows {
        /// Requested flows.
        flows: usize,
        /// Requested threads.
        threads: usize,
    },
    /// The sendmmsg batch is zero or too large.
    #[error("batch must be between 1 and {max}, got {0}", max = crate::MAX_BATCH)]
    BadBatch(usize),
    /// `burst(Some(0))`.
    #[error("burst must be at least 1 packet")]
    ZeroBurst,
    /// A burst too large to mean anything: above [`crate::MAX_BURST`], or more datagrams than
    /// the whole run sends at its rate and duration.
    #[error("burst {burst} is refused: {reason}")]
    BadBurst {
        /// The requested burst.
        burst: usize,
        /// Why, with the largest burst that would be accepted.
        reason: String,
    },
    /// A live-report interval too short to print (or to compute a rate over).
    #[error(
        "interval must be 0 (no live reports) or at least {min:?}, got {0:?}",
        min = crate::MIN_INTERVAL
    )]
    BadInterval(std::time::Duration),
    /// `count(Some(0))`.
    #[error("count must be at least 1 datagram")]
    ZeroCount,
    /// `duration(Some(0))`.
    #[error("duration must be greater than zero")]
    ZeroDuration,
    /// The pin list is empty.
    #[error("the CPU list is empty")]
    EmptyCpuList,
    /// A CPU id that this process cannot run on.
    #[error("CPU {cpu} does not exist or is not usable by this process (usable: {usable})")]
    NoSuchCpu {
        /// The requested CPU id.
        cpu: usize,
        /// The CPUs this process may run on, as a list.
        usable: String,
    },
    /// Port 0 as destination.
    #[error("destination port 0 is not a valid destination: {0}")]
    ZeroPort(SocketAddr),
    /// A multicast, broadcast or unspecified destination without
    /// [`allow_non_unicast`](crate::config::FloodBuilder::allow_non_unicast).
    #[error(
        "destination {0} is not one host (multicast, broadcast or unspecified): a flood there \
         reaches every listener on the network; pass --allow-non-unicast if that is what you mean"
    )]
    NonUnicast(SocketAddr),
    /// Bind and destination addresses are of different families.
    #[error("bind address {bind} and destination {dest} are not of the same address family")]
    FamilyMismatch {
        /// The bind address.
        bind: SocketAddr,
        /// The destination.
        dest: SocketAddr,
    },
    /// A fixed bind port leaves no room for one port per flow.
    #[error("bind port {port} with {flows} flows needs ports up to {last}, above 65535")]
    BindPortRange {
        /// First port.
        port: u16,
        /// Number of flows.
        flows: usize,
        /// Last port needed.
        last: usize,
    },
    /// A value from the command line (or any string) that does not parse.
    #[error("invalid {what} '{value}': {reason}")]
    Parse {
        /// Which setting.
        what: &'static str,
        /// The text given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A socket could not be created, bound or connected.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A flow's sends kept failing with an error that is not a transient one.
    #[error("flow {flow}: giving up after {attempts} consecutive send errors, last: {source}")]
    SendFailed {
        /// The flow id.
        flow: u8,
        /// Consecutive failures.
        attempts: u32,
        /// The last OS error.
        #[source]
        source: io::Error,
    },
    /// A sender thread panicked (a bug).
    #[error("sender thread {0} panicked")]
    ThreadPanicked(usize),
}

impl Error {
    /// True for configuration mistakes (bad arguments), false for failures while running.
    pub fn is_usage(&self) -> bool {
        !matches!(self, Error::Io { .. } | Error::SendFailed { .. } | Error::ThreadPanicked(_))
    }
}
