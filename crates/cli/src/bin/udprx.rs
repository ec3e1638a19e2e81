//! The `udprx` binary: the command line lives in the `udprx-cli` library.

fn main() -> std::process::ExitCode {
    udprx_cli::rx::main()
}
