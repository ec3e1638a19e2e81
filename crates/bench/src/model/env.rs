//! The machine a run measured, as data (read by `lab::env`).

use serde::{Deserialize, Serialize};

/// What the report says about the machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Env {
    /// `uname -r`.
    pub kernel: String,
    /// CPU model name.
    pub cpu_model: String,
    /// Online cores.
    pub cores: usize,
    /// Cores this process may run on.
    pub usable_cores: Vec<usize>,
    /// cpufreq scaling governor of cpu0, if exposed.
    pub governor: Option<String>,
    /// Hypervisor flag seen in /proc/cpuinfo (a VM).
    pub virtualized: bool,
    /// CPU vulnerability mitigations in force (one line each), if exposed.
    pub mitigations: Vec<String>,
    /// Git revision of the source tree, with `-dirty` when it had changes.
    pub git_revision: Option<String>,
    /// udprx version.
    pub version: String,
    /// Host name.
    pub hostname: Option<String>,
    /// Start of the run, UTC, RFC 3339.
    pub started_utc: String,
    /// Command line.
    pub command: Vec<String>,
}
