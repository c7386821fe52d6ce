//! Which events the log shows: by connection, by kind, by search text.

use crate::trace::Entry;
use protocol::{ConnId, Step};

/// Which connection's events to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnFilter {
    #[default]
    All,
    /// One of the page's client connections (both lanes).
    Conn(ConnId),
    /// Events that belong to no connection of this page (server set-up,
    /// the public server's other clients).
    NoConn,
}

impl ConnFilter {
    /// The `<option>` value: `all`, `none` or the connection number.
    pub fn value(self) -> String {
        match self {
            ConnFilter::All => "all".into(),
            ConnFilter::NoConn => "none".into(),
            ConnFilter::Conn(id) => id.to_string(),
        }
    }

    pub fn from_value(value: &str) -> ConnFilter {
        match value {
            "none" => ConnFilter::NoConn,
            other => other.parse().map_or(ConnFilter::All, ConnFilter::Conn),
        }
    }

    /// True when an event of connection `conn` passes.
    pub fn matches(self, conn: Option<ConnId>) -> bool {
        match self {
            ConnFilter::All => true,
            ConnFilter::NoConn => conn.is_none(),
            ConnFilter::Conn(id) => conn == Some(id),
        }
    }
}

/// Which kinds of step to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KindFilter {
    #[default]
    All,
    /// send/recv/sendto/recvfrom: the bytes.
    Data,
    /// socket, bind, listen, accept, connect, shutdown, close, EOF.
    Connection,
    /// What the lab's programs print.
    Print,
    /// Failed calls.
    Errors,
}

impl KindFilter {
    pub const ALL: [KindFilter; 5] = [
        KindFilter::All,
        KindFilter::Data,
        KindFilter::Connection,
        KindFilter::Print,
        KindFilter::Errors,
    ];

    /// The `<option>` value.
    pub fn value(self) -> &'static str {
        match self {
            KindFilter::All => "all",
            KindFilter::Data => "data",
            KindFilter::Connection => "connection",
            KindFilter::Print => "print",
            KindFilter::Errors => "error",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            KindFilter::All => "All",
            KindFilter::Data => "Data",
            KindFilter::Connection => "Set-up and close",
            KindFilter::Print => "Printed",
            KindFilter::Errors => "Errors",
        }
    }

    pub fn from_value(value: &str) -> KindFilter {
        KindFilter::ALL
            .into_iter()
            .find(|k| k.value() == value)
            .unwrap_or_default()
    }

    fn matches(self, step: &Step) -> bool {
        match self {
            KindFilter::All => true,
            KindFilter::Data => step.data().is_some(),
            KindFilter::Print => matches!(step, Step::Print { .. }),
            KindFilter::Errors => matches!(step, Step::Error { .. }),
            KindFilter::Connection => {
                step.data().is_none() && !matches!(step, Step::Print { .. } | Step::Error { .. })
            }
        }
    }
}

/// The log's filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub conn: ConnFilter,
    pub kind: KindFilter,
    /// What the search box holds, as typed.
    pub search: String,
    /// `search` lower-cased, once.
    needle: String,
}

impl Filter {
    pub fn set_search(&mut self, search: String) {
        self.needle = crate::browser::lowercase(search.trim());
        self.search = search;
    }

    /// True when nothing is filtered out.
    pub fn is_empty(&self) -> bool {
        self.conn == ConnFilter::All && self.kind == KindFilter::All && self.needle.is_empty()
    }

    pub fn matches(&self, entry: &Entry) -> bool {
        self.conn.matches(entry.event.conn)
            && self.kind.matches(&entry.event.step)
            && entry.matches_search(&self.needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Trace;
    use protocol::{Bytes, Lane, TraceEvent};

    #[test]
    fn filters_combine() {
        let mut trace = Trace::with_cap(100);
        let mk = |conn, step| TraceEvent {
            at_us: 0,
            lane: Lane::Client,
            server: None,
            conn,
            server_conn: None,
            source: None,
            step,
        };
        let hello = Step::Send {
            data: Bytes(b"hello".to_vec()),
        };
        let a = trace.push(mk(Some(1), hello.clone()));
        let b = trace.push(mk(Some(2), hello));
        let c = trace.push(mk(None, Step::Listen { backlog: 5 }));
        let mut filter = Filter {
            conn: ConnFilter::Conn(2),
            ..Filter::default()
        };
        let shown = |f: &Filter| {
            trace
                .iter()
                .filter(|e| f.matches(e))
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(&filter), vec![b]);
        filter.conn = ConnFilter::All;
        filter.kind = KindFilter::Connection;
        assert_eq!(shown(&filter), vec![c]);
        filter.kind = KindFilter::All;
        filter.set_search("HELLO".into());
        assert_eq!(shown(&filter), vec![a, b]);
        assert!(!filter.is_empty());
        assert_eq!(ConnFilter::from_value("7"), ConnFilter::Conn(7));
        assert_eq!(
            ConnFilter::from_value(&ConnFilter::NoConn.value()),
            ConnFilter::NoConn
        );
    }
}
