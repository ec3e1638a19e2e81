//! The report of a run: one serializable value written as `report.json`, rendered as a terminal
//! table and as `report.md` with SVG charts.

use crate::model::curve::{CurveConfig, CurveRun};
use crate::model::env::Env;
use crate::model::plan::{Plan, Size};
use crate::model::settings::{InForce, Profile};
use crate::model::topology::{Kind, Veth};
use crate::model::verdict::PairVerdict;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Schema name and version of `report.json`. Each cell embeds the receiver's own report in the
/// shared udprx schema (`receiver_report`) and the sender's report (`sender_report`).
pub const SCHEMA: &str = "udprx-bench/3";

/// Older schemas the reader still loads: `udprx-bench/2` lacks only the run's drift
/// (`curves.drift`), which comparisons then report as unknown.
pub const SCHEMA_READABLE: [&str; 1] = ["udprx-bench/2"];

/// The topology as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyInfo {
    /// loopback or veth.
    pub kind: Kind,
    /// RPS on the receiver's veth (receive softirq on the receiver's cores); with `--sender`, whether the
    /// receive interface had RPS on any queue (the bench does not set it there).
    pub rps: bool,
    /// Namespaces and interfaces, for veth.
    pub veth: Option<Veth>,
    /// Receiver address.
    pub rx_addr: String,
    /// What this set-up measures (sender-bound or receiver-bound, and why).
    pub bound: String,
}

/// One setting (profile × sysctl values) as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingInfo {
    /// Name.
    pub name: String,
    /// What it sets.
    pub profile: Profile,
    /// Every recorded value in force while it ran.
    pub in_force: BTreeMap<String, InForce>,
    /// Things that could not be applied, and why.
    pub notes: Vec<String>,
}

/// Options of the run that shape the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Run size.
    pub size: Size,
    /// How the curves were measured.
    pub curve: CurveConfig,
    /// Reference receivers requested.
    pub peers: bool,
}

/// Everything a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// [`SCHEMA`].
    pub schema: String,
    /// The machine.
    pub env: Env,
    /// The topology.
    pub topology: TopologyInfo,
    /// Options.
    pub config: Config,
    /// The plan (rows, repetitions, cores).
    pub plan: Plan,
    /// Settings compared.
    pub settings: Vec<SettingInfo>,
    /// The offered-load curves, searches and derived figures.
    pub curves: CurveRun,
    /// Every pair of paths (and settings) compared on each headline figure.
    pub verdicts: Vec<PairVerdict>,
    /// The Answer: the run's conclusions in plain words.
    pub answer: Vec<String>,
    /// Best udprx path against the better reference receiver, per setting (with `--peers`).
    pub comparisons: Vec<PeerComparison>,
    /// Each udprx path against its bare C twin, per setting (with `--peers`; empty in reports
    /// written before the twins existed).
    #[serde(default)]
    pub twins: Vec<TwinOverhead>,
    /// The same figures against a saved run (`--baseline`).
    #[serde(default)]
    pub baseline: Option<BaselineComparison>,
    /// Notes for the reader (fallbacks, skipped peers, interruptions).
    pub notes: Vec<String>,
    /// Wall time of the whole run, seconds.
    pub wall_s: f64,
    /// Where each path's receive-core time went (`--profile`), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::model::profile::ProfileRun>,
    /// The fan-out sweep (`--fanout sweep`), when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout_sweep: Option<crate::model::sweep::FanoutSweep>,
}

/// The best udprx path of the classic flood against the better reference receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerComparison {
    /// Setting index.
    pub setting: usize,
    /// Best udprx path (highest peak received rate).
    pub best_path: String,
    /// Its peak.
    pub best_pps: f64,
    /// The better peer.
    pub best_peer: String,
    /// Its peak.
    pub peer_pps: f64,
    /// Ratio best / peer with its 95% interval and the call.
    pub ratio: crate::stats::interval::Interval,
    /// The call for udprx.
    pub call: crate::stats::interval::Call,
}

/// A udprx path against its bare C twin: the loop making the same receive calls and nothing
/// else (`peers/c/udp_bare.c`). What the ratios show above 1 is udprx's own cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwinOverhead {
    /// Setting index.
    pub setting: usize,
    /// The udprx path's label.
    pub path: String,
    /// The twin's label.
    pub twin: String,
    /// Path / twin whole receive-side CPU per datagram at the common paced rate, with its 95%
    /// interval and the call (`None`: one of them has no CPU figure at that rate).
    pub cpu: Option<(crate::stats::interval::Interval, crate::stats::interval::Call)>,
    /// Path / twin CPU of the receiving program alone (its threads' user + system time) per
    /// datagram at the common paced rate: the sharper lens where the whole receive side is
    /// tick-sampled, though it also carries the interrupts that land while the program runs.
    /// Absent in reports from before it existed.
    #[serde(default)]
    pub app_cpu: Option<(crate::stats::interval::Interval, crate::stats::interval::Call)>,
    /// Path / twin peak received rate, with its interval and the call.
    pub peak: Option<(crate::stats::interval::Interval, crate::stats::interval::Call)>,
}

/// Two runs compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineComparison {
    /// Name of run A (the baseline), e.g. its path.
    pub a: String,
    /// Name of run B.
    pub b: String,
    /// B against A for every path both measured: ratio B / A with interval and call.
    pub verdicts: Vec<PairVerdict>,
    /// Paths only one of the runs measured.
    pub unmatched: Vec<String>,
    /// Environment differences that change what the figures mean.
    pub warnings: Vec<String>,
    /// Run A's measured drift (`None`: unknown, a report written before drift was recorded).
    #[serde(default)]
    pub drift_a: Option<crate::model::curve::Drift>,
    /// Run B's measured drift.
    #[serde(default)]
    pub drift_b: Option<crate::model::curve::Drift>,
}

/// Creates the output directory, refusing (exit 2) before anything runs when it cannot be
/// written: the nearest existing ancestor must be a directory, and a probe file must be
/// writable. Directories created here are removed again when the probe fails.
pub fn prepare_out_dir(dir: &Path) -> Result<()> {
    let bad = |why: String| Error::BadInput(format!("output directory {}: {why}", dir.display()));
    let mut ancestor = dir;
    let mut created: Vec<PathBuf> = Vec::new();
    while !ancestor.exists() {
        created.push(ancestor.to_path_buf());
        ancestor = match ancestor.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    if !ancestor.is_dir() {
        return Err(bad(format!("{} is not a directory", ancestor.display())));
    }
    if let Err(e) = std::fs::create_dir_all(dir) {
        cleanup(&created);
        return Err(bad(e.to_string()));
    }
    let probe = dir.join(".udprx-bench-write-test");
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => {
            cleanup(&created);
            Err(bad(format!("not writable: {e}")))
        }
    }
}

fn cleanup(created: &[PathBuf]) {
    // Deepest first.
    for d in created {
        let _ = std::fs::remove_dir(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_dir_checks() {
        let base = std::env::temp_dir().join(format!("udprx-bench-test-{}", std::process::id()));
        let d = base.join("a/b");
        prepare_out_dir(&d).unwrap();
        assert!(d.is_dir());
        // Under a file: refused, nothing created.
        let f = base.join("file");
        std::fs::write(&f, b"x").unwrap();
        let e = prepare_out_dir(&f.join("x/y")).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        assert!(!f.join("x").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
