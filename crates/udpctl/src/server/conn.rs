//! One control connection: allow-list, the first message within the handshake deadline, the
//! token (checked before anything else is decoded), decoding and validation; then the run.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::agent::agent_session;
use super::exec::RunExecutor;
use super::lifecycle::arm_or_join;
use super::reply::{decode_client_msg, frame_error_reply, reject};
use super::session::participate;
use super::shared::{Shared, lock};
use crate::auth::ct_eq;
use crate::frame::{self, DeadlineReader, FrameError, MAX_FRAME};
use crate::msg::{self, ClientMsg, ErrorCode, ErrorReply};
use crate::validate::validate;

pub(super) fn handle_conn<E: RunExecutor>(shared: &Shared<E>, stream: TcpStream, peer: SocketAddr) {
    let cfg = &shared.cfg;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(cfg.write_timeout));
    if !cfg.allow.allows(peer.ip()) {
        let e = ErrorReply::new(
            ErrorCode::Forbidden,
            format!("source address {} is not in the server's allow-list", peer.ip()),
        );
        return reject(shared, &stream, peer, e);
    }
    let deadline = Instant::now() + cfg.handshake_timeout;
    let payload = match frame::read_frame(&mut DeadlineReader::new(&stream, deadline), MAX_FRAME) {
        Ok(p) => p,
        Err(e) => {
            if matches!(e, FrameError::Timeout) {
                shared.counters.timed_out.fetch_add(1, Ordering::Relaxed);
            }
            match frame_error_reply(&e, "request", cfg.handshake_timeout) {
                Some(reply) => return reject(shared, &stream, peer, reply),
                None => return,
            }
        }
    };
    // Authenticate before decoding: only the top-level token is looked at, and a peer without
    // the right one hears a fixed answer that quotes nothing it sent.
    if let Some(expected) = &cfg.token {
        let given = msg::peek_token(&payload);
        if !given.is_some_and(|g| ct_eq(g.as_bytes(), expected.as_bytes())) {
            shared.counters.auth_failures.fetch_add(1, Ordering::Relaxed);
            let block = lock(&shared.sources).auth_failed(peer.ip(), Instant::now());
            let mut text = String::from("missing or wrong token");
            if let Some(block) = block {
                text.push_str(&format!(
                    "; after repeated failures, requests from {} are refused for {:.1} s",
                    peer.ip(),
                    block.as_secs_f64()
                ));
            }
            return reject(shared, &stream, peer, ErrorReply::new(ErrorCode::Unauthorized, text));
        }
        lock(&shared.sources).auth_ok(peer.ip());
    }
    let request = match decode_client_msg(&payload) {
        Ok(ClientMsg::Run { .. }) if shared.exec.floods() => {
            let e = ErrorReply::new(
                ErrorCode::Unexpected,
                "this control server is a sender agent: it sends floods, it does not receive runs",
            );
            return reject(shared, &stream, peer, e);
        }
        Ok(ClientMsg::Run { request, .. }) => request,
        Ok(first @ (ClientMsg::Hello { .. } | ClientMsg::Flood { .. })) => {
            return agent_session(shared, &stream, peer, first);
        }
        Ok(_) => {
            let e =
                ErrorReply::new(ErrorCode::Unexpected, "the first message must be a run request");
            return reject(shared, &stream, peer, e);
        }
        Err(e) => return reject(shared, &stream, peer, e),
    };
    if let Err(why) = validate(&request, &cfg.limits, &shared.methods) {
        return reject(shared, &stream, peer, ErrorReply::new(ErrorCode::Invalid, why));
    }
    let local_ip = match stream.local_addr() {
        Ok(a) => a.ip().to_canonical(),
        Err(_) => return,
    };
    let (run, index) = match arm_or_join(shared, request, peer, local_ip) {
        Ok(x) => x,
        Err(e) => return reject(shared, &stream, peer, e),
    };
    participate(shared, &stream, peer, local_ip, &run, index);
}
