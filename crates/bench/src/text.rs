//! The one formatter home: numbers and intervals in words (`kpps`, `percent`, ratios, rates,
//! costs), the sentences of verdicts and comparisons, and table layout (Markdown or aligned
//! text). Pure functions of their arguments; reads [`crate::model`] and [`crate::stats`] types
//! only. It sits below `analysis` because the Answer is made of sentences, and below
//! `render`, which prints them.

use crate::model::report::PeerComparison;
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

/// `412.3k [398.0k, 425.1k]` for a rate interval.
pub fn rate_text(i: &Interval) -> String {
    match (i.lo, i.hi) {
        (Some(l), Some(h)) => format!("{} [{}, {}]", kpps(i.est), kpps(l), kpps(h)),
        _ => format!("{} (n={})", kpps(i.est), i.n),
    }
}

/// `850 ns [820, 880]` for a cost interval.
pub fn ns_text(i: &Interval) -> String {
    match (i.lo, i.hi) {
        (Some(l), Some(h)) => format!("{:.0} ns [{:.0}, {:.0}]", i.est, l, h),
        _ => format!("{:.0} ns (n={})", i.est, i.n),
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
}
