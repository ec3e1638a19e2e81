//! Reading and answering on a control connection: framed sends, reads with a deadline, error
//! replies (escaped, logged) and a graceful close.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::log::log_rejection;
use super::shared::Shared;
use crate::frame::{self, DeadlineReader, FrameError, MAX_FRAME};
use crate::msg::{self, ClientMsg, ErrorCode, ErrorReply, ServerMsg};
use crate::text::{LOG_LIMIT, escape_limited};

/// Best-effort refusal without blocking the accept loop: one non-blocking write, then close.
pub(super) fn refuse_now(stream: TcpStream, reply: &ErrorReply) {
    let reply = ServerMsg::Error(reply.clone());
    if stream.set_nonblocking(true).is_ok()
        && let Some(frame) = frame::encode_frame(&msg::encode(&reply))
    {
        let mut s = &stream;
        let _ = s.write(&frame);
    }
    let _ = stream.shutdown(Shutdown::Write);
}

pub(super) fn send(stream: &TcpStream, msg: &ServerMsg) -> io::Result<()> {
    let mut s = stream;
    frame::write_frame(&mut s, &msg::encode(msg))
}

/// Answers with an error, then closes gracefully: half-close, and drain what the peer still sends
/// (bounded) so the kernel does not reset the connection before the reply is read.
pub(super) fn reject<E>(
    shared: &Shared<E>,
    stream: &TcpStream,
    peer: SocketAddr,
    error: ErrorReply,
) {
    shared.counters.rejected.fetch_add(1, Ordering::Relaxed);
    log_rejection(shared, peer, &error);
    let _ = send(stream, &ServerMsg::Error(error));
    close_gracefully(stream);
}

pub(super) fn close_gracefully(stream: &TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 4096];
    let mut left = MAX_FRAME;
    let mut r = DeadlineReader::new(stream, deadline);
    while left > 0 {
        match r.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

pub(super) fn frame_error_reply(
    e: &FrameError,
    what: &str,
    timeout: Duration,
) -> Option<ErrorReply> {
    Some(match e {
        FrameError::Closed | FrameError::Io(_) => return None,
        FrameError::Timeout => ErrorReply::new(
            ErrorCode::Timeout,
            format!("no complete {what} within {:.1} s", timeout.as_secs_f64()),
        ),
        FrameError::TooLarge { .. } => ErrorReply::new(ErrorCode::TooLarge, e.to_string()),
        FrameError::Truncated { .. } | FrameError::Empty => {
            ErrorReply::new(ErrorCode::BadFrame, e.to_string())
        }
    })
}

pub(super) fn read_client_msg(
    stream: &TcpStream,
    deadline: Instant,
) -> Result<ClientMsg, ReadFailure> {
    let payload = frame::read_frame(&mut DeadlineReader::new(stream, deadline), MAX_FRAME)
        .map_err(ReadFailure::Frame)?;
    decode_client_msg(&payload).map_err(ReadFailure::Reply)
}

/// Decodes a message of an authenticated (or token-less) peer; the error's text quotes bits of
/// the input, so it is escaped and shortened.
pub(super) fn decode_client_msg(payload: &[u8]) -> Result<ClientMsg, ErrorReply> {
    msg::decode::<ClientMsg>(payload)
        .map_err(|e| ErrorReply::new(e.code(), escape_limited(&e.to_string(), LOG_LIMIT)))
}

pub(super) enum ReadFailure {
    Frame(FrameError),
    Reply(ErrorReply),
}
