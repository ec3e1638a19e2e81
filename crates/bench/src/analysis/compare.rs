//! Across runs: kernel versions, boot parameters (`mitigations=off`) and hosts cannot be
//! switched inside one run, so two saved `report.json` files are put side by side with the same
//! verdicts and intervals as paths within a run (`udprx compare A B`, `udprx bench --baseline
//! A`). Each path of run B is matched with the same path under the same setting name in run A,
//! and compared on every headline figure from the stored trials. Differences between the two
//! environments that change what the figures mean (kernel, CPU model, cores, topology, RPS,
//! sysctls in force, trial duration) are listed as warnings.

use crate::analysis::answer::{Figure, PairVerdict, compare};
pub use crate::model::report::BaselineComparison as Comparison;
use crate::model::report::{BenchReport, SCHEMA};
use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

/// Largest report file read (a default run writes a few MB).
pub const MAX_REPORT_BYTES: u64 = 256 << 20;

/// Reads a saved report, refusing files that are too large, unreadable or of another schema.
pub fn load(path: &Path) -> Result<BenchReport> {
    let bad = |why: String| Error::BadInput(format!("{}: {why}", path.display()));
    let f = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut text = String::new();
    f.take(MAX_REPORT_BYTES + 1).read_to_string(&mut text).map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_REPORT_BYTES {
        return Err(bad(format!("larger than {} MiB", MAX_REPORT_BYTES >> 20)));
    }
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    match v.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(other) => {
            return Err(bad(format!(
                "schema {other:?}; this udprx compares {SCHEMA:?} reports (rerun the older one)"
            )));
        }
        None => return Err(bad("not a udprx bench report (no schema field)".into())),
    }
    serde_json::from_value(v).map_err(|e| bad(format!("malformed report: {e}")))
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
            if let Some((ratio, call)) = compare(sb, sa, f) {
                verdicts.push(PairVerdict {
                    scenario: sb.row.scenario,
                    a: format!("{label} ({b_name})"),
                    b: format!("{label} ({a_name})"),
                    setting_a: sb.setting,
                    setting_b: sa.setting,
                    figure: f,
                    ratio,
                    call,
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
    }
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
            if let Some(vb) = sb.in_force.get(key) {
                if va.value != vb.value {
                    w.push(format!(
                        "sysctl {key} under `{}`: {} vs {}",
                        sa.name, va.value, vb.value
                    ));
                }
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
