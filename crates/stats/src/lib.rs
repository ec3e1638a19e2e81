//! udprx-stats: what a udprx run measures and how it is reported.
//!
//! A [`stats::Recorder`] per receive thread turns batches into counters, per-flow loss and
//! reorder, and HDR histograms of latency and interval rates; [`kernel`] reads the namespace's
//! UDP and softnet drop counters; [`measure`] runs a receiver with recorders and an aggregator;
//! [`report`] is the report model (text and JSON) and its merge.
#![deny(missing_docs)]

pub mod bounded;
pub mod kernel;
pub mod measure;
pub mod report;
pub mod stats;
pub mod units;
