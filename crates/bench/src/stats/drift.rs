//! Drift within a run, as the yardstick for calls across runs.
//!
//! A 95% interval from one run covers the noise *within* that run, not the slow change of the
//! machine between runs (frequency, neighbours on a shared host, thermal state): two default
//! runs minutes apart moved the same figure by up to 10% while each run's interval was ±4%. A
//! run therefore measures how much its own figures moved from its start to its end and records
//! it; a call across runs must clear that drift as well as both runs' intervals.
//!
//! Method: every repeated point (same path, setting and offered rate) is run several times,
//! interleaved with the other rows over the whole run. Within each point the logs of the
//! samples are regressed on the trial's position in the run (0 = first trial, 1 = last); the
//! slope is pooled over every point (each point centred on its own mean, so only movement
//! *within* a point counts). `exp(|slope|) - 1` is the relative change of the run's figures
//! from start to end. It costs no trial: it reuses the repetitions the intervals need.

/// The drift a run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Relative change from the start to the end of the run (0.05 = 5%), either direction.
    pub rel: f64,
    /// Signed pooled slope of ln(value) over the run (positive: figures rose).
    pub slope: f64,
    /// Standard error of the slope.
    pub se: f64,
    /// Samples used.
    pub samples: usize,
    /// Repeated points used.
    pub points: usize,
}

/// The pooled within-point trend of `groups`: each group is one repeated point's samples as
/// (position in the run in [0, 1], value). Values that are not positive and finite are ignored;
/// groups with fewer than 2 usable samples or a single position carry no slope. `None` when
/// fewer than 2 groups carry one or fewer than 3 degrees of freedom remain.
pub fn trend(groups: &[Vec<(f64, f64)>]) -> Option<Trend> {
    let mut used: Vec<Vec<(f64, f64)>> = Vec::new();
    for g in groups {
        let v: Vec<(f64, f64)> = g
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite() && *y > 0.0)
            .map(|(x, y)| (*x, y.ln()))
            .collect();
        if v.len() < 2 {
            continue;
        }
        let mx = v.iter().map(|p| p.0).sum::<f64>() / v.len() as f64;
        let my = v.iter().map(|p| p.1).sum::<f64>() / v.len() as f64;
        let c: Vec<(f64, f64)> = v.iter().map(|(x, y)| (x - mx, y - my)).collect();
        if c.iter().all(|p| p.0.abs() < 1e-12) {
            continue;
        }
        used.push(c);
    }
    let samples: usize = used.iter().map(|g| g.len()).sum();
    let df = samples as f64 - used.len() as f64 - 1.0;
    if used.len() < 2 || df < 3.0 {
        return None;
    }
    let sxx: f64 = used.iter().flatten().map(|p| p.0 * p.0).sum();
    let sxy: f64 = used.iter().flatten().map(|p| p.0 * p.1).sum();
    let slope = sxy / sxx;
    let sse: f64 = used.iter().flatten().map(|p| (p.1 - slope * p.0).powi(2)).sum();
    let se = (sse / df / sxx).sqrt();
    Some(Trend { rel: slope.abs().exp() - 1.0, slope, se, samples, points: used.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_rise_is_found_and_flat_points_show_none() {
        // Three points at different levels, each rising 8% (in logs) over the run.
        let g = |level: f64| -> Vec<(f64, f64)> {
            (0..5).map(|i| i as f64 / 4.0).map(|x| (x, level * (0.08 * x).exp())).collect()
        };
        let t = trend(&[g(1e5), g(3e5), g(9e5)]).unwrap();
        assert!((t.slope - 0.08).abs() < 1e-9, "{t:?}");
        assert!((t.rel - (0.08f64.exp() - 1.0)).abs() < 1e-9, "{t:?}");
        let flat: Vec<Vec<(f64, f64)>> = (0..3)
            .map(|k| (0..4).map(|i| (i as f64 / 3.0, 1e5 * (k + 1) as f64)).collect())
            .collect();
        assert_eq!(trend(&flat).unwrap().rel, 0.0);
        // Too little: one point, or single positions.
        assert!(trend(&[g(1e5)]).is_none());
        assert!(trend(&[vec![(0.5, 1.0), (0.5, 2.0)], vec![(0.1, 1.0)]]).is_none());
    }
}
