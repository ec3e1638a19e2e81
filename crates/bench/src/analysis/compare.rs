//! Across runs: kernel versions, boot parameters (`mitigations=off`) and hosts cannot be
//! switched inside one run, so two saved `report.json` files are put side by side with the same
//! verdicts and intervals as paths within a run (`udprx compare A B`, `udprx bench --baseline
//! A`). Each path of run B is matched with the same path under the same setting name in run A,
//! and compared on every headline figure from the stored trials. Differences between the two
//! environments that change what the figures mean (kernel, CPU model, cores, topology, RPS,
//! sysctls in force, trial duration) are listed as warnings.
//!
//! Calls across runs are calibrated against drift: a within-run interval does not cover how
//! much the machine moved between the runs, so B/A is called faster or slower only when its
//! whole 95% interval (which carries both runs' within-run spread) lies beyond the larger of
//! [`interval::MIN_EFFECT`] and each run's measured drift ([`crate::stats::drift`], recorded in
//! `curves.drift`). Each verdict says which bound limited it. A report without a drift (schema
//! `udprx-bench/2`) is compared with the margin alone and the verdict says "drift unknown".

use crate::analysis::answer::{Figure, PairVerdict, compare};
pub use crate::model::report::BaselineComparison as Comparison;
use crate::model::report::{BenchReport, SCHEMA, SCHEMA_READABLE};
use crate::stats::interval::{self, Call, Interval};
use crate::{Error, Result};
use std::path::Path;

/// Largest report file read (a default run writes a few MB).
pub const MAX_REPORT_BYTES: u64 = 256 << 20;

/// Reads a saved report, refusing files that are too large, unreadable or of another schema.
pub fn load(path: &Path) -> Result<BenchReport> {
    let bad = |why: String| Error::BadInput(format!("{}: {why}", path.display()));
    let text = udprx_stats::bounded::read_to_string(path, MAX_REPORT_BYTES)
        .map_err(|e| bad(e.to_string()))?;
    let mut v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    // A saved report may come from anyone: its strings reach the terminal and report.md.
    escape_strings(&mut v);
    match v.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(old) if SCHEMA_READABLE.contains(&old) => {}
        Some(other) => {
            return Err(bad(format!(
                "schema {other:?}; this udprx compares {SCHEMA:?} reports (rerun the older one)"
            )));
        }
        None => return Err(bad("not a udprx bench report (no schema field)".into())),
    }
    serde_json::from_value(v).map_err(|e| bad(format!("malformed report: {e}")))
}

/// Replaces every string of a JSON value (object keys too) by its
/// [escaped](udpprobe::text::escape) form: no control character, CSI/OSC introducer, bidi
/// override or newline of an outside report reaches a terminal or a Markdown file raw.
pub fn escape_strings(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) if s.chars().any(udpprobe::text::is_unsafe) => {
            *s = udpprobe::text::escape(s);
        }
        Value::Array(a) => a.iter_mut().for_each(escape_strings),
        Value::Object(m) => {
            if m.keys().any(|k| k.chars().any(udpprobe::text::is_unsafe)) {
                *m = std::mem::take(m)
                    .into_iter()
                    .map(|(k, v)| (udpprobe::text::escape(&k), v))
                    .collect();
            }
            m.values_mut().for_each(escape_strings);
        }
        _ => {}
    }
}

/// Compares run `b` against run `a`.
pub fn compare_reports(a: &BenchReport, b: &BenchReport, a_name: &str, b_name: &str) -> Comparison {
    let setting_name =
        |r: &BenchReport, i: usize| r.settings.get(i).map(|s| s.name.clone()).unwrap_or_default();
    let mut verdicts = Vec::new();
    let mut unmatched = Vec::new();
    for sb in &b.curves.series {
        let name_b = setting_name(b, sb.setting);
        let found = a
            .curves
            .series
            .iter()
            .find(|sa| sa.row == sb.row && setting_name(a, sa.setting) == name_b);
        let label = if b.settings.len() > 1 {
            format!("{} [{name_b}]", sb.label)
        } else {
            sb.label.clone()
        };
        let Some(sa) = found else {
            unmatched.push(format!("{label} (only in {b_name})"));
            continue;
        };
        for f in Figure::ALL {
            // CPU cost is compared only at the same offered rate.
            if f == Figure::Cpu && sa.figures.common_rate != sb.figures.common_rate {
                continue;
            }
            if let Some((ratio, _)) = compare(sb, sa, f) {
                let drifts = (a.curves.drift.map(|d| d.rel), b.curves.drift.map(|d| d.rel));
                let (call, limited) = cross_call(&ratio, f.higher_is_better(), drifts);
                verdicts.push(PairVerdict {
                    scenario: sb.row.scenario,
                    a: format!("{label} ({b_name})"),
                    b: format!("{label} ({a_name})"),
                    setting_a: sb.setting,
                    setting_b: sa.setting,
                    figure: f,
                    ratio,
                    call,
                    limited_by: Some(limited),
                });
            }
        }
    }
    for sa in &a.curves.series {
        let name_a = setting_name(a, sa.setting);
        if !b
            .curves
            .series
            .iter()
            .any(|sb| sb.row == sa.row && setting_name(b, sb.setting) == name_a)
        {
            unmatched.push(format!("{} (only in {a_name})", sa.label));
        }
    }
    Comparison {
        a: a_name.into(),
        b: b_name.into(),
        verdicts,
        unmatched,
        warnings: differences(a, b),
        drift_a: a.curves.drift,
        drift_b: b.curves.drift,
    }
}

/// The call on a ratio B/A across two runs whose measured drifts are `drifts` (`None`:
/// unknown), and what limited it. The margin is the larger of [`interval::MIN_EFFECT`] and
/// both drifts; the whole interval must clear it. The second value names the binding bound:
/// "within-run interval" when the interval itself straddles the margin, "drift ±x%" when the
/// interval would have cleared the fixed margin but not the drift; a call made names what it
/// cleared. Either drift unknown adds "(drift unknown)".
pub fn cross_call(
    ratio: &Interval,
    higher_is_better: bool,
    drifts: (Option<f64>, Option<f64>),
) -> (Call, String) {
    let known = [drifts.0, drifts.1];
    let drift = known.iter().flatten().copied().fold(0.0, f64::max);
    let margin = interval::MIN_EFFECT.max(drift);
    let call = interval::call(ratio, higher_is_better, margin);
    let plain = interval::call(ratio, higher_is_better, interval::MIN_EFFECT);
    let mut why = if call != Call::Indistinguishable {
        format!("cleared within-run intervals and ±{:.1}%", margin * 100.0)
    } else if plain != Call::Indistinguishable {
        format!("drift ±{:.1}%", drift * 100.0)
    } else {
        "within-run interval".to_string()
    };
    if known.iter().any(|d| d.is_none()) {
        why.push_str(" (drift unknown)");
    }
    (call, why)
}

/// Environment differences that matter for the comparison.
pub fn differences(a: &BenchReport, b: &BenchReport) -> Vec<String> {
    let mut w = Vec::new();
    let mut diff = |what: &str, x: String, y: String| {
        if x != y {
            w.push(format!("{what} differs: {x} vs {y}"));
        }
    };
    diff("kernel", a.env.kernel.clone(), b.env.kernel.clone());
    diff("CPU model", a.env.cpu_model.clone(), b.env.cpu_model.clone());
    diff("cores", a.env.cores.to_string(), b.env.cores.to_string());
    diff("topology", a.topology.kind.name().to_string(), b.topology.kind.name().to_string());
    diff("RPS", a.topology.rps.to_string(), b.topology.rps.to_string());
    diff("mitigations", a.env.mitigations.join("; "), b.env.mitigations.join("; "));
    diff("virtualized", a.env.virtualized.to_string(), b.env.virtualized.to_string());
    diff(
        "trial duration",
        format!("{} s", a.config.curve.trial_secs),
        format!("{} s", b.config.curve.trial_secs),
    );
    for (sa, sb) in a.settings.iter().zip(&b.settings) {
        for (key, va) in &sa.in_force {
            if let Some(vb) = sb.in_force.get(key)
                && va.value != vb.value
            {
                w.push(format!("sysctl {key} under `{}`: {} vs {}", sa.name, va.value, vb.value));
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::interval::Call;

    fn fixture() -> BenchReport {
        serde_json::from_str(include_str!("../../tests/fixtures/golden/report.json")).unwrap()
    }

    /// splitmix64: a seeded generator for the synthetic runs.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next().max(1e-300), self.next());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// A synthetic run: 6 points × 5 repetitions interleaved over the run, 2% noise per trial,
    /// the machine drifting by `drift` (either sign) from start to end and sitting `offset`
    /// (in logs) away from the other run. Returns the headline point's samples and the drift
    /// the run measures with [`crate::stats::drift::trend`].
    fn synthetic_run(rng: &mut Rng, offset: f64, drift: f64, effect: f64) -> (Vec<f64>, f64) {
        let (points, reps) = (6usize, 5usize);
        let sign = if rng.next() < 0.5 { -1.0 } else { 1.0 };
        let slope = sign * (1.0 + drift).ln();
        let last = (points * reps - 1) as f64;
        let groups: Vec<Vec<(f64, f64)>> = (0..points)
            .map(|g| {
                let level = 1e5 * (1.0 + g as f64);
                (0..reps)
                    .map(|r| {
                        let pos = (r * points + g) as f64 / last;
                        let ln = offset + slope * (pos - 0.5) + 0.02 * rng.normal();
                        (pos, level * effect * ln.exp())
                    })
                    .collect()
            })
            .collect();
        let measured = crate::stats::drift::trend(&groups).unwrap().rel;
        (groups[0].iter().map(|p| p.1).collect(), measured)
    }

    /// Calls of 200 seeded pairs of runs: B/A with a true `effect`, each run drifting by
    /// `drift` and the two runs apart by up to `drift` (uniform, either sign).
    fn calls(seed: u64, drift: f64, effect: f64) -> Vec<(Call, String)> {
        let mut rng = Rng(seed);
        (0..200)
            .map(|_| {
                let (a, da) = synthetic_run(&mut rng, 0.0, drift, 1.0);
                let apart = (2.0 * rng.next() - 1.0) * (1.0 + drift).ln();
                let (b, db) = synthetic_run(&mut rng, apart, drift, effect);
                let r = interval::ratio(&b, &a).unwrap();
                cross_call(&r, true, (Some(da), Some(db)))
            })
            .collect()
    }

    #[test]
    fn a_a_runs_with_drift_are_indistinguishable() {
        for drift in [0.05, 0.12] {
            let c = calls(20 + (drift * 100.0) as u64, drift, 1.0);
            let same = c.iter().filter(|(c, _)| *c == Call::Indistinguishable).count();
            assert!(same >= 190, "drift {drift}: {same}/200 indistinguishable");
            // Where the fixed margin alone would have called noise, the drift is named.
            if drift > interval::MIN_EFFECT {
                assert!(c.iter().any(|(_, why)| why.starts_with("drift ±")), "{c:?}");
            }
        }
    }

    #[test]
    fn a_true_20_percent_effect_with_5_percent_drift_is_called() {
        let c = calls(7, 0.05, 1.2);
        let called = c.iter().filter(|(c, _)| *c == Call::Faster).count();
        assert!(called >= 180, "{called}/200 called faster");
        assert!(c.iter().all(|(c, _)| *c != Call::Slower));
        assert!(c.iter().any(|(_, why)| why.starts_with("cleared")), "{c:?}");
    }

    #[test]
    fn an_old_report_without_drift_still_compares_and_says_so() {
        let r = fixture();
        assert_eq!(r.schema, "udprx-bench/2");
        assert!(r.curves.drift.is_none());
        let c = compare_reports(&r, &r, "a", "b");
        assert!(
            c.verdicts
                .iter()
                .all(|v| v.limited_by.as_deref().is_some_and(|w| w.contains("drift unknown")))
        );
        let text = crate::render::markdown::comparison(&c, true);
        assert!(text.contains("a: drift not measured"), "{text}");
    }

    #[test]
    fn a_run_against_itself_ties_everywhere_and_differs_in_nothing() {
        let r = fixture();
        let c = compare_reports(&r, &r, "a", "b");
        assert!(!c.verdicts.is_empty());
        assert!(c.verdicts.iter().all(|v| v.call == Call::Indistinguishable), "{c:?}");
        assert!(c.unmatched.is_empty(), "{:?}", c.unmatched);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn a_missing_path_and_another_kernel_are_reported() {
        let a = fixture();
        let mut b = a.clone();
        let gone = b.curves.series.remove(0).label;
        b.env.kernel = "0.0.0-other".into();
        let c = compare_reports(&a, &b, "a", "b");
        assert!(c.unmatched.iter().any(|u| u.contains(&gone) && u.contains("only in a")), "{c:?}");
        assert!(c.warnings.iter().any(|w| w.contains("kernel")), "{:?}", c.warnings);
        assert!(c.verdicts.iter().all(|v| !v.a.contains(&gone)), "{c:?}");
    }

    #[test]
    fn load_refuses_other_schemas_and_non_reports() {
        let dir = std::env::temp_dir().join(format!("udprx-bench-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (text, why) in [
            (r#"{"schema": "udprx-bench/1"}"#, "schema"),
            (r#"{"x": 1}"#, "no schema field"),
            ("not json", "not JSON"),
        ] {
            let p = dir.join("report.json");
            std::fs::write(&p, text).unwrap();
            let e = load(&p).unwrap_err();
            assert!(e.is_bad_input() && e.to_string().contains(why), "{text}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
