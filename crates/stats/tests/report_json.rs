//! The report's JSON: validates against docs/json-schema.json, round-trips, and merges exactly.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use udpprobe::{Clock, Repr};
use udprx::batch::{Batch, Handler, RecvMeta};
use udprx_stats::kernel::UdpDelta;
use udprx_stats::report::{Combine, Report, ThreadCost, merge_files};
use udprx_stats::stats::{IntervalLine, Recorder, StatsConfig, StatsMode, ThreadStats};

const SCHEMA_TEXT: &str = include_str!("../../../docs/json-schema.json");

/// A hand-written checker for the JSON-Schema subset docs/json-schema.json uses: type, const,
/// enum, required, properties, additionalProperties, items, anyOf, $ref, minimum, maximum.
fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    let Some(s) = schema.as_object() else { return };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("only local $defs refs");
        return validate(root, &root["$defs"][name], v, path, errs);
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        let ok = any.iter().any(|alt| {
            let mut e = Vec::new();
            validate(root, alt, v, path, &mut e);
            e.is_empty()
        });
        if !ok {
            errs.push(format!("{path}: matches no alternative"));
        }
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        errs.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{path}: {v} not in {e:?}"));
    }
    if let Some(t) = s.get("type") {
        let types: Vec<&str> = match t {
            Value::String(x) => vec![x.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let is = |ty: &str| match ty {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => panic!("unknown type {ty}"),
        };
        if !types.iter().any(|ty| is(ty)) {
            errs.push(format!("{path}: {v} is not {types:?}"));
            return;
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(m) = s.get("minimum").and_then(Value::as_f64)
            && n < m
        {
            errs.push(format!("{path}: {n} < {m}"));
        }
        if let Some(m) = s.get("maximum").and_then(Value::as_f64)
            && n > m
        {
            errs.push(format!("{path}: {n} > {m}"));
        }
    }
    if let Some(obj) = v.as_object() {
        for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
            let k = r.as_str().unwrap();
            if !obj.contains_key(k) {
                errs.push(format!("{path}: missing {k}"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            let p = format!("{path}.{k}");
            match props.and_then(|p| p.get(k)) {
                Some(sub) => validate(root, sub, val, &p, errs),
                None => match s.get("additionalProperties") {
                    Some(Value::Bool(false)) => errs.push(format!("{p}: not in the schema")),
                    Some(sub @ Value::Object(_)) => validate(root, sub, val, &p, errs),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            validate(root, items, x, &format!("{path}[{i}]"), errs);
        }
    }
}

fn schema_errors(report: &Report) -> Vec<String> {
    let schema: Value = serde_json::from_str(SCHEMA_TEXT).unwrap();
    let v: Value = serde_json::from_str(&report.to_json()).unwrap();
    let mut errs = Vec::new();
    validate(&schema, &schema, &v, "$", &mut errs);
    errs
}

/// Deterministic pseudo-random numbers.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

const S: u64 = 1_000_000_000;

/// Feeds a deterministic stream of `n` datagrams over `flows` (round robin) spread over 4
/// seconds into a recorder, keeping only the flows `keep` accepts (so the same stream can be
/// split between receivers); every 10th sequence number is skipped, latencies spread from 1 µs
/// to ~10 ms.
fn record_split(
    mode: StatsMode,
    socket: usize,
    flows: &[(SocketAddr, u8)],
    n: u64,
    clock: Clock,
    ts: bool,
    keep: &dyn Fn(usize) -> bool,
) -> ThreadStats {
    let cfg = StatsConfig { epoch_ns: 0, ..StatsConfig::new(mode, Duration::from_secs(1)) };
    let mut r = Recorder::new(&cfg, socket);
    let mut rng = Lcg(7);
    let per_batch = 32u64;
    let offset = udprx_stats::stats::latency::realtime_offset_ns();
    let mut seq = vec![0u64; flows.len()];
    let mut sent = 0;
    while sent < n {
        let rx_ns = 10 * S + sent * 4 * S / n;
        let mut arena = vec![0u8; 64 * per_batch as usize];
        let mut metas = Vec::new();
        let count = per_batch.min(n - sent);
        for i in 0..count {
            let f = (sent + i) as usize % flows.len();
            seq[f] += 1;
            if seq[f].is_multiple_of(10) {
                seq[f] += 1;
            }
            let lat = 1_000 + rng.next() % 10_000_000;
            if !keep(f) {
                continue;
            }
            let tx_ns = match clock {
                Clock::Monotonic => rx_ns - lat,
                Clock::Realtime => (rx_ns as i64 + offset) as u64 - lat,
            };
            let off = metas.len() * 64;
            Repr { flow: flows[f].1, seq: seq[f], sender: 0, tx_ns, clock }
                .emit_into(&mut arena[off..])
                .unwrap();
            let kernel_rx_ns = ts.then(|| (rx_ns as i64 + offset) as u64 - lat / 2);
            metas.push(RecvMeta {
                offset: off,
                len: 64,
                source: flows[f].0,
                kernel_rx_ns,
                ..RecvMeta::EMPTY
            });
        }
        sent += count;
        let mut b = Batch::new(&arena, &metas, rx_ns, socket);
        b.kernel_drops = Some((sent / 1000) as u32);
        r.on_batch(&b);
    }
    r.on_idle(14 * S + 1);
    r.finish()
}

fn record(
    mode: StatsMode,
    socket: usize,
    flows: &[(SocketAddr, u8)],
    n: u64,
    clock: Clock,
    ts: bool,
) -> ThreadStats {
    record_split(mode, socket, flows, n, clock, ts, &|_| true)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn cost(n: u64) -> ThreadCost {
    ThreadCost {
        cpu: Some(1),
        cpu_user_ns: n * 300,
        cpu_sys_ns: n * 1200,
        kernel_drops: 0,
        batches: n / 4,
        epoll_wakeups: 0,
    }
}

fn sample_report() -> Report {
    let a = record(
        StatsMode::Full,
        0,
        &[(addr(4000), 0), (addr(4001), 1)],
        20_000,
        Clock::Monotonic,
        true,
    );
    let b = record(StatsMode::Full, 1, &[(addr(4002), 0)], 10_000, Clock::Monotonic, true);
    let kernel = UdpDelta {
        udp: [("InDatagrams".to_string(), 30_000), ("RcvbufErrors".to_string(), 3)]
            .into_iter()
            .collect(),
        udp6: None,
    };
    let mut r = Report::from_threads(
        vec![(a, cost(20_000)), (b, cost(10_000))],
        Some(kernel),
        serde_json::json!({"method": "recvmmsg", "sockets": 2, "drops_source": "SO_RXQ_OVFL, /proc/net/udp at end"}),
        Duration::from_secs(5),
    );
    r.sent = Some(33_000);
    let before = udprx_stats::kernel::softnet::parse_softnet(
        "00000010 00000001 00000000\n00000020 00000000 00000000\n",
    )
    .unwrap();
    let after = udprx_stats::kernel::softnet::parse_softnet(
        "00000110 00000003 00000001\n00000030 00000000 00000000\n",
    )
    .unwrap();
    r.softnet = Some(after.delta(&before));
    r
}

#[test]
fn report_validates_against_the_schema() {
    let r = sample_report();
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    assert_eq!(r.totals.datagrams, 30_000);
    assert_eq!(r.totals.flows, 3);
    assert!(r.latency.tx_to_kernel.is_some() && r.latency.kernel_to_app.is_some());
    let minimal = Report::from_threads(
        vec![(
            record(StatsMode::Minimal, 0, &[(addr(1), 0)], 1000, Clock::Monotonic, false),
            ThreadCost::default(),
        )],
        None,
        Value::Null,
        Duration::ZERO,
    );
    assert_eq!(schema_errors(&minimal), Vec::<String>::new());
    assert!(minimal.latency.one_way.is_none());
    assert_eq!(minimal.totals.received, 1000);
}

#[test]
fn schema_checker_catches_bad_output() {
    let schema: Value = serde_json::from_str(SCHEMA_TEXT).unwrap();
    let mut v: Value = serde_json::from_str(&sample_report().to_json()).unwrap();
    v["totals"]["lost"] = Value::String("many".into());
    v["threads"][0].as_object_mut().unwrap().remove("share");
    v["latency"]["one_way"]["surprise"] = Value::Bool(true);
    v["schema"] = Value::String("udprx-report/2".into());
    let mut errs = Vec::new();
    validate(&schema, &schema, &v, "$", &mut errs);
    assert_eq!(errs.len(), 4, "{errs:#?}");
}

#[test]
fn json_round_trips() {
    let r = sample_report();
    let back = Report::from_json(&r.to_json(), "test").unwrap();
    assert_eq!(back, r);
    let one_way = back.latency.one_way.as_ref().unwrap().decode().unwrap();
    assert_eq!(one_way.len(), 30_000);
    assert!(Report::from_json("{\"schema\": \"other/1\"}", "x").is_err());
    assert!(Report::from_json("not json", "x").is_err());
}

#[test]
fn merged_reports_equal_one_run_over_all_data() {
    let flows = [(addr(5000), 0u8), (addr(5001), 1)];
    // One run over all the data on one thread...
    let all = record(StatsMode::Full, 0, &flows, 40_000, Clock::Monotonic, false);
    let whole =
        Report::from_threads(vec![(all, cost(40_000))], None, Value::Null, Duration::from_secs(5));
    // ...versus the same stream split by flow between two receivers, reported, serialised and
    // merged.
    let pa = record_split(StatsMode::Full, 0, &flows, 40_000, Clock::Monotonic, false, &|f| f == 0);
    let pb = record_split(StatsMode::Full, 0, &flows, 40_000, Clock::Monotonic, false, &|f| f == 1);
    let ra =
        Report::from_threads(vec![(pa, cost(20_000))], None, Value::Null, Duration::from_secs(5));
    let rb =
        Report::from_threads(vec![(pb, cost(20_000))], None, Value::Null, Duration::from_secs(5));
    let ra = Report::from_json(&ra.to_json(), "a").unwrap();
    let rb = Report::from_json(&rb.to_json(), "b").unwrap();
    let merged = Report::merge(&[ra.clone(), rb.clone()], Combine::Parallel).unwrap();

    let m = merged.latency.one_way.as_ref().unwrap();
    let w = whole.latency.one_way.as_ref().unwrap();
    assert_eq!(m.count, 40_000);
    assert_eq!(
        (m.p50, m.p90, m.p99, m.p999, m.p9999, m.max, m.min),
        (w.p50, w.p90, w.p99, w.p999, w.p9999, w.max, w.min)
    );
    assert!((m.mean - w.mean).abs() < 1e-6 * w.mean);
    assert_ne!(ra.latency.one_way.as_ref().unwrap().p99, 0);
    assert_eq!(merged.totals.datagrams, whole.totals.datagrams);
    assert_eq!(merged.totals.bytes, whole.totals.bytes);
    assert_eq!(merged.totals.lost, whole.totals.lost);
    assert_eq!(merged.totals.received, whole.totals.received);
    assert_eq!(merged.flows, whole.flows);
    assert_eq!(merged.rate.series, whole.rate.series);
    assert_eq!(merged.rate.pps.as_ref().unwrap().p50, whole.rate.pps.as_ref().unwrap().p50);
    assert_eq!(merged.threads.len(), 2);
    assert_eq!(merged.threads[1].report, 1);
    assert!((merged.threads[0].share - 0.5).abs() < 1e-9);
    assert_eq!(schema_errors(&merged), Vec::<String>::new());

    // Runs in a row: elapsed adds up, interval rates pool.
    let runs = Report::merge(&[ra.clone(), ra.clone()], Combine::Runs).unwrap();
    assert_eq!(runs.runs, 2);
    assert!((runs.elapsed_s - 10.0).abs() < 1e-9);
    assert_eq!(runs.rate.pps.as_ref().unwrap().count, 2 * ra.rate.pps.as_ref().unwrap().count);
    assert_eq!(runs.flows[0].counts.received, 2 * ra.flows[0].counts.received);
    assert!(Report::merge(&[], Combine::Runs).is_err());
}

#[test]
fn merged_histograms_equal_recording_all_at_once() {
    // Same values, split in two halves, recorded separately and merged through JSON.
    let mut rng = Lcg(42);
    let values: Vec<u64> = (0..50_000).map(|_| 1 + rng.next() % 50_000_000).collect();
    let mut whole = udprx_stats::stats::latency::latency_histogram();
    let mut a = udprx_stats::stats::latency::latency_histogram();
    let mut b = udprx_stats::stats::latency::latency_histogram();
    for (i, &v) in values.iter().enumerate() {
        whole.record(v).unwrap();
        if i % 3 == 0 { a.record(v).unwrap() } else { b.record(v).unwrap() }
    }
    let da = udprx_stats::report::HistData::from_hist(&a);
    let db = udprx_stats::report::HistData::from_hist(&b);
    let da: udprx_stats::report::HistData =
        serde_json::from_str(&serde_json::to_string(&da).unwrap()).unwrap();
    let m = udprx_stats::report::HistData::merge([&da, &db]).unwrap().unwrap();
    let w = udprx_stats::report::HistData::from_hist(&whole);
    assert_eq!(m, w);
}

#[test]
fn realtime_stamps_warn() {
    let t = record(StatsMode::Full, 0, &[(addr(9), 0)], 500, Clock::Realtime, false);
    let r = Report::from_threads(
        vec![(t, ThreadCost::default())],
        None,
        Value::Null,
        Duration::from_secs(1),
    );
    assert_eq!(r.latency.clock.as_deref(), Some("realtime"));
    assert!(r.warnings.iter().any(|w| w.contains("synchronisation")));
    // Latencies were generated within 1 µs .. 10 ms.
    let h = r.latency.one_way.as_ref().unwrap();
    assert!(h.count + r.totals.clock_skew == 500);
    assert!(h.max < 20_000_000, "max {}", h.max);
}

#[test]
fn accounting_and_summary() {
    let r = sample_report();
    let a = r.accounting();
    assert_eq!(a.sent, Some(33_000));
    assert_eq!(a.received, 30_000);
    assert_eq!(a.kernel_drops, r.totals.kernel_drops);
    assert_eq!(a.lost_elsewhere, Some(33_000 - 30_000 - r.totals.kernel_drops as i64));
    assert!(a.to_string().starts_with("sent 33000 = received 30000 + dropped in kernel"));
    let s = r.summary();
    assert_eq!(s.datagrams, 30_000);
    assert_eq!(s.lost, r.totals.lost);
    assert!(s.lost > 0);
    let lat = s.latency_ns.unwrap();
    let ordered = [lat.p50, lat.p90, lat.p99, lat.p999, lat.p9999, lat.max];
    assert!(ordered.windows(2).all(|w| w[0] <= w[1]), "{lat:?}");
    assert!(s.pps_median.unwrap() > 0);
    assert!((s.cpu_ns_per_datagram.unwrap() - 1500.0).abs() < 1e-9);
}

#[test]
fn table_shows_the_columns() {
    let t = sample_report().to_table();
    for needle in [
        "udprx report (udprx-report/1)",
        "datagrams 30,000",
        "rate per 1.00 s interval",
        "median",
        "kernel drops (SO_RXQ_OVFL)",
        "RcvbufErrors +3",
        "backlog (softnet_stat, host-wide): dropped 2",
        "accounting: sent 33000",
        "p99.99",
        "one-way",
        "tx -> kernel",
        "kernel -> app",
        "per socket",
        "share",
        "per flow",
        "127.0.0.1:4002",
        "cpu ns/dgram",
        "dgram/call",
    ] {
        assert!(t.contains(needle), "missing {needle:?} in\n{t}");
    }
    let row: Vec<&str> =
        t.lines().find(|l| l.contains("66.7%")).expect("socket 0 row").split_whitespace().collect();
    assert_eq!(&row[..5], &["0", "0", "1", "20,000", "66.7%"]);
    assert_eq!(row[8], "1500");
    // cost(n) gives n / 4 receive calls: 4 datagrams per call.
    assert_eq!(row[9], "4.0");
    assert!(IntervalLine::header().contains("p99 lat"));
}

#[test]
fn merge_files_reads_and_refuses() {
    let dir = std::env::temp_dir().join(format!("udprx-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = dir.join("a.json");
    let b = dir.join("b.json");
    let bad = dir.join("bad.json");
    let r = sample_report();
    r.write(&a).unwrap();
    r.write(&b).unwrap();
    std::fs::write(&bad, "{\"schema\": 3}").unwrap();
    let m = merge_files(&[&a, &b], Combine::Runs).unwrap();
    assert_eq!(m.totals.datagrams, 60_000);
    assert_eq!(m.sent, Some(66_000));
    assert_eq!(m.kernel.as_ref().unwrap().get("RcvbufErrors"), 6);
    assert_eq!(m.softnet.as_ref().unwrap().total.dropped, 4);
    let e = merge_files(&[&a, &bad], Combine::Runs).unwrap_err().to_string();
    assert!(e.contains("bad.json"), "{e}");
    assert!(merge_files(&[dir.join("missing.json")], Combine::Runs).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- fuzzing (proptest: cargo-fuzz needs a nightly toolchain) ----

/// Every leaf of a JSON value, as a path of keys and indexes.
fn leaves(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            path.push(Value::String(k.clone()));
            leaves(x, path, out);
            path.pop();
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
            path.push(Value::from(i));
            leaves(x, path, out);
            path.pop();
        }),
        _ => out.push(path.clone()),
    }
}

fn at<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match k {
        Value::String(s) => &mut v[s.as_str()],
        k => &mut v[k.as_u64().unwrap() as usize],
    })
}

fn any_leaf() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::from),
        Just(Value::String("\u{1b}]0;x\u{7}\u{202e}\n".into())),
        Just(serde_json::json!([1, "x", {}])),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// A report with any one field replaced by any value parses or is refused: never a panic,
    /// and what parses serialises and parses back to itself.
    #[test]
    fn mutated_reports_parse_or_are_refused(pick: proptest::sample::Index, leaf in any_leaf()) {
        use std::sync::OnceLock;
        static BASE: OnceLock<(Value, Vec<Vec<Value>>)> = OnceLock::new();
        let (base, paths) = BASE.get_or_init(|| {
            let v: Value = serde_json::from_str(&sample_report().to_json()).unwrap();
            let mut out = Vec::new();
            leaves(&v, &mut Vec::new(), &mut out);
            (v, out)
        });
        let mut v = base.clone();
        *at(&mut v, &paths[pick.index(paths.len())]) = leaf;
        if let Ok(r) = Report::from_json(&v.to_string(), "fuzz") {
            let back = Report::from_json(&r.to_json(), "fuzz").expect("re-parse");
            proptest::prop_assert_eq!(back.to_json(), r.to_json());
        }
    }

    /// Arbitrary text (and cut reports) never panic the parser.
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}", cut in 0usize..4000) {
        let _ = Report::from_json(&text, "fuzz");
        let whole = sample_report().to_json();
        let mut end = cut.min(whole.len());
        while !whole.is_char_boundary(end) {
            end -= 1;
        }
        let _ = Report::from_json(&whole[..end], "fuzz");
    }
}
