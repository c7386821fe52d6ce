//! The bridge, with the very same command line as `socket-lab`, as a
//! binary of this package: the end-to-end tests start it as a process of
//! their own (`env!("CARGO_BIN_EXE_bridge-process")`) to send it SIGTERM
//! under load and to read its file descriptors and memory.

fn main() -> std::process::ExitCode {
    bridge::cli::main()
}
