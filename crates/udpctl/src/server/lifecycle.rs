//! One run at a time: arming a run (or joining an N:1 run), starting it once every sender has
//! joined, finishing it when the last one is done, and recording the outcome.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::events::{ServerEvent, notify};
use super::exec::{ExecError, RunExecutor};
use super::record::{RunRecord, write_report};
use super::run_state::{Phase, Run, RunState, record_locked};
use super::shared::{Shared, lock};
use crate::msg::{ErrorCode, ErrorReply, RunRequest, SenderReport};

/// Arms a new run, or joins the armed N:1 run with the same id and parameters.
pub(super) fn arm_or_join<E: RunExecutor>(
    shared: &Shared<E>,
    req: RunRequest,
    peer: SocketAddr,
    local_ip: IpAddr,
) -> Result<(Arc<Run>, u32), ErrorReply> {
    let mut slot = lock(&shared.slot);
    if let Some(run) = slot.as_ref() {
        let mut st = lock(&run.state);
        let joinable = st.phase == Phase::Joining
            && run.req.run_id.is_some()
            && run.req == req
            && st.joined < run.req.senders;
        if !joinable {
            let detail = match st.phase {
                Phase::Joining => format!(
                    "run '{}' is waiting for its senders ({} of {} joined); a sender joins it only \
                     with the same run_id and identical parameters",
                    run.id, st.joined, run.req.senders
                ),
                _ => format!("run '{}' is in progress", run.id),
            };
            return Err(ErrorReply::new(ErrorCode::Busy, format!("busy: {detail}; try later")));
        }
        let index = st.joined;
        st.joined += 1;
        st.peers.push(peer);
        if st.joined == run.req.senders {
            start_locked(shared, run, &mut st);
        }
        return Ok((Arc::clone(run), index));
    }
    let handle = shared.exec.prepare(&req, local_ip).map_err(|e| {
        ErrorReply::new(ErrorCode::RunFailed, format!("receive set-up failed: {e}"))
    })?;
    let id = req.run_id.clone().unwrap_or_else(|| {
        let n = shared.run_seq.fetch_add(1, Ordering::Relaxed);
        format!("run-{}-{n}", std::process::id())
    });
    let run = Arc::new(Run {
        id,
        data_port: handle.data_port(),
        join_deadline: Instant::now() + shared.cfg.join_timeout,
        state: Mutex::new(RunState {
            phase: Phase::Joining,
            joined: 1,
            outstanding: 0,
            handle: Some(handle),
            peers: vec![peer],
            sender_reports: vec![None; req.senders as usize],
            receiver: None,
            error: None,
        }),
        cv: Condvar::new(),
        req,
    });
    {
        let mut st = lock(&run.state);
        if run.req.senders == 1 {
            start_locked(shared, &run, &mut st);
        }
        if st.phase == Phase::Failed {
            return Err(st.error.clone().unwrap_or_else(|| {
                ErrorReply::new(ErrorCode::RunFailed, "receive run failed to start")
            }));
        }
    }
    *slot = Some(Arc::clone(&run));
    Ok((run, 0))
}

/// All senders joined: begin measuring. Called with the slot and run locks held.
pub(super) fn start_locked<E>(shared: &Shared<E>, run: &Run, st: &mut RunState) {
    let began = match st.handle.as_mut() {
        Some(h) => h.begin(),
        None => Err(ExecError("no receive handle".into())),
    };
    match began {
        Ok(()) => {
            st.phase = Phase::Running;
            st.outstanding = st.joined;
        }
        Err(e) => {
            st.phase = Phase::Failed;
            st.handle = None;
            st.error = Some(ErrorReply::new(
                ErrorCode::RunFailed,
                format!("receive run failed to start: {e}"),
            ));
            shared.counters.runs_failed.fetch_add(1, Ordering::Relaxed);
        }
    }
    run.cv.notify_all();
}

pub(super) fn clear_slot<E>(shared: &Shared<E>, run: &Arc<Run>) {
    let mut slot = lock(&shared.slot);
    if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, run)) {
        *slot = None;
    }
}

/// A sender is done (or gone). The last one finishes the run.
pub(super) fn depart<E>(shared: &Shared<E>, run: &Arc<Run>) {
    let mut st = lock(&run.state);
    st.outstanding = st.outstanding.saturating_sub(1);
    if st.outstanding > 0 || st.phase != Phase::Running {
        return;
    }
    st.phase = Phase::Finishing;
    let handle = st.handle.take();
    let senders: Vec<SenderReport> = st.sender_reports.iter().flatten().cloned().collect();
    drop(st);
    let outcome = match handle {
        Some(h) => h.finish(shared.cfg.drain, &senders),
        None => Err(ExecError("no receive handle".into())),
    };
    // Record first (report file, observer), then wake the senders: a client that has its
    // result can rely on the server's report file being written.
    let mut st = lock(&run.state);
    let done = match outcome {
        Ok(report) => {
            st.receiver = Some(report);
            shared.counters.runs_completed.fetch_add(1, Ordering::Relaxed);
            Phase::Done
        }
        Err(e) => {
            st.error =
                Some(ErrorReply::new(ErrorCode::RunFailed, format!("receive run failed: {e}")));
            shared.counters.runs_failed.fetch_add(1, Ordering::Relaxed);
            Phase::Failed
        }
    };
    let record = record_locked(run, &st);
    drop(st);
    finish_record(shared, record);
    let mut st = lock(&run.state);
    st.phase = done;
    run.cv.notify_all();
    drop(st);
    clear_slot(shared, run);
}

pub(super) fn finish_record<E>(shared: &Shared<E>, record: RunRecord) {
    if let Some(path) = &shared.cfg.report_path
        && let Err(e) = write_report(path, &record)
    {
        eprintln!("udpctl: cannot write report {}: {e}", path.display());
    }
    if let Some(obs) = &shared.cfg.observer {
        notify(obs, &ServerEvent::RunFinished(Box::new(record)));
    }
}
