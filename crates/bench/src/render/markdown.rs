//! `report.md` and the terminal table.

use crate::median;
use crate::model::curve::Series;
use crate::model::report::{BaselineComparison, BenchReport};
use crate::render::svg::bars::ChartFile;
use crate::stats::search::{Bound, Bracket};
pub use crate::text::table;
use crate::text::{kpps, ns_text, percent, rate_text, ratio_text};
use std::fmt::Write;
use udprx_stats::units::fmt_ns;

/// `—` for a missing figure.
fn dash() -> String {
    "—".into()
}

fn bracket_text(b: &Bracket) -> String {
    match (b.lo, b.hi, b.bound) {
        (Some(l), _, Bound::AboveMax) => format!("≥ {}", kpps(l as f64)),
        // A single search's bracket is not a confidence interval: labelled as a bracket.
        (Some(l), Some(h), Bound::Found) => {
            format!(
                "{} (one search: bracket {}–{})",
                kpps(l as f64),
                kpps(l as f64),
                kpps(h as f64)
            )
        }
        (Some(l), Some(h), _) => {
            format!(
                "{} (one search: bracket {}–{})*",
                kpps(l as f64),
                kpps(l as f64),
                kpps(h as f64)
            )
        }
        (Some(l), None, _) => kpps(l as f64),
        (None, _, Bound::BelowMin) => "< lowest rate".into(),
        _ => dash(),
    }
}

fn errors_of(s: &Series) -> Option<String> {
    s.points.iter().flat_map(|p| p.trials.iter()).find_map(|t| t.error.clone())
}

/// The figures of every path of one setting: peak, NDR, PDR, livelock ratio, CPU at the common
/// rate.
pub fn results_table(report: &BenchReport, setting: usize, markdown: bool) -> String {
    let headers = [
        "path",
        "peak rx pps [95% CI]",
        "NDR pps [95% CI]",
        "PDR 0.5% [95% CI]",
        "livelock",
        "rx-side CPU ns/dgram @ common",
        "app ns/dgram",
        "softirq ns/dgram",
        "p99 @ common",
        "trials",
    ];
    let rows: Vec<Vec<String>> = report
        .curves
        .series
        .iter()
        .filter(|s| s.setting == setting)
        .map(|s| {
            let f = &s.figures;
            if f.peak.is_none() {
                let why = errors_of(s).unwrap_or_else(|| "no result".into());
                return vec![
                    s.label.clone(),
                    format!("failed: {why}"),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    dash(),
                    s.trials().to_string(),
                ];
            }
            vec![
                s.label.clone(),
                f.peak.as_ref().map(rate_text).unwrap_or_else(dash),
                match (f.ndr_est, f.ndr) {
                    (Some(i), Some(b)) if i.n >= 2 && b.bound != Bound::AboveMax => rate_text(&i),
                    (_, b) => b.as_ref().map(bracket_text).unwrap_or_else(dash),
                },
                match (f.pdr_est, f.pdr) {
                    (Some(i), Some(b)) if i.n >= 2 && b.bound != Bound::AboveMax => rate_text(&i),
                    (_, b) => b.as_ref().map(bracket_text).unwrap_or_else(dash),
                },
                f.livelock_ratio.map(|r| format!("{r:.2}")).unwrap_or_else(dash),
                f.cpu_ns.as_ref().map(ns_text).unwrap_or_else(dash),
                f.app_ns.map(|i| format!("{:.0}", i.est)).unwrap_or_else(dash),
                f.softirq_ns.map(|i| format!("{:.0}", i.est)).unwrap_or_else(dash),
                f.latency.map(|l| fmt_ns(l.p99)).unwrap_or_else(dash),
                s.trials().to_string(),
            ]
        })
        .collect();
    table(&headers, &rows, markdown)
}

/// Every point of every curve: offered, sent, received, loss, drops, CPU, latency.
pub fn curve_table(report: &BenchReport, markdown: bool) -> String {
    let multi = report.settings.len() > 1;
    let mut rows = Vec::new();
    for s in &report.curves.series {
        for p in &s.points {
            let n = p.n();
            if n == 0 {
                continue;
            }
            let med = |f: &dyn Fn(&crate::CellResult) -> f64| median(&p.samples(f)).unwrap_or(0.0);
            let lat: Vec<f64> =
                p.trials.iter().filter_map(|t| t.usable()?.latency).map(|l| l.p50 as f64).collect();
            let lat99: Vec<f64> =
                p.trials.iter().filter_map(|t| t.usable()?.latency).map(|l| l.p99 as f64).collect();
            let label = if multi {
                format!(
                    "[{}] {}",
                    report.settings.get(s.setting).map_or("?", |x| x.name.as_str()),
                    s.label
                )
            } else {
                s.label.clone()
            };
            rows.push(vec![
                label,
                p.rate.map(|r| kpps(r as f64)).unwrap_or_else(|| "max (unpaced)".into()),
                kpps(med(&|c| c.sent_pps)),
                kpps(p.rx_median()),
                percent(p.loss_median().unwrap_or(0.0)),
                format!("{:.0}", med(&|c| c.kernel_drops as f64)),
                format!("{:.0}", med(&|c| c.cpu.app_ns_per_dgram)),
                format!("{:.0}", med(&|c| c.cpu.softirq_ns_per_dgram)),
                median(&lat).map(|v| fmt_ns(v as u64)).unwrap_or_else(dash),
                median(&lat99).map(|v| fmt_ns(v as u64)).unwrap_or_else(dash),
                n.to_string(),
            ]);
        }
    }
    table(
        &[
            "path",
            "offered",
            "sent pps",
            "rx pps",
            "loss",
            "sock drops",
            "app ns",
            "softirq ns",
            "p50",
            "p99",
            "n",
        ],
        &rows,
        markdown,
    )
}

/// Every pairwise verdict.
pub fn verdict_table(report: &BenchReport, markdown: bool) -> String {
    let rows: Vec<Vec<String>> = report
        .verdicts
        .iter()
        .map(|v| {
            vec![
                v.scenario.name().to_string(),
                v.a.clone(),
                v.b.clone(),
                v.figure.name().to_string(),
                ratio_text(&v.ratio),
                v.call.words().to_string(),
            ]
        })
        .collect();
    table(&["scenario", "A", "B", "figure", "A / B [interval]", "verdict for A"], &rows, markdown)
}

/// Peak and NDR of every path under every setting, one column per setting.
pub fn settings_table(report: &BenchReport, markdown: bool) -> String {
    let names: Vec<String> = report.settings.iter().map(|s| s.name.clone()).collect();
    let mut headers: Vec<&str> = vec!["path (peak rx / NDR)"];
    headers.extend(names.iter().map(|s| s.as_str()));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for row in &report.plan.rows {
        let mut line = vec![row.label(report.plan.sockets)];
        for s in 0..names.len() {
            let cell = report
                .curves
                .series
                .iter()
                .find(|x| x.row == *row && x.setting == s)
                .and_then(|x| {
                    let pk = x.figures.peak?;
                    Some(format!(
                        "{} / {}",
                        kpps(pk.est),
                        x.figures
                            .ndr
                            .and_then(|b| b.lo)
                            .map(|l| kpps(l as f64))
                            .unwrap_or_else(dash)
                    ))
                })
                .unwrap_or_else(dash);
            line.push(cell);
        }
        rows.push(line);
    }
    table(&headers, &rows, markdown)
}

fn latency_table(report: &BenchReport, markdown: bool) -> String {
    let rows: Vec<Vec<String>> = report
        .curves
        .series
        .iter()
        .filter_map(|s| {
            let p = s.latency.as_ref()?;
            let setting =
                report.settings.get(s.setting).map(|x| x.name.clone()).unwrap_or_default();
            let t = p.trials.iter().find(|t| t.usable().is_some()).or(p.trials.first())?;
            Some(match (&t.result, &t.error) {
                (Some(c), _) => {
                    let lat = c.latency.unwrap_or_default();
                    let have = c.latency.is_some();
                    let f = |v: u64| if have { fmt_ns(v) } else { dash() };
                    vec![
                        setting,
                        s.label.clone(),
                        p.rate.map(|r| kpps(r as f64)).unwrap_or_else(dash),
                        kpps(c.rx_pps),
                        percent(c.loss_ratio()),
                        f(lat.p50),
                        f(lat.p90),
                        f(lat.p99),
                        f(lat.p999),
                        f(lat.max),
                    ]
                }
                (None, e) => {
                    let mut v = vec![
                        setting,
                        s.label.clone(),
                        p.rate.map(|r| kpps(r as f64)).unwrap_or_else(dash),
                    ];
                    v.push(e.clone().unwrap_or_default());
                    v.extend(std::iter::repeat_n(dash(), 6));
                    v
                }
            })
        })
        .collect();
    table(
        &["setting", "path", "offered pps", "rx pps", "loss", "p50", "p90", "p99", "p99.9", "max"],
        &rows,
        markdown,
    )
}

/// The terminal summary: the Answer, then the figures of each setting.
pub fn terminal(report: &BenchReport) -> String {
    let mut out = String::new();
    let c = &report.curves;
    let _ = writeln!(
        out,
        "\nudprx bench — {} ({}); {} trials in {:.0} s",
        report.topology.kind.name(),
        report.topology.bound,
        c.trials,
        c.secs
    );
    let _ = writeln!(out, "\nAnswer");
    for a in &report.answer {
        let _ = writeln!(out, "- {}", a.replace("**", "").replace('`', ""));
    }
    for (i, s) in report.settings.iter().enumerate() {
        let _ = writeln!(out, "\nsetting: {}", s.name);
        out.push_str(&results_table(report, i, false));
    }
    if report.settings.len() > 1 {
        let _ = writeln!(out, "\nsettings side by side: peak rx pps / NDR");
        out.push_str(&settings_table(report, false));
    }
    for cmp in &report.comparisons {
        let _ = writeln!(out, "\n{}", cmp.sentence());
    }
    if !report.twins.is_empty() {
        let _ =
            writeln!(out, "\nudprx against its bare C twin (the same receive calls, nothing else)");
        out.push_str(&twins_table(report, false));
    }
    if let Some(p) = &report.profile {
        let _ = writeln!(
            out,
            "\nwhere the receive cores' time went (perf cpu-clock, one extra trial per path; share of sampled time · ns per datagram)"
        );
        out.push_str(&p.render(false));
    }
    if report.curves.series.iter().any(|s| s.latency.is_some()) {
        let _ = writeln!(
            out,
            "\nlatency at {:.0}% of each path's NDR (paced sender)",
            report.config.curve.latency_at.unwrap_or(0.0) * 100.0
        );
        out.push_str(&latency_table(report, false));
    }
    if let Some(b) = &report.baseline {
        let _ = writeln!(out);
        out.push_str(&comparison(b, false));
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
    let c = &report.curves;
    let cfg = &report.config.curve;
    let _ = writeln!(o, "# udprx bench report\n");
    let _ = writeln!(
        o,
        "Started {} on {} ({}); {} wall time.{}\n",
        e.started_utc,
        e.hostname.as_deref().unwrap_or("?"),
        e.cpu_model,
        fmt_ns((report.wall_s * 1e9) as u64),
        if c.interrupted { " **Interrupted: partial results.**" } else { "" }
    );
    let _ = writeln!(o, "**Topology: {}** — {}\n", t.kind.name(), t.bound);

    let _ = writeln!(o, "## Answer\n");
    for a in &report.answer {
        let _ = writeln!(o, "{a}\n");
    }
    for ch in
        charts.iter().filter(|c| c.file.starts_with("livelock-") || c.file.starts_with("overload-"))
    {
        let _ = writeln!(o, "![{}]({})\n", ch.title, ch.file);
    }

    let _ = writeln!(o, "## Results\n");
    let _ = writeln!(
        o,
        "*peak* = highest median received rate over the curve, with the 95% interval of that point; *NDR* = highest \
        offered rate received with no loss or kernel drop, *PDR* = with at most 0.5% lost: the mean of each path's \
        searches' lower bounds with its 95% interval (with a single search, its bracket highest pass–lowest failure, \
        labelled as such, `*` when the trial budget ended it before the bracket reached {:.0}%; `≥` when the top rate passed). \
        Intervals stay inside physics: never above the offered rate (a search bound never above the path's highest \
        received rate) nor below zero; with fewer than 3 samples the observed range is shown (\"n=2: range\"); an \
        interval wider than its estimate is shown as \"not resolved here\"; \
        *livelock* = received rate at the top offered rate (the unpaced flood) / peak; CPU and latency at the common \
        paced rate of the scenario ({}).\n",
        cfg.resolution * 100.0,
        c.common_rates
            .iter()
            .map(|(s, r)| format!("{} {} pps", s.name(), kpps(*r as f64)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if report.settings.len() > 1 {
        let _ = writeln!(o, "### Settings side by side\n");
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
    if let Some(p) = &report.profile {
        let _ = writeln!(o, "## Where the time goes\n");
        let _ = writeln!(
            o,
            "`--profile`: one extra trial per path at the scenario's common paced rate, after the curves (perf's \
            overhead is not in any figure above), sampled by `perf record -e cpu-clock` at {} Hz on the receiver's \
            cores. Each cell: share of the sampled time on those cores · sampled time per received datagram. The \
            categories are defined by function-name patterns (see docs/methodology.md); the flame graphs show the \
            stacks.\n",
            p.freq
        );
        o.push_str(&p.render(true));
        let _ = writeln!(o);
    }
    for cmp in &report.comparisons {
        let setting = if report.settings.len() > 1 {
            format!(
                "[{}] ",
                report.settings.get(cmp.setting).map(|s| s.name.as_str()).unwrap_or("?")
            )
        } else {
            String::new()
        };
        let _ = writeln!(o, "{setting}{}\n", cmp.sentence());
    }
    if !report.twins.is_empty() {
        let _ = writeln!(
            o,
            "**udprx against its bare C twin.** Each udprx path beside the C loop that makes the same receive calls and only counts \
            (`peers/c/udp_bare.c`): above 1× on CPU is udprx's own cost (its statistics; on `+sources` rows also the source \
            address and the drop counter it asks for with every datagram), measured on the whole receive side and for the \
            receiving program alone, at the common paced rate.\n"
        );
        o.push_str(&twins_table(report, true));
        let _ = writeln!(o);
    }
    for ch in charts.iter().filter(|c| {
        !c.file.starts_with("livelock-")
            && !c.file.starts_with("overload-")
            && !c.file.starts_with("fanout-sweep")
    }) {
        let _ = writeln!(o, "![{}]({})\n", ch.title, ch.file);
    }
    if !report.verdicts.is_empty() {
        let _ = writeln!(o, "### Verdicts\n");
        let _ = writeln!(
            o,
            "Every pair of paths (and every setting against the first) on each headline figure. Ratios of peak and \
            CPU carry Welch's 95% interval on the log scale over the repetitions, NDR ratios the same over the repeated \
            searches (with one search each there is no interval and no call, unless one path took the sender's top rate). A pair is called faster or slower only when the whole interval lies more than {:.0}% from 1.\n",
            crate::stats::interval::MIN_EFFECT * 100.0
        );
        o.push_str(&verdict_table(report, true));
        let _ = writeln!(o);
    }
    if let Some(b) = &report.baseline {
        let _ = writeln!(o, "## Against the baseline\n");
        o.push_str(&comparison(b, true));
        let _ = writeln!(o);
    }
    if report.curves.series.iter().any(|s| s.latency.is_some()) {
        let _ = writeln!(o, "## Latency at {:.0}% of NDR\n", cfg.latency_at.unwrap_or(0.0) * 100.0);
        o.push_str(&latency_table(report, true));
        let _ = writeln!(o);
    }
    if let Some(sw) = &report.fanout_sweep {
        o.push_str(&fanout_sweep_section(sw, charts));
    }
    let _ = writeln!(o, "## Curves\n");
    let _ = writeln!(
        o,
        "<details><summary>Every point of every curve (medians over the point's usable trials)</summary>\n"
    );
    o.push_str(&curve_table(report, true));
    let _ = writeln!(o, "\n</details>\n");

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
    env_rows.push(vec![
        "noise floor".into(),
        match c.noise_floor {
            Some(v) => format!(
                "±{:.1}% (CV of CPU ns/datagram over the repeated common-rate points); {} of {} trials disturbed and repeated",
                v * 100.0,
                c.disturbed,
                c.trials
            ),
            None => format!("not measured; {} of {} trials disturbed and repeated", c.disturbed, c.trials),
        },
    ]);
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
        "- Offered-load curves: per scenario one unpaced trial per path sets the top of the grid (the median rate \
        the unpaced sender reached: {}); the grid is {} of it, every path at the same rates, interleaved; {} point(s) are \
        added inside each path's knee. The points behind the headline figures (peak, top, common rate) are repeated to at \
        least {} trials and, while the {:.0} s budget lasts, until their 95% interval is within ±{:.0}% (at most {}). \
        Trials last {:.1} s; the NDR/PDR search (MLRsearch-style, {:.0}% resolution, at most {} trials) grows them to {:.1} s \
        as its brackets narrow and confirms each lower bound at that length.",
        c.ceilings
            .iter()
            .map(|(s, r)| format!("{} {} pps", s.name(), kpps(*r)))
            .collect::<Vec<_>>()
            .join(", "),
        if cfg.fractions.is_empty() {
            "a single point".to_string()
        } else {
            format!("{:?}", cfg.fractions)
        },
        cfg.refine,
        cfg.min_reps,
        cfg.budget_secs,
        cfg.ci_target * 100.0,
        cfg.max_reps,
        cfg.trial_secs,
        cfg.resolution * 100.0,
        cfg.search_trials,
        cfg.final_secs,
    );
    let _ = writeln!(
        o,
        "- Noise: each trial records the steal time of the receiver's cores and the receive threads' involuntary \
        context switches and migrations; {} of {} trials were disturbed beyond the thresholds (steal > {:.0}%, > {:.0} \
        preemptions/s, > {} migrations) and repeated. Noise floor: {}.",
        c.disturbed,
        c.trials,
        cfg.noise.max_steal_share * 100.0,
        cfg.noise.max_involuntary_per_s,
        cfg.noise.max_migrations,
        c.noise_floor
            .map(|v| format!("±{:.1}% (median coefficient of variation of CPU ns/datagram at the repeated common-rate point)", v * 100.0))
            .unwrap_or_else(|| "not measured (too few repetitions)".into())
    );
    let _ = writeln!(
        o,
        "- Sender (udpflood) pinned to cores {:?}; single-socket receivers on {:?}; \
        fan-out receivers: {} `SO_REUSEPORT` sockets, one pinned thread each, on {:?}.",
        p.sender_cpus, p.receiver_cpus_one, p.sockets, p.receiver_cpus_many
    );
    for s in &p.skipped {
        let _ = writeln!(o, "- Left out: `{}` — {}.", s.label, s.reason);
    }
    let _ = writeln!(
        o,
        "- Scenarios: **classic** = 18-byte payloads (64-byte frames) over 16 flows, sent with `sendmmsg` \
        batches of 64, no GSO — every datagram crosses the stack alone and GRO cannot help; **gso** = 18-byte segments over 2 flows, \
        the sender hands 64-segment UDP_SEGMENT buffers to the kernel."
    );
    let _ = writeln!(
        o,
        "- Figures: *rx pps* = datagrams the receiver counted / send window; *loss* = (sequence gaps or sent − received, \
        or kernel drops if more) / sent; *app ns/dgram* = user + system CPU time of the receiving threads / datagrams \
        received; *softirq ns/dgram* = softirq time of the receiver's cores (`/proc/stat`) / datagrams received. \
        Application system time can include softirq work that interrupted the thread. See docs/methodology.md."
    );
    let _ = writeln!(o, "\n## Kernel settings\n");
    for s in &report.settings {
        let _ = writeln!(o, "### {}\n", s.name);
        let rows = |nic: bool| -> Vec<Vec<String>> {
            s.in_force
                .iter()
                .filter(|(k, _)| k.starts_with("nic.") == nic)
                .map(|(k, v)| {
                    vec![format!("`{k}`"), v.value.clone(), format!("{:?}", v.scope).to_lowercase()]
                })
                .collect()
        };
        o.push_str(&table(&["sysctl", "value in force", "scope"], &rows(false), true));
        let nic = rows(true);
        if !nic.is_empty() {
            let _ =
                writeln!(o, "\nNIC settings of the receiving interface (`--nic`, read back):\n");
            o.push_str(&table(&["NIC setting", "value in force", "scope"], &nic, true));
        }
        let so = &s.profile.sockopts;
        if so.rcvbuf.is_some() || so.busy_poll.is_some() {
            let _ = writeln!(
                o,
                "\nSocket options: SO_RCVBUF {:?}, SO_BUSY_POLL {:?}",
                so.rcvbuf, so.busy_poll
            );
        }
        if so.prefer_busy_poll.is_some() || so.busy_poll_budget.is_some() {
            let _ = writeln!(
                o,
                "\nBusy-poll options: SO_PREFER_BUSY_POLL {:?}, SO_BUSY_POLL_BUDGET {:?} (with \
                 busy_poll, also the epoll rows' EPIOCSPARAMS)",
                so.prefer_busy_poll.map(u8::from),
                so.busy_poll_budget
            );
        }
        if let Some(mode) = so.stats {
            let _ = writeln!(o, "\nStatistics: {mode:?}");
        }
        for n in &s.notes {
            let _ = writeln!(o, "\n- {n}");
        }
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

/// `## Fan-out sweep`: the chart, one row per path and socket count, what did not fit.
pub fn fanout_sweep_section(sw: &crate::model::sweep::FanoutSweep, charts: &[ChartFile]) -> String {
    use crate::stats::interval::Interval;
    let mut o = String::new();
    let _ = writeln!(o, "## Fan-out sweep\n");
    let _ = writeln!(
        o,
        "`--fanout sweep`: the udprx paths with 1 socket, then with hash and by-CPU steering at 2, 4, … \
        sockets (one pinned thread and core each), each count a full run of the curves. *Scaling \
        efficiency* = rate(N) / (N · rate(1)), its interval the conservative ratio of the two intervals; \
        *per-socket share* = max / mean of the datagrams each socket received (1 = even, N = everything \
        on one socket), geometric mean over the trials with its 95% interval.\n"
    );
    for ch in charts.iter().filter(|c| c.file.starts_with("fanout-sweep")) {
        let _ = writeln!(o, "![{}]({})\n", ch.title, ch.file);
    }
    let iv = |i: &Option<Interval>, f: &dyn Fn(f64) -> String| match i {
        None => dash(),
        Some(i) => match (i.lo, i.hi) {
            (Some(lo), Some(hi)) => format!("{} [{}, {}]", f(i.est), f(lo), f(hi)),
            _ => format!("{} (n={})", f(i.est), i.n),
        },
    };
    let pct = |v: f64| format!("{:.0}%", v * 100.0);
    let x2 = |v: f64| format!("{v:.2}");
    let pps = |v: f64| kpps(v);
    let rows: Vec<Vec<String>> = sw
        .points
        .iter()
        .map(|p| {
            vec![
                p.base.clone(),
                p.sockets.to_string(),
                p.fanout.name().to_string(),
                iv(&p.peak, &pps),
                iv(&p.ndr, &pps),
                p.ideal_peak.map(kpps).unwrap_or_else(dash),
                iv(&p.peak_efficiency, &pct),
                iv(&p.ndr_efficiency, &pct),
                iv(&p.share, &x2),
            ]
        })
        .collect();
    o.push_str(&table(
        &[
            "path (1 socket)",
            "sockets",
            "steering",
            "aggregate peak pps",
            "NDR pps",
            "ideal N·peak(1)",
            "efficiency (peak)",
            "efficiency (NDR)",
            "per-socket share",
        ],
        &rows,
        true,
    ));
    for line in crate::render::svg::fanout::caveats(sw) {
        let _ = writeln!(o, "\n- {line}");
    }
    let _ = writeln!(o);
    o
}

/// The comparison as text (Markdown when `markdown`).
pub fn comparison(c: &BaselineComparison, markdown: bool) -> String {
    let mut rows = Vec::new();
    for v in &c.verdicts {
        rows.push(vec![
            v.a.trim_end_matches(&format!(" ({})", c.b)).to_string(),
            v.figure.name().to_string(),
            crate::text::ratio_text(&v.ratio),
            v.call.words().to_string(),
            v.limited_by.clone().unwrap_or_else(dash),
        ]);
    }
    let drift = |name: &str, d: &Option<crate::model::curve::Drift>| match d {
        Some(d) => format!(
            "{name} drifted {:+.1}% (s.e. {:.1}%) from its start to its end ({} repeated points)",
            (d.slope.exp() - 1.0) * 100.0,
            d.se * 100.0,
            d.points
        ),
        None => format!(
            "{name}: drift not measured (fewer than two points repeated at least twice, or a report from before udprx-bench/3), so its calls rest on the {:.0}% margin alone",
            crate::stats::interval::MIN_EFFECT * 100.0
        ),
    };
    let mut out = format!(
        "{} against {} (ratio {} / {}); {}; {}. A call needs the whole interval beyond the larger of {:.0}% and both drifts.\n\n",
        c.b,
        c.a,
        c.b,
        c.a,
        drift(&c.a, &c.drift_a),
        drift(&c.b, &c.drift_b),
        crate::stats::interval::MIN_EFFECT * 100.0
    );
    out.push_str(&crate::text::table(
        &["path", "figure", "ratio [95% interval]", "verdict", "limited by"],
        &rows,
        markdown,
    ));
    for u in &c.unmatched {
        out.push_str(&format!("\nnot compared: {u}"));
    }
    if !c.warnings.is_empty() {
        out.push_str(
            "\n\nThe environments differ (figures may differ for these reasons as well):\n",
        );
        for w in &c.warnings {
            out.push_str(&format!("- {w}\n"));
        }
    }
    out
}

/// The twins table: one row per udprx path with a bare C twin (setting-prefixed with several).
fn twins_table(report: &BenchReport, markdown: bool) -> String {
    let multi = report.settings.len() > 1;
    let rows: Vec<Vec<String>> = report
        .twins
        .iter()
        .map(|t| {
            let mut c = t.cells();
            if multi {
                let name = report.settings.get(t.setting).map(|s| s.name.as_str()).unwrap_or("?");
                c[0] = format!("[{name}] {}", c[0]);
            }
            c
        })
        .collect();
    crate::text::table(&crate::text::TWIN_HEADERS, &rows, markdown)
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
