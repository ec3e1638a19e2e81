//! The plan of a run (which rows, how often, in which order) and its execution: cells are
//! interleaved across rows and settings and repeated, and each row is summarized by medians and
//! ranges. Also the two searches that build on the matrix: zero-loss rate and latency at load.

use super::zeroloss::{self, SearchParams, SearchResult, TrialOutcome};
use super::{
    Bench, CellResult, CellSpec, Error, Fanout, Latency, PeerKind, RecvMethod, Result, Row,
    Scenario, SockOpts, median,
};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};

/// How much of the matrix to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// Under a minute: the main methods, fewer fan-outs, 2 × 2 s.
    Quick,
    /// At most 3 minutes: every method × fan-out in the classic flood, GRO only where it can
    /// matter (the GSO flood), 3 × 3 s.
    Default,
    /// Every combination.
    Full,
}

/// Which rows to run, before filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Matrix size.
    pub size: Size,
    /// Only these methods (empty: all).
    pub methods: Vec<RecvMethod>,
    /// Only these fan-outs (empty: all).
    pub fanouts: Vec<Fanout>,
    /// Only these scenarios (empty: all).
    pub scenarios: Vec<Scenario>,
    /// Add `+gro` variants to the classic flood too.
    pub gro_everywhere: bool,
    /// Add a busy-spinning variant of each method's single-socket classic path.
    pub spin: bool,
    /// Reference receivers to add to the classic flood.
    pub peers: Vec<PeerKind>,
}

/// The rows of a selection, in report order. Empty when the filters exclude everything.
pub fn rows(sel: &Selection) -> Vec<Row> {
    let keep_m = |m: &RecvMethod| sel.methods.is_empty() || sel.methods.contains(m);
    let keep_f = |f: &Fanout| sel.fanouts.is_empty() || sel.fanouts.contains(f);
    let keep_s = |s: &Scenario| sel.scenarios.is_empty() || sel.scenarios.contains(s);
    let mut out = Vec::new();
    for scenario in Scenario::ALL.iter().filter(|s| keep_s(s)) {
        for method in RecvMethod::ALL.iter().filter(|m| keep_m(m)) {
            for fanout in Fanout::ALL.iter().filter(|f| keep_f(f)) {
                let (m, f, s) = (*method, *fanout, *scenario);
                let wanted = match (sel.size, s) {
                    (Size::Full, _) => true,
                    (Size::Default, Scenario::Classic) => true,
                    // A few flows: fan-out has little to spread; one socket shows the method.
                    (Size::Default, Scenario::Gso) => f == Fanout::One,
                    (Size::Quick, Scenario::Classic) => {
                        f != Fanout::Cpu || m == RecvMethod::Recvmmsg
                    }
                    (Size::Quick, Scenario::Gso) => f == Fanout::One && m == RecvMethod::Recvmmsg,
                };
                if !wanted {
                    continue;
                }
                // GRO can only matter where datagrams can be coalesced: the GSO flood (and on
                // request, or in --full, the classic one).
                let gro_variants: &[bool] =
                    if s == Scenario::Gso || sel.gro_everywhere || sel.size == Size::Full {
                        &[false, true]
                    } else {
                        &[false]
                    };
                for &gro in gro_variants {
                    out.push(Row::udprx(s, m, f, gro));
                }
            }
            if sel.spin && *scenario == Scenario::Classic && keep_f(&Fanout::One) {
                let spin_this = sel.size == Size::Full || *method == RecvMethod::Recvmmsg;
                if spin_this {
                    out.push(Row {
                        scenario: *scenario,
                        receiver: super::Receiver::Udprx {
                            method: *method,
                            fanout: Fanout::One,
                            gro: false,
                            spin: true,
                        },
                    });
                }
            }
        }
        for p in &sel.peers {
            // sockperf server takes the same udpflood traffic as the udprx rows, GSO included;
            // iperf3 -s only counts its own client's plain datagrams, so it joins the classic
            // flood only.
            if *scenario == Scenario::Classic || *p == PeerKind::Sockperf {
                out.push(Row { scenario: *scenario, receiver: super::Receiver::Peer { peer: *p } });
            }
        }
    }
    out
}

/// The full plan of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Rows in report order.
    pub rows: Vec<Row>,
    /// Setting names, in order (the [`Bench`] knows what they set).
    pub settings: Vec<String>,
    /// Socket options of each setting.
    pub sockopts: Vec<SockOpts>,
    /// Repetitions of every cell.
    pub reps: usize,
    /// Seconds per cell.
    pub secs: f64,
    /// Sockets in hash/cpu fan-out.
    pub sockets: usize,
    /// Offered rate for the matrix; `None` floods.
    pub rate: Option<u64>,
    /// Sender cores.
    pub sender_cpus: Vec<usize>,
    /// Receiver core of single-socket paths.
    pub receiver_cpus_one: Vec<usize>,
    /// Receiver cores of fan-out paths (one per socket).
    pub receiver_cpus_many: Vec<usize>,
}

impl Plan {
    /// The cell for a row under setting `setting`.
    pub fn cell(&self, row: Row, setting: usize, rate: Option<u64>, timestamps: bool) -> CellSpec {
        let fanout_one = match row.receiver {
            super::Receiver::Udprx { fanout, .. } => fanout == Fanout::One,
            super::Receiver::Peer { .. } => true,
        };
        CellSpec {
            row,
            sockets: if fanout_one { 1 } else { self.sockets },
            rate,
            secs: self.secs,
            sender_cpus: self.sender_cpus.clone(),
            receiver_cpus: if fanout_one {
                self.receiver_cpus_one.clone()
            } else {
                self.receiver_cpus_many.clone()
            },
            timestamps,
            sockopts: self.sockopts.get(setting).copied().unwrap_or_default(),
        }
    }

    /// Number of matrix cells.
    pub fn cells(&self) -> usize {
        self.rows.len() * self.settings.len() * self.reps
    }

    /// A rough duration of the matrix, seconds (cell time plus set-up and drain).
    pub fn estimate_secs(&self) -> f64 {
        self.cells() as f64 * (self.secs + 0.4)
    }
}

/// The order of rows in repetition `rep`: rotated, so that no row always runs first or always
/// follows the same neighbour (slow drift and warm caches spread evenly).
pub fn order(n: usize, rep: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let step = if n > 2 { rep * (n / 3).max(1) + rep } else { rep };
    (0..n).map(|i| (i + step) % n).collect()
}

/// One cell as run: the result, or why it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellOutcome {
    /// Repetition index.
    pub rep: usize,
    /// Position in the run (0-based), to see the interleaving.
    pub seq: usize,
    /// The result, when the cell ran.
    pub result: Option<CellResult>,
    /// Why the cell failed.
    pub error: Option<String>,
}

/// Medians and ranges of a row over its repetitions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Repetitions that produced a result.
    pub reps_ok: usize,
    /// Median received datagrams per second.
    pub rx_pps_median: f64,
    /// Smallest.
    pub rx_pps_min: f64,
    /// Largest.
    pub rx_pps_max: f64,
    /// Median offered (sent) rate.
    pub sent_pps_median: f64,
    /// Median loss fraction.
    pub loss_median: f64,
    /// Largest loss fraction.
    pub loss_max: f64,
    /// Median kernel (socket) drops per cell.
    pub kernel_drops_median: f64,
    /// Median backlog drops per cell.
    #[serde(default)]
    pub backlog_drops_median: f64,
    /// Median application CPU ns per received datagram.
    pub app_ns_per_dgram: f64,
    /// Median receiver-core softirq ns per received datagram.
    pub softirq_ns_per_dgram: f64,
    /// Median of each latency percentile, when measured.
    pub latency: Option<Latency>,
}

impl Summary {
    /// Summarizes the successful cells.
    pub fn of(cells: &[CellOutcome]) -> Summary {
        let ok: Vec<&CellResult> = cells.iter().filter_map(|c| c.result.as_ref()).collect();
        if ok.is_empty() {
            return Summary::default();
        }
        let col = |f: &dyn Fn(&CellResult) -> f64| ok.iter().map(|c| f(c)).collect::<Vec<f64>>();
        let rx = col(&|c| c.rx_pps);
        let loss = col(&|c| c.loss_ratio());
        let lat: Vec<Latency> = ok.iter().filter_map(|c| c.latency).collect();
        let latency = if lat.is_empty() {
            None
        } else {
            let m = |f: &dyn Fn(&Latency) -> u64| {
                median(&lat.iter().map(|l| f(l) as f64).collect::<Vec<_>>()).unwrap_or(0.0) as u64
            };
            Some(Latency {
                p50_ns: m(&|l| l.p50_ns),
                p90_ns: m(&|l| l.p90_ns),
                p99_ns: m(&|l| l.p99_ns),
                p999_ns: m(&|l| l.p999_ns),
                max_ns: lat.iter().map(|l| l.max_ns).max().unwrap_or(0),
            })
        };
        Summary {
            reps_ok: ok.len(),
            rx_pps_median: median(&rx).unwrap_or(0.0),
            rx_pps_min: rx.iter().copied().fold(f64::INFINITY, f64::min),
            rx_pps_max: rx.iter().copied().fold(0.0, f64::max),
            sent_pps_median: median(&col(&|c| c.sent_pps)).unwrap_or(0.0),
            loss_median: median(&loss).unwrap_or(0.0),
            loss_max: loss.iter().copied().fold(0.0, f64::max),
            kernel_drops_median: median(&col(&|c| c.kernel_drops as f64)).unwrap_or(0.0),
            backlog_drops_median: median(&col(&|c| c.backlog_drops as f64)).unwrap_or(0.0),
            app_ns_per_dgram: median(&col(&|c| c.cpu.app_ns_per_dgram)).unwrap_or(0.0),
            softirq_ns_per_dgram: median(&col(&|c| c.cpu.softirq_ns_per_dgram)).unwrap_or(0.0),
            latency,
        }
    }
}

/// A row under one setting, with all its cells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowResult {
    /// The row.
    pub row: Row,
    /// Its label.
    pub label: String,
    /// Setting index.
    pub setting: usize,
    /// Every repetition.
    pub cells: Vec<CellOutcome>,
    /// Medians and ranges.
    pub summary: Summary,
}

/// What the matrix produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixResult {
    /// One entry per setting × row, setting-major, rows in plan order.
    pub rows: Vec<RowResult>,
    /// True when Ctrl-C stopped the run early; the results are partial.
    pub interrupted: bool,
}

impl MatrixResult {
    /// The rows of one setting.
    pub fn of_setting(&self, setting: usize) -> impl Iterator<Item = &RowResult> {
        self.rows.iter().filter(move |r| r.setting == setting)
    }
}

/// Progress of a run, one event per finished cell.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// Which stage: "matrix", "zero-loss", "latency".
    pub stage: &'static str,
    /// Cells done, including this one.
    pub done: usize,
    /// Cells planned (0 when unknown, as in a search).
    pub total: usize,
    /// Setting name.
    pub setting: &'a str,
    /// Row label.
    pub label: &'a str,
    /// The cell's offered rate.
    pub rate: Option<u64>,
    /// The result or the error.
    pub outcome: std::result::Result<&'a CellResult, &'a str>,
}

/// Runs the matrix: for each repetition, each setting, each row (rotated per repetition).
/// A failing cell is recorded and the run goes on; `stop` (Ctrl-C) ends it between cells with
/// the results so far.
pub fn run_matrix(
    plan: &Plan,
    bench: &mut dyn Bench,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<MatrixResult> {
    let mut rows: Vec<RowResult> = Vec::new();
    for s in 0..plan.settings.len() {
        for row in &plan.rows {
            rows.push(RowResult {
                row: *row,
                label: row.label(plan.sockets),
                setting: s,
                cells: Vec::new(),
                summary: Summary::default(),
            });
        }
    }
    let n = plan.rows.len();
    let total = plan.cells();
    let mut done = 0;
    let mut interrupted = false;
    'outer: for rep in 0..plan.reps {
        for s in 0..plan.settings.len() {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break 'outer;
            }
            bench.enter_setting(s)?;
            for i in order(n, rep + s) {
                if stop.load(Ordering::Relaxed) {
                    interrupted = true;
                    break 'outer;
                }
                let spec = plan.cell(plan.rows[i], s, plan.rate, false);
                let outcome = bench.run_cell(&spec);
                if matches!(outcome, Err(Error::Interrupted)) {
                    interrupted = true;
                    break 'outer;
                }
                let (result, error) = match outcome {
                    Ok(r) => (Some(r), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                done += 1;
                let rr = &mut rows[s * n + i];
                progress(&Progress {
                    stage: "matrix",
                    done,
                    total,
                    setting: &plan.settings[s],
                    label: &rr.label,
                    rate: plan.rate,
                    outcome: match (&result, &error) {
                        (Some(r), _) => Ok(r),
                        (None, e) => Err(e.as_deref().unwrap_or("failed")),
                    },
                });
                rr.cells.push(CellOutcome { rep, seq: done - 1, result, error });
            }
        }
    }
    for r in &mut rows {
        r.summary = Summary::of(&r.cells);
    }
    Ok(MatrixResult { rows, interrupted })
}

/// The zero-loss search of one row under one setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZeroLossRow {
    /// Row label.
    pub label: String,
    /// The row.
    pub row: Row,
    /// Setting index.
    pub setting: usize,
    /// The search and its trials.
    pub search: SearchResult,
}

/// Searches the zero-loss rate of every udprx row, each between 1% and 100% of the rate the
/// unpaced sender reached for it in the matrix (`max_rate` overrides the top).
pub fn run_zero_loss(
    plan: &Plan,
    matrix: &MatrixResult,
    bench: &mut dyn Bench,
    max_rate: Option<u64>,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Vec<ZeroLossRow>> {
    let mut out = Vec::new();
    let mut done = 0;
    for rr in matrix.rows.iter().filter(|r| r.row.is_udprx()) {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let top = max_rate.unwrap_or(rr.summary.sent_pps_median.max(rr.summary.rx_pps_max) as u64);
        if top < 100 {
            continue;
        }
        bench.enter_setting(rr.setting)?;
        let params = SearchParams { max_trials: 14, ..SearchParams::new(top / 100, top) };
        let search = zeroloss::search(params, |rate| {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let spec = plan.cell(rr.row, rr.setting, Some(rate), false);
            let r = bench.run_cell(&spec);
            done += 1;
            let setting = &plan.settings[rr.setting];
            let msg;
            progress(&Progress {
                stage: "zero-loss",
                done,
                total: 0,
                setting,
                label: &rr.label,
                rate: Some(rate),
                outcome: match &r {
                    Ok(c) => Ok(c),
                    Err(e) => {
                        msg = e.to_string();
                        Err(&msg)
                    }
                },
            });
            let c = r.ok()?;
            Some(TrialOutcome {
                sent: c.sent,
                received: c.received,
                lost: c.lost + c.kernel_drops,
                achieved_pps: c.sent_pps,
            })
        });
        out.push(ZeroLossRow { label: rr.label.clone(), row: rr.row, setting: rr.setting, search });
    }
    Ok(out)
}

/// Latency of one row at a fraction of its maximum rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyRow {
    /// Row label.
    pub label: String,
    /// The row.
    pub row: Row,
    /// Setting index.
    pub setting: usize,
    /// The fraction of the maximum.
    pub fraction: f64,
    /// The maximum it is a fraction of (zero-loss rate when searched, else median received).
    pub max_rate: f64,
    /// The offered (paced) rate.
    pub rate: u64,
    /// The cell, when it ran.
    pub result: Option<CellResult>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Measures every udprx row once at `fraction` of its maximum rate, paced, with timestamps.
pub fn run_latency(
    plan: &Plan,
    matrix: &MatrixResult,
    zero_loss: &[ZeroLossRow],
    fraction: f64,
    bench: &mut dyn Bench,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&Progress<'_>),
) -> Result<Vec<LatencyRow>> {
    let mut out = Vec::new();
    let rows: Vec<&RowResult> = matrix.rows.iter().filter(|r| r.row.is_udprx()).collect();
    let total = rows.len();
    for (done, rr) in rows.into_iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let zl = zero_loss
            .iter()
            .find(|z| z.row == rr.row && z.setting == rr.setting)
            .and_then(|z| z.search.rate);
        let max_rate = zl.map(|r| r as f64).unwrap_or(rr.summary.rx_pps_median);
        let rate = (max_rate * fraction) as u64;
        if rate == 0 {
            continue;
        }
        bench.enter_setting(rr.setting)?;
        let spec = plan.cell(rr.row, rr.setting, Some(rate), true);
        let r = bench.run_cell(&spec);
        if matches!(r, Err(Error::Interrupted)) {
            break;
        }
        let (result, error) = match r {
            Ok(c) => (Some(c), None),
            Err(e) => (None, Some(e.to_string())),
        };
        progress(&Progress {
            stage: "latency",
            done: done + 1,
            total,
            setting: &plan.settings[rr.setting],
            label: &rr.label,
            rate: Some(rate),
            outcome: match (&result, &error) {
                (Some(c), _) => Ok(c),
                (None, e) => Err(e.as_deref().unwrap_or("failed")),
            },
        });
        out.push(LatencyRow {
            label: rr.label.clone(),
            row: rr.row,
            setting: rr.setting,
            fraction,
            max_rate,
            rate,
            result,
            error,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{CellResult, Receiver};

    fn sel(size: Size) -> Selection {
        Selection {
            size,
            methods: vec![],
            fanouts: vec![],
            scenarios: vec![],
            gro_everywhere: false,
            spin: true,
            peers: vec![],
        }
    }

    #[test]
    fn matrix_sizes() {
        let d = rows(&sel(Size::Default));
        // classic: 3 methods × 3 fan-outs + 1 spin; gso: 3 methods × 1 socket × gro off/on.
        assert_eq!(d.len(), 9 + 1 + 6);
        let q = rows(&sel(Size::Quick));
        assert!(q.len() < d.len());
        let f = rows(&sel(Size::Full));
        assert_eq!(f.len(), 3 * 3 * 2 * 2 + 3);
        // Every default row is distinct.
        let mut u = d.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), d.len());
        // The default fits in 3 minutes at 3 × 3 s.
        let plan = plan_for(d, 3, 3.0);
        assert!(plan.estimate_secs() <= 180.0, "{}", plan.estimate_secs());
        let plan = plan_for(q, 2, 2.0);
        assert!(plan.estimate_secs() < 55.0, "{}", plan.estimate_secs());
    }

    #[test]
    fn filters_can_empty_the_matrix() {
        let mut s = sel(Size::Default);
        s.methods = vec![RecvMethod::Uring];
        assert!(
            rows(&s)
                .iter()
                .all(|r| matches!(r.receiver, Receiver::Udprx { method: RecvMethod::Uring, .. }))
        );
        s.scenarios = vec![Scenario::Gso];
        s.fanouts = vec![Fanout::Hash];
        assert!(rows(&s).is_empty());
    }

    #[test]
    fn rotation_is_a_permutation() {
        for n in 1..10 {
            for rep in 0..5 {
                let mut o = order(n, rep);
                o.sort();
                assert_eq!(o, (0..n).collect::<Vec<_>>());
            }
        }
        assert_ne!(order(5, 0)[0], order(5, 1)[0]);
    }

    fn plan_for(rows: Vec<Row>, reps: usize, secs: f64) -> Plan {
        Plan {
            rows,
            settings: vec!["current".into()],
            sockopts: vec![SockOpts::default()],
            reps,
            secs,
            sockets: 2,
            rate: None,
            sender_cpus: vec![0],
            receiver_cpus_one: vec![1],
            receiver_cpus_many: vec![0, 1],
        }
    }

    /// A fake network: each method has a capacity; the sender offers 1 Mpps unpaced.
    struct Fake {
        cells: Vec<CellSpec>,
        settings: Vec<usize>,
        fail_uring: bool,
    }

    fn capacity(row: &Row) -> f64 {
        match row.receiver {
            Receiver::Udprx { method: RecvMethod::Recvfrom, .. } => 200_000.0,
            Receiver::Udprx { method: RecvMethod::Recvmmsg, .. } => 500_000.0,
            _ => 400_000.0,
        }
    }

    impl Bench for Fake {
        fn enter_setting(&mut self, index: usize) -> Result<()> {
            self.settings.push(index);
            Ok(())
        }
        fn run_cell(&mut self, spec: &CellSpec) -> Result<CellResult> {
            self.cells.push(spec.clone());
            if self.fail_uring
                && matches!(spec.row.receiver, Receiver::Udprx { method: RecvMethod::Uring, .. })
            {
                return Err(Error::Cell("io_uring unavailable".into()));
            }
            let offered = spec.rate.map(|r| r as f64).unwrap_or(1_000_000.0);
            let got = offered.min(capacity(&spec.row));
            let sent = (offered * spec.secs) as u64;
            let received = (got * spec.secs) as u64;
            Ok(CellResult {
                sent,
                received,
                lost: sent - received,
                sent_pps: offered,
                rx_pps: got,
                latency: spec
                    .timestamps
                    .then_some(Latency { p50_ns: 10_000, ..Latency::default() }),
                ..CellResult::default()
            })
        }
    }

    #[test]
    fn matrix_interleaves_repeats_and_summarizes() {
        let mut s = sel(Size::Quick);
        s.spin = false;
        let plan = Plan {
            settings: vec!["a".into(), "b".into()],
            sockopts: vec![SockOpts::default(); 2],
            ..plan_for(rows(&s), 3, 1.0)
        };
        let mut fake = Fake { cells: vec![], settings: vec![], fail_uring: true };
        let mut lines = 0;
        let m = run_matrix(&plan, &mut fake, &AtomicBool::new(false), &mut |_| lines += 1).unwrap();
        assert_eq!(lines, plan.cells());
        assert_eq!(fake.cells.len(), plan.cells());
        assert_eq!(m.rows.len(), plan.rows.len() * 2);
        assert!(!m.interrupted);
        // Settings alternate within each repetition.
        assert_eq!(fake.settings, vec![0, 1, 0, 1, 0, 1]);
        // Each repetition starts with a different row.
        let n = plan.rows.len();
        assert_ne!(fake.cells[0].row, fake.cells[2 * n].row);
        for r in &m.rows {
            assert_eq!(r.cells.len(), 3);
            if matches!(r.row.receiver, Receiver::Udprx { method: RecvMethod::Uring, .. }) {
                assert_eq!(r.summary.reps_ok, 0);
                assert!(r.cells.iter().all(|c| c.error.is_some()));
            } else {
                assert_eq!(r.summary.reps_ok, 3);
                assert_eq!(r.summary.rx_pps_median, capacity(&r.row));
                assert!(r.summary.loss_median > 0.0);
            }
        }
        // Fan-out cells get the many-core list and N sockets.
        assert!(fake.cells.iter().any(|c| c.sockets == 2 && c.receiver_cpus == vec![0, 1]));
    }

    #[test]
    fn stop_flag_ends_between_cells() {
        let plan = plan_for(rows(&sel(Size::Quick)), 2, 1.0);
        let mut fake = Fake { cells: vec![], settings: vec![], fail_uring: false };
        let stop = AtomicBool::new(false);
        let mut seen = 0;
        let m = run_matrix(&plan, &mut fake, &stop, &mut |_| {
            seen += 1;
            if seen == 3 {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert!(m.interrupted);
        assert_eq!(fake.cells.len(), 3);
    }

    #[test]
    fn zero_loss_and_latency_find_each_capacity() {
        let mut s = sel(Size::Quick);
        s.spin = false;
        s.scenarios = vec![Scenario::Classic];
        let plan = plan_for(rows(&s), 1, 1.0);
        let mut fake = Fake { cells: vec![], settings: vec![], fail_uring: false };
        let stop = AtomicBool::new(false);
        let m = run_matrix(&plan, &mut fake, &stop, &mut |_| {}).unwrap();
        let zl = run_zero_loss(&plan, &m, &mut fake, None, &stop, &mut |_| {}).unwrap();
        assert_eq!(zl.len(), plan.rows.len());
        for z in &zl {
            let cap = capacity(&z.row);
            let rate = z.search.rate.unwrap() as f64;
            assert!(rate <= cap && rate >= 0.99 * cap, "{}: {rate} vs {cap}", z.label);
        }
        let lat = run_latency(&plan, &m, &zl, 0.5, &mut fake, &stop, &mut |_| {}).unwrap();
        for l in &lat {
            let cap = capacity(&l.row);
            assert!((l.rate as f64) <= 0.5 * cap && (l.rate as f64) >= 0.49 * cap);
            assert!(l.result.as_ref().unwrap().latency.is_some());
        }
        assert!(fake.cells.iter().filter(|c| c.timestamps).all(|c| c.rate.is_some()));
    }
}
