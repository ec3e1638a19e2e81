//! `udprx bench`: runs the sender and every receive path side by side and writes a report.
//!
//! The crate is built in layers; each folder is one, and a layer imports only the layers
//! below it (docs/architecture.md draws them):
//! - [`model`]: the data a run produces (plan, curves, verdicts, profiles, the report), serde
//!   types with no I/O;
//! - [`stats`]: pure numerics — intervals and calls ([`stats::interval`]), the zero-loss
//!   search ([`stats::search`]);
//! - [`text`]: the one formatter home (rates, percentages, intervals, sentences, tables);
//! - [`analysis`]: figures computed once, verdicts, the Answer, the comparison with a baseline;
//! - [`lab`]: the real machine — [`lab::topology`], [`lab::noise`], [`lab::cell`] (one
//!   measurement cell in, one [`CellResult`] out), [`lab::peers`], [`lab::procfs`],
//!   [`lab::sysctl`] and [`lab::journal`], [`lab::env`], [`lab::profile`] (perf);
//! - [`harness`]: the [`Bench`] trait and the curve runner (interleaving, repetitions, budget);
//! - [`render`]: Markdown, terminal text and SVG charts of a finished report, and
//!   [`mod@render::write`];
//! - [`run`]: options → preparation → execution, wiring the layers together.
//!
//! The orchestration talks to measurement through the [`Bench`] trait, so the plan, the
//! interleaving and the search are tested with a fake receiver of known capacity.

#![deny(missing_docs)]

pub mod analysis;
pub mod harness;
pub mod lab;
pub mod model;
pub mod render;
pub mod run;
pub mod stats;
pub mod text;

// The facade: the modules the command line uses, at the paths it has always used.
pub use analysis::{answer, compare};
pub use lab::{allowed, journal, profile, topology};
pub use model::{plan, report};
pub use render::{markdown, write};
// The trait a machine implements, and the median every layer takes.
pub use harness::Bench;
pub use stats::median;
// The measurement's data types, at the crate root where every layer has always named them.
pub use model::cell::*;

#[cfg(test)]
#[path = "../../../testsupport/skip.rs"]
mod test_skip;

pub use udprx::Method;

/// What can go wrong in a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or input files: the run did not start and nothing was changed (exit 2).
    #[error("{0}")]
    BadInput(String),
    /// The network topology could not be built or used.
    #[error("topology: {0}")]
    Topology(String),
    /// A kernel setting could not be applied or restored.
    #[error("sysctl: {0}")]
    Sysctl(String),
    /// A NIC setting (`--nic`) could not be applied or restored.
    #[error("NIC setting: {0}")]
    Nic(String),
    /// A measurement cell failed.
    #[error("{0}")]
    Cell(String),
    /// Writing the report failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Ctrl-C or SIGTERM arrived; the run stopped between cells.
    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io { context: context.into(), source }
    }

    /// True for errors caused by the user's input (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Error::BadInput(_))
    }
}

/// Result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn names_round_trip() {
        for m in Method::ALL.into_iter().chain(XDP_METHODS).chain([Method::Epoll]) {
            assert_eq!(parse_method(m.as_str()).unwrap(), m);
        }
        for f in Fanout::ALL {
            assert_eq!(Fanout::parse(f.name()).unwrap(), f);
        }
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()).unwrap(), s);
        }
        assert!(parse_method("select").unwrap_err().is_bad_input());
        assert!(parse_method("auto").unwrap_err().is_bad_input());
    }

    #[test]
    fn latency_keeps_its_json_fields() {
        let c = CellResult {
            latency: Some(Latency {
                p50: 1,
                p90: 2,
                p99: 3,
                p999: 4,
                max: 5,
                ..Latency::default()
            }),
            ..CellResult::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v["latency"],
            serde_json::json!({"p50_ns": 1, "p90_ns": 2, "p99_ns": 3, "p999_ns": 4, "max_ns": 5})
        );
        let back: CellResult = serde_json::from_value(v).unwrap();
        assert_eq!(back.latency, c.latency);
        assert!(serde_json::to_value(CellResult::default()).unwrap()["latency"].is_null());
    }

    #[test]
    fn labels() {
        let r = Row::udprx(Scenario::Gso, Method::Recvmmsg, Fanout::Hash, true);
        assert_eq!(r.label(2), "gso recvmmsg 2×hash +gro");
        let p = Row {
            scenario: Scenario::Classic,
            receiver: Receiver::Peer { peer: PeerKind::Iperf3 },
        };
        assert_eq!(p.path_label(2), "iperf3 (peer)");
    }
}
