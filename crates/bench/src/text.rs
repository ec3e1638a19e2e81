//! The one formatter home: numbers and intervals in words (`kpps`, `percent`, ratios, rates,
//! costs), the sentences of verdicts and comparisons, and table layout (Markdown or aligned
//! text). Pure functions of their arguments; reads [`crate::model`] and [`crate::stats`] types
//! only. It sits below `analysis` because the Answer is made of sentences, and below
//! `render`, which prints them.

use crate::model::report::{PeerComparison, TwinOverhead};
use crate::model::verdict::PairVerdict;
use crate::stats::interval::Interval;
use std::fmt::Write;

/// `1234567.0` → `1234.6k`; for table cells.
pub fn kpps(pps: f64) -> String {
    if !pps.is_finite() || pps <= 0.0 {
        "0".into()
    } else if pps >= 10_000.0 {
        format!("{:.1}k", pps / 1000.0)
    } else {
        format!("{pps:.0}")
    }
}

/// `0.0123` → `1.23%`.
pub fn percent(f: f64) -> String {
    if f == 0.0 { "0".into() } else { format!("{:.2}%", f * 100.0) }
}

/// `1.32× [1.20, 1.45]`, or `1.32× [no interval]`.
pub fn ratio_text(r: &Interval) -> String {
    match (r.lo, r.hi) {
        (Some(l), Some(h)) => format!("{:.2}× [{:.2}, {:.2}]", r.est, l, h),
        (Some(l), None) => format!("{:.2}× [≥ {:.2}]", r.est, l),
        (None, Some(h)) => format!("{:.2}× [≤ {:.2}]", r.est, h),
        (None, None) if r.n == 0 => format!("{:.2}× [one search each: no interval]", r.est),
        (None, None) => format!("{:.2}× [no interval: too few repetitions]", r.est),
    }
}

/// `66% [61, 73]` for a share (a ratio of rates printed in percent), or `66% (n=1: no interval)`.
pub fn share_text(r: &Interval) -> String {
    let pct = |x: f64| format!("{:.0}", x * 100.0);
    match (r.lo, r.hi) {
        (Some(l), Some(h)) => format!("{}% [{}, {}]", pct(r.est), pct(l), pct(h)),
        _ => format!("{}% (n={}: no interval)", pct(r.est), r.n),
    }
}

/// `412.3k [398.0k, 425.1k]` for a rate interval made by [`crate::stats::interval::bounded`];
/// `412.3k (n=2: range 398.0k–425.1k)` below 3 samples, `412.3k (not resolved here)` when the
/// interval was wider than the estimate, `412.3k (n=1)` for one sample.
pub fn rate_text(i: &Interval) -> String {
    bounded_text(i, &kpps(i.est), kpps)
}

/// `850 ns [820, 880]` for a cost interval, with the conventions of [`rate_text`].
pub fn ns_text(i: &Interval) -> String {
    bounded_text(i, &format!("{:.0} ns", i.est), |x| format!("{x:.0}"))
}

fn bounded_text(i: &Interval, est: &str, f: impl Fn(f64) -> String) -> String {
    use crate::stats::interval::MIN_N_INTERVAL;
    match (i.lo, i.hi) {
        (Some(l), Some(h)) if i.n < MIN_N_INTERVAL => {
            format!("{est} (n={}: range {}–{})", i.n, f(l), f(h))
        }
        (Some(l), Some(h)) => format!("{est} [{}, {}]", f(l), f(h)),
        _ if i.n >= MIN_N_INTERVAL => format!("{est} (not resolved here)"),
        _ => format!("{est} (n={})", i.n),
    }
}

impl PairVerdict {
    /// E.g. "recvmmsg 1× vs recvfrom 1×: peak rx 1.32× [1.20, 1.45] — faster".
    pub fn sentence(&self) -> String {
        format!(
            "{} vs {}: {} {} — {}",
            self.a,
            self.b,
            self.figure.name(),
            ratio_text(&self.ratio),
            self.call.words()
        )
    }
}

impl PeerComparison {
    /// One sentence for the report.
    pub fn sentence(&self) -> String {
        format!(
            "classic flood: best udprx path `{}` peaks at {} pps = {} the better reference receiver `{}` ({} pps): {}",
            self.best_path,
            kpps(self.best_pps),
            ratio_text(&self.ratio),
            self.best_peer,
            kpps(self.peer_pps),
            self.call.words()
        )
    }
}

impl TwinOverhead {
    /// The row of the twins table: path, twin, CPU ratios (whole receive side, the program
    /// alone) with their calls, peak ratio with its call.
    pub fn cells(&self) -> Vec<String> {
        use crate::stats::interval::Call;
        let cpu_text = |x: &Option<(crate::stats::interval::Interval, Call)>| match x {
            Some((r, c)) => format!(
                "{} {}",
                ratio_text(r),
                match c {
                    Call::Faster => "(cheaper)",
                    Call::Slower => "(costlier)",
                    Call::Indistinguishable => "(within noise)",
                }
            ),
            None => "no CPU figure at the common rate".into(),
        };
        let (cpu, app) = (cpu_text(&self.cpu), cpu_text(&self.app_cpu));
        let peak = match &self.peak {
            Some((r, c)) => format!("{} ({})", ratio_text(r), c.words()),
            None => "—".into(),
        };
        vec![self.path.clone(), self.twin.clone(), cpu, app, peak]
    }
}

/// Headers of the twins table.
pub const TWIN_HEADERS: [&str; 5] = [
    "udprx path",
    "bare C twin",
    "rx-side CPU/dgram path ÷ twin",
    "program CPU/dgram path ÷ twin",
    "peak rx path ÷ twin",
];

/// Lays out a table: Markdown (pipes) or aligned plain text.
pub fn table(headers: &[&str], rows: &[Vec<String>], markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", headers.join(" | "));
        let _ = writeln!(
            out,
            "|{}|",
            headers
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---" } else { "---:" })
                .collect::<Vec<_>>()
                .join("|")
        );
        for r in rows {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        return out;
    }
    let n = headers.len();
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = w[i].saturating_sub(c.chars().count());
            if i == 0 {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str("  ");
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(headers.to_vec()));
    let total: usize = w.iter().sum::<usize>() + 2 * n.saturating_sub(1);
    let _ = writeln!(out, "{}", "-".repeat(total));
    for r in rows {
        let _ = writeln!(out, "{}", line(r.iter().map(|s| s.as_str()).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(kpps(1_234_567.0), "1234.6k");
        assert_eq!(kpps(999.0), "999");
        assert_eq!(kpps(f64::NAN), "0");
        assert_eq!(percent(0.0123), "1.23%");
    }

    proptest::proptest! {
        /// Random small samples (n = 1…5, received rates scattered up to 100× apart) against a
        /// random offered rate: the printed figure never leaves [0, max(offered, highest
        /// sample)], below 3 samples it is the observed range and says so, and a printed
        /// interval is never wider than its estimate.
        #[test]
        fn printed_intervals_stay_inside_physics(
            xs in proptest::collection::vec(1e3f64..1e8, 1..=5),
            offered in 1e3f64..1e8,
        ) {
            use crate::stats::interval::bounded;
            let max = xs.iter().copied().fold(0.0, f64::max);
            let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let i = bounded(&xs, Some(offered)).unwrap();
            let text = rate_text(&i);
            if let (Some(lo), Some(hi)) = (i.lo, i.hi) {
                proptest::prop_assert!(lo >= 0.0 && lo <= hi, "{i:?}");
                proptest::prop_assert!(hi <= offered.max(max) * (1.0 + 1e-12), "{i:?} offered {offered}");
                if xs.len() >= 3 {
                    proptest::prop_assert!(hi - lo <= i.est * (1.0 + 1e-12), "{i:?}");
                }
            }
            match xs.len() {
                1 => proptest::prop_assert!(text.ends_with("(n=1)"), "{text}"),
                2 => {
                    proptest::prop_assert_eq!((i.lo, i.hi), (Some(min), Some(max)));
                    proptest::prop_assert!(text.contains("(n=2: range "), "{text}");
                }
                _ => proptest::prop_assert!(
                    text.contains("not resolved here") || (i.lo.is_some() && text.contains('[')),
                    "{text}"
                ),
            }
            // Costs: only the floor binds.
            let c = bounded(&xs, None).unwrap();
            proptest::prop_assert!(c.lo.is_none_or(|l| l >= 0.0), "{c:?}");
        }
    }

    #[test]
    fn a_two_sample_t_interval_above_the_offered_rate_is_not_printed() {
        // Two samples 10× apart: the log-scale t interval would reach ~10^8 × the estimate.
        let i = crate::stats::interval::bounded(&[57e3, 570e3], Some(600e3)).unwrap();
        assert_eq!(rate_text(&i), "180.2k (n=2: range 57.0k–570.0k)");
        // Five samples spread over two orders of magnitude: wider than the estimate.
        let i =
            crate::stats::interval::bounded(&[5e3, 50e3, 500e3, 20e3, 300e3], Some(600e3)).unwrap();
        assert!(rate_text(&i).ends_with("(not resolved here)"), "{}", rate_text(&i));
        // Tight samples just under the offered rate: the upper end is clipped to it.
        let i = crate::stats::interval::bounded(&[99e3, 100e3, 100e3], Some(100e3)).unwrap();
        assert!(i.hi.unwrap() <= 100e3, "{i:?}");
    }
}
