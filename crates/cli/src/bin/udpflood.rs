//! The `udpflood` binary: the command line lives in the `udprx-cli` library.

fn main() -> std::process::ExitCode {
    udprx_cli::flood::main()
}
