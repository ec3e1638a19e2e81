//! `udprx merge A.json B.json ...`: combine reports of several receivers or several runs.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use udprx_stats::report::{Combine, merge_files};

/// Arguments of `udprx merge`.
#[derive(Debug, Clone, clap::Args)]
pub struct MergeArgs {
    /// Report files written by `udprx --json` (or by an earlier merge).
    #[arg(required = true, num_args = 1.., value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// The reports come from receivers that ran at the same time (sum interval series, take the
    /// longest elapsed time) rather than from runs one after another.
    #[arg(long)]
    pub parallel: bool,
    /// Write the merged report as JSON to FILE, or `-` for standard output (the table then goes
    /// to standard error).
    #[arg(long, value_name = "FILE|-")]
    pub json: Option<String>,
}

/// Runs `udprx merge`: prints the merged table, and writes JSON when asked.
pub fn run(args: MergeArgs) -> anyhow::Result<()> {
    let how = if args.parallel { Combine::Parallel } else { Combine::Runs };
    let report = merge_files(&args.reports, how).context("merging reports")?;
    let table = report.to_table();
    match args.json.as_deref() {
        Some("-") => {
            eprint!("{table}");
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", report.to_json()).context("writing JSON to stdout")?;
        }
        Some(path) => {
            report.write(path.as_ref()).with_context(|| format!("writing {path}"))?;
            print!("{table}");
        }
        None => print!("{table}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use udprx_stats::report::{Report, ThreadCost};
    use udprx_stats::stats::{Recorder, StatsConfig, StatsMode};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        merge: MergeArgs,
    }

    #[test]
    fn needs_at_least_one_report() {
        assert!(Cli::try_parse_from(["merge"]).is_err());
        let c = Cli::try_parse_from(["merge", "a.json", "b.json", "--parallel", "--json", "-"])
            .unwrap();
        assert_eq!(c.merge.reports.len(), 2);
        assert!(c.merge.parallel);
        assert_eq!(c.merge.json.as_deref(), Some("-"));
    }

    #[test]
    fn merges_files_into_json() {
        let dir = std::env::temp_dir().join(format!("udprx-cli-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = StatsConfig::new(StatsMode::Minimal, std::time::Duration::from_secs(1));
        let stats = Recorder::new(&cfg, 0).finish();
        let r = Report::from_threads(
            vec![(stats, ThreadCost::default())],
            None,
            serde_json::Value::Null,
            std::time::Duration::from_secs(1),
        );
        let a = dir.join("a.json");
        r.write(&a).unwrap();
        let out = dir.join("out.json");
        let args = MergeArgs {
            reports: vec![a.clone(), a.clone()],
            parallel: false,
            json: Some(out.display().to_string()),
        };
        run(args).unwrap();
        let merged = Report::read(&out).unwrap();
        assert_eq!(merged.runs, 2);
        let bad = MergeArgs { reports: vec![dir.join("nope.json")], parallel: true, json: None };
        assert!(run(bad).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
