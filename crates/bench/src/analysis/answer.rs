//! Verdicts and the Answer: every pair of paths in a scenario compared on each headline figure
//! (peak received rate, NDR, CPU ns per datagram at the common paced rate), each kernel setting
//! compared with the first, and the plain-words Answer that opens the report.
//!
//! Ratios of repeated figures carry the Welch 95% interval of [`crate::stats::interval`]; NDR ratios
//! carry the hard bounds of the two search brackets. A pair is called "faster" or "slower" only
//! when the whole interval lies beyond [`interval::MIN_EFFECT`] on one side of 1.

use crate::Scenario;
use crate::analysis::figures::bounds_of;
use crate::model::curve::{CurveRun, Limit, Series};
use crate::model::report::{PeerComparison, TwinOverhead};
pub use crate::model::verdict::{Figure, PairVerdict};
use crate::stats::interval::{self, Call, Interval};
use crate::stats::search::Bound;
use crate::text::{kpps, ns_text, rate_text, ratio_text, share_text};

/// The samples behind a repeated figure of a series.
pub fn samples(s: &Series, f: Figure) -> Vec<f64> {
    match f {
        Figure::Peak => crate::analysis::figures::peak_point(s).map(|p| p.rx()).unwrap_or_default(),
        Figure::Cpu => s
            .figures
            .common_rate
            .and_then(|c| s.point(Some(c)))
            .map(|p| p.samples(|c| c.cpu.whole_ns_per_dgram()))
            .unwrap_or_default(),
        Figure::Ndr => Vec::new(),
    }
}

/// A / B on one figure, with the call.
pub fn compare(a: &Series, b: &Series, f: Figure) -> Option<(Interval, Call)> {
    match f {
        Figure::Peak | Figure::Cpu => {
            let r = interval::ratio(&samples(a, f), &samples(b, f))?;
            let c = interval::call(&r, f.higher_is_better(), interval::MIN_EFFECT);
            Some((r, c))
        }
        Figure::Ndr => {
            // Repeated searches: the Welch interval of their lower bounds.
            let (sa, sb) = (bounds_of(a, |r| r.ndr), bounds_of(b, |r| r.ndr));
            if sa.len() >= 2 && sb.len() >= 2 {
                let r = interval::ratio(&sa, &sb)?;
                let c = interval::call(&r, true, interval::MIN_EFFECT);
                return Some((r, c));
            }
            // One search each: the brackets bound the ratio, but a single search's NDR varies
            // between runs far more than its bracket (it is set by rare stalls), so no call is
            // made from it — except where one path took the sender's top rate and the other
            // failed well below it.
            let (x, y) = (a.figures.ndr?, b.figures.ndr?);
            let (xl, yl) = (x.lo? as f64, y.lo? as f64);
            let xh = x.hi.map(|h| h as f64);
            let yh = y.hi.map(|h| h as f64);
            let mid = |l: f64, h: Option<f64>| h.map_or(l, |h| (l * h).sqrt());
            let est = mid(xl, xh) / mid(yl, yh);
            let lo = yh.map(|h| xl / h);
            let hi = xh.map(|h| h / yl);
            let c = match (x.bound, y.bound) {
                (Bound::AboveMax, b) if b != Bound::AboveMax && lo.is_some_and(|l| l > 1.25) => {
                    Call::Faster
                }
                (b, Bound::AboveMax) if b != Bound::AboveMax && hi.is_some_and(|h| h < 0.8) => {
                    Call::Slower
                }
                _ => Call::Indistinguishable,
            };
            // The bounds are shown only where they carry the call: otherwise they would look
            // like an interval that the run-to-run spread of NDR does not support.
            let r = if c == Call::Indistinguishable {
                Interval { est, lo: None, hi: None, n: 0 }
            } else {
                Interval { est, lo, hi, n: 0 }
            };
            Some((r, c))
        }
    }
}

/// The name of a series in verdicts: its label, with its setting when settings are compared.
pub fn series_name(s: &Series, settings: &[String]) -> String {
    if settings.len() > 1 {
        format!("{} [{}]", s.label, settings.get(s.setting).map_or("?", |n| n.as_str()))
    } else {
        s.label.clone()
    }
}

fn measured(s: &Series) -> bool {
    s.points.iter().any(|p| p.n() > 0)
}

/// Every pair of paths within a scenario and setting, and every path under each setting
/// against the same path under the first setting.
pub fn verdicts(run: &CurveRun, settings: &[String]) -> Vec<PairVerdict> {
    let name = |s: &Series| series_name(s, settings);
    let mut out = Vec::new();
    let mut push = |a: &Series, b: &Series| {
        for f in Figure::ALL {
            if let Some((ratio, call)) = compare(a, b, f) {
                out.push(PairVerdict {
                    scenario: a.row.scenario,
                    a: name(a),
                    b: name(b),
                    setting_a: a.setting,
                    setting_b: b.setting,
                    figure: f,
                    ratio,
                    call,
                    limited_by: None,
                });
            }
        }
    };
    let ok: Vec<&Series> = run.series.iter().filter(|s| measured(s)).collect();
    for (i, a) in ok.iter().enumerate() {
        for b in &ok[i + 1..] {
            // Pairwise verdicts only among contenders: a ceiling (`xdp-drop`) or a reference
            // receiver is not a path the user would choose; the Answer measures the
            // contenders against it instead.
            let contenders = a.row.is_contender() && b.row.is_contender();
            if contenders && a.row.scenario == b.row.scenario && a.setting == b.setting {
                push(a, b);
            }
        }
    }
    for a in ok.iter().filter(|s| s.setting > 0) {
        if let Some(b) = ok.iter().find(|b| b.setting == 0 && b.row == a.row) {
            push(a, b);
        }
    }
    out
}

/// Derives everything a report concludes from its trials, with this version's rules: the
/// figures of every series, the verdicts, the comparison with the peers and the Answer. A run
/// calls it once; `udprx render` calls it again on a saved report.
pub fn analyze(report: &mut crate::model::report::BenchReport) {
    let commons = report.curves.common_rates.clone();
    for s in &mut report.curves.series {
        let common = commons.iter().find(|(sc, _)| *sc == s.row.scenario).map(|(_, r)| *r);
        s.figures = crate::analysis::figures::figures(s, common);
    }
    report.curves.drift = crate::analysis::figures::run_drift(&report.curves);
    let settings = &report.plan.settings;
    report.verdicts = verdicts(&report.curves, settings);
    report.comparisons = compare_with_peers(&report.curves, settings.len());
    report.twins = twin_overheads(&report.curves);
    let skipped: Vec<(String, String)> =
        report.plan.skipped.iter().map(|s| (s.label.clone(), s.reason.clone())).collect();
    let ctx = Context {
        settings,
        topology: report.topology.kind.name(),
        rps: report.topology.rps,
        skipped: &skipped,
        ci_target: report.config.curve.ci_target,
    };
    report.answer = answer(&report.curves, &report.verdicts, &ctx);
    if let Some(sw) = report.fanout_sweep.as_mut() {
        crate::analysis::sweep::analyze(sw);
    }
}

/// What the Answer needs besides the curves.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Setting names.
    pub settings: &'a [String],
    /// Topology name (loopback, veth).
    pub topology: &'a str,
    /// RPS puts the receive softirq on the receiver's core.
    pub rps: bool,
    /// Rows left out as not measurable here, with the reason.
    pub skipped: &'a [(String, String)],
    /// Target interval half-width.
    pub ci_target: f64,
}

/// The Answer section: plain sentences, one paragraph per scenario and one on settings.
pub fn answer(run: &CurveRun, verdicts: &[PairVerdict], ctx: &Context<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut scenarios: Vec<Scenario> = run.series.iter().map(|s| s.row.scenario).collect();
    scenarios.sort();
    scenarios.dedup();
    let mut wide = false;
    for sc in scenarios {
        let members: Vec<&Series> = run
            .series
            .iter()
            .filter(|s| s.row.scenario == sc && s.setting == 0 && measured(s))
            .filter(|s| s.row.is_contender())
            .collect();
        let bounds: Vec<&Series> = run
            .series
            .iter()
            .filter(|s| s.row.scenario == sc && s.setting == 0 && measured(s))
            .filter(|s| !s.row.is_contender())
            .collect();
        if members.is_empty() && bounds.is_empty() {
            continue;
        }
        let nm = |s: &Series| series_name(s, ctx.settings);
        let v_of = |a: &Series, b: &Series, f: Figure| {
            let (a, b) = (nm(a).clone(), nm(b));
            let (a, b) = (a.as_str(), b.as_str());
            verdicts.iter().find_map(|v| {
                if v.figure != f || v.setting_a != 0 || v.setting_b != 0 || v.scenario != sc {
                    None
                } else if v.a == a && v.b == b {
                    Some((v.ratio, v.call))
                } else if v.a == b && v.b == a {
                    let inv = Interval {
                        est: 1.0 / v.ratio.est,
                        lo: v.ratio.hi.map(|h| 1.0 / h),
                        hi: v.ratio.lo.map(|l| 1.0 / l),
                        n: v.ratio.n,
                    };
                    let c = match v.call {
                        Call::Faster => Call::Slower,
                        Call::Slower => Call::Faster,
                        Call::Indistinguishable => Call::Indistinguishable,
                    };
                    Some((inv, c))
                } else {
                    None
                }
            })
        };
        let mut p = String::new();
        let title = match sc {
            Scenario::Classic => "Classic flood (64-byte datagrams, many flows)",
            Scenario::Gso => "GSO flood (64-byte segments in UDP_SEGMENT super-buffers)",
        };
        p.push_str(&format!("**{title}.** "));
        let sender_bound = members.iter().all(|s| s.figures.limit == Some(Limit::Sender));
        let best = members.iter().filter(|s| s.figures.peak.is_some()).max_by(|a, b| {
            let e = |s: &Series| s.figures.peak.map_or(0.0, |i| i.est);
            e(a).total_cmp(&e(b))
        });
        if members.len() == 1 {
            let s = members[0];
            if let Some(pk) = &s.figures.peak {
                p.push_str(&format!("Only `{}` ran: peak {} pps. ", s.label, rate_text(pk)));
            }
        } else if sender_bound {
            p.push_str(
                "Every path received everything the sender could offer, so the paths cannot be \
                 ranked by rate here (the sender is the limit). ",
            );
        } else if let Some(b) = best {
            let pk = b.figures.peak.unwrap_or(Interval { est: 0.0, lo: None, hi: None, n: 0 });
            let mut ties = Vec::new();
            let mut beats = Vec::new();
            for o in members.iter().filter(|o| o.label != b.label) {
                match v_of(b, o, Figure::Peak) {
                    Some((r, Call::Faster)) => {
                        beats.push(format!("`{}` ({})", o.label, ratio_text(&r)))
                    }
                    Some((r, _)) => {
                        wide |= r.half_width_rel().is_none_or(|w| w > 0.2);
                        ties.push(format!("`{}` ({})", o.label, ratio_text(&r)))
                    }
                    None => ties.push(format!("`{}` (not comparable)", o.label)),
                }
            }
            if ties.is_empty() {
                p.push_str(&format!(
                    "`{}` is the fastest delivering path: peak {} pps, ",
                    b.label,
                    rate_text(&pk)
                ));
            } else {
                p.push_str(&format!(
                    "`{}` has the highest peak of the delivering paths, {} pps, but it is indistinguishable here from {}; ",
                    b.label,
                    rate_text(&pk),
                    ties.join(", ")
                ));
            }
            if !beats.is_empty() {
                p.push_str(&format!("it is faster than {}. ", beats.join(", ")));
            } else {
                p.push_str("no path is clearly slower. ");
            }
        }
        // NDR.
        let ndr_of = |s: &Series| {
            s.figures.ndr_est.map(|i| i.est).or(s.figures.ndr.and_then(|b| b.lo.map(|l| l as f64)))
        };
        let ndr_best = members
            .iter()
            .filter(|s| ndr_of(s).is_some())
            .max_by(|a, b| ndr_of(a).unwrap_or(0.0).total_cmp(&ndr_of(b).unwrap_or(0.0)));
        if let Some(s) = ndr_best {
            let text = match (s.figures.ndr_est, s.figures.ndr) {
                (_, Some(b)) if b.bound == Bound::AboveMax => {
                    format!("≥ {} pps (the sender's top rate)", kpps(b.lo.unwrap_or(0) as f64))
                }
                (Some(i), _) if i.n >= 2 => {
                    format!("{} pps (mean of {} searches)", rate_text(&i), i.n)
                }
                (_, Some(b)) => format!(
                    "{} pps (one search: bracket {}–{})",
                    kpps(b.lo.unwrap_or(0) as f64),
                    kpps(b.lo.unwrap_or(0) as f64),
                    b.hi.map_or("—".to_string(), |h| kpps(h as f64))
                ),
                _ => "—".into(),
            };
            let mut ties = Vec::new();
            let mut beats = Vec::new();
            for o in members.iter().filter(|o| o.label != s.label && ndr_of(o).is_some()) {
                match v_of(s, o, Figure::Ndr) {
                    Some((r, Call::Faster)) => {
                        beats.push(format!("`{}` ({})", o.label, ratio_text(&r)))
                    }
                    Some((r, _)) => ties.push(format!("`{}` ({})", o.label, ratio_text(&r))),
                    None => {}
                }
            }
            p.push_str(&format!("Highest zero-loss rate (NDR): `{}` at {}", s.label, text));
            if !beats.is_empty() {
                p.push_str(&format!(", above {}", beats.join(", ")));
            }
            if !ties.is_empty() {
                p.push_str(&format!("; indistinguishable here from {}", ties.join(", ")));
            }
            p.push_str(". ");
        }
        // CPU at the common rate.
        let cheapest = members.iter().filter(|s| s.figures.cpu_ns.is_some()).min_by(|a, b| {
            let e = |s: &Series| s.figures.cpu_ns.map_or(f64::MAX, |i| i.est);
            e(a).total_cmp(&e(b))
        });
        if let (Some(c), Some(rate)) = (cheapest, cheapest.and_then(|c| c.figures.common_rate)) {
            let ns = c.figures.cpu_ns.unwrap_or(Interval { est: 0.0, lo: None, hi: None, n: 0 });
            let split = format!(
                " (application {:.0} ns, softirq {:.0} ns)",
                c.figures.app_ns.map_or(0.0, |i| i.est),
                c.figures.softirq_ns.map_or(0.0, |i| i.est)
            );
            let mut others = Vec::new();
            for o in members.iter().filter(|o| o.label != c.label && o.figures.cpu_ns.is_some()) {
                if let Some((r, call)) = v_of(o, c, Figure::Cpu) {
                    others.push(format!(
                        "`{}` {} ({})",
                        o.label,
                        ratio_text(&r),
                        if call == Call::Slower { "costlier" } else { "indistinguishable here" }
                    ));
                }
            }
            p.push_str(&format!(
                "At a common paced {} pps, `{}` costs the least receive-side CPU (every receive core's busy time per delivered datagram): {}{split}",
                kpps(rate as f64),
                c.label,
                ns_text(&ns)
            ));
            if others.is_empty() {
                p.push_str(". ");
            } else {
                p.push_str(&format!("; the others cost {}. ", others.join(", ")));
            }
        }
        // Livelock.
        let collapsing: Vec<String> = members
            .iter()
            .filter_map(|s| {
                let r = s.figures.livelock_ratio?;
                (r < 0.8).then(|| format!("`{}` keeps {:.0}% of its peak", s.label, r * 100.0))
            })
            .collect();
        if !collapsing.is_empty() {
            p.push_str(&format!(
                "Under overload (the unpaced flood) the received rate falls — receive livelock: {}. ",
                collapsing.join(", ")
            ));
        } else if members.iter().any(|s| s.figures.livelock_ratio.is_some()) {
            p.push_str("No path collapses under overload (each keeps at least 80% of its peak). ");
        }
        // Limit.
        let limit = if sender_bound {
            "What limited the run: the sender.".to_string()
        } else if members.iter().any(|s| s.figures.limit == Some(Limit::Receiver)) {
            let knees: Vec<String> = members
                .iter()
                .filter_map(|s| {
                    let (l, h) = s.figures.knee?;
                    Some(format!("`{}` {}–{}", s.label, kpps(l as f64), kpps(h as f64)))
                })
                .collect();
            format!(
                "What limited the run: the receiver (loss began below the sender's top rate; knees at {}).",
                knees.join(", ")
            )
        } else {
            "What limited the run: the receiver, only under the unpaced flood.".to_string()
        };
        if !members.is_empty() {
            p.push_str(&limit);
        }
        let softirq = members
            .iter()
            .filter_map(|s| Some((s.figures.softirq_ns?.est, s.figures.app_ns?.est)))
            .next();
        match (ctx.topology, ctx.rps) {
            ("loopback", _) => p.push_str(
                " On loopback the receive softirq runs on the sender's core, so the sender pays for \
                 the stack and the figures rank wake-up cost rather than receive capacity.",
            ),
            (_, true) => {
                if let Some((sirq, app)) = softirq {
                    p.push_str(&format!(
                        " Softirq placement: RPS puts the receive softirq on the receiver's core, where it \
                         took {sirq:.0} ns per datagram beside the application's {app:.0} ns."
                    ));
                }
            }
            _ => p.push_str(" Softirq placement: without RPS the receive softirq runs on the sender's core."),
        }
        out.push(p);
        out.extend(bounds.iter().filter_map(|c| ceiling_line(c, &members)));
    }

    // Settings.
    if ctx.settings.len() > 1 {
        let mut lines = Vec::new();
        for v in verdicts.iter().filter(|v| v.setting_a != v.setting_b) {
            if v.figure == Figure::Cpu {
                continue;
            }
            let pct = |x: f64| format!("{:+.0}%", (x - 1.0) * 100.0);
            let interval = match (v.ratio.lo, v.ratio.hi) {
                (Some(l), Some(h)) => format!("[{}, {}]", pct(l), pct(h)),
                (Some(l), None) => format!("[≥ {}]", pct(l)),
                (None, Some(h)) => format!("[≤ {}]", pct(h)),
                (None, None) if v.ratio.n == 0 => "[one search each: no interval]".into(),
                (None, None) => "[no interval: too few repetitions]".into(),
            };
            let setting = ctx.settings.get(v.setting_a).map_or("?", |s| s.as_str());
            let path = v.b.split(" [").next().unwrap_or(&v.b);
            lines.push(match v.call {
                Call::Faster => format!(
                    "`{setting}` raises `{path}`'s {} by {} {interval}",
                    v.figure.name(),
                    pct(v.ratio.est)
                ),
                Call::Slower => format!(
                    "`{setting}` lowers `{path}`'s {} by {} {interval}",
                    v.figure.name(),
                    pct(v.ratio.est)
                ),
                Call::Indistinguishable => format!(
                    "`{setting}` makes no measurable difference to `{path}`'s {} ({} {interval})",
                    v.figure.name(),
                    pct(v.ratio.est)
                ),
            });
        }
        if !lines.is_empty() {
            out.push(format!(
                "**Kernel settings** (each against `{}`): {}.",
                ctx.settings[0],
                lines.join("; ")
            ));
        }
    }

    // Not measurable here.
    if !ctx.skipped.is_empty() {
        let list: Vec<String> = ctx
            .skipped
            .iter()
            .map(|(l, why)| {
                format!("`{l}` ({})", why.trim_start_matches("not measurable on this host: "))
            })
            .collect();
        out.push(format!("**Not measurable on this host:** {}.", list.join("; ")));
    }

    // What to try next.
    let mut next = Vec::new();
    if ctx.topology == "loopback" {
        next.push(
            "run as root for the veth topology with RPS, where the receiver is the bottleneck"
                .to_string(),
        );
    }
    if wide {
        next.push(format!(
            "some intervals are wider than ±20%: raise the repetitions (`--max-reps 10`) or the budget (`--budget 600s`) to separate the paths (target ±{:.0}%)",
            ctx.ci_target * 100.0
        ));
    }
    if run.series.iter().any(|s| s.figures.livelock_ratio.is_some_and(|r| r < 0.8)) {
        next.push("compare kernel settings against livelock, e.g. `--sysctl net.core.netdev_max_backlog=1000,10000` or `--settings profiles/tuning.conf`".into());
    }
    if run.series.iter().all(|s| s.figures.limit == Some(Limit::Sender))
        && ctx.topology != "loopback"
    {
        next.push("the sender is the limit: add sender cores (`--sender-cpus`) or use the GSO flood (`--scenarios gso`)".into());
    }
    if run.budget_ended {
        next.push("the time budget ended the curves before every stage ran: raise it (`--budget 600s`) for the remaining repetitions and searches".into());
    }
    if !ctx.skipped.is_empty() {
        next.push(
            "fan-out needs a free core per socket plus the sender's: run on a host with more cores"
                .into(),
        );
    }
    if !next.is_empty() {
        out.push(format!("**What to try next:** {}.", next.join("; ")));
    }
    out
}
/// Each delivering path's peak as a share of a ceiling's or reference's peak, with the Welch
/// 95% interval of the ratio; `None` when either has no peak.
pub fn share_of(path: &Series, ceiling: &Series) -> Option<Interval> {
    interval::ratio(&samples(path, Figure::Peak), &samples(ceiling, Figure::Peak))
}

/// The line of a ceiling (`xdp-drop`) or reference receiver: its own peak, then every
/// contender's share of it. `None` when the ceiling has no peak.
pub fn ceiling_line(ceiling: &Series, contenders: &[&Series]) -> Option<String> {
    let pk = ceiling.figures.peak?;
    let (kind, what) = if ceiling.row.is_ceiling() {
        ("Ceiling", "counts and drops in the driver, delivering nothing to an application")
    } else {
        ("Reference", "a reference receiver, not a udprx path")
    };
    let mut line =
        format!("**{kind}:** `{}` ({what}) peaks at {} pps", ceiling.label, rate_text(&pk));
    let shares: Vec<String> = contenders
        .iter()
        .filter_map(|c| {
            let r = share_of(c, ceiling)?;
            Some(format!("`{}` reaches {} of it", c.label, share_text(&r)))
        })
        .collect();
    if shares.is_empty() {
        line.push('.');
    } else {
        line.push_str(&format!("; {}.", shares.join(", ")));
    }
    Some(line)
}

/// Compares, per setting, the best udprx path of the classic flood with the better peer.
pub fn compare_with_peers(curves: &CurveRun, settings: usize) -> Vec<PeerComparison> {
    let mut out = Vec::new();
    for s in 0..settings {
        let classic = || {
            curves.series.iter().filter(move |r| {
                r.setting == s
                    && r.row.scenario == crate::Scenario::Classic
                    && r.figures.peak.is_some()
            })
        };
        let best = |udprx: bool| {
            classic()
                .filter(move |r| if udprx { r.row.is_contender() } else { !r.row.is_udprx() })
                .max_by(|a, b| {
                    let e = |x: &Series| x.figures.peak.map_or(0.0, |i| i.est);
                    e(a).total_cmp(&e(b))
                })
        };
        if let (Some(u), Some(p)) = (best(true), best(false))
            && let Some((ratio, call)) = compare(u, p, Figure::Peak)
        {
            out.push(PeerComparison {
                setting: s,
                best_path: u.label.clone(),
                best_pps: u.figures.peak.map_or(0.0, |i| i.est),
                best_peer: p.label.clone(),
                peer_pps: p.figures.peak.map_or(0.0, |i| i.est),
                ratio,
                call,
            });
        }
    }
    out
}

/// A / B on the receiving program's own CPU per datagram at A's common paced rate (Welch's
/// interval on the log scale, called like the CPU figure).
fn app_cpu_ratio(a: &Series, b: &Series) -> Option<(Interval, Call)> {
    let at = |s: &Series| {
        s.figures
            .common_rate
            .and_then(|c| s.point(Some(c)))
            .map(|p| p.samples(|c| c.cpu.app_ns_per_dgram))
            .unwrap_or_default()
    };
    let r = interval::ratio(&at(a), &at(b))?;
    let c = interval::call(&r, false, interval::MIN_EFFECT);
    Some((r, c))
}

/// Every udprx path against its bare C twin ([`crate::PeerKind::twin_of`]) where both ran in the same
/// setting and scenario: CPU per datagram at the common rate (whole receive side, and the
/// program alone) and peak, path / twin.
pub fn twin_overheads(curves: &CurveRun) -> Vec<TwinOverhead> {
    let mut out = Vec::new();
    for u in curves.series.iter().filter(|s| s.row.is_contender()) {
        let Some(kind) = crate::PeerKind::twin_of(&u.row.receiver) else { continue };
        let twin = curves.series.iter().find(|t| {
            t.setting == u.setting
                && t.row.scenario == u.row.scenario
                && t.row.receiver == crate::Receiver::Peer { peer: kind }
        });
        let Some(t) = twin else { continue };
        out.push(TwinOverhead {
            setting: u.setting,
            path: u.label.clone(),
            twin: t.label.clone(),
            cpu: compare(u, t, Figure::Cpu),
            app_cpu: app_cpu_ratio(u, t),
            peak: compare(u, t, Figure::Peak),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::report::BenchReport;
    use crate::{Method, Receiver};

    /// The saved quick run of the golden test (three paths of the classic flood).
    fn fixture() -> BenchReport {
        serde_json::from_str(include_str!("../../tests/fixtures/golden/report.json")).unwrap()
    }

    /// The series with every received rate multiplied by `k`.
    fn scaled(s: &Series, k: f64) -> Series {
        let mut s = s.clone();
        for p in &mut s.points {
            for t in &mut p.trials {
                if let Some(r) = t.result.as_mut() {
                    r.rx_pps *= k;
                }
            }
        }
        s
    }

    #[test]
    fn each_path_is_set_against_its_bare_twin() {
        let r = fixture();
        let c = &r.curves;
        // A recvmmsg path with a CPU figure at the common rate and a repeated peak.
        let u = c
            .series
            .iter()
            .find(|s| {
                matches!(s.row.receiver, Receiver::Udprx { method: Method::Recvmmsg, .. })
                    && samples(s, Figure::Cpu).len() >= 2
            })
            .expect("a recvmmsg series with repeated CPU at the common rate")
            .clone();
        // Its twin: the same trials at a third of the CPU per datagram and the same rates.
        let mut twin = u.clone();
        twin.row.receiver = Receiver::Peer { peer: crate::PeerKind::CRecvmmsg };
        twin.label = "classic c-recvmmsg (peer)".into();
        for p in &mut twin.points {
            for t in &mut p.trials {
                if let Some(x) = t.result.as_mut() {
                    x.cpu.rx_busy_ns_per_dgram /= 3.0;
                    x.cpu.app_ns_per_dgram /= 3.0;
                    x.cpu.softirq_ns_per_dgram /= 3.0;
                }
            }
        }
        let mut curves = c.clone();
        curves.series = vec![u.clone(), twin.clone()];
        let t = twin_overheads(&curves);
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!(
            (t[0].path.as_str(), t[0].twin.as_str()),
            (u.label.as_str(), "classic c-recvmmsg (peer)")
        );
        let (cpu, call) = t[0].cpu.expect("a CPU ratio");
        assert!((cpu.est - 3.0).abs() < 1e-6, "{cpu:?}");
        assert_eq!(call, Call::Slower, "3× the CPU is costlier: {cpu:?}");
        let (app, call) = t[0].app_cpu.expect("a program CPU ratio");
        assert!((app.est - 3.0).abs() < 1e-6, "{app:?}");
        assert_eq!(call, Call::Slower, "{app:?}");
        let (peak, _) = t[0].peak.expect("a peak ratio");
        assert!((peak.est - 1.0).abs() < 1e-9, "{peak:?}");
        // No twin in the run, or a twin in another scenario: no row.
        curves.series = vec![u.clone()];
        assert!(twin_overheads(&curves).is_empty());
        twin.row.scenario = crate::Scenario::Gso;
        curves.series = vec![u, twin];
        assert!(twin_overheads(&curves).is_empty());
    }

    fn repeated_peak(r: &BenchReport) -> Series {
        r.curves
            .series
            .iter()
            .find(|s| samples(s, Figure::Peak).len() >= 2)
            .expect("a series with a repeated peak")
            .clone()
    }

    #[test]
    fn a_path_against_itself_is_a_tie() {
        let s = repeated_peak(&fixture());
        let (r, c) = compare(&s, &s, Figure::Peak).unwrap();
        assert!((r.est - 1.0).abs() < 1e-12, "{r:?}");
        assert_eq!(c, Call::Indistinguishable);
    }

    #[test]
    fn ten_times_the_rate_is_faster_and_a_tenth_is_slower() {
        // The saved quick run is noisy (3 repetitions: the 95% interval of a path against
        // itself spans about [0.28, 3.6]), so the effect must be large to be called.
        let s = repeated_peak(&fixture());
        let (r, c) = compare(&scaled(&s, 10.0), &s, Figure::Peak).unwrap();
        assert!((r.est - 10.0).abs() < 1e-9, "{r:?}");
        assert!(r.lo.unwrap() > 1.0 && r.hi.unwrap() > r.lo.unwrap(), "{r:?}");
        assert_eq!(c, Call::Faster);
        let (_, c) = compare(&scaled(&s, 0.1), &s, Figure::Peak).unwrap();
        assert_eq!(c, Call::Slower);
    }

    /// The fixture with an `xdp-drop` row twice as fast as its repeated path.
    fn with_xdp_drop() -> (BenchReport, String) {
        let mut r = fixture();
        let base = repeated_peak(&r);
        let mut x = scaled(&base, 2.0);
        x.row =
            crate::Row::udprx(base.row.scenario, crate::Method::XdpDrop, crate::Fanout::One, false);
        x.label = x.row.label(1);
        r.curves.series.push(x);
        analyze(&mut r);
        (r, base.label)
    }

    #[test]
    fn a_ceiling_is_not_the_fastest_path_and_each_path_gets_its_share() {
        let (r, base) = with_xdp_drop();
        let xdp = "classic xdp-drop 1×";
        // No pairwise verdict names the ceiling.
        assert!(r.verdicts.iter().all(|v| v.a != xdp && v.b != xdp), "{:?}", r.verdicts);
        let classic = r.answer.iter().find(|l| l.contains("Classic flood")).unwrap();
        assert!(!classic.contains(xdp), "the ceiling is ranked as a path: {classic}");
        assert!(classic.contains("delivering path"), "{classic}");
        // Its own line, with every path's share; the doubled path reaches 50%.
        let line = r.answer.iter().find(|l| l.starts_with("**Ceiling:**")).expect("a ceiling line");
        assert!(line.contains(xdp), "{line}");
        assert!(line.contains(&format!("`{base}` reaches 50% [")), "{line}");
        let s = r.curves.series.iter().find(|s| s.label == base).unwrap();
        let c = r.curves.series.iter().find(|s| s.label == xdp).unwrap();
        let share = share_of(s, c).unwrap();
        assert!((share.est - 0.5).abs() < 1e-9, "{share:?}");
        assert!(share.lo.unwrap() < 0.5 && share.hi.unwrap() > 0.5, "{share:?}");
        // The peers comparison takes the best delivering path, never the ceiling.
        assert!(r.comparisons.iter().all(|c| c.best_path != xdp));
    }

    /// Sets the CPU split of every trial at `s`'s common rate (with a 1% spread between trials).
    fn with_cpu(s: &mut Series, app: f64, softirq: f64, busy: f64) {
        let c = s.figures.common_rate;
        let p = s.points.iter_mut().find(|p| p.rate == c && c.is_some()).expect("common point");
        for (k, t) in p.trials.iter_mut().enumerate() {
            if let Some(r) = t.result.as_mut() {
                let j = 1.0 + 0.01 * (k % 3) as f64;
                r.cpu.app_ns_per_dgram = app * j;
                r.cpu.softirq_ns_per_dgram = softirq * j;
                r.cpu.rx_busy_ns_per_dgram = busy * j;
            }
        }
    }

    #[test]
    fn cpu_verdicts_follow_the_whole_receive_side_not_the_application() {
        let mut r = fixture();
        // Path A does its work in the application; path B moves most of it into softirq (as
        // XDP or RPS do): cheaper by application time, costlier over the receive cores.
        let (ia, ib) = (0, 1);
        with_cpu(&mut r.curves.series[ia], 1000.0, 200.0, 1300.0);
        with_cpu(&mut r.curves.series[ib], 300.0, 1300.0, 1700.0);
        analyze(&mut r);
        let (a, b) = (&r.curves.series[ia], &r.curves.series[ib]);
        let app = |s: &Series| {
            s.point(s.figures.common_rate).unwrap().samples(|c| c.cpu.app_ns_per_dgram)
        };
        let app_only = interval::ratio(&app(b), &app(a)).unwrap();
        assert!(app_only.hi.unwrap() < 0.5, "by application time B looks cheaper: {app_only:?}");
        let (ratio, call) = compare(b, a, Figure::Cpu).unwrap();
        assert!((ratio.est - 1700.0 / 1300.0).abs() < 0.01, "{ratio:?}");
        assert_eq!(call, Call::Slower, "B costs more over the whole receive side");
        let text = r.answer.join("\n");
        assert!(
            text.contains(&format!("`{}` costs the least receive-side CPU", a.label)),
            "{text}"
        );
        assert!(text.contains(&format!("`{}` 1.31×", b.label)), "{text}");
    }

    #[test]
    fn analyze_rederives_the_saved_conclusions_and_is_idempotent() {
        let saved = fixture();
        let mut r = saved.clone();
        r.verdicts.clear();
        r.answer.clear();
        analyze(&mut r);
        assert_eq!(r.verdicts, saved.verdicts);
        assert_eq!(r.answer, saved.answer);
        let once = r.clone();
        analyze(&mut r);
        assert_eq!(r, once);
        // Every pair of the three paths on the repeated figures, each with a call in words.
        assert!(r.verdicts.len() >= 3, "{:?}", r.verdicts);
        assert!(r.answer.iter().any(|l| l.contains("Classic flood")), "{:?}", r.answer);
    }
}
