//! The `udpflood` command line: a thin layer over the library.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use udpflood::args::FloodArgs;

/// UDP flood sender: sendmmsg batches, optional GSO, exact pacing; every datagram carries flow,
/// sequence and send time.
#[derive(Debug, Parser)]
#[command(name = "udpflood", version)]
struct Cli {
    #[command(flatten)]
    flood: FloodArgs,
    /// Print the final report as JSON on stdout (live lines go to stderr).
    #[arg(long)]
    json: bool,
    // Reserved: `--server ADDR:PORT` (control-channel client that ends the run with a combined
    // sender/receiver report) is added here by the control-channel issue.
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(&clap_reason(&e)),
    };
    let flood = match cli.flood.builder().build() {
        Ok(f) => f,
        Err(e) if e.is_usage() => return usage_error(&e.to_string()),
        Err(e) => return runtime_error(&e.to_string()),
    };
    let stop = flood.stop_handle();
    // First Ctrl-C/SIGTERM: stop after the current batch and print the report. A second one
    // while stopping exits at once (status 1), as a way out of anything unexpected.
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let installed = signal_hook::flag::register_conditional_shutdown(sig, 1, stop.flag())
            .and_then(|_| signal_hook::flag::register(sig, stop.flag()));
        if let Err(e) = installed {
            return runtime_error(&format!("cannot install signal handler: {e}"));
        }
    }
    let json = cli.json;
    let result = flood.run_with(|line| {
        if json {
            eprintln!("{line}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return runtime_error(&e.to_string()),
    };
    if let Some(reason) = &report.gso_fallback_reason {
        eprintln!("udpflood: warning: GSO not used: {reason}");
    }
    let text = if json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => s,
            Err(e) => return runtime_error(&format!("cannot serialise the report: {e}")),
        }
    } else {
        report.to_human()
    };
    // Not println!: a closed stdout (`| head`) must not panic.
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => runtime_error(&format!("cannot write the report: {e}")),
    }
}

/// clap's message on one line, without its "error: " prefix and usage hints.
fn clap_reason(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid arguments");
    first.trim().trim_start_matches("error:").trim().to_string()
}

fn usage_error(reason: &str) -> ExitCode {
    eprintln!("udpflood: error: {reason}");
    ExitCode::from(2)
}

fn runtime_error(reason: &str) -> ExitCode {
    eprintln!("udpflood: error: {reason}");
    ExitCode::from(1)
}
