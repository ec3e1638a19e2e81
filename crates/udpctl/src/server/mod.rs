//! The control server: accepts run requests, drives a [`RunExecutor`], answers with results.
//!
//! Each connection gets its own thread (at most [`ServerConfig::max_connections`], and at most
//! [`ServerConfig::max_per_source`] from one source address; beyond that a connection is refused
//! at once with `too_many_connections`). Every read has a deadline, so a client that connects and
//! sends nothing is dropped after [`ServerConfig::handshake_timeout`] without holding anyone else
//! up.
//!
//! Authentication comes first: of the first message, only the frame header and the top-level
//! `token` are looked at before the token is checked (in constant time); a peer without the
//! right token gets a fixed `unauthorized` reply that echoes nothing it sent. Failed tokens slow
//! their source down ([`Backoff`](crate::sources::Backoff)): a blocked source is refused (`throttled`) before anything is
//! read. Peer-supplied text in replies and [`ServerEvent`]s is [escaped](crate::text::escape),
//! and rejections reach the observer at a bounded rate (the rest are counted).
//!
//! One run at a time: a request while a run is armed or running gets `busy`, unless it joins an
//! N:1 run (same `run_id` and identical parameters) that still waits for senders.
//!
//! The server never executes anything a client sends: a request only selects among the receive
//! set-ups the executor offers, within [`Limits`](crate::validate::Limits). It writes nothing but its own report file.
//!
//! The modules, from the listener down (each uses only those below it):
//! ```text
//! listener    serve / spawn / ServerHandle; the accept loop
//! limits      admission: global and per-source connection limits, throttled sources
//! conn        one connection: allow-list, handshake deadline, token, decode, validate
//! session     one sender in a run: wait for the others, ready, done, result
//! agent       one controller of a sender agent: hello, flood (stopped if the controller
//!             leaves), flood_result
//! lifecycle   one run at a time: arm or join, start, finish, record
//! reply       framed reads and replies, error replies, graceful close
//! log         rejections to the observer at a bounded rate
//! shared      what the connection threads share (settings, run slot, counts)
//! run_state   the state of one run
//! stats       ServerStats and the counters behind it
//! config      ServerConfig
//! events      ServerEvent, Observer
//! record      RunRecord and the report file
//! exec        RunExecutor / RunHandle: what actually receives
//! ```

mod agent;
mod config;
mod conn;
mod events;
mod exec;
mod lifecycle;
mod limits;
mod listener;
mod log;
mod record;
mod reply;
mod run_state;
mod session;
mod shared;
mod stats;

pub use config::ServerConfig;
pub use events::{Observer, REJECT_LOG_BURST, REJECT_LOG_PER_SEC, ServerEvent};
pub use exec::{ExecError, RunExecutor, RunHandle};
pub use listener::{ServerHandle, serve, spawn};
pub use record::{RunRecord, write_report};
pub use stats::ServerStats;
