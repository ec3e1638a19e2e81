//! One sender's life in a run, on its connection: wait for the others, `ready`, `done`, `result`.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::events::{ServerEvent, notify};
use super::exec::RunExecutor;
use super::lifecycle::{clear_slot, depart, finish_record};
use super::reply::{
    ReadFailure, close_gracefully, frame_error_reply, read_client_msg, reject, send,
};
use super::run_state::{Phase, Run, record_locked};
use super::shared::{Shared, lock};
use crate::frame::{self, FrameError, MAX_REPLY_FRAME};
use crate::msg::{self, ClientMsg, ErrorCode, ErrorReply, Ready, RunResult, ServerMsg};

/// One sender's life in a run: wait for the others, `ready`, `done`, `result`.
pub(super) fn participate<E: RunExecutor>(
    shared: &Shared<E>,
    stream: &TcpStream,
    peer: SocketAddr,
    local_ip: IpAddr,
    run: &Arc<Run>,
    index: u32,
) {
    let cfg = &shared.cfg;
    // 1. Wait until every sender has joined (or the join deadline passes).
    {
        let mut st = lock(&run.state);
        loop {
            match st.phase {
                Phase::Joining => {}
                Phase::Failed => {
                    let e = st
                        .error
                        .clone()
                        .unwrap_or_else(|| ErrorReply::new(ErrorCode::RunFailed, "the run failed"));
                    drop(st);
                    clear_slot(shared, run);
                    return reject(shared, stream, peer, e);
                }
                _ => break,
            }
            let now = Instant::now();
            if now >= run.join_deadline {
                let e = ErrorReply::new(
                    ErrorCode::JoinTimeout,
                    format!(
                        "only {} of {} senders joined run '{}' within {:.0} s",
                        st.joined,
                        run.req.senders,
                        run.id,
                        cfg.join_timeout.as_secs_f64()
                    ),
                );
                st.phase = Phase::Failed;
                st.handle = None;
                st.error = Some(e.clone());
                shared.counters.runs_failed.fetch_add(1, Ordering::Relaxed);
                run.cv.notify_all();
                let record = record_locked(run, &st);
                drop(st);
                finish_record(shared, record);
                clear_slot(shared, run);
                return reject(shared, stream, peer, e);
            }
            st = run
                .cv
                .wait_timeout(st, run.join_deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
    // 2. Go. The sender that completed the run announces it (outside the locks: an observer
    // may block on its output).
    if index + 1 == run.req.senders
        && let Some(obs) = &cfg.observer
    {
        let peers = lock(&run.state).peers.clone();
        let ev =
            ServerEvent::RunStarted { run_id: run.id.clone(), data_port: run.data_port, peers };
        notify(obs, &ev);
    }
    let flow_base = index * run.req.flows;
    let ready = Ready {
        run_id: run.id.clone(),
        data_port: run.data_port,
        senders: run.req.senders,
        sender_index: index,
        flow_base,
        same_host: same_host(peer.ip(), local_ip),
    };
    let started = Instant::now();
    let mut reply_error = None;
    if send(stream, &ServerMsg::Ready(ready)).is_err() {
        depart(shared, run);
        return;
    }
    // 3. The sender floods, then reports.
    let done_deadline = started + Duration::from_millis(run.req.duration_ms) + cfg.result_margin;
    match read_client_msg(stream, done_deadline) {
        Ok(ClientMsg::Done { sender }) => {
            let mut st = lock(&run.state);
            if let Some(slot) = st.sender_reports.get_mut(index as usize) {
                *slot = Some(sender);
            }
        }
        Ok(ClientMsg::Abort { .. }) => {}
        Ok(ClientMsg::Run { .. } | ClientMsg::Hello { .. } | ClientMsg::Flood { .. }) => {
            reply_error = Some(ErrorReply::new(ErrorCode::Unexpected, "expected done or abort"));
        }
        Err(ReadFailure::Reply(e)) => reply_error = Some(e),
        Err(ReadFailure::Frame(e)) => {
            if matches!(e, FrameError::Timeout) {
                shared.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            let budget = Duration::from_millis(run.req.duration_ms) + cfg.result_margin;
            reply_error = frame_error_reply(&e, "done report", budget);
            if reply_error.is_none() {
                depart(shared, run);
                return;
            }
        }
    }
    depart(shared, run);
    if let Some(e) = reply_error {
        return reject(shared, stream, peer, e);
    }
    // 4. Wait for the run's result and hand it over.
    let result_deadline = Instant::now()
        + Duration::from_millis(run.req.duration_ms)
        + cfg.result_margin
        + cfg.drain
        + Duration::from_secs(30);
    let mut st = lock(&run.state);
    loop {
        match st.phase {
            Phase::Done => {
                let result = RunResult {
                    run_id: run.id.clone(),
                    senders: st.joined,
                    receiver: st.receiver.clone().expect("Done implies a receiver report"),
                    sender_reports: st.sender_reports.iter().flatten().cloned().collect(),
                };
                drop(st);
                let _ = send(stream, &ServerMsg::Result(fit_reply(result)));
                close_gracefully(stream);
                return;
            }
            Phase::Failed => {
                let e = st
                    .error
                    .clone()
                    .unwrap_or_else(|| ErrorReply::new(ErrorCode::RunFailed, "the run failed"));
                drop(st);
                return reject(shared, stream, peer, e);
            }
            _ => {}
        }
        let now = Instant::now();
        if now >= result_deadline {
            drop(st);
            let e = ErrorReply::new(ErrorCode::RunFailed, "the receiver did not produce a report");
            return reject(shared, stream, peer, e);
        }
        st = run.cv.wait_timeout(st, result_deadline - now).unwrap_or_else(|e| e.into_inner()).0;
    }
}

/// Keeps a result within what clients read ([`MAX_REPLY_FRAME`]): if the full reports do not
/// fit, their `detail` is replaced by a note (the summaries, which the combined report reads,
/// always stay; the server's own report file keeps everything).
fn fit_reply(mut result: RunResult) -> RunResult {
    if msg::encode(&ServerMsg::Result(result.clone())).len() + frame::LEN_PREFIX <= MAX_REPLY_FRAME
    {
        return result;
    }
    let note = serde_json::json!({
        "omitted": "the full report exceeded the reply limit; see the server's --json file"
    });
    result.receiver.detail = note.clone();
    for s in &mut result.sender_reports {
        s.detail = note.clone();
    }
    result
}

/// Whether the peer connected from the server's own host (the `same_host` of [`Ready`]).
fn same_host(peer: IpAddr, local: IpAddr) -> bool {
    let (peer, local) = (peer.to_canonical(), local.to_canonical());
    peer == local || (peer.is_loopback() && local.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::{ReceiverReport, ReceiverSummary, SenderReport, SenderSummary};
    use udpprobe::Clock;

    #[test]
    fn oversized_results_keep_their_summaries() {
        let summary = ReceiverSummary {
            datagrams: 1,
            received: 1,
            bytes: 18,
            foreign: 0,
            truncated: 0,
            seq_lost: 0,
            reordered: 0,
            duplicates: 0,
            kernel_drops: 0,
            elapsed_ns: 1,
            clock: Clock::Monotonic,
            latency: None,
            clock_skew: 0,
        };
        let sender = SenderReport {
            summary: SenderSummary {
                sent: 1,
                bytes: 18,
                send_errors: 0,
                elapsed_ns: 1,
                flows: 1,
                flow_base: 0,
                clock: Clock::Monotonic,
            },
            detail: serde_json::json!({ "small": true }),
        };
        let small = RunResult {
            run_id: "r".into(),
            senders: 1,
            receiver: ReceiverReport { summary, detail: serde_json::json!({ "x": 1 }) },
            sender_reports: vec![sender],
        };
        assert_eq!(fit_reply(small.clone()), small);
        let mut big = small.clone();
        big.receiver.detail = serde_json::Value::String("x".repeat(MAX_REPLY_FRAME));
        let fitted = fit_reply(big);
        assert_eq!(fitted.receiver.summary, small.receiver.summary);
        assert!(fitted.receiver.detail["omitted"].is_string());
        assert!(msg::encode(&ServerMsg::Result(fitted)).len() < MAX_REPLY_FRAME);
    }
}
