//! Criterion micro-benchmarks of the hot paths live in `benches/benches/`; this crate has no code.
