//! `socket-lab`: the lab's server, the browser's socket, and the page.
//!
//! ```text
//! socket-lab                       # lab on 127.0.0.1:1234, page on http://127.0.0.1:8080
//! socket-lab --mode greet --greeting "Hello!\n"
//! nc 127.0.0.1 1234                # in another terminal: a client of your own
//!
//! socket-lab cert                  # a self-signed pair for this machine's names
//! socket-lab --allow-remote --http 0.0.0.0:8443 \
//!     --tls-cert socket-lab-cert.pem --tls-key socket-lab-key.pem
//! ```
//!
//! Thin on purpose: everything, flags included, is in the library
//! ([`bridge::cli`]), where the tests can reach it.

fn main() -> std::process::ExitCode {
    bridge::cli::main()
}
