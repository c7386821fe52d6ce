//! [`LabArgs`]: the `socket-lab` flags that shape the public lab server.
//!
//! The binary flattens these into its own arguments
//! (`#[command(flatten)]`), so `socket-lab --help` lists them. Each help
//! line is written for a student who has just read the lab handout.

use super::{LabConfig, LabLimits};
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use protocol::{DEFAULT_BACKLOG, DEFAULT_GREETING, Mode, PUBLIC_SERVER};
use std::net::SocketAddr;
use std::time::Duration;

/// The public lab server: where it listens and which task it plays.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Lab server")]
pub struct LabArgs {
    /// Address the lab's TCP server listens on, as IP:PORT. Point the lab's
    /// client.py here (the handout uses port 1234).
    #[arg(long = "lab", value_name = "ADDR", default_value = "127.0.0.1:1234")]
    pub lab: SocketAddr,

    /// Which lab task the server plays for each client it accepts.
    #[arg(long, value_name = "MODE", default_value = "echo", value_parser = mode_parser())]
    pub mode: Mode,

    /// What the server sends each client in greet mode (Task 2), exactly as
    /// given. Default: "Thank you for connecting" and a newline.
    #[arg(
        long,
        value_name = "TEXT",
        default_value = DEFAULT_GREETING,
        hide_default_value = true
    )]
    pub greeting: String,

    /// The server's listen(N): how many connected clients the kernel
    /// queues while the server is not calling accept(). The lab uses 5
    /// (Linux queues one more than N, then ignores new clients).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BACKLOG,
          value_parser = clap::value_parser!(u32).range(0..=65_535))]
    pub backlog: u32,

    /// Also run a UDP echo server (recvfrom/sendto) on this IP:PORT.
    /// Off unless given.
    #[arg(long, value_name = "ADDR")]
    pub udp: Option<SocketAddr>,

    /// How many clients the server serves at once. Others wait in the
    /// listen() queue until one leaves.
    #[arg(long, value_name = "N", default_value_t = LabLimits::default().max_connections as u64,
          value_parser = clap::value_parser!(u64).range(1..=LabLimits::MAX_CONNECTIONS as u64))]
    pub max_connections: u64,

    /// The most bytes one recv() on the server may return (like the
    /// 1024 in Python's recv(1024)).
    #[arg(long, value_name = "BYTES", default_value_t = LabLimits::default().max_read as u64,
          value_parser = clap::value_parser!(u64).range(1..=LabLimits::MAX_READ as u64))]
    pub max_read: u64,

    /// Seconds a client may stay connected without sending anything (or
    /// without reading what it is sent) before the server hangs up.
    #[arg(long, value_name = "SECS", default_value_t = LabLimits::default().idle_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout: u64,
}

impl LabArgs {
    /// The public lab server's configuration ([`PUBLIC_SERVER`]'s id).
    pub fn config(&self) -> LabConfig {
        let mut config = LabConfig::new(PUBLIC_SERVER, self.mode);
        config.backlog = self.backlog;
        config.greeting = self.greeting.clone().into_bytes();
        config.limits = LabLimits {
            // The parser's range keeps these within usize on any platform
            // the bridge runs on; saturate rather than wrap if not.
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_read: usize::try_from(self.max_read).unwrap_or(usize::MAX),
            idle_timeout: Duration::from_secs(self.idle_timeout),
        }
        .clamped();
        config
    }
}

impl Default for LabArgs {
    /// The defaults `socket-lab` uses with no flags.
    fn default() -> Self {
        let limits = LabLimits::default();
        LabArgs {
            lab: SocketAddr::from(([127, 0, 0, 1], 1234)),
            mode: Mode::Echo,
            greeting: DEFAULT_GREETING.to_string(),
            backlog: DEFAULT_BACKLOG,
            udp: None,
            max_connections: limits.max_connections as u64,
            max_read: limits.max_read as u64,
            idle_timeout: limits.idle_timeout.as_secs(),
        }
    }
}

/// `connect`, `greet` or `echo`, each with a line `--help` shows.
fn mode_parser() -> impl TypedValueParser<Value = Mode> {
    let values = Mode::ALL.map(|mode| {
        let help = match mode {
            Mode::Connect => "Task 1: accept, print \"Connection from ...\", close",
            Mode::Greet => "Task 2: accept, send the greeting, close",
            Mode::Echo => "Task 3: send back every byte received until the client closes",
        };
        PossibleValue::new(mode.as_str()).help(help)
    });
    PossibleValuesParser::new(values).try_map(|name| name.parse::<Mode>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// A stand-in for the binary, which flattens `LabArgs` the same way.
    #[derive(Debug, Parser)]
    #[command(name = "socket-lab")]
    struct Cli {
        #[command(flatten)]
        lab: LabArgs,
    }

    /// No flags gives the lab's own server: 127.0.0.1:1234, echo, listen(5).
    #[test]
    fn defaults_are_the_labs() {
        let cli = Cli::try_parse_from(["socket-lab"]).expect("no flags parse");
        assert_eq!(cli.lab.lab, "127.0.0.1:1234".parse().expect("literal"));
        assert_eq!(cli.lab.mode, Mode::Echo);
        assert_eq!(cli.lab.greeting, DEFAULT_GREETING);
        assert_eq!(cli.lab.backlog, 5);
        assert_eq!(cli.lab.udp, None);
        let config = cli.lab.config();
        assert_eq!(config.id, PUBLIC_SERVER);
        assert_eq!(config.limits.max_connections, 256);
        assert_eq!(
            format!("{:?}", cli.lab),
            format!("{:?}", LabArgs::default())
        );
    }

    /// Every flag parses into the configuration the server gets.
    #[test]
    fn every_flag_reaches_the_config() {
        let cli = Cli::try_parse_from([
            "socket-lab",
            "--lab",
            "[::1]:4000",
            "--mode",
            "greet",
            "--greeting",
            "hi",
            "--backlog",
            "2",
            "--udp",
            "127.0.0.1:4001",
            "--max-connections",
            "3",
            "--max-read",
            "1024",
            "--idle-timeout",
            "9",
        ])
        .expect("valid flags parse");
        assert_eq!(
            cli.lab.udp,
            Some("127.0.0.1:4001".parse().expect("literal"))
        );
        let config = cli.lab.config();
        assert_eq!(config.mode, Mode::Greet);
        assert_eq!(config.greeting, b"hi");
        assert_eq!(config.backlog, 2);
        assert_eq!(config.limits.max_connections, 3);
        assert_eq!(config.limits.max_read, 1024);
        assert_eq!(config.limits.idle_timeout, Duration::from_secs(9));
    }

    /// Bad values are refused with a message, not accepted and clamped.
    #[test]
    fn bad_values_are_refused() {
        for bad in [
            &["--mode", "chat"][..],
            &["--lab", "localhost"],
            &["--max-connections", "0"],
            &["--idle-timeout", "0"],
            &["--max-read", "0"],
        ] {
            let args = std::iter::once("socket-lab").chain(bad.iter().copied());
            assert!(Cli::try_parse_from(args).is_err(), "{bad:?}");
        }
    }

    /// The flags are well formed, and `--help` explains each mode by the
    /// lab's task (that every flag is listed is checked on the real binary,
    /// in `tests/cli.rs`).
    #[test]
    fn help_explains_the_modes() {
        Cli::command().debug_assert();
        let help = Cli::command().render_long_help().to_string();
        for task in ["Task 1", "Task 2", "Task 3"] {
            assert!(help.contains(task), "{task} missing from:\n{help}");
        }
    }
}
