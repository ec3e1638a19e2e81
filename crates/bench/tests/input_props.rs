//! Fuzzing (proptest; cargo-fuzz needs a nightly toolchain) of the bench's parsers of outside
//! input: settings files, sysctl names (the journal's keys), saved reports.

use proptest::prelude::*;
use udprx_bench::lab::sysctl;
use udprx_bench::{allowed, compare};

/// Lines a settings file is made of, good and bad.
fn settings_line() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\[[a-z ]{0,8}\\]?",
        Just("net.core.rmem_max = 8388608".to_string()),
        Just("net.core.busy_read = 50".to_string()),
        "(rcvbuf|busy_poll|stats|veth_gro|rps|kernel.panic|net.core.x|/etc/passwd|a..b) ?= ?.{0,12}",
        ".{0,30}",
        "#.{0,10}",
    ]
}

/// Names that look like sysctls, paths, traversals.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_./-]{0,30}",
        "(/|\\.\\./|net/|\\.)[a-z./]{0,20}",
        proptest::sample::select(allowed::SYSCTLS).prop_map(str::to_string),
        ".{0,20}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any settings file parses or is refused with an error: never a panic; every sysctl that
    /// parses is on the allow-list, and the profile writes back to a file that parses the same.
    #[test]
    fn settings_files_parse_or_are_refused(lines in proptest::collection::vec(settings_line(), 0..12)) {
        let text = lines.join("\n");
        if let Ok(profiles) = sysctl::parse_profiles(&text, "fuzz") {
            let mut again = String::new();
            for p in &profiles {
                again += &format!("[{}]\n", p.name);
                for (k, v) in &p.sysctls {
                    prop_assert!(allowed::check_sysctl(k).is_ok(), "{k}");
                    again += &format!("{k} = {v}\n");
                }
                if let Some(b) = p.sockopts.rcvbuf { again += &format!("rcvbuf = {b}\n"); }
                if let Some(b) = p.sockopts.busy_poll { again += &format!("busy_poll = {b}\n"); }
                if let Some(g) = p.veth_gro { again += &format!("veth_gro = {}\n", if g { "on" } else { "off" }); }
                if let Some(r) = p.rps { again += &format!("rps = {}\n", if r { "on" } else { "off" }); }
            }
            let back = sysctl::parse_profiles(&again, "again").expect("written back");
            prop_assert_eq!(back.len(), profiles.len());
            for (a, b) in back.iter().zip(&profiles) {
                prop_assert_eq!(&a.sysctls, &b.sysctls);
                prop_assert_eq!(a.sockopts.rcvbuf, b.sockopts.rcvbuf);
                prop_assert_eq!((a.veth_gro, a.rps), (b.veth_gro, b.rps));
            }
        }
    }

    /// A name the checker accepts never leaves /proc/sys: no absolute path, no `..`.
    #[test]
    fn accepted_sysctl_names_stay_under_proc_sys(k in key()) {
        if allowed::check_sysctl_name(&k).is_ok() {
            let p = sysctl::key_path(&k);
            prop_assert!(p.starts_with("/proc/sys/"), "{k:?} -> {}", p.display());
            prop_assert!(p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::RootDir)), "{k:?}");
        }
        if allowed::check_sysctl(&k).is_ok() {
            prop_assert!(allowed::SYSCTLS.contains(&k.as_str()));
        }
    }

    /// A saved report's strings come out escaped: no unsafe character, and escaping twice is
    /// escaping once.
    #[test]
    fn loaded_report_strings_are_inert(s in ".{0,40}", k in ".{0,10}") {
        let mut v = serde_json::json!({ "a": [s.clone(), { k.clone(): s.clone() }], k: s });
        compare::escape_strings(&mut v);
        let text = v.to_string();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        fn check(v: &serde_json::Value) -> bool {
            match v {
                serde_json::Value::String(s) => !s.chars().any(udpprobe::text::is_unsafe),
                serde_json::Value::Array(a) => a.iter().all(check),
                serde_json::Value::Object(m) => m.iter().all(|(k, v)| !k.chars().any(udpprobe::text::is_unsafe) && check(v)),
                _ => true,
            }
        }
        prop_assert!(check(&parsed));
        let mut twice = parsed.clone();
        compare::escape_strings(&mut twice);
        prop_assert_eq!(twice, parsed);
    }

    /// `compare::load` on arbitrary bytes (and on a report-shaped document with arbitrary
    /// fields) refuses or loads; never a panic.
    #[test]
    fn report_files_never_panic_the_loader(bytes in proptest::collection::vec(any::<u8>(), 0..300), schema in any::<bool>()) {
        let dir = std::env::temp_dir().join(format!("udprx-bench-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("report.json");
        let body = if schema {
            format!("{{\"schema\":{:?},\"x\":{:?}}}", udprx_bench::report::SCHEMA, String::from_utf8_lossy(&bytes))
                .into_bytes()
        } else {
            bytes
        };
        std::fs::write(&f, body).unwrap();
        let _ = compare::load(&f);
    }
}
