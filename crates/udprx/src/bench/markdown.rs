//! `report.md` and the terminal table.

use super::report::{BenchReport, dur_ns, kpps, percent};
use super::zeroloss::Bound;
use std::fmt::Write;

/// A chart written next to the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// File name inside the output directory.
    pub file: String,
    /// What it shows.
    pub title: String,
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

/// The results table of one setting.
pub fn results_table(report: &BenchReport, setting: usize, markdown: bool) -> String {
    let headers = [
        "path",
        "rx pps (median)",
        "min–max",
        "sent pps",
        "loss (median/max)",
        "drops sock/backlog",
        "app ns/dgram",
        "softirq ns/dgram",
        "reps",
    ];
    let rows: Vec<Vec<String>> = report
        .matrix
        .of_setting(setting)
        .map(|r| {
            let s = &r.summary;
            let errors: Vec<&str> = r.cells.iter().filter_map(|c| c.error.as_deref()).collect();
            let reps = if errors.is_empty() {
                format!("{}", s.reps_ok)
            } else {
                format!("{}/{} ({})", s.reps_ok, r.cells.len(), errors[0])
            };
            if s.reps_ok == 0 {
                return vec![
                    r.label.clone(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    "—".into(),
                    reps,
                ];
            }
            vec![
                r.label.clone(),
                kpps(s.rx_pps_median),
                format!("{}–{}", kpps(s.rx_pps_min), kpps(s.rx_pps_max)),
                kpps(s.sent_pps_median),
                format!("{} / {}", percent(s.loss_median), percent(s.loss_max)),
                format!("{:.0} / {:.0}", s.kernel_drops_median, s.backlog_drops_median),
                format!("{:.0}", s.app_ns_per_dgram),
                format!("{:.0}", s.softirq_ns_per_dgram),
                reps,
            ]
        })
        .collect();
    table(&headers, &rows, markdown)
}

/// Median rx pps of every path under every setting, one column per setting.
pub fn settings_table(report: &BenchReport, markdown: bool) -> String {
    let names: Vec<String> = report.settings.iter().map(|s| s.name.clone()).collect();
    let mut headers: Vec<&str> = vec!["path (median rx pps)"];
    headers.extend(names.iter().map(|s| s.as_str()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for row in &report.plan.rows {
        let mut line = vec![row.label(report.plan.sockets)];
        for s in 0..names.len() {
            let cell = report
                .matrix
                .of_setting(s)
                .find(|r| r.row == *row && r.summary.reps_ok > 0)
                .map(|r| {
                    format!(
                        "{} ({})",
                        kpps(r.summary.rx_pps_median),
                        percent(r.summary.loss_median)
                    )
                })
                .unwrap_or_else(|| "—".into());
            line.push(cell);
        }
        rows.push(line);
    }
    table(&headers, &rows, markdown)
}

fn zero_loss_table(report: &BenchReport, markdown: bool) -> String {
    let rows: Vec<Vec<String>> = report
        .zero_loss
        .iter()
        .map(|z| {
            let rate = z.search.rate.map(|r| kpps(r as f64)).unwrap_or_else(|| "—".into());
            let how = match z.search.bound {
                Bound::Found => format!(
                    "bracketed (fails at {})",
                    z.search.failing_rate.map(|r| kpps(r as f64)).unwrap_or_default()
                ),
                Bound::AboveMax => "≥ this: the sender is the limit".into(),
                Bound::BelowMin => "loses even at the lowest rate".into(),
                Bound::Budget => "trial budget ran out".into(),
                Bound::Aborted => "aborted".into(),
            };
            vec![
                report.settings.get(z.setting).map(|s| s.name.clone()).unwrap_or_default(),
                z.label.clone(),
                rate,
                how,
                z.search.trials.len().to_string(),
            ]
        })
        .collect();
    table(&["setting", "path", "zero-loss pps", "result", "trials"], &rows, markdown)
}

fn latency_table(report: &BenchReport, markdown: bool) -> String {
    let rows: Vec<Vec<String>> = report
        .latency
        .iter()
        .map(|l| {
            let setting =
                report.settings.get(l.setting).map(|s| s.name.clone()).unwrap_or_default();
            match (&l.result, &l.error) {
                (Some(c), _) => {
                    let lat = c.latency.unwrap_or_default();
                    let have = c.latency.is_some();
                    let f = |v: u64| if have { dur_ns(v) } else { "—".into() };
                    vec![
                        setting,
                        l.label.clone(),
                        kpps(l.rate as f64),
                        kpps(c.rx_pps),
                        percent(c.loss_ratio()),
                        f(lat.p50_ns),
                        f(lat.p90_ns),
                        f(lat.p99_ns),
                        f(lat.p999_ns),
                        f(lat.max_ns),
                    ]
                }
                (None, e) => {
                    let mut v = vec![setting, l.label.clone(), kpps(l.rate as f64)];
                    v.push(e.clone().unwrap_or_default());
                    v.extend(std::iter::repeat_n("—".to_string(), 6));
                    v
                }
            }
        })
        .collect();
    table(
        &["setting", "path", "offered pps", "rx pps", "loss", "p50", "p90", "p99", "p99.9", "max"],
        &rows,
        markdown,
    )
}

/// The terminal summary: one results table per setting, then zero-loss and latency.
pub fn terminal(report: &BenchReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nudprx bench — {} ({}), {} × {:.1} s per cell, medians and min–max over repetitions",
        report.topology.kind.name(),
        report.topology.bound,
        report.plan.reps,
        report.plan.secs
    );
    for (i, s) in report.settings.iter().enumerate() {
        let _ = writeln!(out, "\nsetting: {}", s.name);
        out.push_str(&results_table(report, i, false));
    }
    if report.settings.len() > 1 {
        let _ = writeln!(out, "\nsettings side by side: median rx pps (median loss)");
        out.push_str(&settings_table(report, false));
    }
    for c in &report.comparisons {
        let _ = writeln!(out, "\n{}", c.sentence());
    }
    if !report.zero_loss.is_empty() {
        let _ = writeln!(out, "\nzero-loss throughput (RFC 2544 binary search, 1% resolution)");
        out.push_str(&zero_loss_table(report, false));
    }
    if !report.latency.is_empty() {
        let _ = writeln!(
            out,
            "\nlatency at {:.0}% of each path's maximum rate (paced sender)",
            report.config.latency_at.unwrap_or(0.0) * 100.0
        );
        out.push_str(&latency_table(report, false));
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// The Markdown report.
pub fn render(report: &BenchReport, charts: &[ChartFile]) -> String {
    let mut o = String::new();
    let e = &report.env;
    let t = &report.topology;
    let p = &report.plan;
    let _ = writeln!(o, "# udprx bench report\n");
    let _ = writeln!(
        o,
        "Started {} on {}; {} wall time.{}\n",
        e.started_utc,
        e.hostname.as_deref().unwrap_or("?"),
        dur_ns((report.wall_s * 1e9) as u64),
        if report.matrix.interrupted { " **Interrupted: partial results.**" } else { "" }
    );
    let _ = writeln!(o, "**Topology: {}** — {}\n", t.kind.name(), t.bound);

    let _ = writeln!(o, "## Environment\n");
    let mut env_rows = vec![
        vec!["kernel".to_string(), e.kernel.clone()],
        vec!["CPU".into(), e.cpu_model.clone()],
        vec!["cores".into(), format!("{} online, usable {:?}", e.cores, e.usable_cores)],
        vec![
            "virtualized".into(),
            if e.virtualized { "yes (hypervisor flag)".into() } else { "no".into() },
        ],
        vec!["cpufreq governor".into(), e.governor.clone().unwrap_or_else(|| "not exposed".into())],
        vec!["git revision".into(), e.git_revision.clone().unwrap_or_else(|| "unknown".into())],
        vec!["udprx version".into(), e.version.clone()],
        vec!["command".into(), format!("`{}`", e.command.join(" "))],
    ];
    if let Some(v) = &t.veth {
        env_rows.push(vec![
            "namespaces".into(),
            format!("{} → {} ({} → {})", v.tx_ns, v.rx_ns, v.tx_if, v.rx_if),
        ]);
    }
    o.push_str(&table(&["item", "value"], &env_rows, true));
    if !e.mitigations.is_empty() {
        let _ = writeln!(o, "\n<details><summary>CPU vulnerability mitigations</summary>\n");
        for m in &e.mitigations {
            let _ = writeln!(o, "- {m}");
        }
        let _ = writeln!(o, "\n</details>");
    }

    let _ = writeln!(o, "\n## Method\n");
    let _ = writeln!(
        o,
        "- Matrix `{:?}`: {} rows × {} setting(s) × {} repetitions of {:.1} s = {} cells. \
        Cells are interleaved: every repetition runs every row of every setting, in an order rotated from one \
        repetition to the next, so drift (thermal, frequency, neighbours) spreads over all rows instead of biasing one.",
        report.config.size,
        p.rows.len(),
        report.settings.len(),
        p.reps,
        p.secs,
        p.cells()
    );
    let _ = writeln!(
        o,
        "- Sender (udpflood) pinned to cores {:?}; single-socket receivers on {:?}; \
        fan-out receivers: {} `SO_REUSEPORT` sockets, one pinned thread each, on {:?}.",
        p.sender_cpus, p.receiver_cpus_one, p.sockets, p.receiver_cpus_many
    );
    let _ = writeln!(
        o,
        "- Offered rate: {}.",
        p.rate
            .map(|r| format!("{} pps, paced", kpps(r as f64)))
            .unwrap_or_else(|| "unpaced flood (as fast as the sender goes)".into())
    );
    let _ = writeln!(
        o,
        "- Scenarios: **classic** = 18-byte payloads (64-byte frames) over 16 flows, sent with `sendmmsg` \
        batches of 64, no GSO — every datagram crosses the stack alone and GRO cannot help; **gso** = 18-byte segments over 2 flows, \
        the sender hands 64-segment UDP_SEGMENT buffers to the kernel; receivers with and without UDP_GRO."
    );
    let _ = writeln!(
        o,
        "- Figures: *rx pps* = datagrams the receiver counted / receive window, median and min–max over \
        repetitions; *loss* = sequence gaps (or sent − received for peers) / sent; *drops sock/backlog* = socket \
        drops (SO_RXQ_OVFL or the receiving namespace's `RcvbufErrors` delta) / drops on a full per-CPU \
        input backlog (`/proc/net/softnet_stat`, machine-wide); *app ns/dgram* = user + system CPU time of the receiving \
        threads / datagrams received; *softirq ns/dgram* = softirq time of the receiver's cores (`/proc/stat`) / \
        datagrams received. Application system time can include softirq work that interrupted the thread."
    );
    let _ = writeln!(
        o,
        "- Gaps under ~15% between rows are within run-to-run spread on a small VM; see docs/methodology.md."
    );

    let _ = writeln!(o, "\n## Kernel settings\n");
    for s in &report.settings {
        let _ = writeln!(o, "### {}\n", s.name);
        let rows: Vec<Vec<String>> = s
            .in_force
            .iter()
            .map(|(k, v)| {
                vec![format!("`{k}`"), v.value.clone(), format!("{:?}", v.scope).to_lowercase()]
            })
            .collect();
        o.push_str(&table(&["sysctl", "value in force", "scope"], &rows, true));
        let so = &s.profile.sockopts;
        if so.rcvbuf.is_some() || so.busy_poll.is_some() {
            let _ = writeln!(
                o,
                "\nSocket options: SO_RCVBUF {:?}, SO_BUSY_POLL {:?}",
                so.rcvbuf, so.busy_poll
            );
        }
        for n in &s.notes {
            let _ = writeln!(o, "\n- {n}");
        }
        let _ = writeln!(o);
    }

    let _ = writeln!(o, "## Results\n");
    if report.settings.len() > 1 {
        let _ = writeln!(
            o,
            "### Settings side by side\n\nMedian received pps (median loss) of each path under each setting.\n"
        );
        o.push_str(&settings_table(report, true));
        let _ = writeln!(o);
    }
    for (i, s) in report.settings.iter().enumerate() {
        if report.settings.len() > 1 {
            let _ = writeln!(o, "### Setting: {}\n", s.name);
        }
        o.push_str(&results_table(report, i, true));
        let _ = writeln!(o);
    }
    for c in &report.comparisons {
        let setting = if report.settings.len() > 1 {
            format!("[{}] ", report.settings.get(c.setting).map(|s| s.name.as_str()).unwrap_or("?"))
        } else {
            String::new()
        };
        let _ = writeln!(o, "{setting}{}\n", c.sentence());
    }
    for c in charts {
        let _ = writeln!(o, "![{}]({})\n", c.title, c.file);
    }
    if !report.zero_loss.is_empty() {
        let _ = writeln!(o, "## Zero-loss throughput\n");
        let _ = writeln!(
            o,
            "Binary search (RFC 2544) per path for the highest paced rate received without any loss \
            or kernel drop over a {:.1} s trial, from 1% to 100% of the rate the unpaced sender reached, to 1% resolution; \
            the final rate is confirmed by a second trial.\n",
            p.secs
        );
        o.push_str(&zero_loss_table(report, true));
        let _ = writeln!(o);
    }
    if !report.latency.is_empty() {
        let _ = writeln!(
            o,
            "## Latency at {:.0}% load\n",
            report.config.latency_at.unwrap_or(0.0) * 100.0
        );
        let _ = writeln!(
            o,
            "One-way latency (send timestamp → application) with a paced sender at a fixed fraction of each \
            path's maximum rate (its zero-loss rate when searched, else its median received rate). At saturation latency \
            is only queueing, so it is measured below it.\n"
        );
        o.push_str(&latency_table(report, true));
        let _ = writeln!(o);
    }
    if !report.notes.is_empty() {
        let _ = writeln!(o, "## Notes\n");
        for n in &report.notes {
            let _ = writeln!(o, "- {n}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["a", "bb"], &[vec!["xxx".into(), "1".into()]], false);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "a    bb");
        assert_eq!(lines[1], "-------");
        assert_eq!(lines[2], "xxx   1");
        let m = table(&["a", "b"], &[vec!["1".into(), "2".into()]], true);
        assert!(m.starts_with("| a | b |\n|---|---:|\n| 1 | 2 |"));
    }
}
