//! Socket Lab's bridge (work in progress).
