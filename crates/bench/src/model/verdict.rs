//! Verdicts as data: the headline figures and one pair of paths compared on one of them.

use crate::Scenario;
use crate::stats::interval::{Call, Interval};
use serde::{Deserialize, Serialize};

/// A headline figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    /// Peak received rate over the curve.
    Peak,
    /// Non-drop rate.
    Ndr,
    /// Whole receive-side CPU ns per datagram at the common paced rate (every receive core's
    /// busy time, not the application's alone; lower is better).
    Cpu,
}

impl Figure {
    /// Every figure, in report order.
    pub const ALL: [Figure; 3] = [Figure::Peak, Figure::Ndr, Figure::Cpu];

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Figure::Peak => "peak rx",
            Figure::Ndr => "NDR",
            Figure::Cpu => "rx-side CPU ns/dgram",
        }
    }

    /// True when a higher value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Figure::Cpu)
    }
}

/// One comparison: `a` against `b` on one figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairVerdict {
    /// The scenario.
    pub scenario: Scenario,
    /// Label of A (with its setting when settings are compared).
    pub a: String,
    /// Label of B.
    pub b: String,
    /// Setting of A.
    pub setting_a: usize,
    /// Setting of B.
    pub setting_b: usize,
    /// The figure.
    pub figure: Figure,
    /// A / B with its interval (95% for repeated figures, hard bounds for NDR brackets).
    pub ratio: Interval,
    /// The call for A.
    pub call: Call,
    /// Across runs only: what the call had to clear and which bound limited it (the within-run
    /// intervals or the runs' measured drift), e.g. "drift ±6.2%". `None` within a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<String>,
}
