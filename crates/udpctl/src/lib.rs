//! udpctl: the control channel between `udpflood` (client) and `udprx serve` (server).
//!
//! One command on the sender ends with the whole picture: the sender asks the receiver for a
//! run, floods once the receiver is ready, reports what it sent, and gets the receiver's report
//! back, from which it prints one [`CombinedReport`].
//!
//! The exchange (see [`msg`] for the message list):
//! ```text
//! client                               server
//!   run {token, request}  ───────────▶  allow-list, token, validate, bind data socket(s)
//!                                        (N:1: wait until `senders` clients joined the run_id)
//!                         ◀───────────  ready {data_port, flow_base, ...}   | error {code}
//!   ... flood the data port ...
//!   done {sender report}  ───────────▶  (last sender in) drain, stop, collect the report
//!                         ◀───────────  result {receiver report, all sender reports}
//! ```
//! Framing ([`frame`]): 4-byte big-endian length, then a JSON object carrying `"v"` (the
//! protocol version) and `"type"`. The server reads at most [`MAX_FRAME`] (64 KiB) per message,
//! has a deadline on every read, serves one run at a time (`busy` otherwise), checks an
//! allow-list of source prefixes, limits connections per source, checks the optional token (in
//! constant time) before decoding anything else, slows down sources that fail it, escapes every
//! peer-supplied string it logs ([`text`]), and never executes anything. The receive itself is behind [`RunExecutor`], so the server is tested with a fake.
//!
//! Cargo feature `testing` (off by default) adds `testing`: a fake control server for tests of
//! clients against a malicious or broken server.
#![deny(missing_docs)]

pub mod auth;
pub mod client;
pub mod clock;
pub mod frame;
pub mod msg;
pub mod report;
pub mod server;
pub mod sources;
#[cfg(feature = "testing")]
pub mod testing;
pub use udpprobe::text;
pub mod validate;

pub use auth::{AllowList, IpNet, ct_eq};
pub use client::{AgentClient, ClientConfig, ClientError, RemoteRun, Session, run_remote};
pub use clock::{ClockSample, OffsetEstimate, estimate_offset};
pub use frame::{MAX_FRAME, MAX_REPLY_FRAME};
pub use msg::{
    AgentHello, ClientMsg, ErrorCode, ErrorReply, FloodLimitsMsg, FloodRequest, FloodResult,
    LatencySummary, PROTOCOL_VERSION, Ready, ReceiverReport, ReceiverSummary, RunRequest,
    RunResult, SenderReport, SenderSummary, ServerMsg,
};
pub use report::CombinedReport;
pub use server::{
    ExecError, RunExecutor, RunHandle, RunRecord, ServerConfig, ServerEvent, ServerHandle,
    ServerStats, serve, spawn,
};
pub use sources::Backoff;
pub use validate::{FloodLimits, Limits};
