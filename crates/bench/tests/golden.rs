//! Golden output: a saved run (`tests/fixtures/golden/report.json`, produced by a real
//! `udprx bench --quick` on loopback, with the per-trial sender and receiver reports set to null
//! to keep the fixture small; nothing rendered reads them) is re-derived and written exactly as `udprx render` does,
//! and every byte written — report.json, report.md, each chart, and the terminal text — must
//! equal the files saved beside it. Any change to analysis or rendering that alters output
//! fails here; to accept an intended change, run with `UDPRX_BLESS=1` and review the diff.

use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden")
}

/// What `udprx render` does (crates/cli/src/rx/bench.rs), writing into `out`; returns the
/// terminal text.
fn render(input: &Path, out: &Path) -> String {
    let mut r = udprx_bench::compare::load(input).expect("the fixture loads");
    udprx_bench::answer::analyze(&mut r);
    udprx_bench::report::prepare_out_dir(out).expect("output directory");
    udprx_bench::write::write(&r, out).expect("writing the report");
    udprx_bench::markdown::terminal(&r)
}

#[test]
fn rendering_the_saved_run_changes_no_byte() {
    let dir = fixture();
    let out = std::env::temp_dir().join(format!("udprx-bench-golden-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let terminal = render(&dir.join("report.json"), &out);
    let expected = dir.join("rendered");
    let bless = std::env::var_os("UDPRX_BLESS").is_some();
    if bless {
        let _ = std::fs::remove_dir_all(&expected);
        std::fs::create_dir_all(&expected).unwrap();
        for e in std::fs::read_dir(&out).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), expected.join(e.file_name())).unwrap();
        }
        std::fs::write(expected.join("terminal.txt"), &terminal).unwrap();
    }
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    let mut saved: Vec<String> = std::fs::read_dir(&expected)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "terminal.txt")
        .collect();
    saved.sort();
    assert_eq!(written, saved, "the set of files written changed");
    for name in &written {
        let got = std::fs::read(out.join(name)).unwrap();
        let want = std::fs::read(expected.join(name)).unwrap();
        assert!(got == want, "{name} differs from the saved rendering (UDPRX_BLESS=1 to accept)");
    }
    let want = std::fs::read_to_string(expected.join("terminal.txt")).unwrap();
    assert_eq!(terminal, want, "the terminal text changed");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn rendering_is_a_fixed_point() {
    // The rendered report.json, rendered again, gives the same report: analysis is a function of
    // the measurements alone.
    let dir = fixture();
    let out = std::env::temp_dir().join(format!("udprx-bench-golden2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let terminal = render(&dir.join("rendered/report.json"), &out);
    let want = std::fs::read_to_string(dir.join("rendered/report.md")).unwrap();
    assert_eq!(std::fs::read_to_string(out.join("report.md")).unwrap(), want);
    assert_eq!(terminal, std::fs::read_to_string(dir.join("rendered/terminal.txt")).unwrap());
    std::fs::remove_dir_all(&out).unwrap();
}
