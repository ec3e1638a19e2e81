//! Rejections reach the observer at a bounded rate; the rest are only counted.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::events::{ServerEvent, notify};
use super::shared::{Shared, lock};
use crate::msg::ErrorReply;
use crate::text::{LOG_LIMIT, escape_limited};

/// Tells the observer about a rejection, within the log rate limit.
pub(super) fn log_rejection<E>(shared: &Shared<E>, peer: SocketAddr, error: &ErrorReply) {
    let Some(obs) = &shared.cfg.observer else { return };
    let Some(suppressed) = lock(&shared.log).admit(Instant::now()) else {
        shared.counters.log_suppressed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let error = ErrorReply::new(error.code, escape_limited(&error.message, LOG_LIMIT));
    notify(obs, &ServerEvent::Rejected { peer, error, suppressed });
}
