//! Pure numerics: confidence intervals and calls ([`interval`]), the zero-loss search's
//! bracketing ([`search`]), medians. Nothing here imports another module of the crate, so issue
//! 20's verdict work (ceilings apart from contenders, intervals inside physics, drift-calibrated
//! cross-run calls) lands here as functions on numbers.

pub mod drift;
pub mod interval;
pub mod search;

/// Median of a list (mean of the two middle values for even lengths); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}
