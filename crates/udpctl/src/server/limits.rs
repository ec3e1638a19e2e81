//! Connection limits: at most [`ServerConfig::max_connections`](super::ServerConfig) in all and
//! [`ServerConfig::max_per_source`](super::ServerConfig) from one source, and sources blocked
//! after failed tokens are refused before anything is read.

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::shared::{Shared, lock};
use crate::msg::{ErrorCode, ErrorReply};
use crate::sources::Admit;

/// Releases a connection's global and per-source slots when its thread ends.
pub(super) struct OpenGuard<'a, E> {
    pub(super) shared: &'a Shared<E>,
    pub(super) ip: IpAddr,
}

impl<E> Drop for OpenGuard<'_, E> {
    fn drop(&mut self) {
        release(self.shared, self.ip);
    }
}

/// Admits a new connection from `ip`: per source first (a blocked source is refused before
/// anything is read), then the global limit. `Ok`: the connection holds a global and a
/// per-source slot, which [`release`] (or an [`OpenGuard`]) gives back. `Err`: the refusal to
/// send, already counted.
pub(super) fn admit<E>(shared: &Shared<E>, ip: IpAddr) -> Result<(), ErrorReply> {
    let admitted = lock(&shared.sources).admit(ip, Instant::now());
    let refusal = match admitted {
        Admit::Yes => None,
        Admit::Throttled(left) => {
            shared.counters.throttled.fetch_add(1, Ordering::Relaxed);
            Some(ErrorReply::new(
                ErrorCode::Throttled,
                format!(
                    "too many failed tokens from {ip}; refused for another {:.1} s",
                    left.as_secs_f64()
                ),
            ))
        }
        Admit::PerSource => Some(ErrorReply::new(
            ErrorCode::TooManyConnections,
            format!(
                "{ip} already has {} control connections open; try again later",
                shared.cfg.max_per_source
            ),
        )),
        Admit::TableFull => Some(too_many(shared.cfg.max_connections)),
    };
    let refusal = refusal.or_else(|| {
        let open = shared.open.fetch_add(1, Ordering::SeqCst);
        if open < shared.cfg.max_connections {
            return None;
        }
        shared.open.fetch_sub(1, Ordering::SeqCst);
        lock(&shared.sources).release(ip);
        Some(too_many(shared.cfg.max_connections))
    });
    match refusal {
        None => Ok(()),
        Some(reply) => {
            if reply.code == ErrorCode::TooManyConnections {
                shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(reply)
        }
    }
}

/// Gives back the global and per-source slots of an admitted connection.
pub(super) fn release<E>(shared: &Shared<E>, ip: IpAddr) {
    lock(&shared.sources).release(ip);
    shared.open.fetch_sub(1, Ordering::SeqCst);
}

fn too_many(max: usize) -> ErrorReply {
    ErrorReply::new(
        ErrorCode::TooManyConnections,
        format!("the server already has {max} control connections open; try again later"),
    )
}
