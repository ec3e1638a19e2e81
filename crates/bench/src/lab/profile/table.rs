//! Collapsed stacks and the shares computed from them.

use super::classify;
use crate::model::profile::{Category, ProfileTable, Share};

/// Collapsed stacks: one `stack count` line each (count = ns of sampled time).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collapsed {
    /// The lines.
    pub lines: Vec<String>,
    /// Samples `perf record` reported writing (0 when unknown).
    pub samples: u64,
}

/// Splits a collapsed line into its stack and its count.
pub(super) fn split_line(line: &str) -> Option<(&str, u64)> {
    let (stack, n) = line.trim_end().rsplit_once(' ')?;
    Some((stack, n.parse().ok()?))
}

impl ProfileTable {
    /// Tallies collapsed stacks by category.
    pub fn from_collapsed(
        c: &Collapsed,
        own_pid: u32,
        cpus: &[usize],
        freq: u32,
        window_s: f64,
        received: u64,
    ) -> ProfileTable {
        let mut by: std::collections::BTreeMap<Category, u64> = Default::default();
        let mut other: std::collections::HashMap<String, u64> = Default::default();
        let mut total = 0u64;
        for (stack, n) in c.lines.iter().filter_map(|l| split_line(l)) {
            let cat = classify(stack, own_pid);
            *by.entry(cat).or_default() += n;
            total += n;
            if cat == Category::OtherKernel {
                let leaf = stack.rsplit(';').next().unwrap_or("?").trim_end_matches("_[k]");
                *other.entry(leaf.to_string()).or_default() += n;
            }
        }
        let idle = by.get(&Category::Idle).copied().unwrap_or(0);
        let busy = total.saturating_sub(idle);
        let pct = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 * 100.0 / of as f64 };
        let shares = Category::ALL
            .iter()
            .filter_map(|cat| by.get(cat).map(|n| (*cat, *n)))
            .map(|(category, ns)| Share {
                category,
                ns,
                percent: pct(ns, total),
                busy_percent: if category.is_idle() { 0.0 } else { pct(ns, busy) },
                ns_per_dgram: (received > 0).then(|| ns as f64 / received as f64),
            })
            .collect();
        let mut other_top: Vec<(String, u64)> = other.into_iter().collect();
        other_top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        other_top.truncate(5);
        let samples = if c.samples > 0 { c.samples } else { c.lines.len() as u64 };
        let mut notes = Vec::new();
        if samples < 500 {
            notes.push(format!(
                "only {samples} samples: shares below about {:.0}% are noise",
                (100.0 / (samples.max(1) as f64).sqrt()).min(100.0)
            ));
        }
        ProfileTable {
            cpus: cpus.to_vec(),
            freq,
            window_s,
            samples,
            total_ns: total,
            received,
            shares,
            other_top,
            notes,
        }
    }

    /// The sum of the shares, percent (100 unless empty).
    pub fn percent_sum(&self) -> f64 {
        self.shares.iter().map(|s| s.percent).sum()
    }

    /// The share of a category, percent (0 when it has no samples).
    pub fn percent_of(&self, c: Category) -> f64 {
        self.shares.iter().find(|s| s.category == c).map_or(0.0, |s| s.percent)
    }

    /// One line saying what was sampled.
    pub fn headline(&self) -> String {
        let cores = if self.cpus.is_empty() {
            "every CPU".to_string()
        } else {
            format!("cores {:?}", self.cpus)
        };
        format!(
            "profile: perf cpu-clock at {} Hz on {cores}, {:.2} s window, {} samples ({:.2} s of CPU time sampled){}",
            self.freq,
            self.window_s,
            self.samples,
            self.total_ns as f64 / 1e9,
            if self.received > 0 {
                format!(", {} datagrams received", self.received)
            } else {
                String::new()
            }
        )
    }
}
