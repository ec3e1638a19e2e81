//! Verdicts from a few noisy repetitions: a 95% interval for each headline figure, and for each
//! pair of receive paths a ratio with its 95% interval and a call ("faster", "slower" or
//! "indistinguishable here").
//!
//! # Method
//!
//! `udprx bench` repeats each measurement only a few times (3–8 samples) and the run-to-run spread
//! is large (±5–30%), so every figure is stated with its uncertainty, computed as follows.
//!
//! - **Samples.** A sample is a positive rate (datagrams per second) or a positive cost (CPU
//!   nanoseconds per datagram). Samples that are zero, negative, NaN or infinite are ignored:
//!   they are not measurements of a positive quantity (a failed or empty repetition) and cannot be
//!   put on the log scale. `n` is the number of samples that remain.
//! - **Log scale.** Run-to-run noise on rates and costs is multiplicative (a slower run is slower
//!   by some fraction), so all arithmetic is done on the natural logarithms of the samples and
//!   the results are exponentiated back. Intervals are therefore asymmetric in linear terms
//!   (`est / lo == hi / est`), and a ratio and its inverse carry exactly mirrored intervals.
//! - **One figure** ([`estimate`]). The estimate is the geometric mean `exp(m)`, where `m` is the
//!   mean of the logs. The 95% interval is the Student-t interval on the mean of the logs,
//!   `exp(m ± t(0.975, n-1) · s / √n)`, with `s` the sample standard deviation of the logs.
//! - **Ratio of two paths** ([`ratio`]). The ratio A/B is `exp(m_a - m_b)`, the ratio of the
//!   geometric means. Its 95% interval is Welch's unequal-variance t interval on `m_a - m_b`:
//!   standard error `√(s_a²/n_a + s_b²/n_b)` and the Welch–Satterthwaite degrees of freedom
//!   `(s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1))`, which are in
//!   general not an integer. The reported `n` of a ratio is the smaller of the two sample counts.
//!   (B. L. Welch, *Biometrika* 34, 1947; F. E. Satterthwaite, *Biometrics Bulletin* 2, 1946.)
//! - **Too few samples.** With fewer than 2 usable samples (in either sample, for a ratio) there is
//!   no estimate of the spread and hence no interval: the [`Interval`] still carries the point
//!   estimate, but its `lo` and `hi` are `None` (they serialize to JSON `null`). With no usable
//!   sample at all the functions return `None`. Samples that are all equal have zero spread and
//!   give `lo == hi == est`, with `est` exactly the sample value (a ratio of two such sides is
//!   exactly the quotient of the two values).
//! - **Honest width.** The t quantile for 1 or 2 degrees of freedom is 12.7 or 4.3 (against 1.96
//!   for a known spread), so intervals from 2–3 samples are very wide. That is the correct answer
//!   for so few repetitions, not a defect: collect more repetitions to narrow them.
//! - **The call** ([`call`]). Path A is called *faster* than B only when the whole 95% interval of
//!   the ratio lies on the better side of 1 *beyond a practical-equivalence margin*
//!   ([`MIN_EFFECT`], 5%): for rates (higher is better) when `lo > 1 + min_effect`, for costs
//!   (lower is better) when `hi < 1 / (1 + min_effect)`. *Slower* is the mirror image. Anything
//!   else, including a missing interval, is *indistinguishable here*: either the measurement
//!   cannot tell the paths apart, or it can but the difference is below the margin, which no
//!   benchmark of this kind should report as a win (a 0.5% difference measured very precisely is
//!   still "indistinguishable here"). The margin is applied on the log scale (`1 + m` and
//!   `1 / (1 + m)`), so swapping A and B swaps "faster" and "slower" exactly. Each pair gets its
//!   own 95% interval with no correction for the number of pairs compared; the margin is what
//!   keeps chance calls rare when many pairs are shown.
//! - **Brackets** ([`bracket_ratio`]). A figure known only as a bracket `[lo, hi]` (the bounds of
//!   a zero-loss search) has no sampling distribution; the ratio of two brackets is the ratio of
//!   their geometric midpoints, bounded by the extreme quotients `a.lo / b.hi` and `a.hi / b.lo`.
//!   That is a hard bound, not a 95% interval; its `n` is 0.
//! - **The t quantile** ([`t_quantile`]) is computed from the Student-t distribution function
//!   `P(T > t) = ½ · I_{ν/(ν+t²)}(ν/2, ½)` (Abramowitz & Stegun 26.7.1 with 26.5.27), where the
//!   regularized incomplete beta function `I` is evaluated by its continued fraction with the
//!   modified Lentz method (Numerical Recipes, 3rd ed., §6.4) and `ln Γ` by the Lanczos
//!   approximation; the quantile is found by bisection to about 12 significant digits. It is exact
//!   for real (non-integer) degrees of freedom. Above 10⁷ degrees of freedom the Cornish–Fisher
//!   expansion around the normal quantile is used (Abramowitz & Stegun 26.7.5), with the normal
//!   quantile from P. J. Acklam's rational approximation (relative error below 1.2·10⁻⁹).

use serde::{Deserialize, Serialize};

/// The practical-equivalence margin used by `udprx bench`: differences below 5% are never called
/// "faster" or "slower", however precisely they are measured. A 95% interval from one run only
/// covers the noise *within* that run; back-to-back runs on a 2-core VM moved the same ratio by
/// up to 8% while each run's interval was ±4% (docs/results.md), so a 2% margin let a call made
/// in one run fail to repeat in the next. 5% is the smallest margin at which every call of two
/// back-to-back default runs kept its direction there.
pub const MIN_EFFECT: f64 = 0.05;

/// An estimate with its 95% interval.
///
/// Produced by [`estimate`] (one figure), [`ratio`] (A/B of two sampled figures) and
/// [`bracket_ratio`] (A/B of two bracketed figures). See the [module documentation](self) for the
/// method.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The point estimate: a geometric mean, or a ratio of geometric means.
    pub est: f64,
    /// Lower end of the 95% interval; `None` when there are fewer than 2 usable samples.
    pub lo: Option<f64>,
    /// Upper end of the 95% interval; `None` when there are fewer than 2 usable samples.
    pub hi: Option<f64>,
    /// Usable samples behind the estimate (for a ratio, the smaller of the two counts; 0 for a
    /// [`bracket_ratio`]).
    pub n: usize,
}

impl Interval {
    /// Relative half-width of the interval, `max(hi/est - 1, 1 - lo/est)` (0.10 means "±10%";
    /// on the log scale the upper side is always the larger one). `None` when there is no
    /// interval or the estimate is not a positive finite number.
    pub fn half_width_rel(&self) -> Option<f64> {
        let (lo, hi) = (self.lo?, self.hi?);
        if !(self.est.is_finite() && self.est > 0.0) {
            return None;
        }
        Some((hi / self.est - 1.0).max(1.0 - lo / self.est))
    }

    /// Whether `x` lies within the interval (ends included); `false` when there is no interval.
    pub fn contains(&self, x: f64) -> bool {
        match (self.lo, self.hi) {
            (Some(lo), Some(hi)) => lo <= x && x <= hi,
            _ => false,
        }
    }
}

/// The verdict on a ratio A/B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// A is better than B by more than the margin, beyond the 95% interval.
    Faster,
    /// A is worse than B by more than the margin, beyond the 95% interval.
    Slower,
    /// Neither: the interval reaches into the margin around 1, or there is no interval.
    Indistinguishable,
}

impl Call {
    /// The words used in reports: `"faster"`, `"slower"` or `"indistinguishable here"`.
    pub fn words(self) -> &'static str {
        match self {
            Call::Faster => "faster",
            Call::Slower => "slower",
            Call::Indistinguishable => "indistinguishable here",
        }
    }
}

/// Summary of the usable samples (positive and finite) on the log scale.
struct LogStats {
    /// How many samples are usable.
    n: usize,
    /// Mean of their logs.
    mean: f64,
    /// Sample variance of their logs (0 for a single sample).
    var: f64,
    /// The first usable sample itself: the exact estimate when all samples are equal.
    first: f64,
}

impl LogStats {
    /// `None` when no sample is usable.
    fn of(samples: &[f64]) -> Option<LogStats> {
        let usable: Vec<f64> =
            samples.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
        let first = *usable.first()?;
        let logs: Vec<f64> = usable.iter().map(|x| x.ln()).collect();
        let n = logs.len();
        // Shifted by the first log so that equal samples give exactly that log and a zero
        // variance.
        let mean = logs[0] + logs.iter().map(|l| l - logs[0]).sum::<f64>() / n as f64;
        let var = if n < 2 {
            0.0
        } else {
            logs.iter().map(|l| (l - mean) * (l - mean)).sum::<f64>() / (n - 1) as f64
        };
        Some(LogStats { n, mean, var, first })
    }

    /// The geometric mean; exactly the sample value when all samples are equal (or single).
    fn geo_mean(&self) -> f64 {
        if self.var == 0.0 { self.first } else { self.mean.exp() }
    }
}

/// The geometric mean of the usable samples with its Student-t 95% interval (computed on the
/// logs, see the [module documentation](self)).
///
/// Zero, negative and non-finite samples are ignored. Returns `None` when no sample is usable;
/// with a single usable sample the interval has no ends (`lo` and `hi` are `None`). Equal samples
/// give `lo == hi == est`, and a single or repeated sample value is returned exactly as `est`.
pub fn estimate(samples: &[f64]) -> Option<Interval> {
    let s = LogStats::of(samples)?;
    let est = s.geo_mean();
    if s.n < 2 {
        return Some(Interval { est, lo: None, hi: None, n: s.n });
    }
    if s.var == 0.0 {
        return Some(Interval { est, lo: Some(est), hi: Some(est), n: s.n });
    }
    let half = t_quantile(0.975, (s.n - 1) as f64) * (s.var / s.n as f64).sqrt();
    Some(Interval { est, lo: Some((s.mean - half).exp()), hi: Some((s.mean + half).exp()), n: s.n })
}

/// Below this many usable samples a figure shows the observed range, not a 95% interval: a t
/// interval from 2 samples on the log scale spans orders of magnitude (its quantile is 12.7).
pub const MIN_N_INTERVAL: usize = 3;

/// A figure's estimate as it is printed and charted, kept inside physics: never below zero and
/// never above `ceiling` (the offered rate, or the path's own highest received rate, where one
/// binds; `None` for costs, which have no upper bound). The conventions, read by
/// [`crate::text`] and the charts:
///
/// - one usable sample: `lo` and `hi` are `None`, `n == 1`;
/// - 2 samples (below [`MIN_N_INTERVAL`]): `lo`/`hi` are the observed minimum and maximum, a
///   *range* ("n=2: range"), not an interval;
/// - 3 or more: the 95% interval of [`estimate`], clipped to `[0, max(ceiling, highest sample)]`
///   (an observation is never clipped away); when the unclipped interval is wider than the
///   estimate itself (`hi - lo > est`) it resolves nothing and both ends are `None` ("not
///   resolved here").
///
/// Verdicts never use this: they compare the samples with [`ratio`].
pub fn bounded(samples: &[f64], ceiling: Option<f64>) -> Option<Interval> {
    let i = estimate(samples)?;
    let xs: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
    let max = xs.iter().copied().fold(0.0, f64::max);
    let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
    if i.n < 2 {
        return Some(i);
    }
    if i.n < MIN_N_INTERVAL {
        return Some(Interval { lo: Some(min), hi: Some(max), ..i });
    }
    let (Some(lo), Some(hi)) = (i.lo, i.hi) else { return Some(i) };
    if hi - lo > i.est {
        return Some(Interval { lo: None, hi: None, ..i });
    }
    let top = ceiling.filter(|c| c.is_finite()).map_or(hi, |c| hi.min(c.max(max)));
    Some(Interval { lo: Some(lo.max(0.0)), hi: Some(top), ..i })
}

/// The ratio A/B of the geometric means of `a` and `b`, with Welch's 95% t interval
/// (Welch–Satterthwaite degrees of freedom, on the logs; see the [module documentation](self)).
///
/// Zero, negative and non-finite samples are ignored. Returns `None` when either side has no
/// usable sample; when either side has a single usable sample the interval has no ends. `n` is
/// the smaller of the two usable-sample counts.
pub fn ratio(a: &[f64], b: &[f64]) -> Option<Interval> {
    let (a, b) = (LogStats::of(a)?, LogStats::of(b)?);
    let diff = a.mean - b.mean;
    let (ea, eb) = (a.var / a.n as f64, b.var / b.n as f64);
    let se2 = ea + eb;
    // Both sides constant (or single): the plain quotient, exactly.
    let est = if se2 == 0.0 { a.geo_mean() / b.geo_mean() } else { diff.exp() };
    let n = a.n.min(b.n);
    if n < 2 {
        return Some(Interval { est, lo: None, hi: None, n });
    }
    if se2 == 0.0 {
        return Some(Interval { est, lo: Some(est), hi: Some(est), n });
    }
    let (dfa, dfb) = ((a.n - 1) as f64, (b.n - 1) as f64);
    let df = se2 * se2 / (ea * ea / dfa + eb * eb / dfb);
    // Welch-Satterthwaite lies in [min(dfa, dfb), dfa + dfb]; clamp away rounding.
    let df = df.clamp(dfa.min(dfb), dfa + dfb);
    let half = t_quantile(0.975, df) * se2.sqrt();
    Some(Interval { est, lo: Some((diff - half).exp()), hi: Some((diff + half).exp()), n })
}

/// Ratio of two figures known only as brackets `[lo, hi]` (e.g. a search's bounds): `est` is the
/// ratio of the geometric midpoints `√(a.lo·a.hi) / √(b.lo·b.hi)`, `lo = a.lo / b.hi` and
/// `hi = a.hi / b.lo`.
///
/// The ends are hard bounds, not a 95% interval, and `n` is 0. Returns `None` unless both
/// brackets satisfy `0 < lo <= hi < ∞`.
pub fn bracket_ratio(a: (f64, f64), b: (f64, f64)) -> Option<Interval> {
    let valid = |(lo, hi): (f64, f64)| lo > 0.0 && lo <= hi && hi.is_finite();
    if !valid(a) || !valid(b) {
        return None;
    }
    let est = (a.0.sqrt() * a.1.sqrt()) / (b.0.sqrt() * b.1.sqrt());
    Some(Interval { est, lo: Some(a.0 / b.1), hi: Some(a.1 / b.0), n: 0 })
}

/// The verdict on a ratio A/B: [`Call::Faster`] when the whole interval lies on the better side
/// of 1 beyond the practical-equivalence margin `min_effect`, [`Call::Slower`] when it lies wholly
/// on the worse side beyond the margin, [`Call::Indistinguishable`] otherwise and whenever there is
/// no interval.
///
/// `higher_is_better` is `true` for rates and `false` for costs such as CPU ns per datagram. The
/// margin is applied on the log scale: with `higher_is_better`, Faster means `lo > 1 + min_effect`
/// and Slower means `hi < 1 / (1 + min_effect)` (the other way round for costs). So with
/// `min_effect = 0.05` ([`MIN_EFFECT`]) a 0.5% difference is "indistinguishable here" however
/// precisely it is measured. A negative or NaN `min_effect` counts as 0.
pub fn call(ratio: &Interval, higher_is_better: bool, min_effect: f64) -> Call {
    let (Some(lo), Some(hi)) = (ratio.lo, ratio.hi) else {
        return Call::Indistinguishable;
    };
    let up = 1.0 + min_effect.max(0.0);
    let down = 1.0 / up;
    let (better, worse) =
        if higher_is_better { (lo > up, hi < down) } else { (hi < down, lo > up) };
    if better {
        Call::Faster
    } else if worse {
        Call::Slower
    } else {
        Call::Indistinguishable
    }
}

/// Coefficient of variation (sample standard deviation / arithmetic mean) of the positive finite
/// samples, others ignored; `None` when fewer than 2 remain.
pub fn cv(samples: &[f64]) -> Option<f64> {
    let xs: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
    if xs.len() < 2 {
        return None;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    Some(var.sqrt() / mean)
}

/// Student t quantile: t such that P(T <= t) = p for `df` degrees of freedom (df real, >= 1; used
/// with p = 0.975).
///
/// Any real `df > 0` is accepted, including non-integer Welch degrees of freedom and
/// `f64::INFINITY` (the normal quantile). Accurate to about 1e-9 relative for ordinary `p`
/// (method in the [module documentation](self)). Returns NaN when `p` is outside `[0, 1]` or
/// `df` is not positive; `p = 0` and `p = 1` give minus and plus infinity.
pub fn t_quantile(p: f64, df: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if p == 0.5 {
        return 0.0;
    }
    if p < 0.5 {
        return -t_quantile(1.0 - p, df);
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if df > 1e7 {
        // Cornish-Fisher expansion (A&S 26.7.5); the next term is O(df^-3).
        let z = normal_quantile(p);
        let z2 = z * z;
        let g1 = (z2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
        return z + g1 / df + g2 / (df * df);
    }
    // Solve P(T > t) = q for t > 0 by bisection; the tail decreases in t.
    let q = 1.0 - p;
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    while t_upper_tail(hi, df) > q {
        lo = hi;
        hi *= 2.0;
        if hi > 1e300 {
            return f64::INFINITY;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if t_upper_tail(mid, df) > q {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-13 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// P(T > t) for t >= 0: ½ · I_x(df/2, ½) with x = df / (df + t²).
fn t_upper_tail(t: f64, df: f64) -> f64 {
    let t2 = t * t;
    let x = 1.0 / (1.0 + t2 / df);
    let y = 1.0 / (1.0 + df / t2);
    0.5 * inc_beta(x, y, 0.5 * df, 0.5)
}

/// Regularized incomplete beta function I_x(a, b), with `y = 1 - x` passed separately to keep
/// precision near x = 1 (Numerical Recipes §6.4).
fn inc_beta(x: f64, y: f64, a: f64, b: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * y.ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(x, a, b) / a
    } else {
        1.0 - front * beta_cf(y, b, a) / b
    }
}

/// Continued fraction for the incomplete beta function, modified Lentz method.
fn beta_cf(x: f64, a: f64, b: f64) -> f64 {
    const MAX_ITER: u32 = 1_000_000;
    const EPS: f64 = 1e-15;
    const TINY: f64 = 1e-300;
    let nudge = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / nudge(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=MAX_ITER {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / nudge(1.0 + aa * d);
        c = nudge(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / nudge(1.0 + aa * d);
        c = nudge(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0: Lanczos approximation (g = 7, 9 terms), reflection below ½.
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Γ(x) Γ(1-x) = π / sin(πx)
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let sum =
        COEF[1..].iter().enumerate().fold(COEF[0], |acc, (i, c)| acc + c / (x + (i + 1) as f64));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// Standard normal quantile, P. J. Acklam's rational approximation (relative error < 1.2e-9),
/// for 0 < p < 1.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    let poly = |coef: &[f64], x: f64| coef.iter().fold(0.0, |acc, c| acc * x + c);
    let tail = |p: f64| {
        let q = (-2.0 * p.ln()).sqrt();
        poly(&C, q) / (poly(&D, q) * q + 1.0)
    };
    if p < P_LOW {
        tail(p)
    } else if p > 1.0 - P_LOW {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        poly(&A, r) * q / (poly(&B, r) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64: a tiny seeded PRNG, enough for reproducible noise.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform in the open interval (0, 1).
        fn uniform(&mut self) -> f64 {
            ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        /// Standard normal, Box-Muller.
        fn normal(&mut self) -> f64 {
            let (u1, u2) = (self.uniform(), self.uniform());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Noise {
        /// sample = mean · exp(σZ − σ²/2): multiplicative, arithmetic mean preserved.
        LogNormal(f64),
        /// sample = mean · (1 + cZ): additive normal noise with relative sd c.
        Additive(f64),
    }

    fn draw(rng: &mut Rng, mean: f64, noise: Noise, n: usize) -> Vec<f64> {
        (0..n)
            .map(|_| match noise {
                Noise::LogNormal(s) => mean * (s * rng.normal() - s * s / 2.0).exp(),
                Noise::Additive(c) => mean * (1.0 + c * rng.normal()),
            })
            .collect()
    }

    const TRIALS: usize = 200;

    /// Fraction of trials whose 95% ratio interval covers the true ratio.
    fn coverage(seed: u64, n: usize, (ma, na): (f64, Noise), (mb, nb): (f64, Noise)) -> f64 {
        let mut rng = Rng(seed);
        let truth = ma / mb;
        let hits = (0..TRIALS)
            .filter(|_| {
                let a = draw(&mut rng, ma, na, n);
                let b = draw(&mut rng, mb, nb, n);
                ratio(&a, &b).unwrap().contains(truth)
            })
            .count();
        hits as f64 / TRIALS as f64
    }

    /// Fraction of trials with the given call.
    fn call_rate(
        seed: u64,
        n: usize,
        (ma, mb): (f64, f64),
        noise: Noise,
        higher_is_better: bool,
        want: Call,
    ) -> f64 {
        let mut rng = Rng(seed);
        let hits = (0..TRIALS)
            .filter(|_| {
                let a = draw(&mut rng, ma, noise, n);
                let b = draw(&mut rng, mb, noise, n);
                call(&ratio(&a, &b).unwrap(), higher_is_better, MIN_EFFECT) == want
            })
            .count();
        hits as f64 / TRIALS as f64
    }

    #[test]
    fn t_quantile_known_values() {
        let known = [
            (1.0, 12.7062),
            (2.0, 4.3027),
            (3.0, 3.1824),
            (4.0, 2.7764),
            (5.0, 2.5706),
            (7.0, 2.3646),
            (10.0, 2.2281),
            (30.0, 2.0423),
            (1e6, 1.96),
            (1e9, 1.96),
            (f64::INFINITY, 1.96),
        ];
        for (df, want) in known {
            let got = t_quantile(0.975, df);
            assert!((got - want).abs() < 1e-3, "df={df}: t={got}, want {want}");
        }
        // Tighter checks where more digits are well known.
        assert!((t_quantile(0.975, 1.0) - 12.706_204_736).abs() < 1e-6);
        assert!((t_quantile(0.975, f64::INFINITY) - 1.959_963_985).abs() < 1e-7);
        assert!((t_quantile(0.975, 1e6) - 1.959_966_4).abs() < 1e-6);
        // df = 1 is the Cauchy distribution: the quantile is tan(π(p − ½)).
        for p in [0.6_f64, 0.9, 0.975, 0.999] {
            let want = (std::f64::consts::PI * (p - 0.5)).tan();
            assert!((t_quantile(p, 1.0) / want - 1.0).abs() < 1e-9, "p={p}");
        }
        // df = 2 has a closed form: t = (2p − 1) √(2 / (4p(1 − p))).
        for p in [0.6_f64, 0.9, 0.975, 0.999] {
            let want = (2.0 * p - 1.0) * (2.0 / (4.0 * p * (1.0 - p))).sqrt();
            assert!((t_quantile(p, 2.0) / want - 1.0).abs() < 1e-9, "p={p}");
        }
        // Real df lies strictly between its integer neighbours, monotonically.
        let t25 = t_quantile(0.975, 2.5);
        assert!(t25 < 4.3027 && t25 > 3.1824, "df=2.5: {t25}");
        let mut prev = f64::INFINITY;
        for i in 1..=100 {
            let t = t_quantile(0.975, f64::from(i) * 0.25);
            assert!(t < prev, "not decreasing at df={}", f64::from(i) * 0.25);
            prev = t;
        }
        // Both sides of the Cornish-Fisher switch agree.
        assert!((t_quantile(0.975, 1e7) - t_quantile(0.975, 1.000_001e7)).abs() < 1e-8);
        // Symmetry, centre and invalid input.
        assert_eq!(t_quantile(0.5, 3.0), 0.0);
        assert!((t_quantile(0.025, 4.0) + t_quantile(0.975, 4.0)).abs() < 1e-12);
        assert!((normal_quantile(0.01) + 2.326_347_874).abs() < 1e-7);
        assert!(t_quantile(1.5, 3.0).is_nan());
        assert!(t_quantile(0.975, 0.0).is_nan());
        assert!(t_quantile(0.975, f64::NAN).is_nan());
        assert_eq!(t_quantile(1.0, 3.0), f64::INFINITY);
    }

    #[test]
    fn ln_gamma_known_values() {
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(10.0) - 362_880.0_f64.ln()).abs() < 1e-12);
        assert!(ln_gamma(1.0).abs() < 1e-14 && ln_gamma(2.0).abs() < 1e-14);
        assert!((ln_gamma(0.25) - 3.625_609_908_221_908_f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn ratio_interval_covers_true_ratio() {
        let (ma, mb) = (400_000.0, 300_000.0);
        let cases = [
            ("lognormal 0.15, n=5", 5, Noise::LogNormal(0.15), Noise::LogNormal(0.15)),
            ("lognormal 0.15, n=3", 3, Noise::LogNormal(0.15), Noise::LogNormal(0.15)),
            ("additive 10%, n=5", 5, Noise::Additive(0.10), Noise::Additive(0.10)),
            ("additive 10%, n=3", 3, Noise::Additive(0.10), Noise::Additive(0.10)),
            (
                "lognormal 0.05 vs 0.30 (Welch), n=5",
                5,
                Noise::LogNormal(0.05),
                Noise::LogNormal(0.30),
            ),
            (
                "lognormal 0.05 vs 0.30 (Welch), n=3",
                3,
                Noise::LogNormal(0.05),
                Noise::LogNormal(0.30),
            ),
        ];
        for (i, (name, n, na, nb)) in cases.into_iter().enumerate() {
            let cov = coverage(0xC0FE + i as u64, n, (ma, na), (mb, nb));
            println!("coverage of true ratio 4/3, {name}: {:.1}%", cov * 100.0);
            assert!(cov >= 0.90, "{name}: coverage {cov}");
        }
    }

    #[test]
    fn estimate_interval_covers_true_geometric_mean() {
        for (i, n) in [3, 5, 8].into_iter().enumerate() {
            let mut rng = Rng(0xE57 + i as u64);
            // exp(σZ) noise: the true geometric mean is exactly 250k.
            let hits = (0..TRIALS)
                .filter(|_| {
                    let s: Vec<f64> =
                        (0..n).map(|_| 250_000.0 * (0.2 * rng.normal()).exp()).collect();
                    estimate(&s).unwrap().contains(250_000.0)
                })
                .count();
            let cov = hits as f64 / TRIALS as f64;
            println!("coverage of true geometric mean, lognormal 0.2, n={n}: {:.1}%", cov * 100.0);
            assert!(cov >= 0.90, "n={n}: coverage {cov}");
        }
    }

    #[test]
    fn identical_paths_are_indistinguishable() {
        let cases = [
            (5, Noise::LogNormal(0.15)),
            (3, Noise::LogNormal(0.15)),
            (5, Noise::Additive(0.10)),
            (8, Noise::LogNormal(0.05)),
        ];
        for (i, (n, noise)) in cases.into_iter().enumerate() {
            for higher in [true, false] {
                let rate = call_rate(
                    0x1D + i as u64,
                    n,
                    (300_000.0, 300_000.0),
                    noise,
                    higher,
                    Call::Indistinguishable,
                );
                println!(
                    "identical, {noise:?}, n={n}, higher_is_better={higher}: indistinguishable \
                     {:.1}%",
                    rate * 100.0
                );
                assert!(rate >= 0.90, "{noise:?} n={n}: {rate}");
            }
        }
    }

    #[test]
    fn clear_difference_is_called() {
        for n in [5, 3] {
            let noise = Noise::LogNormal(0.05);
            let faster = call_rate(0xFA, n, (450_000.0, 300_000.0), noise, true, Call::Faster);
            // The same figures read as costs (ns per datagram): A costs 1.5× as much.
            let slower = call_rate(0xFA, n, (450_000.0, 300_000.0), noise, false, Call::Slower);
            // And the mirror: B/A.
            let mirror = call_rate(0xFB, n, (300_000.0, 450_000.0), noise, true, Call::Slower);
            println!(
                "ratio 1.5, lognormal 0.05, n={n}: faster {:.1}%, slower as cost {:.1}%, \
                 mirror slower {:.1}%",
                faster * 100.0,
                slower * 100.0,
                mirror * 100.0
            );
            assert!(faster >= 0.95, "n={n}: faster {faster}");
            assert!(slower >= 0.95, "n={n}: slower {slower}");
            assert!(mirror >= 0.95, "n={n}: mirror {mirror}");
        }
    }

    #[test]
    fn margin_keeps_tiny_precise_differences_indistinguishable() {
        // 0.5% apart, measured to ±0.01%: the interval excludes 1, but not the margin.
        let a = [100_500.0, 100_510.0, 100_490.0, 100_505.0, 100_495.0];
        let b = [100_000.0, 100_010.0, 99_990.0, 100_005.0, 99_995.0];
        let r = ratio(&a, &b).unwrap();
        assert!(!r.contains(1.0), "{r:?}");
        assert_eq!(call(&r, true, MIN_EFFECT), Call::Indistinguishable);
        assert_eq!(call(&r, true, 0.0), Call::Faster);
        assert_eq!(call(&r, false, 0.0), Call::Slower);
        // 8% apart, as precisely: called either way, and mirrored when swapped.
        let a5: Vec<f64> = b.iter().map(|x| x * 1.08).collect();
        let r5 = ratio(&a5, &b).unwrap();
        assert_eq!(call(&r5, true, MIN_EFFECT), Call::Faster);
        assert_eq!(call(&r5, false, MIN_EFFECT), Call::Slower);
        let r5_inv = ratio(&b, &a5).unwrap();
        assert_eq!(call(&r5_inv, true, MIN_EFFECT), Call::Slower);
        assert_eq!(call(&r5_inv, false, MIN_EFFECT), Call::Faster);
        assert!((r5.est * r5_inv.est - 1.0).abs() < 1e-12);
        assert!((r5.lo.unwrap() * r5_inv.hi.unwrap() - 1.0).abs() < 1e-12);
        // Negative or NaN margins count as 0.
        assert_eq!(call(&r, true, -1.0), Call::Faster);
        assert_eq!(call(&r, true, f64::NAN), Call::Faster);
        assert_eq!(Call::Faster.words(), "faster");
        assert_eq!(Call::Slower.words(), "slower");
        assert_eq!(Call::Indistinguishable.words(), "indistinguishable here");
    }

    #[test]
    fn edge_cases() {
        // Nothing usable.
        assert_eq!(estimate(&[]), None);
        assert_eq!(estimate(&[0.0, -3.0, f64::NAN, f64::INFINITY]), None);
        assert_eq!(ratio(&[], &[1.0, 2.0]), None);
        assert_eq!(ratio(&[1.0, 2.0], &[0.0, f64::NAN]), None);
        assert_eq!(cv(&[5.0]), None);
        assert_eq!(cv(&[5.0, 0.0, f64::NAN]), None);

        // Unusable samples are ignored, not counted.
        let clean = estimate(&[100.0, 121.0]).unwrap();
        let dirty = estimate(&[0.0, 100.0, f64::NAN, -5.0, 121.0, f64::INFINITY]).unwrap();
        assert_eq!(clean, dirty);
        assert_eq!(dirty.n, 2);
        assert!((dirty.est - 110.0).abs() < 1e-9, "geometric mean of 100 and 121");
        // n = 2: half-width on the log scale is t(1) · |ln 1.21| / 2.
        let half = 12.706_204_736 * (1.21_f64.ln() / 2.0);
        assert!((dirty.hi.unwrap() - 110.0 * half.exp()).abs() < 1e-3);
        assert!((dirty.lo.unwrap() - 110.0 * (-half).exp()).abs() < 1e-3);
        assert!((dirty.half_width_rel().unwrap() - (half.exp() - 1.0)).abs() < 1e-9);
        assert!(dirty.contains(110.0) && !dirty.contains(1.0) && !dirty.contains(1e6));

        // n = 1: an estimate without interval, and no call.
        let one = estimate(&[0.0, 42.0]).unwrap();
        assert_eq!(one, Interval { est: 42.0, lo: None, hi: None, n: 1 });
        assert_eq!(one.half_width_rel(), None);
        assert!(!one.contains(42.0));
        let r1 = ratio(&[84.0], &[42.0, 42.0, 42.0]).unwrap();
        assert_eq!(r1, Interval { est: 2.0, lo: None, hi: None, n: 1 });
        assert_eq!(call(&r1, true, MIN_EFFECT), Call::Indistinguishable);
        assert_eq!(call(&r1, false, 0.0), Call::Indistinguishable);

        // Constant samples: lo = hi = est.
        let k = estimate(&[7.3, 7.3, 7.3]).unwrap();
        assert_eq!(k.lo, Some(k.est));
        assert_eq!(k.hi, Some(k.est));
        assert!((k.est - 7.3).abs() < 1e-12);
        assert_eq!(k.half_width_rel(), Some(0.0));
        let rk = ratio(&[3.0, 3.0], &[2.0, 2.0, 2.0]).unwrap();
        assert_eq!((rk.lo, rk.hi, rk.n), (Some(rk.est), Some(rk.est), 2));
        assert!((rk.est - 1.5).abs() < 1e-12);
        assert_eq!(call(&rk, true, MIN_EFFECT), Call::Faster);
        // One side constant: Welch falls back to the other side's degrees of freedom.
        let a = [100.0, 110.0, 90.0, 105.0];
        let one_sided = ratio(&a, &[50.0, 50.0]).unwrap();
        let est_a = estimate(&a).unwrap();
        assert!((one_sided.hi.unwrap() - est_a.hi.unwrap() / 50.0).abs() < 1e-9);
        assert!((one_sided.lo.unwrap() - est_a.lo.unwrap() / 50.0).abs() < 1e-9);

        // cv: sample sd over mean.
        let c = cv(&[90.0, 100.0, 110.0, f64::NAN]).unwrap();
        assert!((c - 0.1).abs() < 1e-12, "{c}");

        // Brackets.
        let br = bracket_ratio((400.0, 900.0), (100.0, 400.0)).unwrap();
        assert!((br.est - 600.0 / 200.0).abs() < 1e-12);
        assert_eq!((br.lo, br.hi, br.n), (Some(1.0), Some(9.0), 0));
        assert!(br.contains(3.0));
        assert_eq!(call(&br, true, MIN_EFFECT), Call::Indistinguishable);
        let tight = bracket_ratio((990.0, 1000.0), (400.0, 410.0)).unwrap();
        assert_eq!(call(&tight, true, MIN_EFFECT), Call::Faster);
        let point = bracket_ratio((5.0, 5.0), (2.0, 2.0)).unwrap();
        assert_eq!((point.est, point.lo, point.hi), (2.5, Some(2.5), Some(2.5)));
        assert_eq!(bracket_ratio((0.0, 1.0), (1.0, 2.0)), None);
        assert_eq!(bracket_ratio((2.0, 1.0), (1.0, 2.0)), None);
        assert_eq!(bracket_ratio((1.0, 2.0), (1.0, f64::INFINITY)), None);
        assert_eq!(bracket_ratio((f64::NAN, 2.0), (1.0, 2.0)), None);
    }

    #[test]
    fn serde_round_trip() {
        let with = estimate(&[100.0, 110.0, 95.0]).unwrap();
        let without = estimate(&[100.0]).unwrap();
        for iv in [with, without] {
            let json = serde_json::to_string(&iv).unwrap();
            let back: Interval = serde_json::from_str(&json).unwrap();
            assert_eq!(back, iv, "{json}");
        }
        assert_eq!(
            serde_json::to_string(&without).unwrap(),
            r#"{"est":100.0,"lo":null,"hi":null,"n":1}"#
        );
        assert_eq!(
            serde_json::to_string(&Call::Indistinguishable).unwrap(),
            r#""indistinguishable""#
        );
        let c: Call = serde_json::from_str(r#""faster""#).unwrap();
        assert_eq!(c, Call::Faster);
    }
}
