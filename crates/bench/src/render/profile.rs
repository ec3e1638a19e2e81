//! Profile tables as text: one path's table, several side by side, and a run's section.

use crate::model::profile::{Category, ProfileRun, ProfileTable};
use std::fmt::Write as _;

impl ProfileTable {
    /// The terminal (or Markdown) table.
    pub fn render(&self, markdown: bool) -> String {
        let headers = ["category", "share", "of busy", "ns/dgram"];
        let mut rows: Vec<Vec<String>> = self
            .shares
            .iter()
            .map(|s| {
                vec![
                    s.category.label().to_string(),
                    format!("{:.1}%", s.percent),
                    if s.category.is_idle() {
                        "-".into()
                    } else {
                        format!("{:.1}%", s.busy_percent)
                    },
                    s.ns_per_dgram.map_or("-".into(), |v| format!("{v:.0}")),
                ]
            })
            .collect();
        let busy: f64 =
            self.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.percent).sum();
        let busy_ns: u64 = self.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.ns).sum();
        rows.push(vec![
            "busy (all but idle)".into(),
            format!("{busy:.1}%"),
            "100.0%".into(),
            if self.received > 0 {
                format!("{:.0}", busy_ns as f64 / self.received as f64)
            } else {
                "-".into()
            },
        ]);
        crate::text::table(&headers, &rows, markdown)
    }
}

/// A side-by-side table of several profiles: one row per category, one column per path,
/// `share% · ns/dgram` in each cell.
pub fn side_by_side(paths: &[(String, &ProfileTable)], markdown: bool) -> String {
    let mut headers = vec!["category".to_string()];
    headers.extend(paths.iter().map(|(l, _)| l.clone()));
    let cats: Vec<Category> = Category::ALL
        .into_iter()
        .filter(|c| paths.iter().any(|(_, t)| t.shares.iter().any(|s| s.category == *c)))
        .collect();
    let cell = |t: &ProfileTable, c: Category| -> String {
        match t.shares.iter().find(|s| s.category == c) {
            None => "-".into(),
            Some(s) => match s.ns_per_dgram {
                Some(n) if !c.is_idle() => format!("{:.1}% · {n:.0} ns", s.percent),
                _ => format!("{:.1}%", s.percent),
            },
        }
    };
    let mut rows: Vec<Vec<String>> = cats
        .iter()
        .map(|c| {
            let mut r = vec![c.label().to_string()];
            r.extend(paths.iter().map(|(_, t)| cell(t, *c)));
            r
        })
        .collect();
    let mut busy = vec!["busy (all but idle)".to_string()];
    for (_, t) in paths {
        let pct: f64 = t.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.percent).sum();
        let ns: u64 = t.shares.iter().filter(|s| !s.category.is_idle()).map(|s| s.ns).sum();
        busy.push(if t.received > 0 {
            format!("{pct:.1}% · {:.0} ns", ns as f64 / t.received as f64)
        } else {
            format!("{pct:.1}%")
        });
    }
    rows.push(busy);
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut out = crate::text::table(&h, &rows, markdown);
    let mut tops = String::new();
    for (l, t) in paths {
        if !t.other_top.is_empty() {
            let list: Vec<String> = t
                .other_top
                .iter()
                .map(|(f, ns)| format!("{f} {:.1}%", *ns as f64 * 100.0 / t.total_ns.max(1) as f64))
                .collect();
            let bullet = if markdown { "- " } else { "" };
            let _ = writeln!(tops, "{bullet}other kernel, {l}: {}", list.join(", "));
        }
    }
    if !tops.is_empty() {
        out.push('\n');
        out.push_str(&tops);
    }
    out
}

impl ProfileRun {
    /// The tables side by side (Markdown or terminal), with the reason when there are none.
    pub fn render(&self, markdown: bool) -> String {
        let mut out = String::new();
        if let Some(why) = &self.unavailable {
            let _ = writeln!(out, "profile: not sampled: {why}");
            return out;
        }
        let tables: Vec<(String, &ProfileTable)> = self
            .paths
            .iter()
            .filter_map(|p| p.table.as_ref().map(|t| (p.label.clone(), t)))
            .collect();
        if !tables.is_empty() {
            out.push_str(&side_by_side(&tables, markdown));
        }
        if markdown {
            out.push('\n');
        }
        for p in &self.paths {
            let rate = p
                .rate
                .map_or("unpaced".to_string(), |r| format!("{} pps", crate::text::kpps(r as f64)));
            match (&p.table, &p.error) {
                (Some(t), _) => {
                    let _ = writeln!(
                        out,
                        "{}{}: {rate} offered, {:.2} s sampled on cores {:?}, {} samples{}{}{}",
                        if markdown { "- " } else { "" },
                        p.label,
                        t.window_s,
                        t.cpus,
                        t.samples,
                        p.rx_pps.map_or(String::new(), |r| format!(
                            ", received {} pps",
                            crate::text::kpps(r)
                        )),
                        p.svg.as_ref().map_or(String::new(), |f| {
                            if markdown {
                                format!(", [flame graph]({f})")
                            } else {
                                format!(", flame graph {f}")
                            }
                        }),
                        if t.notes.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", t.notes.join("; "))
                        }
                    );
                }
                (None, e) => {
                    let _ = writeln!(
                        out,
                        "{}{}: not profiled: {}",
                        if markdown { "- " } else { "" },
                        p.label,
                        e.as_deref().unwrap_or("no result")
                    );
                }
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "{}note: {n}", if markdown { "- " } else { "" });
        }
        out
    }
}
