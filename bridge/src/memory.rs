//! The bridge's memory allocator, jemalloc, and what it says it holds.
//!
//! A classroom bridge runs for weeks, and a lesson's peak (hundreds of
//! sessions at once) should not stay resident afterwards. With the system
//! allocator (glibc) it did: after a one-minute soak of 400 clients the
//! bridge kept 185 MiB resident (5.5 MiB at start), though the sessions
//! were gone; fewer arenas (`MALLOC_ARENA_MAX=2`) still kept 174 MiB.
//! jemalloc gives freed pages back to the system after a short decay,
//! and reports what it holds ([`stats`], served in `/metrics`):
//! `allocated` is what the bridge's data really takes, `resident` what the
//! allocator keeps in memory for it. The figures are in the README's
//! "Reliability" section.

use serde::Serialize;
use tikv_jemalloc_ctl::{background_thread, epoch, stats};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Lets jemalloc give freed memory back while the bridge is idle: a
/// background thread purges pages unused for its decay time (10 s).
/// Without it, purging happens only when the bridge allocates, so a quiet
/// bridge after a busy lesson would keep its peak.
pub fn return_freed_memory() {
    if let Err(err) = background_thread::write(true) {
        tracing::warn!("the allocator cannot purge in the background: {err}");
    }
}

/// What the allocator holds now, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Bytes the bridge has allocated and not freed: its live data.
    pub allocated: usize,
    /// Bytes in pages the allocator has in use for those (live data plus
    /// fragmentation within pages).
    pub active: usize,
    /// Bytes the allocator keeps in physical memory (what RSS sees of it).
    pub resident: usize,
    /// Bytes of address space kept but given back to the system.
    pub retained: usize,
}

/// The allocator's statistics now (refreshed first: they are cached).
pub fn stats() -> Option<MemoryStats> {
    epoch::advance().ok()?;
    Some(MemoryStats {
        allocated: stats::allocated::read().ok()?,
        active: stats::active::read().ok()?,
        resident: stats::resident::read().ok()?,
        retained: stats::retained::read().ok()?,
    })
}
