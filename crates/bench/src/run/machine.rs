//! The real machine behind the [`Bench`] trait: [`RealBench`] runs each trial as a cell on
//! this host's topology (loopback or the veth pair), and [`profile_paths`] samples each path
//! with perf in one extra trial outside the curves.

use super::Prepared;
use crate::lab::profile;
use crate::lab::sysctl::{Applier, Profile};
use crate::lab::topology::{Kind, Topology};
use crate::model::curve::CurveRun;
use crate::{Bench, CellResult, CellSpec, Receiver, Result};
use std::sync::atomic::AtomicBool;

/// The real measurement side.
pub(super) struct RealBench<'a> {
    pub(super) topo: &'a Topology,
    pub(super) applier: Applier,
    /// NIC settings of the receiving interface (`--nic`).
    pub(super) nic: crate::lab::nic::NicApplier,
    pub(super) settings: &'a [Profile],
    pub(super) rps: bool,
    pub(super) xdp_on_sender: bool,
    pub(super) rps_mask: Option<Vec<usize>>,
    pub(super) stop: &'a AtomicBool,
    pub(super) setting_notes: Vec<Vec<String>>,
    pub(super) current: Option<usize>,
    /// The sender agents flooding every trial (`--sender`); `None` on loopback and veth.
    pub(super) agents: Option<crate::lab::remote::Agents>,
}

impl Bench for RealBench<'_> {
    fn enter_setting(&mut self, index: usize) -> Result<()> {
        if self.current == Some(index) {
            return Ok(());
        }
        let s = &self.settings[index];
        self.applier.switch_to(s)?;
        self.nic.switch_to(s)?;
        let mut notes = Vec::new();
        if let Some(on) = s.veth_gro
            && let Some(why) = self.topo.set_veth_gro(on)
        {
            notes.push(why);
        }
        if self.setting_notes.len() <= index {
            self.setting_notes.resize(index + 1, Vec::new());
        }
        for n in notes {
            if !self.setting_notes[index].contains(&n) {
                self.setting_notes[index].push(n);
            }
        }
        self.rps_mask = None;
        self.current = Some(index);
        Ok(())
    }

    fn run_cell(&mut self, spec: &CellSpec) -> Result<CellResult> {
        if let Some(a) = self.agents.as_mut() {
            return crate::lab::remote::run_cell(self.topo, spec, a, self.stop);
        }
        let rps = self.set_rps_for(spec)?;
        match spec.row.receiver {
            Receiver::Udprx { method, fanout, gro, spin, sources } => crate::lab::cell::run_udprx(
                self.topo,
                spec,
                // Receiver-bound like RPS: the XDP rows move the veth's NAPI to the receiver.
                crate::lab::cell::UdprxPath {
                    method,
                    fanout,
                    gro,
                    spin,
                    sources,
                    threaded_napi: rps && !self.xdp_on_sender,
                },
                self.stop,
            ),
            Receiver::Peer { peer } => {
                crate::lab::peers::run_peer(self.topo, spec, peer, self.stop)
            }
        }
    }
}

impl RealBench<'_> {
    /// Points RPS at the cell's receiver cores (or off) where the setting wants it; returns
    /// whether the setting wants RPS.
    fn set_rps_for(&mut self, spec: &CellSpec) -> Result<bool> {
        let rps = self.current.and_then(|i| self.settings[i].rps).unwrap_or(self.rps);
        if self.topo.kind() == Kind::Veth {
            let want = if rps { spec.receiver_cpus.clone() } else { Vec::new() };
            if self.rps_mask.as_ref() != Some(&want) {
                self.topo.set_rps(&want)?;
                self.rps_mask = Some(want);
            }
        }
        Ok(rps)
    }

    /// Runs one udprx cell with `window` called around its measured window.
    fn run_watched(
        &mut self,
        spec: &CellSpec,
        path: crate::lab::cell::UdprxPath,
        window: &mut dyn crate::lab::cell::CellWindow,
    ) -> Result<CellResult> {
        let rps = self.set_rps_for(spec)?;
        let path =
            crate::lab::cell::UdprxPath { threaded_napi: rps && !self.xdp_on_sender, ..path };
        crate::lab::cell::run_udprx_watched(self.topo, spec, path, self.stop, window)
    }
}

/// Enables the profiler when the sender starts and disables it when the sender ends.
struct PerfWindow<'a> {
    session: &'a mut profile::PerfSession,
    error: Option<String>,
}

impl crate::lab::cell::CellWindow for PerfWindow<'_> {
    fn open(&mut self) {
        if let Err(e) = self.session.enable() {
            self.error.get_or_insert(e);
        }
    }
    fn close(&mut self) {
        if let Err(e) = self.session.disable() {
            self.error.get_or_insert(e);
        }
    }
}

/// `--profile`: one extra trial per udprx path at its scenario's common paced rate (the
/// lowest paced rate it was measured at when the scenario has none), sampled by perf on the
/// receiver's cores, after the curves so perf's overhead never enters their figures. Writes
/// `profile-<path>.svg` into `out_dir`. Without perf or permission it records why and returns.
pub(super) fn profile_paths(
    bench: &mut RealBench<'_>,
    prep: &Prepared,
    curves: &CurveRun,
    stop: &AtomicBool,
    progress: &mut dyn FnMut(&str),
) -> profile::ProfileRun {
    let mut run = profile::ProfileRun {
        unavailable: None,
        freq: profile::DEFAULT_FREQ,
        notes: Vec::new(),
        paths: Vec::new(),
    };
    let profiler = match profile::Profiler::new(profile::DEFAULT_FREQ) {
        Ok(p) => p,
        Err(why) => {
            progress(&format!("udprx bench: profile: not sampled: {why}"));
            run.unavailable = Some(why.0);
            return run;
        }
    };
    run.notes = profiler.notes.clone();
    let secs = prep.curve.trial_secs.max(profile::PROFILE_SECS);
    let multi = prep.plan.settings.len() > 1;
    for s in &curves.series {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            run.notes.push("interrupted (Ctrl-C): not every path was profiled".into());
            break;
        }
        let crate::Receiver::Udprx { method, fanout, gro, spin, sources } = s.row.receiver else {
            continue;
        };
        let rate = curves
            .common_rates
            .iter()
            .find(|(sc, _)| *sc == s.row.scenario)
            .map(|(_, r)| *r)
            .or_else(|| s.paced().filter(|p| p.n() > 0).filter_map(|p| p.rate).min());
        let label = if multi {
            format!("{} [{}]", s.label, prep.plan.settings[s.setting])
        } else {
            s.label.clone()
        };
        let mut spec = prep.plan.cell(s.row, s.setting, rate, false);
        spec.secs = secs;
        // `run_watched` sets threaded NAPI as the curve's trials had it.
        let path = crate::lab::cell::UdprxPath {
            method,
            fanout,
            gro,
            spin,
            sources,
            threaded_napi: false,
        };
        let mut entry = profile::PathProfile {
            label: label.clone(),
            setting: s.setting,
            rate,
            secs,
            svg: None,
            table: None,
            rx_pps: None,
            error: None,
        };
        let measured = (|| -> std::result::Result<_, String> {
            bench.enter_setting(s.setting).map_err(|e| e.to_string())?;
            let mut session = profiler.start(&spec.receiver_cpus)?;
            let mut window = PerfWindow { session: &mut session, error: None };
            let cell = bench.run_watched(&spec, path, &mut window).map_err(|e| e.to_string())?;
            if let Some(e) = window.error {
                return Err(e);
            }
            let sampled = session.window().as_secs_f64();
            let collapsed = session.finish()?;
            Ok((cell, collapsed, sampled))
        })();
        match measured {
            Ok((cell, collapsed, sampled)) => {
                let table = profile::ProfileTable::from_collapsed(
                    &collapsed,
                    std::process::id(),
                    &spec.receiver_cpus,
                    profiler.freq(),
                    sampled,
                    cell.received,
                );
                let file = format!("profile-{}.svg", profile::slug(&label));
                let title = format!(
                    "{label} at {} — {}",
                    rate.map_or("unpaced".into(), |r| format!(
                        "{} pps",
                        crate::text::kpps(r as f64)
                    )),
                    table.headline().trim_start_matches("profile: ")
                );
                match profile::flame_graph(&collapsed, &title, &prep.out_dir.join(&file)) {
                    Ok(()) => entry.svg = Some(file),
                    Err(e) => entry.error = Some(e),
                }
                progress(&format!(
                    "profile {label}: {} samples, busy {:.1}%, rx {} pps",
                    table.samples,
                    100.0 - table.percent_of(profile::Category::Idle),
                    crate::text::kpps(cell.rx_pps)
                ));
                entry.rx_pps = Some(cell.rx_pps);
                entry.table = Some(table);
            }
            Err(e) => {
                progress(&format!("profile {label}: FAILED: {e}"));
                entry.error = Some(e);
            }
        }
        run.paths.push(entry);
    }
    run
}
