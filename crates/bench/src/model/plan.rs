//! The plan of a run: which rows (paths × scenarios) under which settings, the cores they use,
//! and the rotation that interleaves them. What is measured at each row is decided by
//! `harness::curve`.

use crate::{CellResult, CellSpec, Fanout, Method, PeerKind, Row, Scenario, SockOpts};
use serde::{Deserialize, Serialize};

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// About a minute: the three methods on one socket in the classic flood (and recvmmsg
    /// fan-out where the host has the cores), a short grid, 0.5 s trials.
    Quick,
    /// About four minutes: the three methods on one socket and recvmmsg fan-out in the classic
    /// flood, recvmmsg and uring with GRO in the GSO flood; the full grid, 1 s trials.
    Default,
    /// Every combination, longer budget.
    Full,
}

/// Which rows to run, before filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    /// Matrix size.
    pub size: Size,
    /// Only these methods (empty: all).
    pub methods: Vec<Method>,
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
    /// Add the `xdp` and `xdp-drop` rows to the classic flood (AF_XDP available here).
    #[serde(default)]
    pub xdp: bool,
    /// Methods whose `+sources` variant (`recvmmsg+sources`: the source address and the drop
    /// counter read with every datagram, the receive udprx made before its statistics went
    /// bare) runs beside (or, without the plain name in `methods`, instead of) the plain rows.
    #[serde(default)]
    pub sources: Vec<Method>,
}

/// The rows of a selection, in report order. Empty when the filters exclude everything.
pub fn rows(sel: &Selection) -> Vec<Row> {
    // Named only as `X+sources`, a method runs its `+sources` rows alone.
    let unfiltered = sel.methods.is_empty() && sel.sources.is_empty();
    let keep_m = |m: &Method| unfiltered || sel.methods.contains(m) || sel.sources.contains(m);
    let plain = |m: &Method| unfiltered || sel.methods.contains(m);
    let keep_f = |f: &Fanout| sel.fanouts.is_empty() || sel.fanouts.contains(f);
    let keep_s = |s: &Scenario| sel.scenarios.is_empty() || sel.scenarios.contains(s);
    let mut out = Vec::new();
    for scenario in Scenario::ALL.iter().filter(|s| keep_s(s)) {
        let first = out.len();
        // uring-recv trades the source address and control messages away; it joins the
        // default and quick plans only when named in --methods (always in --full). epoll (the
        // event-loop shape, not in Method::ALL) runs only when named, in any size.
        let explicit = |m: &Method| sel.methods.contains(m) || sel.sources.contains(m);
        for method in Method::ALL
            .iter()
            .chain(&[Method::Epoll])
            .filter(|m| keep_m(m))
            .filter(|m| **m != Method::UringRecv || sel.size == Size::Full || explicit(m))
            .filter(|m| **m != Method::Epoll || explicit(m))
        {
            for fanout in Fanout::ALL.iter().filter(|f| keep_f(f)) {
                let (m, f, s) = (*method, *fanout, *scenario);
                let wanted = match (sel.size, s) {
                    (Size::Full, _) => true,
                    // Fan-out is shown with the batched method only: the method comparison
                    // is the one-socket rows.
                    (Size::Default | Size::Quick, Scenario::Classic) => {
                        f == Fanout::One
                            || (m == Method::Recvmmsg
                                && (sel.size == Size::Default || f == Fanout::Hash))
                    }
                    // A few flows: fan-out has little to spread; with GRO the receiver takes
                    // whole buffers (without it the receive core livelocks in segmentation).
                    (Size::Default, Scenario::Gso) => f == Fanout::One && m != Method::Recvfrom,
                    (Size::Quick, Scenario::Gso) => false,
                };
                if !wanted {
                    continue;
                }
                // GRO can only matter where datagrams can be coalesced: the GSO flood (and on
                // request, or in --full, the classic one).
                // uring-recv reads no control messages, so it cannot take GRO buffers: it
                // receives the GSO flood segmented, like the bare C peers.
                let gro_variants: &[bool] = if m == Method::UringRecv {
                    &[false]
                } else if sel.size == Size::Full || (s == Scenario::Classic && sel.gro_everywhere) {
                    &[false, true]
                } else if s == Scenario::Gso {
                    &[true]
                } else {
                    &[false]
                };
                if plain(&m) {
                    for &gro in gro_variants {
                        out.push(Row::udprx(s, m, f, gro));
                    }
                }
                // Without GRO, wherever the method runs (in the GSO flood it takes segmented
                // datagrams, like uring-recv and the C peers): what addresses cost, alone.
                if sel.sources.contains(&m) {
                    out.push(Row::udprx_sources(s, m, f));
                }
            }
            if sel.spin && *scenario == Scenario::Classic && keep_f(&Fanout::One) && plain(method) {
                let spin_this = sel.size == Size::Full;
                if spin_this {
                    out.push(Row {
                        scenario: *scenario,
                        receiver: crate::Receiver::Udprx {
                            method: *method,
                            fanout: Fanout::One,
                            gro: false,
                            spin: true,
                            sources: false,
                        },
                    });
                }
            }
        }
        if sel.xdp && *scenario == Scenario::Classic && keep_f(&Fanout::One) {
            // One AF_XDP socket on the veth's single queue; the ceiling row beside it.
            for m in crate::XDP_METHODS.iter().filter(|m| keep_m(m)) {
                out.push(Row::udprx(*scenario, *m, Fanout::One, false));
            }
        }
        // Reference rows stand beside udprx rows: a scenario the plan leaves without any (the
        // GSO flood in --quick) gets no peers either.
        if out.len() == first {
            continue;
        }
        let twins: Vec<PeerKind> =
            out[first..].iter().filter_map(|r| PeerKind::twin_of(&r.receiver)).collect();
        for p in &sel.peers {
            // sockperf server and the C receivers take the same udpflood traffic as the udprx
            // rows, GSO included; iperf3 -s only counts its own client's plain datagrams, so it
            // joins the classic flood only. A bare C twin joins a scenario where a udprx row
            // it is the twin of does.
            let joins = if p.c_mode().is_some() {
                twins.contains(p)
            } else {
                *scenario == Scenario::Classic || p.fed_by_udpflood()
            };
            if joins {
                out.push(Row { scenario: *scenario, receiver: crate::Receiver::Peer { peer: *p } });
            }
        }
    }
    out
}

/// A row the host cannot measure honestly, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRow {
    /// The row's label.
    pub label: String,
    /// Why it was left out.
    pub reason: String,
}

/// The full plan of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Rows in report order.
    pub rows: Vec<Row>,
    /// Rows left out, with the reason (fan-out without a free core per socket).
    #[serde(default)]
    pub skipped: Vec<SkippedRow>,
    /// Setting names, in order (the [`crate::Bench`] knows what they set).
    pub settings: Vec<String>,
    /// Socket options of each setting.
    pub sockopts: Vec<SockOpts>,
    /// Sockets in hash/cpu fan-out.
    pub sockets: usize,
    /// Sender cores.
    pub sender_cpus: Vec<usize>,
    /// Receiver core of single-socket paths.
    pub receiver_cpus_one: Vec<usize>,
    /// Receiver cores of fan-out paths (one per socket).
    pub receiver_cpus_many: Vec<usize>,
}

impl Plan {
    /// The cell for a row under setting `setting` (its duration is set by the caller).
    pub fn cell(&self, row: Row, setting: usize, rate: Option<u64>, timestamps: bool) -> CellSpec {
        let fanout_one = match row.receiver {
            crate::Receiver::Udprx { fanout, .. } => fanout == Fanout::One,
            crate::Receiver::Peer { .. } => true,
        };
        CellSpec {
            row,
            sockets: if fanout_one { 1 } else { self.sockets },
            rate,
            secs: 1.0,
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

    /// Number of series (rows × settings).
    pub fn series(&self) -> usize {
        self.rows.len() * self.settings.len()
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

/// Progress of a run, one event per finished trial.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    /// Which stage (see [`crate::model::curve::Stage::name`]).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Receiver;

    fn sel(size: Size) -> Selection {
        Selection {
            xdp: false,
            size,
            methods: vec![],
            fanouts: vec![],
            scenarios: vec![],
            gro_everywhere: false,
            spin: true,
            peers: vec![],
            sources: vec![],
        }
    }

    #[test]
    fn xdp_rows_join_the_classic_flood_on_one_queue() {
        let mut s = sel(Size::Default);
        assert!(!rows(&s).iter().any(|r| r.label(2).contains("xdp")));
        s.xdp = true;
        let labels: Vec<String> = rows(&s).iter().map(|r| r.label(2)).collect();
        assert!(labels.contains(&"classic xdp 1×".to_string()), "{labels:?}");
        assert!(labels.contains(&"classic xdp-drop 1×".to_string()), "{labels:?}");
        assert!(!labels.iter().any(|l| l.starts_with("gso xdp")), "{labels:?}");
        s.methods = vec![Method::XdpDrop];
        let labels: Vec<String> = rows(&s).iter().map(|r| r.label(2)).collect();
        assert_eq!(labels, ["classic xdp-drop 1×"]);
    }

    #[test]
    fn peers_join_only_scenarios_with_udprx_rows() {
        let mut q = sel(Size::Quick);
        q.peers = vec![PeerKind::Sockperf, PeerKind::CRecvmmsg];
        let r = rows(&q);
        assert!(r.iter().all(|r| r.scenario == Scenario::Classic), "{r:?}");
        assert_eq!(r.iter().filter(|r| matches!(r.receiver, Receiver::Peer { .. })).count(), 2);
        let mut d = sel(Size::Default);
        d.peers = vec![PeerKind::Sockperf];
        let gso_peers = rows(&d)
            .iter()
            .filter(|r| r.scenario == Scenario::Gso && matches!(r.receiver, Receiver::Peer { .. }))
            .count();
        assert_eq!(gso_peers, 1);
    }

    #[test]
    fn each_bare_twin_joins_the_scenarios_of_its_udprx_rows() {
        let mut d = sel(Size::Default);
        d.peers = PeerKind::ALL.to_vec();
        let peers = |sc: Scenario| -> Vec<String> {
            rows(&d)
                .iter()
                .filter(|r| r.scenario == sc)
                .filter_map(|r| match r.receiver {
                    Receiver::Peer { peer } if peer.c_mode().is_some() => Some(peer.name().into()),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(peers(Scenario::Classic), ["c-recvfrom", "c-recvmmsg", "c-uring-recvmsg"]);
        assert_eq!(peers(Scenario::Gso), ["c-recvmmsg-gro", "c-uring-gro"]);
        // Every udprx row of one socket without spin has its twin in its scenario.
        for r in rows(&d) {
            if let Some(t) = PeerKind::twin_of(&r.receiver) {
                assert!(peers(r.scenario).contains(&t.name().to_string()), "{r:?}");
            }
        }
        // c-epoll joins only beside a named epoll row (epoll is opt-in).
        let mut e = d.clone();
        e.methods = vec![Method::Epoll, Method::Recvmmsg];
        let classic: Vec<String> = rows(&e)
            .iter()
            .filter(|r| r.scenario == Scenario::Classic)
            .filter_map(|r| match r.receiver {
                Receiver::Peer { peer } if peer.c_mode().is_some() => Some(peer.name().into()),
                _ => None,
            })
            .collect();
        assert_eq!(classic, ["c-recvmmsg", "c-epoll"]);
        let epoll_row = Row::udprx(Scenario::Classic, Method::Epoll, Fanout::One, false);
        assert_eq!(PeerKind::twin_of(&epoll_row.receiver), Some(PeerKind::CEpoll));
        assert_eq!(
            PeerKind::twin_of(
                &Row::udprx(Scenario::Classic, Method::UringRecv, Fanout::One, false).receiver
            ),
            Some(PeerKind::CUring)
        );
        for none in [
            Row::udprx(Scenario::Classic, Method::Recvmmsg, Fanout::Hash, false),
            Row::udprx(Scenario::Classic, Method::Xdp, Fanout::One, false),
            Row::udprx(Scenario::Gso, Method::Recvfrom, Fanout::One, true),
        ] {
            assert_eq!(PeerKind::twin_of(&none.receiver), None, "{none:?}");
        }
    }

    #[test]
    fn sizes() {
        let d = rows(&sel(Size::Default));
        // classic: 3 methods on one socket + recvmmsg hash and cpu; gso: recvmmsg, uring +gro.
        assert_eq!(d.len(), 3 + 2 + 2, "{d:?}");
        let q = rows(&sel(Size::Quick));
        assert_eq!(q.len(), 3 + 1, "{q:?}");
        let f = rows(&sel(Size::Full));
        // recvfrom, recvmmsg, uring: 3 fan-outs × 2 scenarios × GRO on/off; uring-recv: 3
        // fan-outs × 2 scenarios without GRO; 4 spin rows.
        assert_eq!(f.len(), 3 * 3 * 2 * 2 + 3 * 2 + 4, "{f:?}");
        // Named, uring-recv joins the default plan (one socket, no GRO, both scenarios).
        // epoll is opt-in in every size: never in an unfiltered plan; named, it runs like the
        // other socket methods (one socket in the classic flood, +gro in the GSO flood).
        for all in [&d, &q, &f] {
            assert!(
                !all.iter()
                    .any(|r| matches!(r.receiver, Receiver::Udprx { method: Method::Epoll, .. })),
                "{all:?}"
            );
        }
        let mut ep = sel(Size::Default);
        ep.methods = vec![Method::Epoll];
        let e = rows(&ep);
        assert_eq!(
            e,
            [
                Row::udprx(Scenario::Classic, Method::Epoll, Fanout::One, false),
                Row::udprx(Scenario::Gso, Method::Epoll, Fanout::One, true),
            ]
        );
        let mut named = sel(Size::Default);
        named.methods = vec![Method::UringRecv];
        let n = rows(&named);
        assert_eq!(n.len(), 2, "{n:?}");
        assert!(n.iter().all(|r| matches!(
            r.receiver,
            Receiver::Udprx { method: Method::UringRecv, gro: false, fanout: Fanout::One, .. }
        )));
        let u: std::collections::HashSet<Row> = d.iter().copied().collect();
        assert_eq!(u.len(), d.len());
        assert!(
            d.iter()
                .filter(|r| r.scenario == Scenario::Gso)
                .all(|r| matches!(r.receiver, Receiver::Udprx { gro: true, .. }))
        );
    }

    #[test]
    fn sources_rows_stand_beside_the_plain_ones() {
        let mut s = sel(Size::Default);
        s.methods = vec![Method::Recvmmsg];
        s.sources = vec![Method::Recvmmsg];
        s.peers = vec![PeerKind::CRecvmmsg];
        s.fanouts = vec![Fanout::One];
        let labels: Vec<String> = rows(&s).iter().map(|r| r.label(2)).collect();
        assert_eq!(
            labels,
            [
                "classic recvmmsg 1×",
                "classic recvmmsg+sources 1×",
                "classic c-recvmmsg (peer)",
                "gso recvmmsg 1× +gro",
                "gso recvmmsg+sources 1×",
                "gso c-recvmmsg (peer)",
            ]
        );
        // Named only as `recvmmsg+sources`: the sources rows alone.
        s.methods.clear();
        s.peers.clear();
        let r = rows(&s);
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(
            r.iter()
                .all(|r| matches!(r.receiver, Receiver::Udprx { sources: true, gro: false, .. }))
        );
        // A plan without sources reads as before (serde default).
        let mut old = serde_json::to_value(r[0]).unwrap();
        old["receiver"].as_object_mut().unwrap().remove("sources");
        let back: Row = serde_json::from_value(old).unwrap();
        assert!(matches!(back.receiver, Receiver::Udprx { sources: false, .. }));
    }

    #[test]
    fn filters_can_empty_the_plan() {
        let mut s = sel(Size::Default);
        s.methods = vec![Method::Uring];
        assert!(
            rows(&s)
                .iter()
                .all(|r| matches!(r.receiver, Receiver::Udprx { method: Method::Uring, .. }))
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
}
