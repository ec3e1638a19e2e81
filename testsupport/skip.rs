//! Visible test skips, shared by every test crate of the workspace (each includes this file with
//! `#[path]`: `tests/common/mod.rs` of udprx, udpctl and udpflood, and udprx's unit tests).
//!
//! A test that cannot run here (no root, no namespaces, no io_uring, no IPv6, a missing tool)
//! calls [`skip`] (or [`skip_part`] when only part of it cannot run) and returns. The call
//! prints `SKIP <test>: <reason> [<need>]` to stderr (shown by `cargo test -- --nocapture`) and, when
//! `UDPRX_SKIP_LOG` names a file, appends one tab-separated line to it:
//! `SKIP <need> <test binary> <test name> <reason>`. `scripts/test.sh` sets that variable,
//! counts every passed test with such a line as skipped (not passed), lists them, and under
//! `CI=true` fails when any skipped for [`Need::Root`] or [`Need::Setup`].
//!
//! `UDPRX_TEST_NOT_ROOT=1` makes [`is_root`] false, so the non-root path runs as root.
#![allow(dead_code)]

use std::io::Write;

/// What a skipping test lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Root or network namespaces: CI (root) must never skip for this.
    Root,
    /// A program or build product that `scripts/setup.sh` or `cargo test --workspace`
    /// provides: CI must never skip for this either.
    Setup,
    /// A kernel or host feature (io_uring, IPv6, a second CPU): allowed to be missing.
    Feature,
}

impl Need {
    /// The word in the skip log.
    pub fn name(self) -> &'static str {
        match self {
            Need::Root => "root",
            Need::Setup => "setup",
            Need::Feature => "feature",
        }
    }
}

/// True when the test process has effective uid 0 and `UDPRX_TEST_NOT_ROOT` is not set.
pub fn is_root() -> bool {
    if std::env::var_os("UDPRX_TEST_NOT_ROOT").is_some() {
        return false;
    }
    // The second field of `Uid:` is the effective uid.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .is_some_and(|euid| euid == "0")
    })
}

/// True as root; otherwise records that the running test skips because `what` needs root.
pub fn root_or_skip(what: &str) -> bool {
    if is_root() {
        return true;
    }
    skip(Need::Root, &format!("{what} needs root"));
    false
}

/// Records that the running test skips entirely, and why. The caller returns next.
pub fn skip(need: Need, reason: &str) {
    record(need, None, reason);
}

/// Records that the running test skips `part` of itself (e.g. the io_uring method) and why;
/// the test counts as skipped, not passed.
pub fn skip_part(need: Need, part: &str, reason: &str) {
    record(need, Some(part), reason);
}

fn record(need: Need, part: Option<&str>, reason: &str) {
    let thread = std::thread::current();
    // libtest runs each test in a thread named after it.
    let test = thread.name().unwrap_or("unknown").to_string();
    let reason = match part {
        Some(p) => format!("{p}: {reason}"),
        None => reason.to_string(),
    };
    let reason: String = reason.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    eprintln!("SKIP {test}: {reason} [{}]", need.name());
    let Some(path) = std::env::var_os("UDPRX_SKIP_LOG") else { return };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into());
    let line = format!("SKIP\t{}\t{binary}\t{test}\t{reason}\n", need.name());
    // One append of a short line: concurrent tests never interleave within it.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!("SKIP log {}: {e}", std::path::Path::new(&path).display());
    }
}
