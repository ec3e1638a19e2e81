//! The smallest `udprx bench` plan that still measures (one classic cell, one trial of 300 ms
//! at 50k pps), shared by the CLI's bench tests; each test adds `--methods` and what it checks.

/// The plan's arguments, without `--methods`.
pub const TINY: &[&str] = &[
    "--scenarios",
    "classic",
    "--fanout",
    "one",
    "--rate",
    "50k",
    "--reps",
    "1",
    "--max-reps",
    "1",
    "--secs",
    "300ms",
];
