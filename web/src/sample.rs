//! A small recorded trace: Task 3's echo server with one client, then a
//! connection refused. `?demo` in the page's address loads it, and it is
//! an example of the export format (`web/sample-trace.json`).

/// The sample trace, in the export format.
pub const TRACE: &str = include_str!("../sample-trace.json");

#[cfg(test)]
mod tests {
    use crate::export;

    /// The sample loads and shows what the lab is about: a handshake, two
    /// sends read as one recv, and an error.
    #[test]
    fn sample_loads() {
        let events = export::parse_json(super::TRACE).unwrap();
        let calls: Vec<_> = events.iter().map(|e| e.step.name()).collect();
        assert!(calls.contains(&"accept"));
        assert!(calls.contains(&"recv_eof"));
        assert_eq!(calls.last(), Some(&"error"));
    }
}
