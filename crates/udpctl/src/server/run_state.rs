//! The state of one run (armed, joining, running, finishing, done or failed), shared by the
//! connections of its senders.

use std::net::SocketAddr;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use super::exec::RunHandle;
use super::record::RunRecord;
use crate::msg::{ErrorReply, PROTOCOL_VERSION, ReceiverReport, RunRequest, SenderReport};

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Joining,
    Running,
    Finishing,
    Done,
    Failed,
}

/// A run's mutable state (under [`Run::state`]).
pub(super) struct RunState {
    pub(super) phase: Phase,
    pub(super) joined: u32,
    /// Joined senders that have not yet sent `done` (or vanished) since the run started.
    pub(super) outstanding: u32,
    pub(super) handle: Option<Box<dyn RunHandle>>,
    pub(super) peers: Vec<SocketAddr>,
    pub(super) sender_reports: Vec<Option<SenderReport>>,
    pub(super) receiver: Option<ReceiverReport>,
    pub(super) error: Option<ErrorReply>,
}

/// One run: what is fixed once armed, and its state with a condition variable its senders wait on.
pub(super) struct Run {
    pub(super) id: String,
    pub(super) req: RunRequest,
    pub(super) data_port: u16,
    pub(super) join_deadline: Instant,
    pub(super) state: Mutex<RunState>,
    pub(super) cv: Condvar,
}

/// What the report file holds for `run` in state `st`.
pub(super) fn record_locked(run: &Run, st: &RunState) -> RunRecord {
    RunRecord {
        v: PROTOCOL_VERSION,
        run_id: run.id.clone(),
        request: run.req.clone(),
        data_port: run.data_port,
        peers: st.peers.iter().map(|p| p.to_string()).collect(),
        receiver: st.receiver.clone(),
        sender_reports: st.sender_reports.iter().flatten().cloned().collect(),
        error: st.error.as_ref().map(|e| format!("{}: {}", e.code, e.message)),
    }
}
