//! One controller of a sender agent, on its connection: `hello` (capabilities and a clock
//! sample), `flood` (validated, one at a time, stopped when the controller leaves), in turn until
//! the controller closes or stays idle past [`ServerConfig::agent_idle_timeout`](super::ServerConfig).

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::events::{ServerEvent, notify};
use super::exec::RunExecutor;
use super::reply::{ReadFailure, frame_error_reply, read_client_msg, reject, send};
use super::shared::{Shared, lock};
use crate::msg::ServerMsg;
use crate::msg::{AgentHello, ClientMsg, ErrorCode, ErrorReply, FloodRequest, FloodResult};
use crate::validate::validate_flood;

/// How often a running flood checks that its controller is still connected: the flood stops
/// within this plus the executor's own reaction time (well under 1 s) after the controller left.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Serves an authenticated agent connection whose first message was `first`.
pub(super) fn agent_session<E: RunExecutor>(
    shared: &Shared<E>,
    stream: &TcpStream,
    peer: SocketAddr,
    first: ClientMsg,
) {
    let cfg = &shared.cfg;
    if !shared.exec.floods() {
        let e = ErrorReply::new(
            ErrorCode::Unexpected,
            "this control server receives runs; hello and flood are for a sender agent \
             (udpflood agent)",
        );
        return reject(shared, stream, peer, e);
    }
    let mut next = Some(first);
    loop {
        let msg = match next.take() {
            Some(m) => m,
            None => match read_client_msg(stream, Instant::now() + cfg.agent_idle_timeout) {
                Ok(m) => m,
                Err(ReadFailure::Frame(e)) => {
                    if let Some(r) = frame_error_reply(&e, "message", cfg.agent_idle_timeout) {
                        reject(shared, stream, peer, r);
                    }
                    return;
                }
                Err(ReadFailure::Reply(e)) => return reject(shared, stream, peer, e),
            },
        };
        match msg {
            ClientMsg::Hello { clock, t1_ns, .. } => {
                let t2_ns = udpprobe::now_ns(clock);
                let mut hello = AgentHello {
                    agent: format!("udpflood {}", env!("CARGO_PKG_VERSION")),
                    capabilities: vec!["flood".into()],
                    limits: cfg.flood_limits.to_msg(),
                    clock,
                    t1_ns,
                    t2_ns,
                    t3_ns: 0,
                    controller_ip: peer.ip().to_canonical(),
                };
                hello.t3_ns = udpprobe::now_ns(clock);
                if send(stream, &ServerMsg::Hello(hello)).is_err() {
                    return;
                }
            }
            ClientMsg::Flood { request, .. } => match run_flood(shared, stream, peer, &request) {
                Ok(Some(result)) => {
                    if send(stream, &ServerMsg::FloodResult(result)).is_err() {
                        return;
                    }
                }
                // The controller is gone: nobody to answer.
                Ok(None) => return,
                Err(e) => return reject(shared, stream, peer, e),
            },
            // Nothing runs between floods: an abort has nothing to stop.
            ClientMsg::Abort { .. } => {}
            ClientMsg::Run { .. } | ClientMsg::Done { .. } => {
                let e = ErrorReply::new(
                    ErrorCode::Unexpected,
                    "a sender agent answers hello and flood only",
                );
                return reject(shared, stream, peer, e);
            }
        }
    }
}

/// Clears the agent's flood slot when the flood ends, however it ends.
struct FloodSlot<'a, E> {
    shared: &'a Shared<E>,
}

impl<E> Drop for FloodSlot<'_, E> {
    fn drop(&mut self) {
        *lock(&self.shared.flooding) = None;
    }
}

/// Validates, takes the one flood slot, runs the flood while watching the connection, and
/// returns its result (`None`: the controller left, the flood was stopped).
fn run_flood<E: RunExecutor>(
    shared: &Shared<E>,
    stream: &TcpStream,
    peer: SocketAddr,
    req: &FloodRequest,
) -> Result<Option<FloodResult>, ErrorReply> {
    let target = validate_flood(req, &shared.cfg.flood_limits, peer.ip())
        .map_err(|why| ErrorReply::new(ErrorCode::Invalid, why))?;
    {
        let mut slot = lock(&shared.flooding);
        if let Some(other) = *slot {
            return Err(ErrorReply::new(
                ErrorCode::Busy,
                format!(
                    "busy: this agent is flooding for controller {}; one flood at a time, try later",
                    other.ip()
                ),
            ));
        }
        *slot = Some(peer);
    }
    let _slot = FloodSlot { shared };
    if let Some(obs) = &shared.cfg.observer {
        let ev = ServerEvent::FloodStarted {
            peer,
            target,
            rate_pps: req.rate_pps,
            duration_ms: req.duration_ms,
        };
        notify(obs, &ev);
    }
    let stop = AtomicBool::new(false);
    let mut gone = false;
    let outcome = thread::scope(|s| {
        let flood = s.spawn(|| shared.exec.flood(req, target, &stop));
        while !flood.is_finished() {
            match watch(stream) {
                Watch::Quiet => {}
                Watch::Gone => {
                    gone = true;
                    stop.store(true, Ordering::SeqCst);
                    break;
                }
                Watch::Message => {
                    // An abort (or anything else: a controller that talks during a flood has
                    // given up on it). Read it so the connection stays in step.
                    let deadline = Instant::now() + Duration::from_secs(1);
                    if !matches!(read_client_msg(stream, deadline), Ok(ClientMsg::Abort { .. })) {
                        gone = true;
                    }
                    stop.store(true, Ordering::SeqCst);
                    break;
                }
            }
        }
        flood.join()
    });
    let result = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            return Err(ErrorReply::new(ErrorCode::RunFailed, format!("flood failed: {e}")));
        }
        Err(_) => return Err(ErrorReply::new(ErrorCode::RunFailed, "flood failed: it panicked")),
    };
    if let Some(obs) = &shared.cfg.observer {
        let ev = ServerEvent::FloodFinished {
            peer,
            sent: result.sent,
            send_errors: result.send_errors,
            stopped_early: result.stopped_early,
        };
        notify(obs, &ev);
    }
    Ok(if gone { None } else { Some(result) })
}

enum Watch {
    /// Nothing happened within [`WATCH_INTERVAL`].
    Quiet,
    /// The controller closed the connection (or it failed).
    Gone,
    /// The controller sent something.
    Message,
}

fn watch(stream: &TcpStream) -> Watch {
    if stream.set_read_timeout(Some(WATCH_INTERVAL)).is_err() {
        return Watch::Gone;
    }
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Ok(0) => Watch::Gone,
        Ok(_) => Watch::Message,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Watch::Quiet,
        Err(e) if e.kind() == ErrorKind::Interrupted => Watch::Quiet,
        Err(_) => Watch::Gone,
    }
}
