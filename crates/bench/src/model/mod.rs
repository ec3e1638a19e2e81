//! The data a run produces and a report carries: plain serde types, no I/O, no text, no
//! statistics. Every other layer reads these; this layer imports nothing above it.

pub mod cell;
pub mod curve;
pub mod env;
pub mod noise;
pub mod plan;
pub mod profile;
pub mod report;
pub mod settings;
pub mod sweep;
pub mod topology;
pub mod verdict;
