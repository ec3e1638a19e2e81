//! How durations and counts are printed, shared by the live line ([`crate::stats`]), the
//! report table ([`crate::report::render`]) and the bench report: the lowest layer of the
//! crate, so every printer uses it without reaching up.

/// A duration in ns with a unit that keeps 3 significant digits: `850ns`, `25.0µs`, `1.23ms`,
/// `2.50s`.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.*}µs", prec(v / 1e3), v / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.*}ms", prec(v / 1e6), v / 1e6)
    } else {
        format!("{:.*}s", prec(v / 1e9), v / 1e9)
    }
}

fn prec(x: f64) -> usize {
    if x >= 100.0 {
        0
    } else if x >= 10.0 {
        1
    } else {
        2
    }
}

/// A count with thousands separators: `1234567` → `1,234,567`.
pub fn fmt_count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
