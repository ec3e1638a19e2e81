//! Pure numerics: confidence intervals and calls ([`interval`]), the zero-loss search's
//! bracketing ([`search`]), medians. Nothing here imports another module of the crate, so issue
//! 20's verdict work (ceilings apart from contenders, intervals inside physics, drift-calibrated
//! cross-run calls) lands here as functions on numbers.

pub mod interval;
pub mod search;
