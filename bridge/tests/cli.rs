//! The `socket-lab` binary's command line, run as a real process.

use std::process::Command;

/// `socket-lab --help` names every flag of the lab server and the bridge.
#[test]
fn help_mentions_every_flag() {
    let output = Command::new(env!("CARGO_BIN_EXE_socket-lab"))
        .arg("--help")
        .output()
        .expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--lab",
        "--mode",
        "--greeting",
        "--backlog",
        "--udp",
        "--max-connections",
        "--max-read",
        "--idle-timeout",
        "--http",
        "--allow-remote",
        "--static",
        "--allow-target",
        "--allow-origin",
        "--instructor-token",
        "--max-sessions",
        "--max-servers-per-session",
        "--max-connections-per-session",
        "--max-message-bytes",
        "--max-buffered-bytes",
        "--session-idle-timeout",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("instructor view"), "{help}");
}

/// An instructor token that could not go into a link is refused, saying why.
#[test]
fn an_instructor_token_must_fit_in_a_link() {
    let output = Command::new(env!("CARGO_BIN_EXE_socket-lab"))
        .args(["--instructor-token", "a b"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("instructor token"), "{said}");
}

/// Serving on a non-loopback address needs --allow-remote.
#[test]
fn a_public_http_address_needs_allow_remote() {
    let output = Command::new(env!("CARGO_BIN_EXE_socket-lab"))
        .args(["--http", "0.0.0.0:0", "--lab", "127.0.0.1:0"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("--allow-remote"), "{said}");
}
